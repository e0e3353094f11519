"""Numba kernels of the recurrent layers (``ember/ops/rnn.py``): the time loop of one layer
in one direction, forward and backward, for LSTM (with projections), GRU and Elman RNN.

Layout. The input projection ``xw = x W_ih^T (+ biases)`` is one GEMM done by the caller,
``(T, B, G)`` in time order. The kernels index time two ways: ``t``, the position in the
sequence, and ``s``, the step in processing order (``t = T - 1 - s`` for the reverse
direction). State histories are kept by step: ``hs[s]`` is the state before step ``s``
(``hs[0]`` the initial state, ``hs[T]`` the final one), and so are the saved gates. A
sequence ``b`` ends at ``lengths[b]`` (packed input): at later times its state is carried
unchanged, its output is 0 and its gate gradients are 0.

The recurrent GEMM. ``inner=True``: the kernel runs steps ``s0..s1`` and does the small
GEMM of each step itself (``_matmul``; no Python between steps, which pays when a step is
a few microseconds of arithmetic). ``inner=False``: the caller runs one step per call and
does the step's GEMM with NumPy's BLAS between calls (forward: ``gh = hs[s] W_hh^T``
before the call; backward: ``rec = dgates[s] W_hh`` after it, added by the next call when
``has_rec``, and by the caller after the last).

Backward through time keeps ``dh`` (gradient of the state before the current step) and,
for the LSTM, ``dc``; it writes the gate gradients by step (``dgates``), from which the
caller gets the input and weight gradients as big GEMMs. The reference is torch itself:
``tests/nn/test_rnn_kernels.py`` runs both paths against torch's modules (float32 within
1e-5), ``tests/conformance/ops_rnn.py`` the ops against ``torch.lstm`` and its siblings.
"""

from __future__ import annotations

import numba
import numpy as np

from .._threads import sync_numba
from ._kernels_math import sigmoid

sync_numba()

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


# ---- LSTM ---------------------------------------------------------------------------------

@numba.njit(**_FLAGS)
def lstm_forward(xw, w_hh_t, w_hr_t, gh, hs, cs, tcs, gates, hpre, out, lengths, reverse, s0,
                 s1, inner):
    """Steps ``s0..s1``: gates ``i, f, g, o`` (activated, saved by step), ``c = f c + i g``
    (``tanh(c)`` saved too), ``h = o tanh(c)``, projected by ``w_hr_t (H, P)`` when it is
    not empty (then ``inner`` must be True; ``hpre`` keeps ``h`` before the projection)."""
    steps, batch, _ = xw.shape
    hidden = cs.shape[2]
    proj = w_hr_t.shape[0] > 0
    for s in range(s0, s1):
        t = _time(s, steps, reverse)
        if inner:
            _matmul(hs[s], w_hh_t, gh)
        for b in range(batch):
            x, r, gs = xw[t, b], gh[b], gates[s, b]
            c_old, c_new, tc = cs[s, b], cs[s + 1, b], tcs[s, b]
            h_new = hpre[s, b] if proj else hs[s + 1, b]
            if t < lengths[b]:
                for j in range(4 * hidden):
                    gs[j] = x[j] + r[j]
                for j in range(2 * hidden, 3 * hidden):   # g = tanh, as one sigmoid span
                    gs[j] *= 2.0
                _sigmoid_span(gs, 0, 4 * hidden)
                for j in range(2 * hidden, 3 * hidden):
                    gs[j] = 2.0 * gs[j] - 1.0
                for j in range(hidden):
                    c_new[j] = gs[hidden + j] * c_old[j] + gs[j] * gs[2 * hidden + j]
                    tc[j] = c_new[j]
                _tanh_span(tc, 0, hidden)
                for j in range(hidden):
                    h_new[j] = gs[3 * hidden + j] * tc[j]
            else:
                c_new[:] = c_old
                gs[:] = 0.0
                tc[:] = 0.0
                if proj:
                    h_new[:] = 0.0
                else:
                    h_new[:] = hs[s, b]
        if proj:
            _matmul(hpre[s], w_hr_t, hs[s + 1])
        for b in range(batch):
            if t < lengths[b]:
                out[t, b] = hs[s + 1, b]
            else:
                hs[s + 1, b] = hs[s, b]
                out[t, b] = 0.0


@numba.njit(**_FLAGS)
def lstm_backward(gout, w_hh, w_hr, gates, cs, tcs, dgates, dhs, dh, dc, rec, lengths, reverse, s0,
                  s1, inner, has_rec):
    """Steps ``s1 - 1`` down to ``s0``: gate gradients (pre-activation) into ``dgates``,
    ``dh``/``dc`` carried back; ``dhs[s]`` keeps the gradient of the (projected) output
    state of step ``s`` for the projection's weight gradient."""
    steps, batch, _ = gout.shape
    hidden = cs.shape[2]
    proj = w_hr.shape[0] > 0
    dhp = np.empty((batch, hidden), dh.dtype) if proj else dh
    pending = has_rec
    for s in range(s1 - 1, s0 - 1, -1):
        t = _time(s, steps, reverse)
        if pending:
            dh += rec
        for b in range(batch):
            if t < lengths[b]:
                dh[b] += gout[t, b]
                if proj:
                    dhs[s, b] = dh[b]
            elif proj:
                dhs[s, b] = 0.0
        if proj:
            _matmul(dh, w_hr, dhp)
        for b in range(batch):
            dg = dgates[s, b]
            if t < lengths[b]:
                gs, c_old, tc, dcb, d = gates[s, b], cs[s, b], tcs[s, b], dc[b], dhp[b]
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
        if inner:
            _matmul(dgates[s], w_hh, rec)
        pending = inner
    if pending:
        dh += rec


# ---- GRU ----------------------------------------------------------------------------------

@numba.njit(**_FLAGS)
def gru_forward(xw, w_hh_t, b_hh, gh, hs, gates, ghn, out, lengths, reverse, s0, s1, inner):
    """Steps ``s0..s1``: ``r, z = sigmoid(xw + gh)``, ``n = tanh(xw_n + r (gh_n))``,
    ``h = (1 - z) n + z h_old``, with ``gh = h_old W_hh^T + b_hh``; saves ``r, z, n`` and
    ``gh_n`` by step."""
    steps, batch, _ = xw.shape
    hidden = hs.shape[2]
    for s in range(s0, s1):
        t = _time(s, steps, reverse)
        if inner:
            _matmul(hs[s], w_hh_t, gh)
        for b in range(batch):
            h_old, h_new = hs[s, b], hs[s + 1, b]
            if t < lengths[b]:
                x, r, gs, hn, o = xw[t, b], gh[b], gates[s, b], ghn[s, b], out[t, b]
                for j in range(2 * hidden):
                    gs[j] = x[j] + r[j] + b_hh[j]
                _sigmoid_span(gs, 0, 2 * hidden)
                for j in range(hidden):
                    hn[j] = r[2 * hidden + j] + b_hh[2 * hidden + j]
                    gs[2 * hidden + j] = x[2 * hidden + j] + gs[j] * hn[j]
                _tanh_span(gs, 2 * hidden, 3 * hidden)
                for j in range(hidden):
                    ng = gs[2 * hidden + j]
                    h_new[j] = ng + gs[hidden + j] * (h_old[j] - ng)
                    o[j] = h_new[j]
            else:
                h_new[:] = h_old
                out[t, b] = 0.0


@numba.njit(**_FLAGS)
def gru_backward(gout, w_hh, gates, ghn, hs, dxg, dhg, dh, rec, lengths, reverse, s0, s1,
                 inner, has_rec):
    """Steps ``s1 - 1`` down to ``s0``: pre-activation gradients of the input side (``dxg``)
    and of the recurrent side (``dhg``: the ``n`` part scaled by ``r``)."""
    steps, batch, _ = gout.shape
    hidden = hs.shape[2]
    pending = has_rec
    for s in range(s1 - 1, s0 - 1, -1):
        t = _time(s, steps, reverse)
        if pending:
            dh += rec
        for b in range(batch):
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
        if inner:
            _matmul(dhg[s], w_hh, rec)
        pending = inner
    if pending:
        dh += rec


# ---- Elman RNN ----------------------------------------------------------------------------

@numba.njit(**_FLAGS)
def rnn_forward(xw, w_hh_t, gh, hs, out, lengths, reverse, s0, s1, inner, relu):
    """Steps ``s0..s1``: ``h = tanh(xw + h_old W_hh^T)`` (or relu)."""
    steps, batch, hidden = xw.shape
    for s in range(s0, s1):
        t = _time(s, steps, reverse)
        if inner:
            _matmul(hs[s], w_hh_t, gh)
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
def rnn_backward(gout, w_hh, hs, dgates, dh, rec, lengths, reverse, s0, s1, inner, has_rec,
                 relu):
    """Steps ``s1 - 1`` down to ``s0``: pre-activation gradients into ``dgates``."""
    steps, batch, hidden = gout.shape
    pending = has_rec
    for s in range(s1 - 1, s0 - 1, -1):
        t = _time(s, steps, reverse)
        if pending:
            dh += rec
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
        if inner:
            _matmul(dgates[s], w_hh, rec)
        pending = inner
    if pending:
        dh += rec
