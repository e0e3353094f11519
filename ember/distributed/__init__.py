"""``ember.distributed``: data-parallel training over MPI, as ``torch.distributed``.

Start the ranks with ``python -m ember.distributed.run --nproc-per-node N script.py``; in the
script, ``init_process_group()`` joins them. See ``distributed_c10d`` for the collectives,
how failures end a job, and how mismatched collectives are detected.
"""

from .distributed_c10d import *  # noqa: F403
from .distributed_c10d import __all__  # noqa: F401
