"""Numba kernels of the recurrent layers (``ember/ops/rnn.py``): the time loop of one layer
in one direction, forward and backward, for LSTM (with projections), GRU and Elman RNN.

Layout. The input projection ``xw = x W_ih^T (+ biases)`` is one GEMM done by the caller,
``(T, B, G)`` in time order. The kernels index time two ways: ``t``, the position in the
sequence, and ``s``, the step in processing order (``t = T - 1 - s`` for the reverse
direction). State histories are kept by step: ``hs[s]`` is the state before step ``s``
(``hs[0]`` the initial state, ``hs[T]`` the final one), and so are the saved gates. A
sequence ``b`` ends at ``lengths[b]`` (packed input): at later times its state is carried
unchanged, its output is 0 and its gate gradients are 0.

The recurrent GEMM. Each kernel runs the whole time loop in one call, no Python between
steps. A step's small GEMM goes through ``gemm``, NumPy's CBLAS ``sgemm``/``dgemm`` called
from the kernel (its ctypes function is the argument ``fn``, as in ``_kernels_gemm``), into
buffers allocated once per call; with ``fn`` None the kernel multiplies itself
(``_matmul``: small layers, where a BLAS call costs more than the arithmetic, and NumPys
without CBLAS symbols). The backward adds ``dgates[s] W_hh`` straight into ``dh``.

Backward through time keeps ``dh`` (gradient of the state before the current step) and,
for the LSTM, ``dc``; it writes the gate gradients by step (``dgates``), from which the
caller gets the input and weight gradients as big GEMMs. The reference is torch itself:
``tests/nn/test_rnn_kernels.py`` runs both paths against torch's modules (float32 within
1e-5), ``tests/conformance/ops_rnn.py`` the ops against ``torch.lstm`` and its siblings.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

from .._threads import sync_numba
from ._kernels_math import sigmoid

sync_numba()

TILE_ROWS, TILE_DEPTH, TILE_WORK = 32, 256, 1 << 19   # a step's GEMM in tiles: see ``gemm``
_FLAGS = dict(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz", "arcp"})


@numba.njit(**_FLAGS)
def _matmul(a, m, out):
    """``out = a @ m`` for C-contiguous ``a (B, K)``, ``m (K, N)``: four rows of ``a`` per
    pass over ``m``, the inner loop along ``m``'s rows (vectorised)."""
    rows, k_dim = a.shape
    n = m.shape[1]
    b = 0
    while b + 4 <= rows:
        o0, o1, o2, o3 = out[b], out[b + 1], out[b + 2], out[b + 3]
        o0[:] = 0.0
        o1[:] = 0.0
        o2[:] = 0.0
        o3[:] = 0.0
        for k in range(k_dim):
            a0, a1, a2, a3 = a[b, k], a[b + 1, k], a[b + 2, k], a[b + 3, k]
            mk = m[k]
            for j in range(n):
                w = mk[j]
                o0[j] += a0 * w
                o1[j] += a1 * w
                o2[j] += a2 * w
                o3[j] += a3 * w
        b += 4
    while b < rows:
        o = out[b]
        o[:] = 0.0
        for k in range(k_dim):
            av = a[b, k]
            mk = m[k]
            for j in range(n):
                o[j] += av * mk[j]
        b += 1


@numba.njit(**_FLAGS)
def gemm(fn, a, m, out, accumulate, scratch):
    """``out = a @ m`` (``out += a @ m`` when ``accumulate``) for C-contiguous 2-D arrays:
    CBLAS through ``fn``, or ``_matmul`` (through ``scratch``, shaped as ``out``, when
    accumulating) when ``fn`` is None. A product of up to ``TILE_ROWS`` rows goes in tiles
    of ``TILE_DEPTH`` (more than 16 rows: half that) of ``a``'s columns by
    ``TILE_WORK / (rows x depth)`` of ``m``'s (a multiple of 16), accumulated: OpenBLAS
    multiplies such small products without packing ``m`` first (its small-matrix kernels,
    below 100^3 multiply-adds), which per step measured 1.2-2.8x faster here than one call
    (16 x 256 @ 256 x 1024: 124 -> 103 us; 16 x 1024 @ 1024 x 256: 132 -> 88 us; 32 x 256
    @ 256 x 768: 129 -> 97 us; 8 rows: 100 -> 51 us)."""
    if fn is None:
        if accumulate:
            _matmul(a, m, scratch)
            out += scratch
        else:
            _matmul(a, m, out)
        return
    rows, k_dim = a.shape
    n = m.shape[1]
    depth, width = k_dim, n
    if 0 < rows <= TILE_ROWS and rows * n * k_dim > TILE_WORK:
        depth = min(k_dim, TILE_DEPTH if rows <= 16 else TILE_DEPTH // 2)
        width = max(16, TILE_WORK // (rows * depth) // 16 * 16)
    step = m.itemsize
    for k in range(0, k_dim, depth):
        beta = 1.0 if accumulate or k > 0 else 0.0
        for j in range(0, n if rows > 0 else 0, width):
            fn(101, 111, 111, rows, min(width, n - j), min(depth, k_dim - k), 1.0,
               a.ctypes.data + k * step, k_dim, m.ctypes.data + (k * n + j) * step, n, beta,
               out.ctypes.data + j * step, n)
    if k_dim == 0 and not accumulate:
        out[:] = 0.0


@numba.njit(**_FLAGS)
def transpose(a):
    """``a.T`` C-contiguous, copied in 32 x 32 blocks (NumPy's strided copy of a 1024 x 256
    float32 matrix measured 320 us, this 196; of 2048 x 512: 7.6 ms against 0.86)."""
    rows, cols = a.shape
    out = np.empty((cols, rows), a.dtype)
    for i0 in range(0, rows, 32):
        i1 = min(rows, i0 + 32)
        for j0 in range(0, cols, 32):
            for j in range(j0, min(cols, j0 + 32)):
                for i in range(i0, i1):
                    out[j, i] = a[i, j]
    return out


@numba.njit(**_FLAGS)
def _time(s, steps, reverse):
    return steps - 1 - s if reverse else s


@numba.njit(**_FLAGS)
def _sigmoid_span(a, lo, hi):
    for j in range(lo, hi):
        a[j] = sigmoid(a[j], a[j])


@numba.njit(**_FLAGS)
def _tanh_span(a, lo, hi):
    """``tanh = 2 sigmoid(2x) - 1`` in place: the sigmoid loop vectorises (on
    ``_kernels_math``'s exp in float32: absolute error ~1e-8), a tanh loop here did not."""
    for j in range(lo, hi):
        a[j] *= 2.0
    _sigmoid_span(a, lo, hi)
    for j in range(lo, hi):
        a[j] = 2.0 * a[j] - 1.0


# ---- float32 sigmoid -------------------------------------------------------------------

# float32 constants (Python floats would promote the arithmetic to float64)
ONE, TWO, HALF, BOUND = (np.float32(v) for v in (1.0, 2.0, 0.5, 88.0))
LOG2E, LN2_HI, LN2_LO = (np.float32(v) for v in (1.4426950408889634, 0.693359375,
                                                  -2.12194440e-4))
C3, C4, C5, C6 = (np.float32(1 / v) for v in (6, 24, 120, 720))


@numba.njit(**_FLAGS)
def _sigmoid32(y):
    """``1 / (1 + exp(-y))`` all in float32 (twice as many lanes as ``_kernels_math``'s
    float64 evaluation: 0.35 instead of 0.8 ns an element measured): ``exp`` by
    Cody-Waite reduction with float32's split of ln 2, a degree-6 Taylor polynomial and an
    exponent built from bits; absolute error below 1e-7 over all floats."""
    z = -y
    z = BOUND if z > BOUND else (-BOUND if z < -BOUND else z)
    k = np.floor(z * LOG2E + HALF)
    r = (z - k * LN2_HI) - k * LN2_LO
    p = ONE + r * (ONE + r * (HALF + r * (C3 + r * (C4 + r * (C5 + r * C6)))))
    return ONE / (ONE + p * np.int32((np.int32(k) + 127) << 23).view(np.float32))


def _sig(y, like):
    """sigmoid of ``y`` derived from the element ``like``: ``_sigmoid32`` for float32,
    ``_kernels_math.sigmoid`` (libm) for float64."""


@overload(_sig)
def _sig_impl(y, like):
    if like == types.float32:
        return lambda y, like: _sigmoid32(y)
    return lambda y, like: sigmoid(y, like)


# ---- LSTM ---------------------------------------------------------------------------------

@numba.njit(**_FLAGS)
def _lstm_cell(x, r, c_old, gs, c_new, tc, h_new, hidden):
    """One sequence's step from its pre-activations ``x + r``: the gates into ``gs``, the
    cell state, its tanh and the output, in one pass that vectorises (tanh as
    ``2 sigmoid(2y) - 1``, see ``_tanh_span``)."""
    for j in range(hidden):
        x_i, x_f, x_g, x_o = x[j], x[hidden + j], x[2 * hidden + j], x[3 * hidden + j]
        ig = _sig(x_i + r[j], x_i)
        fg = _sig(x_f + r[hidden + j], x_f)
        gg = TWO * _sig(TWO * (x_g + r[2 * hidden + j]), x_g) - ONE
        og = _sig(x_o + r[3 * hidden + j], x_o)
        gs[j], gs[hidden + j], gs[2 * hidden + j], gs[3 * hidden + j] = ig, fg, gg, og
        c = fg * c_old[j] + ig * gg
        c_new[j] = c
        th = TWO * _sig(TWO * c, x_i) - ONE
        tc[j] = th
        h_new[j] = og * th


@numba.njit(**_FLAGS)
def lstm_forward(fn, xw, w_hh_t, w_hr_t, hs, cs, tcs, gates, hpre, out, lengths, reverse, lo,
                 hi):
    """All steps of the sequences ``lo:hi`` of the batch: gates ``i, f, g, o`` (activated,
    saved by step), ``c = f c + i g`` (``tanh(c)`` saved too), ``h = o tanh(c)``,
    projected by ``w_hr_t (H, P)`` when it is not empty (``hpre`` keeps ``h`` before the
    projection). (A span of rows of a step's C-contiguous arrays is C-contiguous, so the
    loops along a row still vectorise; a 3-D slice of the batch measured 2.5x slower.)"""
    steps = xw.shape[0]
    hidden = cs.shape[2]
    proj = w_hr_t.shape[0] > 0
    gh = np.empty((hi - lo, 4 * hidden), xw.dtype)
    for s in range(steps):
        t = _time(s, steps, reverse)
        gemm(fn, hs[s, lo:hi], w_hh_t, gh, False, gh)
        for b in range(lo, hi):
            x, r, gs = xw[t, b], gh[b - lo], gates[s, b]
            c_old, c_new, tc = cs[s, b], cs[s + 1, b], tcs[s, b]
            h_new = hpre[s, b] if proj else hs[s + 1, b]
            if t < lengths[b]:
                _lstm_cell(x, r, c_old, gs, c_new, tc, h_new, hidden)
            else:
                c_new[:] = c_old
                gs[:] = 0.0
                tc[:] = 0.0
                if proj:
                    h_new[:] = 0.0
                else:
                    h_new[:] = hs[s, b]
        if proj:
            gemm(fn, hpre[s, lo:hi], w_hr_t, hs[s + 1, lo:hi], False, gh)
        for b in range(lo, hi):
            if t < lengths[b]:
                out[t, b] = hs[s + 1, b]
            else:
                hs[s + 1, b] = hs[s, b]
                out[t, b] = 0.0


@numba.njit(**_FLAGS)
def lstm_backward(fn, gout, w_hh, w_hr, gates, cs, tcs, dgates, dhs, dh, dc, lengths, reverse,
                  lo, hi):
    """All steps of the sequences ``lo:hi``, last to first: gate gradients
    (pre-activation) into ``dgates``, ``dh``/``dc`` carried back; ``dhs[s]`` keeps the
    gradient of the (projected) output state of step ``s`` for the projection's weight
    gradient."""
    steps = gout.shape[0]
    hidden = cs.shape[2]
    proj = w_hr.shape[0] > 0
    dh_rows = dh[lo:hi]
    dhp = np.empty((hi - lo, hidden), dh.dtype) if proj else dh_rows
    rec = np.empty_like(dh_rows)
    for s in range(steps - 1, -1, -1):
        t = _time(s, steps, reverse)
        for b in range(lo, hi):
            if t < lengths[b]:
                dh[b] += gout[t, b]
                if proj:
                    dhs[s, b] = dh[b]
            elif proj:
                dhs[s, b] = 0.0
        if proj:
            gemm(fn, dh_rows, w_hr, dhp, False, dhp)
        for b in range(lo, hi):
            dg = dgates[s, b]
            if t < lengths[b]:
                gs, c_old, tc, dcb, d = gates[s, b], cs[s, b], tcs[s, b], dc[b], dhp[b - lo]
                for j in range(hidden):   # dc_new, and the output gate's gradient
                    og = gs[3 * hidden + j]
                    dcb[j] += d[j] * og * (1.0 - tc[j] * tc[j])
                    dg[3 * hidden + j] = d[j] * tc[j] * og * (1.0 - og)
                for j in range(hidden):
                    ig, gg = gs[j], gs[2 * hidden + j]
                    dg[j] = dcb[j] * gg * ig * (1.0 - ig)
                    dg[2 * hidden + j] = dcb[j] * ig * (1.0 - gg * gg)
                for j in range(hidden):
                    fg = gs[hidden + j]
                    dg[hidden + j] = dcb[j] * c_old[j] * fg * (1.0 - fg)
                    dcb[j] *= fg
                dh[b] = 0.0
            else:
                dg[:] = 0.0
        gemm(fn, dgates[s, lo:hi], w_hh, dh_rows, True, rec)


# ---- the batch on several threads ----------------------------------------------------------

@numba.njit(**_FLAGS)
def _span(batch, parts, p):
    """Sequences ``lo:hi`` of block ``p`` of ``parts`` (the last may be short or empty)."""
    size = (batch + parts - 1) // parts
    return min(batch, p * size), min(batch, (p + 1) * size)


@numba.njit(parallel=True, **_FLAGS)
def lstm_forward_batches(fn, xw, w_hh_t, w_hr_t, hs, cs, tcs, gates, hpre, out, lengths,
                         reverse, parts):
    """``lstm_forward`` on ``parts`` blocks of the batch side by side: the sequences of a
    batch are independent, so each thread runs the whole time loop of its block (its own
    smaller recurrent GEMMs) with no synchronisation between steps: one parallel region
    per layer."""
    for p in numba.prange(parts):
        lo, hi = _span(xw.shape[1], parts, p)
        if hi > lo:
            lstm_forward(fn, xw, w_hh_t, w_hr_t, hs, cs, tcs, gates, hpre, out, lengths,
                         reverse, lo, hi)


@numba.njit(parallel=True, **_FLAGS)
def lstm_backward_batches(fn, gout, w_hh, w_hr, gates, cs, tcs, dgates, dhs, dh, dc, lengths,
                          reverse, parts):
    """``lstm_backward`` on ``parts`` blocks of the batch side by side (as
    ``lstm_forward_batches``)."""
    for p in numba.prange(parts):
        lo, hi = _span(gout.shape[1], parts, p)
        if hi > lo:
            lstm_backward(fn, gout, w_hh, w_hr, gates, cs, tcs, dgates, dhs, dh, dc, lengths,
                          reverse, lo, hi)


@numba.njit(parallel=True, **_FLAGS)
def gru_forward_batches(fn, xw, w_hh_t, b_hh, hs, gates, ghn, out, lengths, reverse, parts):
    """``gru_forward`` on ``parts`` blocks of the batch side by side (as
    ``lstm_forward_batches``)."""
    for p in numba.prange(parts):
        lo, hi = _span(xw.shape[1], parts, p)
        if hi > lo:
            gru_forward(fn, xw, w_hh_t, b_hh, hs, gates, ghn, out, lengths, reverse, lo, hi)


@numba.njit(parallel=True, **_FLAGS)
def gru_backward_batches(fn, gout, w_hh, gates, ghn, hs, dxg, dhg, dh, lengths, reverse,
                         parts):
    """``gru_backward`` on ``parts`` blocks of the batch side by side."""
    for p in numba.prange(parts):
        lo, hi = _span(gout.shape[1], parts, p)
        if hi > lo:
            gru_backward(fn, gout, w_hh, gates, ghn, hs, dxg, dhg, dh, lengths, reverse, lo, hi)


# ---- GRU ----------------------------------------------------------------------------------

@numba.njit(**_FLAGS)
def _gru_cell(x, r, b_hh, h_old, gs, hn, h_new, o, hidden):
    """One sequence's step, in one pass that vectorises (as ``_lstm_cell``)."""
    for j in range(hidden):
        x_r, x_z, x_n = x[j], x[hidden + j], x[2 * hidden + j]
        rg = _sig(x_r + r[j] + b_hh[j], x_r)
        zg = _sig(x_z + r[hidden + j] + b_hh[hidden + j], x_z)
        n_h = r[2 * hidden + j] + b_hh[2 * hidden + j]
        ng = TWO * _sig(TWO * (x_n + rg * n_h), x_n) - ONE
        gs[j], gs[hidden + j], gs[2 * hidden + j], hn[j] = rg, zg, ng, n_h
        h = ng + zg * (h_old[j] - ng)
        h_new[j] = h
        o[j] = h


@numba.njit(**_FLAGS)
def gru_forward(fn, xw, w_hh_t, b_hh, hs, gates, ghn, out, lengths, reverse, lo, hi):
    """All steps of the sequences ``lo:hi`` (as ``lstm_forward``): ``r, z = sigmoid(xw +
    gh)``, ``n = tanh(xw_n + r (gh_n))``, ``h = (1 - z) n + z h_old``, with ``gh = h_old
    W_hh^T + b_hh``; saves ``r, z, n`` and ``gh_n`` by step."""
    steps = xw.shape[0]
    hidden = hs.shape[2]
    gh = np.empty((hi - lo, 3 * hidden), xw.dtype)
    for s in range(steps):
        t = _time(s, steps, reverse)
        gemm(fn, hs[s, lo:hi], w_hh_t, gh, False, gh)
        for b in range(lo, hi):
            h_old, h_new = hs[s, b], hs[s + 1, b]
            if t < lengths[b]:
                _gru_cell(xw[t, b], gh[b - lo], b_hh, h_old, gates[s, b], ghn[s, b], h_new,
                          out[t, b], hidden)
            else:
                h_new[:] = h_old
                out[t, b] = 0.0


@numba.njit(**_FLAGS)
def gru_backward(fn, gout, w_hh, gates, ghn, hs, dxg, dhg, dh, lengths, reverse, lo, hi):
    """All steps of the sequences ``lo:hi``, last to first: pre-activation gradients of
    the input side (``dxg``) and of the recurrent side (``dhg``: the ``n`` part scaled by
    ``r``)."""
    steps = gout.shape[0]
    hidden = hs.shape[2]
    dh_rows = dh[lo:hi]
    rec = np.empty_like(dh_rows)
    for s in range(steps - 1, -1, -1):
        t = _time(s, steps, reverse)
        for b in range(lo, hi):
            dx, dr = dxg[s, b], dhg[s, b]
            if t < lengths[b]:
                gs, h_old, go, hn, dhb = gates[s, b], hs[s, b], gout[t, b], ghn[s, b], dh[b]
                for j in range(hidden):
                    zg, ng = gs[hidden + j], gs[2 * hidden + j]
                    d = dhb[j] + go[j]
                    dx[hidden + j] = dr[hidden + j] = d * (h_old[j] - ng) * zg * (1.0 - zg)
                    dx[2 * hidden + j] = d * (1.0 - zg) * (1.0 - ng * ng)
                    dhb[j] = d * zg
                for j in range(hidden):
                    rg = gs[j]
                    dn = dx[2 * hidden + j]
                    dx[j] = dr[j] = dn * hn[j] * rg * (1.0 - rg)
                    dr[2 * hidden + j] = dn * rg
            else:
                dx[:] = 0.0
                dr[:] = 0.0
        gemm(fn, dhg[s, lo:hi], w_hh, dh_rows, True, rec)


# ---- Elman RNN ----------------------------------------------------------------------------

@numba.njit(**_FLAGS)
def rnn_forward(fn, xw, w_hh_t, hs, out, lengths, reverse, relu):
    """All steps: ``h = tanh(xw + h_old W_hh^T)`` (or relu)."""
    steps, batch, hidden = xw.shape
    gh = np.empty((batch, hidden), xw.dtype)
    for s in range(steps):
        t = _time(s, steps, reverse)
        gemm(fn, hs[s], w_hh_t, gh, False, gh)
        for b in range(batch):
            h_new = hs[s + 1, b]
            if t < lengths[b]:
                x, r = xw[t, b], gh[b]
                for j in range(hidden):
                    h_new[j] = x[j] + r[j]
                if relu:
                    for j in range(hidden):
                        p = h_new[j]
                        h_new[j] = p if p > 0.0 or p != p else 0.0
                else:
                    _tanh_span(h_new, 0, hidden)
                out[t, b] = h_new
            else:
                h_new[:] = hs[s, b]
                out[t, b] = 0.0


@numba.njit(**_FLAGS)
def rnn_backward(fn, gout, w_hh, hs, dgates, dh, lengths, reverse, relu):
    """All steps, last to first: pre-activation gradients into ``dgates``."""
    steps, batch, hidden = gout.shape
    rec = np.empty_like(dh)
    for s in range(steps - 1, -1, -1):
        t = _time(s, steps, reverse)
        for b in range(batch):
            dg = dgates[s, b]
            if t < lengths[b]:
                h_new, go, dhb = hs[s + 1, b], gout[t, b], dh[b]
                if relu:
                    for j in range(hidden):
                        dg[j] = dhb[j] + go[j] if h_new[j] > 0.0 else 0.0
                else:
                    for j in range(hidden):
                        dg[j] = (dhb[j] + go[j]) * (1.0 - h_new[j] * h_new[j])
                dh[b] = 0.0
            else:
                dg[:] = 0.0
        gemm(fn, dgates[s], w_hh, dh, True, rec)
