"""glibc's malloc told to keep freed memory for reuse: ``mallopt`` once, at ``import ember``.

Every NumPy array is a ``malloc``. By default glibc serves a block above M_MMAP_THRESHOLD
(128 KiB at first, raised as such blocks are freed, to at most 32 MiB) with a mapping of its
own, unmapped again on ``free``, and gives the top of its heap back to the OS once more
than M_TRIM_THRESHOLD (twice the mmap threshold) of it is free. An eager framework frees
and allocates temporaries of the same sizes on every op, so their memory went back to the
OS and every new temporary faulted its pages in again (a small LSTM step: 1,378 page
faults; fixing both thresholds took it from 6.0 to 3.4 ms). Set, the mmap threshold
(glibc's largest, ``MMAP_THRESHOLD``) and the trim threshold (``TRIM_THRESHOLD``) keep
freed blocks in the heap for the next array of that size; the price is that up to
``TRIM_THRESHOLD`` of freed memory stays with the process.

It applies to the whole process (as ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=...``
would), only where the C library is glibc, and not at all when the environment has
``EMBER_MALLOC_TUNING=0`` or already tunes glibc's malloc through ``GLIBC_TUNABLES``.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["tune_malloc"]

_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024   # glibc's maximum on 64-bit systems (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 256 * 1024 * 1024


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); whether it did."""
    if (os.environ.get("EMBER_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux")
            or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc's own symbol: not musl)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
