"""NumPy's matmul with BLAS's thread count chosen per call from the amount of work.

A large GEMM (a convolution with the batch folded into its columns) runs close to twice
as fast on two cores as on one; a small one does not gain, and on a loaded machine its
second thread can wait a scheduler slice (milliseconds) to be woken. So GEMMs below
``PARALLEL_FLOPS``, and every GEMM while the machine is busy, run on one thread, the others
on ember's thread count (``ember.set_num_threads``): ``_parallel.threads_for``. The
thread count is set through ``threadpoolctl`` (when installed) only when it changes, and
restored after the call.
"""

from __future__ import annotations

import numpy as np

from ._parallel import threads_for

PARALLEL_FLOPS = 2e7  # ~0.3 ms of single-threaded float32 GEMM
_LIBS: list = []


def _blas_libs() -> list:
    """threadpoolctl's controllers of the BLAS libraries NumPy loaded (none without it)."""
    if not _LIBS:
        try:
            from threadpoolctl import ThreadpoolController
            _LIBS.append(ThreadpoolController().select(user_api="blas").lib_controllers)
        except ImportError:
            _LIBS.append([])
    return _LIBS[0]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b)`` on one BLAS thread or on ember's count, by the FLOPs of one
    GEMM (NumPy calls BLAS once per matrix of a batch, each call waking its threads)."""
    rows, cols = (a.shape[-2] if a.ndim > 1 else 1), (b.shape[-1] if b.ndim > 1 else 1)
    flops = 2.0 * rows * a.shape[-1] * cols
    want = threads_for(flops, PARALLEL_FLOPS)
    changed = []
    for lib in _blas_libs():
        had = lib.num_threads
        if had != want:
            lib.set_num_threads(want)
            changed.append((lib, had))
    try:
        return np.matmul(a, b)
    finally:
        for lib, had in changed:
            lib.set_num_threads(had)
