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
thread; ``dw = G^T dU G``. Few tiles (at most one block: small maps with many channels)
are one block whose passes the threads share by channels instead (``*_split``), so that
each reads only its rows of ``U`` and no per-thread ``dU`` is summed.

Larger kernels are sums of 3x3 ones (``_offsets``), each reading the input at its own
offset: a 5x5 stride-1 kernel is four 3x3 blocks of its zero-padded 6x6 (16 multiplies per
output instead of 25), a 5x5 stride-2 kernel the 3x3 kernels ``w[r::2, s::2]`` of its four
input phases (a stride-1 convolution of every other row and column). The sub-kernels are
more input channels of one GEMM: ``V`` holds ``S`` patches per channel.

Tile ``t = (n * tiles_h + ty) * tiles_w + tx`` writes output rows ``2 ty, 2 ty + 1`` and
columns ``2 tx, 2 tx + 1`` (cropped at odd edges); sub-kernel ``s`` reads its 4x4 patch
every ``step`` (the stride) rows and columns from row ``step * 2 ty - lo_h + offsets[s, 0]``
and column ``step * 2 tx - lo_w + offsets[s, 1]``, zero outside the input.

``conv`` and ``weight_grad`` are the entry points (``ember.ops.conv`` imports this module
on first use: it imports Numba). ``to_channels``, ``to_batch`` and ``add_bias`` are the
passes of the GEMM paths around their products (the batch folded into the columns and
back, a bias per channel), shared out among the threads where NumPy's run on one.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._threads import sync_numba
from . import _kernels_gemm
from ._blas import PARALLEL_FLOPS, _blas_libs
from ._kernels_nn import PARALLEL_ELEMENTS
from ._parallel import threads_for

sync_numba()  # ember's thread count, before a parallel kernel runs

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

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
    """Whether ``_offsets`` splits a 2-D kernel of this size and stride into 3x3
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


def _parts(flops: float, items: int) -> int:
    """Threads for ``flops`` of work shared out in ``items``."""
    return max(1, min(threads_for(flops, PARALLEL_FLOPS), numba.get_num_threads(), items))


def _launch(kernel, *args) -> None:
    """Run a parallel ``kernel`` whose last argument is its thread count ``parts`` on that
    many of Numba's threads: a ``prange`` of one part still wakes the pool's every thread
    (on a busy machine a 256x256 kernel transform so took 7 ms instead of 0.75, waiting
    for a second thread it had no work for)."""
    had = numba.get_num_threads()
    parts = min(args[-1], numba.config.NUMBA_NUM_THREADS)
    if parts == had:
        kernel(*args)
        return
    numba.set_num_threads(parts)
    try:
        kernel(*args)
    finally:
        numba.set_num_threads(had)


def _blocks(flops: float, tiles: int) -> tuple[int, int]:
    """Threads and tiles per block for ``tiles`` tiles: blocks of at most ``BLOCK`` tiles,
    their count a multiple of the threads, so that every thread gets as many (a batch of
    128 tiles on two threads: two blocks of 64, not one thread's block of 128)."""
    parts = _parts(flops, -(-tiles // 16))
    blocks = -(-tiles // BLOCK)
    blocks = -(-blocks // parts) * parts
    return parts, -(-tiles // blocks)


def _split_parts(flops: float, tiles: int, rows: int) -> int:
    """Threads for the channel-shared kernels (``winograd_conv_split``), which take
    ``tiles`` of at most one ``BLOCK`` when more than one thread would run (and each has
    at least 16 of the ``rows`` output channels per group); 1: the tile-shared ones."""
    if tiles > BLOCK:
        return 1
    return max(1, min(_parts(flops, tiles), rows // 16))


def _offsets(kernel, stride: int) -> np.ndarray:
    """Where each 3x3 sub-kernel of a 2-D ``kernel`` starts: tap ``(i, j)`` of sub-kernel
    ``s`` is the kernel's tap ``offsets[s] + stride * (i, j)`` (zero past its edge). Stride
    1: the 3x3 blocks of the kernel zero-padded to multiples of 3; stride 2: its four
    phases ``w[r::2, q::2]``, each a stride-1 convolution of every other row and column."""
    if stride == 1:
        rows, cols = -(-kernel[0] // 3), -(-kernel[1] // 3)
        return np.array([(3 * a, 3 * b) for a in range(rows) for b in range(cols)], np.int64)
    return np.array([(0, 0), (0, 1), (1, 0), (1, 1)], np.int64)


def _tiles(out) -> tuple[int, int]:
    return -(-out[0] // 2), -(-out[1] // 2)


def conv(x: np.ndarray, w: np.ndarray, stride: int, lo, out, groups: int,
         adjoint: bool = False, bias: np.ndarray | None = None) -> np.ndarray:
    """The convolution (``takes``) of ``x (N, C, H, W)`` by ``w (O, C/G, kh, kw)`` with
    leading padding ``lo``, output size ``out``, plus ``bias (O,)`` if given; with
    ``adjoint`` (stride 1), by the flipped transposed kernel (``x`` has O channels): the
    input gradient of a stride-1 convolution by ``w``. A 3x3 kernel is transformed in place
    of its flipped transpose: its taps turned (``kernel_transform``'s ``flip``) and the
    GEMMs reading ``U`` transposed (copying a 256x256 kernel flipped took 0.3 ms). The
    kernel's transform runs on ember's threads (NumPy's took 0.66 ms, serial, for 256x256)."""
    transposed = adjoint and tuple(w.shape[2:]) == (3, 3)
    if adjoint and not transposed:
        o, c_in = w.shape[:2]
        w = w.reshape(groups, o // groups, c_in, *w.shape[2:])[..., ::-1, ::-1]
        w = w.swapaxes(1, 2).reshape(groups * c_in, o // groups, *w.shape[3:])
    offsets = _offsets(w.shape[2:], stride)
    o, c_in = w.shape[0] // groups, w.shape[1]  # per group
    u = np.empty((16, groups, o, len(offsets), c_in), dtype=x.dtype)
    _launch(kernel_transform, w, offsets, stride, transposed, groups, u,
                     _parts(16.0 * u.size, w.shape[0]))
    if transposed:
        o, c_in = c_in, o
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], o * groups) + tuple(out), dtype=x.dtype)
    tiles = _tiles(out)
    count = x.shape[0] * tiles[0] * tiles[1]
    flops = 32.0 * o * c_in * groups * len(offsets) * count
    bias = np.zeros(y.shape[1], y.dtype) if bias is None else bias.astype(y.dtype, copy=False)
    split = _split_parts(flops, count, o)
    if split > 1:
        _launch(winograd_conv_split, _gemm(x.dtype), x, u, transposed, bias, y, stride, lo[0],
                lo[1], offsets, *tiles, groups, split)
        return y
    parts, block = _blocks(flops, count)
    _launch(winograd_conv, _gemm(x.dtype), x, u, transposed, bias, y, stride, lo[0], lo[1],
            offsets, *tiles, groups, block, parts)
    return y


def weight_grad(x: np.ndarray, g: np.ndarray, w_shape, stride: int, lo,
                groups: int) -> np.ndarray:
    """The gradient of ``w (O, C/G, kh, kw)`` of the convolution ``conv`` computes, from
    its input ``x`` and output gradient ``g``: ``G^T dU G`` of the summed ``dU`` per
    sub-kernel."""
    x, g = np.ascontiguousarray(x), np.ascontiguousarray(g, dtype=x.dtype)
    o, c_in = w_shape[0] // groups, w_shape[1]
    offsets = _offsets(w_shape[2:], stride)
    tiles = _tiles(g.shape[2:])
    count = x.shape[0] * tiles[0] * tiles[1]
    flops = 32.0 * o * c_in * groups * len(offsets) * count
    split = _split_parts(flops, count, o)
    if split > 1:
        du = np.empty((1, 16, groups, o, len(offsets), c_in), dtype=x.dtype)
        _launch(winograd_weight_grad_split, _gemm(x.dtype), x, g, du, stride, lo[0], lo[1],
                offsets, *tiles, groups, split)
    else:
        parts, block = _blocks(flops, count)
        du = np.empty((parts, 16, groups, o, len(offsets), c_in), dtype=x.dtype)
        _launch(winograd_weight_grad, _gemm(x.dtype), x, g, du, stride, lo[0], lo[1],
                offsets, *tiles, groups, block, parts)
    dw = np.empty(w_shape, dtype=x.dtype)
    _launch(kernel_gradient, du, offsets, stride, dw, _parts(16.0 * du.size, w_shape[0]))
    return dw


@numba.njit(cache=True, inline="always")
def _g3(a, b, c, half):
    """``G (a, b, c)`` of F(2x2, 3x3) (``half``: 0.5 in the arrays' dtype)."""
    return a, half * (a + b + c), half * (a - b + c), c


@numba.njit(cache=True, inline="always")
def _gt4(a, b, c, d, half):
    """``G^T (a, b, c, d)``: the adjoint of ``_g3``."""
    return a + half * (b + c), half * (b - c), half * (b + c) + d


@numba.njit(cache=True, inline="always")
def _tap(w, o, c, y, x):
    """``w[o, c, y, x]``, zero outside the kernel (the zero padding of a sub-kernel)."""
    if y < w.shape[2] and x < w.shape[3]:
        return w[o, c, y, x]
    return w.dtype.type(0)


@numba.njit(cache=True, inline="always")
def _tap_row(w, o, c, y, x0, step, flip):
    """Taps ``x0, x0 + step, x0 + 2 step`` of row ``y`` of ``w[o, c]`` (reversed: ``flip``)."""
    a, b, d = _tap(w, o, c, y, x0), _tap(w, o, c, y, x0 + step), _tap(w, o, c, y, x0 + 2 * step)
    return (d, b, a) if flip else (a, b, d)


@numba.njit(cache=True, inline="always")
def _u_row(rows, r, c, row):
    """Row ``r`` of a transformed kernel into ``rows[4 r .. 4 r + 3, c]``."""
    rows[4 * r, c], rows[4 * r + 1, c], rows[4 * r + 2, c], rows[4 * r + 3, c] = row


@numba.njit(parallel=True, cache=True)
def kernel_transform(w, offsets, stride, flip, groups, u, parts):
    """``u[e, g, o, s, c] = (G k G^T)[e]`` for the 3x3 sub-kernel ``k`` ``s`` (taps
    ``offsets[s] + stride * (i, j)``) of ``w[g * O/G + o, c]``; with ``flip`` (3x3 only)
    of the kernel turned by 180 degrees. ``parts`` threads take the output channels in
    turn."""
    o_count, c_count = w.shape[0], w.shape[1]
    per = o_count // groups
    half = u.dtype.type(0.5)
    for p in prange(parts):
        rows = np.empty((16, c_count), dtype=u.dtype)
        for oc in range(p, o_count, parts):
            gi, o = oc // per, oc % per
            for s in range(offsets.shape[0]):
                y0, x0 = offsets[s, 0], offsets[s, 1]
                for c in range(c_count):
                    a0, a1, a2 = _tap_row(w, oc, c, y0 + stride * (2 if flip else 0), x0,
                                          stride, flip)
                    b0, b1, b2 = _tap_row(w, oc, c, y0 + stride, x0, stride, flip)
                    c0, c1, c2 = _tap_row(w, oc, c, y0 + stride * (0 if flip else 2), x0,
                                          stride, flip)
                    t00, t10, t20, t30 = _g3(a0, b0, c0, half)  # G k: column j of rows 0..3
                    t01, t11, t21, t31 = _g3(a1, b1, c1, half)
                    t02, t12, t22, t32 = _g3(a2, b2, c2, half)
                    _u_row(rows, 0, c, _g3(t00, t01, t02, half))  # row r of (G k) G^T
                    _u_row(rows, 1, c, _g3(t10, t11, t12, half))
                    _u_row(rows, 2, c, _g3(t20, t21, t22, half))
                    _u_row(rows, 3, c, _g3(t30, t31, t32, half))
                for e in range(16):  # whole rows: 16 strided streams of single values
                    u[e, gi, o, s] = rows[e]  # thrashed the cache (5x slower)


@numba.njit(cache=True, inline="always")
def _dw_row(dw, o, c, y, x0, step, row):
    """A sub-kernel's row of taps into ``dw[o, c, y]`` at ``x0, x0 + step, x0 + 2 step``,
    those inside the kernel."""
    if y < dw.shape[2]:
        for j in range(3):
            if x0 + step * j < dw.shape[3]:
                dw[o, c, y, x0 + step * j] = row[j]


@numba.njit(parallel=True, cache=True)
def kernel_gradient(du, offsets, stride, dw, parts):
    """``dw`` from the per-thread transformed gradients ``du (P, 16, G, O/G, S, C/G)``:
    tap ``offsets[s] + stride * (i, j)`` of ``dw[g * O/G + o, c]`` is ``(G^T dU G)[i, j]``
    of their sum ``dU`` (each tap of ``dw`` in one sub-kernel; the zero padding's taps
    dropped): the adjoint of ``kernel_transform``."""
    o_count, c_count = dw.shape[0], dw.shape[1]
    per = o_count // du.shape[2]
    half = du.dtype.type(0.5)
    for p in prange(parts):
        total = np.empty((16, c_count), dtype=du.dtype)
        for oc in range(p, o_count, parts):
            gi, o = oc // per, oc % per
            for s in range(offsets.shape[0]):
                y0, x0 = offsets[s, 0], offsets[s, 1]
                for e in range(16):  # whole rows (see kernel_transform)
                    total[e] = du[0, e, gi, o, s]
                    for q in range(1, du.shape[0]):
                        total[e] += du[q, e, gi, o, s]
                for c in range(c_count):
                    # G^T dU: column j of its rows 0..2
                    t = total[:, c]
                    a0, b0, d0 = _gt4(t[0], t[4], t[8], t[12], half)
                    a1, b1, d1 = _gt4(t[1], t[5], t[9], t[13], half)
                    a2, b2, d2 = _gt4(t[2], t[6], t[10], t[14], half)
                    a3, b3, d3 = _gt4(t[3], t[7], t[11], t[15], half)
                    y1, y2 = y0 + stride, y0 + 2 * stride  # rows of (G^T dU) G:
                    _dw_row(dw, oc, c, y0, x0, stride, _gt4(a0, a1, a2, a3, half))
                    _dw_row(dw, oc, c, y1, x0, stride, _gt4(b0, b1, b2, b3, half))
                    _dw_row(dw, oc, c, y2, x0, stride, _gt4(d0, d1, d2, d3, half))


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


_u = np.uint64  # flat indices unsigned: no negative-index wrapping in the inner loops


@numba.njit(cache=True, inline="always")
def _bt(a, b, c, d):
    """``B^T (a, b, c, d)`` of F(2x2, 3x3): one row or column of an input patch."""
    return a - c, b + c, c - b, b - d


@numba.njit(cache=True, inline="always")
def _column(xf, rows, a, ok):
    """``B^T`` times a column of a patch: ``xf[rows[i] + a]`` for its rows ``i``, zero
    where ``ok[i]`` is False (the row is outside the input)."""
    zero = xf.dtype.type(0)
    return _bt(xf[rows[0] + a] if ok[0] else zero, xf[rows[1] + a] if ok[1] else zero,
               xf[rows[2] + a] if ok[2] else zero, xf[rows[3] + a] if ok[3] else zero)


@numba.njit(cache=True, inline="always")
def _patch_out(vf, dst, e, c0, c1, c2, c3):
    """``B^T d B`` of a patch whose columns ``c0..c3`` are already ``B^T`` times them
    (``_column``) into ``vf[dst + (4 r + q) e]``: row ``r`` times ``B``."""
    _row_out(vf, dst, e, _bt(c0[0], c1[0], c2[0], c3[0]))
    _row_out(vf, dst + _u(4) * e, e, _bt(c0[1], c1[1], c2[1], c3[1]))
    _row_out(vf, dst + _u(8) * e, e, _bt(c0[2], c1[2], c2[2], c3[2]))
    _row_out(vf, dst + _u(12) * e, e, _bt(c0[3], c1[3], c2[3], c3[3]))


@numba.njit(cache=True, inline="always")
def _row_out(vf, at, e, row):
    vf[at], vf[at + e], vf[at + _u(2) * e], vf[at + _u(3) * e] = row


@numba.njit(cache=True, inline="always")
def _row_start(plane, y, h, w, x0):
    """Where row ``y`` of a plane starting at ``plane`` has column ``x0`` (a row outside
    the plane: its nearest row, which ``_column`` does not read)."""
    return _u(plane + min(max(y, 0), h - 1) * w + x0)


@numba.njit(cache=True)
def _input_block(x, where, tb, block, step, lo_h, lo_w, offsets, groups, tiles_w, v, d, c0,
                 c1):
    """``v[e, ((g * S + s) * C/G + c) * block + j] = (B^T d B)[e]`` for the 4x4 input patch
    ``d`` of sub-kernel ``s`` of tile ``j`` of the block in channel ``c`` of group ``g``
    (zeros outside ``x``). The tiles of one row of tiles are a run: its tiles whose
    columns all lie inside ``x`` read without column checks (a row outside ``x`` reads
    zeros), each patch's last two columns (times ``B^T``) the next one's first two; only
    the edge tiles check columns, through the scratch ``d (4, 4)``. Input channels ``c0``
    to ``c1`` only."""
    c_count, h, w = x.shape[1], x.shape[2], x.shape[3]
    subs, per_group = offsets.shape[0], c_count // groups
    xf, vf = x.reshape(-1), v.reshape(-1)
    ue = _u(v.shape[1])
    span, last = 2 * step, 3 * step  # columns from one tile's patch to the next; to its last
    st, st2, st3 = _u(step), _u(2 * step), _u(last)
    for ch in range(c0 * subs, c1 * subs):
        c, s = ch // subs, ch % subs
        gi = c // per_group
        at = ((gi * subs + s) * per_group + c - gi * per_group) * block
        j = 0
        while j < tb:
            b = where[j, 0]
            run = min(tb - j, tiles_w - where[j, 2] // 2)
            y0 = step * where[j, 1] - lo_h + offsets[s, 0]
            x0 = step * where[j, 2] - lo_w + offsets[s, 1]
            plane = (b * c_count + c) * h * w
            # tiles k in [ka, kb): columns x0 + span k .. x0 + span k + last inside x
            ka = min(run, max(0, (span - 1 - x0) // span))
            kb = max(ka, min(run, (w - 1 - last - x0) // span + 1))
            if kb > ka:
                ok = (0 <= y0 < h, 0 <= y0 + step < h, 0 <= y0 + 2 * step < h,
                      0 <= y0 + last < h)
                x1 = x0 + span * ka
                rows = (_row_start(plane, y0, h, w, x1),
                        _row_start(plane, y0 + step, h, w, x1),
                        _row_start(plane, y0 + 2 * step, h, w, x1),
                        _row_start(plane, y0 + last, h, w, x1))
                p0, p1 = _column(xf, rows, _u(0), ok), _column(xf, rows, st, ok)
                dst = _u(at + j)
                for k in range(ka, kb):
                    a = _u(span * (k - ka))
                    p2, p3 = _column(xf, rows, a + st2, ok), _column(xf, rows, a + st3, ok)
                    _patch_out(vf, dst + _u(k), ue, p0, p1, p2, p3)
                    p0, p1 = p2, p3
            for k in range(run):
                if ka <= k < kb:
                    continue
                for r in range(4):
                    yy = y0 + r * step
                    for q in range(4):
                        xx = x0 + span * k + q * step
                        inside = 0 <= yy < h and 0 <= xx < w
                        d[r, q] = x[b, c, yy, xx] if inside else 0
                _patch_out(vf, _u(at + j + k), ue, _bt(d[0, 0], d[1, 0], d[2, 0], d[3, 0]),
                           _bt(d[0, 1], d[1, 1], d[2, 1], d[3, 1]),
                           _bt(d[0, 2], d[1, 2], d[2, 2], d[3, 2]),
                           _bt(d[0, 3], d[1, 3], d[2, 3], d[3, 3]))
            j += run


@numba.njit(cache=True, inline="always")
def _output_tile(mf, k, e):
    """The 2x2 tile ``A^T M A`` of ``M[r, q] = mf[k + (4 r + q) e]``: its top-left,
    top-right, bottom-left and bottom-right values."""
    p0 = mf[k] + mf[k + _u(4) * e] + mf[k + _u(8) * e]
    p1 = mf[k + e] + mf[k + _u(5) * e] + mf[k + _u(9) * e]
    p2 = mf[k + _u(2) * e] + mf[k + _u(6) * e] + mf[k + _u(10) * e]
    p3 = mf[k + _u(3) * e] + mf[k + _u(7) * e] + mf[k + _u(11) * e]
    q0 = mf[k + _u(4) * e] - mf[k + _u(8) * e] - mf[k + _u(12) * e]
    q1 = mf[k + _u(5) * e] - mf[k + _u(9) * e] - mf[k + _u(13) * e]
    q2 = mf[k + _u(6) * e] - mf[k + _u(10) * e] - mf[k + _u(14) * e]
    q3 = mf[k + _u(7) * e] - mf[k + _u(11) * e] - mf[k + _u(15) * e]
    return p0 + p1 + p2, p1 - p2 - p3, q0 + q1 + q2, q1 - q2 - q3


@numba.njit(cache=True)
def _output_block(m, where, tb, block, tiles_w, bias, y, o0, o1):
    """The 2x2 output tiles ``A^T M A`` of ``m[:, o * block + j]`` plus ``bias[o]`` into
    ``y``, cropped at its edges; a row of tiles at a time, the tiles inside ``y`` (all but
    an odd last column) without checks. Output channels ``o0`` to ``o1`` only."""
    o_count, h, w = y.shape[1], y.shape[2], y.shape[3]
    mf, yf = m.reshape(-1), y.reshape(-1)
    e = _u(m.shape[1])
    plane = h * w
    for o in range(o0, o1):
        add = bias[o]
        j = 0
        while j < tb:
            b, yy, xx = where[j, 0], where[j, 1], where[j, 2]
            run = min(tb - j, tiles_w - xx // 2)
            at = _u((b * o_count + o) * plane + yy * w + xx)
            below = at + _u(w)
            src = _u(o * block + j)
            inside = min(run, (w - xx) // 2)
            if yy + 1 < h:
                for k in range(inside):
                    t00, t01, t10, t11 = _output_tile(mf, src + _u(k), e)
                    yf[at + _u(2 * k)] = t00 + add
                    yf[at + _u(2 * k + 1)] = t01 + add
                    yf[below + _u(2 * k)] = t10 + add
                    yf[below + _u(2 * k + 1)] = t11 + add
            else:
                for k in range(inside):
                    t00, t01, t10, t11 = _output_tile(mf, src + _u(k), e)
                    yf[at + _u(2 * k)] = t00 + add
                    yf[at + _u(2 * k + 1)] = t01 + add
            for k in range(inside, run):  # the last column of an odd width
                t00, t01, t10, t11 = _output_tile(mf, src + _u(k), e)
                yf[at + _u(2 * k)] = t00 + add
                if yy + 1 < h:
                    yf[below + _u(2 * k)] = t10 + add
            j += run


@numba.njit(cache=True)
def _grad_block(g, where, tb, block, dm, o0, o1):
    """``dm[:, o * block + j] = A dY A^T`` of the 2x2 output-gradient tile ``dY`` of tile
    ``j`` (zeros past the edges of ``g``): the adjoint of ``_output_block``. Output
    channels ``o0`` to ``o1`` only."""
    u = np.uint64
    o_count, h, w = g.shape[1], g.shape[2], g.shape[3]
    gf, df = g.reshape(-1), dm.reshape(-1)
    e = u(dm.shape[1])
    plane = u(h * w)
    zero = g.dtype.type(0)
    for o in range(o0, o1):
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
def winograd_conv(fn, x, u, transposed, bias, y, step, lo_h, lo_w, offsets, tiles_h, tiles_w,
                  groups, block, parts):
    """``y (N, O, H', W')`` of ``x (N, C, H, W)`` by the transformed sub-kernels ``u (16,
    G, O/G, S, C/G)`` (``transposed``: ``(16, G, S * C/G, O/G)``, one sub-kernel, read
    transposed), plus ``bias (O,)``: per block of tiles, input transform, ``16 * G`` GEMMs,
    output transform. ``parts`` threads take the blocks in turn."""
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
        d = np.empty((4, 4), dtype=x.dtype)
        for blk in range(p, blocks, parts):
            t0 = blk * block
            tb = min(block, total - t0)
            _tile_origins(t0, tb, tiles_h, tiles_w, where)
            _input_block(x, where, tb, block, step, lo_h, lo_w, offsets, groups, tiles_w, v, d,
                         0, c)
            for e in range(16):
                for gi in range(groups):
                    fn(ROW_MAJOR, TRANS if transposed else NO_TRANS, NO_TRANS, oi, tb, depth,
                       1.0, u.ctypes.data + ((e * groups + gi) * oi * depth) * item,
                       oi if transposed else depth,
                       v.ctypes.data + (e * v.shape[1] + gi * depth * block) * item, block,
                       0.0, m.ctypes.data + (e * m.shape[1] + gi * oi * block) * item, block)
            _output_block(m, where, tb, block, tiles_w, bias, y, 0, o)


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
        d = np.empty((4, 4), dtype=x.dtype)
        acc = du[p]
        for blk in range(p, blocks, parts):
            t0 = blk * block
            tb = min(block, total - t0)
            _tile_origins(t0, tb, tiles_h, tiles_w, where)
            _input_block(x, where, tb, block, step, lo_h, lo_w, offsets, groups, tiles_w, v, d,
                         0, c)
            _grad_block(g, where, tb, block, dm, 0, o)
            for e in range(16):
                for gi in range(groups):
                    fn(ROW_MAJOR, NO_TRANS, TRANS, oi, depth, tb, 1.0,
                       dm.ctypes.data + (e * dm.shape[1] + gi * oi * block) * item, block,
                       v.ctypes.data + (e * v.shape[1] + gi * depth * block) * item, block,
                       1.0, acc.ctypes.data + ((e * groups + gi) * oi * depth) * item, depth)


@numba.njit(cache=True)
def _share(count, p, parts):
    """Part ``p`` of ``parts`` of ``range(count)``: its first and last + 1."""
    return count * p // parts, count * (p + 1) // parts


@numba.njit(parallel=True, cache=True)
def winograd_conv_split(fn, x, u, transposed, bias, y, step, lo_h, lo_w, offsets, tiles_h,
                        tiles_w, groups, parts):
    """``winograd_conv`` of few tiles (at most ``BLOCK``) as one block whose passes the
    ``parts`` threads share by channels: the input transform by input channels, the GEMMs
    and the output transform by output channels. Shared by tiles (blocks of half the
    tiles), every thread read all of ``U`` for GEMMs half as wide (512x512 on 4x4 maps,
    batch 16, 2 threads: 1.3x slower than this)."""
    c, o = x.shape[1], y.shape[1]
    ci, oi = c // groups, o // groups
    depth = offsets.shape[0] * ci
    tb = x.shape[0] * tiles_h * tiles_w
    item = x.itemsize
    v = np.empty((16, _row(c * offsets.shape[0], tb)), dtype=x.dtype)
    m = np.empty((16, _row(o, tb)), dtype=x.dtype)
    where = np.empty((tb, 3), dtype=np.int64)
    _tile_origins(0, tb, tiles_h, tiles_w, where)
    for p in prange(parts):
        c0, c1 = _share(c, p, parts)
        _input_block(x, where, tb, tb, step, lo_h, lo_w, offsets, groups, tiles_w, v,
                     np.empty((4, 4), dtype=x.dtype), c0, c1)
    for p in prange(parts):
        r0, r1 = _share(oi, p, parts)
        if r1 > r0:
            for e in range(16):
                for gi in range(groups):
                    a = (e * groups + gi) * oi * depth + (r0 if transposed else r0 * depth)
                    fn(ROW_MAJOR, TRANS if transposed else NO_TRANS, NO_TRANS, r1 - r0, tb,
                       depth, 1.0, u.ctypes.data + a * item, oi if transposed else depth,
                       v.ctypes.data + (e * v.shape[1] + gi * depth * tb) * item, tb,
                       0.0, m.ctypes.data + (e * m.shape[1] + (gi * oi + r0) * tb) * item, tb)
    for p in prange(parts):
        o0, o1 = _share(o, p, parts)
        _output_block(m, where, tb, tb, tiles_w, bias, y, o0, o1)


@numba.njit(parallel=True, cache=True)
def winograd_weight_grad_split(fn, x, g, du, step, lo_h, lo_w, offsets, tiles_h, tiles_w,
                               groups, parts):
    """``winograd_weight_grad`` of few tiles (at most ``BLOCK``) as one block whose passes
    the ``parts`` threads share by channels (see ``winograd_conv_split``): each writes the
    rows of ``du[0] (16, G, O/G, S, C/G)`` of its output channels, so no per-thread
    copies of ``dU`` are summed after."""
    c, o = x.shape[1], g.shape[1]
    ci, oi = c // groups, o // groups
    depth = offsets.shape[0] * ci
    tb = x.shape[0] * tiles_h * tiles_w
    item = x.itemsize
    v = np.empty((16, _row(c * offsets.shape[0], tb)), dtype=x.dtype)
    dm = np.empty((16, _row(o, tb)), dtype=x.dtype)
    where = np.empty((tb, 3), dtype=np.int64)
    _tile_origins(0, tb, tiles_h, tiles_w, where)
    acc = du[0]
    for p in prange(parts):
        c0, c1 = _share(c, p, parts)
        _input_block(x, where, tb, tb, step, lo_h, lo_w, offsets, groups, tiles_w, v,
                     np.empty((4, 4), dtype=x.dtype), c0, c1)
        o0, o1 = _share(o, p, parts)
        _grad_block(g, where, tb, tb, dm, o0, o1)
    for p in prange(parts):
        r0, r1 = _share(oi, p, parts)
        if r1 > r0:
            for e in range(16):
                for gi in range(groups):
                    fn(ROW_MAJOR, NO_TRANS, TRANS, r1 - r0, depth, tb, 1.0,
                       dm.ctypes.data + (e * dm.shape[1] + (gi * oi + r0) * tb) * item, tb,
                       v.ctypes.data + (e * v.shape[1] + gi * depth * tb) * item, tb, 0.0,
                       acc.ctypes.data + ((e * groups + gi) * oi + r0) * depth * item, depth)


# ---- the layout passes of the GEMM paths ---------------------------------------------------

def copy_parts(a: np.ndarray) -> int:
    """Threads for a pass over ``a``: one (NumPy's pass is as fast) below
    ``PARALLEL_ELEMENTS`` or on a busy machine."""
    return max(1, min(threads_for(a.size, PARALLEL_ELEMENTS), numba.get_num_threads()))


@numba.njit(parallel=True, cache=True)
def to_channels(a, out, parts):
    """``out (C, N*L)[c, n*L + l] = a (N, C, L)[n, c, l]``: ``parts`` threads take
    contiguous ranges of the ``(c, n)`` rows."""
    n, c, length = a.shape
    for p in prange(parts):
        for row in range(c * n * p // parts, c * n * (p + 1) // parts):
            ch, b = row // n, row % n
            out[ch, b * length:(b + 1) * length] = a[b, ch]


@numba.njit(parallel=True, cache=True)
def to_batch(a, bias, out, parts):
    """``out (N, C, L)[n, c, l] = a (C, N*L)[c, n*L + l] + bias[c]`` (no bias: ``bias``
    empty): the inverse of ``to_channels``."""
    n, c, length = out.shape
    for p in prange(parts):
        for row in range(n * c * p // parts, n * c * (p + 1) // parts):
            b, ch = row // c, row % c
            add = bias[ch] if bias.size else out.dtype.type(0)
            src = a[ch, b * length:(b + 1) * length]
            dst = out[b, ch]
            for i in range(length):
                dst[i] = src[i] + add


@numba.njit(parallel=True, cache=True)
def add_bias(y, bias, parts):
    """``y (N, C, L)[n, c] += bias[c]`` in place."""
    n, c, length = y.shape
    for p in prange(parts):
        for row in range(n * c * p // parts, n * c * (p + 1) // parts):
            dst = y[row // c, row % c]
            add = bias[row % c]
            for i in range(length):
                dst[i] += add
