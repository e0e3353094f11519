"""The Numba softmax kernels against their NumPy references (and the references against
torch), on inputs large enough for the Numba path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ember.ops import _kernels_reductions as K


def _rows(dtype, shape=(37, 129), scale=30.0, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log", [False, True])
def test_forward_numba_matches_numpy(dtype, log):
    x = _rows(dtype)
    x[3, :] = -np.inf  # a row of -inf and a row with +inf stay nan/finite as in NumPy
    x[5, 7] = np.inf
    tol = 1e-6 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(K.softmax_numba(x, log), K.softmax_numpy(x, 1, log),
                               rtol=tol, atol=tol, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log", [False, True])
def test_backward_numba_matches_numpy(dtype, log):
    x, g = _rows(dtype, scale=3.0), _rows(dtype, seed=1, scale=1.0)
    y = K.softmax_numpy(x, 1, log)
    tol = 1e-6 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(K.softmax_backward_numba(g, y, log),
                               K.softmax_backward_numpy(g, y, 1, log), rtol=tol, atol=tol)


@pytest.mark.parametrize("log", [False, True])
def test_dispatch_takes_numba_path_and_matches_torch(log):
    x = _rows(np.float32, shape=(4, 16, 80))
    assert K._use_numba(x, dim=2)
    expected = (torch.log_softmax if log else torch.softmax)(torch.from_numpy(x), 2).numpy()
    np.testing.assert_allclose(K.softmax(x, 2, log), expected, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("dim", [0, 1])
def test_numpy_reference_matches_torch(dim):
    x = _rows(np.float64, shape=(64, 70))
    expected = torch.softmax(torch.from_numpy(x), dim).numpy()
    np.testing.assert_allclose(K.softmax_numpy(x, dim, False), expected, rtol=1e-12,
                               atol=1e-15)
