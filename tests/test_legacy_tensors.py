"""Legacy tensor types (``torch.FloatTensor``, ...) against torch: construction, isinstance,
``Tensor.type`` with a class and the type string."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

NAMES = ["FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "LongTensor",
         "IntTensor", "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor"]


def _same(e: ember.Tensor, t: torch.Tensor) -> None:
    assert str(e.dtype).split(".")[1] == str(t.dtype).split(".")[1]
    assert tuple(e.shape) == tuple(t.shape)
    np.testing.assert_array_equal(e.float().numpy(), t.float().numpy())


@pytest.mark.parametrize("name", NAMES)
def test_constructors_match_torch(name: str) -> None:
    et, tt = getattr(ember, name), getattr(torch, name)
    assert str(et.dtype).split(".")[1] == str(tt.dtype).split(".")[1]
    assert repr(et) == repr(tt)
    _same(et([1, 0, 1]), tt([1, 0, 1]))
    _same(et([[1, 2], [3, 4]]), tt([[1, 2], [3, 4]]))
    _same(et(), tt())
    arr = np.array([[0, 1], [2, 3]], dtype=np.float64)
    _same(et(arr), tt(arr))
    # sized construction: torch leaves memory uninitialised, so compare only dtype and shape
    assert tuple(et(2, 3).shape) == tuple(tt(2, 3).shape) == (2, 3)
    assert tuple(et(ember.Size([4])).shape) == tuple(tt(torch.Size([4])).shape) == (4,)
    assert et(2, 3).dtype == et.dtype


def test_isinstance_checks_dtype() -> None:
    x, tx = ember.ones(2), torch.ones(2)
    for name in NAMES:
        assert isinstance(x, getattr(ember, name)) == isinstance(tx, getattr(torch, name))
    assert isinstance(ember.zeros(2, dtype=ember.int64), ember.LongTensor)
    assert not isinstance([1.0], ember.FloatTensor)


def test_type_conversion_and_name() -> None:
    x = ember.tensor([1.5, -2.0])
    tx = torch.tensor([1.5, -2.0])
    for name in NAMES:
        e, t = x.type(getattr(ember, name)), tx.type(getattr(torch, name))
        _same(e, t)
        assert e.type() == t.type() == f"torch.{name}"
        assert x.type(f"torch.{name}").dtype == e.dtype


def test_tensor_argument_aliases_or_rejects() -> None:
    x = ember.ones(3)
    y = ember.FloatTensor(x)
    y[0] = 5.0
    assert x[0].item() == 5.0  # shares storage, as torch's alias does
    with pytest.raises(TypeError):
        torch.FloatTensor(torch.ones(2, dtype=torch.long))
    with pytest.raises(TypeError):
        ember.FloatTensor(ember.ones(2, dtype=ember.int64))
    with pytest.raises(TypeError, match="must be a sequence"):
        torch.FloatTensor(2.5)
    with pytest.raises(TypeError, match="must be a sequence"):
        ember.FloatTensor(2.5)
