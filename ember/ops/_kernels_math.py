"""Vectorisable ``exp``, ``erf``, ``tanh`` and ``sigmoid`` for the Numba kernels of
``_kernels_elementwise`` and ``_kernels_transformer``.

Without Intel's SVML, LLVM cannot vectorise loops that call ``exp``/``erf``/``tanh``, and
scalar libm calls cost 5-15 ns an element, far slower than NumPy's SIMD ufuncs. So for
float32 those functions are evaluated here in float64 by branch-free approximations that
vectorise: ``exp`` by Cody-Waite reduction, a degree-7 Taylor polynomial and an exponent
built from bits, ``erf`` and ``tanh`` by rational fits (relative error below 7e-8 and
2e-8 in float64, so about one float32 ulp once rounded). float64 keeps the exact libm
functions: ``exp(y, like)`` (and ``erf``, ``tanh``, ``sigmoid``) picks by the type of the
element ``like`` that ``y`` derives from, at compile time.

Imported only by those kernel modules (Numba is never imported by ``import ember``). The
approximations are checked against libm in ``tests/test_kernels_elementwise.py``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import overload

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
def exp_approx(y):
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
def erf_approx(x):
    return _rational(_ERF_P, _ERF_Q, 4.0, x)


@numba.njit(inline="always")
def tanh_approx(x):
    return _rational(_TANH_P, _TANH_Q, 9.0, x)


def exp(y, like):
    """exp of the float64 ``y`` derived from the element ``like``: vectorisable approximation
    when ``like`` is float32, libm when float64."""


def erf(y, like):
    """erf, as ``exp``."""


def tanh(y, like):
    """tanh, as ``exp``."""


def _by_precision(stub, approx, exact):
    @overload(stub, inline="always")
    def impl(y, like):
        return approx if like == types.float32 else exact


_by_precision(exp, lambda y, like: exp_approx(y), lambda y, like: math.exp(y))
_by_precision(erf, lambda y, like: erf_approx(y), lambda y, like: math.erf(y))
_by_precision(tanh, lambda y, like: tanh_approx(y), lambda y, like: math.tanh(y))


@numba.njit(inline="always")
def sigmoid(y, like):
    """``1 / (1 + exp(-y))``, ``exp`` as above."""
    return 1.0 / (1.0 + exp(-y, like))
