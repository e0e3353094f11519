"""Reductions and scans: sum, mean, prod, max/min, var/std, norms (vector, matrix and the
singular values the spectral norms need), logsumexp, cumsum, softmax.

``dim`` follows torch: an int, a sequence of ints, or None for every dim; a 0-d tensor
accepts dim 0 / -1. Backward rules are written with ember ops, so double backward works.
Where a gradient only has to be *routed* (ties of a max, NaNs of nansum, the index a max
came from), the routing mask is a constant computed from the saved arrays: it is
piecewise constant in the input, so it contributes nothing to higher derivatives.
"""

from __future__ import annotations

import builtins
import math
import warnings

import numpy as np

from .._dispatch import Op, check_out_dtype, dispatch, dispatch_out
from .._dtype import from_numpy_dtype, is_bfloat16, is_half
from .._meta import MetaArray
from .._state import STATE
from .._tensor import Tensor, tensor_method
from . import _meta
from ._return_types import return_type, values_indices
from ._util import dtype_name, float_result, wrap_dim, wrap_dims
from .creation import eye, ones_like
from .elementwise import where
from .shape import cat

__all__ = ["sum", "mean", "nansum", "nanmean", "prod", "max", "min", "amax", "amin", "aminmax",
           "argmax", "argmin", "var", "std", "var_mean", "std_mean", "norm", "logsumexp",
           "cumsum", "cumprod", "cummax", "cummin", "all", "any", "count_nonzero", "median",
           "nanmedian", "softmax", "log_softmax", "softmin"]



_ReturnMax = values_indices("max")
_ReturnMin = values_indices("min")
_ReturnAminmax = return_type("aminmax", ("min", "max"))
_ReturnCummax = values_indices("cummax")
_ReturnCummin = values_indices("cummin")
_ReturnMedian = values_indices("median")
_ReturnNanmedian = values_indices("nanmedian")


# ---- helpers -------------------------------------------------------------------------------

def _reduce_dims(dim, ndim: int) -> tuple | None:
    """Axes for NumPy (None: all). A 0-d tensor accepts dim 0 / -1 and reduces nothing."""
    if dim is None or dim == () or dim == []:
        return None
    dims = wrap_dims(dim, ndim)
    return dims if ndim else None


def _all_dims(dims: tuple | None, ndim: int) -> tuple:
    return tuple(range(ndim)) if dims is None else dims


def _keep_shape(shape: tuple, dims: tuple) -> tuple:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_back(g: Tensor, shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim and dims:
        g = g.reshape(_keep_shape(shape, dims))
    return g.expand(shape)


def _reduction_meta(a, dims: tuple | None, keepdim: bool, dtype) -> MetaArray:
    """The result of reducing ``dims`` (None: all) of ``a``: NumPy lays it out in the
    input's memory order, the reduced dims dropped (or kept with size 1)."""
    dims = _all_dims(dims, a.ndim)
    kept = _keep_shape(a.shape, dims)
    dtype = np.dtype(dtype)
    strides = _meta.layout(kept, dtype.itemsize, MetaArray(kept, a.dtype, a.strides))
    if not keepdim:
        kept = _meta.reduced(a.shape, dims, False)
        strides = tuple(st for i, st in enumerate(strides) if i not in dims)
    return MetaArray(kept, dtype, strides)


def _is_float(a: np.ndarray) -> bool:
    return a.dtype.kind in "fc" or is_bfloat16(a.dtype)


def _acc(a: np.ndarray) -> np.ndarray:
    """float16/bfloat16 are accumulated in float32, as torch does."""
    return a.astype(np.float32) if is_half(a.dtype) else a


def _int_to_long(dt):
    """Sums and products of integers and bools are int64 in torch."""
    return np.dtype(np.int64) if dt.kind in "biu" else dt


def _np(dtype):
    return None if dtype is None else dtype.np


def _check_dtype_arg(input, dim, dtype, scan: str | None = None) -> None:
    """torch's errors for a ``dtype=`` that a scan (``cumsum``...) has no kernel for, or
    whose result cannot carry a gradient; raised after the ``dim`` checks, as torch."""
    if dtype is None or dtype.is_floating_point or dtype.is_complex:
        return
    if scan is None:
        _reduce_dims(dim, input.ndim)
    else:
        if not isinstance(dim, (int, np.integer)):
            raise TypeError(f"{scan}(): argument 'dim' must be int, not {type(dim).__name__}")
        wrap_dim(dim, input.ndim)
        if dtype.scalar_name == "Bool" and input.ndim and input.numel():  # no kernel call
            raise NotImplementedError(f'"{scan}_out_cpu" not implemented for \'Bool\'')
    if STATE.grad_enabled and isinstance(input, Tensor) and input.requires_grad:
        raise RuntimeError(f"Autograd not support dtype: {dtype.scalar_name}")


def _check_nonempty(name: str, a: np.ndarray, dims: tuple | None, exc=RuntimeError,
                    hint: str = " Specify the reduction dim with the 'dim' argument.") -> None:
    """torch's errors for reductions without an identity (max, min, ...) on empty input."""
    if a.size:
        return
    if dims is None:
        raise exc(f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
                  + hint)
    for d in dims:
        if a.shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _sum_dtype(dtype, out):
    """The NumPy dtype a sum-like op (sum, prod, cumsum...) computes in: ``dtype=``, which
    an ``out`` must then have exactly, else ``out``'s own, as torch's."""
    if not isinstance(out, Tensor):
        return _np(dtype)
    if dtype is None:
        return out._data.dtype
    check_out_dtype(out, dtype.np)
    return dtype.np


class _EvenShares(Op):
    """Each element's share of the gradient of a value-selecting reduction (amax, median
    of all, the inf-norm): ``1/k`` where it equals the selected ``value`` (``k`` elements
    do), else 0; NaNs share a NaN value when ``nan_hits`` (otherwise a NaN result has a
    NaN gradient), as torch. Piecewise constant, so not differentiable; one op instead of
    the eq/isnan/sum/div chain torch's rule spells out."""

    aten = "_even_shares"
    signature = "_evenshares(Tensor a, Tensor value, int[] dims, bool nan_hits) -> Tensor"
    kind = "opaque"
    differentiable = False

    @staticmethod
    def meta(a, value, dims, nan_hits):
        return _meta.new(a.shape, a.dtype)

    @staticmethod
    def forward(ctx, a, value, dims, nan_hits):
        value = value.reshape(_keep_shape(a.shape, dims))
        hit = a == value
        if nan_hits and a.dtype.kind == "f":
            hit |= np.isnan(a) & np.isnan(value)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (hit / np.sum(hit, axis=dims, keepdims=True)).astype(a.dtype, order="C")


def _evenly(g: Tensor, a: Tensor, value: Tensor, dims: tuple, keepdim: bool,
            nan_hits: bool = True) -> Tensor:
    """The gradient of a value-selecting reduction, split evenly among the elements equal
    to the selected value (``_EvenShares``)."""
    shares = dispatch(_EvenShares, a, value, dims, nan_hits)
    return _expand_back(g, a.shape, dims, keepdim) * shares


class _ScatterAlong(Op):
    """``zeros(shape)`` with ``src`` put (or added, with repeated indices) at ``index``
    along ``dim``: routes gradients of value-selecting ops (max/min/median along a dim,
    cummax/cummin) to where each value came from; torch's ``scatter_add`` into zeros."""

    aten = "scatter_add"
    signature = ("_scatteralong(Tensor src, Tensor index, int dim, int[] shape, "
                 "bool accumulate) -> Tensor")
    kind = "opaque"

    @staticmethod
    def meta(src, index, dim, shape, accumulate):
        return _meta.new(shape, src.dtype)

    @staticmethod
    def forward(ctx, src, index, dim, shape, accumulate):
        ctx.dim = dim
        ctx.save_for_backward(index)
        out = np.zeros(shape, dtype=src.dtype)
        where = _along(index, dim)
        if accumulate:
            np.add.at(out, where, src)
        else:
            out[where] = src
        return out

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        return dispatch(_GatherAlong, g, index, ctx.dim), None


class _GatherAlong(Op):
    """``a``'s values at ``index`` along ``dim`` (torch's ``gather``): the gradient of
    ``_ScatterAlong``."""

    aten = "gather"
    signature = "_gatheralong(Tensor a, Tensor index, int dim) -> Tensor"
    kind = "opaque"

    @staticmethod
    def meta(a, index, dim):
        return _meta.new(index.shape, a.dtype)

    @staticmethod
    def forward(ctx, a, index, dim):
        ctx.dim, ctx.shape = dim, a.shape
        ctx.save_for_backward(index)
        return np.take_along_axis(a, index, dim)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        return dispatch(_ScatterAlong, g, index, ctx.dim, ctx.shape, True), None


def _along(index: np.ndarray, dim: int) -> tuple:
    """Fancy index that addresses ``index`` along ``dim`` (what take_along_axis builds)."""
    nd = index.ndim
    return tuple(index if i == dim else
                 np.arange(s).reshape([-1 if j == i else 1 for j in range(nd)])
                 for i, s in enumerate(index.shape))


def _route(g: Tensor, index: Tensor, dim: int, shape: tuple,
           accumulate: bool = False) -> Tensor:
    """Backward of ops returning ``(values, indices)`` along ``dim``: ``g`` goes where
    each value came from (``index``: the op's saved indices output)."""
    if g.ndim < len(shape):
        g, index = g.unsqueeze(dim), index.unsqueeze(dim)
    return dispatch(_ScatterAlong, g, index, dim, shape, accumulate)


# ---- sum, mean, prod -----------------------------------------------------------------------

class Sum(Op):
    aten = "sum"
    signature = ("sum.dim_IntList(Tensor a, int[1]? dim=None, bool keepdim=False, "
                 "ScalarType? dtype=None) -> Tensor")
    kind = "reduction"

    @staticmethod
    def meta(a, dim=None, keepdim=False, dtype=None):
        dtype = _int_to_long(a.dtype) if dtype is None else dtype
        return _reduction_meta(a, _reduce_dims(dim, a.ndim), keepdim, dtype)

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False, dtype=None):
        dims = _reduce_dims(dim, a.ndim)
        ctx.shape, ctx.dims, ctx.keepdim = a.shape, _all_dims(dims, a.ndim), keepdim
        dtype = _int_to_long(a.dtype) if dtype is None else np.dtype(dtype)
        a = a.astype(dtype, copy=False)
        return np.asarray(np.sum(_acc(a), axis=dims, keepdims=keepdim)).astype(dtype,
                                                                             copy=False)

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g, ctx.shape, ctx.dims, ctx.keepdim)


class Nansum(Op):
    aten = "nansum"
    signature = ("nansum(Tensor a, int[1]? dim=None, bool keepdim=False, "
                 "ScalarType? dtype=None) -> Tensor")
    kind = "reduction"
    meta = Sum.meta

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False, dtype=None):
        dims = _reduce_dims(dim, a.ndim)
        ctx.shape, ctx.dims, ctx.keepdim = a.shape, _all_dims(dims, a.ndim), keepdim
        ctx.save_for_backward(a)
        dtype = _int_to_long(a.dtype) if dtype is None else np.dtype(dtype)
        a = a.astype(dtype, copy=False)
        return np.asarray(np.nansum(_acc(a), axis=dims, keepdims=keepdim)).astype(dtype,
                                                                                copy=False)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return _expand_back(g, ctx.shape, ctx.dims, ctx.keepdim).masked_fill(a.isnan(), 0)


class Mean(Op):
    aten = "mean"
    signature = ("mean.dim(Tensor a, int[1]? dim=None, bool keepdim=False, "
                 "ScalarType? dtype=None) -> Tensor")
    kind = "reduction"

    @staticmethod
    def meta(a, dim=None, keepdim=False, dtype=None):
        _check_mean_dtype("mean", a, dtype)
        return _reduction_meta(a, _reduce_dims(dim, a.ndim), keepdim,
                               a.dtype if dtype is None else dtype)

    @staticmethod
    def decomposition(a, dim=None, keepdim=False, dtype=None):
        """The sum divided by the number of elements summed."""
        _check_mean_dtype("mean", a._data, dtype)
        dims = _all_dims(_reduce_dims(dim, a.ndim), a.ndim)
        total = dispatch(Sum, a, dim, keepdim, dtype)
        return total / _count(a.shape, dims)

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False, dtype=None):
        _check_mean_dtype("mean", a, dtype)
        dims = _reduce_dims(dim, a.ndim)
        all_dims = _all_dims(dims, a.ndim)
        count = _count(a.shape, all_dims)
        ctx.shape, ctx.dims, ctx.keepdim, ctx.count = a.shape, all_dims, keepdim, count
        dtype = a.dtype if dtype is None else np.dtype(dtype)
        x = _acc(a.astype(dtype, copy=False))
        kept = _kept_dim(x, all_dims)
        if kept is not None:
            from . import _kernels_moments as K
            out = _keep(K.mean_around(x, kept), a.shape, all_dims, keepdim)
            return out.astype(dtype, copy=False)
        if _trailing(x, all_dims):
            from . import _kernels_moments as K
            out = K.mean_rows(x, count).reshape(_reduced_shape(a.shape, all_dims, keepdim))
            return out.astype(dtype, copy=False)
        with np.errstate(invalid="ignore", divide="ignore"):  # mean of nothing is nan
            out = np.sum(x, axis=dims, keepdims=keepdim) / count
        return np.asarray(out).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g / ctx.count, ctx.shape, ctx.dims, ctx.keepdim)


def _count(shape: tuple, dims: tuple) -> int:
    return math.prod(shape[d] for d in dims)


def _check_mean_dtype(name: str, a: np.ndarray, dtype) -> None:
    if dtype is not None:
        if not (np.dtype(dtype).kind in "fc" or is_bfloat16(np.dtype(dtype))):
            raise RuntimeError(f"{name}(): could not infer output dtype. Optional dtype must be "
                               f"either a floating point or complex dtype. Got: "
                               f"{from_numpy_dtype(np.dtype(dtype)).scalar_name}")
    elif not _is_float(a):
        raise RuntimeError(f"{name}(): could not infer output dtype. Input dtype must be either "
                           f"a floating point or complex dtype. Got: {dtype_name(a)}")


def _prod_dims(a, dim) -> tuple | None:
    """prod reduces one dim (None: all); a 0-d input accepts dim 0 / -1."""
    if dim is None or not a.ndim:
        if dim is not None:
            wrap_dim(dim, 0)
        return None
    return (wrap_dim(dim, a.ndim),)


class Prod(Op):
    aten = "prod"
    signature = ("prod.dim_int(Tensor a, int? dim=None, bool keepdim=False, "
                 "ScalarType? dtype=None) -> Tensor")
    kind = "reduction"

    @staticmethod
    def meta(a, dim=None, keepdim=False, dtype=None):
        dtype = _int_to_long(a.dtype) if dtype is None else dtype
        return _reduction_meta(a, _prod_dims(a, dim), keepdim, dtype)

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False, dtype=None):
        dims = _prod_dims(a, dim)
        ctx.shape, ctx.dims, ctx.keepdim = a.shape, _all_dims(dims, a.ndim), keepdim
        dtype = _int_to_long(a.dtype) if dtype is None else np.dtype(dtype)
        x = _acc(a.astype(dtype, copy=False))
        out = np.asarray(np.prod(x, axis=dims, keepdims=keepdim)).astype(dtype, copy=False)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        if not a.ndim:  # the identity, as torch (so inf or NaN pass the gradient through)
            return g
        g = _expand_back(g, ctx.shape, ctx.dims, ctx.keepdim)
        if not _has_zeros(a):
            return g * _expand_back(out, ctx.shape, ctx.dims, ctx.keepdim) / a
        if len(ctx.dims) == 1:
            return g * _prod_of_others(a, ctx.dims[0])
        return g * _prod_of_others(a.reshape(-1), 0).reshape(ctx.shape)


def _has_zeros(a: Tensor) -> bool:
    """Whether ``a`` has a zero: prod and cumprod pick their gradient formula on it (the
    quotient ``out / a`` when there are none), as torch does; computed with ops, so modes
    see the data-dependent choice."""
    return bool((a == 0).any())


def _prod_of_others(a: Tensor, dim: int) -> Tensor:
    """``prod_{j != i} a_j`` along ``dim`` without dividing (so zeros are fine): the product
    of the elements before ``i`` times that of those after, two exclusive cumprods (torch's
    ``prod_safe_zeros_backward``). Used only when ``a`` has zeros."""
    n = a.shape[dim]
    ones = ones_like(a.narrow(dim, 0, 1))
    before = cat([ones, a.narrow(dim, 0, n - 1)], dim).cumprod(dim)
    after = cat([ones, a.narrow(dim, 1, n - 1).flip(dim)], dim).cumprod(dim).flip(dim)
    return before * after


def sum(input, dim=None, keepdim=False, *, dtype=None, out=None) -> Tensor:  # noqa: A001
    _check_dtype_arg(input, dim, dtype)
    return dispatch_out(Sum, out, input, dim, keepdim, _sum_dtype(dtype, out))


def nansum(input, dim=None, keepdim=False, *, dtype=None, out=None) -> Tensor:
    _check_dtype_arg(input, dim, dtype)
    return dispatch_out(Nansum, out, input, dim, keepdim, _sum_dtype(dtype, out))


def mean(input, dim=None, keepdim=False, *, dtype=None, out=None) -> Tensor:
    if dtype is not None:
        check_out_dtype(out, dtype.np)
    return dispatch_out(Mean, out, input, dim, keepdim, _np(dtype))


def nanmean(input, dim=None, keepdim=False, *, dtype=None, out=None) -> Tensor:
    """nansum divided by the number of non-NaN elements."""
    if out is not None:
        return dispatch_out(nanmean, out, input, dim, keepdim, dtype=dtype)
    if not input.is_floating_point():
        raise RuntimeError("nanmean(): expected input to have floating point or complex dtype "
                           f"but got {dtype_name(input._data)}")
    total = nansum(input, dim, keepdim, dtype=dtype)
    count = sum(input.isnan().logical_not(), dim, keepdim, dtype=total.dtype)
    return total / count


def prod(input, dim=None, keepdim=False, *, dtype=None, out=None) -> Tensor:
    if dim is not None and not isinstance(dim, (int, np.integer)):
        raise TypeError(f"prod(): argument 'dim' must be int, not {type(dim).__name__}")
    _check_dtype_arg(input, dim, dtype)
    return dispatch_out(Prod, out, input, dim, keepdim, _sum_dtype(dtype, out))


# ---- max, min and friends ------------------------------------------------------------------

class Amax(Op):
    """max/min over some dims without indices (``amax``, ``max()``); ties share the
    gradient evenly. ``name`` is the public function's, for its error messages and
    its NaN rule (max/min route the gradient to NaNs, amax/amin/aminmax give NaN)."""

    aten = "amax"
    signature = "amax(Tensor a, int[1]? dim, bool keepdim, str name) -> Tensor"
    kind = "reduction"
    reduce = staticmethod(np.amax)

    @staticmethod
    def meta(a, dim, keepdim, name):
        dims = _reduce_dims(dim, a.ndim)
        _check_nonempty(name, a, dims)
        return _reduction_meta(a, dims, keepdim, a.dtype)

    @classmethod
    def forward(cls, ctx, a, dim, keepdim, name):
        dims = _reduce_dims(dim, a.ndim)
        _check_nonempty(name, a, dims)
        out = np.asarray(cls.reduce(a, axis=dims, keepdims=keepdim))
        ctx.dims, ctx.keepdim = _all_dims(dims, a.ndim), keepdim
        ctx.nan_hits = name in ("max", "min")
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        return _evenly(g, a, out, ctx.dims, ctx.keepdim, ctx.nan_hits)


class Amin(Amax):
    aten = "amin"
    signature = "amin(Tensor a, int[1]? dim, bool keepdim, str name) -> Tensor"
    reduce = staticmethod(np.amin)


class _PickAlongDim(Op):
    """Values picked along one dim with the index each came from (max/min/median with a
    dim); the gradient goes back to those positions through the saved indices output.
    ``pick(a, d, option)`` returns the indices (keepdims); ``option`` is the op's name or
    median's ignore_nan flag."""

    abstract = True
    kind = "reduction"

    @staticmethod
    def pick(a, d, option):
        raise NotImplementedError

    @staticmethod
    def op_name(option) -> str:
        return option

    @classmethod
    def meta(cls, a, dim, keepdim, option):
        if not a.ndim:
            wrap_dim(dim, 0)
            return _meta.new((), a.dtype), _meta.new((), np.int64)
        d = wrap_dim(dim, a.ndim)
        _check_nonempty(cls.op_name(option), a, (d,))
        shape = _meta.reduced(a.shape, (d,), keepdim)
        return _meta.new(shape, a.dtype), _meta.new(shape, np.int64)  # fancy indexing: C order

    @classmethod
    def forward(cls, ctx, a, dim, keepdim, option):
        if not a.ndim:
            wrap_dim(dim, 0)
            ctx.dim = None
            return a.copy(), np.zeros((), np.int64)
        d = wrap_dim(dim, a.ndim)
        _check_nonempty(cls.op_name(option), a, (d,))
        index = cls.pick(a, d, option)
        values = np.take_along_axis(a, index, d)
        if not keepdim:
            values, index = values.squeeze(d), index.squeeze(d)
        index = index.astype(np.int64, copy=False)
        ctx.dim, ctx.shape = d, a.shape
        ctx.save_for_backward(index)
        ctx.set_materialize_grads(False)  # no zeros for the indices, which have no gradient
        return values, index

    @staticmethod
    def backward(ctx, g, _):
        if ctx.dim is None:
            return g
        (index,) = ctx.saved_tensors
        return _route(g, index, ctx.dim, ctx.shape)


class MaxDim(_PickAlongDim):
    """max along one dim, with the index it came from (first among ties)."""

    aten = "max"
    signature = ("max.dim(Tensor a, int dim, bool keepdim, str option) -> "
                 "(Tensor values, Tensor indices)")

    @staticmethod
    def pick(a, d, option):
        return np.argmax(a, axis=d, keepdims=True)


class MinDim(MaxDim):
    aten = "min"
    signature = ("min.dim(Tensor a, int dim, bool keepdim, str option) -> "
                 "(Tensor values, Tensor indices)")

    @staticmethod
    def pick(a, d, option):
        return np.argmin(a, axis=d, keepdims=True)


class Argmax(Op):
    """Index of the max (of the flattened input when ``dim`` is None)."""

    aten = "argmax"
    signature = "argmax(Tensor a, int? dim, bool keepdim, str name) -> Tensor"
    kind = "reduction"
    differentiable = False
    arg = staticmethod(np.ndarray.argmax)  # (the method: np.argmax's wrapper costs ~1 us)

    @staticmethod
    def _shape(a, dim, keepdim, name) -> tuple:
        """The result's shape, after torch's argument checks."""
        if dim is not None and not isinstance(dim, int):
            raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
        if a.dtype == np.bool_:
            raise RuntimeError(f"{name}(): does not support bool input")
        if dim is None:
            _check_nonempty(name, a, None, IndexError, hint="")
            return (1,) * a.ndim if keepdim else ()
        d = wrap_dim(dim, a.ndim)
        if a.ndim:
            _check_nonempty(name, a, (d,))
        return _meta.reduced(a.shape, (d,), keepdim) if a.ndim else ()

    @classmethod
    def meta(cls, a, dim, keepdim, name):
        return _meta.new(cls._shape(a, dim, keepdim, name), np.int64)

    @classmethod
    def forward(cls, ctx, a, dim, keepdim, name):
        if type(dim) is int and -a.ndim <= dim < a.ndim and a.size and a.dtype != np.bool_:
            # the usual call (a valid dim of a non-empty input: _shape's checks pass)
            return cls.arg(a, dim, keepdims=keepdim).astype(np.int64, copy=False)
        shape = cls._shape(a, dim, keepdim, name)
        if dim is None:
            return np.full(shape, cls.arg(a.reshape(-1)), dtype=np.int64)
        if not a.ndim:
            return np.zeros((), np.int64)
        return cls.arg(a, axis=dim, keepdims=keepdim).astype(np.int64, copy=False)


class Argmin(Argmax):
    aten = "argmin"
    signature = "argmin(Tensor a, int? dim, bool keepdim, str name) -> Tensor"
    arg = staticmethod(np.ndarray.argmin)


def _max_or_min(name: str, reduce_op, dim_op, result, binary: str):
    def fn(input, dim=None, keepdim=False, *, out=None):
        if isinstance(dim, Tensor):  # max(a, b) is maximum(a, b)
            from . import elementwise
            return getattr(elementwise, binary)(input, dim, out=out)
        if dim is None:
            return dispatch_out(reduce_op, out, input, None, False, name)
        if out is not None:
            check_out_dtype(out[0], input._data.dtype)
            check_out_dtype(out[1], np.int64)
        return result(*dispatch_out(dim_op, out, input, dim, keepdim, name))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"{name}(input) is the {name} value; {name}(input, dim, keepdim) a "
                  f"``({{values, indices}})`` named tuple; {name}(input, other) is {binary}.")
    return fn


max = _max_or_min("max", Amax, MaxDim, _ReturnMax, "maximum")  # noqa: A001
min = _max_or_min("min", Amin, MinDim, _ReturnMin, "minimum")  # noqa: A001


def _check_same_dtype(input: Tensor, out) -> None:
    """amax/amin want ``out`` of the input's dtype, with torch's message."""
    if isinstance(out, Tensor) and out._data.dtype != input._data.dtype:
        raise RuntimeError("Expected the dtype for input and out to match, but got "
                           f"{input.dtype.scalar_name} for input's dtype and "
                           f"{out.dtype.scalar_name} for out's dtype.")


def amax(input, dim=(), keepdim=False, *, out=None) -> Tensor:
    _check_same_dtype(input, out)
    return dispatch_out(Amax, out, input, dim, keepdim, "amax")


def amin(input, dim=(), keepdim=False, *, out=None) -> Tensor:
    _check_same_dtype(input, out)
    return dispatch_out(Amin, out, input, dim, keepdim, "amin")


def aminmax(input, *, dim=None, keepdim=False):
    if dim is None and not input.numel():
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                           "operation has no identity.")
    dim = () if dim is None else dim
    return _ReturnAminmax(dispatch(Amin, input, dim, keepdim, "aminmax"),
                          dispatch(Amax, input, dim, keepdim, "aminmax"))


def argmax(input, dim=None, keepdim=False) -> Tensor:
    return dispatch(Argmax, input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False) -> Tensor:
    return dispatch(Argmin, input, dim, keepdim, "argmin")


# ---- median --------------------------------------------------------------------------------

def _median_index(a: np.ndarray, d: int, ignore_nan: bool) -> np.ndarray:
    """Index (keepdims) of the lower median along ``d``; NaN wins unless ignored."""
    order = np.argsort(a, axis=d, kind="stable")  # NaNs sort last
    nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
    valid = a.shape[d] - nan.sum(axis=d, keepdims=True)
    k = np.maximum(valid - 1, 0) // 2 if ignore_nan else \
        np.full(valid.shape, (a.shape[d] - 1) // 2)
    index = np.take_along_axis(order, k, d)
    if not ignore_nan:
        index = np.where(valid < a.shape[d], np.argmax(nan, axis=d, keepdims=True), index)
    return index


class MedianAll(Op):
    """The lower median of all elements (``ignore_nan``: of the non-NaN ones)."""

    aten = "median"
    signature = "median(Tensor a, bool ignore_nan) -> Tensor"
    kind = "reduction"

    @staticmethod
    def meta(a, ignore_nan):
        return _meta.new((), a.dtype)

    @staticmethod
    def forward(ctx, a, ignore_nan):
        if not a.size:
            out = np.full((), np.nan if _is_float(a) else np.iinfo(np.int64).min, a.dtype)
        else:
            flat = a.reshape(-1)
            out = flat[_median_index(flat, 0, ignore_nan)].reshape(())
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        return _evenly(g, a, out, tuple(range(a.ndim)), False)


class MedianDim(_PickAlongDim):
    """median/nanmedian along one dim, with the index of the (lower) median."""

    aten = "median"
    signature = ("median.dim(Tensor a, int dim, bool keepdim, bool option) -> "
                 "(Tensor values, Tensor indices)")
    pick = staticmethod(_median_index)

    @staticmethod
    def op_name(ignore_nan) -> str:
        return "nanmedian" if ignore_nan else "median"


def median(input, dim=None, keepdim=False, *, out=None):
    """The lower of the two middle values (no averaging), NaN if any element is NaN."""
    if dim is None:
        return dispatch_out(MedianAll, out, input, False)
    return _ReturnMedian(*dispatch_out(MedianDim, out, input, dim, keepdim, False))


def nanmedian(input, dim=None, keepdim=False, *, out=None):
    """median ignoring NaNs."""
    if dim is None:
        return dispatch_out(MedianAll, out, input, True)
    return _ReturnNanmedian(*dispatch_out(MedianDim, out, input, dim, keepdim, True))


# ---- var, std ------------------------------------------------------------------------------

def _correction(name: str, unbiased, correction) -> float:
    if correction is not None:
        if unbiased is not None:
            raise TypeError(f"{name}(): cannot specify both unbiased and correction")
        return correction
    return 1 if unbiased is None or unbiased else 0


class Var(Op):
    """Variance with ``correction`` (Bessel's by default); ``take_sqrt`` gives std."""

    aten = "var"
    signature = ("var.correction(Tensor a, int[1]? dim, Scalar correction, bool keepdim, "
                 "bool take_sqrt) -> Tensor")
    kind = "reduction"

    @staticmethod
    def meta(a, dim, correction, keepdim, take_sqrt):
        if not _is_float(a):
            raise RuntimeError("std and var only support floating point and complex dtypes")
        return _reduction_meta(a, _reduce_dims(dim, a.ndim), keepdim, a.dtype)

    @staticmethod
    def decomposition(a, dim, correction, keepdim, take_sqrt):
        """``sum((a - mean)^2) / (n - correction)``, square-rooted for std."""
        dims = _all_dims(_reduce_dims(dim, a.ndim), a.ndim)
        centred = a - a.mean(dims, keepdim=True)
        out = (centred * centred).sum(dims, keepdim) / \
            builtins.max(0, _count(a.shape, dims) - correction)
        return out.sqrt() if take_sqrt else out

    @staticmethod
    def forward(ctx, a, dim, correction, keepdim, take_sqrt):
        name = "std" if take_sqrt else "var"
        if not _is_float(a):
            raise RuntimeError("std and var only support floating point and complex dtypes")
        dims = _reduce_dims(dim, a.ndim)
        all_dims = _all_dims(dims, a.ndim)
        denom = builtins.max(0, _count(a.shape, all_dims) - correction)
        if denom <= 0:
            warnings.warn(f"{name}(): degrees of freedom is <= 0. Correction should be strictly "
                          "less than the reduction factor (input numel divided by output "
                          "numel).", UserWarning, stacklevel=4)
        out = _var_kernel(a, all_dims, denom, keepdim)
        if out is None:
            x = _acc(a)
            with np.errstate(invalid="ignore", divide="ignore"):
                centred = x - np.mean(x, axis=dims, keepdims=True) if x.size else x
                out = np.sum(centred * centred, axis=dims, keepdims=keepdim) / denom
        if take_sqrt:
            out = np.sqrt(out)
        out = np.asarray(out).astype(a.dtype, copy=False)
        ctx.dims, ctx.keepdim, ctx.denom, ctx.take_sqrt = all_dims, keepdim, denom, take_sqrt
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        centred = a - a.mean(ctx.dims, keepdim=True)
        scale = 1 / ctx.denom if ctx.denom else math.inf  # no degrees of freedom: NaN
        if ctx.take_sqrt:  # d std = d var / (2 std); zero where std is zero
            g = g / (out + (out == 0))
            return _expand_back(g, a.shape, ctx.dims, ctx.keepdim) * centred * scale
        return _expand_back(g, a.shape, ctx.dims, ctx.keepdim) * centred * (2 * scale)


def _kept_dim(a: np.ndarray, dims: tuple) -> int | None:
    """The one dim of ``a`` that reducing over ``dims`` keeps, when ``_kernels_moments``
    takes the reduction (a non-empty C-contiguous float32/float64 array of 2 or more dims:
    batch norm's statistics); else None."""
    if a.ndim < 2 or len(dims) != a.ndim - 1 or not a.size or not a.flags.c_contiguous \
            or a.dtype not in (np.float32, np.float64):
        return None
    return next(d for d in range(a.ndim) if d not in dims)


def _trailing(a: np.ndarray, dims: tuple) -> bool:
    """Whether ``dims`` are the trailing dims (not all) of a non-empty C-contiguous
    float32/float64 ``a``: ``_kernels_moments.mean_rows`` takes its mean."""
    return 0 < len(dims) < a.ndim and dims == tuple(range(a.ndim - len(dims), a.ndim)) \
        and a.size > 0 and a.flags.c_contiguous and a.dtype in (np.float32, np.float64)


def _reduced_shape(shape: tuple, dims: tuple, keepdim: bool) -> tuple:
    return _keep_shape(shape, dims) if keepdim else \
        tuple(n for i, n in enumerate(shape) if i not in dims)


def _keep(out: np.ndarray, shape: tuple, dims: tuple, keepdim: bool) -> np.ndarray:
    """A 1-D reduction result shaped as the reduction of ``shape`` over ``dims``."""
    return out.reshape(_keep_shape(shape, dims)) if keepdim else out


def _var_kernel(a: np.ndarray, dims: tuple, denom: int, keepdim: bool) -> np.ndarray | None:
    """``var`` over every dim but one by the Numba kernel; None where it does not apply."""
    kept = _kept_dim(a, dims) if denom > 0 else None
    if kept is None:
        return None
    from . import _kernels_moments as K
    return _keep(K.var_around(a, kept, denom), a.shape, dims, keepdim)


def _var_args(name, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):  # var(input, unbiased)
        dim, unbiased = None, dim
    return dim, _correction(name, unbiased, correction), keepdim


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None) -> Tensor:
    dim, c, keepdim = _var_args("var", dim, unbiased, keepdim, correction)
    return dispatch_out(Var, out, input, dim, c, keepdim, False)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None) -> Tensor:
    dim, c, keepdim = _var_args("std", dim, unbiased, keepdim, correction)
    return dispatch_out(Var, out, input, dim, c, keepdim, True)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), \
        mean(input, None if isinstance(dim, bool) else dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), \
        mean(input, None if isinstance(dim, bool) else dim, keepdim)


# ---- norms ---------------------------------------------------------------------------------

class VectorNorm(Op):
    """``(sum |x|^p)^(1/p)`` over ``dim``; p = inf/-inf is max/min |x|, p = 0 counts
    non-zeros."""

    aten = "linalg_vector_norm"
    signature = ("linalg_vector_norm(Tensor a, float ord, int[1]? dim, bool keepdim, "
                 "ScalarType? dtype) -> Tensor")
    kind = "reduction"

    @staticmethod
    def meta(a, ord, dim, keepdim, dtype):
        dims = _check_vector_norm(a, ord, dim)
        return _reduction_meta(a, dims, keepdim, a.dtype if dtype is None else dtype)

    @staticmethod
    def decomposition(a, ord, dim, keepdim, dtype):
        """``sum(|a|^p)^(1/p)``, with max/min for p = +-inf and a count for p = 0."""
        dims = _check_vector_norm(a._data, ord, dim)
        x = (a if dtype is None else a.to(from_numpy_dtype(np.dtype(dtype)))).abs()
        if math.isinf(ord):
            return (amax if ord > 0 else amin)(x, () if dims is None else dims, keepdim)
        if ord == 0:
            return (x != 0).sum(dims, keepdim).to(x.dtype)
        if ord == 1:
            return x.sum(dims, keepdim)
        if ord == 2:
            return (x * x).sum(dims, keepdim).sqrt()
        return (x ** ord).sum(dims, keepdim) ** (1.0 / ord)

    @staticmethod
    def forward(ctx, a, ord, dim, keepdim, dtype):
        dims = _check_vector_norm(a, ord, dim)
        out_dtype = a.dtype if dtype is None else np.dtype(dtype)
        x = np.abs(_acc(a.astype(out_dtype, copy=False)))
        if math.isinf(ord):
            out = (np.amax if ord > 0 else np.amin)(x, axis=dims, keepdims=keepdim)
        elif ord == 0:
            out = np.sum(x != 0, axis=dims, keepdims=keepdim)
        elif ord == 1:
            out = np.sum(x, axis=dims, keepdims=keepdim)
        elif ord == 2:
            out = np.sqrt(np.sum(x * x, axis=dims, keepdims=keepdim))
        else:
            with np.errstate(divide="ignore"):
                out = np.sum(x ** ord, axis=dims, keepdims=keepdim) ** (1.0 / ord)
        out = np.asarray(out).astype(out_dtype, copy=False)
        ctx.ord, ctx.dims, ctx.keepdim = ord, _all_dims(dims, a.ndim), keepdim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        p, dims, keepdim, shape = ctx.ord, ctx.dims, ctx.keepdim, a.shape
        if p == 0:
            return _expand_back(g, shape, dims, keepdim) * 0.0
        if math.isinf(p):
            return _evenly(g, a.abs(), out, dims, keepdim) * a.sign()
        if p == 1:
            return _expand_back(g, shape, dims, keepdim) * a.sign()
        # zero-norm slices get a zero gradient (their a is zero), not nan
        safe = _expand_back(out + (out == 0), shape, dims, keepdim)
        g = _expand_back(g, shape, dims, keepdim)
        if p == 2:
            return g * a / safe
        return g * a.sign() * a.abs() ** (p - 1) / safe ** (p - 1)


def _check_vector_norm(a, ord: float, dim) -> tuple | None:
    """torch's checks of ``linalg.vector_norm``; the dims to reduce (None: all)."""
    if not _is_float(a):
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor "
                           f"as input. Got {dtype_name(a)}")
    dims = _reduce_dims(dim, a.ndim)
    if math.isinf(ord):
        _check_inf_norm(a, dims, ord)
    return dims


def _check_inf_norm(a: np.ndarray, dims: tuple | None, ord: float) -> None:
    if a.size:
        return
    if dims is None:
        raise RuntimeError(f"linalg.vector_norm cannot compute the {ord} norm on an empty "
                           "tensor because the operation does not have an identity")
    for d in dims:
        if a.shape[d] == 0:  # (sic: torch's message has no space after the dim)
            raise RuntimeError(f"linalg.vector_norm cannot compute the {ord} norm on the "
                               f"dimension {d}because this dimension is empty and the "
                               "operation does not have an identity")


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None) -> Tensor:
    """``torch.linalg.vector_norm``: ``x`` flattened when ``dim`` is None."""
    if isinstance(dim, (list, tuple)) and not dim:
        dim = None
    real = np.finfo(x._data.dtype).dtype if x._data.dtype.kind == "c" else x._data.dtype
    check_out_dtype(out, _np(dtype) or real)
    return dispatch_out(VectorNorm, out, x, float(ord), dim, keepdim, _np(dtype))


class _Svdvals(Op):
    """Singular values of the matrices in the last two dims, in descending order, without
    the singular vectors: what ``svdvals`` runs when no gradient is recorded."""

    aten = "linalg_svdvals"
    signature = "_svdvals(Tensor a) -> Tensor"
    kind = "opaque"
    differentiable = False  # with a gradient to record, svdvals runs _Svd

    @staticmethod
    def meta(a):
        _check_svd(a)
        return _meta.new(a.shape[:-2] + (builtins.min(a.shape[-2:]),), a.dtype)

    @staticmethod
    def forward(ctx, a):
        _check_svd(a)
        return np.linalg.svd(a, compute_uv=False)


class _Svd(Op):
    """The reduced SVD ``a = U diag(S) Vh`` of the (real) matrices in the last two dims,
    singular values descending (torch's ``_linalg_svd`` with ``full_matrices=False``).
    Its backward is torch's ``svd_backward`` written with ember ops, so svdvals and the
    spectral and nuclear norms differentiate to any order."""

    aten = "_linalg_svd"
    signature = "_svd(Tensor a) -> (Tensor U, Tensor S, Tensor Vh)"
    kind = "opaque"

    @staticmethod
    def meta(a):
        _check_svd(a)
        *batch, m, n = a.shape
        k = builtins.min(m, n)
        batch = tuple(batch)
        return (_meta.new(batch + (m, k), a.dtype), _meta.new(batch + (k,), a.dtype),
                _meta.new(batch + (k, n), a.dtype))

    @staticmethod
    def forward(ctx, a):
        _check_svd(a)
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        ctx.save_for_backward(u, s, vh)
        ctx.set_materialize_grads(False)
        return u, s, vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        return _svd_backward(gU, gS, gVh, *ctx.saved_tensors)


def _svd_backward(gU, gS, gVh, U: Tensor, S: Tensor, Vh: Tensor) -> Tensor:
    """The gradient of ``a`` from those of its reduced SVD's factors (any may be None), for
    real matrices: torch's ``svd_backward``. With ``E_jk = S_k^2 - S_j^2`` (1 on the
    diagonal) and ``skew(X) = X - X^T``::

        gA = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gS)] V^T
             + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T)

    (the last two terms only for tall, respectively wide, matrices). Repeated singular
    values make the singular vectors' gradient undefined (inf/NaN), as in torch."""
    if gU is None and gVh is None:
        return (U * gS.unsqueeze(-2)) @ Vh
    m, n, k = U.shape[-2], Vh.shape[-1], S.shape[-1]
    eye_k = eye(k, dtype=S.dtype)
    S2 = S * S
    inner = 0
    if gU is not None:
        UtgU = U.mT @ gU
        inner = (UtgU - UtgU.mT) * S.unsqueeze(-2)
    if gVh is not None:
        VtgV = Vh @ gVh.mT
        inner = inner + S.unsqueeze(-1) * (VtgV - VtgV.mT)
    inner = inner / (S2.unsqueeze(-2) - S2.unsqueeze(-1) + eye_k)
    if gS is not None:
        inner = inner + eye_k * gS.unsqueeze(-1)
    if m > n and gU is not None:
        gU_Sinv = gU / S.unsqueeze(-2)
        return (U @ inner + gU_Sinv - U @ (U.mT @ gU_Sinv)) @ Vh
    if m < n and gVh is not None:
        Sinv_gVh = gVh / S.unsqueeze(-1)
        return U @ (inner @ Vh + Sinv_gVh - (Sinv_gVh @ Vh.mT) @ Vh)
    return U @ (inner @ Vh)


def _check_svd(a) -> None:
    """torch's errors: LAPACK's SVD takes float32/float64 matrices (complex unsupported
    here)."""
    if a.ndim < 2:
        raise RuntimeError("linalg.svd: The input tensor A must have at least 2 dimensions.")
    if not _is_float(a):
        raise RuntimeError("linalg.svd: Expected a floating point or complex tensor as input. "
                           f"Got {dtype_name(a)}")
    if is_half(a.dtype):
        raise NotImplementedError(f'"linalg_svd_cpu" not implemented for \'{dtype_name(a)}\'')


def svdvals(A: Tensor, *, driver=None, out=None) -> Tensor:
    """The singular values; through the full reduced SVD when a gradient is recorded (its
    backward needs the singular vectors), as torch."""
    if out is not None or not (STATE.grad_enabled and A.requires_grad):
        return dispatch_out(_Svdvals, out, A)
    return dispatch(_Svd, A)[1]


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None,
                out=None) -> Tensor:
    """Frobenius, nuclear, 1, -1, 2, -2, inf and -inf norms of the matrices in ``dim``."""
    if out is not None:
        return dispatch_out(matrix_norm, out, A, ord, dim, keepdim, dtype=dtype)
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    if not A.is_floating_point():
        raise RuntimeError("linalg.matrix_norm: Expected a floating point or complex tensor as "
                           f"input. Got {A.dtype.scalar_name}")
    if dtype is not None:
        A = A.to(dtype)
    rows, cols = (wrap_dim(d, A.ndim) for d in dim)
    if rows == cols:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, "
                           f"{dim[1]})")
    if ord == "fro":
        return vector_norm(A, 2, (rows, cols), keepdim)
    if ord in ("nuc", 2, -2):
        if is_half(A._data.dtype):
            raise RuntimeError("linalg.matrix_norm: Low precision dtypes not supported. Got "
                               f"{A.dtype.scalar_name}")
        perm = [d for d in range(A.ndim) if d not in (rows, cols)] + [rows, cols]
        s = svdvals(A.permute(perm))
        result = s.sum(-1) if ord == "nuc" else s.amax(-1) if ord == 2 else s.amin(-1)
        if keepdim:
            result = result.unsqueeze(builtins.min(rows, cols)).unsqueeze(builtins.max(rows, cols))
        return result
    if ord in (1, -1, math.inf, -math.inf):
        # 1: max over columns of the column sums of |A|; inf: the same for rows
        summed, picked = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = vector_norm(A, 1, summed, keepdim=True)
        result = sums.amax(picked, keepdim=True) if ord > 0 else sums.amin(picked, keepdim=True)
        return result if keepdim else result.squeeze((rows, cols))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None) -> Tensor:
    """``torch.norm``: 'fro' and numbers are vector norms over ``dim``; 'nuc' is the
    nuclear norm of a matrix."""
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, int) or len(dim) <= 2):
            return vector_norm(input, 2, dim, keepdim, dtype=dtype, out=out)
        dims = tuple(range(input.ndim)) if dim is None else dim
        return matrix_norm(input, p, dims, keepdim, dtype=dtype, out=out)
    return vector_norm(input, 2.0 if p is None else p, dim, keepdim, dtype=dtype, out=out)


# ---- logsumexp -----------------------------------------------------------------------------

class Logsumexp(Op):
    """``log(sum(exp(x)))`` computed as ``m + log(sum(exp(x - m)))`` with ``m`` the max."""

    aten = "logsumexp"
    signature = "logsumexp(Tensor a, int[1] dim, bool keepdim) -> Tensor"
    kind = "reduction"

    @staticmethod
    def meta(a, dim, keepdim):
        return _reduction_meta(a, _reduce_dims(dim, a.ndim), keepdim, _meta.float_dtype(a.dtype))

    @staticmethod
    def decomposition(a, dim, keepdim):
        """``m + log(sum(exp(a - m)))`` with ``m`` the max (0 where it is not finite)."""
        if not a.is_floating_point():
            a = a.to(from_numpy_dtype(_meta.float_dtype(a._data.dtype)))
        dims = _all_dims(_reduce_dims(dim, a.ndim), a.ndim)
        if a.numel():
            m = amax(a, dims, True)
            m = m.masked_fill(m.isfinite().logical_not(), 0)
        else:
            m = a.new_zeros(_keep_shape(a.shape, dims))
        out = (a - m).exp().sum(dims, keepdim).log()
        return out + (m if keepdim or not dims else m.squeeze(dims))

    @staticmethod
    def forward(ctx, a, dim, keepdim):
        dims = _reduce_dims(dim, a.ndim)
        all_dims = _all_dims(dims, a.ndim)
        x = _acc(float_result(a))
        with np.errstate(divide="ignore", invalid="ignore"):
            if x.size:
                m = np.amax(x, axis=dims, keepdims=True)
                m = np.where(np.isfinite(m), m, 0)
            else:
                m = np.zeros(_keep_shape(x.shape, all_dims), x.dtype)
            out = np.log(np.sum(np.exp(x - m), axis=dims, keepdims=True)) + m
        if not keepdim:
            out = out.squeeze(all_dims)
        out = np.asarray(out).astype(float_result(a).dtype, copy=False)
        ctx.dims, ctx.keepdim = all_dims, keepdim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        shape = a.shape
        return _expand_back(g, shape, ctx.dims, ctx.keepdim) * \
            (a - _expand_back(out, shape, ctx.dims, ctx.keepdim)).exp()


def logsumexp(input, dim, keepdim=False, *, out=None) -> Tensor:
    if isinstance(out, Tensor) and not out.is_floating_point():
        raise RuntimeError("logsumexp(): Expected floating point type for result tensor, but "
                           f"got: {out.dtype.scalar_name}")
    return dispatch_out(Logsumexp, out, input, dim, keepdim)


# ---- scans ---------------------------------------------------------------------------------

def _scan_dtype(a: np.ndarray, dtype):
    return _int_to_long(a.dtype) if dtype is None else np.dtype(dtype)


def _scan_meta(a, dim, dtype):
    wrap_dim(dim, a.ndim)
    return _meta.like(a, _scan_dtype(a, dtype))


class Cumsum(Op):
    """Running sum along ``dim`` (from the end when ``reverse``: cumsum's own gradient,
    torch's ``flip(cumsum(flip(g)))`` as one op)."""

    aten = "cumsum"
    signature = "cumsum(Tensor a, int dim, ScalarType? dtype=None, bool reverse=False) -> Tensor"
    kind = "reduction"

    @staticmethod
    def meta(a, dim, dtype=None, reverse=False):
        return _scan_meta(a, dim, dtype)

    @staticmethod
    def forward(ctx, a, dim, dtype=None, reverse=False):
        d = wrap_dim(dim, a.ndim)
        ctx.dim, ctx.reverse = d, reverse
        dtype = _scan_dtype(a, dtype)
        x = _acc(a.astype(dtype, copy=False))
        if not a.ndim:
            return x.astype(dtype)
        if reverse:
            out = np.empty_like(x)
            np.cumsum(np.flip(x, d), axis=d, out=np.flip(out, d))
            return out.astype(dtype, copy=False)
        return np.cumsum(x, axis=d).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return dispatch(Cumsum, g, ctx.dim, None, not ctx.reverse)


class Cumprod(Op):
    aten = "cumprod"
    signature = "cumprod(Tensor a, int dim, ScalarType? dtype=None) -> Tensor"
    kind = "reduction"

    @staticmethod
    def meta(a, dim, dtype=None):
        return _scan_meta(a, dim, dtype)

    @staticmethod
    def forward(ctx, a, dim, dtype=None):
        d = wrap_dim(dim, a.ndim)
        dtype = _scan_dtype(a, dtype)
        x = _acc(a.astype(dtype, copy=False))
        out = np.cumprod(x, axis=d if a.ndim else None).reshape(a.shape).astype(dtype)
        ctx.dim = d
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        d = ctx.dim
        if not a.ndim:
            return g
        return _cumprod_grad(g, a, out, d)


def _cumprod_grad(g: Tensor, a: Tensor, out: Tensor, d: int) -> Tensor:
    """The gradient of ``out = cumprod(a, d)``, O(n) and without dividing by zeros (torch's
    ``cumprod_backward``). Without zeros it is ``revcumsum(g * out) / a``. Otherwise, with
    ``z`` each slice's first zero and ``a'`` = ``a`` with ``a_z`` replaced by one,
    ``out = cumprod(a') * m`` where ``m`` is 1 before ``z`` and ``a_z`` from ``z`` on: the
    gradient at ``z`` is ``sum_{k >= z} g_k cumprod(a')_k``, elsewhere that of ``cumprod(a')``
    for ``g * m`` (recursing while slices have more zeros). Written so, every order of
    derivative is right, also the cross terms with ``a_z`` that vanish at first order."""
    if not _has_zeros(a):
        return dispatch(Cumsum, g * out, d, None, True) / a
    is_zero = a == 0
    first = is_zero.logical_and(is_zero.cumsum(d) == 1)
    a1 = a.masked_fill(first, 1)
    others = a1.cumprod(d)
    a_z = a.masked_fill(first.logical_not(), 0).sum(d, keepdim=True)
    m = where(first.cumsum(d) > 0, a_z, 1.0)
    grad = _cumprod_grad(g * m, a1, others, d).masked_fill(first, 0)
    return grad + dispatch(Cumsum, g * others, d, None, True).masked_fill(first.logical_not(), 0)


class Cummax(Op):
    """Running max along ``dim`` with the index it came from (the last among ties)."""

    aten = "cummax"
    signature = "cummax(Tensor a, int dim) -> (Tensor values, Tensor indices)"
    kind = "reduction"
    accumulate = staticmethod(np.maximum.accumulate)

    @staticmethod
    def meta(a, dim):
        wrap_dim(dim, a.ndim)
        return _meta.like(a), _meta.like(a, np.int64)

    @classmethod
    def forward(cls, ctx, a, dim):
        d = wrap_dim(dim, a.ndim)
        if not a.ndim:
            ctx.dim = None
            return a.copy(), np.zeros((), np.int64)
        values = cls.accumulate(a, axis=d)
        hit = a == values
        if a.dtype.kind == "f":
            hit |= np.isnan(a)
        positions = np.arange(a.shape[d]).reshape([-1 if i == d else 1 for i in range(a.ndim)])
        index = np.maximum.accumulate(np.where(hit, positions, 0), axis=d).astype(np.int64)
        ctx.dim, ctx.shape = d, a.shape
        ctx.save_for_backward(index)
        ctx.set_materialize_grads(False)  # no zeros for the indices, which have no gradient
        return values, index

    @staticmethod
    def backward(ctx, g, _):
        if ctx.dim is None:
            return g
        (index,) = ctx.saved_tensors
        return _route(g, index, ctx.dim, ctx.shape, accumulate=True)


class Cummin(Cummax):
    aten = "cummin"
    signature = "cummin(Tensor a, int dim) -> (Tensor values, Tensor indices)"
    accumulate = staticmethod(np.minimum.accumulate)


def cumsum(input, dim, *, dtype=None, out=None) -> Tensor:
    _check_dtype_arg(input, dim, dtype, "cumsum")
    return dispatch_out(Cumsum, out, input, dim, _sum_dtype(dtype, out))


def cumprod(input, dim, *, dtype=None, out=None) -> Tensor:
    _check_dtype_arg(input, dim, dtype, "cumprod")
    return dispatch_out(Cumprod, out, input, dim, _sum_dtype(dtype, out))


def cummax(input, dim):
    return _ReturnCummax(*dispatch(Cummax, input, dim))


def cummin(input, dim):
    return _ReturnCummin(*dispatch(Cummin, input, dim))


# ---- all, any, count_nonzero ---------------------------------------------------------------

class All(Op):
    aten = "all"
    signature = "all.dims(Tensor a, int[1]? dim, bool keepdim) -> Tensor"
    kind = "reduction"
    differentiable = False
    reduce = staticmethod(np.all)

    @staticmethod
    def meta(a, dim, keepdim):
        dtype = np.uint8 if a.dtype == np.uint8 else np.bool_
        return _reduction_meta(a, _reduce_dims(dim, a.ndim), keepdim, dtype)

    @classmethod
    def forward(cls, ctx, a, dim, keepdim):
        out = np.asarray(cls.reduce(a, axis=_reduce_dims(dim, a.ndim), keepdims=keepdim))
        return out.astype(np.uint8) if a.dtype == np.uint8 else out  # as torch, uint8 stays


class Any(All):
    aten = "any"
    signature = "any.dims(Tensor a, int[1]? dim, bool keepdim) -> Tensor"
    reduce = staticmethod(np.any)


class CountNonzero(Op):
    aten = "count_nonzero"
    signature = "count_nonzero.dim_IntList(Tensor a, int[1]? dim) -> Tensor"
    kind = "reduction"
    differentiable = False

    @staticmethod
    def meta(a, dim):
        return _reduction_meta(a, _reduce_dims(dim, a.ndim), False, np.int64)

    @staticmethod
    def forward(ctx, a, dim):
        return np.asarray(np.count_nonzero(a, axis=_reduce_dims(dim, a.ndim)), dtype=np.int64)


def _check_bool_out(name: str, input: Tensor, out) -> None:
    """all/any write only into a bool ``out`` (uint8 for a uint8 input: torch's check,
    before the cast rule)."""
    allowed = (np.bool_, np.uint8) if input._data.dtype == np.uint8 else (np.bool_,)
    if isinstance(out, Tensor) and out._data.dtype not in allowed:
        raise RuntimeError(f"{name} only supports bool tensor for result, got: "
                           f"{out.dtype.scalar_name}")


def all(input, dim=None, keepdim=False, *, out=None) -> Tensor:  # noqa: A001
    _check_bool_out("all", input, out)
    return dispatch_out(All, out, input, dim, keepdim)


def any(input, dim=None, keepdim=False, *, out=None) -> Tensor:  # noqa: A001
    _check_bool_out("any", input, out)
    return dispatch_out(Any, out, input, dim, keepdim)


def count_nonzero(input, dim=None) -> Tensor:
    return dispatch(CountNonzero, input, dim)


# ---- softmax -------------------------------------------------------------------------------

_ROW_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_KT = None  # _kernels_transformer once loaded (lazily: ``import ember`` loads no Numba)


def _row_kernels():
    global _KT
    from . import _kernels_transformer
    _KT = _kernels_transformer
    return _KT


class Softmax(Op):
    """Fused, numerically stable softmax along ``dim`` (max subtracted first)."""

    aten = "_softmax"
    signature = "_softmax(Tensor a, int dim, ScalarType? dtype=None) -> Tensor"
    kind = "reduction"
    log = False
    kernel_name = "softmax"

    @classmethod
    def _check(cls, a, dim, dtype) -> tuple[int, np.dtype]:
        """The wrapped dim and the computing dtype; torch's error for a non-empty input
        that is not floating point (empty ones are returned before a kernel is picked)."""
        d = wrap_dim(dim, a.ndim)
        dtype = a.dtype if dtype is None else np.dtype(dtype)
        if a.size and not (dtype.kind in "fc" or is_bfloat16(dtype)):
            last = "lastdim_" if d == builtins.max(a.ndim - 1, 0) else ""
            raise NotImplementedError(f'"{cls.kernel_name}_{last}kernel_impl" not implemented '
                                      f"for '{from_numpy_dtype(dtype).scalar_name}'")
        return d, dtype

    @classmethod
    def meta(cls, a, dim, dtype=None):
        _, dtype = cls._check(a, dim, dtype)
        if not (dtype.kind in "fc" or is_bfloat16(dtype)):
            return _meta.new(a.shape, dtype)  # an empty input, copied
        return _meta.like(a, dtype)

    @classmethod
    def decomposition(cls, a, dim, dtype=None):
        """``exp(a - m) / sum(exp(a - m))`` (log: ``(a - m) - log(sum(exp(a - m)))``) with
        ``m`` the max along ``dim``."""
        if dtype is not None:
            a = a.to(from_numpy_dtype(np.dtype(dtype)))
        if not a.numel():
            return a.clone()
        shifted = a - amax(a, dim, True)
        total = shifted.exp().sum(dim, True)
        return shifted - total.log() if cls.log else shifted.exp() / total

    @classmethod
    def forward(cls, ctx, a, dim, dtype=None):
        if dtype is None and type(dim) is int and a.ndim and (dim == -1 or dim == a.ndim - 1) \
                and a.dtype in _ROW_DTYPES and a.flags.c_contiguous and a.size:
            # the usual call (attention's scores, a classifier's logits): straight to the
            # row kernel (the checks and dispatch below cost ~3 us, 128 floats' rows ~1)
            out = (_KT or _row_kernels()).softmax(a, cls.log)
            ctx.dim = a.ndim - 1
            ctx.save_for_backward(out)
            return out
        d, dtype = cls._check(a, dim, dtype)
        a = a.astype(dtype, copy=False)
        if not _is_float(a):  # empty
            return a.copy()
        from . import _kernels_reductions as K
        out = K.softmax(a, d, cls.log)
        ctx.dim = d
        ctx.save_for_backward(out)
        return out

    @classmethod
    def backward(cls, ctx, g):
        (y,) = ctx.saved_tensors
        return dispatch(SoftmaxBackward if not cls.log else LogSoftmaxBackward, g, y, ctx.dim)


class LogSoftmax(Softmax):
    aten = "_log_softmax"
    signature = "_log_softmax(Tensor a, int dim, ScalarType? dtype=None) -> Tensor"
    log = True
    kernel_name = "log_softmax"


class SoftmaxBackward(Op):
    """``y * (g - sum(g * y))``, fused; differentiable again for double backward."""

    aten = "_softmax_backward_data"
    signature = "_softmax_backward_data(Tensor g, Tensor y, int dim) -> Tensor"
    kind = "reduction"
    log = False

    @classmethod
    def meta(cls, g, y, dim):  # NumPy's operand order in softmax_backward_numpy
        return _meta.pointwise(g, y) if cls.log else _meta.pointwise(y, g)

    @classmethod
    def decomposition(cls, g, y, dim):
        if cls.log:
            return g - y.exp() * g.sum(dim, True)
        return y * (g - (g * y).sum(dim, True))

    @classmethod
    def forward(cls, ctx, g, y, dim):
        from . import _kernels_reductions as K
        ctx.dim = dim
        ctx.save_for_backward(g, y)
        return K.softmax_backward(g, y, dim, cls.log)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        d = ctx.dim
        grad_g = dispatch(SoftmaxBackward, gg, y, d)
        grad_y = gg * (g - (g * y).sum(d, keepdim=True)) - g * (gg * y).sum(d, keepdim=True)
        return grad_g, grad_y


class LogSoftmaxBackward(SoftmaxBackward):
    """``g - exp(y) * sum(g)``, fused; differentiable again for double backward."""

    aten = "_log_softmax_backward_data"
    signature = "_log_softmax_backward_data(Tensor g, Tensor y, int dim) -> Tensor"
    log = True

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        d = ctx.dim
        p = y.exp()
        grad_g = gg - (gg * p).sum(d, keepdim=True)
        grad_y = -gg * p * g.sum(d, keepdim=True)
        return grad_g, grad_y


def _softmax_dim(ndim: int, name: str) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, computed in ``dtype`` if given."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmax")
    return dispatch(Softmax, input, dim, _np(dtype))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``, computed in ``dtype`` if given."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "log_softmax")
    return dispatch(LogSoftmax, input, dim, _np(dtype))


def softmin(input, dim=None, _stacklevel=3, dtype=None) -> Tensor:
    """softmax of ``-input``."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmin")
    return softmax(-input if dtype is None else -input.to(dtype), dim)


# ---- Tensor methods ------------------------------------------------------------------------

for _fn in (sum, nansum, mean, nanmean, prod, max, min, amax, amin, aminmax, argmax, argmin,
            var, std, norm, logsumexp, cumsum, cumprod, cummax, cummin, all, any,
            count_nonzero, median, nanmedian, softmax, log_softmax):
    tensor_method(_fn.__name__)(_fn)


@tensor_method()
def cumsum_(self, dim, *, dtype=None) -> Tensor:
    return dispatch(Cumsum.inplace_op(), self, dim, _np(dtype))


@tensor_method()
def cumprod_(self, dim, *, dtype=None) -> Tensor:
    return dispatch(Cumprod.inplace_op(), self, dim, _np(dtype))


del _fn
