"""How many threads one kernel call gets: one for small work or on a busy machine, ember's
thread count (``ember.set_num_threads``) otherwise (``_blas.matmul`` and the Numba
kernels of ``_kernels_nn`` ask it).

Measured on the 2-core machine: a large GEMM (a convolution with the batch folded into
its columns) runs close to twice as fast on two cores as on one, and a Numba im2col over
4.7M elements in 0.84 ms instead of 1.6. But with other processes busy (load average 5)
the same parallel im2col took 24-44 ms (OpenMP waits for a second thread that is not
scheduled) and a 2-thread GEMM 16 ms instead of 6.7: a thread that has to be woken can
wait a scheduler slice. So a call runs on one thread when its work is below a threshold
(waking a thread costs more than it saves) or when other processes' threads are running
(sampled at most every half second).
"""

from __future__ import annotations

import os
import time

from .._threads import get_num_threads

_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
    (os.cpu_count() or 1)
_LOAD = [0.0, 0.0, 0.0]     # (time read, free cores, others running at the last reading)


def _others_running() -> float:
    """How many threads of other processes are running or runnable now (Linux: the
    system's count in ``/proc/loadavg`` less this process's threads in state R); elsewhere
    the 1-minute load average less one."""
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
        own = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat") as f:
                    own += f.read().rpartition(")")[2].split()[0] == "R"
            except OSError:  # the thread ended meanwhile
                continue
        return running - own
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] - 1 if hasattr(os, "getloadavg") else 0.0


def _free_cores() -> float:
    """Cores not taken by other processes' threads (sampled at most every half second).
    This process's own threads do not count: a benchmark's other library (torch's OpenMP
    threads spin after each op) or ember's own BLAS threads must not make it look busy.
    A core counts as taken only when two readings in a row saw it so: one reading is an
    instant, and on a quiet machine about one in twenty-five saw a thread that was not
    there a moment later (a kernel thread, or one of this process's threads counted
    running by the system and not by the scan), which put ember on one thread for half a
    second -- a quiet 2-thread benchmark then measured some steps at one thread's speed."""
    now = time.monotonic()
    if now - _LOAD[0] > 0.5:
        others = _others_running()
        _LOAD[0], _LOAD[1], _LOAD[2] = now, _CORES - min(others, _LOAD[2]), others
    return _LOAD[1]


def threads_for(work: float, threshold: float) -> int:
    """Threads for a call doing ``work`` (in the units of ``threshold``)."""
    n = get_num_threads()
    if n == 1 or work < threshold or _free_cores() < n:
        return 1
    return n
