"""Shape and view ops: results share memory with their input, as in torch."""

from __future__ import annotations

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, tensor_method
from ._util import wrap_dim

__all__ = ["reshape", "permute", "transpose"]


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _infer_shape(shape: tuple, numel: int, old: tuple) -> tuple:
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class Reshape(Op):
    view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(_infer_shape(shape, a.size, a.shape))

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class View(Reshape):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        new = _infer_shape(shape, a.size, a.shape)
        out = a.view()
        try:
            out.shape = new  # raises rather than copy, as torch's view does
        except AttributeError:
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) "
                "instead.") from None
        return out


class Permute(Op):
    view = True

    @staticmethod
    def forward(ctx, a, dims):
        dims = tuple(wrap_dim(d, a.ndim) for d in dims)
        if len(dims) != a.ndim or len(set(dims)) != len(dims):
            raise RuntimeError(
                f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                f"the length of the desired ordering of dimensions i.e. input.dim() = {a.ndim} "
                f"is not equal to len(dims) = {len(dims)}" if len(dims) != a.ndim else
                "permute(): duplicate dims are not allowed.")
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.permute(tuple(np.argsort(ctx.dims)))


class Expand(Op):
    view = True

    @staticmethod
    def forward(ctx, a, shape):
        lead = len(shape) - a.ndim
        if lead < 0:
            raise RuntimeError(
                f"expand(torch.FloatTensor{{{list(a.shape)}}}, size={list(shape)}): the number "
                "of sizes provided ({len(shape)}) must be greater or equal to the number of "
                f"dimensions in the tensor ({a.ndim})")
        target = []
        for i, s in enumerate(shape):
            old = a.shape[i - lead] if i >= lead else 1
            if s == -1:
                if i < lead:
                    raise RuntimeError(f"The expanded size of the tensor (-1) isn't allowed in a "
                                       f"leading, non-existing dimension {i}")
                s = old
            elif old != 1 and old != s:
                raise RuntimeError(
                    f"The expanded size of the tensor ({s}) must match the existing size "
                    f"({old}) at non-singleton dimension {i}.  Target sizes: {list(shape)}.  "
                    f"Tensor sizes: {list(a.shape)}")
            target.append(s)
        return np.broadcast_to(a, tuple(target))

    @staticmethod
    def backward(ctx, g):
        return g  # the engine sums the gradient back to the input's shape


def reshape(input, shape) -> Tensor:
    return dispatch(Reshape, input, _shape_arg((shape,)))


def permute(input, dims) -> Tensor:
    return dispatch(Permute, input, tuple(dims))


def transpose(input, dim0: int, dim1: int) -> Tensor:
    nd = input._data.ndim
    dims = list(range(nd))
    if nd:
        d0, d1 = wrap_dim(dim0, nd), wrap_dim(dim1, nd)
        dims[d0], dims[d1] = dims[d1], dims[d0]
    return dispatch(Permute, input, tuple(dims))


@tensor_method("reshape")
def _reshape(self, *shape) -> Tensor:
    return dispatch(Reshape, self, _shape_arg(shape))


@tensor_method()
def view(self, *shape) -> Tensor:
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, np.integer)):
        from .conversion import to
        return to(self, shape[0])  # view(dtype)
    return dispatch(View, self, _shape_arg(shape))


@tensor_method("permute")
def _permute(self, *dims) -> Tensor:
    return dispatch(Permute, self, _shape_arg(dims))


@tensor_method()
def expand(self, *shape) -> Tensor:
    return dispatch(Expand, self, _shape_arg(shape))


@tensor_method()
def expand_as(self, other) -> Tensor:
    return dispatch(Expand, self, other._data.shape)


tensor_method()(transpose)


class Squeeze(Op):
    view = True

    @staticmethod
    def forward(ctx, a, dims=None):
        ctx.shape = a.shape
        if dims is None:
            return a.reshape(tuple(s for s in a.shape if s != 1))
        dims = {wrap_dim(d, a.ndim) for d in dims}
        return a.reshape(tuple(s for i, s in enumerate(a.shape) if not (i in dims and s == 1)))

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Unsqueeze(Op):
    view = True

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim = wrap_dim(dim, a.ndim + 1)
        return np.expand_dims(a, dim)

    @staticmethod
    def backward(ctx, g):
        return g.squeeze(ctx.dim)


def squeeze(input, dim=None) -> Tensor:
    if dim is not None and not isinstance(dim, (tuple, list)):
        dim = (dim,)
    return dispatch(Squeeze, input, None if dim is None else tuple(dim))


def unsqueeze(input, dim: int) -> Tensor:
    return dispatch(Unsqueeze, input, dim)


tensor_method()(squeeze)
tensor_method()(unsqueeze)


def _mT(self) -> Tensor:
    if self._data.ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. "
                           f"Got {self._data.ndim}-D tensor.")
    return transpose(self, -2, -1)


Tensor.mT = property(_mT)
__all__ += ["squeeze", "unsqueeze"]
