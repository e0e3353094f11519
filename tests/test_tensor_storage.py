"""What a tensor can hold besides a dense float array: float8 data, no data at all (meta
storage), or another tensor behind a ``__torch_dispatch__`` wrapper subclass."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import ember
from ember._meta import MetaArray

FLOAT8 = ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")
VALUES = [0.0, -0.0, 1.0, 2.5, -3.0, 0.3, 1e-3, 1e-6, 200.0, 239.0, 241.0, 300.0, 447.0,
          449.0, 470.0, 500.0, 6e4, -6e4, 1e5, float("inf"), float("-inf"), float("nan")]


@pytest.mark.parametrize("name", FLOAT8)
@pytest.mark.parametrize("src", ["float32", "float64", "bfloat16", "float16"])
def test_float8_conversion_matches_torch_bit_for_bit(name, src):
    x = torch.tensor(VALUES, dtype=getattr(torch, src))
    e = ember.tensor(VALUES, dtype=getattr(ember, src))
    t8, e8 = x.to(getattr(torch, name)), e.to(getattr(ember, name))
    assert str(e8.dtype) == f"ember.{name}" and e8.element_size() == 1
    assert e8.is_floating_point()
    np.testing.assert_array_equal(e8.view(ember.uint8).numpy(), t8.view(torch.uint8).numpy())
    np.testing.assert_array_equal(e8.float().numpy(), t8.float().numpy())


@pytest.mark.parametrize("name", FLOAT8)
def test_float8_storage_ops_and_promotion_error(name):
    t8 = torch.tensor(VALUES[:8]).to(getattr(torch, name))
    e8 = ember.tensor(VALUES[:8]).to(getattr(ember, name))
    for f in (lambda L, x: L.cat([x, x]), lambda L, x: x.reshape(2, 4).t(),
              lambda L, x: x[1:5], lambda L, x: L.zeros(3, dtype=x.dtype)):
        np.testing.assert_array_equal(f(ember, e8).view(ember.uint8).numpy(),
                                      f(torch, t8).view(torch.uint8).numpy())
    with pytest.raises(RuntimeError, match="Promotion for Float8 Types is not supported"):
        torch.tensor([1.0]) + t8
    with pytest.raises(RuntimeError, match="Promotion for Float8 Types is not supported"):
        ember.tensor([1.0]) + e8
    assert repr(e8).replace("ember", "torch") == repr(t8)


def test_float8_checkpoints_move_between_ember_and_torch():
    x = torch.tensor(VALUES).to(torch.float8_e4m3fn)
    buf = io.BytesIO()
    torch.save({"w": x}, buf)
    got = ember.load(io.BytesIO(buf.getvalue()))["w"]
    assert got.dtype == ember.float8_e4m3fn
    np.testing.assert_array_equal(got.view(ember.uint8).numpy(), x.view(torch.uint8).numpy())
    buf = io.BytesIO()
    ember.save({"w": got}, buf)
    back = torch.load(io.BytesIO(buf.getvalue()))["w"]
    assert back.dtype == torch.float8_e4m3fn
    assert torch.equal(back.view(torch.uint8), x.view(torch.uint8))


class LoggingTensor(ember.Tensor):
    """A wrapper subclass: holds a real tensor, logs every op, runs it on the inner data
    and wraps the results again (torch's LoggingTensor pattern)."""

    log: list = []

    @staticmethod
    def wrap(inner: ember.Tensor) -> LoggingTensor:
        t = ember.Tensor._make_wrapper_subclass(LoggingTensor, inner.shape, dtype=inner.dtype,
                                                strides=inner.stride())
        t.elem = inner
        return t

    __slots__ = ("elem",)

    @classmethod
    def __torch_dispatch__(cls, op, types, args, kwargs):
        cls.log.append(op.aten)

        def unwrap(a):
            if isinstance(a, LoggingTensor):
                return a.elem
            if isinstance(a, list):
                return [unwrap(x) for x in a]
            return a
        out = op.apply(*[unwrap(a) for a in args], **kwargs)
        if isinstance(out, tuple):
            return tuple(cls.wrap(o) for o in out)
        return cls.wrap(out)


def test_wrapper_subclass_sees_ops_before_modes_and_holds_no_memory_of_its_own():
    seen = []

    class Names(ember._dispatch.DispatchMode):
        def __ember_dispatch__(self, op, args, kwargs):
            seen.append(op.aten)
            return op.apply(*args, **kwargs)

    LoggingTensor.log = []
    a = LoggingTensor.wrap(ember.tensor([[1.0, -2.0], [3.0, 4.0]]))
    assert isinstance(a._data, MetaArray) and a.shape == (2, 2) and a.stride() == (2, 1)
    with Names():
        out = (a * 2).relu().sum()
    assert isinstance(out, LoggingTensor)
    assert out.elem.item() == 16.0
    assert LoggingTensor.log == [ember.ops.all_ops()["mul"].aten,
                                 ember.ops.all_ops()["relu"].aten,
                                 ember.ops.all_ops()["sum"].aten]
    # the subclass ran the ops on plain tensors, which the mode then saw
    assert seen == LoggingTensor.log


def test_meta_tensor_has_no_data():
    t = ember.empty(1000, 1000, 1000, device="meta")
    assert t.is_meta and t.device == ember.device("meta") and t.shape == (1000, 1000, 1000)
    assert t.stride() == (10 ** 6, 1000, 1)
    assert isinstance(t._data, MetaArray)


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2"])
@pytest.mark.parametrize("how", ["tensor", "tensor_np", "as_tensor", "copy_", "setitem"])
def test_every_conversion_into_float8_is_torchs(name, how):
    """Not only ``.to()``: construction, ``copy_`` and assignment convert the same way
    (saturating e4m3fn, torch's NaN bits)."""
    values = np.array(VALUES, dtype=np.float32)
    out = []
    for lib in (torch, ember):
        dt = getattr(lib, name)
        if how == "tensor":
            t = lib.tensor(VALUES, dtype=dt)
        elif how == "tensor_np":
            t = lib.tensor(values, dtype=dt)
        elif how == "as_tensor":
            t = lib.as_tensor(values, dtype=dt)
        else:
            t = lib.zeros(len(VALUES), dtype=dt)
            if how == "copy_":
                t.copy_(lib.tensor(values))
            else:
                t[:] = lib.tensor(values)
        out.append(t.view(lib.uint8).numpy())
    np.testing.assert_array_equal(out[1], out[0])
