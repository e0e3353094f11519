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


def _sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


# the fused activation backward ufuncs: (name, params, NumPy reference of g * f'(x)); ``x``
# is the activation's output for sigmoid and tanh
_BACKWARD_REFS = [
    ("sigmoid_backward", (), lambda g, y: g * y * (1 - y)),
    ("tanh_backward", (), lambda g, y: g * (1 - y * y)),
    ("log_sigmoid_backward", (), lambda g, x: g * _sigmoid_ref(-x)),
    ("mish_backward", (), lambda g, x: g * (np.tanh(np.logaddexp(0, x)) + x * _sigmoid_ref(x)
                                            * (1 - np.tanh(np.logaddexp(0, x)) ** 2))),
    ("elu_backward", (1.5, 1.05, 0.7),
     lambda g, x, a, s, i: g * np.where(x > 0, s, np.exp(x * i) * a * s * i)),
    ("softplus_backward", (2.0, 3.0),
     lambda g, x, b, th: g * np.where(x * b > th, 1.0, _sigmoid_ref(x * b))),
    ("leaky_relu_backward", (0.2,), lambda g, x, s: np.where(x > 0, g, g * s)),
    ("hardtanh_backward", (-0.5, 1.0), lambda g, x, lo, hi: np.where((x <= lo) | (x >= hi), 0, g)),
    ("threshold_backward", (0.3,), lambda g, x, th: np.where(x <= th, 0, g)),
    ("hardswish_backward", (),
     lambda g, x: g * np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0))),
    ("hardsigmoid_backward", (), lambda g, x: np.where((x > -3) & (x < 3), g / 6, 0.0)),
    ("softshrink_backward", (0.3,), lambda g, x, lam: np.where((x > lam) | (x < -lam), g, 0)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,params,ref", _BACKWARD_REFS, ids=[r[0] for r in _BACKWARD_REFS])
def test_activation_backward_kernels(name, params, ref, dtype):
    """One pass against the NumPy formula in float64, on a strided input, with the edge
    values (NaN passes the gradient through the piecewise ones, as in torch)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-30, 30, 60), rng.uniform(-3, 3, 60),
                        [0.0, -0.5, 1.0, 0.3, 40.0, -40.0, np.inf, -np.inf, np.nan]])
    if name in ("sigmoid_backward", "tanh_backward"):
        x = np.tanh(x)  # an output
    g = rng.uniform(-2, 2, x.shape)
    x2, g2 = np.stack([x, x]).T.astype(dtype), np.stack([g, g]).T.astype(dtype)
    out = getattr(kernels, name)(g2[:, 0], x2[:, 1], *params)  # strided operands
    assert out.dtype == dtype
    want = ref(g2[:, 0].astype(np.float64), x2[:, 1].astype(np.float64),
               *(np.float64(dtype(p)) for p in params))
    # atol: the kernel computes in the arrays' precision, as torch, so 1 - y * y cancels
    np.testing.assert_allclose(out, want, rtol=2e-6 if dtype == np.float32 else 1e-13,
                               atol=1e-6 if dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exponent", [1.5, 2.0, 2.5, 3.0, 3.5, 4.0, -2.0, -0.5])
def test_pow_by_products_matches_torch(exponent, dtype):
    """Float exponents computed by products and a square root (``_power_by_products``):
    torch's own forms (x*x*x, 1/(x*x), 1/sqrt(x)) bitwise, the others within 2 ulp of
    torch's pow; a negative base with a positive half power falls back to ``pow``."""
    import torch

    import ember
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(3000) * 3, [0.0, 1e-20, 1e20, np.inf]])
    for base in (np.abs(x), np.concatenate([x, [-np.inf, -1.0, np.nan]])):
        base = base.astype(dtype)
        got = ember.from_numpy(base.copy()).pow(exponent).numpy()
        want = torch.from_numpy(base.copy()).pow(exponent).numpy()
        if exponent in (2.0, 3.0, -2.0, -0.5):
            np.testing.assert_array_equal(got, want)
        else:
            ulp = np.finfo(dtype).eps
            np.testing.assert_allclose(got, want, rtol=2.5 * ulp, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_kernels_split_across_threads(dtype, monkeypatch):
    """ReLU and its backward split in spans (forced: the split depends on the machine's
    load) against NumPy: NaN kept forward, -0.0 kept, zero gradient at and below 0."""
    from ember.ops import _parallel
    monkeypatch.setattr(_parallel, "_free_cores", lambda: 64.0)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 70001)).astype(dtype)
    x[0, :4] = [np.nan, -0.0, 0.0, -np.inf]
    g = rng.standard_normal(x.shape).astype(dtype)
    y = kernels.relu(x)
    assert y is not None and y.dtype == x.dtype
    np.testing.assert_array_equal(y, np.where(x < 0, 0, x))
    assert np.signbit(y[0, 1])
    gx = kernels.threshold_backward_contiguous(g, x, 0)
    np.testing.assert_array_equal(gx, np.where(x <= 0, 0, g))
    np.testing.assert_array_equal(gx, kernels.threshold_backward(g, x, 0.0))


def test_relu_kernels_small_inputs():
    """Small inputs: ReLU left to NumPy (None), its backward one span of the kernel."""
    x = np.linspace(-1, 1, 101, dtype=np.float32)
    g = np.arange(101, dtype=np.float32)
    assert kernels.relu(x) is None
    np.testing.assert_array_equal(kernels.threshold_backward_contiguous(g, x, 0.25),
                                  np.where(x <= 0.25, 0, g))
