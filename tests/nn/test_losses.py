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


# ---- margin, embedding, distribution losses and pdist -------------------------------------

X2 = rng.standard_normal((3, 4))
X3B = rng.standard_normal((3, 4))
PM1 = np.array([1, -1, 1])
MULTI = np.array([[3, 0, -1, 1], [2, 2, 0, -1], [0, 1, 2, 3]])  # -1 ends a row's targets
VAR = rng.uniform(0.2, 2.0, (3, 4))

COMPOSITE = [
    ("cosine_embedding", lambda L, a, b, y, r: _F(L).cosine_embedding_loss(
        a, b, y, margin=0.2, reduction=r), [X, X2, PM1], [0, 1]),
    ("cosine_embedding_1d", lambda L, a, b, y, r: _F(L).cosine_embedding_loss(
        a, b, y, margin=-0.5, reduction=r), [X[0], X2[0], np.array(-1)], [0, 1]),
    ("margin_ranking", lambda L, a, b, y, r: _F(L).margin_ranking_loss(
        a, b, y, margin=0.3, reduction=r), [X, X2, SIGN], [0, 1, 2]),
    ("triplet", lambda L, a, p, n, r: _F(L).triplet_margin_loss(a, p, n, reduction=r),
     [X, X2, X3B], [0, 1, 2]),
    ("triplet_p1_swap", lambda L, a, p, n, r: _F(L).triplet_margin_loss(
        a, p, n, margin=2.0, p=1, eps=1e-3, swap=True, reduction=r), [X, X2, X3B], [0, 1, 2]),
    ("triplet_1d", lambda L, a, p, n, r: _F(L).triplet_margin_loss(a, p, n, p=3, reduction=r),
     [X[0], X2[0], X3B[0]], [0, 1, 2]),
    ("triplet_distance", lambda L, a, p, n, r: _F(L).triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda u, v: 1 - _F(L).cosine_similarity(u, v), margin=0.5,
        swap=True, reduction=r), [X, X2, X3B], [0, 1, 2]),
    ("triplet_distance_default", lambda L, a, p, n, r: _F(L).triplet_margin_with_distance_loss(
        a, p, n, reduction=r), [X, X2, X3B], [0, 1, 2]),
    ("multilabel_soft_margin", lambda L, x, y, w, r: _F(L).multilabel_soft_margin_loss(
        x, y, w, reduction=r), [X, (PROB > 0.5) * 1.0, W[0]], [0, 1]),
    ("multi_margin", lambda L, x, t, r: _F(L).multi_margin_loss(x, t, reduction=r), [X, T],
     [0]),
    ("multi_margin_p2_weight", lambda L, x, t, w, r: _F(L).multi_margin_loss(
        x, t, p=2, margin=0.7, weight=w, reduction=r), [X, T, CW], [0]),
    ("multi_margin_1d", lambda L, x, t, r: _F(L).multi_margin_loss(x, t, reduction=r),
     [X[0], np.array(2)], [0]),
    ("multilabel_margin", lambda L, x, t, r: _F(L).multilabel_margin_loss(x, t, reduction=r),
     [X, MULTI], [0]),
    ("multilabel_margin_1d", lambda L, x, t, r: _F(L).multilabel_margin_loss(
        x, t, reduction=r), [X[1], MULTI[1]], [0]),
    ("gaussian_nll", lambda L, x, y, v, r: _F(L).gaussian_nll_loss(x, y, v, reduction=r),
     [X, X2, VAR], [0, 1, 2]),
    ("gaussian_nll_full_homoscedastic", lambda L, x, y, v, r: _F(L).gaussian_nll_loss(
        x, y, v, full=True, eps=1e-3, reduction=r), [X, X2, VAR[:, 0]], [0, 1, 2]),
    ("gaussian_nll_broadcast_var", lambda L, x, y, v, r: _F(L).gaussian_nll_loss(
        x, y, v, reduction=r), [X, X2, VAR[:1]], [0, 1, 2]),
    ("gaussian_nll_float_var", lambda L, x, y, r: _F(L).gaussian_nll_loss(
        x, y, 0.5, reduction=r), [X, X2], [0, 1]),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,arrays,grads", COMPOSITE, ids=[p[0] for p in COMPOSITE])
def test_composite_losses(name, fn, arrays, grads, reduction, dtype):
    compare(lambda L, *a: fn(L, *a, reduction), arrays, grads, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_nll_clamped_var(dtype):
    """A variance below ``eps`` is clamped under no_grad: its gradient still flows, as if
    unclamped (so not the finite-difference derivative: no gradcheck)."""
    var = VAR.copy()
    var[0, :2] = 1e-8
    compare(lambda L, x, y, v: _F(L).gaussian_nll_loss(x, y, v, reduction="sum"), [X, X2, var],
            [0, 1, 2], dtype, gradcheck=False)


PDIST_ROWS = np.concatenate([X, X[:1]])  # a repeated row: a zero distance


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, float("inf"), 0.0])
def test_pdist(p, dtype):
    compare(lambda L, x: _F(L).pdist(x, p), [X], [0], dtype, gradcheck=p != 0.0)
    if p in (1.0, 2.0):  # not differentiable at 0: torch's (and ember's) gradient there is 0
        compare(lambda L, x: _F(L).pdist(x, p), [PDIST_ROWS], [0], dtype, gradcheck=False)
    compare(lambda L, x: _F(L).pdist(x, p), [X[:1]], [0], dtype, gradcheck=False)


def _same_error(call):
    """``call(lib)`` raises in torch; ember must raise the same type and message."""
    with pytest.raises(Exception) as expected:
        call(torch)
    with pytest.raises(expected.type) as actual:
        call(ember)
    assert str(actual.value).replace("ember.", "torch.") == str(expected.value)


def _t(lib, a, **kw):
    return lib.tensor(a, **kw)


BAD_LOSS_CALLS = {
    "cosine_target_2d": lambda L: _F(L).cosine_embedding_loss(_t(L, X), _t(L, X), _t(L, W)),
    "cosine_1d_target": lambda L: _F(L).cosine_embedding_loss(_t(L, X[0]), _t(L, X[0]),
                                                              _t(L, PM1)),
    "cosine_0d_target": lambda L: _F(L).cosine_embedding_loss(_t(L, X), _t(L, X), _t(L, 1)),
    "ranking_dims": lambda L: _F(L).margin_ranking_loss(_t(L, X), _t(L, X), _t(L, X[0])),
    "triplet_dims": lambda L: _F(L).triplet_margin_loss(_t(L, X[0]), _t(L, X), _t(L, X)),
    "triplet_margin": lambda L: _F(L).triplet_margin_loss(_t(L, X), _t(L, X), _t(L, X),
                                                          margin=0.0),
    "triplet_reduction": lambda L: _F(L).triplet_margin_with_distance_loss(
        _t(L, X), _t(L, X), _t(L, X), reduction="avg"),
    "multi_margin_p": lambda L: _F(L).multi_margin_loss(_t(L, X), _t(L, T), p=3),
    "multi_margin_weight_2d": lambda L: _F(L).multi_margin_loss(_t(L, X), _t(L, T),
                                                                weight=_t(L, X)),
    "multi_margin_weight_size": lambda L: _F(L).multi_margin_loss(_t(L, X), _t(L, T),
                                                                  weight=_t(L, CW[:3])),
    "multi_margin_target_size": lambda L: _F(L).multi_margin_loss(_t(L, X), _t(L, T[:2])),
    "multi_margin_target_range": lambda L: _F(L).multi_margin_loss(_t(L, X), _t(L, T + 1)),
    "multi_margin_3d": lambda L: _F(L).multi_margin_loss(_t(L, X[None]), _t(L, T)),
    "multi_margin_weight_grad": lambda L: _F(L).multi_margin_loss(
        _t(L, X), _t(L, T), weight=_t(L, CW, requires_grad=True)),
    "multilabel_margin_range": lambda L: _F(L).multilabel_margin_loss(_t(L, X),
                                                                      _t(L, MULTI + 1)),
    "multilabel_margin_size": lambda L: _F(L).multilabel_margin_loss(_t(L, X), _t(L, MULTI[0])),
    "multilabel_margin_empty": lambda L: _F(L).multilabel_margin_loss(_t(L, X[:, :0]),
                                                                      _t(L, MULTI[:, :0])),
    "multilabel_soft_reduction": lambda L: _F(L).multilabel_soft_margin_loss(
        _t(L, X), _t(L, PROB), reduction="avg"),
    "gaussian_negative_var": lambda L: _F(L).gaussian_nll_loss(_t(L, X), _t(L, X), -_t(L, W)),
    "gaussian_negative_float": lambda L: _F(L).gaussian_nll_loss(_t(L, X), _t(L, X), -1.0),
    "gaussian_var_size": lambda L: _F(L).gaussian_nll_loss(_t(L, X), _t(L, X), _t(L, W[:2])),
    "gaussian_reduction": lambda L: _F(L).gaussian_nll_loss(_t(L, X), _t(L, X), _t(L, W),
                                                            reduction="avg"),
    "pdist_1d": lambda L: _F(L).pdist(_t(L, X[0])),
    "pdist_negative_p": lambda L: _F(L).pdist(_t(L, X), -1.0),
    "soft_margin_target_grad": lambda L: _F(L).soft_margin_loss(
        _t(L, X), _t(L, SIGN, requires_grad=True)),
}


@pytest.mark.parametrize("name", list(BAD_LOSS_CALLS))
def test_loss_errors_match_torch(name):
    _same_error(BAD_LOSS_CALLS[name])


def test_soft_margin_target_without_grad_mode_and_node_names():
    x = ember.tensor(X, requires_grad=True)
    with ember.no_grad():
        ember.nn.functional.soft_margin_loss(x, ember.tensor(SIGN, requires_grad=True))
    targets = ember.from_numpy(T.copy())
    for lib_fn in ("cross_entropy", "nll_loss"):
        name = getattr(torch.nn.functional, lib_fn)(torch.tensor(X, requires_grad=True),
                                                    torch.from_numpy(T)).grad_fn.name()
        assert getattr(ember.nn.functional, lib_fn)(x, targets).grad_fn.name() == name


NEW_MODULES = [
    ("CosineEmbeddingLoss", {"margin": 0.1}, [X, X2, PM1]),
    ("MarginRankingLoss", {"margin": 0.2, "reduction": "sum"}, [X, X2, SIGN]),
    ("TripletMarginLoss", {"margin": 0.5, "p": 1.0, "swap": True}, [X, X2, X3B]),
    ("TripletMarginWithDistanceLoss", {"margin": 0.5, "reduction": "none"}, [X, X2, X3B]),
    ("MultiLabelSoftMarginLoss", {"weight": W[0]}, [X, (PROB > 0.5) * 1.0]),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": CW}, [X, T]),
    ("MultiLabelMarginLoss", {"reduction": "none"}, [X, MULTI]),
    ("GaussianNLLLoss", {"full": True, "eps": 1e-3}, [X, X2, VAR]),
]


@pytest.mark.parametrize("name,kw,arrays", NEW_MODULES, ids=[m[0] for m in NEW_MODULES])
def test_new_loss_modules(name, kw, arrays):
    def build(lib):
        return getattr(lib.nn, name)(**{k: lib.tensor(v) if isinstance(v, np.ndarray) else v
                                        for k, v in kw.items()})
    me, mt = build(ember), build(torch)
    if name != "TripletMarginWithDistanceLoss":  # torch's default distance is a submodule
        assert repr(me) == repr(mt)
    np.testing.assert_allclose(me(*[ember.tensor(a) for a in arrays]).numpy(),
                               mt(*[torch.tensor(a) for a in arrays]).numpy(), rtol=1e-12)
