"""Numba kernels of the norms, forward and backward: statistics over the rows of an (R, N)
array (layer, group, instance and RMS norm) or per channel of an (N, C, L) array (batch
norm).

Each kernel reads its input twice in the forward (the moments in one pass, then the
affine) and twice in the backward (the two gradient sums per row or channel, then the
input gradient), and every inner loop runs over a contiguous stretch of a flat array with
unsigned indices so that LLVM vectorises it. Moments are sums of values shifted by the
row's (channel's) first element, so one pass gives the variance without cancellation for
data whose mean is far from zero; sums run in the input's precision along contiguous runs
(twice the SIMD lanes for float32, as torch's kernels) and are added up in float64 across
runs and rows.

Imported lazily by ``normalization`` (Numba is never imported by ``import ember``);
compiled once and cached on disk. Each parallel kernel splits its rows (channels) into one
span per thread; the span functions are called directly (serially) for inputs too small to
be worth waking the thread pool, or on a busy machine (``_parallel.threads_for``).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from .._threads import sync_numba
from ._parallel import threads_for

sync_numba()

# reassociation lets LLVM vectorise the sums; no "nnan"/"ninf", so NaN and inf propagate
_FLAGS = dict(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz", "arcp"})
_PARALLEL_MIN = 1 << 16  # elements below which one thread does the work


def _parts(work: int, spans: int) -> int:
    """Spans (threads) for ``work`` elements in at most ``spans`` independent pieces."""
    n = threads_for(work, _PARALLEL_MIN)
    return 1 if n == 1 else max(1, min(n, numba.get_num_threads(), spans))


# ---- 1-D helpers: ``n`` elements of flat arrays from offset ``o`` ------------------------
# (unsigned indices into whole arrays, not slices: LLVM vectorises the loops, and a slice
# per call cost as much as the work of a 128-element row)

@numba.njit(**_FLAGS)
def _moments(a, o, n, shift):
    """``(sum(a - shift), sum((a - shift)**2))`` in ``a``'s precision (vectorised partial
    sums; a row's or slice's sum, added up in float64 by the callers)."""
    u = np.uint64
    s1 = a.dtype.type(0.0)
    s2 = a.dtype.type(0.0)
    for j in range(u(o), u(o + n)):
        d = a[j] - shift
        s1 += d
        s2 += d * d
    return s1, s2


@numba.njit(**_FLAGS)
def _grad_sums(g, x, o, n, m):
    """``(sum(g), sum(g * (x - m)))`` in ``x``'s precision."""
    u = np.uint64
    sg = x.dtype.type(0.0)
    sgx = x.dtype.type(0.0)
    for j in range(u(o), u(o + n)):
        sg += g[j]
        sgx += g[j] * (x[j] - m)
    return sg, sgx


@numba.njit(**_FLAGS)
def _scale_shift(x, out, o, n, a, c):
    """``out = x * a + c`` (scalars ``a``, ``c``)."""
    u = np.uint64
    for j in range(u(o), u(o + n)):
        out[j] = x[j] * a + c


@numba.njit(**_FLAGS)
def _grad_affine(g, x, gx, o, n, a, m, bb, c):
    """``gx = g * a + (x - m) * bb + c`` (scalars)."""
    u = np.uint64
    for j in range(u(o), u(o + n)):
        gx[j] = g[j] * a + (x[j] - m) * bb + c


@numba.njit(**_FLAGS)
def _affine_cols(x, w, b, out, o, po, n, m, s):
    """``out = (x - m) * s * w + b`` with a parameter per element, parameters from offset
    ``po`` (``w``/``b`` None: left out)."""
    u = np.uint64
    d = u(po) - u(o)  # (wraps around: unsigned arithmetic modulo 2**64)
    for j in range(u(o), u(o + n)):
        y = (x[j] - m) * s
        if w is not None:
            y = y * w[j + d]
        if b is not None:
            y = y + b[j + d]
        out[j] = y


@numba.njit(**_FLAGS)
def _cols_sums(g, x, w, o, po, n, m, s, pw, pb):
    """One row of the backward with a parameter per element (``w``, ``pw``, ``pb`` from
    offset ``po``): adds ``g * xhat`` and ``g`` into ``pw``/``pb``; returns
    ``(sum(gh * xhat), sum(gh))``, ``gh = g * w`` (all in ``x``'s precision)."""
    u = np.uint64
    d = u(po) - u(o)
    a = x.dtype.type(0.0)
    c = x.dtype.type(0.0)
    for j in range(u(o), u(o + n)):
        xh = (x[j] - m) * s
        gh = g[j] * w[j + d] if w is not None else g[j]
        a += gh * xh
        c += gh
        pw[j + d] += g[j] * xh
        pb[j + d] += g[j]
    return a, c


@numba.njit(**_FLAGS)
def _cols_gx(g, x, w, o, po, n, m, s, am, cm, gx):
    """``gx = (g * w - cm - xhat * am) * s`` (``w`` from offset ``po``)."""
    u = np.uint64
    d = u(po) - u(o)
    for j in range(u(o), u(o + n)):
        gh = g[j] * w[j + d] if w is not None else g[j]
        gx[j] = (gh - cm - (x[j] - m) * s * am) * s


@numba.njit(**_FLAGS)
def _stats(s1, s2, cnt, shift, center, eps):
    """``(mean, rstd)`` from the shifted moments of ``cnt`` values."""
    if center:
        mu = s1 / cnt
        return shift + mu, 1.0 / math.sqrt(max(s2 / cnt - mu * mu, 0.0) + eps)
    return 0.0, 1.0 / math.sqrt(s2 / cnt + eps)


# ---- rows of an (R, N) array: layer, group, instance and RMS norm --------------------------
# The affine parameters are (P*K,) arrays or None: row r, column j takes parameter
# (r % P) * K + j // (N // K). Layer norm: P = 1, K = N (one per column); group norm of
# (batch*G, Cg*HW) rows: P = G, K = Cg; instance norm of (batch*C, HW) rows: P = C, K = 1.

@numba.njit(**_FLAGS)
def norm_rows(x, w, b, out, mean, rstd, eps, center, p, k, lo, hi):
    """Rows ``lo:hi``: ``out = (x - mean) * rstd * w + b`` (no centring for RMS norm)."""
    n = x.shape[1]
    seg = n // k
    t = x.dtype.type
    xf, of = x.reshape(-1), out.reshape(-1)
    for r in range(lo, hi):
        o = r * n
        shift = xf[o] if center else t(0.0)
        s1, s2 = _moments(xf, o, n, shift)
        m, s = _stats(s1, s2, n, float(shift), center, eps)
        mean[r] = m
        rstd[r] = s
        base = (r % p) * k
        if seg == 1:
            _affine_cols(xf, w, b, of, o, base, n, t(m), t(s))
        else:
            for kk in range(k):
                a = s * w[base + kk] if w is not None else s
                c = (b[base + kk] if b is not None else 0.0) - m * a
                _scale_shift(xf, of, o + kk * seg, seg, t(a), t(c))


_FLUSH = 256  # rows whose per-column parameter gradients are summed in the input's precision


@numba.njit(**_FLAGS)
def norm_backward_rows(g, x, w, mean, rstd, gx, gw, gb, center, p, k, lo, hi):
    """Rows ``lo:hi`` of the input gradient; adds their ``sum(g * xhat)`` and ``sum(g)``
    per parameter into the float64 (P*K,) arrays ``gw`` and ``gb`` (with a parameter per
    column, through partial sums in ``x``'s precision over ``_FLUSH`` rows at a time)."""
    n = x.shape[1]
    seg = n // k
    t = x.dtype.type
    gf, xf, gxf = g.reshape(-1), x.reshape(-1), gx.reshape(-1)
    pw = np.zeros(gw.shape[0] if seg == 1 else 0, x.dtype)
    pb = np.zeros_like(pw)
    for r in range(lo, hi):
        m, s = mean[r], rstd[r]
        o = r * n
        base = (r % p) * k
        if seg == 1:  # a: sum of gh * xhat, c: sum of gh (gh = g * w)
            a, c = _cols_sums(gf, xf, w, o, base, n, m, s, pw, pb)
            am = t(a / n)
            cm = t(c / n) if center else t(0.0)
            _cols_gx(gf, xf, w, o, base, n, m, s, am, cm, gxf)
            if (r - lo) % _FLUSH == _FLUSH - 1 or r == hi - 1:
                gw += pw
                gb += pb
                pw[:] = 0.0
                pb[:] = 0.0
        else:
            a = 0.0
            c = 0.0
            for kk in range(k):
                sg, sgx = _grad_sums(gf, xf, o + kk * seg, seg, m)
                gw[base + kk] += sgx * s
                gb[base + kk] += sg
                wk = float(w[base + kk]) if w is not None else 1.0
                a += wk * sgx * s
                c += wk * sg
            am = a / n
            cm = c / n if center else 0.0
            for kk in range(k):
                wk = float(w[base + kk]) if w is not None else 1.0
                _grad_affine(gf, xf, gxf, o + kk * seg, seg, t(wk * s), m, t(-s * s * am),
                             t(-cm * s))


@numba.njit(parallel=True, **_FLAGS)
def _norm_parallel(x, w, b, out, mean, rstd, eps, center, p, k, parts):
    rows = x.shape[0]
    step = (rows + parts - 1) // parts
    for q in prange(parts):
        norm_rows(x, w, b, out, mean, rstd, eps, center, p, k, q * step,
                  min(rows, (q + 1) * step))


@numba.njit(parallel=True, **_FLAGS)
def _norm_backward_parallel(g, x, w, mean, rstd, gx, gw, gb, center, p, k, parts):
    rows = x.shape[0]
    step = (rows + parts - 1) // parts
    for q in prange(parts):
        norm_backward_rows(g, x, w, mean, rstd, gx, gw[q], gb[q], center, p, k, q * step,
                           min(rows, (q + 1) * step))


def norm(x: np.ndarray, w, b, eps: float, center: bool, groups: int = 1):
    """``(out, mean, rstd)`` normalising each row of a C-contiguous (R, N) array; ``w``/``b``
    are None or (P*K,) arrays with ``P = groups`` (see above); ``mean``/``rstd`` are (R,)
    in ``x``'s dtype."""
    out = np.empty_like(x)
    mean = np.empty(x.shape[0], x.dtype)
    rstd = np.empty(x.shape[0], x.dtype)
    p = w if w is not None else b
    k = 1 if p is None else p.size // groups
    parts = 1 if x.size < _PARALLEL_MIN else _parts(x.size, x.shape[0])
    if parts == 1:
        norm_rows(x, w, b, out, mean, rstd, eps, center, groups, k, 0, x.shape[0])
    else:
        _norm_parallel(x, w, b, out, mean, rstd, eps, center, groups, k, parts)
    return out, mean, rstd


def norm_backward(g: np.ndarray, x: np.ndarray, w, mean: np.ndarray, rstd: np.ndarray,
                  center: bool, groups: int = 1, params: int | None = None, gx=None):
    """``(gx, gw, gb)`` of ``norm``: ``gw = sum(g * xhat)`` and ``gb = sum(g)`` per parameter
    (``params`` of them, P*K; default: ``w``'s size, else one per column and group);
    ``gx``: None or a C-contiguous array of ``x``'s shape to write into."""
    gx = np.empty_like(x) if gx is None else gx
    params = params or (w.size if w is not None else groups * x.shape[1])
    k = params // groups
    parts = _parts(x.size, x.shape[0])
    gw = np.zeros((parts, params))
    gb = np.zeros((parts, params))
    if parts == 1:
        norm_backward_rows(g, x, w, mean, rstd, gx, gw[0], gb[0], center, groups, k, 0,
                           x.shape[0])
    else:
        _norm_backward_parallel(g, x, w, mean, rstd, gx, gw, gb, center, groups, k, parts)
    return gx, gw.sum(0).astype(x.dtype), gb.sum(0).astype(x.dtype)


# ---- batch norm: statistics per channel of an (N, C, L) array ----------------------------

@numba.njit(**_FLAGS)
def _channel_moments(xf, nb, chans, seg, c):
    """``(sum(x - shift), sum((x - shift)**2), shift)`` of channel ``c`` of the flat
    (N, C, L) ``xf`` in float64, ``shift`` its first element."""
    shift = xf[c * seg]
    s1 = 0.0
    s2 = 0.0
    for i in range(nb):
        a1, a2 = _moments(xf, (i * chans + c) * seg, seg, shift)
        s1 += a1
        s2 += a2
    return s1, s2, float(shift)


@numba.njit(**_FLAGS)
def channel_stats_rows(x, mean, var):
    """Mean and biased variance of each channel of the C-contiguous (N, C, L) ``x`` (one
    pass: batch norm's running statistics)."""
    nb, chans, seg = x.shape
    cnt = nb * seg
    for c in range(chans):
        s1, s2, shift = _channel_moments(x.reshape(-1), nb, chans, seg, c)
        mu = s1 / cnt
        mean[c] = shift + mu
        var[c] = max(s2 / cnt - mu * mu, 0.0)


@numba.njit(**_FLAGS)
def norm_channels(x, w, b, out, mean, rstd, eps, lo, hi):
    """Channels ``lo:hi``: statistics over dims 0 and 2, then the channel's affine."""
    nb, chans, seg = x.shape
    t = x.dtype.type
    xf, of = x.reshape(-1), out.reshape(-1)
    for c in range(lo, hi):
        s1, s2, shift = _channel_moments(xf, nb, chans, seg, c)
        m, s = _stats(s1, s2, nb * seg, shift, True, eps)
        mean[c] = m
        rstd[c] = s
        a = s * w[c] if w is not None else s
        bc = (b[c] if b is not None else 0.0) - m * a
        for i in range(nb):
            _scale_shift(xf, of, (i * chans + c) * seg, seg, t(a), t(bc))


@numba.njit(**_FLAGS)
def _col_moments(xf, o, n, shift, p1, p2):
    """Adds ``x - shift`` and its square into ``p1``/``p2`` (``x``'s precision, vectorised)
    for the ``n`` elements of ``xf`` from offset ``o``."""
    u = np.uint64
    for c in range(u(0), u(n)):
        d = xf[u(o) + c] - shift[c]
        p1[c] += d
        p2[c] += d * d


@numba.njit(**_FLAGS)
def _flush(p, total):
    """``total += p`` (float64), ``p = 0``: partial column sums over ``_FLUSH`` rows."""
    for c in range(p.shape[0]):
        total[c] += p[c]
        p[c] = 0.0


@numba.njit(**_FLAGS)
def _col_scale_shift(x, out, a, c):
    for j in range(x.shape[0]):
        out[j] = x[j] * a[j] + c[j]


@numba.njit(**_FLAGS)
def norm_columns(x, w, b, out, mean, rstd, eps, lo, hi):
    """``norm_channels`` of an (N, C) array (L = 1), columns ``lo:hi``: row by row, so that
    the loops run along contiguous memory (column sums in ``x``'s precision over
    ``_FLUSH`` rows at a time, then in float64)."""
    nb, chans = x.shape
    t = x.dtype.type
    xf = x.reshape(-1)
    shift = x[0, lo:hi].copy()
    s1 = np.zeros(hi - lo)
    s2 = np.zeros(hi - lo)
    p1 = np.zeros(hi - lo, x.dtype)
    p2 = np.zeros(hi - lo, x.dtype)
    for i in range(nb):
        _col_moments(xf, i * chans + lo, hi - lo, shift, p1, p2)
        if i % _FLUSH == _FLUSH - 1 or i == nb - 1:
            _flush(p1, s1)
            _flush(p2, s2)
    a = np.empty(hi - lo, x.dtype)
    bc = np.empty(hi - lo, x.dtype)
    for c in range(lo, hi):
        m, s = _stats(s1[c - lo], s2[c - lo], nb, float(shift[c - lo]), True, eps)
        mean[c] = m
        rstd[c] = s
        ac = s * w[c] if w is not None else s
        a[c - lo] = t(ac)
        bc[c - lo] = t((b[c] if b is not None else 0.0) - m * ac)
    for i in range(nb):
        _col_scale_shift(x[i, lo:hi], out[i, lo:hi], a, bc)


@numba.njit(**_FLAGS)
def _channel_grad(w, mean, rstd, gw, gb, cnt, c):
    """``(a, bb, cc)`` of the input gradient ``g * a + (x - mean) * bb + cc`` of channel
    ``c`` from its sums ``gw = sum(g * (x - mean))`` (turned into ``sum(g * xhat)`` here)
    and ``gb = sum(g)``."""
    s = float(rstd[c])
    gw[c] *= s
    a = s * w[c] if w is not None else s
    return a, -a * s * gw[c] / cnt, -a * gb[c] / cnt


@numba.njit(**_FLAGS)
def norm_channels_backward(g, x, w, mean, rstd, gx, gw, gb, lo, hi):
    """Channels ``lo:hi`` of batch norm's backward: ``gw = sum(g * xhat)``, ``gb = sum(g)``
    and ``gx = w * rstd * (g - gb / cnt - xhat * gw / cnt)``."""
    nb, chans, seg = x.shape
    t = x.dtype.type
    gf, xf, gxf = g.reshape(-1), x.reshape(-1), gx.reshape(-1)
    for c in range(lo, hi):
        m = mean[c]
        sg = 0.0
        sgx = 0.0
        for i in range(nb):
            a1, a2 = _grad_sums(gf, xf, (i * chans + c) * seg, seg, m)
            sg += a1
            sgx += a2
        gw[c] = sgx
        gb[c] = sg
        a, bb, cc = _channel_grad(w, mean, rstd, gw, gb, nb * seg, c)
        for i in range(nb):
            _grad_affine(gf, xf, gxf, (i * chans + c) * seg, seg, t(a), m, t(bb), t(cc))


@numba.njit(**_FLAGS)
def _col_grad_sums(gf, xf, o, n, m, psg, psgx):
    """Adds ``g`` and ``g * (x - m)`` into ``psg``/``psgx`` (``x``'s precision) for the
    ``n`` elements from offset ``o``."""
    u = np.uint64
    for c in range(u(0), u(n)):
        gc = gf[u(o) + c]
        psg[c] += gc
        psgx[c] += gc * (xf[u(o) + c] - m[c])


@numba.njit(**_FLAGS)
def _col_grad_affine(g, x, gx, a, m, bb, cc):
    for c in range(x.shape[0]):
        gx[c] = g[c] * a[c] + (x[c] - m[c]) * bb[c] + cc[c]


@numba.njit(**_FLAGS)
def norm_columns_backward(g, x, w, mean, rstd, gx, gw, gb, lo, hi):
    """``norm_channels_backward`` of (N, C) arrays, columns ``lo:hi``, row by row."""
    nb, chans = x.shape
    gf, xf = g.reshape(-1), x.reshape(-1)
    sg = np.zeros(hi - lo)
    sgx = np.zeros(hi - lo)
    psg = np.zeros(hi - lo, x.dtype)
    psgx = np.zeros(hi - lo, x.dtype)
    m = mean[lo:hi]
    for i in range(nb):
        _col_grad_sums(gf, xf, i * chans + lo, hi - lo, m, psg, psgx)
        if i % _FLUSH == _FLUSH - 1 or i == nb - 1:
            _flush(psg, sg)
            _flush(psgx, sgx)
    a = np.empty(hi - lo, x.dtype)
    bb = np.empty(hi - lo, x.dtype)
    cc = np.empty(hi - lo, x.dtype)
    for c in range(lo, hi):
        gw[c] = sgx[c - lo]
        gb[c] = sg[c - lo]
        a[c - lo], bb[c - lo], cc[c - lo] = _channel_grad(w, mean, rstd, gw, gb, nb, c)
    for i in range(nb):
        _col_grad_affine(g[i, lo:hi], x[i, lo:hi], gx[i, lo:hi], a, m, bb, cc)


@numba.njit(parallel=True, **_FLAGS)
def _norm_channels_parallel(x, w, b, out, mean, rstd, eps, parts):
    chans = x.shape[1]
    step = (chans + parts - 1) // parts
    for q in prange(parts):
        lo, hi = q * step, min(chans, (q + 1) * step)
        if x.shape[2] == 1:
            shape = (x.shape[0], chans)
            norm_columns(x.reshape(shape), w, b, out.reshape(shape), mean, rstd, eps, lo, hi)
        else:
            norm_channels(x, w, b, out, mean, rstd, eps, lo, hi)


@numba.njit(parallel=True, **_FLAGS)
def _norm_channels_backward_parallel(g, x, w, mean, rstd, gx, gw, gb, parts):
    chans = x.shape[1]
    step = (chans + parts - 1) // parts
    for q in prange(parts):
        lo, hi = q * step, min(chans, (q + 1) * step)
        if x.shape[2] == 1:
            shape = (x.shape[0], chans)
            norm_columns_backward(g.reshape(shape), x.reshape(shape), w, mean, rstd,
                                  gx.reshape(shape), gw, gb, lo, hi)
        else:
            norm_channels_backward(g, x, w, mean, rstd, gx, gw, gb, lo, hi)


def batch_norm(x: np.ndarray, w, b, eps: float):
    """``(out, mean, rstd)`` of a C-contiguous (N, C, L) array normalised per channel (over
    dims 0 and 2); ``w``/``b`` are None or (C,) arrays; ``mean``/``rstd`` (C,) in ``x``'s
    dtype."""
    out = np.empty_like(x)
    n, chans, length = x.shape
    mean, rstd = np.empty(chans, x.dtype), np.empty(chans, x.dtype)
    parts = _parts(x.size, chans)
    if parts > 1:
        _norm_channels_parallel(x, w, b, out, mean, rstd, eps, parts)
    elif length == 1:
        norm_columns(x.reshape(n, chans), w, b, out.reshape(n, chans), mean, rstd, eps, 0,
                     chans)
    else:
        norm_channels(x, w, b, out, mean, rstd, eps, 0, chans)
    return out, mean, rstd


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, var)`` (biased) per channel of a C-contiguous (N, C, L) float array, in its
    dtype (one thread: a single read of ``x``)."""
    mean, var = np.empty(x.shape[1], x.dtype), np.empty(x.shape[1], x.dtype)
    channel_stats_rows(x, mean, var)
    return mean, var


def batch_norm_backward(g: np.ndarray, x: np.ndarray, w, mean: np.ndarray, rstd: np.ndarray,
                        gx=None):
    """``(gx, gw, gb)`` of ``batch_norm`` (C-contiguous (N, C, L) ``g`` and ``x``); ``gx`` as
    in ``norm_backward``."""
    gx = np.empty_like(x) if gx is None else gx
    n, chans, length = x.shape
    gw, gb = np.empty(chans), np.empty(chans)
    parts = _parts(x.size, chans)
    if parts > 1:
        _norm_channels_backward_parallel(g, x, w, mean, rstd, gx, gw, gb, parts)
    elif length == 1:
        norm_columns_backward(g.reshape(n, chans), x.reshape(n, chans), w, mean, rstd,
                              gx.reshape(n, chans), gw, gb, 0, chans)
    else:
        norm_channels_backward(g, x, w, mean, rstd, gx, gw, gb, 0, chans)
    return gx, gw.astype(x.dtype), gb.astype(x.dtype)
