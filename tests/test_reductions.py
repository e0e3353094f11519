"""Reduction behaviour the conformance table cannot express: where the gradient goes at
ties (finite differences cannot tell), named results, ``out=``, and warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember

TIES = np.array([[1.0, 3.0, 3.0, 0.0, 3.0], [2.0, 2.0, 0.0, 2.0, -1.0]])


@pytest.mark.parametrize("call", [
    lambda L, x: L.max(x, 1).values,
    lambda L, x: x.min(dim=0, keepdim=True).values,
    lambda L, x: L.cummax(x, 1).values,
    lambda L, x: x.cummin(0).values,
    lambda L, x: L.median(x, 1).values,
    lambda L, x: x.max(),
    lambda L, x: L.amin(x, 1),
    lambda L, x: L.median(x),
    lambda L, x: L.linalg.vector_norm(x, float("inf"), dim=1),
], ids=["max_dim", "min_dim", "cummax", "cummin", "median_dim", "max", "amin", "median",
        "inf_norm"])
def test_gradient_at_ties_matches_torch(call):
    t = torch.from_numpy(TIES.copy()).requires_grad_()
    e = ember.from_numpy(TIES.copy()).requires_grad_()
    t_out, e_out = call(torch, t), call(ember, e)
    cot = np.random.default_rng(0).standard_normal(tuple(t_out.shape))
    t_out.backward(torch.from_numpy(cot))
    e_out.backward(ember.from_numpy(cot.copy()))
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name,fields", [("max", ("values", "indices")),
                                         ("median", ("values", "indices")),
                                         ("cummin", ("values", "indices"))])
def test_named_results(name, fields):
    x = ember.tensor([[1.0, 5.0, 2.0]])
    result = getattr(ember, name)(x, 1)
    assert type(result).__name__ == name and result._fields == fields
    values, indices = result
    assert values is result[0] and indices.dtype == ember.int64
    minmax = ember.aminmax(x)
    assert (minmax.min.item(), minmax.max.item()) == (1.0, 5.0)


def test_out_argument():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = ember.empty(5)
    result = ember.sum(x, 0, out=out)
    assert result is out and out.shape == (2,) and out.tolist() == [4.0, 6.0]
    ember.cumsum(x, 1, out=out)
    assert out.tolist() == [[1.0, 3.0], [3.0, 7.0]]


def test_var_warns_without_degrees_of_freedom():
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        assert np.isnan(ember.tensor([1.0]).var().item())


def test_softmax_implicit_dim_warns_and_picks_torchs_dim():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        e = ember.softmax(ember.from_numpy(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.nn.functional.softmax(torch.from_numpy(x))
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12)


def test_prod_hessian_with_zeros_matches_torch():
    a = np.array([2.0, 0.0, -1.5, 0.0, 3.0])
    t = torch.autograd.functional.hessian(lambda v: v.prod(), torch.from_numpy(a))
    e = ember.autograd.functional.hessian(lambda v: v.prod(), ember.from_numpy(a.copy()))
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12)
