"""Every loss against torch: values, gradients (float32/float64), gradcheck and
gradgradcheck (float64), for each reduction and option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.nn._compare import compare

REDUCTIONS = ["none", "mean", "sum"]
DTYPES = ["float64", "float32"]
rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4))
Y = rng.standard_normal((3, 4))
PROB = rng.uniform(0.05, 0.95, (3, 4))
SIGN = np.where(rng.random((3, 4)) > 0.5, 1.0, -1.0)
W = rng.uniform(0.5, 2.0, (3, 4))


def _F(lib):
    return lib.nn.functional


POINTWISE = [
    ("mse", lambda L, x, y, r: _F(L).mse_loss(x, y, reduction=r), [X, Y], [0, 1]),
    ("mse_weight", lambda L, x, y, w, r: _F(L).mse_loss(x, y, reduction=r, weight=w),
     [X, Y, W], [0, 1]),
    ("l1", lambda L, x, y, r: _F(L).l1_loss(x, y, reduction=r), [X, Y], [0, 1]),
    ("smooth_l1", lambda L, x, y, r: _F(L).smooth_l1_loss(x, y, reduction=r, beta=0.7),
     [X, Y], [0, 1]),
    ("smooth_l1_beta0", lambda L, x, y, r: _F(L).smooth_l1_loss(x, y, reduction=r, beta=0.0),
     [X, Y], [0, 1]),
    ("huber", lambda L, x, y, r: _F(L).huber_loss(x, y, reduction=r, delta=0.8), [X, Y],
     [0, 1]),
    ("bce", lambda L, x, y, r: _F(L).binary_cross_entropy(x, y, reduction=r), [PROB, PROB[::-1]],
     [0, 1]),
    ("bce_weight", lambda L, x, y, w, r: _F(L).binary_cross_entropy(x, y, w, reduction=r),
     [PROB, PROB[::-1], W], [0, 1]),
    ("bce_logits", lambda L, x, y, r: _F(L).binary_cross_entropy_with_logits(x, y, reduction=r),
     [X, PROB], [0, 1]),
    ("bce_logits_pos_weight", lambda L, x, y, w, p, r: _F(L).binary_cross_entropy_with_logits(
        x, y, w, reduction=r, pos_weight=p), [X, PROB, W, W[0]], [0, 1]),
    ("soft_margin", lambda L, x, y, r: _F(L).soft_margin_loss(x, y, reduction=r), [X, SIGN],
     [0]),
    ("hinge_embedding", lambda L, x, y, r: _F(L).hinge_embedding_loss(x, y, margin=0.5,
                                                                      reduction=r),
     [X, SIGN], [0]),
    ("kl_div", lambda L, x, y, r: _F(L).kl_div(x, y, reduction=r), [X, PROB], [0, 1]),
    ("kl_div_log_target", lambda L, x, y, r: _F(L).kl_div(x, y, reduction=r, log_target=True),
     [X, Y], [0, 1]),
    ("poisson", lambda L, x, y, r: _F(L).poisson_nll_loss(x, y, reduction=r), [X, PROB * 3],
     [0, 1]),
    ("poisson_full_linear", lambda L, x, y, r: _F(L).poisson_nll_loss(
        x, y, log_input=False, full=True, reduction=r), [PROB, PROB * 3], [0, 1]),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,arrays,grads", POINTWISE, ids=[p[0] for p in POINTWISE])
def test_pointwise_losses(name, fn, arrays, grads, reduction, dtype):
    compare(lambda L, *a: fn(L, *a, reduction), arrays, grads, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_div_batchmean(dtype):
    compare(lambda L, x, y: _F(L).kl_div(x, y, reduction="batchmean"), [X, PROB], [0, 1], dtype)


T = np.array([1, 0, 3])
T_IGN = np.array([1, -100, 3])
X3 = rng.standard_normal((2, 3, 2, 2))
T3 = rng.integers(0, 3, (2, 2, 2))
T3[0, 0, 1] = 2 - 100  # ignore_index below
CW = np.array([0.5, 1.0, 2.0, 1.5])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy(reduction, smoothing, dtype):
    def f(L, x, t, w=None, **kw):
        return _F(L).cross_entropy(x, t, w, reduction=reduction, label_smoothing=smoothing, **kw)
    compare(f, [X, T], [0], dtype)
    compare(f, [X, T_IGN, CW], [0], dtype)
    compare(lambda L, x, t: f(L, x, t, ignore_index=-98), [X3, T3], [0], dtype)
    compare(f, [X, PROB / PROB.sum(1, keepdims=True), CW], [0, 1], dtype)
    compare(f, [X[0], np.array(2)], [0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction, dtype):
    def f(L, x, t, w=None, **kw):
        return _F(L).nll_loss(x, t, w, reduction=reduction, **kw)
    compare(f, [X, T_IGN, CW], [0], dtype)
    compare(lambda L, x, t: f(L, x, t, ignore_index=-98), [X3, T3], [0], dtype)


def test_loss_modules_match_functional_and_errors():
    x, t = ember.from_numpy(X.copy()), ember.from_numpy(T.copy())
    tx, tt = torch.from_numpy(X), torch.from_numpy(T)
    for name, kw in [("CrossEntropyLoss", {"label_smoothing": 0.1}), ("NLLLoss", {}),
                     ("CrossEntropyLoss", {"reduction": "sum"})]:
        np.testing.assert_allclose(getattr(ember.nn, name)(**kw)(x, t)._data,
                                   getattr(torch.nn, name)(**kw)(tx, tt).numpy(), rtol=1e-12)
    assert repr(ember.nn.MSELoss()) == repr(torch.nn.MSELoss())
    with pytest.raises(IndexError):
        ember.nn.functional.cross_entropy(x, ember.tensor([0, 1, 7]))
    with pytest.raises(ValueError):
        ember.nn.functional.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError):
        ember.nn.functional.binary_cross_entropy(ember.from_numpy(PROB), ember.ones(4))
    with pytest.warns(UserWarning):
        assert ember.nn.functional.l1_loss(x, x, size_average=False).item() == 0
