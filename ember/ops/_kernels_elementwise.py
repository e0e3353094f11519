"""Numba kernels for the elementwise functions NumPy lacks: ``erf``, ``erfc``, ``erfinv``.

Imported lazily by ``ember.ops.elementwise`` on first use (Numba is never imported by
``import ember``); compiled once and cached on disk. NumPy references live in
``tests/test_kernels_elementwise.py``.
"""

from __future__ import annotations

import math

from numba import vectorize

_SIGNATURES = ["float32(float32)", "float64(float64)"]
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@vectorize(_SIGNATURES, cache=True)
def erf(x):
    return math.erf(x)


@vectorize(_SIGNATURES, cache=True)
def erfc(x):
    return math.erfc(x)


@vectorize(_SIGNATURES, cache=True)
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
