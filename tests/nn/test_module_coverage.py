"""Layers and functions of the nn issue that other files exercise only through their
functional form: loss modules for every reduction, 1-d pooling modules, Dropout2d,
Fold/Unfold, distance modules, Softmax2d and the in-place functional activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.nn._layers_compare import compare

R = np.random.default_rng(3)
X = R.standard_normal((4, 5))
Y = R.standard_normal((4, 5))
P = R.uniform(0.05, 0.95, (4, 5))
T = np.array([0, 4, 2, 1])
X4 = R.standard_normal((2, 5, 3, 2))
T4 = R.integers(0, 5, (2, 3, 2))
SIGN = np.array([1.0, -1.0, 1.0, -1.0])
W = R.uniform(0.5, 2.0, 5)

# (module, constructor kwargs (arrays become tensors), forward arrays, which need grad)
LOSSES = [
    ("MSELoss", {}, [X, Y], [0, 1]),
    ("L1Loss", {}, [X, Y], [0, 1]),
    ("SmoothL1Loss", dict(beta=0.7), [X, Y], [0, 1]),
    ("HuberLoss", dict(delta=0.5), [X, Y], [0, 1]),
    ("CrossEntropyLoss", {}, [X, T], [0]),
    ("CrossEntropyLoss", dict(weight=W, ignore_index=2, label_smoothing=0.2), [X, T], [0]),
    ("CrossEntropyLoss", dict(weight=W, label_smoothing=0.1), [X, P / P.sum(1, keepdims=True)],
     [0, 1]),
    ("CrossEntropyLoss", dict(weight=W, ignore_index=1, label_smoothing=0.3), [X4, T4], [0]),
    ("NLLLoss", dict(weight=W, ignore_index=0), [X, T], [0]),
    ("NLLLoss", {}, [X4, T4], [0]),
    ("BCELoss", dict(weight=W), [P, P[::-1].copy()], [0, 1]),
    ("BCEWithLogitsLoss", dict(weight=W, pos_weight=W), [X, P], [0, 1]),
    ("KLDivLoss", {}, [X, P], [0, 1]),
    ("KLDivLoss", dict(log_target=True), [X, Y], [0, 1]),
    ("CosineEmbeddingLoss", dict(margin=0.2), [X, Y, SIGN], [0, 1]),
    ("MarginRankingLoss", dict(margin=0.1), [X[:, 0].copy(), Y[:, 0].copy(), SIGN], [0, 1]),
    ("TripletMarginLoss", dict(margin=0.5, p=1.5, swap=True), [X, Y, P], [0, 1, 2]),
]


def _build(lib, name: str, kw: dict, dtype: str):
    kw = {k: lib.from_numpy(v.astype(dtype)) if isinstance(v, np.ndarray) else v
          for k, v in kw.items()}
    return getattr(lib.nn, name)(**kw)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name,kw,arrays,grad", LOSSES, ids=[f"{n}-{i}" for i, (n, *_) in
                                                              enumerate(LOSSES)])
def test_loss_modules_every_reduction(name, kw, arrays, grad, reduction, dtype):
    mods = {L: _build(L, name, dict(kw, reduction=reduction), dtype) for L in (torch, ember)}
    assert repr(mods[ember]) == repr(mods[torch])
    assert [n for n, _ in mods[ember].named_buffers()] == \
        [n for n, _ in mods[torch].named_buffers()]
    compare(lambda L, *xs: mods[L](*xs), arrays, grad=grad, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kl_div_module_batchmean(dtype):
    mods = {L: L.nn.KLDivLoss(reduction="batchmean") for L in (torch, ember)}
    compare(lambda L, x, y: mods[L](x, y), [X, P], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,args,kw,shape", [
    ("MaxPool1d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 9)),
    ("MaxPool1d", (2,), dict(return_indices=True, dilation=2), (3, 9)),
    ("MaxPool2d", (2,), dict(return_indices=True), (2, 3, 4, 6)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveMaxPool2d", ((2, 3),), dict(return_indices=True), (2, 3, 5, 7)),
    ("Unfold", ((2, 3),), dict(padding=1, stride=2), (2, 3, 5, 4)),
    ("Fold", ((4, 5), 2), dict(), (2, 12, 12)),
    ("Softmax2d", (), {}, (2, 3, 4, 2)),
])
def test_modules_match_torch(name, args, kw, shape, dtype):
    mods = {L: getattr(L.nn, name)(*args, **kw) for L in (torch, ember)}
    assert repr(mods[ember]) == repr(mods[torch])
    compare(lambda L, x: mods[L](x), [R.standard_normal(shape)], dtype=dtype)


@pytest.mark.parametrize("name,kw", [("CosineSimilarity", dict(dim=0, eps=1e-3)),
                                     ("PairwiseDistance", dict(p=1.5, keepdim=True))])
def test_distance_modules(name, kw):
    mods = {L: getattr(L.nn, name)(**kw) for L in (torch, ember)}
    compare(lambda L, a, b: mods[L](a, b), [X, Y])


def test_softmax2d_rejects_other_ranks():
    for lib in (torch, ember):
        with pytest.raises(ValueError, match="expected input to be 3D or 4D, got 2D"):
            lib.nn.Softmax2d()(lib.ones(2, 3))


def test_dropout2d_module_zeroes_whole_channels_and_is_identity_in_eval():
    m = ember.nn.Dropout2d(0.4)
    y = m(ember.ones(8, 100, 2, 3)).numpy().reshape(8, 100, 6)
    assert (y == y[..., :1]).all()
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.6], rtol=1e-6)
    assert 0.3 < (y[..., 0] == 0).mean() < 0.5  # 800 channels: 0.4 +- 0.05 at 3 sigma
    m.eval()
    x = ember.ones(2, 3, 2, 2)
    assert m(x) is x
    assert repr(m) == repr(torch.nn.Dropout2d(0.4))


@pytest.mark.parametrize("name,args", [("relu_", ()), ("leaky_relu_", (0.2,)), ("elu_", (0.5,)),
                                       ("selu_", ()), ("celu_", (1.5,)),
                                       ("hardtanh_", (-0.5, 0.3)), ("threshold_", (0.1, -2.0))])
def test_inplace_functional_activations(name, args):
    out = {}
    for lib in (torch, ember):
        x = lib.from_numpy(X.copy())
        y = getattr(lib.nn.functional, name)(x, *args)
        assert y is x
        out[lib] = x.numpy()
    np.testing.assert_allclose(out[ember], out[torch], rtol=1e-12)
