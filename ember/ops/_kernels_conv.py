"""Fused Winograd F(2x2, 3x3) convolution kernels: forward (and, by the flipped transposed
kernel, the input gradient) and the weight gradient, a block of tiles at a time.

F(2x2, 3x3) (Lavin & Gray, 2015) computes each 2x2 output tile from a 4x4 input patch with
16 multiplies per channel pair instead of 36; summed over channels these are 16 GEMMs
``U[e] (O, C) @ V[e] (C, tiles)``. Transforming the whole batch first and multiplying
after (``_kernels_nn.winograd_forward``) sends ``V`` and ``M`` (each 4x the input or
output) through memory, freshly allocated every call (page faults), and its weight
gradient was an im2col GEMM with 2.25x the multiplies. Here each thread takes blocks of
``block`` consecutive tiles: their input transform, the 16 GEMMs (single-threaded BLAS,
called through the function pointer ``_kernels_gemm`` found) and the output transform run
on buffers that stay in cache. The weight gradient transforms a block of input patches and
of output-gradient tiles (``A dY A^T``) and accumulates ``dU[e] += dM[e] @ V[e]^T`` per
thread; ``dw = G^T dU G`` is left to the caller (one small GEMM by ``kron(G, G)^T``).

Tiles are numbered ``t = (n * tiles_h + ty) * tiles_w + tx``; tile ``t`` reads input rows
``2 ty - lo_h ..`` and columns ``2 tx - lo_w ..`` (zero outside) and writes output rows
``2 ty, 2 ty + 1`` and columns ``2 tx, 2 tx + 1`` (cropped at odd edges).

``conv`` and ``weight_grad`` are the entry points (``ember.ops.conv`` imports this module
on first use: it imports Numba).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._threads import sync_numba
from . import _kernels_gemm
from ._blas import PARALLEL_FLOPS
from ._kernels_nn import _GG, _SWAP, _winograd_weight
from ._parallel import threads_for

sync_numba()  # ember's thread count, before a parallel kernel runs

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
BLOCK = 128  # tiles per block: 64-256 measured alike; the buffers stay within L2 for
# up to 64+64 channels


def available(dtype) -> bool:
    """Whether NumPy's BLAS gives these kernels a GEMM for ``dtype``."""
    return np.dtype(dtype) in _kernels_gemm._cblas()


def _parts(flops: float, tiles: int) -> int:
    return max(1, min(threads_for(flops, PARALLEL_FLOPS), numba.get_num_threads(),
                      -(-tiles // BLOCK)))


def _tiles(out) -> tuple[int, int]:
    return -(-out[0] // 2), -(-out[1] // 2)


def conv(x: np.ndarray, w: np.ndarray, lo, out, groups: int,
         adjoint: bool = False) -> np.ndarray:
    """The 3x3 stride-1 convolution of ``x (N, C, H, W)`` by ``w (O, C/G, 3, 3)`` with
    leading padding ``lo``, output size ``out`` (no bias); with ``adjoint``, by the flipped
    transposed kernel (``x`` has O channels): a stride-1 convolution's input gradient."""
    o, c_in = w.shape[0] // groups, w.shape[1]  # per group
    u = _winograd_weight(w).reshape(16, groups, o, c_in)
    if adjoint:
        # G rev(k) is G k with its first and last entries swapped: the flipped kernels'
        # transforms are a permutation of u's, then (O, C) transposed
        u = u.reshape(4, 4, groups, o, c_in)[_SWAP][:, _SWAP].swapaxes(-1, -2)
        o, c_in = c_in, o
    u = np.ascontiguousarray(u, dtype=x.dtype)
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], o * groups) + tuple(out), dtype=x.dtype)
    tiles = _tiles(out)
    count = x.shape[0] * tiles[0] * tiles[1]
    parts = _parts(32.0 * o * c_in * groups * count, count)
    winograd_conv(_kernels_gemm._cblas()[x.dtype], x, u, y, lo[0], lo[1], *tiles, groups,
                  BLOCK, parts)
    return y


def weight_grad(x: np.ndarray, g: np.ndarray, w_shape, lo, groups: int) -> np.ndarray:
    """The gradient of ``w (O, C/G, 3, 3)`` of the convolution ``conv`` computes, from its
    input ``x`` and output gradient ``g``: ``G^T dU G`` of the summed ``dU``."""
    x, g = np.ascontiguousarray(x), np.ascontiguousarray(g, dtype=x.dtype)
    o, c_in = w_shape[0] // groups, w_shape[1]
    tiles = _tiles(g.shape[2:])
    count = x.shape[0] * tiles[0] * tiles[1]
    parts = _parts(32.0 * o * c_in * groups * count, count)
    du = np.empty((parts, 16, groups, o, c_in), dtype=x.dtype)
    winograd_weight_grad(_kernels_gemm._cblas()[x.dtype], x, g, du, lo[0], lo[1], *tiles,
                         groups, BLOCK, parts)
    du = du[0] if parts == 1 else du.sum(0)
    return (_GG.T.astype(x.dtype) @ du.reshape(16, -1)).T.reshape(w_shape)


@numba.njit(cache=True)
def _tile_origins(t0, tb, tiles_h, tiles_w, lo_h, lo_w, where):
    """``where[j] = (sample, first input row, first input column)`` of tile ``t0 + j``."""
    per = tiles_h * tiles_w
    for j in range(tb):
        t = t0 + j
        r = t % per
        where[j, 0] = t // per
        where[j, 1] = 2 * (r // tiles_w) - lo_h
        where[j, 2] = 2 * (r % tiles_w) - lo_w


@numba.njit(cache=True)
def _input_block(x, where, tb, block, v, d):
    """``v[e, c * block + j] = (B^T d B)[e]`` for the 4x4 input patch ``d`` of tile ``j``
    of the block in channel ``c`` (zeros outside ``x``); ``d`` is a scratch ``(16,)``.
    Flat unsigned indices: no negative-index wrapping in the inner loops."""
    u = np.uint64
    c_count, h, w = x.shape[1], x.shape[2], x.shape[3]
    xf, vf = x.reshape(-1), v.reshape(-1)
    plane = u(h * w)
    e_step = u(v.shape[1])
    for c in range(c_count):
        at = u(c * block)
        for j in range(tb):
            b, y0, x0 = where[j, 0], where[j, 1], where[j, 2]
            if y0 >= 0 and x0 >= 0 and y0 + 4 <= h and x0 + 4 <= w:
                k = u((b * c_count + c) * plane + y0 * w + x0)
                for r in range(4):
                    kr = k + u(r * w)
                    d[4 * r], d[4 * r + 1] = xf[kr], xf[kr + u(1)]
                    d[4 * r + 2], d[4 * r + 3] = xf[kr + u(2)], xf[kr + u(3)]
            else:
                for r in range(4):
                    for s in range(4):
                        yy, xx = y0 + r, x0 + s
                        inside = 0 <= yy < h and 0 <= xx < w
                        d[4 * r + s] = x[b, c, yy, xx] if inside else 0
            # B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3; then each row times B
            for r in range(4):
                if r == 0:
                    a0, a1, a2, a3 = d[0] - d[8], d[1] - d[9], d[2] - d[10], d[3] - d[11]
                elif r == 1:
                    a0, a1, a2, a3 = d[4] + d[8], d[5] + d[9], d[6] + d[10], d[7] + d[11]
                elif r == 2:
                    a0, a1, a2, a3 = d[8] - d[4], d[9] - d[5], d[10] - d[6], d[11] - d[7]
                else:
                    a0, a1, a2, a3 = d[4] - d[12], d[5] - d[13], d[6] - d[14], d[7] - d[15]
                dst = at + u(4 * r) * e_step + u(j)
                vf[dst] = a0 - a2
                vf[dst + e_step] = a1 + a2
                vf[dst + u(2) * e_step] = a2 - a1
                vf[dst + u(3) * e_step] = a1 - a3


@numba.njit(cache=True)
def _output_block(m, where, tb, block, lo_h, lo_w, y):
    """The 2x2 output tiles ``A^T M A`` of ``m[:, o * block + j]`` into ``y``, cropped at
    its edges (``where`` holds input origins: the output origin is ``lo`` further)."""
    u = np.uint64
    o_count, h, w = y.shape[1], y.shape[2], y.shape[3]
    mf, yf = m.reshape(-1), y.reshape(-1)
    e = u(m.shape[1])
    plane = u(h * w)
    for o in range(o_count):
        for j in range(tb):
            b, yy, xx = where[j, 0], where[j, 1] + lo_h, where[j, 2] + lo_w
            k = u(o * block + j)
            m0, m1, m2, m3 = mf[k], mf[k + e], mf[k + u(2) * e], mf[k + u(3) * e]
            m4, m5, m6, m7 = mf[k + u(4) * e], mf[k + u(5) * e], mf[k + u(6) * e], \
                mf[k + u(7) * e]
            m8, m9, m10, m11 = mf[k + u(8) * e], mf[k + u(9) * e], mf[k + u(10) * e], \
                mf[k + u(11) * e]
            m12, m13, m14, m15 = mf[k + u(12) * e], mf[k + u(13) * e], mf[k + u(14) * e], \
                mf[k + u(15) * e]
            p0, p1, p2, p3 = m0 + m4 + m8, m1 + m5 + m9, m2 + m6 + m10, m3 + m7 + m11
            q0, q1, q2, q3 = m4 - m8 - m12, m5 - m9 - m13, m6 - m10 - m14, m7 - m11 - m15
            at = u((b * o_count + o) * plane + yy * w + xx)
            yf[at] = p0 + p1 + p2
            right = xx + 1 < w
            if right:
                yf[at + u(1)] = p1 - p2 - p3
            if yy + 1 < h:
                yf[at + u(w)] = q0 + q1 + q2
                if right:
                    yf[at + u(w + 1)] = q1 - q2 - q3


@numba.njit(cache=True)
def _grad_block(g, where, tb, block, lo_h, lo_w, dm):
    """``dm[:, o * block + j] = A dY A^T`` of the 2x2 output-gradient tile ``dY`` of tile
    ``j`` (zeros past the edges of ``g``): the adjoint of ``_output_block``."""
    u = np.uint64
    o_count, h, w = g.shape[1], g.shape[2], g.shape[3]
    gf, df = g.reshape(-1), dm.reshape(-1)
    e = u(dm.shape[1])
    plane = u(h * w)
    zero = g.dtype.type(0)
    for o in range(o_count):
        for j in range(tb):
            b, yy, xx = where[j, 0], where[j, 1] + lo_h, where[j, 2] + lo_w
            at = u((b * o_count + o) * plane + yy * w + xx)
            right, down = xx + 1 < w, yy + 1 < h
            g00 = gf[at]
            g01 = gf[at + u(1)] if right else zero
            g10 = gf[at + u(w)] if down else zero
            g11 = gf[at + u(w + 1)] if right and down else zero
            # rows of A dY: g0, g0 + g1, g0 - g1, -g1; each row (a, c) times A^T is
            # (a, a + c, a - c, -c)
            k = u(o * block + j)
            for r in range(4):
                if r == 0:
                    a, c = g00, g01
                elif r == 1:
                    a, c = g00 + g10, g01 + g11
                elif r == 2:
                    a, c = g00 - g10, g01 - g11
                else:
                    a, c = -g10, -g11
                dst = k + u(4 * r) * e
                df[dst] = a
                df[dst + e] = a + c
                df[dst + u(2) * e] = a - c
                df[dst + u(3) * e] = -c


@numba.njit(cache=True)
def _row(count, block):
    """The length of a buffer's row ``e`` for ``count`` channels: a cache line more than
    ``count * block``, so that the 16 rows are not a power of two apart (the 16 write
    streams of a transform then fall into the same cache sets: 4-10x slower)."""
    return count * block + 16


@numba.njit(parallel=True, cache=True)
def winograd_conv(fn, x, u, y, lo_h, lo_w, tiles_h, tiles_w, groups, block, parts):
    """``y (N, O, H', W')`` of ``x (N, C, H, W)`` by the transformed kernels ``u (16, G,
    O/G, C/G)``: per block of tiles, input transform, ``16 * G`` GEMMs, output transform.
    ``parts`` threads take the blocks in turn."""
    c, o = x.shape[1], y.shape[1]
    ci, oi = c // groups, o // groups
    total = x.shape[0] * tiles_h * tiles_w
    blocks = (total + block - 1) // block
    item = x.itemsize
    for p in prange(parts):
        v = np.empty((16, _row(c, block)), dtype=x.dtype)
        m = np.empty((16, _row(o, block)), dtype=x.dtype)
        where = np.empty((block, 3), dtype=np.int64)
        d = np.empty(16, dtype=x.dtype)
        for blk in range(p, blocks, parts):
            t0 = blk * block
            tb = min(block, total - t0)
            _tile_origins(t0, tb, tiles_h, tiles_w, lo_h, lo_w, where)
            _input_block(x, where, tb, block, v, d)
            for e in range(16):
                for gi in range(groups):
                    fn(ROW_MAJOR, NO_TRANS, NO_TRANS, oi, tb, ci, 1.0,
                       u.ctypes.data + ((e * groups + gi) * oi * ci) * item, ci,
                       v.ctypes.data + (e * v.shape[1] + gi * ci * block) * item, block, 0.0,
                       m.ctypes.data + (e * m.shape[1] + gi * oi * block) * item, block)
            _output_block(m, where, tb, block, lo_h, lo_w, y)


@numba.njit(parallel=True, cache=True)
def winograd_weight_grad(fn, x, g, du, lo_h, lo_w, tiles_h, tiles_w, groups, block, parts):
    """Per thread ``p`` the transformed weight gradient ``du[p] (16, G, O/G, C/G)``: the sum
    over its blocks of tiles of ``dM[e] @ V[e]^T`` (``dM`` the transformed output gradient
    ``g``, ``V`` the transformed input patches of ``x``). ``du`` is written."""
    c, o = x.shape[1], g.shape[1]
    ci, oi = c // groups, o // groups
    total = x.shape[0] * tiles_h * tiles_w
    blocks = (total + block - 1) // block
    item = x.itemsize
    for p in prange(parts):
        du[p] = 0
        v = np.empty((16, _row(c, block)), dtype=x.dtype)
        dm = np.empty((16, _row(o, block)), dtype=x.dtype)
        where = np.empty((block, 3), dtype=np.int64)
        d = np.empty(16, dtype=x.dtype)
        acc = du[p]
        for blk in range(p, blocks, parts):
            t0 = blk * block
            tb = min(block, total - t0)
            _tile_origins(t0, tb, tiles_h, tiles_w, lo_h, lo_w, where)
            _input_block(x, where, tb, block, v, d)
            _grad_block(g, where, tb, block, lo_h, lo_w, dm)
            for e in range(16):
                for gi in range(groups):
                    fn(ROW_MAJOR, NO_TRANS, TRANS, oi, ci, tb, 1.0,
                       dm.ctypes.data + (e * dm.shape[1] + gi * oi * block) * item, block,
                       v.ctypes.data + (e * v.shape[1] + gi * ci * block) * item, block, 1.0,
                       acc.ctypes.data + ((e * groups + gi) * oi * ci) * item, ci)
