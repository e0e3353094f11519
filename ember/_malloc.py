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

NumPy adds its own advice: every allocation of 4 MiB or more is marked ``MADV_HUGEPAGE``.
Where the kernel's transparent huge pages defragment on such advice (``defrag`` set to
``madvise``, Ubuntu's default), a page fault in a fresh mapping waits while the kernel
compacts memory for a huge page; a mapping is what every array above the mmap threshold
gets. A linear layer's 4096 x 4096 weight gradient (64 MiB) took 80-120 ms instead of
10-20, at random, and a 1 x 4096 -> 4096 linear's forward and backward 109 ms against
torch's 22 (26 without the advice; torch does not give it by default).
``skip_hugepage_advice`` turns NumPy's advice off, unless ``NUMPY_MADVISE_HUGEPAGE`` asks
for a setting of its own.

Both apply to the whole process (as ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=...``
would), only where the C library is glibc, and not at all when the environment has
``EMBER_MALLOC_TUNING=0`` or already tunes glibc's malloc through ``GLIBC_TUNABLES``.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["skip_hugepage_advice", "tune_malloc"]

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


def skip_hugepage_advice() -> bool:
    """Stop NumPy marking large allocations ``MADV_HUGEPAGE`` (see the module docstring);
    whether it did."""
    if os.environ.get("EMBER_MALLOC_TUNING", "1") == "0" or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    import numpy as np
    setter = getattr(getattr(np, "_core", getattr(np, "core", None)).multiarray,
                     "_set_madvise_hugepage", None)
    if setter is None:
        return False
    setter(False)
    return True
