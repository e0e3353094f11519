"""Numba kernels for the elementwise functions NumPy lacks (``erf``, ``erfc``, ``erfinv``)
and the fused activation backward ops (``sigmoid_backward``...: one pass where NumPy takes
three or four), as NumPy ufuncs (any layout, NumPy's result layout); ReLU and its backward
over contiguous arrays, split across threads on large inputs (``relu``,
``threshold_backward_contiguous``: NumPy's and the ufuncs' passes run on one thread).

Imported lazily by the elementwise ops on first use (Numba is never imported by
``import ember``); compiled once and cached on disk. NumPy references live in
``tests/test_kernels_elementwise.py``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange, vectorize

from .._threads import sync_numba
from . import _kernels_math as M
from ._parallel import threads_for

sync_numba()

_PARALLEL_MIN = 1 << 17  # elements below which one thread (NumPy, the ufunc) does the pass


class _LazyUfunc:
    """A ``numba.vectorize`` ufunc built on first use (then bound in its place here): building
    all of this module's ufuncs costs ~2 s of CPU even from Numba's cache, a model uses one
    or two."""

    __slots__ = ("_fn", "_signatures", "_ufunc")

    def __init__(self, fn, signatures: list[str]):
        self._fn, self._signatures, self._ufunc = fn, signatures, None

    def ufunc(self):
        if self._ufunc is None:
            self._ufunc = vectorize(self._signatures, cache=True)(self._fn)
            globals()[self._fn.__name__] = self._ufunc
        return self._ufunc

    def __call__(self, *args, **kwargs):
        return self.ufunc()(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.ufunc(), name)


def _lazy_vectorize(signatures: list[str]):
    return lambda fn: _LazyUfunc(fn, signatures)


_SIGNATURES = ["float32(float32)", "float64(float64)"]
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@_lazy_vectorize(_SIGNATURES)
def erf(x):
    return math.erf(x)


@_lazy_vectorize(_SIGNATURES)
def erfc(x):
    return math.erfc(x)


@_lazy_vectorize(_SIGNATURES)
def erfinv(y):
    """Inverse error function: Giles' single-precision approximation ("Approximating the
    erfinv function", 2010) refined by two Halley steps on ``math.erf`` in float64."""
    y = float(y)
    if math.isnan(y) or abs(y) > 1.0:
        return math.nan
    if abs(y) == 1.0:
        return math.copysign(math.inf, y)
    w = -math.log((1.0 - y) * (1.0 + y))
    if w < 5.0:
        w -= 2.5
        p = 2.81022636e-08
        p = 3.43273939e-07 + p * w
        p = -3.5233877e-06 + p * w
        p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w
        p = -0.00125372503 + p * w
        p = -0.00417768164 + p * w
        p = 0.246640727 + p * w
        p = 1.50140941 + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        p = 0.000100950558 + p * w
        p = 0.00134934322 + p * w
        p = -0.00367342844 + p * w
        p = 0.00573950773 + p * w
        p = -0.0076224613 + p * w
        p = 0.00943887047 + p * w
        p = 1.00167406 + p * w
        p = 2.83297682 + p * w
    x = p * y
    for _ in range(2):
        err = math.erf(x) - y
        x -= err / (_TWO_OVER_SQRT_PI * math.exp(-x * x) + x * err)
    return x


# ---- fused activation backward ops: grad_output * f'(x), one pass -------------------------
# (``x`` is the activation's output for sigmoid and tanh.) Parameters come in the arrays'
# precision, as torch computes them.

def _backward_signatures(n_params: int) -> list[str]:
    return [f"{t}({', '.join([t] * (2 + n_params))})" for t in ("float32", "float64")]


@_lazy_vectorize(_backward_signatures(0))
def sigmoid_backward(g, y):
    return g * (y * (1.0 - y))


@_lazy_vectorize(_backward_signatures(0))
def tanh_backward(g, y):
    return g * (1.0 - y * y)


@_lazy_vectorize(_backward_signatures(0))
def log_sigmoid_backward(g, x):
    return g * M.sigmoid(-x, x)


@_lazy_vectorize(_backward_signatures(0))
def mish_backward(g, x):
    # tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2); it is 1 in float64 past 20
    e = M.exp(min(x, 20.0), x)
    n = e * (e + 2.0)
    t = n / (n + 2.0)
    return g * (t + x * M.sigmoid(x, x) * (1.0 - t * t))


@_lazy_vectorize(_backward_signatures(3))
def elu_backward(g, x, alpha, scale, input_scale):
    if x > 0:
        return g * scale
    return g * (M.exp(x * input_scale, x) * (alpha * scale * input_scale))


@_lazy_vectorize(_backward_signatures(2))
def softplus_backward(g, x, beta, threshold):
    z = x * beta
    return g if z > threshold else g * M.sigmoid(z, x)


@_lazy_vectorize(_backward_signatures(1))
def leaky_relu_backward(g, x, negative_slope):
    return g if x > 0 else g * negative_slope


@_lazy_vectorize(_backward_signatures(2))
def hardtanh_backward(g, x, min_val, max_val):
    return 0.0 if x <= min_val or x >= max_val else g


@_lazy_vectorize(_backward_signatures(1))
def threshold_backward(g, x, threshold):
    return 0.0 if x <= threshold else g


@_lazy_vectorize(_backward_signatures(0))
def hardswish_backward(g, x):
    if x <= -3.0:
        return 0.0
    return g * (x / 3.0 + 0.5) if x < 3.0 else g


@_lazy_vectorize(_backward_signatures(0))
def hardsigmoid_backward(g, x):
    return g / 6.0 if -3.0 < x < 3.0 else 0.0


@_lazy_vectorize(_backward_signatures(1))
def softshrink_backward(g, x, lambd):
    return g if x > lambd or x < -lambd else 0.0


hardshrink_backward = softshrink_backward  # the same derivative


# ---- ReLU over C-contiguous arrays, split across threads ---------------------------------

# (whole flat arrays and unsigned indices from an offset: LLVM vectorises the loops)

@numba.njit(cache=True, error_model="numpy")
def _relu_span(x, out, lo, hi):
    """``out = max(x, 0)`` (NaN and -0.0 kept, as torch's) for elements ``lo:hi``."""
    zero = x.dtype.type(0.0)
    for i in range(np.uint64(lo), np.uint64(hi)):
        v = x[i]
        out[i] = zero if v < zero else v


@numba.njit(cache=True, error_model="numpy")
def _threshold_backward_span(g, x, out, threshold, lo, hi):
    """``out = 0 if x <= threshold else g`` for elements ``lo:hi``."""
    zero = g.dtype.type(0.0)
    for i in range(np.uint64(lo), np.uint64(hi)):
        out[i] = zero if x[i] <= threshold else g[i]


@numba.njit(parallel=True, cache=True)
def _relu_parallel(x, out, parts):
    """``_relu_span`` over flat arrays in ``parts`` spans."""
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for q in prange(parts):
        _relu_span(x, out, q * step, min(n, (q + 1) * step))


@numba.njit(parallel=True, cache=True)
def _threshold_backward_parallel(g, x, out, threshold, parts):
    """``_threshold_backward_span`` over flat arrays in ``parts`` spans."""
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for q in prange(parts):
        _threshold_backward_span(g, x, out, threshold, q * step, min(n, (q + 1) * step))


def _parts(size: int) -> int:
    n = threads_for(size, _PARALLEL_MIN)
    return 1 if n == 1 else min(n, numba.get_num_threads())


def relu(x: np.ndarray) -> np.ndarray | None:
    """``max(x, 0)`` of a C-contiguous float32/float64 array split across threads; None
    when one thread takes it (small input, busy machine): NumPy's pass is as fast there."""
    parts = _parts(x.size)
    if parts == 1:
        return None
    out = np.empty_like(x)
    _relu_parallel(x.reshape(-1), out.reshape(-1), parts)
    return out


def threshold_backward_contiguous(g: np.ndarray, x: np.ndarray, threshold) -> np.ndarray:
    """``threshold_backward`` of C-contiguous arrays of one float dtype and shape, split
    across threads when large (one span: ~15% faster than the ufunc)."""
    out = np.empty_like(x)
    flat_g, flat_x, flat_out = g.reshape(-1), x.reshape(-1), out.reshape(-1)
    threshold = x.dtype.type(threshold)
    parts = _parts(x.size)
    if parts == 1:
        _threshold_backward_span(flat_g, flat_x, flat_out, threshold, 0, x.size)
    else:
        _threshold_backward_parallel(flat_g, flat_x, flat_out, threshold, parts)
    return out


# ---- add, sub, mul, div over C-contiguous float arrays, split across threads -------------
# ``op``: 0 add, 1 sub, 2 mul, 3 div, 4 reversed sub (``y - x``), 5 reversed div. Each
# element is the one IEEE operation NumPy's ufunc does, so the values are NumPy's.

ARITHMETIC = {"add": 0, "sub": 1, "mul": 2, "div": 3}
_REVERSED = {0: 0, 1: 4, 2: 2, 3: 5}  # the op with its operands swapped (add, mul commute)


@numba.njit(inline="always")
def _apply(op, u, v):
    if op == 0:
        return u + v
    if op == 1:
        return u - v
    if op == 2:
        return u * v
    if op == 3:
        return u / v
    if op == 4:
        return v - u
    return v / u


@numba.njit(cache=True, error_model="numpy")
def _binary_span(x, y, out, op, lo, hi):
    """``out[i] = x[i] op y[i]`` for elements ``lo:hi`` of flat arrays; ``y`` of one
    element is a number."""
    if y.shape[0] == 1:
        s = y[0]
        for i in range(np.uint64(lo), np.uint64(hi)):
            out[i] = _apply(op, x[i], s)
    else:
        for i in range(np.uint64(lo), np.uint64(hi)):
            out[i] = _apply(op, x[i], y[i])


@numba.njit(cache=True, error_model="numpy")
def _rows_span(x, y, out, op, lo, hi):
    """``out[r, j] = x[r, j] op y[j]`` for rows ``lo:hi`` of 2-D arrays."""
    for r in range(lo, hi):
        xr, orow = x[r], out[r]
        for j in range(x.shape[1]):
            orow[j] = _apply(op, xr[j], y[j])


@numba.njit(parallel=True, cache=True)
def _binary_parallel(x, y, out, op, parts):
    """``_binary_span`` over flat arrays in ``parts`` spans."""
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for q in prange(parts):
        _binary_span(x, y, out, op, q * step, min(n, (q + 1) * step))


@numba.njit(parallel=True, cache=True)
def _rows_parallel(x, y, out, op, parts):
    """``_rows_span`` over 2-D arrays in ``parts`` spans of rows."""
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for q in prange(parts):
        _rows_span(x, y, out, op, q * step, min(n, (q + 1) * step))


def binary(op: int, a, b) -> np.ndarray | None:
    """``a op b`` (``op`` from ``ARITHMETIC``) split across threads, for a C-contiguous
    float32/float64 array and one of: an array of its dtype and shape, a C-contiguous row
    of its dtype that broadcasts along its last axis (``(rows, C) + (C,)``, either order),
    or a Python float or int (computed in the array's dtype, as NumPy and torch do).
    None for other operands, or when one thread takes the pass (small, busy machine):
    NumPy's ufunc is as fast there."""
    if type(a) is not np.ndarray:
        a, b, op = b, a, _REVERSED[op]
    dt = a.dtype
    if not (dt == np.float32 or dt == np.float64) or not a.flags.c_contiguous or not a.ndim:
        return None
    tb = type(b)
    if tb is np.ndarray:
        if b.dtype != dt or not b.flags.c_contiguous:
            return None
        if b.shape != a.shape:
            if b.size > a.size:
                a, b, op = b, a, _REVERSED[op]
            if b.ndim > a.ndim or b.shape[-1:] != a.shape[-1:] or b.size != a.shape[-1] \
                    or a.shape[-1] < 16:
                return None
    elif tb is float or (tb is int and -(1 << 53) <= b <= 1 << 53):
        b = np.full(1, b, dtype=dt)  # NumPy's cast of the number to the array's dtype
    else:
        return None
    parts = _parts(a.size)
    if parts == 1:
        return None
    out = np.empty_like(a)
    if b.size == a.size or b.size == 1:
        _binary_parallel(a.reshape(-1), b.reshape(-1), out.reshape(-1), op, parts)
    else:
        c = a.shape[-1]
        _rows_parallel(a.reshape(-1, c), b.reshape(-1), out.reshape(-1, c), op, parts)
    return out


# ---- masked_fill over C-contiguous float arrays, split by rows ------------------------------

@numba.njit(cache=True)
def _masked_fill_span(x, mask, fill, out, lo, hi):
    """``out[r, j] = fill if mask[j] else x[r, j]`` for rows ``lo:hi`` of 2-D arrays."""
    for r in range(lo, hi):
        xr, orow = x[r], out[r]
        for j in range(x.shape[1]):
            orow[j] = fill if mask[j] else xr[j]


@numba.njit(parallel=True, cache=True)
def _masked_fill_parallel(x, mask, fill, out, parts):
    """``_masked_fill_span`` over 2-D arrays in ``parts`` spans of rows."""
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for q in prange(parts):
        _masked_fill_span(x, mask, fill, out, q * step, min(n, (q + 1) * step))


def masked_fill(x: np.ndarray, mask: np.ndarray, fill) -> np.ndarray | None:
    """``x`` with ``fill`` (a number of ``x``'s dtype) where ``mask`` is set, split across
    threads by rows, for a C-contiguous float32/float64 ``x`` and a C-contiguous boolean
    mask of its trailing shape repeated over at least as many leading rows as threads (a
    causal mask over attention scores). None otherwise, or when one thread takes the
    pass: NumPy's ``copyto`` is as fast there."""
    dt = x.dtype
    if not (dt == np.float32 or dt == np.float64) or not x.flags.c_contiguous \
            or mask.dtype != np.bool_ or not mask.flags.c_contiguous or not mask.size \
            or x.shape[x.ndim - mask.ndim:] != mask.shape:
        return None
    parts = _parts(x.size)
    rows = x.size // mask.size
    if parts == 1 or rows < parts:
        return None
    out = np.empty_like(x)
    _masked_fill_parallel(x.reshape(rows, -1), mask.reshape(-1), dt.type(fill),
                          out.reshape(rows, -1), parts)
    return out


# ---- neg, abs, sqrt, rsqrt, reciprocal over C-contiguous float arrays, split --------------
# (correctly rounded operations: NumPy's values; ``rsqrt`` is NumPy's two, in order)

UNARY = {"neg": 0, "abs": 1, "sqrt": 2, "rsqrt": 3, "reciprocal": 4}


@numba.njit(inline="always")
def _apply_unary(op, u, one):
    if op == 0:
        return -u
    if op == 1:
        return abs(u)
    if op == 2:
        return np.sqrt(u)
    if op == 3:
        return one / np.sqrt(u)
    return one / u


@numba.njit(cache=True, error_model="numpy")
def _unary_span(x, out, op, lo, hi):
    """``out[i] = op(x[i])`` for elements ``lo:hi`` of flat arrays."""
    one = x.dtype.type(1.0)  # (a float64 1.0 would divide in float64: twice rounded)
    for i in range(np.uint64(lo), np.uint64(hi)):
        out[i] = _apply_unary(op, x[i], one)


@numba.njit(parallel=True, cache=True)
def _unary_parallel(x, out, op, parts):
    """``_unary_span`` over flat arrays in ``parts`` spans."""
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for q in prange(parts):
        _unary_span(x, out, op, q * step, min(n, (q + 1) * step))


def unary(op: int, x: np.ndarray) -> np.ndarray | None:
    """``op(x)`` (``op`` from ``UNARY``) of a C-contiguous float32/float64 array split
    across threads; None for other arrays or when one thread takes the pass."""
    dt = x.dtype
    if not (dt == np.float32 or dt == np.float64) or not x.flags.c_contiguous or not x.ndim:
        return None
    parts = _parts(x.size)
    if parts == 1:
        return None
    out = np.empty_like(x)
    _unary_parallel(x.reshape(-1), out.reshape(-1), op, parts)
    return out
