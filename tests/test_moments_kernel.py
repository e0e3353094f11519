"""``mean``, ``var`` and ``std`` over every dim but one (batch norm's statistics) take the
Numba kernels of ``ops/_kernels_moments.py``: compared with torch (float64 as the reference
for float32 inputs), in the kept dim's every position and with NaN/inf inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


@pytest.mark.parametrize("shape,dims", [((16, 8, 5, 5), (0, 2, 3)), ((300, 17), 0),
                                        ((17, 300), 1), ((4, 6, 1), (0, 2)), ((2, 3), 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("take_sqrt,correction,keepdim", [(False, 1, False), (True, 0, True)])
def test_var_around_one_dim_matches_torch(shape, dims, dtype, take_sqrt, correction, keepdim):
    x = (np.random.default_rng(3).standard_normal(shape) * 5 + 2).astype(dtype)
    name = "std" if take_sqrt else "var"
    got = getattr(ember.from_numpy(x), name)(dims, correction=correction, keepdim=keepdim)
    expected = getattr(torch.from_numpy(x.astype(np.float64)), name)(
        dims, correction=correction, keepdim=keepdim)
    assert got.dtype == ember.from_numpy(x).dtype and tuple(got.shape) == tuple(expected.shape)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape,dims", [((16, 8, 5, 5), (0, 2, 3)), ((300, 17), 0),
                                        ((17, 300), 1)])
@pytest.mark.parametrize("dtype,out_dtype", [(np.float32, None), (np.float64, None),
                                             (np.float16, None), (np.float32, "float64")])
@pytest.mark.parametrize("keepdim", [False, True])
def test_mean_around_one_dim_matches_torch(shape, dims, dtype, out_dtype, keepdim):
    x = (np.random.default_rng(6).standard_normal(shape) * 5 + 2).astype(dtype)
    got = ember.from_numpy(x).mean(dims, keepdim=keepdim, dtype=out_dtype and ember.float64)
    expected = torch.from_numpy(x).double().mean(dims, keepdim=keepdim)
    expected_dtype = ember.float64 if out_dtype else ember.from_numpy(x).dtype
    assert got.dtype == expected_dtype and tuple(got.shape) == tuple(expected.shape)
    tol = {np.float16: 1e-3, np.float32: 1e-6, np.float64: 1e-13}[dtype]
    np.testing.assert_allclose(got.numpy().astype(np.float64), expected.numpy(), rtol=tol,
                               atol=tol)


def test_var_kernel_propagates_nan_and_inf():
    x = np.random.default_rng(4).standard_normal((6, 4, 3)).astype(np.float32)
    x[2, 1, 0], x[0, 2, 2] = np.nan, np.inf
    got = ember.from_numpy(x).var((0, 2)).numpy()
    expected = torch.from_numpy(x).var((0, 2)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[[0, 3]], expected[[0, 3]], rtol=1e-5)


def test_var_kernel_gradient_matches_torch():
    x = np.random.default_rng(5).standard_normal((5, 3, 4))
    e = ember.from_numpy(x.copy()).requires_grad_()
    t = torch.from_numpy(x.copy()).requires_grad_()
    (e.std((0, 2)) * ember.arange(3.0)).sum().backward()
    (t.std((0, 2)) * torch.arange(3.0)).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape,dims", [((32, 64, 4, 4), (2, 3)), ((5, 300), 1),
                                        ((3, 4, 70000), (2,)), ((2, 3, 4), (1, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keepdim", [False, True])
def test_mean_over_trailing_dims_matches_torch(shape, dims, dtype, keepdim):
    """``_kernels_moments.mean_rows`` against torch in float64, with NaN and inf rows kept
    as torch's."""
    x = (np.random.default_rng(7).standard_normal(shape) * 5 + 2).astype(dtype)
    x.reshape(-1)[0], x.reshape(-1)[-1] = np.nan, np.inf
    got = ember.from_numpy(x).mean(dims, keepdim=keepdim)
    expected = torch.from_numpy(x.astype(np.float64)).mean(dims, keepdim=keepdim)
    assert got.dtype == ember.from_numpy(x).dtype and tuple(got.shape) == tuple(expected.shape)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=tol, atol=tol)


def test_mean_rows_split_across_threads():
    """The parallel kernel (rows split in spans) gives each row's mean, spans of unequal
    length included (whether ``mean_rows`` splits depends on the machine's load)."""
    from ember.ops import _kernels_moments as K
    x = np.random.default_rng(8).standard_normal((7, 5)).astype(np.float32)
    out = np.full(7, np.nan, np.float32)
    K._row_means_parallel(x, out, 3)
    np.testing.assert_allclose(out, x.astype(np.float64).mean(1), rtol=1e-6)
