"""Reductions over dims: sum, mean, ...; ``dim`` may be an int, a sequence or None."""

from __future__ import annotations

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, tensor_method
from ._util import wrap_dims

__all__ = ["sum", "mean"]


def _reduce_dims(dim, ndim: int) -> tuple | None:
    """Axes for NumPy (None: all). A 0-d tensor accepts dim 0 / -1 and reduces nothing."""
    if dim is None or dim == () or dim == []:
        return None
    dims = wrap_dims(dim, ndim)
    return dims if ndim else None


def _expand_back(g: Tensor, shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim and dims:
        g = g.reshape(tuple(1 if i in dims else s for i, s in enumerate(shape)))
    return g.expand(shape)


class Sum(Op):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False, dtype=None):
        dims = _reduce_dims(dim, a.ndim)
        ctx.shape, ctx.dims, ctx.keepdim = a.shape, dims or tuple(range(a.ndim)), keepdim
        if dtype is None and a.dtype.kind in "biu":
            dtype = np.int64  # torch sums integers (and bools) in int64
        return np.asarray(np.sum(a, axis=dims, keepdims=keepdim, dtype=dtype))

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g, ctx.shape, ctx.dims, ctx.keepdim)


class Mean(Op):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False, dtype=None):
        if dtype is None and not (a.dtype.kind in "fc" or a.dtype.name == "bfloat16"):
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {_name(a)}")
        dims = _reduce_dims(dim, a.ndim)
        ctx.shape, ctx.dims, ctx.keepdim = a.shape, dims or tuple(range(a.ndim)), keepdim
        ctx.count = int(np.prod([a.shape[d] for d in dims or range(a.ndim)]))
        out = np.mean(a, axis=dims, keepdims=keepdim, dtype=dtype)
        return np.asarray(out, dtype=dtype or a.dtype)

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g / ctx.count, ctx.shape, ctx.dims, ctx.keepdim)


def _name(a) -> str:
    from ._util import dtype_name
    return dtype_name(a)


def _np_dtype(dtype):
    return None if dtype is None else dtype.np


def sum(input, dim=None, keepdim=False, *, dtype=None) -> Tensor:  # noqa: A001
    return dispatch(Sum, input, dim, keepdim, _np_dtype(dtype))


def mean(input, dim=None, keepdim=False, *, dtype=None) -> Tensor:
    return dispatch(Mean, input, dim, keepdim, _np_dtype(dtype))


tensor_method()(sum)
tensor_method()(mean)
