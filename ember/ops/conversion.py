"""Dtype conversion, copies: ``to``, ``type``, ``float()``..., ``clone``, ``copy_``,
``contiguous``."""

from __future__ import annotations

import numpy as np

from .._device import check_device, is_meta_device
from .._dispatch import Op, dispatch
from .._dtype import cast, casts_like_numpy, from_numpy_dtype
from .._dtype import dtype as _dtype_cls
from .._tensor import Tensor, tensor_method
from . import _meta
from .creation import to_device

__all__ = ["clone", "detach"]


class To(Op):
    """A copy of ``a`` in another dtype (``Tensor.to``, ``.float()``...), laid out as
    ``a`` is."""

    name = "_to_copy"
    signature = "_to_copy(Tensor a, ScalarType np_dtype) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a, np_dtype):
        return _meta.like(a, np_dtype)

    @staticmethod
    def forward(ctx, a, np_dtype):
        ctx.src = a.dtype
        return cast(a, np_dtype)

    @staticmethod
    def backward(ctx, g):
        return g.to(from_numpy_dtype(ctx.src))


class Clone(Op):
    """A C-contiguous copy (``clone``, ``contiguous``)."""

    aten = "clone"
    signature = "clone(Tensor a) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a):
        return _meta.new(a.shape, a.dtype)

    @staticmethod
    def forward(ctx, a):
        return np.array(a, copy=True, order="C")

    @staticmethod
    def backward(ctx, g):
        return g


class Copy(Op):
    """``dst.copy_(src)``: an in-place op whose value is ``src`` (a tensor or a number)
    broadcast to ``dst``."""
    name = "copy"
    aten = "copy"
    signature = "copy(Tensor dst, Tensor src, bool non_blocking=False) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(dst, src, non_blocking=False):
        _check_copy(dst, src)
        return _meta.like(dst)

    @staticmethod
    def forward(ctx, dst, src, non_blocking=False):
        _check_copy(dst, src)
        out = np.empty_like(dst)
        out[...] = src if casts_like_numpy(dst.dtype) else cast(np.asarray(src), dst.dtype)
        return out

    @staticmethod
    def backward(ctx, g):
        from .creation import zeros_like
        return zeros_like(g), g  # the old value of dst is overwritten: zeros


def _check_copy(dst, src) -> None:
    """torch's error when ``src`` does not broadcast to ``dst``'s shape."""
    src_shape = np.shape(src) if not hasattr(src, "shape") else tuple(src.shape)
    if src_shape != dst.shape:
        try:
            shape = np.broadcast_shapes(dst.shape, src_shape)
        except ValueError:
            shape = None
        if shape != dst.shape:
            raise RuntimeError(f"output with shape {list(dst.shape)} doesn't match the "
                               f"broadcast shape {list(shape or src_shape)}")


def clone(input, *, memory_format=None) -> Tensor:
    return dispatch(Clone, input)


tensor_method()(clone)


def detach(input: Tensor) -> Tensor:
    """``input.detach()``: the same memory, outside the graph."""
    return input.detach()


@tensor_method()
def copy_(self, src, non_blocking: bool = False) -> Tensor:
    """Write ``src`` (a tensor broadcast to this one's shape, or a number) into this tensor."""
    if not isinstance(src, Tensor | int | float | complex):
        raise TypeError(f"copy_(): argument 'other' must be Tensor, not {type(src).__name__}")
    return dispatch(Copy.inplace_op(), self, src)


@tensor_method()
def contiguous(self, memory_format=None) -> Tensor:
    return self if self._data.flags.c_contiguous else dispatch(Clone, self)


@tensor_method()
def to(self, *args, **kwargs) -> Tensor:
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; copy=, non_blocking=."""
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for a in args:
        if isinstance(a, _dtype_cls):
            dtype = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, bool):
            pass  # non_blocking positional
        else:
            device = a
    check_device(device)
    if device is not None and is_meta_device(device) != self.is_meta:
        return to_device(self, device, dtype)  # between the CPU and the meta device
    if dtype is None or dtype.np == self._data.dtype:
        return dispatch(Clone, self) if copy else self
    return dispatch(To, self, dtype.np)


def _caster(dtype):
    def cast(self, memory_format=None) -> Tensor:
        return self.to(dtype)
    return cast


for _name, _dt in (("float", "float32"), ("double", "float64"), ("half", "float16"),
                   ("bfloat16", "bfloat16"), ("long", "int64"), ("int", "int32"),
                   ("short", "int16"), ("char", "int8"), ("byte", "uint8"), ("bool", "bool")):
    from .. import _dtype as _dtypes
    tensor_method(_name)(_caster(getattr(_dtypes, _dt)))


@tensor_method("type")
def _type(self, dtype=None, non_blocking: bool = False):
    from .._formatting import type_name
    if dtype is None:
        return type_name(self)
    if isinstance(dtype, str):
        from .._formatting import dtype_from_type_name
        dtype = dtype_from_type_name(dtype)
    elif isinstance(dtype, type):  # a legacy type class: torch.FloatTensor
        dtype = dtype.dtype
    return self.to(dtype)


@tensor_method()
def type_as(self, other) -> Tensor:
    return self.to(other.dtype)
