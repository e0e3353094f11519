"""Fused Winograd F(2x2, 3x3) convolution kernels: forward (and, by the flipped transposed
kernel, the input gradient) and the weight gradient, a block of tiles at a time.

F(2x2, 3x3) (Lavin & Gray, 2015) computes each 2x2 output tile from a 4x4 input patch with
16 multiplies per channel pair instead of 36; summed over channels these are 16 GEMMs
``U[e] (O, C) @ V[e] (C, tiles)``. Transforming the whole batch first and multiplying
after sends ``V`` and ``M`` (each 4x the input or output) through memory, freshly
allocated every call (page faults). Here each thread takes blocks of ``BLOCK``
consecutive tiles: their input transform, the 16 GEMMs (single-threaded BLAS, called
through the function pointer ``_kernels_gemm`` found) and the output transform run on
buffers that stay in cache. The weight gradient transforms a block of input patches and
of output-gradient tiles (``A dY A^T``) and accumulates ``dU[e] += dM[e] @ V[e]^T`` per
thread; ``dw = G^T dU G``.

Larger kernels are sums of 3x3 ones (``_sub_kernels``), each reading the input at its own
offset: a 5x5 stride-1 kernel is four 3x3 blocks of its zero-padded 6x6 (16 multiplies per
output instead of 25), a 5x5 stride-2 kernel the 3x3 kernels ``w[r::2, s::2]`` of its four
input phases (a stride-1 convolution of every other row and column). The sub-kernels are
more input channels of one GEMM: ``V`` holds ``S`` patches per channel.

Tile ``t = (n * tiles_h + ty) * tiles_w + tx`` writes output rows ``2 ty, 2 ty + 1`` and
columns ``2 tx, 2 tx + 1`` (cropped at odd edges); sub-kernel ``s`` reads its 4x4 patch
every ``step`` (the stride) rows and columns from row ``step * 2 ty - lo_h + offsets[s, 0]``
and column ``step * 2 tx - lo_w + offsets[s, 1]``, zero outside the input.

``conv`` and ``weight_grad`` are the entry points (``ember.ops.conv`` imports this module
on first use: it imports Numba).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._threads import sync_numba
from . import _kernels_gemm
from ._blas import PARALLEL_FLOPS, _blas_libs
from ._parallel import threads_for

sync_numba()  # ember's thread count, before a parallel kernel runs

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

# G of F(2x2, 3x3) (Lavin & Gray, 2015): a 3x3 kernel's transform vec(G w G^T) is
# kron(G, G) vec(w), both row-major (one GEMM for all kernels; broadcast 4x3 matmuls took
# 15 ms for 256x256 kernels)
_G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], dtype=np.float64)
_GG = np.kron(_G, _G)  # (16, 9)
_ORIGIN = np.zeros((1, 2), dtype=np.int64)  # the offsets of a 3x3 kernel's one sub-kernel
BLOCK = 128  # tiles per block: 64-256 measured alike; the buffers stay within L2 for
# up to 64+64 channels


def available(dtype) -> bool:
    """Whether NumPy's BLAS gives these kernels a GEMM for ``dtype``."""
    return np.dtype(dtype) in _kernels_gemm._cblas()


def _gemm(dtype):
    """The CBLAS GEMM for ``dtype``, BLAS set to one thread (``_blas``): each thread's calls
    must not start BLAS's own threads (which would spin beside ember's)."""
    _blas_libs()
    return _kernels_gemm._cblas()[np.dtype(dtype)]


def takes(kernel, stride) -> bool:
    """Whether ``_sub_kernels`` splits a 2-D kernel of this size and stride into 3x3
    kernels whose 16 multiplies per 2x2 output tile each are at most 0.7x im2col's: stride
    1 (3x3, 5x5, 6x6, 5x3, ...; not 2x2 or 4x4) or 2 (5x5, 6x6), at most four sub-kernels."""
    kh, kw = kernel
    if tuple(stride) == (1, 1):
        subs = -(-kh // 3) * -(-kw // 3)
    elif tuple(stride) == (2, 2) and max(kernel) <= 6:
        subs = 4
    else:
        return False
    return subs <= 4 and 4 * subs <= 0.7 * kh * kw


def _sub_kernels(w: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """``w (O, C, kh, kw)`` as 3x3 sub-kernels ``(S, O, C, 3, 3)`` and their input offsets
    ``(S, 2)``: 3x3 blocks of ``w`` zero-padded to multiples of 3 (stride 1), or the four
    phases ``w[r::2, s::2]`` zero-padded to 3x3 (stride 2)."""
    o, c, kh, kw = w.shape
    if stride == 1:
        sh, sw = -(-kh // 3), -(-kw // 3)
        padded = np.zeros((o, c, 3 * sh, 3 * sw), dtype=w.dtype)
        padded[:, :, :kh, :kw] = w
        subs = padded.reshape(o, c, sh, 3, sw, 3).transpose(2, 4, 0, 1, 3, 5)
        offsets = [(3 * a, 3 * b) for a in range(sh) for b in range(sw)]
        return subs.reshape(-1, o, c, 3, 3), np.array(offsets, dtype=np.int64)
    subs = np.zeros((2, 2, o, c, 3, 3), dtype=w.dtype)
    for r in range(2):
        for q in range(2):
            phase = w[:, :, r::2, q::2]
            subs[r, q, :, :, :phase.shape[2], :phase.shape[3]] = phase
    return subs.reshape(4, o, c, 3, 3), np.array([(0, 0), (0, 1), (1, 0), (1, 1)], np.int64)


def _from_sub_kernels(subs: np.ndarray, w_shape, stride: int) -> np.ndarray:
    """The adjoint of ``_sub_kernels``: the kernel of ``w_shape`` from its sub-kernels."""
    o, c, kh, kw = w_shape
    if stride == 1:
        sh, sw = -(-kh // 3), -(-kw // 3)
        padded = subs.reshape(sh, sw, o, c, 3, 3).transpose(2, 3, 0, 4, 1, 5)
        return np.ascontiguousarray(padded.reshape(o, c, 3 * sh, 3 * sw)[:, :, :kh, :kw])
    subs = subs.reshape(2, 2, o, c, 3, 3)
    w = np.empty(w_shape, dtype=subs.dtype)
    for r in range(2):
        for q in range(2):
            phase = w[:, :, r::2, q::2]
            phase[...] = subs[r, q, :, :, :phase.shape[2], :phase.shape[3]]
    return w


def _parts(flops: float, tiles: int) -> int:
    return max(1, min(threads_for(flops, PARALLEL_FLOPS), numba.get_num_threads(),
                      -(-tiles // BLOCK)))


def _tiles(out) -> tuple[int, int]:
    return -(-out[0] // 2), -(-out[1] // 2)


def conv(x: np.ndarray, w: np.ndarray, stride: int, lo, out, groups: int,
         adjoint: bool = False) -> np.ndarray:
    """The convolution (``takes``) of ``x (N, C, H, W)`` by ``w (O, C/G, kh, kw)`` with
    leading padding ``lo``, output size ``out`` (no bias); with ``adjoint`` (stride 1), by
    the flipped transposed kernel (``x`` has O channels): the input gradient of a
    stride-1 convolution by ``w``. A 3x3 kernel is transformed in place of its flipped
    transpose: reversed taps (the columns of ``kron(G, G)`` reversed) and the GEMMs reading
    ``U`` transposed (copying a 256x256 kernel flipped took 0.3 ms, its transform as much)."""
    transposed = adjoint and tuple(w.shape[2:]) == (3, 3)
    if adjoint and not transposed:
        o, c_in = w.shape[:2]
        w = w.reshape(groups, o // groups, c_in, *w.shape[2:])[..., ::-1, ::-1]
        w = w.swapaxes(1, 2).reshape(groups * c_in, o // groups, *w.shape[3:])
    if tuple(w.shape[2:]) == (3, 3) and stride == 1:
        subs, offsets = np.ascontiguousarray(w)[None], _ORIGIN
    else:
        subs, offsets = _sub_kernels(w, stride)
    o, c_in = w.shape[0] // groups, w.shape[1]  # per group
    gg = _GG[:, ::-1] if transposed else _GG
    u = (gg.astype(w.dtype) @ subs.reshape(-1, 9).T).reshape(16, len(offsets), groups, o,
                                                              c_in)
    u = np.ascontiguousarray(u.transpose(0, 2, 3, 1, 4), dtype=x.dtype)  # (16, G, O, S, C)
    if transposed:
        o, c_in = c_in, o
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], o * groups) + tuple(out), dtype=x.dtype)
    tiles = _tiles(out)
    count = x.shape[0] * tiles[0] * tiles[1]
    parts = _parts(32.0 * o * c_in * groups * len(offsets) * count, count)
    winograd_conv(_gemm(x.dtype), x, u, transposed, y, stride, lo[0], lo[1], offsets,
                  *tiles, groups, BLOCK, parts)
    return y


def weight_grad(x: np.ndarray, g: np.ndarray, w_shape, stride: int, lo,
                groups: int) -> np.ndarray:
    """The gradient of ``w (O, C/G, kh, kw)`` of the convolution ``conv`` computes, from
    its input ``x`` and output gradient ``g``: ``G^T dU G`` of the summed ``dU`` per
    sub-kernel."""
    x, g = np.ascontiguousarray(x), np.ascontiguousarray(g, dtype=x.dtype)
    o, c_in = w_shape[0] // groups, w_shape[1]
    offsets = _sub_kernels(np.zeros((1, 1) + tuple(w_shape[2:])), stride)[1]
    tiles = _tiles(g.shape[2:])
    count = x.shape[0] * tiles[0] * tiles[1]
    parts = _parts(32.0 * o * c_in * groups * len(offsets) * count, count)
    du = np.empty((parts, 16, groups, o, len(offsets), c_in), dtype=x.dtype)
    winograd_weight_grad(_gemm(x.dtype), x, g, du, stride, lo[0], lo[1],
                         offsets, *tiles, groups, BLOCK, parts)
    du = du[0] if parts == 1 else du.sum(0)
    du = du.transpose(0, 3, 1, 2, 4).reshape(16, -1)  # (16, S * O * C)
    subs = (_GG.T.astype(x.dtype) @ du).T.reshape(len(offsets), groups * o, c_in, 3, 3)
    return _from_sub_kernels(subs, w_shape, stride)


@numba.njit(cache=True)
def _tile_origins(t0, tb, tiles_h, tiles_w, where):
    """``where[j] = (sample, first output row, first output column)`` of tile ``t0 + j``."""
    per = tiles_h * tiles_w
    for j in range(tb):
        t = t0 + j
        r = t % per
        where[j, 0] = t // per
        where[j, 1] = 2 * (r // tiles_w)
        where[j, 2] = 2 * (r % tiles_w)


@numba.njit(cache=True)
def _input_block(x, where, tb, block, step, lo_h, lo_w, offsets, groups, v, d):
    """``v[e, ((g * S + s) * C/G + c) * block + j] = (B^T d B)[e]`` for the 4x4 input patch
    ``d`` of sub-kernel ``s`` of tile ``j`` of the block in channel ``c`` of group ``g``
    (zeros outside ``x``); ``d`` is a scratch ``(16,)``. Flat unsigned indices: no
    negative-index wrapping in the inner loops."""
    u = np.uint64
    c_count, h, w = x.shape[1], x.shape[2], x.shape[3]
    subs, per_group = offsets.shape[0], c_count // groups
    xf, vf = x.reshape(-1), v.reshape(-1)
    plane = u(h * w)
    e_step = u(v.shape[1])
    reach = 3 * step + 1  # rows (columns) from a patch's first to one past its last
    for ch in range(c_count * subs):
        c, s = ch // subs, ch % subs
        gi = c // per_group
        at = u(((gi * subs + s) * per_group + c - gi * per_group) * block)
        for j in range(tb):
            b = where[j, 0]
            y0 = step * where[j, 1] - lo_h + offsets[s, 0]
            x0 = step * where[j, 2] - lo_w + offsets[s, 1]
            if y0 >= 0 and x0 >= 0 and y0 + reach <= h and x0 + reach <= w:
                k = u((b * c_count + c) * plane + y0 * w + x0)
                st = u(step)
                for r in range(4):
                    kr = k + u(r * step * w)
                    d[4 * r], d[4 * r + 1] = xf[kr], xf[kr + st]
                    d[4 * r + 2], d[4 * r + 3] = xf[kr + u(2) * st], xf[kr + u(3) * st]
            else:
                for r in range(4):
                    for q in range(4):
                        yy, xx = y0 + step * r, x0 + step * q
                        inside = 0 <= yy < h and 0 <= xx < w
                        d[4 * r + q] = x[b, c, yy, xx] if inside else 0
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
def _output_block(m, where, tb, block, y):
    """The 2x2 output tiles ``A^T M A`` of ``m[:, o * block + j]`` into ``y``, cropped at
    its edges."""
    u = np.uint64
    o_count, h, w = y.shape[1], y.shape[2], y.shape[3]
    mf, yf = m.reshape(-1), y.reshape(-1)
    e = u(m.shape[1])
    plane = u(h * w)
    for o in range(o_count):
        for j in range(tb):
            b, yy, xx = where[j, 0], where[j, 1], where[j, 2]
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
def _grad_block(g, where, tb, block, dm):
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
            b, yy, xx = where[j, 0], where[j, 1], where[j, 2]
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
def winograd_conv(fn, x, u, transposed, y, step, lo_h, lo_w, offsets, tiles_h, tiles_w, groups,
                  block, parts):
    """``y (N, O, H', W')`` of ``x (N, C, H, W)`` by the transformed sub-kernels ``u (16,
    G, O/G, S, C/G)`` (``transposed``: ``(16, G, S * C/G, O/G)``, one sub-kernel, read
    transposed): per block of tiles, input transform, ``16 * G`` GEMMs, output
    transform. ``parts`` threads take the blocks in turn."""
    c, o = x.shape[1], y.shape[1]
    ci, oi = c // groups, o // groups
    depth = offsets.shape[0] * ci  # of the GEMMs
    total = x.shape[0] * tiles_h * tiles_w
    blocks = (total + block - 1) // block
    item = x.itemsize
    for p in prange(parts):
        v = np.empty((16, _row(c * offsets.shape[0], block)), dtype=x.dtype)
        m = np.empty((16, _row(o, block)), dtype=x.dtype)
        where = np.empty((block, 3), dtype=np.int64)
        d = np.empty(16, dtype=x.dtype)
        for blk in range(p, blocks, parts):
            t0 = blk * block
            tb = min(block, total - t0)
            _tile_origins(t0, tb, tiles_h, tiles_w, where)
            _input_block(x, where, tb, block, step, lo_h, lo_w, offsets, groups, v, d)
            for e in range(16):
                for gi in range(groups):
                    fn(ROW_MAJOR, TRANS if transposed else NO_TRANS, NO_TRANS, oi, tb, depth,
                       1.0, u.ctypes.data + ((e * groups + gi) * oi * depth) * item,
                       oi if transposed else depth,
                       v.ctypes.data + (e * v.shape[1] + gi * depth * block) * item, block,
                       0.0, m.ctypes.data + (e * m.shape[1] + gi * oi * block) * item, block)
            _output_block(m, where, tb, block, y)


@numba.njit(parallel=True, cache=True)
def winograd_weight_grad(fn, x, g, du, step, lo_h, lo_w, offsets, tiles_h, tiles_w, groups,
                         block, parts):
    """Per thread ``p`` the transformed weight gradient ``du[p] (16, G, O/G, S, C/G)``: the
    sum over its blocks of tiles of ``dM[e] @ V[e]^T`` (``dM`` the transformed output
    gradient ``g``, ``V`` the transformed input patches of ``x``). ``du`` is written."""
    c, o = x.shape[1], g.shape[1]
    ci, oi = c // groups, o // groups
    depth = offsets.shape[0] * ci
    total = x.shape[0] * tiles_h * tiles_w
    blocks = (total + block - 1) // block
    item = x.itemsize
    for p in prange(parts):
        du[p] = 0
        v = np.empty((16, _row(c * offsets.shape[0], block)), dtype=x.dtype)
        dm = np.empty((16, _row(o, block)), dtype=x.dtype)
        where = np.empty((block, 3), dtype=np.int64)
        d = np.empty(16, dtype=x.dtype)
        acc = du[p]
        for blk in range(p, blocks, parts):
            t0 = blk * block
            tb = min(block, total - t0)
            _tile_origins(t0, tb, tiles_h, tiles_w, where)
            _input_block(x, where, tb, block, step, lo_h, lo_w, offsets, groups, v, d)
            _grad_block(g, where, tb, block, dm)
            for e in range(16):
                for gi in range(groups):
                    fn(ROW_MAJOR, NO_TRANS, TRANS, oi, depth, tb, 1.0,
                       dm.ctypes.data + (e * dm.shape[1] + gi * oi * block) * item, block,
                       v.ctypes.data + (e * v.shape[1] + gi * depth * block) * item, block,
                       1.0, acc.ctypes.data + ((e * groups + gi) * oi * depth) * item, depth)
