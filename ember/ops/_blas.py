"""NumPy's matmul, shared out among ember's threads when it is big enough.

NumPy's BLAS (OpenBLAS) is kept at one thread, and a GEMM of ``PARALLEL_FLOPS`` or more
is split into blocks of rows, columns or batch entries that Numba's OpenMP threads (the
ones every other parallel kernel of ember runs on) multiply side by side, each block a
single-threaded BLAS call (``_kernels_gemm``); other dtypes use a small Python thread
pool (NumPy releases the GIL in BLAS). One pool of threads for all parallel work is the
point: OpenBLAS's own workers spin 50-200 ms after each multi-threaded call, and on two
cores a Numba kernel's second thread then waited a scheduler slice for a core (a layer
norm of 98k floats took 5-7 ms after a two-thread GEMM instead of 30 us; a BERT-sized
encoder ran 2-3x slower than torch). While the machine is busy every GEMM runs on one
thread (``_parallel.threads_for``). Setting OpenBLAS to one thread (through
``threadpoolctl``) affects NumPy's BLAS in the whole process.
"""

from __future__ import annotations

import numpy as np

from .._threads import get_num_threads
from ._parallel import threads_for

PARALLEL_FLOPS = 3e6  # ~30 us of single-threaded float32 GEMM: below it, one thread
_LIBS: list = []


def _blas_libs() -> list:
    """threadpoolctl's controllers of the BLAS libraries NumPy loaded (none without it),
    set to one thread the first time they are asked for."""
    if not _LIBS:
        try:
            from threadpoolctl import ThreadpoolController
            libs = ThreadpoolController().select(user_api="blas").lib_controllers
        except ImportError:
            libs = []
        for lib in libs:
            lib.set_num_threads(1)
        _LIBS.append(libs)
    return _LIBS[0]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b)``; a GEMM (or batch of GEMMs) of ``PARALLEL_FLOPS`` or more is
    split among ember's threads: along the batch, else along the longer of rows and
    columns."""
    _blas_libs()
    rows, cols = (a.shape[-2] if a.ndim > 1 else 1), (b.shape[-1] if b.ndim > 1 else 1)
    flops = 2.0 * rows * a.shape[-1] * cols * _batch(a, b)
    parts = threads_for(flops, PARALLEL_FLOPS)
    if parts == 1 or a.dtype != b.dtype or a.dtype not in _SPLIT_DTYPES:
        if _few_rows_times_transposed(a, b):
            return np.ascontiguousarray(np.matmul(b.T, a.T).T)
        return np.matmul(a, b)
    if a.dtype.kind == "f":
        from . import _kernels_gemm
        out = _kernels_gemm.matmul(a, b, parts)
        if out is not None:
            return out
    if a.ndim > 2 or b.ndim > 2:
        return _split_batch(a, b, parts)
    if a.ndim == 2 and b.ndim == 2 and max(rows, cols) >= 2 * parts:
        return _split_matrix(a, b, parts)
    return np.matmul(a, b)


def _few_rows_times_transposed(a: np.ndarray, b: np.ndarray) -> bool:
    """A few rows (2-32) times a transposed C-contiguous matrix (``x @ W.T``, a linear
    layer on a small batch): OpenBLAS's kernel for that layout is slow there, and
    ``(W @ x.T).T`` plus a copy of the small result measured 1.3-1.7x faster on this
    machine (16 x 768 @ 768 x 3072: 1.02 -> 0.62 ms), when the layer widens or from 16
    rows on."""
    if a.ndim != 2 or b.ndim != 2 or not (2 <= a.shape[0] <= 32) or a.dtype != b.dtype \
            or a.dtype.kind != "f" or not b.flags.f_contiguous or b.flags.c_contiguous:
        return False
    return b.shape[1] >= b.shape[0] or a.shape[0] >= 16


def _batch(a: np.ndarray, b: np.ndarray) -> int:
    """The number of matrices in the (broadcast) batch of ``a @ b``."""
    n = 1
    for d in np.broadcast_shapes(a.shape[:-2], b.shape[:-2]):
        n *= d
    return n


def _side_by_side(part, parts: int) -> None:
    """``part(0) ... part(parts - 1)``, the first here and the others on ember's pool."""
    futures = [_pool().submit(part, i) for i in range(1, parts)]
    part(0)
    for f in futures:
        f.result()


def _split_matrix(a: np.ndarray, b: np.ndarray, parts: int) -> np.ndarray:
    """``a @ b`` of two matrices in ``parts`` blocks of rows (or of columns, when there are
    more columns), each one single-threaded BLAS call writing its block of the result."""
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    by_rows = a.shape[0] >= b.shape[1]
    n = a.shape[0] if by_rows else b.shape[1]
    step = -(-n // parts)

    def part(i: int) -> None:
        sl = slice(i * step, min(n, (i + 1) * step))
        if by_rows:
            np.matmul(a[sl], b, out=out[sl])
        else:
            np.matmul(a, b[:, sl], out=out[:, sl])
    _side_by_side(part, parts)
    return out


def _split_batch(a: np.ndarray, b: np.ndarray, parts: int) -> np.ndarray:
    """``np.matmul(a, b)`` of a batch of GEMMs shared out along the batch's first dim
    (a batched attention's 2 MFLOP GEMMs: one thread per GEMM, and both cores busy); a
    batch of one is a matrix product split by ``_split_matrix``."""
    nd = max(a.ndim, b.ndim)
    out_shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    first = out_shape[0]
    if first == 1 and a.ndim == b.ndim == nd and _batch(a, b) == 1:
        flat = _split_matrix(a.reshape(a.shape[-2:]), b.reshape(b.shape[-2:]), parts)
        return flat.reshape(out_shape)
    parts = min(parts, first)
    if parts < 2:
        return np.matmul(a, b)
    out = np.empty(out_shape, np.result_type(a, b))
    step = -(-first // parts)

    def part(i: int) -> None:
        sl = slice(i * step, min(first, (i + 1) * step))
        pa = a[sl] if a.ndim == nd and a.shape[0] == first else a
        pb = b[sl] if b.ndim == nd and b.shape[0] == first else b
        np.matmul(pa, pb, out=out[sl])
    _side_by_side(part, parts)
    return out


_SPLIT_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64,
                                            np.complex128))
_POOL: list = []


def _pool():
    """The threads that run the other parts of a split GEMM (ember's thread count less
    the calling thread; made anew when ``set_num_threads`` asks for more)."""
    want = max(1, get_num_threads() - 1)
    if not _POOL or _POOL[0]._max_workers < want:
        from concurrent.futures import ThreadPoolExecutor
        _POOL[:] = [ThreadPoolExecutor(want, thread_name_prefix="ember-gemm")]
    return _POOL[0]
