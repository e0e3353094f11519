"""Attention without a mask or with the causal one, forward and backward, one Numba kernel
each: per head and block of query rows, BLAS GEMMs (NumPy's CBLAS through ctypes, as
``_kernels_gemm``) around a softmax pass over the block's scores while they are in cache.

The forward writes the scores straight into the probabilities array (the op outputs and
saves them), ``scale`` applied by the GEMM; with ``causal`` a block's scores are computed
only up to its last row's keys, each row's softmax runs over the keys it sees (no mask
array to add) and the rest of the row is left zero. The backward reads those zeros as
the end of each row too, so every GEMM skips what the causal mask hides. No copies: the
operands' matrices are read in place (any row stride; the last dim contiguous), one
pointer per head.

Heads and blocks of the forward, heads of the backward (whose blocks add into the same
key and value gradients), are shared out among ember's threads; each GEMM runs on one
BLAS thread.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from .._threads import sync_numba
from ._blas import _blas_libs
from ._kernels_gemm import NO_TRANS, ROW_MAJOR, TRANS, _cblas
from ._kernels_transformer import exp_own

sync_numba()

BLOCK = 128  # query rows per block: a block's scores (128 x keys) stay in L2
# causal: smaller blocks skip more of the hidden scores on the diagonal (per step of
# T=128 attention 8.2 -> 6.7 ms, T=512 60 -> 57; T=1024 54 -> 56)
CAUSAL_BLOCK = 64
_FLAGS = dict(cache=True, error_model="numpy", fastmath={"contract", "nsz"})
_SUM = dict(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz", "arcp"})


@numba.njit(**_SUM)
def _row_max(row, c):
    """The largest of ``row[:c]`` (8 running maxima, which run side by side)."""
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = row.dtype.type(-np.inf)
    top = c - c % 8
    for j in range(0, top, 8):
        m0 = row[j] if row[j] > m0 else m0
        m1 = row[j + 1] if row[j + 1] > m1 else m1
        m2 = row[j + 2] if row[j + 2] > m2 else m2
        m3 = row[j + 3] if row[j + 3] > m3 else m3
        m4 = row[j + 4] if row[j + 4] > m4 else m4
        m5 = row[j + 5] if row[j + 5] > m5 else m5
        m6 = row[j + 6] if row[j + 6] > m6 else m6
        m7 = row[j + 7] if row[j + 7] > m7 else m7
    for j in range(top, c):
        m0 = row[j] if row[j] > m0 else m0
    return max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))


@numba.njit(**_FLAGS)
def _exp_shifted(row, c, m):
    """``row[:c] = exp(row[:c] - m)`` in place."""
    for j in range(c):
        row[j] = exp_own(row[j] - m)


@numba.njit(**_SUM)
def _sum(row, c):
    total = row.dtype.type(0.0)
    for j in range(c):
        total += row[j]
    return total


@numba.njit(**_SUM)
def _softmax_prefix(row, c, n):
    """``row[:c] = softmax(row[:c])``, ``row[c:n] = 0`` (NaN propagates)."""
    m = _row_max(row, c)
    if m == -np.inf:  # (a row of -inf scores: torch's safe softmax gives zeros)
        c = 0
    else:
        _exp_shifted(row, c, m)
        inv = row.dtype.type(1.0) / _sum(row, c)
        for j in range(c):
            row[j] *= inv
    for j in range(c, n):
        row[j] = 0.0


@numba.njit(**_SUM)
def _softmax_grad_prefix(gp, p, c, n):
    """``gp[:c] = p * (gp - sum(gp * p))`` (the sum in float64: it cancels), ``gp[c:n] =
    0``."""
    total = 0.0
    for j in range(c):
        total += gp[j] * p[j]
    dot = gp.dtype.type(total)
    for j in range(c):
        gp[j] = p[j] * (gp[j] - dot)
    for j in range(c, n):
        gp[j] = 0.0


@numba.njit(parallel=True, cache=True)
def _forward(fn, q, lq, qh, k, lk, kh, v, lv, vh, out, probs, scale, causal, depth,
             block):
    """``probs[h] = softmax(q[h] @ k[h]^T * scale)``, ``out[h] = probs[h] @ v[h]``: ``q``,
    ``k``, ``v`` addresses, ``l*`` their row strides (elements), ``*h`` each head's byte
    offset; ``out`` (H, T, E), ``probs`` (H, T, S) C-contiguous, ``probs`` zeros; ``block``
    query rows at a time."""
    heads, rows, cols = probs.shape
    width = out.shape[2]
    item = probs.itemsize
    blocks = (rows + block - 1) // block
    for task in prange(heads * blocks):
        h, lo = task // blocks, (task % blocks) * block
        hi = min(rows, lo + block)
        n = min(cols, hi) if causal else cols
        scores = probs.ctypes.data + (h * rows + lo) * cols * item
        fn(ROW_MAJOR, NO_TRANS, TRANS, hi - lo, n, depth, scale, q + qh[h] + lo * lq * item,
           lq, k + kh[h], lk, 0.0, scores, cols)
        for i in range(lo, hi):
            _softmax_prefix(probs[h, i], min(i + 1, cols) if causal else cols, n)
        fn(ROW_MAJOR, NO_TRANS, NO_TRANS, hi - lo, width, n, 1.0, scores, cols, v + vh[h], lv,
           0.0, out.ctypes.data + (h * rows + lo) * width * item, width)


@numba.njit(parallel=True, cache=True)
def _backward(fn, g, lg, gh, q, lq, qh, k, lk, kh, v, lv, vh, probs, gq, gk, gv, scale, causal,
              block):
    """Gradients of ``_forward`` from the output gradient ``g`` (address, row stride, head
    offsets as ``q``): ``gq``, ``gk``, ``gv`` C-contiguous (H, rows, dim), ``gk`` and
    ``gv`` zeros. A block's scores' gradient lives in a per-head buffer."""
    heads, rows, cols = probs.shape
    depth, width = gq.shape[2], gv.shape[2]
    item = probs.itemsize
    for h in prange(heads):
        buf = np.empty((block, cols), probs.dtype)
        scores = buf.ctypes.data
        for lo in range(0, rows, block):
            hi = min(rows, lo + block)
            m = hi - lo
            n = min(cols, hi) if causal else cols
            g_lo = g + gh[h] + lo * lg * item
            fn(ROW_MAJOR, NO_TRANS, TRANS, m, n, width, 1.0, g_lo, lg, v + vh[h], lv, 0.0,
               scores, cols)
            for r in range(m):
                i = lo + r
                _softmax_grad_prefix(buf[r], probs[h, i], min(i + 1, cols) if causal else cols,
                                     n)
            fn(ROW_MAJOR, NO_TRANS, NO_TRANS, m, depth, n, scale, scores, cols, k + kh[h], lk,
               0.0, gq.ctypes.data + (h * rows + lo) * depth * item, depth)
            fn(ROW_MAJOR, TRANS, NO_TRANS, n, depth, m, scale, scores, cols,
               q + qh[h] + lo * lq * item, lq, 1.0, gk.ctypes.data + h * cols * depth * item,
               depth)
            fn(ROW_MAJOR, TRANS, NO_TRANS, n, width, m, 1.0,
               probs.ctypes.data + (h * rows + lo) * cols * item, cols, g_lo, lg, 1.0,
               gv.ctypes.data + h * cols * width * item, width)


def _heads(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int, np.ndarray]]:
    """``x`` as BLAS reads its matrices in place: ``(x, (address, row stride in elements,
    byte offset of each head))``; copied C-contiguous when its last dim is strided."""
    item = x.itemsize
    if x.strides[-1] != item and x.shape[-1] > 1 or x.strides[-2] % item \
            or x.strides[-2] < item * x.shape[-1]:
        x = np.ascontiguousarray(x)
    offsets = np.zeros(1, np.int64)
    for size, stride in zip(x.shape[:-2], x.strides[:-2]):
        offsets = (offsets[:, None] + np.arange(size, dtype=np.int64) * stride).reshape(-1)
    return x, (x.ctypes.data, max(1, x.strides[-2] // item), offsets)


def supported(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> bool:
    """Whether ``attention`` takes these operands: one float32/float64 dtype with CBLAS,
    the same batch and head dims, keys and values at least one."""
    return (q.dtype == k.dtype == v.dtype and q.dtype in _cblas() and q.ndim >= 2
            and q.shape[:-2] == k.shape[:-2] == v.shape[:-2] and k.shape[-2] > 0
            and min(q.shape[-2], q.shape[-1], v.shape[-1]) > 0)


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float,
              causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(softmax(q @ k^T * scale [+ causal mask]) @ v, probabilities)`` of ``supported``
    operands (the causal mask lets query ``i`` see keys ``0..i``)."""
    lead, rows, cols = q.shape[:-2], q.shape[-2], k.shape[-2]
    heads = math.prod(lead)
    _blas_libs()  # NumPy's BLAS on one thread: ember's threads share the heads out
    probs = np.zeros(lead + (rows, cols), q.dtype)
    out = np.empty(lead + (rows, v.shape[-1]), q.dtype)
    (q, pq), (k, pk), (v, pv) = (_heads(x) for x in (q, k, v))
    _forward(_cblas()[q.dtype], *pq, *pk, *pv, out.reshape(heads, rows, -1),
             probs.reshape(heads, rows, cols), scale, causal, q.shape[-1],
             CAUSAL_BLOCK if causal else BLOCK)
    return out, probs


def attention_backward(g: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                       probs: np.ndarray, scale: float, causal: bool) -> tuple:
    """``(gq, gk, gv)`` of ``attention`` from the output gradient ``g`` (same batch dims)
    and its ``probs``."""
    lead, rows, cols = probs.shape[:-2], probs.shape[-2], probs.shape[-1]
    heads = math.prod(lead)
    _blas_libs()
    gq = np.empty(q.shape, q.dtype)
    gk, gv = np.zeros(k.shape, q.dtype), np.zeros(v.shape, q.dtype)
    (g, pg), (q, pq), (k, pk), (v, pv) = (_heads(x) for x in (g, q, k, v))
    flat = (heads, -1, q.shape[-1])
    _backward(_cblas()[q.dtype], *pg, *pq, *pk, *pv,
              np.ascontiguousarray(probs).reshape(heads, rows, cols), gq.reshape(flat),
              gk.reshape(flat), gv.reshape(heads, cols, -1), scale, causal,
              CAUSAL_BLOCK if causal else BLOCK)
    return gq, gk, gv
