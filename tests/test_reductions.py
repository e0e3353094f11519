"""Reduction behaviour the conformance table cannot express: where the gradient goes at
ties (finite differences cannot tell), named results, ``out=``, warnings, and the ops'
``meta`` on inputs in every memory order."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

import ember
from ember._dispatch import DispatchMode
from ember._meta import MetaArray

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


# ---- meta on every memory order ------------------------------------------------------------

class _MetaChecker(DispatchMode):
    """Runs each op of ``modules`` and compares its ``meta`` with the real result: shape,
    dtype and strides on dims of size > 1 (NumPy lays results out after the operands'
    memory order, which the recorded conformance samples, mostly C-ordered, rarely vary)."""

    def __init__(self, modules: tuple):
        self.modules, self.checked = modules, set()

    def __ember_dispatch__(self, op, args, kwargs):
        out = op.apply(*args, **kwargs)
        if op.__module__ in self.modules and not op.inplace:
            meta = op.meta(*(_as_meta(a) for a in args), **kwargs)
            real = out if isinstance(out, tuple) else (out,)
            meta = meta if isinstance(meta, tuple) else (meta,)
            for m, r in zip(meta, real):
                r = r._data
                assert (m.shape, m.dtype) == (r.shape, r.dtype), f"{op.name}: {m} vs {r.shape}"
                assert all(n == 1 or a == b for n, a, b in zip(r.shape, r.strides, m.strides)), \
                    f"{op.name}: meta strides {m.strides} != real {r.strides} (shape {r.shape})"
            self.checked.add(op.name)
        return out


def _as_meta(a):
    if isinstance(a, ember.Tensor):
        return MetaArray.like(a._data)
    if isinstance(a, list) and a and isinstance(a[0], ember.Tensor):
        return [MetaArray.like(t._data) for t in a]
    if isinstance(a, np.ndarray):
        return MetaArray.like(a)
    return a


_ORDERS = list(itertools.permutations(range(3)))
_REDUCTIONS = [
    lambda L, x: L.sum(x, (0, 2)), lambda L, x: L.sum(x, 1, keepdim=True),
    lambda L, x: L.nansum(x, 2), lambda L, x: L.mean(x, (1, 2), keepdim=True),
    lambda L, x: L.prod(x, 1), lambda L, x: L.amax(x, (0, 1)), lambda L, x: L.amin(x, 2),
    lambda L, x: L.max(x, 0).values, lambda L, x: L.min(x, 2, keepdim=True).values,
    lambda L, x: L.argmax(x, 1).float(), lambda L, x: L.var(x, 1), lambda L, x: L.std(x, 0),
    lambda L, x: L.linalg.vector_norm(x, 2, (0, 2)),
    lambda L, x: L.linalg.vector_norm(x, float("inf"), 1),
    lambda L, x: L.linalg.vector_norm(x, 3, 2, True), lambda L, x: L.logsumexp(x, 1),
    lambda L, x: L.cumsum(x, 1), lambda L, x: L.cumprod(x, 2), lambda L, x: L.cummax(x, 0).values,
    lambda L, x: L.median(x, 1).values, lambda L, x: L.median(x),
    lambda L, x: L.softmax(x, 1), lambda L, x: L.log_softmax(x, 0),
    lambda L, x: L.all(x > 0, 1).float(), lambda L, x: L.count_nonzero(x > 0, (0, 1)).float(),
    lambda L, x: L.nanmean(x, 2),
]


@pytest.mark.parametrize("order", _ORDERS, ids=str)
@pytest.mark.parametrize("k", range(len(_REDUCTIONS)))
def test_meta_matches_every_memory_order(k, order):
    """The reductions' meta functions (forward and every op of the backward) on inputs laid
    out in each of the six memory orders of a 3-D array."""
    base = np.random.default_rng(k).uniform(-1, 1, (4, 3, 5)).transpose(np.argsort(order))
    x = ember.from_numpy(np.ascontiguousarray(base).transpose(order)).requires_grad_()
    with _MetaChecker(("ember.ops.reductions",)) as checker:
        out = _REDUCTIONS[k](ember, x)
        if out.requires_grad:
            ember.autograd.grad(out, x, ember.ones_like(out))
    assert checker.checked


_W = np.random.default_rng(1).uniform(-1, 1, (2, 5))
_PRODUCTS = [
    lambda L, x: x @ L.from_numpy(_W.T.copy()), lambda L, x: x.mT @ x,
    lambda L, x: L.matmul(x, L.from_numpy(_W[0].copy())),
    lambda L, x: L.nn.functional.linear(x, L.from_numpy(_W.copy()), L.from_numpy(_W[:, 0].copy())),
    lambda L, x: L.einsum("ijk,lk->jil", x, L.from_numpy(_W.copy())),
    lambda L, x: L.einsum("ijk->kj", x), lambda L, x: L.baddbmm(x[:, :, :3], x, x.mT[:, :, :3]),
    lambda L, x: x.to(L.float32).double(), lambda L, x: x.clone(),
    lambda L, x: x[:, ::2].contiguous(),
    lambda L, x: L.linalg.matrix_norm(x, "nuc"),
]


@pytest.mark.parametrize("order", _ORDERS, ids=str)
@pytest.mark.parametrize("k", range(len(_PRODUCTS)))
def test_meta_of_products_and_copies_every_memory_order(k, order):
    """The same for matrix products, einsum, conversions and svdvals."""
    base = np.random.default_rng(k).uniform(-1, 1, (4, 3, 5)).transpose(np.argsort(order))
    x = ember.from_numpy(np.ascontiguousarray(base).transpose(order)).requires_grad_()
    with _MetaChecker(("ember.ops.linalg", "ember.ops.conversion", "ember.linalg")) as checker:
        out = _PRODUCTS[k](ember, x)
        ember.autograd.grad(out, x, ember.ones_like(out))
    assert checker.checked
