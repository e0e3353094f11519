"""``torch.multiprocessing``: Python's ``multiprocessing`` with tensors in shared memory.

Everything of the standard module is here (``Process``, ``Queue``, ``Pool``,
``get_context``, ``set_start_method``...). Importing this module registers the tensor
reductions (``reductions.py``): a tensor given to a spawned process or put on a queue
moves into shared memory and the receiver maps the same memory. ``Tensor.share_memory_``
/ ``nn.Module.share_memory`` move storage there ahead of time, which fork children then
inherit (Hogwild training: children update the parent's parameters in place).

Sharing strategies: both of torch's names are accepted; ember always passes a memory
file's descriptor (torch's ``file_descriptor``), which needs no file name to clean up.
"""

from __future__ import annotations

from multiprocessing import *  # noqa: F403

from .reductions import init_reductions
from .spawn import (ProcessContext, ProcessExitedException, ProcessRaisedException,
                    SpawnContext, spawn, start_processes)

# ember's own names; the standard module's are here too (``mp.Process``) and documented
# by Python, so the reference lists only these
__all__ = ["spawn", "start_processes", "ProcessContext",
           "SpawnContext", "ProcessRaisedException", "ProcessExitedException",
           "set_sharing_strategy", "get_sharing_strategy", "get_all_sharing_strategies",
           "init_reductions"]

_STRATEGIES = {"file_descriptor", "file_system"}
_strategy = "file_descriptor"


def set_sharing_strategy(new_strategy: str) -> None:
    """Choose torch's sharing strategy by name (both transfer a descriptor here)."""
    global _strategy
    if new_strategy not in _STRATEGIES:
        raise AssertionError(f"{new_strategy!r} is not a sharing strategy; "
                             f"one of {sorted(_STRATEGIES)}")
    _strategy = new_strategy


def get_sharing_strategy() -> str:
    return _strategy


def get_all_sharing_strategies() -> set[str]:
    return set(_STRATEGIES)


init_reductions()
