"""Numba kernels of the transformer's hot ops: GELU and SiLU (forward and backward), layer
and RMS norm over contiguous rows (forward and backward), and the embedding backward.

Imported lazily by the ops that use them (Numba is never imported by ``import ember``);
compiled once and cached on disk. Each parallel kernel splits its work into one span per
thread; the ``*_span`` / ``*_rows`` functions do one span and are called directly (serially)
for inputs too small to be worth waking the thread pool.

Without Intel's SVML, LLVM cannot vectorise loops that call ``exp``/``erf``/``tanh``, and
scalar libm calls cost 5-15 ns an element, far slower than NumPy's SIMD ufuncs. So for
float32 those functions are evaluated here in float64 by branch-free approximations that
vectorise: ``exp`` by Cody-Waite reduction, a degree-7 Taylor polynomial and an exponent
built from bits, ``erf`` and ``tanh`` by rational fits (relative error below 7e-8 and
2e-8 in float64, so about one float32 ulp once rounded). float64 keeps the exact libm
functions. The NumPy references are in ``tests/test_kernels_transformer.py``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from .._threads import sync_numba

sync_numba()

# reassociation lets LLVM vectorise the row sums; no "nnan"/"ninf", so NaN and inf propagate
_FLAGS = dict(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz", "arcp"})
# Elements below which one thread does the work. A serial pass over 4M float32 elements
# takes a few ms; below that, waking the pool gains little on 2-4 cores, and on a
# machine shared with other processes a parallel region can wait a whole scheduler slice
# (~10 ms) for a descheduled worker.
_PARALLEL_MIN = 1 << 22

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715
_LOG2E = 1.0 / math.log(2.0)
_LN2_HI = 0.693145751953125  # ln 2 split so that k * _LN2_HI is exact
_LN2_LO = 1.4286068203094172e-06

# erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (erf(4) rounds to 1 in float32); tanh(x) likewise on
# [-9, 9]. Coefficients (lowest power first) fitted by iteratively reweighted least squares
# for the least maximum relative error.
_ERF_P = (1.128379094793276, 0.20710442133893486, 0.05152207255257525, 0.00398958872220615,
          0.0001472554269548917, -1.9420507579425478e-06, 1.9108967890741398e-08)
_ERF_Q = (1.0, 0.5168727724871622, 0.11796207082820817, 0.014956204971251608,
          0.0010208481059492214)
_TANH_P = (0.9999999877436921, -0.15887359151867667, 0.03142238439631008,
           0.007950996594238436, 0.00022578098411188817, 1.338104895929418e-06,
           8.465708284311801e-10)
_TANH_Q = (1.0, 0.17445957596386827, -0.0437573645337528, 0.02407178713585483,
           0.0016300614768488136, 2.1389297387164683e-05, 5.000811658534176e-08)


@numba.njit(inline="always")
def _clamp(x, bound):
    """``x`` limited to ``[-bound, bound]``; NaN passes through."""
    if x > bound:
        return bound
    if x < -bound:
        return -bound
    return x


@numba.njit(inline="always")
def _poly(c, u):
    acc = 0.0
    for i in range(len(c) - 1, -1, -1):
        acc = acc * u + c[i]
    return acc


@numba.njit(inline="always")
def _exp_approx(y):
    z = _clamp(y, 110.0)  # float32's range either way; out of it, 0 or inf below
    k = math.floor(z * _LOG2E + 0.5)
    r = (z - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 + r * (1.0 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (
        1 / 120 + r * (1 / 720 + r * (1 / 5040)))))))
    e = p * np.int64((np.int64(k) + 1023) << 52).view(np.float64)
    if y > 110.0:
        return math.inf
    return 0.0 if y < -110.0 else e


@numba.njit(inline="always")
def _rational(p, q, bound, x):
    """``x P(x^2) / Q(x^2)`` within +-1, and exactly +-1 beyond ``bound`` (where the float32
    value is +-1, so that ``1 - tanh**2`` and ``1 + erf`` are exactly 0 there, as in
    float32)."""
    u = x * x
    r = _clamp(x * _poly(p, u) / _poly(q, u), 1.0)
    return math.copysign(1.0, x) if abs(x) > bound else r


@numba.njit(inline="always")
def _erf_approx(x):
    return _rational(_ERF_P, _ERF_Q, 4.0, x)


@numba.njit(inline="always")
def _tanh_approx(x):
    return _rational(_TANH_P, _TANH_Q, 9.0, x)


def _exp(y, like):
    """exp of the float64 ``y`` derived from the element ``like``: vectorisable approximation
    when ``like`` is float32, libm when float64."""


def _erf(y, like):
    """erf, as ``_exp``."""


def _tanh(y, like):
    """tanh, as ``_exp``."""


def _by_precision(stub, approx, exact):
    @overload(stub, inline="always")
    def impl(y, like):
        return approx if like == types.float32 else exact


_by_precision(_exp, lambda y, like: _exp_approx(y), lambda y, like: math.exp(y))
_by_precision(_erf, lambda y, like: _erf_approx(y), lambda y, like: math.erf(y))
_by_precision(_tanh, lambda y, like: _tanh_approx(y), lambda y, like: math.tanh(y))


# ---- elementwise activations (1-D contiguous arrays) ------------------------------------

@numba.njit(inline="always")
def _gelu_value(x, tanh_form):
    if tanh_form:
        return 0.5 * x * (1.0 + _tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x), x))
    return 0.5 * x * (1.0 + _erf(x * _SQRT_HALF, x))


@numba.njit(inline="always")
def _gelu_grad(x, tanh_form):
    if tanh_form:
        t = _tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x), x)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (
            1.0 + 3.0 * _KAPPA * x * x)
    return 0.5 * (1.0 + _erf(x * _SQRT_HALF, x)) + x * _exp(-0.5 * x * x, x) * _INV_SQRT_2PI


@numba.njit(inline="always")
def _sigmoid(x):
    return 1.0 / (1.0 + _exp(-x, x))


# The activations by number: the kind is tested once per call, outside the loops, so that
# each loop vectorises.
GELU, GELU_TANH, SILU = 0, 1, 2
_KINDS = {"gelu": GELU, "gelu_tanh": GELU_TANH, "silu": SILU}


@numba.njit(**_FLAGS)
def activation_span(x, out, kind):
    """``out = f(x)`` for the activation ``kind`` over 1-D arrays."""
    if kind == GELU:
        for i in range(x.shape[0]):
            out[i] = _gelu_value(x[i], False)
    elif kind == GELU_TANH:
        for i in range(x.shape[0]):
            out[i] = _gelu_value(x[i], True)
    else:
        for i in range(x.shape[0]):
            out[i] = x[i] * _sigmoid(x[i])


@numba.njit(**_FLAGS)
def activation_backward_span(g, x, out, kind):
    """``out = g * f'(x)`` for the activation ``kind`` over 1-D arrays."""
    if kind == GELU:
        for i in range(x.shape[0]):
            out[i] = g[i] * _gelu_grad(x[i], False)
    elif kind == GELU_TANH:
        for i in range(x.shape[0]):
            out[i] = g[i] * _gelu_grad(x[i], True)
    else:
        for i in range(x.shape[0]):
            s = _sigmoid(x[i])
            out[i] = g[i] * (s * (1.0 + x[i] * (1.0 - s)))


@numba.njit(parallel=True, **_FLAGS)
def _activation_parallel(x, out, kind, parts):
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for p in prange(parts):
        lo, hi = p * step, min(n, (p + 1) * step)
        activation_span(x[lo:hi], out[lo:hi], kind)


@numba.njit(parallel=True, **_FLAGS)
def _activation_backward_parallel(g, x, out, kind, parts):
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for p in prange(parts):
        lo, hi = p * step, min(n, (p + 1) * step)
        activation_backward_span(g[lo:hi], x[lo:hi], out[lo:hi], kind)


def _parts(work: int) -> int:
    return 1 if work < _PARALLEL_MIN else numba.get_num_threads()


def activation(x: np.ndarray, name: str) -> np.ndarray:
    """The activation ``name`` ("gelu", "gelu_tanh", "silu") of a C-contiguous float32 or
    float64 array."""
    kind = _KINDS[name]
    out = np.empty_like(x)
    flat, flat_out = x.reshape(-1), out.reshape(-1)
    parts = _parts(flat.size)
    if parts == 1:
        activation_span(flat, flat_out, kind)
    else:
        _activation_parallel(flat, flat_out, kind, parts)
    return out


def activation_backward(g: np.ndarray, x: np.ndarray, name: str) -> np.ndarray:
    """``g * f'(x)`` for the activation ``name``; C-contiguous arrays of one dtype and shape."""
    kind = _KINDS[name]
    out = np.empty_like(x)
    flat_g, flat, flat_out = g.reshape(-1), x.reshape(-1), out.reshape(-1)
    parts = _parts(flat.size)
    if parts == 1:
        activation_backward_span(flat_g, flat, flat_out, kind)
    else:
        _activation_backward_parallel(flat_g, flat, flat_out, kind, parts)
    return out


# ---- layer / RMS norm over the rows of a (R, N) array ------------------------------------

@numba.njit(**_FLAGS)
def norm_rows(x, w, b, out, mean, rstd, eps, center, lo, hi):
    """Rows ``lo:hi``: ``out = (x - mean) * rstd * w + b`` (no centring for RMS norm)."""
    n = x.shape[1]
    for r in range(lo, hi):
        m = 0.0
        if center:
            for j in range(n):
                m += x[r, j]
            m /= n
        v = 0.0
        for j in range(n):
            d = x[r, j] - m
            v += d * d
        s = 1.0 / math.sqrt(v / n + eps)
        mean[r] = m
        rstd[r] = s
        for j in range(n):
            y = (x[r, j] - m) * s
            if w is not None:
                y *= w[j]
            if b is not None:
                y += b[j]
            out[r, j] = y


@numba.njit(**_FLAGS)
def norm_backward_rows(g, x, w, mean, rstd, gx, gw, gb, center, lo, hi):
    """Rows ``lo:hi`` of the input gradient; adds their share of ``sum(g * xhat)`` and
    ``sum(g)`` over rows into the float64 rows ``gw`` and ``gb``."""
    n = x.shape[1]
    for r in range(lo, hi):
        m, s = mean[r], rstd[r]
        a = 0.0  # mean of gxhat * xhat
        c = 0.0  # mean of gxhat
        for j in range(n):
            xh = (x[r, j] - m) * s
            gh = g[r, j] * w[j] if w is not None else g[r, j]
            a += gh * xh
            c += gh
            gw[j] += g[r, j] * xh
            gb[j] += g[r, j]
        a /= n
        c = c / n if center else 0.0
        for j in range(n):
            xh = (x[r, j] - m) * s
            gh = g[r, j] * w[j] if w is not None else g[r, j]
            gx[r, j] = (gh - c - xh * a) * s


@numba.njit(parallel=True, **_FLAGS)
def _norm_parallel(x, w, b, out, mean, rstd, eps, center, parts):
    rows = x.shape[0]
    step = (rows + parts - 1) // parts
    for p in prange(parts):
        norm_rows(x, w, b, out, mean, rstd, eps, center, p * step, min(rows, (p + 1) * step))


@numba.njit(parallel=True, **_FLAGS)
def _norm_backward_parallel(g, x, w, mean, rstd, gx, gw, gb, center, parts):
    rows = x.shape[0]
    step = (rows + parts - 1) // parts
    for p in prange(parts):
        norm_backward_rows(g, x, w, mean, rstd, gx, gw[p], gb[p], center, p * step,
                           min(rows, (p + 1) * step))


def norm(x: np.ndarray, w, b, eps: float, center: bool):
    """``(out, mean, rstd)`` normalising each row of a C-contiguous (R, N) array; ``w``/``b``
    are (N,) arrays or None; ``mean``/``rstd`` are (R,) in ``x``'s dtype."""
    out = np.empty_like(x)
    mean = np.empty(x.shape[0], x.dtype)
    rstd = np.empty(x.shape[0], x.dtype)
    parts = min(_parts(x.size), x.shape[0])
    if parts == 1:
        norm_rows(x, w, b, out, mean, rstd, eps, center, 0, x.shape[0])
    else:
        _norm_parallel(x, w, b, out, mean, rstd, eps, center, parts)
    return out, mean, rstd


def norm_backward(g: np.ndarray, x: np.ndarray, w, mean: np.ndarray, rstd: np.ndarray,
                  center: bool):
    """``(gx, gw, gb)`` of ``norm``: ``gw = sum(g * xhat)`` and ``gb = sum(g)`` over rows."""
    gx = np.empty_like(x)
    parts = min(_parts(x.size), x.shape[0])
    gw = np.zeros((parts, x.shape[1]))
    gb = np.zeros((parts, x.shape[1]))
    if parts == 1:
        norm_backward_rows(g, x, w, mean, rstd, gx, gw[0], gb[0], center, 0, x.shape[0])
    else:
        _norm_backward_parallel(g, x, w, mean, rstd, gx, gw, gb, center, parts)
    return gx, gw.sum(0).astype(x.dtype), gb.sum(0).astype(x.dtype)


# ---- embedding backward ------------------------------------------------------------------

@numba.njit(**_FLAGS)
def embedding_backward(g, idx, out):
    """``out[idx[i]] += g[i]`` for each row ``i`` of the (L, D) gradient, in order."""
    d = g.shape[1]
    for i in range(idx.shape[0]):
        k = idx[i]
        for j in range(d):
            out[k, j] += g[i, j]
