"""Shape ops. Views (reshape, transpose, narrow, diagonal, split, as_strided...) share memory
with their input, as in torch; copies (cat, stack, repeat, flip, roll...) make new arrays.

A view op is its NumPy view function plus a backward that writes the gradient into the
matching view of a zero tensor (``_ViewScatter``), whose own backward is the view again,
so gradients of any order come for free. Views that may overlap themselves (``unfold``
with step < size, ``as_strided``) scatter-add through a map of element positions.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from .._dispatch import Op, check_out_dtype, dispatch, dispatch_out
from .._dtype import can_cast, from_numpy_dtype, is_half, promote_types
from .._meta import MetaArray
from .._state import STATE
from .._tensor import Size, Tensor, _make, _root_array, tensor_method
from . import _meta
from ._util import dtype_name, wrap_dim, wrap_dims

__all__ = ["reshape", "permute", "transpose", "swapaxes", "swapdims", "t", "adjoint",
           "broadcast_to", "squeeze", "unsqueeze", "flatten", "unflatten", "ravel", "narrow",
           "select", "unbind", "chunk", "split", "tensor_split", "hsplit", "vsplit", "dsplit",
           "as_strided", "movedim", "moveaxis", "diagonal", "cat", "concat", "concatenate",
           "stack", "hstack", "vstack", "dstack", "column_stack", "row_stack", "tile", "flip",
           "fliplr", "flipud", "roll", "rot90", "diag", "diag_embed", "tril_indices",
           "triu_indices", "meshgrid", "broadcast_tensors", "broadcast_shapes", "atleast_1d",
           "atleast_2d", "atleast_3d", "block_diag", "cartesian_prod", "as_strided_"]


# ---- argument helpers ------------------------------------------------------------------------

def _shape_arg(shape) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` / ``f([2, 3])`` / ``f(torch.Size(...))`` alike, as a
    tuple of Python ints (sizes of Python ints, the usual case, taken as they are)."""
    if len(shape) == 1 and type(shape[0]) is not int \
            and not isinstance(shape[0], (int, np.integer, Tensor)):
        shape = shape[0]
    for s in shape:
        if type(s) is not int:
            return tuple(int(s) for s in shape)
    return shape if type(shape) is tuple else tuple(shape)


def _dims_arg(dims) -> tuple:
    return (int(dims),) if isinstance(dims, (int, np.integer)) else tuple(int(d) for d in dims)


def _infer_shape(shape: tuple, numel: int) -> tuple:
    """``shape`` with its -1 (if any) inferred from ``numel``, with torch's errors."""
    if -1 not in shape and math.prod(shape) == numel and (not shape or min(shape) >= 0):
        return shape  # the usual case, checked in C
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


# ---- reshaping views -------------------------------------------------------------------------

def _view_strides(shape: tuple, strides: tuple, new: tuple) -> tuple | None:
    """torch's ``computeStride``: the element strides of ``new`` viewing memory laid out as
    (``shape``, ``strides``), or None when no view exists. Torch's choice also fixes the
    strides of size-1 dims, which NumPy's reshape picks differently."""
    if not shape:
        return (1,) * len(new)
    if 0 in shape:
        if shape == new:
            return strides
        out, acc = [], 1
        for n in reversed(new):
            out.append(acc)
            acc *= max(n, 1)
        return tuple(reversed(out))
    out = [0] * len(new)
    view_d, base, tensor_numel, view_numel = len(new) - 1, strides[-1], 1, 1
    for d in reversed(range(len(shape))):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * base):
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                out[view_d] = view_numel * base
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                base, tensor_numel, view_numel = strides[d - 1], 1, 1
    return tuple(out) if view_d == -1 else None


def _reshape_strides(a, new: tuple) -> tuple | None:
    """Byte strides of ``a`` (an array or a MetaArray) viewed with shape ``new`` as torch
    lays the view out, or None when that needs a copy."""
    return _byte_view_strides(a.shape, tuple(a.strides), a.itemsize, tuple(new))


@functools.lru_cache(maxsize=1024)
def _byte_view_strides(shape: tuple, strides: tuple, item: int, new: tuple) -> tuple | None:
    """``_reshape_strides`` from the layout in bytes, remembered: a model views the same
    few layouts every call (the heads of each layer's q, k and v: a lookup, 0.2 us, for
    2-3 us of ``_view_strides``)."""
    strides = _view_strides(shape, tuple(s // item for s in strides), new)
    return None if strides is None else tuple(s * item for s in strides)


def _view_array(a: np.ndarray, new: tuple) -> np.ndarray | None:
    """``a`` viewed with shape ``new`` and torch's strides, or None when that needs a copy.
    A non-empty C-contiguous ``a`` is NumPy's reshape (the same strides, size-1 dims
    included, computed in C). Otherwise NumPy's reshape finds the view too wherever torch
    does, in C (a view of a split piece: 0.2 us instead of 3 for ``_strided``); only its
    strides of size-1 dims may differ from torch's, and then ``_strided`` builds the view."""
    if a.flags.c_contiguous and a.size:
        return a.reshape(new)
    strides = _reshape_strides(a, new)
    if strides is None:
        return None
    if a.size:
        out = a.reshape(new)
        if out.strides == strides and out.base is _root_array(a):
            return out
    return _strided(a, 0, new, strides)


_VIEW_ERROR = ("view size is not compatible with input tensor's size and stride (at least one "
               "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")


class Reshape(Op):
    """A view when the strides allow one, a copy otherwise (as torch decides)."""
    view = True
    kind = "view"
    signature = "reshape(Tensor(a) a, int[] shape) -> Tensor(a)"

    @staticmethod
    def meta(a, shape):
        new = _infer_shape(shape, a.size)
        strides = _reshape_strides(a, new)
        return MetaArray(new, a.dtype, strides)  # a C-contiguous copy when strides is None

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        new = _infer_shape(shape, a.size)
        out = _view_array(a, new)
        return np.ascontiguousarray(a).reshape(new) if out is None else out

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class View(Reshape):
    signature = "view(Tensor(a) a, int[] shape) -> Tensor(a)"

    @staticmethod
    def meta(a, shape):
        new = _infer_shape(shape, a.size)
        strides = _reshape_strides(a, new)
        if strides is None:
            raise RuntimeError(_VIEW_ERROR)
        return MetaArray(new, a.dtype, strides)

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        out = _view_array(a, _infer_shape(shape, a.size))
        if out is None:
            raise RuntimeError(_VIEW_ERROR)
        return out


def _check_view_dtype(a, new: np.dtype) -> None:
    """torch's checks on ``x.view(dtype)`` with an element size that differs."""
    if new.itemsize == a.itemsize:
        return
    if a.ndim == 0:
        raise RuntimeError("self.dim() cannot be 0 to view " + dtype_name(a) + " as " +
                           from_numpy_dtype(new).scalar_name + " (different element sizes)")
    if a.strides[-1] != a.itemsize and a.shape[-1] != 1:
        raise RuntimeError("self.stride(-1) must be 1 to view " + dtype_name(a) + " as " +
                           from_numpy_dtype(new).scalar_name + " (different element sizes), "
                           "but got " + str(a.strides[-1] // a.itemsize))
    ratio = new.itemsize // a.itemsize
    if new.itemsize > a.itemsize and a.shape[-1] % ratio:
        raise RuntimeError(
            f"self.size(-1) must be divisible by {ratio} to view {dtype_name(a)} as "
            f"{from_numpy_dtype(new).scalar_name} (different element sizes), but got "
            f"{a.shape[-1]}")


class ViewDtype(Op):
    """``x.view(dtype)``: the same bytes read as another dtype (last dim rescaled)."""
    aten = "view"
    signature = "view.dtype(Tensor(a) a, dtype np_dtype) -> Tensor(a)"
    kind = "view"
    view = True
    differentiable = False

    @staticmethod
    def meta(a, np_dtype):
        new = np.dtype(np_dtype)
        _check_view_dtype(a, new)
        if new.itemsize == a.itemsize:
            return MetaArray(a.shape, new, a.strides)
        last = a.shape[-1] * a.itemsize // new.itemsize
        return MetaArray(a.shape[:-1] + (last,), new, a.strides[:-1] + (new.itemsize,))

    @staticmethod
    def forward(ctx, a, np_dtype):
        new = np.dtype(np_dtype)
        _check_view_dtype(a, new)
        return a.view(new)


def _permutation(ndim: int, dims: tuple) -> tuple:
    """``dims`` wrapped, with torch's checks that they are a permutation of ``ndim`` dims."""
    return _checked_permutation(ndim, dims if type(dims) is tuple else tuple(dims))


@functools.lru_cache(maxsize=256)
def _checked_permutation(ndim: int, dims: tuple) -> tuple:
    """``_permutation``, remembered: a model permutes with the same few dims every call, and
    a lookup costs a tenth of wrapping and checking them again."""
    if len(dims) != ndim:
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match "
            "the length of the desired ordering of dimensions i.e. input.dim() = "
            f"{ndim} is not equal to len(dims) = {len(dims)}")
    dims = tuple(wrap_dim(d, ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return dims


@functools.lru_cache(maxsize=256)
def _inverse_permutation(dims: tuple) -> tuple:
    """The permutation that undoes ``dims`` (remembered, as ``_checked_permutation``)."""
    inverse = [0] * len(dims)
    for i, d in enumerate(dims):
        inverse[d] = i
    return tuple(inverse)


class Permute(Op):
    signature = "permute(Tensor(a) a, int[] dims) -> Tensor(a)"
    kind = "view"
    view = True

    @staticmethod
    def meta(a, dims):
        dims = _permutation(a.ndim, dims)
        return MetaArray(tuple(a.shape[d] for d in dims), a.dtype,
                         tuple(a.strides[d] for d in dims))

    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims = _permutation(a.ndim, dims)
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.permute(_inverse_permutation(ctx.dims))


class Expand(Op):
    signature = "expand(Tensor(a) a, int[] shape) -> Tensor(a)"
    kind = "view"
    view = True

    @staticmethod
    def meta(a, shape):
        return _meta_view(a, *_expand_geometry(a, shape))

    @staticmethod
    def forward(ctx, a, shape):
        return expand_array(a, shape)

    @staticmethod
    def backward(ctx, g):
        return g  # the engine sums the gradient back to the input's shape


def _meta_view(a, shape: tuple, strides: tuple) -> MetaArray:
    """The MetaArray of a view of ``a`` with ``shape`` and byte ``strides``."""
    return MetaArray(shape, a.dtype, strides)


def expand_array(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``a`` broadcast to ``shape`` (-1 keeps a size) as a view, with torch's errors."""
    # np.broadcast_to would be read-only; torch's expanded views can be written to.
    return _strided(a, 0, *_expand_geometry(a, shape))


def _expand_geometry(a, shape: tuple) -> tuple:
    """(shape, byte strides) of ``a`` (an array or a MetaArray) expanded to ``shape``."""
    lead = len(shape) - a.ndim
    if lead < 0:
        raise RuntimeError(
            f"expand(torch.{dtype_name(a)}Tensor{{{list(a.shape)}}}, size={list(shape)}): "
            f"the number of sizes provided ({len(shape)}) must be greater or equal to the "
            f"number of dimensions in the tensor ({a.ndim})")
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
    # torch's strides (inferExpandGeometry): 0 where a dim grows; a new leading dim of size 1
    # gets the extent of the dim after it.
    strides = [0] * len(target)
    for i in reversed(range(len(target))):
        if i >= lead:
            old, stride = a.shape[i - lead], a.strides[i - lead]
        else:
            old, stride = 1, target[i + 1] * strides[i + 1] if i + 1 < len(target) else 0
        strides[i] = stride if old == target[i] else 0
    return tuple(target), tuple(strides)


def _squeezed(shape: tuple, dims) -> tuple:
    """Whether each dim of ``shape`` goes: size 1 and in ``dims`` (all dims when None)."""
    if dims is None:
        return tuple(s == 1 for s in shape)
    dims = {wrap_dim(d, len(shape)) for d in dims}
    return tuple(s == 1 and i in dims for i, s in enumerate(shape))


class Squeeze(Op):
    aten = "squeeze"
    signature = "squeeze.dims(Tensor(a) a, int[]? dims=None) -> Tensor(a)"
    kind = "view"
    view = True

    @staticmethod
    def meta(a, dims=None):
        keep = [i for i, gone in enumerate(_squeezed(a.shape, dims)) if not gone]
        return MetaArray(tuple(a.shape[i] for i in keep), a.dtype,
                         tuple(a.strides[i] for i in keep))

    @staticmethod
    def forward(ctx, a, dims=None):
        ctx.shape = a.shape
        # an index 0 drops a dim and keeps the others' strides (as torch's squeeze)
        return a[tuple(0 if gone else slice(None) for gone in _squeezed(a.shape, dims)) +
                 (Ellipsis,)]

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


def _unsqueeze_geometry(a, dim: int) -> tuple:
    """(shape, byte strides) of ``a`` with a new dim at ``dim`` (wrapped); torch's stride
    for it is the extent of the dim it precedes (the itemsize if last)."""
    new = a.shape[dim] * a.strides[dim] if dim < a.ndim else a.itemsize
    return a.shape[:dim] + (1,) + a.shape[dim:], a.strides[:dim] + (new,) + a.strides[dim:]


class Unsqueeze(Op):
    signature = "unsqueeze(Tensor(a) a, int dim) -> Tensor(a)"
    kind = "view"
    view = True

    @staticmethod
    def meta(a, dim):
        return _meta_view(a, *_unsqueeze_geometry(a, wrap_dim(dim, a.ndim + 1)))

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim = wrap_dim(dim, a.ndim + 1)
        return _strided(a, 0, *_unsqueeze_geometry(a, dim))

    @staticmethod
    def backward(ctx, g):
        return g.squeeze(ctx.dim)


def reshape(input: Tensor, shape) -> Tensor:
    return dispatch(Reshape, input, _shape_arg((shape,)))


def permute(input: Tensor, dims) -> Tensor:
    return dispatch(Permute, input, _dims_arg(dims))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return dispatch(Permute, input, _swapped(input._data.ndim, dim0, dim1))


@functools.lru_cache(maxsize=256)
def _swapped(nd: int, dim0: int, dim1: int) -> tuple:
    """The permutation of ``nd`` dims that swaps ``dim0`` and ``dim1`` (remembered, as
    ``_checked_permutation``)."""
    dims = list(range(nd))
    d0, d1 = wrap_dim(dim0, nd), wrap_dim(dim1, nd)
    if nd:
        dims[d0], dims[d1] = dims[d1], dims[d0]
    return tuple(dims)


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:
    """Transpose of a matrix; 0-D and 1-D tensors are returned as they are (a view)."""
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return transpose(input, 0, 1) if nd == 2 else dispatch(Permute, input, tuple(range(nd)))


def _conj_if_complex(x: Tensor) -> Tensor:
    if x._data.dtype.kind != "c":
        return x
    return x.conj()  # (a Tensor method: the elementwise ops sit beside this module)


def adjoint(input: Tensor) -> Tensor:
    """Conjugate transpose of the last two dims."""
    return _conj_if_complex(_matrix_transpose(input, "adjoint() is only supported on matrices "
                                                     "or batches of matrices."))


def _matrix_transpose(x: Tensor, message: str) -> Tensor:
    if x._data.ndim < 2:
        raise RuntimeError(f"{message} Got {x._data.ndim}-D tensor.")
    return transpose(x, -2, -1)


def broadcast_to(input: Tensor, size) -> Tensor:
    return dispatch(Expand, input, _shape_arg((size,)))


def squeeze(input: Tensor, dim=None) -> Tensor:
    return dispatch(Squeeze, input, None if dim is None else _dims_arg(dim))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    return dispatch(Unsqueeze, input, dim)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    shape = input._data.shape
    if not shape:
        return dispatch(Reshape, input, (1,))
    start, end = wrap_dim(start_dim, len(shape)), wrap_dim(end_dim, len(shape))
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if start == end:
        return input
    new = shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]
    return dispatch(Reshape, input, new)


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    shape = input._data.shape
    d = wrap_dim(dim, len(shape))
    sizes = _dims_arg(sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    if sizes.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = math.prod(s for s in sizes if s != -1)
    if (-1 not in sizes and known != shape[d]) or (-1 in sizes and (
            known == 0 or shape[d] % known)):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({shape[d]}) in the input tensor")
    # Infer -1 within the dim: left to reshape, it is ambiguous when another dim is 0.
    sizes = tuple(shape[d] // known if s == -1 else s for s in sizes)
    return dispatch(Reshape, input, shape[:d] + sizes + shape[d + 1:])


def ravel(input: Tensor) -> Tensor:
    return dispatch(Reshape, input, (-1,))


def movedim(input: Tensor, source, destination) -> Tensor:
    nd = input._data.ndim
    src, dst = _dims_arg(source), _dims_arg(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                           f"dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    src_w = [wrap_dim(d, nd) for d in src]
    dst_w = [wrap_dim(d, nd) for d in dst]
    for name, given, wrapped in (("source", src, src_w), ("destination", dst, dst_w)):
        if len(set(wrapped)) != len(wrapped):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(given)})")
    rest = iter(d for d in range(nd) if d not in src_w)
    moved = dict(zip(dst_w, src_w))
    return dispatch(Permute, input, tuple(moved[i] if i in moved else next(rest)
                                          for i in range(nd)))


moveaxis = movedim


# ---- sub-views: narrow, select, diagonal, unfold, as_strided ---------------------------------

class _View(Op):
    """A view given by ``geometry(array, *params)`` -- its byte offset, shape and byte
    strides, computed the same way for arrays and MetaArrays -- on parameters that
    ``check`` validated and normalised. Backward writes the gradient into that view of
    zeros."""

    abstract = True
    view = True
    kind = "view"

    @classmethod
    def meta(cls, a, *params):
        _, shape, strides = cls.geometry(a, *cls.check(a.shape, *params))
        return _meta_view(a, shape, strides)

    @classmethod
    def forward(cls, ctx, a, *params):
        params = cls.check(a.shape, *params)
        ctx.shape, ctx.params = a.shape, params
        return cls.view_of(a, *params)

    @classmethod
    def backward(cls, ctx, g):
        if cls.overlaps(*ctx.params):
            return dispatch(_IndexScatter, g, cls.positions(ctx.shape, *ctx.params), ctx.shape)
        return dispatch(_ViewScatter, g, ctx.shape, cls, ctx.params)

    @staticmethod
    def check(shape, *params):
        return params

    @staticmethod
    def geometry(a, *params) -> tuple:
        """(byte offset, shape, byte strides) of the view of ``a``."""
        raise NotImplementedError

    @classmethod
    def view_of(cls, a, *params):
        return _strided(a, *cls.geometry(a, *params))

    @staticmethod
    def overlaps(*params) -> bool:
        """Whether the view may alias an input element more than once."""
        return False

    @classmethod
    def positions(cls, shape, *params) -> np.ndarray:
        """Flat input position of each output element."""
        return cls.view_of(np.arange(math.prod(shape)).reshape(shape), *params)


class _ViewScatter(Op):
    """Zeros of ``shape`` with ``g`` written into ``view_cls``'s view: the adjoint of a
    non-overlapping view (torch's ``select_backward``, ``diagonal_backward``...), and
    ``diag_embed`` itself. ``view_cls`` is a view op with a ``view_of(array, *params)``."""
    name = "view_scatter"
    signature = "view_scatter(Tensor g, int[] shape, Any view_cls, Any params) -> Tensor"
    kind = "shape"

    @staticmethod
    def meta(g, shape, view_cls, params):
        return _meta.new(shape, g.dtype)

    @staticmethod
    def forward(ctx, g, shape, view_cls, params):
        ctx.view_cls, ctx.params = view_cls, params
        out = np.zeros(shape, g.dtype)
        view_cls.view_of(out, *params)[...] = g
        return out

    @staticmethod
    def backward(ctx, g):
        return dispatch(ctx.view_cls, g, *ctx.params)


class _IndexScatter(Op):
    """Sum ``g``'s elements into zeros of ``shape`` at flat ``positions`` (an int64 array
    of ``g``'s shape; -1: dropped): the adjoint of views that overlap themselves and of
    gathers (``index``, ``gather``, ``index_select``, ``sort``)."""
    name = "index_scatter"
    signature = "index_scatter(Tensor g, Any positions, int[] shape) -> Tensor"

    @staticmethod
    def meta(g, positions, shape):
        return _meta.new(shape, g.dtype)

    @staticmethod
    def forward(ctx, g, positions, shape):
        ctx.positions = positions
        flat, vals = positions.reshape(-1), g.reshape(-1)
        if flat.size and flat.min() < 0:  # positions of no input element (as_strided)
            keep = flat >= 0
            flat, vals = flat[keep], vals[keep]
        n = math.prod(shape)
        if is_half(g.dtype):  # sum in float64, not in 16 bits
            return np.bincount(flat, vals.astype(np.float64), n).astype(g.dtype).reshape(shape)
        out = np.zeros(n, g.dtype)
        np.add.at(out, flat, vals)  # (NumPy 2's add.at beats bincount, sparse or dense)
        return out.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return dispatch(_IndexGather, g, ctx.positions)


class _IndexGather(Op):
    """``x``'s elements at flat ``positions`` (-1: zero); the adjoint of ``_IndexScatter``."""
    name = "index_gather"
    signature = "index_gather(Tensor x, Any positions) -> Tensor"

    @staticmethod
    def meta(x, positions):
        return _meta.new(positions.shape, x.dtype)

    @staticmethod
    def forward(ctx, x, positions):
        ctx.positions, ctx.shape = positions, x.shape
        out = np.asarray(np.take(x.reshape(-1), np.maximum(positions, 0)))
        out[positions < 0] = 0
        return out

    @staticmethod
    def backward(ctx, g):
        return dispatch(_IndexScatter, g, ctx.positions, ctx.shape)


def _index(dim: int, item) -> tuple:
    return (slice(None),) * dim + (item, Ellipsis)


def _without(seq: tuple, dim: int) -> tuple:
    return seq[:dim] + seq[dim + 1:]


class Narrow(_View):
    signature = "narrow(Tensor(a) a, int dim, int start, int length) -> Tensor(a)"

    @staticmethod
    def check(shape, dim, start, length):
        if not shape:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
        dim = wrap_dim(dim, len(shape))
        size = shape[dim]
        if not -size <= start <= size:
            raise IndexError(f"start out of range (expected to be in range of [{-size}, "
                             f"{size}], but got {start})")
        start = start + size if start < 0 else start
        if length < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        if start + length > size:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                               f"({size}).")
        return dim, start, length

    @staticmethod
    def geometry(a, dim, start, length):
        shape = a.shape[:dim] + (length,) + a.shape[dim + 1:]
        return start * a.strides[dim], shape, a.strides

    @staticmethod
    def view_of(a, dim, start, length):
        return a[_index(dim, slice(start, start + length))]


class Select(_View):
    aten = "select"
    signature = "select.int(Tensor(a) a, int dim, int index) -> Tensor(a)"

    @staticmethod
    def check(shape, dim, index):
        if not shape:
            raise IndexError("select() cannot be applied to a 0-dim tensor.")
        dim = wrap_dim(dim, len(shape))
        size = shape[dim]
        if not -size <= index < size:
            raise IndexError(f"select(): index {index} out of range for tensor of size "
                             f"{list(shape)} at dimension {dim}")
        return dim, index + size if index < 0 else index

    @staticmethod
    def geometry(a, dim, index):
        return index * a.strides[dim], _without(a.shape, dim), _without(a.strides, dim)

    @staticmethod
    def view_of(a, dim, index):
        return a[_index(dim, index)]


class Diagonal(_View):
    signature = "diagonal(Tensor(a) a, int offset=0, int dim1=0, int dim2=1) -> Tensor(a)"

    @staticmethod
    def check(shape, offset, dim1, dim2):
        d1, d2 = wrap_dim(dim1, len(shape)), wrap_dim(dim2, len(shape))
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        return offset, d1, d2

    @staticmethod
    def geometry(a, offset, d1, d2):
        # np.diagonal is read-only; torch's diagonal is a writable view, so build it.
        n1, n2 = a.shape[d1], a.shape[d2]
        r0, c0 = max(-offset, 0), max(offset, 0)
        length = max(0, min(n1 - r0, n2 - c0))
        start = 0
        if length:
            start = r0 * a.strides[d1] + c0 * a.strides[d2]
        rest = [i for i in range(a.ndim) if i not in (d1, d2)]
        shape = tuple(a.shape[i] for i in rest) + (length,)
        strides = tuple(a.strides[i] for i in rest) + (a.strides[d1] + a.strides[d2],)
        return start, shape, strides


class Unfold(_View):
    signature = "unfold(Tensor(a) a, int dimension, int size, int step) -> Tensor(a)"

    @staticmethod
    def check(shape, dim, size, step):
        dim = wrap_dim(dim, len(shape))
        n = shape[dim] if shape else 1
        if size > n:
            raise RuntimeError(f"maximum size for tensor at dimension {dim} is {n} but size "
                               f"is {size}")
        if step <= 0:
            raise RuntimeError(f"step is {step} but must be > 0")
        if size < 0:
            raise RuntimeError(f"size is {size} but must be >= 0")
        return dim, size, step

    @staticmethod
    def geometry(a, dim, size, step):
        if a.ndim == 0:
            return 0, (1,), (a.itemsize,)
        shape, strides = list(a.shape), list(a.strides)
        shape[dim] = (shape[dim] - size) // step + 1
        strides[dim] *= step
        return 0, tuple(shape) + (size,), tuple(strides) + (a.strides[dim],)

    @staticmethod
    def overlaps(dim, size, step) -> bool:
        return step < size


class AsStrided(Op):
    """A view of the input's storage with any sizes/strides/offset (in elements)."""
    aten = "as_strided"
    signature = ("as_strided(Tensor(a) a, int[] size, int[] stride, int? storage_offset=None)"
                 " -> Tensor(a)")
    kind = "view"
    view = True

    @staticmethod
    def meta(a, size, stride, storage_offset):
        # A MetaArray has no storage: the bounds check of forward cannot be made here.
        return _meta_view(a, tuple(size), tuple(s * a.itemsize for s in stride))

    @staticmethod
    def forward(ctx, a, size, stride, storage_offset):
        item = a.itemsize
        root = _root_array(a)
        a_offset = (_ptr(a) - _ptr(root)) // item
        offset = a_offset if storage_offset is None else storage_offset
        need = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
        if need > root.nbytes // item:
            raise RuntimeError(
                f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset "
                f"{offset}, and itemsize {item} requiring a storage size of {need * item} are "
                f"out of bounds for storage of size {root.nbytes}")
        ctx.geometry = (a.shape, tuple(s // item for s in a.strides), a_offset, size, stride,
                        offset)
        return _strided(a, (offset - a_offset) * item, size, tuple(s * item for s in stride))

    @staticmethod
    def backward(ctx, g):
        shape, a_strides, a_offset, size, stride, offset = ctx.geometry
        where_in = _storage_positions(shape, a_strides, a_offset)
        where_out = _storage_positions(size, stride, offset)
        lookup = np.full(max(where_in.max(initial=-1), where_out.max(initial=-1)) + 1, -1)
        lookup[where_in.reshape(-1)] = np.arange(where_in.size)
        return dispatch(_IndexScatter, g, lookup[where_out], shape)


def _ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _strided(a: np.ndarray, byte_offset: int, shape: tuple, strides: tuple) -> np.ndarray:
    """A writable view (if ``a`` is) of ``a``'s memory from ``byte_offset`` bytes into ``a``.

    Built on the root array, so the view's ``base`` is that array (which is how a tensor
    finds its storage); ``as_strided`` would hide it behind a NumPy-internal object."""
    root = _root_array(a)
    try:
        return np.ndarray(shape, a.dtype, buffer=root, offset=_ptr(a) - _ptr(root) + byte_offset,
                          strides=strides)
    except (TypeError, ValueError):  # a root that exports no buffer (not contiguous)
        item = a.itemsize
        start = np.lib.stride_tricks.as_strided(a, (byte_offset // item + 1,), (item,))
        return np.lib.stride_tricks.as_strided(start[byte_offset // item:], shape, strides,
                                               writeable=a.flags.writeable)


def _storage_positions(shape: tuple, strides: tuple, offset: int) -> np.ndarray:
    pos = np.full(shape, offset, dtype=np.int64)
    for d, (n, s) in enumerate(zip(shape, strides)):
        pos += (np.arange(n) * s).reshape((n,) + (1,) * (len(shape) - d - 1))
    return pos


def narrow(input: Tensor, dim: int, start, length: int) -> Tensor:
    return dispatch(Narrow, input, dim, int(start), int(length))


def select(input: Tensor, dim: int, index) -> Tensor:
    return dispatch(Select, input, dim, int(index))


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    return dispatch(Diagonal, input, offset, dim1, dim2)


def as_strided(input: Tensor, size, stride, storage_offset: int | None = None) -> Tensor:
    return dispatch(AsStrided, input, _dims_arg(size), _dims_arg(stride), storage_offset)


# ---- splitting: multi-output views -----------------------------------------------------------

def _check_split(a, sizes: tuple, dim: int) -> int:
    """``dim`` wrapped, with torch's checks that ``sizes`` split it exactly."""
    if not a.ndim:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    dim = wrap_dim(dim, a.ndim)
    n = a.shape[dim]
    if sum(sizes) != n or (sizes and min(sizes) < 0):
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                           f"(input tensor's size at dimension {dim}), but got "
                           f"split_sizes={list(sizes)}")
    return dim


class SplitWithSizes(Op):
    signature = "split_with_sizes(Tensor(a) a, int[] sizes, int dim=0) -> Tensor(a)[]"
    kind = "view"
    view = True

    @staticmethod
    def meta(a, sizes, dim=0):
        dim = _check_split(a, sizes, dim)
        return tuple(_meta_view(a, a.shape[:dim] + (n,) + a.shape[dim + 1:], a.strides)
                     for n in sizes)

    @staticmethod
    def forward(ctx, a, sizes, dim=0):
        dim = _check_split(a, sizes, dim)
        ctx.dim, ctx.shape, ctx.sizes = dim, a.shape, sizes
        ctx.set_materialize_grads(False)  # (pieces that got no gradient: see backward)
        head, pieces, lo = (slice(None),) * dim, [], 0
        for n in sizes:
            pieces.append(a[(*head, slice(lo, lo + n))])
            lo += n
        return tuple(pieces)

    @staticmethod
    def backward(ctx, *grads):
        used = [i for i, g in enumerate(grads) if g is not None]
        if len(used) == 1:  # one piece's gradient, written into zeros: one op
            i = used[0]
            return dispatch(_ViewScatter, grads[i], ctx.shape, Narrow,
                            (ctx.dim, sum(ctx.sizes[:i]), ctx.sizes[i]))
        return cat(_zeros_for_missing(grads, ctx.shape, ctx.dim, ctx.sizes), ctx.dim)


def _zeros_for_missing(grads, shape: tuple, dim: int, sizes) -> list:
    """``grads`` of the pieces of ``shape`` along ``dim`` (each ``sizes[i]`` long, None:
    dropped), with zeros for the pieces that got no gradient."""
    ref = next(g for g in grads if g is not None)
    return [g if g is not None else ref.new_zeros(
        shape[:dim] + ((n,) if n is not None else ()) + shape[dim + 1:])
        for g, n in zip(grads, sizes)]


def _unbind_dim(a, dim: int) -> int:
    if not a.ndim:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    return wrap_dim(dim, a.ndim)


class Unbind(Op):
    aten = "unbind"
    signature = "unbind.int(Tensor(a) a, int dim=0) -> Tensor(a)[]"
    kind = "view"
    view = True

    @staticmethod
    def meta(a, dim=0):
        dim = _unbind_dim(a, dim)
        return (_meta_view(a, _without(a.shape, dim), _without(a.strides, dim)),) * a.shape[dim]

    @staticmethod
    def forward(ctx, a, dim=0):
        dim = _unbind_dim(a, dim)
        ctx.dim, ctx.shape = dim, a.shape
        ctx.set_materialize_grads(False)  # (slices that got no gradient: see backward)
        return tuple(a[_index(dim, i)] for i in range(a.shape[dim]))

    @staticmethod
    def backward(ctx, *grads):
        used = [i for i, g in enumerate(grads) if g is not None]
        if len(used) == 1:  # one slice's gradient, written into zeros: one op
            return dispatch(_ViewScatter, grads[used[0]], ctx.shape, Select, (ctx.dim, used[0]))
        return stack(_zeros_for_missing(grads, ctx.shape, ctx.dim, [None] * len(grads)),
                     ctx.dim)


def _split_sizes(n: int, size: int) -> list:
    if size < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
    if size == 0:
        if n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                               f"dimension size of {n}")
        return [0]
    return [min(size, n - i) for i in range(0, n, size)] or [0]


def _dim_size(input: Tensor, dim: int) -> int:
    if not input._data.ndim:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    return input._data.shape[wrap_dim(dim, input._data.ndim)]


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    if isinstance(split_size_or_sections, (int, np.integer)):
        sizes = _split_sizes(_dim_size(tensor, dim), int(split_size_or_sections))
    else:
        sizes = [int(s) for s in split_size_or_sections]
    return dispatch(SplitWithSizes, tensor, tuple(sizes), dim)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Pieces of ``ceil(size / chunks)`` along ``dim`` (so possibly fewer than ``chunks``)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = _dim_size(input, dim)
    sizes = _split_sizes(n, -(-n // chunks)) if n else [0] * chunks
    return dispatch(SplitWithSizes, input, tuple(sizes), dim)


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    if not input._data.ndim:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                           "tensor with 0 dims")
    n = input._data.shape[wrap_dim(dim, input._data.ndim)]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        ios = ios.item() if ios._data.ndim == 0 else ios.tolist()
    if isinstance(ios, (int, np.integer)):
        if ios <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {ios}")
        q, r = divmod(n, int(ios))
        sizes = [q + 1] * r + [q] * (int(ios) - r)
    else:
        bounds = [min(max(int(i) + (n if i < 0 else 0), 0), n) for i in ios]
        edges = [0] + bounds + [n]
        sizes = [max(hi - lo, 0) for lo, hi in zip(edges, edges[1:])]
        starts = [min(lo, n) for lo in edges[:-1]]
        return tuple(narrow(input, dim, s, z) for s, z in zip(starts, sizes))
    return dispatch(SplitWithSizes, input, tuple(sizes), dim)


def _split_along(name: str, dim: int, min_dims: int):
    def fn(input: Tensor, indices_or_sections) -> tuple:
        nd = input._data.ndim
        if nd < min_dims:
            raise RuntimeError(f"torch.{name} requires a tensor with at least {min_dims} "
                               f"dimension, but got a tensor with {nd} dimensions!")
        d = 0 if name == "hsplit" and nd == 1 else dim
        if isinstance(indices_or_sections, (int, np.integer)):
            size = input._data.shape[d]
            if indices_or_sections == 0 or size % indices_or_sections:
                raise RuntimeError(f"torch.{name} attempted to split along dimension {d}, but "
                                   f"the size of the dimension {size} is not divisible by the "
                                   f"split_size {indices_or_sections}!")
        return tensor_split(input, indices_or_sections, d)
    fn.__name__ = name
    fn.__doc__ = f"``tensor_split`` along dim {dim}, with numpy.{name}'s divisibility check."
    return fn


hsplit = _split_along("hsplit", 1, 1)
vsplit = _split_along("vsplit", 0, 2)
dsplit = _split_along("dsplit", 2, 3)


def unbind(input: Tensor, dim: int = 0) -> tuple:
    return dispatch(Unbind, input, dim)


# ---- joining ---------------------------------------------------------------------------------

def _common_dtype(arrays) -> np.dtype:
    first = arrays[0].dtype
    for a in arrays:
        if a.dtype != first:
            break
    else:  # one dtype (the usual case): nothing to promote
        return from_numpy_dtype(first).np
    dt = functools.reduce(promote_types, (from_numpy_dtype(a.dtype) for a in arrays))
    return dt.np


def _check_cat(arrays, dim: int) -> tuple[list, int | None]:
    """The inputs that take part (torch skips 1-D empty ones) and the wrapped ``dim`` (None
    when none takes part), with torch's checks."""
    if not arrays:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be "
                               "concatenated")
    # Legacy: 1-D empty tensors are skipped whatever the other shapes.
    kept = [i for i, a in enumerate(arrays) if a.shape != (0,)]
    if not kept:  # torch checks no dim then either
        return kept, None
    ref = arrays[kept[0]]
    d = wrap_dim(dim, ref.ndim)
    for i in kept:
        a = arrays[i]
        if a.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got "
                               f"{ref.ndim} and {a.ndim}")
        for k in range(ref.ndim):
            if k != d and a.shape[k] != ref.shape[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref.shape[k]} but got size {a.shape[k]} for tensor number {i} in "
                    "the list.")
    return kept, d


def _concat_strides(shape: tuple, itemsize: int, arrays) -> tuple:
    """Strides (bytes) of ``np.concatenate``'s result: the axes ordered by the inputs'
    strides, outermost first, as ``PyArray_CreateMultiSortedStridePerm`` does (a stable
    insertion sort; dims of size 1 have no say; C order wins conflicts)."""
    ndim = len(shape)
    perm = list(range(ndim))  # outermost first
    for i0 in range(1, ndim):
        ipos, j0 = i0, perm[i0]
        for i1 in range(i0 - 1, -1, -1):
            j1 = perm[i1]
            ambiguous, swap = True, False
            for x in arrays:
                if x.shape[j0] != 1 and x.shape[j1] != 1:
                    if abs(x.strides[j0]) <= abs(x.strides[j1]):
                        swap = False
                    elif ambiguous:
                        swap = True
                    ambiguous = False
            if not ambiguous:
                if swap:
                    ipos = i1
                else:
                    break
        if ipos != i0:
            perm.insert(ipos, perm.pop(i0))
    strides, step = [0] * ndim, itemsize
    for ax in reversed(perm):
        strides[ax] = step
        step *= max(shape[ax], 1)
    return tuple(strides)


class Cat(Op):
    signature = "cat(Tensor[] arrays, int dim=0) -> Tensor"
    kind = "shape"

    @staticmethod
    def meta(arrays, dim=0):
        kept, d = _check_cat(arrays, dim)
        dt = _common_dtype(arrays)
        if d is None:
            return _meta.new((0,), dt)
        parts = [arrays[i] for i in kept]
        shape = parts[0].shape[:d] + (sum(a.shape[d] for a in parts),) + parts[0].shape[d + 1:]
        return MetaArray(shape, dt, _concat_strides(shape, dt.itemsize, parts))

    @staticmethod
    def forward(ctx, arrays, dim=0):
        kept, d = _check_cat(arrays, dim)
        dt = _common_dtype(arrays)
        ctx.dim = d
        if len(kept) == len(arrays):  # no empty 1-D input to skip (the usual case)
            ctx.sizes = [a.shape[d] for a in arrays]
            return np.concatenate(arrays, axis=d, dtype=dt)
        keep = set(kept)
        ctx.sizes = [a.shape[d] if i in keep else None for i, a in enumerate(arrays)]
        if d is None:
            return np.empty((0,), dt)
        return np.concatenate([arrays[i] for i in kept], axis=d, dtype=dt)

    @staticmethod
    def backward(ctx, g):
        kept = [n for n in ctx.sizes if n is not None]
        pieces = iter(split(g, kept, ctx.dim) if kept else ())
        # a skipped 1-D empty input gets an empty gradient
        return [g.new_zeros((0,)) if n is None else next(pieces) for n in ctx.sizes]


def _check_stack(arrays, dim: int) -> int:
    if not arrays:
        raise RuntimeError("stack expects a non-empty TensorList")
    ref = arrays[0]
    for i, a in enumerate(arrays):
        if a.shape != ref.shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(ref.shape)} at entry 0 and {list(a.shape)} at entry "
                               f"{i}")
    return wrap_dim(dim, ref.ndim + 1)


class Stack(Op):
    signature = "stack(Tensor[] arrays, int dim=0) -> Tensor"
    kind = "shape"

    @staticmethod
    def meta(arrays, dim=0):
        d = _check_stack(arrays, dim)
        dt = _common_dtype(arrays)
        # np.stack concatenates the inputs, each with a new dim of size 1 at ``d``
        parts = [MetaArray(a.shape[:d] + (1,) + a.shape[d:], a.dtype,
                           a.strides[:d] + (0,) + a.strides[d:]) for a in arrays]
        shape = parts[0].shape[:d] + (len(arrays),) + parts[0].shape[d + 1:]
        return MetaArray(shape, dt, _concat_strides(shape, dt.itemsize, parts))

    @staticmethod
    def forward(ctx, arrays, dim=0):
        ctx.dim = d = _check_stack(arrays, dim)
        return np.stack(arrays, axis=d, dtype=_common_dtype(arrays))

    @staticmethod
    def backward(ctx, g):
        return list(unbind(g, ctx.dim))


def _check_cat_out(tensors: list, out) -> None:
    """cat/stack refuse an ``out`` their inputs' common dtype cannot be cast to, with
    torch's TypeError (before the generic cast rule)."""
    if isinstance(out, Tensor) and tensors and all(isinstance(t, Tensor) for t in tensors):
        common = functools.reduce(promote_types, (t.dtype for t in tensors))
        if not can_cast(common, out.dtype):
            raise TypeError("torch.cat(): input types can't be cast to the desired output type "
                            f"{out.dtype.scalar_name}")


def cat(tensors, dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    tensors = list(tensors)
    _check_cat_out(tensors, out)
    return dispatch_out(Cat, out, tensors, dim)


concat = concatenate = cat


def stack(tensors, dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    tensors = list(tensors)
    _check_cat_out(tensors, out)
    return dispatch_out(Stack, out, tensors, dim)


def _atleast(nd: int):
    def fn(*tensors):
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            return tuple(fn(t) for t in tensors[0])
        if len(tensors) != 1:
            return tuple(fn(t) for t in tensors)
        x = tensors[0]
        shape = x._data.shape
        if len(shape) >= nd:
            return x
        if nd == 3 and len(shape) == 1:
            return dispatch(Reshape, x, (1, shape[0], 1))
        if nd == 3 and len(shape) == 2:
            return dispatch(Reshape, x, shape + (1,))
        return dispatch(Reshape, x, (1,) * (nd - len(shape)) + shape)
    fn.__name__ = f"atleast_{nd}d"
    fn.__doc__ = f"View each input with at least {nd} dimensions (as numpy.atleast_{nd}d)."
    return fn


atleast_1d, atleast_2d, atleast_3d = _atleast(1), _atleast(2), _atleast(3)


def hstack(tensors, *, out: Tensor | None = None) -> Tensor:
    ts = atleast_1d(list(tensors))
    return cat(ts, 0 if ts and ts[0]._data.ndim == 1 else 1, out=out)


def vstack(tensors, *, out: Tensor | None = None) -> Tensor:
    return cat(atleast_2d(list(tensors)), 0, out=out)


row_stack = vstack


def dstack(tensors, *, out: Tensor | None = None) -> Tensor:
    return cat(atleast_3d(list(tensors)), 2, out=out)


def column_stack(tensors, *, out: Tensor | None = None) -> Tensor:
    cols = [reshape(t, (t.numel(), 1)) if t._data.ndim <= 1 else t for t in tensors]
    return cat(cols, 1, out=out)


def _block_shapes(arrays) -> list:
    """Each input's 2-D block shape (1-D: a row, 0-d: 1x1), with torch's check."""
    shapes = []
    for i, a in enumerate(arrays):
        if a.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer "
                               f"dimensions. Input {i} has {a.ndim} dimensions")
        shapes.append(a.shape if a.ndim == 2 else (1, a.shape[0]) if a.ndim else (1, 1))
    return shapes


class BlockDiag(Op):
    aten = "block_diag"
    signature = "block_diag(Tensor[] arrays) -> Tensor"
    kind = "shape"

    @staticmethod
    def meta(arrays):
        shapes = _block_shapes(arrays)
        return _meta.new((sum(r for r, _ in shapes), sum(c for _, c in shapes)),
                         _common_dtype(arrays))

    @staticmethod
    def forward(ctx, arrays):
        shapes = _block_shapes(arrays)
        out = np.zeros((sum(r for r, _ in shapes), sum(c for _, c in shapes)),
                       _common_dtype(arrays))
        r = c = 0
        boxes = []
        for a, shp in zip(arrays, shapes):
            out[r:r + shp[0], c:c + shp[1]] = a.reshape(shp)
            boxes.append((r, c, shp, a.shape))
            r, c = r + shp[0], c + shp[1]
        ctx.boxes = boxes
        return out

    @staticmethod
    def backward(ctx, g):
        return [g[r:r + shp[0], c:c + shp[1]].reshape(orig) for r, c, shp, orig in ctx.boxes]


def block_diag(*tensors: Tensor) -> Tensor:
    if not tensors:
        return _make(np.zeros((0, 0), np.float32))
    return dispatch(BlockDiag, list(tensors))


# ---- repeating, flipping, rolling ------------------------------------------------------------

def _repeat_shape(a, repeats: tuple) -> tuple:
    """``a``'s shape padded with leading 1s to ``len(repeats)`` dims, with torch's checks."""
    if len(repeats) < a.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than "
                           "number of dimensions of tensor")
    shape = (1,) * (len(repeats) - a.ndim) + a.shape
    for r in repeats:
        if r < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {r}: "
                               f"{[r * s for r, s in zip(repeats, shape)]}")
    return shape


class Repeat(Op):
    signature = "repeat(Tensor a, int[] repeats) -> Tensor"
    kind = "shape"

    @staticmethod
    def meta(a, repeats):
        shape = _repeat_shape(a, repeats)
        if all(r == 1 for r in repeats):  # np.tile copies the input keeping its layout
            lead = len(shape) - a.ndim
            return _meta.empty_like(MetaArray(shape, a.dtype, (0,) * lead + a.strides))
        return _meta.new(tuple(r * s for r, s in zip(repeats, shape)), a.dtype)

    @staticmethod
    def forward(ctx, a, repeats):
        shape = _repeat_shape(a, repeats)
        ctx.shape, ctx.padded, ctx.repeats = a.shape, shape, repeats
        return np.tile(a.reshape(shape), repeats)

    @staticmethod
    def backward(ctx, g):
        split = tuple(x for r, s in zip(ctx.repeats, ctx.padded) for x in (r, s))
        g = g.reshape(split).sum(tuple(range(0, len(split), 2)))
        return g.reshape(ctx.shape)


@tensor_method()
def repeat(self: Tensor, *sizes) -> Tensor:
    """torch's repeat: tile the tensor ``sizes[i]`` times along dim ``i`` (not numpy.repeat)."""
    return dispatch(Repeat, self, _shape_arg(sizes))


def tile(input: Tensor, dims) -> Tensor:
    dims = _dims_arg(dims)
    nd = input._data.ndim
    return dispatch(Repeat, input, (1,) * (nd - len(dims)) + dims)


class Flip(Op):
    signature = "flip(Tensor a, int[] dims) -> Tensor"
    kind = "shape"

    @staticmethod
    def meta(a, dims):
        wrap_dims(dims, a.ndim)
        return _meta.new(a.shape, a.dtype)

    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims = wrap_dims(dims, a.ndim)
        # Always a copy, as torch's (ascontiguousarray would return a 1-element view as is).
        return (np.flip(a, dims) if dims else a).copy()

    @staticmethod
    def backward(ctx, g):
        return flip(g, ctx.dims)


def _roll_dims(a, shifts: tuple, dims) -> tuple | None:
    """``dims`` wrapped (None: roll the flattened tensor), with torch's checks."""
    if len(shifts) != (1 if dims is None else len(dims)):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims:{0 if dims is None else len(dims)}")
    return None if dims is None else tuple(wrap_dim(d, a.ndim) for d in dims)


class Roll(Op):
    signature = "roll(Tensor a, int[] shifts, int[]? dims) -> Tensor"
    kind = "shape"

    @staticmethod
    def meta(a, shifts, dims):
        if _roll_dims(a, shifts, dims) is None:  # np.roll of the flattened copy
            return _meta.new(a.shape, a.dtype)
        return _meta.empty_like(a)

    @staticmethod
    def forward(ctx, a, shifts, dims):
        dims = _roll_dims(a, shifts, dims)
        ctx.shifts, ctx.dims = shifts, dims
        if dims is None:
            return np.roll(a.reshape(-1), shifts[0]).reshape(a.shape)
        return np.roll(a, shifts, dims)

    @staticmethod
    def backward(ctx, g):
        return dispatch(Roll, g, tuple(-s for s in ctx.shifts), ctx.dims)


def flip(input: Tensor, dims) -> Tensor:
    return dispatch(Flip, input, _dims_arg(dims))


def fliplr(input: Tensor) -> Tensor:
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return dispatch(Flip, input, (1,))


def flipud(input: Tensor) -> Tensor:
    if input._data.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return dispatch(Flip, input, (0,))


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    shifts = _dims_arg(shifts)
    if isinstance(shifts, tuple) and not shifts:  # NumPy's roll would fail to unpack
        raise RuntimeError("`shifts` required")
    return dispatch(Roll, input, shifts, None if dims is None else _dims_arg(dims))


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    nd = input._data.ndim
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if nd < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {nd}")
    d0, d1 = wrap_dim(dims[0], nd), wrap_dim(dims[1], nd)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return dispatch(Flip, input, ())


# ---- diagonals, index grids ------------------------------------------------------------------

def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims ``dim1``, ``dim2``) whose ``offset`` diagonal is the last dim."""
    shape = input._data.shape
    nd = len(shape) + 1
    d1, d2 = wrap_dim(dim1, nd), wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = (shape[-1] if shape else 1) + abs(offset)
    rest = iter(shape[:-1])
    out_shape = tuple(n if i in (d1, d2) else next(rest) for i in range(nd))
    x = input if shape else dispatch(Reshape, input, (1,))
    return dispatch(_ViewScatter, x, out_shape, Diagonal, (offset, d1, d2))


def diag(input: Tensor, diagonal: int = 0, *, out: Tensor | None = None) -> Tensor:
    if out is not None:
        check_out_dtype(out, input._data.dtype)
        return dispatch_out(diag, out, input, diagonal)
    nd = input._data.ndim
    if nd == 1:
        return diag_embed(input, diagonal, 0, 1)
    if nd == 2:
        from .conversion import clone
        return clone(dispatch(Diagonal, input, diagonal, 0, 1))
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D")


def _tri_indices(fn):
    def indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None,
                layout=None) -> Tensor:
        for what, n in (("row", row), ("col", col)):
            if n < 0:  # NumPy would return no indices
                raise RuntimeError(f"{what} must be non-negative, got{n}")
        rows, cols = fn(row, offset, col)
        return _make(np.stack([rows, cols]).astype(dtype.np if dtype is not None else np.int64))
    return indices


tril_indices = _tri_indices(np.tril_indices)
triu_indices = _tri_indices(np.triu_indices)
tril_indices.__name__, triu_indices.__name__ = "tril_indices", "triu_indices"


def broadcast_shapes(*shapes) -> Size:
    out: list = []
    for i, shape in enumerate(shapes):
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if any(s < 0 for s in shape):
            raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: "
                               f"{list(shape)}")
        out = [1] * (len(shape) - len(out)) + out
        for k in range(1, len(shape) + 1):
            s, o = shape[-k], out[-k]
            if o == 1:
                out[-k] = s
            elif s != 1 and s != o:
                raise RuntimeError(f"Attempting to broadcast a dimension of length {s} at -{k}! "
                                   f"Mismatching argument at index {i} had {shape}; but expected "
                                   f"shape should be broadcastable to {out}")
    return Size(out)


def broadcast_tensors(*tensors: Tensor) -> tuple:
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = tuple(broadcast_shapes(*(t._data.shape for t in tensors)))
    return tuple(dispatch(Expand, t, shape) for t in tensors)


def meshgrid(*tensors: Tensor, indexing: str | None = None) -> tuple:
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                           f"received: {indexing}")
    for t in tensors:
        if t._data.ndim > 1:
            raise RuntimeError("torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                               f"got: {t}")
    swap = indexing == "xy" and len(tensors) >= 2
    ts = list(tensors)
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.numel() for t in ts)
    n = len(ts)
    grids = [dispatch(Expand, dispatch(Reshape, t, (1,) * i + (-1,) + (1,) * (n - i - 1)),
                      shape) for i, t in enumerate(ts)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, (-1,)) for g in grids], 1)


# ---- Tensor methods and properties -----------------------------------------------------------

@tensor_method("reshape")
def _reshape(self: Tensor, *shape) -> Tensor:
    return dispatch(Reshape, self, _shape_arg(shape))


@tensor_method()
def view(self: Tensor, *shape) -> Tensor:
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, np.integer)):
        return dispatch(ViewDtype, self, shape[0].np)
    return dispatch(View, self, _shape_arg(shape))


@tensor_method()
def view_as(self: Tensor, other: Tensor) -> Tensor:
    return dispatch(View, self, other._data.shape)


@tensor_method()
def reshape_as(self: Tensor, other: Tensor) -> Tensor:
    return dispatch(Reshape, self, other._data.shape)


@tensor_method("permute")
def _permute(self: Tensor, *dims) -> Tensor:
    return dispatch(Permute, self, _shape_arg(dims))


@tensor_method()
def expand(self: Tensor, *shape) -> Tensor:
    return dispatch(Expand, self, _shape_arg(shape))


@tensor_method()
def expand_as(self: Tensor, other: Tensor) -> Tensor:
    return dispatch(Expand, self, other._data.shape)


@tensor_method("flip")
def _flip(self: Tensor, *dims) -> Tensor:
    return dispatch(Flip, self, _shape_arg(dims))


@tensor_method("tile")
def _tile(self: Tensor, *dims) -> Tensor:
    return tile(self, _shape_arg(dims))


@tensor_method("unfold")
def _unfold(self: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Sliding windows of ``size`` every ``step`` along ``dimension``, as a new last dim."""
    return dispatch(Unfold, self, dimension, size, step)


@tensor_method("split")
def _split(self: Tensor, split_size, dim: int = 0) -> tuple:
    return split(self, split_size, dim)


for _fn in (transpose, swapaxes, t, adjoint, broadcast_to, squeeze, unsqueeze, flatten,
            unflatten, ravel, narrow, select, unbind, chunk, tensor_split, hsplit, vsplit, dsplit,
            as_strided, movedim, diagonal, fliplr, flipud, roll, rot90, diag, diag_embed):
    tensor_method()(_fn)
Tensor.swapdims = Tensor.swapaxes = Tensor.transpose
Tensor.moveaxis = Tensor.movedim


def _inplace_view(fn):
    """``unsqueeze_`` and friends: ``self`` becomes the view (its data and grad_fn)."""
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        if self._requires_grad and self.grad_fn is None and STATE.grad_enabled:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        result = fn(self, *args, **kwargs)
        self._data, self.grad_fn, self._output_nr = result._data, result.grad_fn, \
            result._output_nr
        return self
    method.__name__ = fn.__name__ + "_"
    return method


for _fn in (squeeze, unsqueeze, transpose, t, as_strided):
    tensor_method(_fn.__name__ + "_")(_inplace_view(_fn))
Tensor.swapdims_ = Tensor.swapaxes_ = Tensor.transpose_
as_strided_ = Tensor.as_strided_


def _mT(self: Tensor) -> Tensor:
    return _matrix_transpose(self, "tensor.mT is only supported on matrices or batches of "
                                   "matrices.")


def _mH(self: Tensor) -> Tensor:
    return _conj_if_complex(_matrix_transpose(
        self, "tensor.mH is only supported on matrices or batches of matrices."))


def _T(self: Tensor) -> Tensor:
    nd = self._data.ndim
    if nd != 2 and nd != 0:
        warnings.warn("The use of `x.T` on tensors of dimension other than 2 to reverse their "
                      "shape is deprecated and it will throw an error in a future release. "
                      "Consider `x.mT` to transpose batches of matrices or `x.permute(*torch."
                      "arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a tensor.",
                      UserWarning, stacklevel=2)
    return dispatch(Permute, self, tuple(range(nd - 1, -1, -1)))


def _H(self: Tensor) -> Tensor:
    nd = self._data.ndim
    if nd > 2:
        raise RuntimeError("tensor.H is only supported on matrices (2-D tensors). Got "
                           f"{nd}-D tensor.")
    return _conj_if_complex(t(self))


Tensor.mT, Tensor.mH, Tensor.T, Tensor.H = property(_mT), property(_mH), property(_T), \
    property(_H)
