"""The Numba kernels of ember/ops/_kernels_elementwise.py against NumPy references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ember.ops import _kernels_elementwise as kernels

_erf_ref = np.vectorize(math.erf, otypes=[np.float64])
_erfc_ref = np.vectorize(math.erfc, otypes=[np.float64])


def _erfinv_ref(y: np.ndarray) -> np.ndarray:
    """Inverse of ``math.erf`` by bisection on [-6, 6] (erf(6) is 1 in float64)."""
    lo, hi = np.full(y.shape, -6.0), np.full(y.shape, 6.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        below = _erf_ref(mid) < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,ref", [("erf", _erf_ref), ("erfc", _erfc_ref)])
def test_erf_kernels(name, ref, dtype):
    x = np.random.default_rng(0).uniform(-5, 5, size=(7, 6)).astype(dtype)
    x = np.concatenate([x.ravel(), [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(dtype)
    out = getattr(kernels, name)(x)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref(x.astype(np.float64)), rtol=2e-7 if dtype == np.float32
                               else 1e-15, atol=1e-30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfinv_kernel(dtype):
    y = np.random.default_rng(1).uniform(-1, 1, size=(40,))
    y = np.concatenate([y, [0.0, 1e-12, -0.5, 0.999999]]).astype(dtype)
    out = kernels.erfinv(y)
    assert out.dtype == dtype
    ref = _erfinv_ref(y.astype(np.float64))  # erfinv's conditioning limits float64 to ~1e-11
    np.testing.assert_allclose(out, ref, rtol=1e-6 if dtype == np.float32 else 1e-10,
                               atol=1e-14)


def test_erfinv_round_trip_in_the_tails():
    """Near +-1 the inverse is ill-conditioned; there erf(erfinv(y)) must give y back."""
    y = np.array([0.9999999999, -0.99999999999, 1 - 1e-15, 0.99999])
    np.testing.assert_allclose(_erf_ref(kernels.erfinv(y)), y, rtol=1e-14)


def test_erfinv_edges():
    y = np.array([1.0, -1.0, 1.5, -2.0, np.nan, 0.0])
    out = kernels.erfinv(y)
    assert out[0] == np.inf and out[1] == -np.inf
    assert np.isnan(out[2:5]).all() and out[5] == 0.0


def test_kernels_take_strided_and_empty_arrays():
    x = np.linspace(-2, 2, 24).reshape(4, 6)[:, ::2]
    np.testing.assert_allclose(kernels.erf(x), _erf_ref(x), rtol=1e-15)
    assert kernels.erfinv(np.zeros((0, 3))).shape == (0, 3)


def test_approximations_against_libm():
    """The float32 helpers of ``_kernels_math``, evaluated in float64, over their whole
    range."""
    from ember.ops import _kernels_math as M
    x = np.linspace(-12, 12, 200001)
    rel = lambda a, b: np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))  # noqa: E731
    assert rel(np.array([M.erf_approx(v) for v in x[::7]]), _erf_ref(x[::7])) < 1e-7
    assert rel(np.array([M.tanh_approx(v) for v in x[::7]]), np.tanh(x[::7])) < 1e-7
    y = np.linspace(-100, 80, 20001)
    assert rel(np.array([M.exp_approx(v) for v in y]), np.exp(y)) < 1e-8
    assert M.exp_approx(200.0) == np.inf and M.exp_approx(-200.0) == 0.0
