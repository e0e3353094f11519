"""Process-wide runtime settings: thread counts, deterministic algorithms, matmul precision.

``set_num_threads`` sets the threads of ember's Numba kernels (applied to Numba when it
is loaded; kernels call ``sync_numba`` after importing it) and of the GEMMs ember splits
among its own threads (``ops._blas``). Inter-op threads are recorded only: ember runs ops one
after another on the calling thread.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["set_num_threads", "get_num_threads", "set_num_interop_threads",
           "get_num_interop_threads", "use_deterministic_algorithms",
           "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled", "set_deterministic_debug_mode",
           "get_deterministic_debug_mode", "set_float32_matmul_precision",
           "get_float32_matmul_precision"]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_settings = {"threads": _cpu_count(), "interop": _cpu_count(), "deterministic": False,
             "warn_only": False, "matmul_precision": "highest"}


def _positive_int(n, name: str) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise RuntimeError(f"{name} expects an int, but got {type(n).__name__}")
    if n <= 0:
        raise RuntimeError(f"{name} expects a positive integer")
    return n


def set_num_threads(n: int) -> None:
    """Threads used inside ember's kernels: Numba's and the GEMMs ember splits among its
    threads (NumPy's BLAS itself rests at one thread: ``ops._blas``)."""
    _settings["threads"] = _positive_int(n, "set_num_threads")
    sync_numba()


def get_num_threads() -> int:
    return _settings["threads"]


def sync_numba() -> None:
    """Apply the thread count to Numba if it is loaded (never imports it); kernel modules
    with parallel kernels call it when they load."""
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(min(_settings["threads"], numba.config.NUMBA_NUM_THREADS))


def set_num_interop_threads(n: int) -> None:
    """Recorded for compatibility: ember has no inter-op thread pool."""
    _settings["interop"] = _positive_int(n, "set_num_interop_threads")


def get_num_interop_threads() -> int:
    return _settings["interop"]


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Record the flag. ember's CPU kernels are deterministic already (no atomics), so
    nothing changes in how ops run."""
    _settings["deterministic"] = bool(mode)
    _settings["warn_only"] = bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _settings["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _settings["warn_only"]


def set_deterministic_debug_mode(debug_mode: str | int) -> None:
    """0/"default": off, 1/"warn": warn only, 2/"error": deterministic algorithms on."""
    names = {"default": 0, "warn": 1, "error": 2}
    level = names[debug_mode] if isinstance(debug_mode, str) else debug_mode
    if level not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got "
                           f"{debug_mode}")
    use_deterministic_algorithms(level > 0, warn_only=level == 1)


def get_deterministic_debug_mode() -> int:
    if not _settings["deterministic"]:
        return 0
    return 1 if _settings["warn_only"] else 2


def set_float32_matmul_precision(precision: str) -> None:
    """Record "highest", "high" or "medium"; ember's float32 matmuls always run in float32
    (there is no TF32 or bfloat16 fast path on the CPU), as torch's CPU build does."""
    if precision not in ("highest", "high", "medium"):
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "setFloat32MatmulPrecision call has no effect.", UserWarning,
                      stacklevel=2)
        return
    _settings["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _settings["matmul_precision"]
