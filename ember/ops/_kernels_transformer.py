"""Numba kernels of the transformer's hot ops: GELU and SiLU (forward and backward), layer
and RMS norm over contiguous rows (forward and backward), and the embedding backward.

Imported lazily by the ops that use them (Numba is never imported by ``import ember``);
compiled once and cached on disk. Each parallel kernel splits its work into one span per
thread; the ``*_span`` / ``*_rows`` functions do one span and are called directly (serially)
for inputs too small to be worth waking the thread pool.

The activations evaluate ``exp``/``erf``/``tanh`` with ``_kernels_math``'s vectorisable
float32 approximations (libm in float64). The NumPy references are in
``tests/test_kernels_transformer.py``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from .._threads import sync_numba
from ._kernels_math import erf, exp, sigmoid, tanh

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


# ---- elementwise activations (1-D contiguous arrays) ------------------------------------

@numba.njit(inline="always")
def _gelu_value(x, tanh_form):
    if tanh_form:
        return 0.5 * x * (1.0 + tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x), x))
    return 0.5 * x * (1.0 + erf(x * _SQRT_HALF, x))


@numba.njit(inline="always")
def _gelu_grad(x, tanh_form):
    if tanh_form:
        t = tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x), x)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (
            1.0 + 3.0 * _KAPPA * x * x)
    return 0.5 * (1.0 + erf(x * _SQRT_HALF, x)) + x * exp(-0.5 * x * x, x) * _INV_SQRT_2PI


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
            out[i] = x[i] * sigmoid(x[i], x[i])


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
            s = sigmoid(x[i], x[i])
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
