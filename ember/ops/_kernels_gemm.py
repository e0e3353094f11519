"""GEMMs shared out among Numba's threads, each block one single-threaded BLAS call.

NumPy's OpenBLAS rests at one thread (``_blas``). Its CBLAS ``sgemm``/``dgemm`` are
called here through ctypes from a ``prange`` over blocks of rows (or columns, or the
matrices of a batch), so a large GEMM runs on the OpenMP threads that run ember's other
kernels: no Python thread to wake, no GIL to pass, and no second pool of threads
competing with the first for two cores. The function pointer is an argument of the
kernels (Numba caches them on disk; a global pointer would make them uncachable).

``matmul`` returns None for what it does not take (other dtypes, more than two batch
dims, a NumPy without CBLAS symbols); the caller then uses NumPy. Operands whose matrices
BLAS cannot read in place are copied first.
"""

from __future__ import annotations

import ctypes

import numba
import numpy as np
from numba import prange

from .._threads import sync_numba

sync_numba()  # ember's thread count, before a parallel kernel runs

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_FUNCTIONS: list = []
_TRANSPOSERS: dict = {}


def _cblas() -> dict:
    """``{dtype: ctypes function}`` of NumPy's BLAS (``cblas_sgemm``/``cblas_dgemm`` under
    the prefix and suffix of NumPy's build; 64-bit integers for ILP64 builds), or ``{}``."""
    if _FUNCTIONS:
        return _FUNCTIONS[0]
    found: dict = {}
    try:
        from threadpoolctl import ThreadpoolController
        paths = [c.filepath for c in ThreadpoolController().select(user_api="blas")
                 .lib_controllers]
    except ImportError:
        paths = []
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix, suffix, int_t in (("scipy_", "64_", ctypes.c_int64),
                                      ("", "64_", ctypes.c_int64), ("", "", ctypes.c_int)):
            names = {np.dtype(np.float32): (f"{prefix}cblas_sgemm{suffix}", ctypes.c_float),
                     np.dtype(np.float64): (f"{prefix}cblas_dgemm{suffix}", ctypes.c_double)}
            if all(hasattr(lib, name) for name, _ in names.values()):
                for dt, (name, real) in names.items():
                    # order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc
                    proto = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                             int_t, int_t, int_t, real, ctypes.c_size_t,
                                             int_t, ctypes.c_size_t, int_t, real,
                                             ctypes.c_size_t, int_t)
                    found[dt] = proto((name, lib))
                break
        if found:
            break
    _FUNCTIONS.append(found)
    if found:  # (the library and naming the GEMMs were found under)
        names = {np.dtype(np.float32): (f"{prefix}cblas_somatcopy{suffix}", ctypes.c_float),
                 np.dtype(np.float64): (f"{prefix}cblas_domatcopy{suffix}", ctypes.c_double)}
        if all(hasattr(lib, name) for name, _ in names.values()):
            for dt, (name, real) in names.items():
                # order, trans, rows, cols, alpha, A, lda, B, ldb
                proto = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, int_t, int_t, real,
                                         ctypes.c_size_t, int_t, ctypes.c_size_t, int_t)
                _TRANSPOSERS[dt] = proto((name, lib))
    return found


def _transposer(dtype) -> object | None:
    """OpenBLAS's ``cblas_somatcopy``/``cblas_domatcopy`` (an out-of-place transpose,
    2-4x faster than a Numba loop on small strided matrices) for ``dtype``, or None where
    NumPy's BLAS has no such extension."""
    _cblas()
    return _TRANSPOSERS.get(np.dtype(dtype))


@numba.njit(parallel=True, cache=True)
def _gemm_blocks(fn, ta, tb, m, n, k, a, lda, a_step, b, ldb, b_step, out, bias, by_rows,
                 parts):
    """``out = a @ b (+ bias)`` (row-major; ``out`` C-contiguous ``(m, n)``) in ``parts``
    blocks of rows (``by_rows``) or of columns; ``*_step``: bytes from one row (column) to
    the next. A ``bias`` with elements (``(n,)``, a linear layer's) is first copied into
    each block's rows, which BLAS then adds the product to (``beta = 1``): the sum is
    shared out with the product instead of a serial pass over the result after it."""
    size = m if by_rows else n
    step = (size + parts - 1) // parts
    item = out.itemsize
    beta = 1.0 if bias.size else 0.0
    for p in prange(parts):
        lo = p * step
        hi = min(size, lo + step)
        if hi > lo:
            if by_rows:
                if bias.size:
                    for r in range(lo, hi):
                        out[r] = bias
                fn(ROW_MAJOR, ta, tb, hi - lo, n, k, 1.0, a + lo * a_step, lda, b, ldb, beta,
                   out.ctypes.data + lo * n * item, n)
            else:
                if bias.size:
                    for r in range(m):
                        out[r, lo:hi] = bias[lo:hi]
                fn(ROW_MAJOR, ta, tb, m, hi - lo, k, 1.0, a, lda, b + lo * b_step, ldb, beta,
                   out.ctypes.data + lo * item, n)


@numba.njit(cache=True)
def _batch_span(fn, ta, tb, inner, m, n, k, a, lda, a_outer, a_inner, a_row, b, ldb, b_outer,
                b_inner, out, out_step, rows, lo, hi):
    """Matrices ``lo:hi`` of the ``outer x inner`` batch ``a @ b`` (byte strides per batch
    dim; 0 broadcasts) into C-contiguous ``out`` (``out_step`` bytes per matrix), each
    product in BLAS calls of ``rows`` rows (``a_row`` bytes from one row of ``a`` to the
    next; ``split_rows``)."""
    item = out_step // (m * n)
    for i in range(lo, hi):
        o, j = i // inner, i % inner
        ai = a + o * a_outer + j * a_inner
        bi = b + o * b_outer + j * b_inner
        for r0 in range(0, m, rows):
            fn(ROW_MAJOR, ta, tb, min(rows, m - r0), n, k, 1.0, ai + r0 * a_row, lda, bi, ldb,
               0.0, out + i * out_step + r0 * n * item, n)


@numba.njit(parallel=True, cache=True)
def _gemm_batch(fn, ta, tb, outer, inner, m, n, k, a, lda, a_outer, a_inner, a_row, b, ldb,
                b_outer, b_inner, out, out_step, rows):
    """``_batch_span`` spread over the threads, matrix by matrix."""
    for i in prange(outer * inner):
        _batch_span(fn, ta, tb, inner, m, n, k, a, lda, a_outer, a_inner, a_row, b, ldb,
                    b_outer, b_inner, out, out_step, rows, i, i + 1)


@numba.njit(cache=True)
def _batch_bt_span(fn, tr, ta, inner, m, n, k, a, lda, a_outer, a_inner, a_row, b, ldb,
                   b_outer, b_inner, out, out_step, rows, lo, hi, buf):
    """Matrices ``lo:hi`` of a batch ``a @ b`` whose ``b`` matrices are stored transposed
    (``TRANS``): each is first turned round into ``buf`` (``k x n``, C-contiguous) by
    ``tr`` (``_transposer``), then multiplied as ``NO_TRANS`` (in calls of ``rows``
    rows, as ``_gemm_batch``)."""
    item = out_step // (m * n)
    for i in range(lo, hi):
        o, j = i // inner, i % inner
        tr(ROW_MAJOR, TRANS, n, k, 1.0, b + o * b_outer + j * b_inner, ldb, buf.ctypes.data,
           n)
        ai = a + o * a_outer + j * a_inner
        for r0 in range(0, m, rows):
            fn(ROW_MAJOR, ta, NO_TRANS, min(rows, m - r0), n, k, 1.0, ai + r0 * a_row, lda,
               buf.ctypes.data, n, 0.0, out + i * out_step + r0 * n * item, n)


@numba.njit(parallel=True, cache=True)
def _gemm_batch_bt(fn, tr, ta, outer, inner, m, n, k, a, lda, a_outer, a_inner, a_row, b,
                   ldb, b_outer, b_inner, out, out_step, rows, parts):
    """``_batch_bt_span`` over the whole batch in ``parts`` runs of matrices side by
    side, each thread with a buffer of its own."""
    total = outer * inner
    step = (total + parts - 1) // parts
    for p in prange(parts):
        buf = np.empty((k, n), out.dtype)
        _batch_bt_span(fn, tr, ta, inner, m, n, k, a, lda, a_outer, a_inner, a_row, b, ldb,
                       b_outer, b_inner, out.ctypes.data, out_step, rows, p * step,
                       min(total, (p + 1) * step), buf)


@numba.njit(parallel=True, cache=True)
def _gemm_sum(fn, ta, tb, outer, inner, m, n, k, a, lda, a_outer, a_inner, b, ldb, b_outer,
              b_inner, out, out_step, parts):
    """``sum_j a[o, j] @ b[o, j]`` for each ``o < outer``: the ``inner`` products are shared
    out in ``parts`` runs of ``j``, each accumulating (BLAS ``beta = 1``) into its own
    partial sums ``out[p, o]`` (``out_step`` bytes per matrix), left for the caller to add."""
    step = (inner + parts - 1) // parts
    for p in prange(parts):
        lo = p * step
        hi = min(inner, lo + step)
        for o in range(outer):
            dst = out + (p * outer + o) * out_step
            for j in range(lo, hi):
                fn(ROW_MAJOR, ta, tb, m, n, k, 1.0, a + o * a_outer + j * a_inner, lda,
                   b + o * b_outer + j * b_inner, ldb, 0.0 if j == lo else 1.0, dst, n)


@numba.njit(parallel=True, cache=True)
def _linear_grads(fn, g, x, w, gx, gw, gb, half):
    """A linear layer's gradients side by side: ``gx = g @ w`` in ``half`` blocks of rows
    on some threads while ``gw = g^T @ x`` runs in ``half`` blocks of rows on the others.
    Both products take ``2 m n k`` flops, so the halves balance; each block is one
    single-threaded BLAS call on whole rows, where splitting each product in turn (two
    parallel regions, blocks half as deep) measured slower on small layers. ``gb``, the
    column sums of ``g`` when it has elements, is shared out over all ``2 half`` threads
    in equal runs of columns: on the threads of ``gw`` alone it made them the last to
    finish (2048 x 384: 0.42 ms). All arrays C-contiguous."""
    m, n = g.shape
    k = x.shape[1]
    item = g.itemsize
    for t in prange(2 * half):
        p = t % half
        if t < half:
            step = (m + half - 1) // half
            lo, hi = p * step, min(m, (p + 1) * step)
            if hi > lo:
                fn(ROW_MAJOR, NO_TRANS, NO_TRANS, hi - lo, k, n, 1.0,
                   g.ctypes.data + lo * n * item, n, w.ctypes.data, k, 0.0,
                   gx.ctypes.data + lo * k * item, k)
        else:
            step = (n + half - 1) // half
            lo, hi = p * step, min(n, (p + 1) * step)
            if hi > lo:
                fn(ROW_MAJOR, TRANS, NO_TRANS, hi - lo, k, m, 1.0, g.ctypes.data + lo * item,
                   n, x.ctypes.data, k, 0.0, gw.ctypes.data + lo * k * item, k)
        if gb.size:
            step = (n + 2 * half - 1) // (2 * half)
            _column_sums(g, gb, t * step, min(n, (t + 1) * step))


@numba.njit(cache=True)
def _column_sums(g, out, lo, hi):
    """``out[lo:hi] = g[:, lo:hi].sum(0)``, accumulated in float64 (a bias gradient); row
    by row over a slice, which LLVM vectorises (3x faster than indexing ``g[i][j]``)."""
    if hi <= lo:
        return
    acc = np.zeros(hi - lo, np.float64)
    for i in range(g.shape[0]):
        row = g[i, lo:hi]
        for j in range(hi - lo):
            acc[j] += row[j]
    for j in range(hi - lo):
        out[lo + j] = acc[j]


def linear_grads(g: np.ndarray, x: np.ndarray, w: np.ndarray, bias_grad: bool,
                 parts: int, gx_shape: tuple
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """``(g @ w, g^T @ x, g.sum(0) or None)`` for 2-D ``g (m, n)``, ``x (m, k)``,
    ``w (n, k)`` of one float dtype, the two products side by side on ``parts`` (2 or
    more) threads (``_linear_grads``); ``g @ w`` is made in ``gx_shape`` (the layer's
    input shape: an array of its own, not a view, so the engine can keep it as a leaf's
    gradient without a copy). None when this path does not take them."""
    fn = _cblas().get(g.dtype)
    if fn is None or not (g.dtype == x.dtype == w.dtype) or 0 in g.shape or x.shape[1] == 0:
        return None
    g, x, w = (np.ascontiguousarray(a) for a in (g, x, w))
    gx = np.empty(gx_shape, g.dtype)
    gw = np.empty(w.shape, g.dtype)
    gb = np.empty(g.shape[1] if bias_grad else 0, g.dtype)
    _linear_grads(fn, g, x, w, gx.reshape(x.shape), gw, gb, parts // 2)
    return gx, gw, (gb if bias_grad else None)


@numba.njit(parallel=True, cache=True)
def _outer(a, b, out, parts):
    """``out = a[:, None] * b[None, :]`` in ``parts`` blocks of rows side by side."""
    m = a.shape[0]
    step = (m + parts - 1) // parts
    for p in prange(parts):
        for i in range(p * step, min(m, (p + 1) * step)):
            ai = a[i]
            row = out[i]
            for j in range(b.shape[0]):
                row[j] = ai * b[j]


def outer(a: np.ndarray, b: np.ndarray, parts: int) -> np.ndarray:
    """``a (m, 1) @ b (1, n)`` (one float dtype) on ``parts`` threads: an outer product is
    bound by writing its result (a 4096 x 4096 weight gradient: 64 MB, fresh pages), which
    one thread does at about half the speed of two."""
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    _outer(np.ascontiguousarray(a[:, 0]), np.ascontiguousarray(b[0]), out, parts)
    return out


@numba.njit(fastmath=True, cache=True)
def _few_rows_span(x, w, out, lo, hi):
    """``out[:, 4*lo:4*hi] = x @ w[4*lo:4*hi].T`` for a few rows ``x (R, K)`` and a
    C-contiguous ``w (N, K)`` (a linear layer's weight); the span that holds group
    ``N // 4`` does the last 1-3 weight rows. Each group of 4 weight rows is read once from
    memory and dotted with every row of ``x`` from cache, 4 accumulators sharing each load
    of ``x``. OpenBLAS's GEMM kernels are built for many rows: on 2-8 rows and more than
    ~1000 results they ran 2-4x slower than this (single thread, 128x384 to 768x3072
    weights). ``fastmath`` lets LLVM vectorise the dot products (a different summation
    order, as any BLAS has)."""
    rows, depth = x.shape
    n = w.shape[0]
    quads = n // 4
    for q in range(lo, min(quads, hi)):
        j = 4 * q
        w0, w1, w2, w3 = w[j], w[j + 1], w[j + 2], w[j + 3]
        for r in range(rows):
            xr = x[r]
            s0 = s1 = s2 = s3 = out.dtype.type(0)
            for k in range(depth):
                v = xr[k]
                s0 += w0[k] * v
                s1 += w1[k] * v
                s2 += w2[k] * v
                s3 += w3[k] * v
            out[r, j], out[r, j + 1], out[r, j + 2], out[r, j + 3] = s0, s1, s2, s3
    if lo <= quads < hi:  # (the span past the last group of 4 takes them)
        for j in range(4 * quads, n):  # the last 1-3 weight rows
            for r in range(rows):
                s = out.dtype.type(0)
                for k in range(depth):
                    s += w[j, k] * x[r, k]
                out[r, j] = s


@numba.njit(parallel=True, cache=True)
def _few_rows_parallel(x, w, out, parts):
    """``_few_rows_span`` in ``parts`` blocks of weight rows side by side."""
    quads = w.shape[0] // 4 + 1
    step = (quads + parts - 1) // parts
    for p in prange(parts):
        _few_rows_span(x, w, out, p * step, (p + 1) * step)


def few_rows(x: np.ndarray, w: np.ndarray, parts: int) -> np.ndarray:
    """``x @ w.T`` by ``_few_rows_span`` (``x`` and ``w`` C-contiguous, one float dtype),
    on one thread without a parallel region's start when ``parts`` is 1."""
    out = np.empty((x.shape[0], w.shape[0]), x.dtype)
    parts = max(1, min(parts, w.shape[0] // 64))
    if parts == 1:
        _few_rows_span(x, w, out, 0, w.shape[0] // 4 + 1)
    else:
        _few_rows_parallel(x, w, out, parts)
    return out


def _layout(x: np.ndarray) -> tuple[int, int] | None:
    """``(trans, leading dim)`` describing the last two dims of ``x`` to row-major BLAS,
    or None when neither they nor their transpose have unit stride along a dim."""
    item = x.itemsize
    rows, cols = x.shape[-2], x.shape[-1]
    rs, cs = x.strides[-2], x.strides[-1]
    if (cs == item or cols == 1) and rs % item == 0 and rs // item >= max(1, cols):
        return NO_TRANS, rs // item
    if (rs == item or rows == 1) and cs % item == 0 and cs // item >= max(1, rows):
        return TRANS, cs // item
    return None


def _readable(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """``x`` (copied C-contiguous if BLAS cannot read its matrices in place) and its
    ``_layout``."""
    layout = _layout(x)
    if layout is None:
        x = np.ascontiguousarray(x)
        layout = _layout(x)
    return x, layout


def _batch_strides(x: np.ndarray, batch: tuple) -> tuple[int, int]:
    """Byte strides of ``x``'s batch dims broadcast to ``batch`` (two dims: outer,
    inner); 0 where ``x`` is broadcast."""
    strides = [0, 0]
    lead = x.ndim - 2
    for d in range(lead):
        target = len(batch) - lead + d
        if x.shape[d] != 1:
            strides[2 - len(batch) + target] = x.strides[d]
    return strides[0], strides[1]


def matmul(a: np.ndarray, b: np.ndarray, parts: int,
           bias: np.ndarray | None = None) -> np.ndarray | None:
    """``a @ b`` (``+ bias``, of ``(n,)`` and the operands' dtype) over ``parts`` threads,
    or None when this path does not take it: both float32 or both float64, at least 2-D,
    at most two batch dims, nothing empty (NumPy takes those)."""
    fn = _cblas().get(a.dtype)
    if fn is None or b.dtype != a.dtype or a.ndim < 2 or b.ndim < 2 or max(a.ndim, b.ndim) > 4:
        return None
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    if b.shape[-2] != k or 0 in (m, n, k) or a.size == 0 or b.size == 0:
        return None
    a, la = _readable(a)
    b, lb = _readable(b)
    item = a.itemsize
    if a.ndim == b.ndim == 2:
        out = np.empty((m, n), a.dtype)
        by_rows = m >= n
        a_step = a.strides[0] if by_rows else 0
        b_step = 0 if by_rows else b.strides[1]
        _gemm_blocks(fn, la[0], lb[0], m, n, k, a.ctypes.data, la[1], a_step, b.ctypes.data,
                     lb[1], b_step, out, _NO_BIAS[a.dtype] if bias is None else bias, by_rows,
                     min(parts, m if by_rows else n))
        return out
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if len(batch) > 2:
        return None
    out = np.empty(batch + (m, n), a.dtype)
    outer, inner = (batch if len(batch) == 2 else (1, batch[0]))
    a_outer, a_inner = _batch_strides(a, batch)
    b_outer, b_inner = _batch_strides(b, batch)
    tr = _TRANSPOSERS.get(a.dtype) if lb[0] == TRANS and turn_b(m, n, k, item) else None
    rows = split_rows(m, n, k, la[0], NO_TRANS if tr is not None else lb[0])
    a_row = la[1] * item if la[0] == NO_TRANS else item
    if tr is None and min(parts, outer * inner) <= 1:  # (no parallel region to start)
        _batch_span(fn, la[0], lb[0], inner, m, n, k, a.ctypes.data, la[1], a_outer, a_inner,
                    a_row, b.ctypes.data, lb[1], b_outer, b_inner, out.ctypes.data,
                    m * n * item, rows, 0, outer * inner)
    elif tr is None:
        _gemm_batch(fn, la[0], lb[0], outer, inner, m, n, k, a.ctypes.data, la[1], a_outer,
                    a_inner, a_row, b.ctypes.data, lb[1], b_outer, b_inner, out.ctypes.data,
                    m * n * item, rows)
    elif min(parts, outer * inner) <= 1:  # (no parallel region to start)
        _batch_bt_span(fn, tr, la[0], inner, m, n, k, a.ctypes.data, la[1], a_outer, a_inner,
                       a_row, b.ctypes.data, lb[1], b_outer, b_inner, out.ctypes.data,
                       m * n * item, rows, 0, outer * inner, np.empty((k, n), a.dtype))
    else:
        _gemm_batch_bt(fn, tr, la[0], outer, inner, m, n, k, a.ctypes.data, la[1], a_outer,
                       a_inner, a_row, b.ctypes.data, lb[1], b_outer, b_inner, out,
                       m * n * item, rows, min(parts, outer * inner))
    if bias is not None:
        out += bias
    return out


def linear_serial(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray | None:
    """``x @ w.T + bias`` on the calling thread, one BLAS call from Python with the result
    first filled with the bias and then added to (``beta = 1``), or None when this path
    does not take it (as ``matmul``)."""
    fn = _cblas().get(x.dtype)
    m, k = x.shape
    n = w.shape[0]
    if fn is None or w.dtype != x.dtype or 0 in (m, n, k):
        return None
    x, lx = _readable(x)
    wt, lw = _readable(w.T)
    out = np.empty((m, n), x.dtype)
    out[...] = bias
    fn(ROW_MAJOR, lx[0], lw[0], m, n, k, 1.0, x.ctypes.data, lx[1], wt.ctypes.data, lw[1],
       1.0, out.ctypes.data, n)
    return out


def reshapes_batch(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``matmul`` multiplies the batch ``a @ b`` (float32/64, at least 3-D ``b``)
    otherwise than NumPy would, one BLAS call per matrix: turning ``b``'s matrices round
    (``turn_b``) or cutting each product in row blocks (``split_rows``). On one thread
    ``_blas.matmul`` hands it here only then."""
    if a.ndim < 2:
        return False
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None:
        return False
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    if lb[0] == TRANS and n > 1 and k > 1:
        return turn_b(m, n, k, a.itemsize)
    return split_rows(m, n, k, la[0], lb[0]) < m


def turn_b(m: int, n: int, k: int, itemsize: int) -> bool:
    """Whether a batch of ``(m, k) @ (k, n)`` products whose right operands are stored
    transposed runs faster with each of those turned round first (``_batch_bt_span``).
    OpenBLAS's kernel for small products (``split_rows``) does not take a transposed
    right operand, and its general GEMM is slow on small matrices of little depth (one
    thread, batches of 64: attention's ``q @ k^T`` at 128x32 @ 32x128 took 0.80 ms against
    0.50 the right way round, turned round first 0.60; 128x48 @ 48x128 1.11 -> 0.75;
    64x64 @ 64x64 0.45 -> 0.36; from 64 deep and 128 wide, or 256 wide, no difference).
    float32 products that ``split_rows`` cuts for the small kernel are turned as well
    (128x128 @ 128x64: 1.50 -> 1.19 ms; 256x32 @ 32x256 1.59 -> 1.14); float64 ones cost
    twice as much to turn round and gain only at 32 deep (128x64 @ 64x128: 3.4 -> 3.8
    ms; 128x32 @ 32x128: 1.82 -> 1.35)."""
    if itemsize == 8:
        return k <= TURN_DEPTH // 2 and m <= TURN_WIDTH and n <= TURN_WIDTH
    return (k <= TURN_DEPTH and m <= TURN_WIDTH and n <= TURN_WIDTH) \
        or SMALL_MNK < m * n * k <= SPLIT_MNK


TURN_DEPTH, TURN_WIDTH = 64, 128


def split_rows(m: int, n: int, k: int, ta: int, tb: int) -> int:
    """Rows per BLAS call for one ``(m, k) @ (k, n)`` product of a batch with row-major
    layouts ``ta``, ``tb``. OpenBLAS has a kernel for small products (at most
    ``SMALL_MNK`` multiply-adds; row-major ``a @ b`` and ``a^T @ b`` only) that runs
    ~1.3x faster than its general GEMM just above that size (one thread: 128x64 @ 64x128
    91 -> 121 GFLOP/s in two calls of 64 rows, 256x32 @ 32x256 87 -> 119 in four); up to
    ``SPLIT_MNK`` a product is cut into row blocks it takes, beyond that (256x64 @ 64x256:
    100 -> 91) left whole."""
    mnk = m * n * k
    if tb != NO_TRANS or not SMALL_MNK < mnk <= SPLIT_MNK:
        return m
    most = SMALL_MNK // (n * k)            # rows a call may take
    blocks = -(-m // max(most, 1))
    rows = (-(-m // blocks) + 7) // 8 * 8   # as even blocks as whole 8 rows allow
    return rows if 8 <= rows <= most else m


SMALL_MNK, SPLIT_MNK = 1_000_000, 2_200_000

_NO_BIAS = {np.dtype(dt): np.empty(0, dt) for dt in (np.float32, np.float64)}  # no bias


def matmul_sum(a: np.ndarray, b: np.ndarray, parts: int) -> np.ndarray | None:
    """``(a @ b).sum(0)`` of 3-D or 4-D ``a``, ``b`` (same leading dims; the sum is over
    the first, a second one is kept) without the stack of products, in ``parts`` partial
    sums; None when this path does not take it (as ``matmul``)."""
    fn = _cblas().get(a.dtype)
    if fn is None or b.dtype != a.dtype or a.ndim != b.ndim or a.ndim not in (3, 4) \
            or a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2] or 0 in a.shape \
            or 0 in b.shape:
        return None
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    a, la = _readable(a)
    b, lb = _readable(b)
    inner = a.shape[0]
    outer = a.shape[1] if a.ndim == 4 else 1
    parts = max(1, min(parts, inner))
    out = np.empty((parts, outer, m, n), a.dtype)
    a_inner, a_outer = a.strides[0], (a.strides[1] if a.ndim == 4 else 0)
    b_inner, b_outer = b.strides[0], (b.strides[1] if b.ndim == 4 else 0)
    _gemm_sum(fn, la[0], lb[0], outer, inner, m, n, k, a.ctypes.data, la[1], a_outer, a_inner,
              b.ctypes.data, lb[1], b_outer, b_inner, out.ctypes.data, m * n * a.itemsize,
              parts)
    total = out[0] if parts == 1 else out.sum(0)
    return total if a.ndim == 4 else total[0]
