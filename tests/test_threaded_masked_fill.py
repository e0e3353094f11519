"""masked_fill split across threads (``_kernels_elementwise.masked_fill``, inputs of at
least 2**17 elements) against torch: a mask over the trailing dims repeated over the
leading rows (a causal mask over attention scores), the split forced with 2 and 3 parts,
and the cases that stay with NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.ops import _kernels_elementwise as K


@pytest.fixture
def parts(request, monkeypatch):
    monkeypatch.setattr(K, "_parts", lambda size: request.param)
    return request.param


def _spy(monkeypatch) -> list:
    calls = []
    real = K._masked_fill_parallel
    monkeypatch.setattr(K, "_masked_fill_parallel",
                        lambda *a: calls.append(a[-1]) or real(*a))
    return calls


@pytest.mark.parametrize("parts", [2, 3], indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [float("-inf"), 0.0, -0.0, float("nan"), 2.5])
@pytest.mark.parametrize("shape,mask_shape", [((8, 4, 67, 67), (67, 67)),
                                              ((17, 2, 64, 64), (2, 64, 64)),
                                              ((451, 300), (300,))])
def test_split_masked_fill_matches_torch(monkeypatch, parts, dtype, value, shape, mask_shape):
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[::7] = -0.0  # signed zeros kept where the mask is not set
    mask = rng.random(mask_shape) < 0.4
    got = ember.from_numpy(x).masked_fill(ember.from_numpy(mask), value)
    want = torch.from_numpy(x).masked_fill(torch.from_numpy(mask), value)
    assert calls == [parts]
    assert got.dtype == ember.float32 if dtype == np.float32 else ember.float64
    assert got.shape == tuple(want.shape) and got.is_contiguous()
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert np.array_equal(np.signbit(got.numpy()), np.signbit(want.numpy()))


@pytest.mark.parametrize("parts", [2], indirect=True)
def test_split_masked_fill_gradient_matches_torch(monkeypatch, parts):
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 4, 33, 33)).astype(np.float32)
    mask = np.triu(np.ones((33, 33), bool), 1)
    g = rng.standard_normal(x.shape).astype(np.float32)
    e = ember.from_numpy(x.copy()).requires_grad_()
    t = torch.from_numpy(x.copy()).requires_grad_()
    e.masked_fill(ember.from_numpy(mask), float("-inf")).backward(ember.from_numpy(g))
    t.masked_fill(torch.from_numpy(mask), float("-inf")).backward(torch.from_numpy(g))
    assert len(calls) == 2  # forward and the gradient's masked_fill with 0
    np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("parts", [2], indirect=True)
def test_other_operands_stay_with_numpy(monkeypatch, parts):
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 64, 64)).astype(np.float32)
    cases = [
        (x.transpose(0, 2, 1), rng.random((64, 64)) < 0.5),      # strided input
        (x, rng.random((40, 1, 64)) < 0.5),                        # mask broadcast on rows
        (x, rng.random((40, 64, 64)) < 0.5),                       # x's whole shape: 1 row
        (x.astype(np.int64), rng.random((64, 64)) < 0.5),          # integer input
        (x[:1], rng.random((64, 64)) < 0.5),                       # small
    ]
    for a, m in cases:
        got = ember.from_numpy(a).masked_fill(ember.from_numpy(m), 3)
        want = torch.from_numpy(a).masked_fill(torch.from_numpy(m), 3)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.dtype == getattr(ember, str(want.dtype).split(".")[1])
    assert calls == []
