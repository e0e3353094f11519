"""Layers against torch with the same parameters: forward values and the gradients of
inputs and parameters, float64 and float32, train and eval modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.nn._compare import compare

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4))
X4 = rng.standard_normal((2, 4, 3, 2))
X3 = rng.standard_normal((2, 3, 4))


def _pair(name: str, *args, **kwargs):
    """The torch module and the ember one with torch's parameters copied in."""
    tm = getattr(torch.nn, name)(*args, **kwargs).double()
    em = getattr(ember.nn, name)(*args, **kwargs).double()
    for (nt, pt), (ne, pe) in zip(tm.named_parameters(), em.named_parameters()):
        assert nt == ne and tuple(pt.shape) == tuple(pe.shape)
        pe._data[...] = pt.detach().numpy()
    assert repr(em) == repr(tm)
    return tm, em


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_and_bilinear(bias, dtype):
    tm, em = _pair("Linear", 4, 5, bias=bias)
    params = [p.detach().numpy() for p in tm.parameters()]

    def lin(L, x, w, b=None):
        return L.nn.functional.linear(x, w, b)
    compare(lin, [X] + params, list(range(1 + len(params))), dtype)
    compare(lin, [X3] + params, list(range(1 + len(params))), dtype)
    tb, eb = _pair("Bilinear", 4, 3, 2, bias=bias)
    params = [p.detach().numpy() for p in tb.parameters()]
    compare(lambda L, x1, x2, *p: L.nn.functional.bilinear(x1, x2, *p),
            [X, X[:, :3]] + params, list(range(2 + len(params))), dtype)


def test_module_forward_backward_matches_torch():
    tm, em = _pair("Linear", 4, 5)
    xt = torch.from_numpy(X).requires_grad_()
    xe = ember.from_numpy(X.copy()).requires_grad_()
    tm(xt).pow(2).sum().backward()
    (em(xe) ** 2).sum().backward()
    np.testing.assert_allclose(xe.grad._data, xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    for pt, pe in zip(tm.parameters(), em.parameters()):
        np.testing.assert_allclose(pe.grad._data, pt.grad.numpy(), rtol=1e-10, atol=1e-14)


ACTIVATIONS = [
    ("ReLU", ()), ("ReLU6", ()), ("LeakyReLU", (0.2,)), ("ELU", (0.7,)), ("SELU", ()),
    ("CELU", (1.3,)), ("GELU", ()), ("SiLU", ()), ("Mish", ()), ("Hardtanh", (-0.5, 0.8)),
    ("Hardswish", ()), ("Hardsigmoid", ()), ("Sigmoid", ()), ("Tanh", ()), ("Softmax", (1,)),
    ("LogSoftmax", (1,)), ("Softmin", (0,)), ("Softplus", (2.0, 1.0)), ("Softsign", ()),
    ("Softshrink", (0.3,)), ("Hardshrink", (0.3,)), ("Tanhshrink", ()), ("LogSigmoid", ()),
    ("Threshold", (0.1, -2.0)), ("GLU", ()), ("PReLU", (4,)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,args", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_modules(name, args, dtype):
    tm, em = _pair(name, *args)
    mods = {torch: tm.to(getattr(torch, dtype)), ember: em.to(getattr(ember, dtype))}
    compare(lambda L, x: mods[L](x), [X], [0], dtype, gradgrad=name not in (
        "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid", "Threshold", "Hardshrink"))


def test_gelu_tanh_and_inplace():
    compare(lambda L, x: L.nn.functional.gelu(x, approximate="tanh"), [X], [0])
    for L in (torch, ember):
        x = L.tensor([-1.0, 2.0])
        out = L.nn.ReLU(inplace=True)(x)
        assert out.tolist() == [0.0, 2.0] and x.tolist() == [0.0, 2.0]
    assert repr(ember.nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))


IDX = np.array([[1, 0, 3], [3, 3, 2]])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 3}, {"scale_grad_by_freq": True},
                                    {"padding_idx": -1, "scale_grad_by_freq": True}])
def test_embedding(kwargs, dtype):
    tm, em = _pair("Embedding", 5, 3, **kwargs)
    weight = tm.weight.detach().numpy()
    pad = em.padding_idx
    if pad is not None:
        assert not em.weight._data[pad].any() and not weight[pad].any()
    compare(lambda L, w, i: L.nn.functional.embedding(i, w, pad, scale_grad_by_freq=kwargs.get(
        "scale_grad_by_freq", False)), [weight, IDX], [0], dtype, gradcheck=not kwargs)


def test_embedding_max_norm_and_pretrained():
    w = rng.standard_normal((5, 3)) * 3
    tw, ew = torch.from_numpy(w.copy()), ember.from_numpy(w.copy())
    torch.nn.functional.embedding(torch.from_numpy(IDX), tw, max_norm=1.0)
    ember.nn.functional.embedding(ember.from_numpy(IDX), ew, max_norm=1.0)
    np.testing.assert_allclose(ew._data, tw.numpy(), rtol=1e-6)
    e = ember.nn.Embedding.from_pretrained(ember.from_numpy(w))
    assert not e.weight.requires_grad and repr(e) == "Embedding(5, 3)"


def test_dropout_train_eval_and_validation():
    x = ember.ones(2000)
    d = ember.nn.Dropout(0.3)
    y = d(x)._data
    assert np.isclose(y, 0).sum() + np.isclose(y, 1 / 0.7).sum() == y.size
    assert 0.25 < (y == 0).mean() < 0.35
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        ember.nn.Dropout(1.5)
    with pytest.raises(ValueError):
        ember.nn.functional.dropout(x, p=-0.1)
    assert not ember.nn.functional.dropout(x, p=1.0)._data.any()
    z = ember.nn.functional.dropout2d(ember.ones(4, 50, 3, 3), 0.5)._data
    per_channel = z.reshape(4, 50, 9)
    assert (per_channel == per_channel[..., :1]).all()  # whole channels dropped or kept
    with pytest.raises(RuntimeError):
        ember.nn.functional.dropout1d(ember.ones(2), 0.5)


def test_alpha_dropout_keeps_moments():
    x = ember.from_numpy(rng.standard_normal(200000))
    y = ember.nn.AlphaDropout(0.2)(x)._data
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02


def test_flatten_unflatten_identity():
    x = ember.from_numpy(X4.copy())
    assert tuple(ember.nn.Flatten()(x).shape) == (2, 24)
    assert tuple(ember.nn.Unflatten(1, (2, 2))(x).shape) == (2, 2, 2, 3, 2)
    assert ember.nn.Identity(3, k=1)(x) is x
    assert repr(ember.nn.Unflatten(1, (2, 2))) == repr(torch.nn.Unflatten(1, (2, 2)))
