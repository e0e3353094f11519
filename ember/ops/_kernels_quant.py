"""Numba kernels of quantized inference: int8 GEMM with int32 accumulation (dynamic and
static quantized Linear) and the fused int4/int8 weight-only dequantise + GEMM.

Written for AVX2 without VNNI: the inner loops multiply 8-bit values widened to 16/32-bit
integers and sum them into int32 accumulators over a contiguous ``K``, the shape LLVM
turns into ``vpmovsxbw``/``vpmaddwd`` (16-bit widening multiply-adds, 16 products per
instruction -- twice a float32 FMA's 8). Each pass over ``K`` updates four output
columns at once so that a loaded activation vector is reused four times.

Imported on first use by the quantized modules, never by ``import ember``; each kernel has
a NumPy reference below it that ``tests/test_quant_kernels.py`` compares it with.
"""

from __future__ import annotations

import numba
import numpy as np

# ---- int8 x int8 -> int32 GEMM, dequantised into float32 -----------------------------------


_I32 = np.int32


@numba.njit(cache=True, inline="always")
def _dot1x4(x, w0, w1, w2, w3, k_len):
    """Four int32 dot products of ``x`` with ``w0..w3`` over ``k_len``.

    The index is unsigned (no negative-index check, so the loop vectorises). Numba widens
    integer products to int64; truncating each product and sum to int32 keeps LLVM on
    16-bit multiply-adds (``vpmaddwd``; ``vpdpwssd`` where the CPU has VNNI)."""
    a0 = a1 = a2 = a3 = _I32(0)
    for k in range(np.uint64(k_len)):
        u = _I32(x[k])
        a0 = _I32(a0 + _I32(u * _I32(w0[k])))
        a1 = _I32(a1 + _I32(u * _I32(w1[k])))
        a2 = _I32(a2 + _I32(u * _I32(w2[k])))
        a3 = _I32(a3 + _I32(u * _I32(w3[k])))
    return a0, a1, a2, a3


@numba.njit(cache=True, inline="always")
def _dot4x4(x0, x1, x2, x3, w0, w1, w2, w3, k_len):
    """Sixteen int32 dot products, rows ``x0..x3`` by columns ``w0..w3`` (as ``_dot1x4``):
    each widened vector feeds four multiply-adds, so the loop is not load-bound."""
    a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = _I32(0)
    c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = _I32(0)
    for k in range(np.uint64(k_len)):
        p, q, r, s = _I32(x0[k]), _I32(x1[k]), _I32(x2[k]), _I32(x3[k])
        e0, e1, e2, e3 = _I32(w0[k]), _I32(w1[k]), _I32(w2[k]), _I32(w3[k])
        a0, a1 = _I32(a0 + _I32(p * e0)), _I32(a1 + _I32(p * e1))
        a2, a3 = _I32(a2 + _I32(p * e2)), _I32(a3 + _I32(p * e3))
        b0, b1 = _I32(b0 + _I32(q * e0)), _I32(b1 + _I32(q * e1))
        b2, b3 = _I32(b2 + _I32(q * e2)), _I32(b3 + _I32(q * e3))
        c0, c1 = _I32(c0 + _I32(r * e0)), _I32(c1 + _I32(r * e1))
        c2, c3 = _I32(c2 + _I32(r * e2)), _I32(c3 + _I32(r * e3))
        d0, d1 = _I32(d0 + _I32(s * e0)), _I32(d1 + _I32(s * e1))
        d2, d3 = _I32(d2 + _I32(s * e2)), _I32(d3 + _I32(s * e3))
    return (a0, a1, a2, a3), (b0, b1, b2, b3), (c0, c1, c2, c3), (d0, d1, d2, d3)


@numba.njit(cache=True, inline="always")
def _store(out, m, n0, acc, a_scale, a_zp, col_sum, w_scale, bias):
    """Row ``m``, columns ``n0..n0+3`` (those below ``out``'s width) of the float output,
    in fbgemm's order: ``float(acc - a_zp * col_sum) * a_scale * w_scale + bias``."""
    for j in range(4):
        n = n0 + j
        if n < out.shape[1]:
            raw = np.float32(acc[j] - a_zp * col_sum[n])
            out[m, n] = raw * a_scale * w_scale[n] + bias[n]


@numba.njit(cache=True, parallel=True)  # no fastmath: the float epilogue keeps its order
def qlinear_s8(xq, a_scale, a_zp, wq, col_sum, w_scale, bias, out):
    """``out[m, n] = (sum_k xq[m, k] * wq[n, k] - a_zp * col_sum[n]) * a_scale * w_scale[n]
    + bias[n]``: ``xq (M, K)`` uint8 activations, ``wq (N, K)`` int8 weights (rows padded
    to a multiple of 4), int32 sums, ``col_sum[n] = sum_k wq[n, k]``. ``bias`` is float32
    of length N (zeros when the layer has none). Blocks of 4 rows by 4 columns, then the
    last ``M % 4`` rows one by one."""
    m_rows, k_len = xq.shape
    m_full = m_rows - m_rows % 4
    for b in numba.prange(wq.shape[0] // 4):
        n0 = b * 4
        w0, w1, w2, w3 = wq[n0], wq[n0 + 1], wq[n0 + 2], wq[n0 + 3]
        for m in range(0, m_full, 4):
            acc = _dot4x4(xq[m], xq[m + 1], xq[m + 2], xq[m + 3], w0, w1, w2, w3, k_len)
            for i in range(4):
                _store(out, m + i, n0, acc[i], a_scale, a_zp, col_sum, w_scale, bias)
        for m in range(m_full, m_rows):
            acc1 = _dot1x4(xq[m], w0, w1, w2, w3, k_len)
            _store(out, m, n0, acc1, a_scale, a_zp, col_sum, w_scale, bias)


def qlinear_s8_reference(xq, a_scale, a_zp, wq, col_sum, w_scale, bias):
    """NumPy reference of ``qlinear_s8`` (``wq`` unpadded)."""
    acc = xq.astype(np.int64) @ wq.astype(np.int64).T - a_zp * col_sum.astype(np.int64)
    return acc.astype(np.float32) * np.float32(a_scale) * w_scale + bias


@numba.njit(cache=True, parallel=True)  # no fastmath: x * inv + zp must not fuse
def quantize_u8(x, inv_scale, zero_point, out):
    """``out = clamp(rint(x * inv_scale + zero_point), 0, 255)`` (uint8), row by row."""
    m_rows, k_len = x.shape
    lo, hi = np.float32(0.0), np.float32(255.0)
    for m in numba.prange(m_rows):
        for k in range(k_len):
            v = np.rint(x[m, k] * inv_scale + zero_point)
            out[m, k] = np.uint8(min(max(v, lo), hi))


@numba.njit(cache=True)
def min_max(x):
    """The smallest and largest value of the float array ``x`` (one pass)."""
    flat = x.ravel()
    lo = hi = flat[0]
    for v in flat:
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi
