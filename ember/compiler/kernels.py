"""Numba kernels that generated code calls for small work, where the per-call costs of
ember's general kernels (argument checks, thread hand-offs, BLAS's packing) are most of
the time: generation without a KV cache runs every layer on 1-64 rows.

- ``linear_rows``: ``x @ w.T + b`` on a few rows, as dot products of ``x``'s and ``w``'s
  contiguous rows in 4 x 4 register blocks. OpenBLAS's GEMM with the weight transposed
  (a linear layer's layout) packs the weight on every call, which is most of the work at
  a few rows (4 x 128 @ 128 x 384: 11.4 us through ``_blas.matmul``, 5.4 here).
- ``attention_rows``: causal or plain attention of one small batch, each query row's
  scores, softmax and weighted sum of values in one pass without the probabilities
  array, written in whatever layout the caller's ``out`` view has (the generated code
  passes a ``(B, T, H, D)`` array seen as ``(B, H, T, D)``, so that the usual
  ``transpose(1, 2).reshape(B, T, H * D)`` after attention is a view).
"""

from __future__ import annotations

import numba
import numpy as np

from ..ops._kernels_attention import _softmax_prefix

__all__ = ["linear_rows", "attention_rows", "FEW_ROWS", "FEW_ROWS_WEIGHT"]

# up to this many rows, of a weight of at most ``FEW_ROWS_WEIGHT`` elements,
# ``linear_rows`` beat ``_blas.matmul`` on one thread for the bench GPT's layers (32 x 128
# @ 128 x 384: 39 us against 43; at 64 rows 81 against 72); a weight past cache is read
# from memory again for every 4 rows, where BLAS's blocking reads it once
FEW_ROWS = 32
FEW_ROWS_WEIGHT = 1 << 18

_SUM = dict(cache=True, nogil=True, error_model="numpy",
            fastmath={"reassoc", "contract", "nsz", "arcp"})


@numba.njit(inline="always")
def _dot4(x, w0, w1, w2, w3, k):
    """The dot products of ``x[:k]`` with four rows, side by side (one pass over ``x``),
    each summed left to right."""
    a0 = x[0] * w0[0]
    a1 = x[0] * w1[0]
    a2 = x[0] * w2[0]
    a3 = x[0] * w3[0]
    for i in range(1, k):
        p = x[i]
        a0 += p * w0[i]
        a1 += p * w1[i]
        a2 += p * w2[i]
        a3 += p * w3[i]
    return a0, a1, a2, a3


@numba.njit(**_SUM)
def _linear_rows(x, w, b, out):
    """``out[t, o] = x[t] . w[o] + b[o]`` (``x`` (m, k), ``w`` (n, k) C-contiguous, k >= 1,
    ``b`` (n,)): 4 rows of ``x`` against 4 weight rows at a time (a small weight is read
    from cache once per 4 rows: ~10% faster than 4 weight rows against all of ``x``)."""
    m, k = x.shape
    n = w.shape[0]
    n4 = n - n % 4
    t = 0
    while t + 4 <= m:
        x0, x1, x2, x3 = x[t], x[t + 1], x[t + 2], x[t + 3]
        for o in range(0, n4, 4):
            w0, w1, w2, w3 = w[o], w[o + 1], w[o + 2], w[o + 3]
            a00 = x0[0] * w0[0]
            a01 = x0[0] * w1[0]
            a02 = x0[0] * w2[0]
            a03 = x0[0] * w3[0]
            a10 = x1[0] * w0[0]
            a11 = x1[0] * w1[0]
            a12 = x1[0] * w2[0]
            a13 = x1[0] * w3[0]
            a20 = x2[0] * w0[0]
            a21 = x2[0] * w1[0]
            a22 = x2[0] * w2[0]
            a23 = x2[0] * w3[0]
            a30 = x3[0] * w0[0]
            a31 = x3[0] * w1[0]
            a32 = x3[0] * w2[0]
            a33 = x3[0] * w3[0]
            for i in range(1, k):
                p0, p1, p2, p3 = x0[i], x1[i], x2[i], x3[i]
                q0, q1, q2, q3 = w0[i], w1[i], w2[i], w3[i]
                a00 += p0 * q0
                a01 += p0 * q1
                a02 += p0 * q2
                a03 += p0 * q3
                a10 += p1 * q0
                a11 += p1 * q1
                a12 += p1 * q2
                a13 += p1 * q3
                a20 += p2 * q0
                a21 += p2 * q1
                a22 += p2 * q2
                a23 += p2 * q3
                a30 += p3 * q0
                a31 += p3 * q1
                a32 += p3 * q2
                a33 += p3 * q3
            b0, b1, b2, b3 = b[o], b[o + 1], b[o + 2], b[o + 3]
            out[t, o], out[t, o + 1], out[t, o + 2], out[t, o + 3] = \
                a00 + b0, a01 + b1, a02 + b2, a03 + b3
            out[t + 1, o], out[t + 1, o + 1], out[t + 1, o + 2], out[t + 1, o + 3] = \
                a10 + b0, a11 + b1, a12 + b2, a13 + b3
            out[t + 2, o], out[t + 2, o + 1], out[t + 2, o + 2], out[t + 2, o + 3] = \
                a20 + b0, a21 + b1, a22 + b2, a23 + b3
            out[t + 3, o], out[t + 3, o + 1], out[t + 3, o + 2], out[t + 3, o + 3] = \
                a30 + b0, a31 + b1, a32 + b2, a33 + b3
        for o in range(n4, n):
            for r in range(t, t + 4):
                acc = x[r, 0] * w[o, 0]
                for i in range(1, k):
                    acc += x[r, i] * w[o, i]
                out[r, o] = acc + b[o]
        t += 4
    for r in range(t, m):  # the last 1-3 rows, one row times 4 weight rows at a time
        xr = x[r]
        for o in range(0, n4, 4):
            a0, a1, a2, a3 = _dot4(xr, w[o], w[o + 1], w[o + 2], w[o + 3], k)
            out[r, o], out[r, o + 1], out[r, o + 2], out[r, o + 3] = \
                a0 + b[o], a1 + b[o + 1], a2 + b[o + 2], a3 + b[o + 3]
        for o in range(n4, n):
            acc = xr[0] * w[o, 0]
            for i in range(1, k):
                acc += xr[i] * w[o, i]
            out[r, o] = acc + b[o]


def linear_rows(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``x @ w.T + b`` for a 2-D float ``x`` of at least one row and column, ``w``
    C-contiguous of ``x``'s dtype, ``b`` of it or None: a new C-contiguous array."""
    out = np.empty((x.shape[0], w.shape[0]), x.dtype)
    _linear_rows(np.ascontiguousarray(x), w, np.zeros(w.shape[0], x.dtype) if b is None
                 else np.ascontiguousarray(b), out)
    return out


@numba.njit(**_SUM)
def _attention_rows(q, k, v, out, scale, causal):
    """``out[b, h] = softmax(q[b, h] @ k[b, h].T * scale [causal]) @ v[b, h]`` (4-D, any
    strides): each head's keys and values copied contiguous first (padded with zero rows
    to a multiple of 4), so that the dot products and the weighted sums run on vectors,
    four keys at a time; each row's softmax is the fused kernel's
    (``_kernels_attention``), which zeroes the padding's scores."""
    batch, heads, rows, depth = q.shape
    cols, width = k.shape[2], v.shape[3]
    keys = np.zeros((cols + 3, depth), q.dtype)
    values = np.zeros((cols + 3, width), q.dtype)
    row = np.empty(depth, q.dtype)
    scores = np.empty(cols + 3, q.dtype)
    acc = np.empty(width, q.dtype)
    for b in range(batch):
        for h in range(heads):
            keys[:cols] = k[b, h]
            values[:cols] = v[b, h]
            for i in range(rows):
                for d in range(depth):
                    row[d] = q[b, h, i, d]
                n = min(i + 1, cols) if causal else cols
                for j in range(0, n, 4):
                    s0, s1, s2, s3 = _dot4(row, keys[j], keys[j + 1], keys[j + 2],
                                           keys[j + 3], depth)
                    scores[j], scores[j + 1] = s0 * scale, s1 * scale
                    scores[j + 2], scores[j + 3] = s2 * scale, s3 * scale
                _softmax_prefix(scores, n, n + (-n) % 4)
                acc[:] = 0.0
                for j in range(0, n, 4):
                    e0, e1, e2, e3 = scores[j], scores[j + 1], scores[j + 2], scores[j + 3]
                    v0, v1, v2, v3 = values[j], values[j + 1], values[j + 2], values[j + 3]
                    for d in range(width):
                        acc[d] += e0 * v0[d] + e1 * v1[d] + e2 * v2[d] + e3 * v3[d]
                for d in range(width):
                    out[b, h, i, d] = acc[d]


def attention_rows(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, causal: bool,
                   heads_last: bool) -> np.ndarray:
    """``softmax(q @ k^T * scale [causal]) @ v`` of 4-D float arrays (B, H, T, D) of one
    dtype, at least one key; with ``heads_last`` the result's memory is (B, T, H, D)."""
    b, h, t = q.shape[:3]
    if heads_last:
        out = np.empty((b, t, h, v.shape[3]), q.dtype).transpose(0, 2, 1, 3)
    else:
        out = np.empty((b, h, t, v.shape[3]), q.dtype)
    _attention_rows(q, k, v, out, scale, causal)
    return out
