"""How many threads one kernel call gets: one for small work or on a busy machine, ember's
thread count (``ember.set_num_threads``) otherwise (``_blas.matmul`` and the Numba
kernels of ``_kernels_nn`` ask it).

Measured on the 2-core machine: a large GEMM (a convolution with the batch folded into
its columns) runs close to twice as fast on two cores as on one, and a Numba im2col over
4.7M elements in 0.84 ms instead of 1.6. But with other processes busy (load average 5)
the same parallel im2col took 24-44 ms (OpenMP waits for a second thread that is not
scheduled) and a 2-thread GEMM 16 ms instead of 6.7: a thread that has to be woken can
wait a scheduler slice. So a call runs on one thread when its work is below a threshold
(waking a thread costs more than it saves) or when the 1-minute load average says the
cores are taken by others (re-read at most every half second).
"""

from __future__ import annotations

import os
import time

from .._threads import get_num_threads

_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
    (os.cpu_count() or 1)
_LOAD = [0.0, 0.0]     # (time read, busy)


def _busy() -> bool:
    """Whether other processes keep the cores busy: the load average (which counts this
    process's own running threads too) exceeds the core count by half a core."""
    now = time.monotonic()
    if now - _LOAD[0] > 0.5:
        _LOAD[0] = now
        _LOAD[1] = os.getloadavg()[0] > _CORES + 0.5 if hasattr(os, "getloadavg") else 0.0
    return bool(_LOAD[1])


def threads_for(work: float, threshold: float) -> int:
    """Threads for a call doing ``work`` (in the units of ``threshold``)."""
    n = get_num_threads()
    if n == 1 or work < threshold or _busy():
        return 1
    return n
