"""The Numba cross-entropy gradient kernel of ember/ops/_kernels_ce.py against the float64
formula ``a * softmax(x) - b * onehot(target)``, serially and in parallel spans."""

from __future__ import annotations

import numpy as np
import pytest

from ember.ops import _kernels_ce as K


def _inputs(dtype, rows=37, classes=11):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((rows, classes)) * 4).astype(dtype)
    target = rng.integers(0, classes, rows)
    a, b = rng.uniform(0.1, 2, rows), rng.uniform(0.1, 2, rows)
    return x, target, a, b


def _reference(x, target, a, b):
    x = x.astype(np.float64)
    p = np.exp(x - x.max(1, keepdims=True))
    out = a[:, None] * p / p.sum(1, keepdims=True)
    out[np.arange(len(x)), target] -= b
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ce_grad(dtype):
    x, target, a, b = _inputs(dtype)
    got = K.ce_grad(x, target, a, b)
    assert got.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, _reference(x, target, a, b), rtol=tol, atol=tol)


@pytest.mark.parametrize("parts", [2, 5])
def test_ce_grad_parallel_spans(parts):
    x, target, a, b = _inputs(np.float64)
    out = np.empty_like(x)
    K._ce_grad_parallel(x, target, a, b, out, parts)
    np.testing.assert_array_equal(out, K.ce_grad(x, target, a, b))
