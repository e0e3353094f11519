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

from .._threads import get_num_threads
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
        if want == 1 and (a.ndim > 2 or b.ndim > 2) \
                and threads_for(flops * _batch(a, b), PARALLEL_FLOPS) > 1:
            return _split_batch(a, b)
        return np.matmul(a, b)
    finally:
        for lib, had in changed:
            lib.set_num_threads(had)


def _batch(a: np.ndarray, b: np.ndarray) -> int:
    """The number of matrices in the (broadcast) batch of ``a @ b``."""
    n = 1
    for d in np.broadcast_shapes(a.shape[:-2], b.shape[:-2]):
        n *= d
    return n


def _split_batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b)`` of a batch of small GEMMs (each on one BLAS thread) shared out
    along the batch's first dim among ember's threads: NumPy's matmul releases the GIL, so
    Python threads run the parts side by side (a batched attention's 2 MFLOP GEMMs: one
    thread per GEMM, and both cores busy)."""
    nd = max(a.ndim, b.ndim)
    out_shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    first = out_shape[0]
    parts = min(get_num_threads(), first)
    if nd < 3 or parts < 2 or a.dtype != b.dtype or a.dtype not in _SPLIT_DTYPES:
        return np.matmul(a, b)
    out = np.empty(out_shape, np.result_type(a, b))
    step = -(-first // parts)

    def part(i: int) -> None:
        sl = slice(i * step, min(first, (i + 1) * step))
        pa = a[sl] if a.ndim == nd and a.shape[0] == first else a
        pb = b[sl] if b.ndim == nd and b.shape[0] == first else b
        np.matmul(pa, pb, out=out[sl])
    futures = [_pool().submit(part, i) for i in range(1, parts)]
    part(0)
    for f in futures:
        f.result()
    return out


_SPLIT_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64,
                                            np.complex128))
_POOL: list = []


def _pool():
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor
        _POOL.append(ThreadPoolExecutor(max(1, get_num_threads() - 1),
                                        thread_name_prefix="ember-gemm"))
    return _POOL[0]
