"""NumPy's matmul, shared out among ember's threads when it is big enough.

NumPy's BLAS (OpenBLAS) is kept at one thread, and a float GEMM of ``PARALLEL_FLOPS`` or
more is split into blocks of rows, columns or batch entries that Numba's OpenMP threads
(the ones every other parallel kernel of ember runs on) multiply side by side, each block
a single-threaded BLAS call (``_kernels_gemm``); other dtypes run on one thread. One pool
of threads for all parallel work is the point: OpenBLAS's own workers spin 50-200 ms after
each multi-threaded call, and on two cores a Numba kernel's second thread then waited a
scheduler slice for a core (a layer norm of 98k floats took 5-7 ms after a two-thread
GEMM instead of 30 us; a BERT-sized encoder ran 2-3x slower than torch). While the machine
is busy every GEMM runs on one thread (``_parallel.threads_for``). Setting OpenBLAS to one
thread (through ``threadpoolctl``) affects NumPy's BLAS in the whole process.
"""

from __future__ import annotations

import math

import numpy as np

from ._parallel import threads_for

PARALLEL_FLOPS = 3e6  # ~30 us of single-threaded float32 GEMM: below it, one thread
SERIAL_BATCH_FLOPS = 3e7  # a batch on one thread goes to _kernels_gemm (to be turned round
# or cut for OpenBLAS's small kernel) from here: that path costs ~25 us more per call than
# np.matmul (1x4x8x32 @ 1x4x32x8: 1 -> 31 us), which 15-30% faster GEMMs repay from
# 10-30M flops on (16x4x128x32 @ 16x4x32x128, 67M: 0.86 -> 0.72 ms)
_LIBS: list = []
_G = None  # _kernels_gemm once loaded (imported on first use: ``import ember`` loads no
# Numba; an import statement in the hot paths cost ~0.3 us a GEMM)


def _gemm():
    global _G
    from . import _kernels_gemm
    _G = _kernels_gemm
    return _G


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
    """``np.matmul(a, b)``; a float GEMM (or batch of GEMMs) of ``PARALLEL_FLOPS`` or more
    is split among ember's threads (``_kernels_gemm``): along the batch, else along the
    longer of rows and columns. Other GEMMs run on one BLAS thread."""
    if a.shape[-1] == 1 and a.ndim > 1 and b.ndim > 1 and b.shape[-2] == 1 \
            and a.dtype == b.dtype:
        # an outer product (a linear layer's weight gradient from one row): BLAS's GEMM
        # with one step of depth ran 2.5x slower than the broadcast product (4096 x 4096:
        # 31.6 -> 12.8 ms), which is bound by writing the result; a big one on all threads
        if a.ndim == b.ndim == 2 and a.dtype in _SPLIT_DTYPES:
            parts = threads_for(float(a.shape[0] * b.shape[1]), PARALLEL_FLOPS)
            if parts > 1:
                _kernels_gemm = _G or _gemm()
                return _kernels_gemm.outer(a, b, parts)
        return np.multiply(a, b, order="C")
    if not _LIBS:
        _blas_libs()
    rows, cols = (a.shape[-2] if a.ndim > 1 else 1), (b.shape[-1] if b.ndim > 1 else 1)
    flops = 2.0 * rows * a.shape[-1] * cols
    if a.ndim > 2 or b.ndim > 2:
        flops *= _batch(a, b)
    parts = 1 if flops < PARALLEL_FLOPS else threads_for(flops, PARALLEL_FLOPS)
    # (cheap tests first: this runs on every GEMM; a linear layer on one row calls neither)
    if rows <= FEW_ROWS and rows * cols > FEW_ROWS_MIN_OUTPUTS \
            and _few_rows_times_linear_weight(a, b):
        return (_G or _gemm()).few_rows(a, b.T, parts)
    transposed = 2 <= rows <= 32 and _few_rows_times_transposed(a, b)
    if parts > 1 and a.dtype == b.dtype and a.dtype in _SPLIT_DTYPES:
        _kernels_gemm = _G or _gemm()
        out = (_kernels_gemm.matmul(b.T, np.ascontiguousarray(a.T), parts) if transposed
               else _kernels_gemm.matmul(a, b, parts))
        if out is not None:
            return np.ascontiguousarray(out.T) if transposed else out
    elif transposed:
        return np.ascontiguousarray(np.matmul(b.T, a.T).T)
    elif b.ndim > 2 and flops >= SERIAL_BATCH_FLOPS and a.dtype == b.dtype \
            and a.dtype in _SPLIT_DTYPES:
        _kernels_gemm = _G or _gemm()
        if _kernels_gemm.reshapes_batch(a, b):
            out = _kernels_gemm.matmul(a, b, 1)
            if out is not None:
                return out
    return np.matmul(a, b)


def linear(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray | None:
    """``x @ w.T + bias`` (2-D ``x``, ``bias`` of ``(n,)``) with the bias inside the GEMM:
    split among ember's threads, the bias added inside each block
    (``_kernels_gemm.matmul``), or on one thread with the bias as BLAS's ``C`` (beta 1,
    ``_kernels_gemm.linear_serial``) when the layer is at most ``FOLD_DEPTH`` deep and
    has ``FOLD_FLOPS`` of work (one pass over the result fewer: 2048 x 128 -> 384 1.84 ->
    1.74 ms). None where ``matmul`` and an in-place sum are the way: other dtypes, a few
    rows, a small or deep layer on one thread."""
    if x.shape[0] <= 32 or x.ndim != 2 or not (x.dtype == w.dtype == bias.dtype) \
            or x.dtype not in _SPLIT_DTYPES or bias.shape != w.shape[:1]:
        return None
    flops = 2.0 * x.shape[0] * x.shape[1] * w.shape[0]
    parts = threads_for(flops, PARALLEL_FLOPS)
    if parts < 2 and (x.shape[1] > FOLD_DEPTH or flops < FOLD_FLOPS):
        return None
    _blas_libs()
    _kernels_gemm = _G or _gemm()
    if parts < 2:
        return _kernels_gemm.linear_serial(x, w, bias)
    return _kernels_gemm.matmul(x, w.T, parts, np.ascontiguousarray(bias))


FOLD_DEPTH = 256  # deeper layers spend too little on the bias pass for it to count (512: 0)
FOLD_FLOPS = 5e7  # the BLAS call from Python costs ~9 us more than np.matmul's: below this
# the fold is slower (64 x 64 -> 64: 11 -> 20 us; 256 x 128 -> 128, 8M flops: 73 -> 88)


def matmul_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b).sum(0)`` for 3-D or 4-D operands of the same leading dims, never
    holding the stack of products (a convolution's weight gradient summed over samples);
    float GEMMs of ``PARALLEL_FLOPS`` or more in partial sums on ember's threads."""
    _blas_libs()
    flops = 2.0 * a.shape[-2] * a.shape[-1] * b.shape[-1] * _batch(a, b)
    if a.dtype == b.dtype and a.dtype in _SPLIT_DTYPES:
        _kernels_gemm = _G or _gemm()
        out = _kernels_gemm.matmul_sum(a, b, threads_for(flops, PARALLEL_FLOPS))
        if out is not None:
            return out
    total = np.matmul(a[0], b[0])
    for i in range(1, a.shape[0]):
        total += np.matmul(a[i], b[i])
    return total


def linear_grads(g: np.ndarray, x: np.ndarray, w: np.ndarray, bias_grad: bool,
                 gx_shape: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """A linear layer's ``(g @ w, g^T @ x, g.sum(0) or None)`` (2-D ``g (m, n)``,
    ``x (m, k)``, ``w (n, k)``; the first in ``gx_shape``) with the two products side by
    side on ember's threads (``_kernels_gemm.linear_grads``), or None where that does not
    pay: one thread, float dtypes other than float32/64, or at most ``FEW_ROWS`` rows
    (products of so little depth are faster as ``matmul`` makes them)."""
    m, n = g.shape
    if m <= FEW_ROWS or g.dtype not in _SPLIT_DTYPES:
        return None
    parts = threads_for(2.0 * m * n * x.shape[1], PARALLEL_FLOPS)
    if parts < 2:
        return None
    _blas_libs()
    _kernels_gemm = _G or _gemm()
    return _kernels_gemm.linear_grads(g, x, w, bias_grad, parts, gx_shape)


FEW_ROWS = 8  # up to here _kernels_gemm.few_rows beats OpenBLAS's GEMM on x @ W.T ...
# ... once the result has more than this many elements. Below it OpenBLAS's small-matrix
# kernel is the faster (4 x 512 @ 512 x 128: 5 us against 9); above it OpenBLAS falls
# off a cliff (4 x 128 @ 128 x 384: 25 us against 11; 8 x 512 @ 512 x 192: 53 against 24)
FEW_ROWS_MIN_OUTPUTS = 1024


def _few_rows_times_linear_weight(a: np.ndarray, b: np.ndarray) -> bool:
    """1-``FEW_ROWS`` C-contiguous rows times the transpose of a C-contiguous float32/64
    matrix, more than ``FEW_ROWS_MIN_OUTPUTS`` results: a linear layer on a few tokens
    (speculative verification, a batch of decoding requests, generation without a KV
    cache), which ``_kernels_gemm.few_rows`` takes. One row too: OpenBLAS's GEMV reads
    4096 x 4096 float32 weights in 2.5 ms on one thread, the kernel in 2.6 (1.3 on two),
    and a GEMM split in column blocks took 4.9."""
    return (a.ndim == 2 and b.ndim == 2 and 1 <= a.shape[0] <= FEW_ROWS
            and a.shape[0] * b.shape[1] > FEW_ROWS_MIN_OUTPUTS
            and a.dtype == b.dtype and a.dtype in _SPLIT_DTYPES and a.flags.c_contiguous
            and b.flags.f_contiguous and not b.flags.c_contiguous and a.shape[1] >= 16)


def _few_rows_times_transposed(a: np.ndarray, b: np.ndarray) -> bool:
    """A few rows (up to 32, more than ``FEW_ROWS`` or not float32/64) times a transposed
    C-contiguous matrix (``x @ W.T``, a linear layer on a small batch): OpenBLAS's kernel
    for that layout is slow there, and
    ``(W @ x.T).T`` plus a copy of the small result measured 1.3-1.7x faster on this
    machine (16 x 768 @ 768 x 3072: 1.02 -> 0.62 ms), when the layer widens or from 16
    rows on; split among threads as well (16 x 4096 @ 4096 x 4096 on two: 6.3 -> 3.9
    ms)."""
    if a.ndim != 2 or b.ndim != 2 or not (2 <= a.shape[0] <= 32) or a.dtype != b.dtype \
            or a.dtype.kind != "f" or not b.flags.f_contiguous or b.flags.c_contiguous \
            or (a.shape[0] <= FEW_ROWS and a.dtype in _SPLIT_DTYPES):
        return False
    return b.shape[1] >= b.shape[0] or a.shape[0] >= 16


def _batch(a: np.ndarray, b: np.ndarray) -> int:
    """The number of matrices in the (broadcast) batch of ``a @ b``."""
    sa, sb = a.shape[:-2], b.shape[:-2]
    if sa == sb or not sb:  # (np.broadcast_shapes costs ~3 us)
        return math.prod(sa)
    return math.prod(sb if not sa else np.broadcast_shapes(sa, sb))


_SPLIT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # _kernels_gemm's
