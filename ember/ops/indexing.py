"""Indexing ops: getitem/setitem, gather/scatter, masked ops, sort/topk, unique.

Two primitives carry all of ``x[key]`` and ``x[key] = v``: ``Index`` (a view for basic
keys, a copy with advanced ones) and ``IndexPut`` (a copy with the region written or
accumulated). Each is the other's backward, so gradients of any order flow through them.
``Scatter``/``Gather`` play the same pair for the ``dim``/``index`` ops. Index tensors are
positional arguments (the dispatcher, its modes and the compiler see them); the rest of
the key travels as a spec with ``_Slot`` placeholders.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np

from .._dispatch import Op, check_out_dtype, dispatch, dispatch_out
from .._dtype import is_bfloat16
from .._meta import MetaArray
from .._tensor import Tensor, _make, tensor_method
from . import _meta
from ._pointwise import _SPLIT_MIN, _kernels
from ._return_types import values_indices
from ._util import dtype_name, wrap_dim
from .shape import _expand_geometry, _IndexScatter, _strided, _ViewScatter

__all__ = ["index_put", "gather", "scatter", "scatter_add", "scatter_reduce", "index_select",
           "index_add", "index_copy", "index_fill", "take", "take_along_dim", "put",
           "masked_fill", "masked_select", "masked_scatter", "nonzero", "argwhere", "sort",
           "argsort", "msort", "topk", "kthvalue", "unique", "unique_consecutive",
           "searchsorted", "bucketize", "repeat_interleave", "tril", "triu"]


# ---- keys: what x[key] means ------------------------------------------------------------

class _Slot:
    """Stands in a key spec for the index tensor passed as positional argument ``i``."""

    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i

    def __repr__(self) -> str:
        return f"<index {self.i}>"


def _seq_as_tuple(seq: list) -> bool:
    """torch (like old NumPy) reads ``x[[a, b]]`` as ``x[a, b]`` when an item is a tensor,
    sequence, slice, None or Ellipsis; otherwise the list is one integer/bool index."""
    return any(isinstance(k, (Tensor, np.ndarray, list, tuple, slice)) or k is None
               or k is Ellipsis for k in seq)


def _plain_slice(k: slice) -> bool:
    """Whether the slice's bounds are all None or Python ints (nothing to convert)."""
    start, stop, step = k.start, k.stop, k.step
    return (start is None or type(start) is int) and (stop is None or type(stop) is int) \
        and (step is None or type(step) is int)


def _prepare_key(key) -> tuple[tuple, list[Tensor]]:
    """Split a Python key into a spec (ints, slices, None, Ellipsis, bools, slots) and the
    index tensors the slots refer to."""
    if isinstance(key, list) and _seq_as_tuple(key):
        key = tuple(key)
    elif not isinstance(key, tuple):
        key = (key,)
    spec, tensors = [], []
    for k in key:
        if type(k) is int or (type(k) is slice and _plain_slice(k)):  # the usual keys
            spec.append(k)
            continue
        if isinstance(k, Tensor):
            arr = k._data
            if arr.ndim == 0 and arr.dtype.kind == "i":  # torch selects, as for an int
                if type(arr) is MetaArray:
                    raise RuntimeError("Tensor.item() cannot be called on meta tensors")
                spec.append(int(arr))
                continue
        elif isinstance(k, (list, np.ndarray, range)):  # torch takes any sequence
            arr = np.asarray(k)
            if arr.size == 0 and isinstance(k, list):
                arr = arr.astype(np.int64)
            k = _make(arr)
        elif k is None or k is Ellipsis or isinstance(k, (bool, np.bool_)):
            spec.append(k if k is None or k is Ellipsis else bool(k))
            continue
        elif isinstance(k, slice):
            spec.append(slice(*(None if v is None else operator.index(v)
                                for v in (k.start, k.stop, k.step))))
            continue
        else:
            try:
                spec.append(operator.index(k))
            except TypeError:
                raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long "
                                 "or byte Variables are valid indices (got "
                                 f"{type(k).__name__})") from None
            continue
        if arr.dtype.kind not in "iub":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        spec.append(_Slot(len(tensors)))
        tensors.append(k)
    return tuple(spec), tensors


def _check_bounds(index: np.ndarray, size: int, dim: int, negative: bool = True,
                  exc: type = IndexError, prefix: str = "") -> None:
    """torch's error for an index out of ``[-size, size)`` (``[0, size)``); nothing to check
    on a MetaArray, which has no values."""
    if isinstance(index, np.ndarray) and index.size:
        lo, hi = int(index.min()), int(index.max())
        if hi >= size or lo < (-size if negative else 0):
            bad = hi if hi >= size else lo
            raise exc(f"{prefix}index {bad} is out of bounds for dimension {dim} with size {size}")


def _scalar(value, dtype: np.dtype) -> np.ndarray:
    """A Python number as a 0-d array of ``dtype``; integers out of its range are an error
    in torch rather than NumPy's wrap-around."""
    if dtype.kind in "iu" and isinstance(value, (int, float)) and not isinstance(value, bool):
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise RuntimeError(f"value cannot be converted to type {dtype.name}_t without "
                               "overflow")
    return np.asarray(value).astype(dtype)


def _broadcast_shapes(*shapes) -> tuple:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        a, b = shapes[0], shapes[-1]
        for i in range(1, min(len(a), len(b)) + 1):
            if a[-i] != b[-i] and 1 not in (a[-i], b[-i]):
                raise RuntimeError(f"The size of tensor a ({a[-i]}) must match the size of "
                                   f"tensor b ({b[-i]}) at non-singleton dimension "
                                   f"{max(len(a), len(b)) - i}") from None
        raise


def _plan(shape: tuple, spec: tuple, indices: tuple) -> tuple[tuple, tuple | None]:
    """NumPy keys for torch's semantics: a basic key (ints select, slices, None) applied
    first, then an advanced key over the result, or None.

    torch applies integer indices as ``select`` before the advanced ones, so ``x[0, :, [1]]``
    keeps the slice dim first, where NumPy would move the advanced dim to the front. A
    Python bool is ``unsqueeze`` plus an index ``[0]`` (True) or ``[]`` (False).
    """
    ndim = len(shape)
    consumed = 0
    for k in spec:
        if type(k) is _Slot:
            arr = indices[k.i]
            consumed += arr.ndim if arr.dtype.kind == "b" or arr.dtype == np.uint8 else 1
        elif k is not None and k is not Ellipsis and type(k) is not bool:
            consumed += 1
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    basic: list = []
    adv: dict = {}  # result dim -> index array (a mask spans arr.ndim dims)
    src = res = 0
    ellipsis = False
    for k in spec:
        if k is Ellipsis:
            if ellipsis:
                raise IndexError("an index can only have a single ellipsis ('...')")
            ellipsis = True
            n = ndim - consumed
            basic.extend([slice(None)] * n)
            src, res = src + n, res + n
        elif k is None:
            basic.append(None)
            res += 1
        elif type(k) is bool:
            basic.append(None)
            adv[res] = np.zeros(1 if k else 0, np.int64)
            res += 1
        elif type(k) is slice:
            if k.step is not None and k.step <= 0:
                raise ValueError("step must be greater than zero" if k.step < 0 else
                                 "slice step cannot be zero")
            basic.append(k)
            src, res = src + 1, res + 1
        elif type(k) is _Slot:
            arr = indices[k.i]
            if arr.dtype.kind == "b" or arr.dtype == np.uint8:
                arr = arr.astype(bool, copy=False)
                if arr.ndim == 0:  # a 0-d mask is a bool scalar
                    basic.append(None)
                    adv[res] = np.zeros(1 if arr else 0, np.int64)
                    res += 1
                    continue
                if arr.shape != tuple(shape[src:src + arr.ndim]):
                    raise IndexError(
                        f"The shape of the mask {list(arr.shape)} at index {len(adv)} does not "
                        f"match the shape of the indexed tensor {list(shape)} at index {src}")
            else:
                _check_bounds(arr, shape[src], src)
            basic.extend([slice(None)] * arr.ndim if arr.dtype == np.bool_ else [slice(None)])
            adv[res] = arr
            step = arr.ndim if arr.dtype == np.bool_ else 1
            src, res = src + step, res + step
        else:
            if not -shape[src] <= k < shape[src]:
                raise IndexError(f"index {k} is out of bounds for dimension {src} with size "
                                 f"{shape[src]}")
            basic.append(k)
            src += 1
    basic.append(Ellipsis)  # NumPy then returns a 0-d view, not a scalar, for x[0, 1]
    if not adv:
        return tuple(basic), None
    if len(adv) > 1 and not any(x.dtype == np.bool_ for x in adv.values()):
        _check_broadcast([x.shape for x in adv.values()])
    key: list = []
    r = 0
    last = max(adv)
    while r <= last:
        arr = adv.get(r)
        if arr is None:
            key.append(slice(None))
            r += 1
        else:
            key.append(arr)
            r += arr.ndim if arr.dtype == np.bool_ else 1
    return tuple(basic), tuple(key)


def _check_broadcast(shapes: list) -> None:
    """torch's error when integer index tensors do not broadcast together."""
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with "
                         f"shapes {', '.join(str(list(s)) for s in shapes)}") from None


def _region(a: np.ndarray, plan) -> np.ndarray:
    basic, adv = plan
    out = a[basic]
    return out if adv is None else out[adv]


def _new_dim_strides(a, basic: tuple, strides: tuple) -> tuple:
    """``strides`` of ``a[basic]`` (NumPy's: 0 for the dims that None inserts) with torch's
    strides for those dims: torch applies the key left to right, and ``unsqueeze`` gives the
    new dim the extent (size * stride) of the source dim that follows it, before that one is
    sliced."""
    strides = list(strides)
    src = res = 0
    for k in basic:
        if k is None:
            strides[res] = a.shape[src] * a.strides[src] if src < a.ndim else a.itemsize
            res += 1
        else:
            src += 1
            res += type(k) is slice
    return tuple(strides)


def _basic_geometry(a, basic: tuple) -> tuple[tuple, tuple]:
    """(shape, byte strides) of NumPy's ``a[basic]`` for a basic key from ``_plan`` (ints,
    slices, None, and a final Ellipsis), from ``a``'s metadata alone."""
    shape, strides = [], []
    src = 0
    for k in basic:
        if k is Ellipsis:
            shape.extend(a.shape[src:])
            strides.extend(a.strides[src:])
        elif k is None:
            shape.append(1)
            strides.append(0)
        elif type(k) is slice:
            start, stop, step = k.indices(a.shape[src])
            shape.append(len(range(start, stop, step)))
            strides.append(a.strides[src] * step)
            src += 1
        else:
            src += 1
    return tuple(shape), tuple(strides)


def _fancy_meta(view: MetaArray, key: tuple) -> MetaArray:
    """NumPy's result of ``view[key]`` for an advanced key from ``_plan`` (whole-dim slices
    and integer index arrays), laid out as NumPy's ``MapIter`` allocates it: the broadcast
    index dims outermost in C order, then the remaining ("subspace") dims sorted by
    |stride| as in ``view``; the index dims then move to where the index arrays stood when
    those are adjacent. With no subspace (or one of a single element) the index dims follow
    the index arrays' layout."""
    where = [i for i, k in enumerate(key) if type(k) is not slice]
    arrays = [key[i] for i in where]
    fancy = np.broadcast_shapes(*(x.shape for x in arrays))
    sub = [d for d in range(view.ndim) if d not in where]
    sub_shape = tuple(view.shape[d] for d in sub)
    sub_strides = tuple(view.strides[d] for d in sub)
    item, nf = view.itemsize, len(fancy)
    strides = [0] * (nf + len(sub))
    if math.prod(sub_shape) == 1:
        strides[:nf] = _meta.layout(fancy, item, *arrays)
    else:
        step = item
        for d in sorted(range(len(sub)), key=lambda d: (-abs(sub_strides[d]), d))[::-1]:
            strides[nf + d] = step
            step *= max(sub_shape[d], 1)
        for d in reversed(range(nf)):
            strides[d] = step
            step *= max(fancy[d], 1)
    shape = fancy + sub_shape
    first = where[0]
    if first and where == list(range(first, first + len(where))):
        order = list(range(nf, nf + first)) + list(range(nf)) + list(range(nf + first,
                                                                          nf + len(sub)))
        shape, strides = tuple(shape[i] for i in order), [strides[i] for i in order]
    return MetaArray(shape, view.dtype, strides)


def _is_mask(index) -> bool:
    return index.dtype == np.bool_ or index.dtype == np.uint8


def _positions(shape: tuple) -> np.ndarray:
    """Each element's flat (C-order) position: indexing this gives where a key points."""
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)


def _writable_copy(cls, a: np.ndarray) -> np.ndarray:
    """What a writing op fills: ``a`` itself for the in-place variant when it is
    C-contiguous (the dispatcher hands the recorded path a private copy already), else a
    fresh C-contiguous copy. Callers may then use ``out.reshape(-1)`` as a flat view."""
    if cls.inplace and a.flags.c_contiguous and a.flags.writeable:
        return a
    return a.copy()


def _fit(vals, shape: tuple) -> np.ndarray:
    """``vals`` broadcast to ``shape``, after dropping leading size-1 dims as torch does."""
    vals = np.asarray(vals)
    while vals.ndim > len(shape) and vals.shape[0] == 1:
        vals = vals[0]
    return np.broadcast_to(vals, shape)


def _add_at(flat: np.ndarray, pos: np.ndarray, vals) -> None:
    """``flat[pos] += vals`` where repeated positions accumulate (``np.add.at``).

    ``np.bincount`` sums in float64 and is far faster than ``np.add.at`` when the updates
    are not much sparser than the target; integers keep exact ``add.at`` arithmetic."""
    vals = _fit(vals, pos.shape).reshape(-1)
    pos = pos.reshape(-1)
    if pos.size * 8 < flat.size or not (flat.dtype.kind in "fc" or is_bfloat16(flat.dtype)):
        np.add.at(flat, pos, vals.astype(flat.dtype, copy=False))
    elif flat.dtype.kind == "c":
        flat += (np.bincount(pos, vals.real.astype(np.float64), flat.size)
                 + 1j * np.bincount(pos, vals.imag.astype(np.float64), flat.size)
                 ).astype(flat.dtype)
    else:
        flat += np.bincount(pos, vals.astype(np.float64), flat.size).astype(flat.dtype)


def _sum_to_value(g: Tensor, shape: tuple) -> Tensor:
    """Reduce a gradient over the indexed region back to the assigned value's shape
    (NumPy and torch drop the value's leading size-1 dims before broadcasting)."""
    if g._data.shape == shape:
        return g
    core = shape
    while len(core) > g.ndim and core[0] == 1:
        core = core[1:]
    lead = g.ndim - len(core)
    dims = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(core)
                                      if s == 1 and g._data.shape[i + lead] != 1)
    if dims:
        g = g.sum(dims, keepdim=True)
    return g.reshape(shape)


def _tensors(arrays) -> list[Tensor]:
    return [_make(a) for a in arrays]


class Index(Op):
    """``a[key]``: a view for basic keys, a copy when the key has index tensors.

    ``spec`` is the key with ``_Slot`` placeholders for the index tensors, which follow
    as positional arguments (``Tensor[] indices`` in the signature)."""

    aten = "index"
    signature = "index.Tensor(Tensor(a) a, Any spec, Tensor[] indices) -> Tensor(a)"
    kind = "view"
    view = True

    @staticmethod
    def meta(a, spec, *indices):
        if any(_is_mask(i) for i in indices):
            _meta.dynamic_shape("index with a boolean mask")
        basic, adv = _plan(a.shape, spec, indices)
        shape, strides = _basic_geometry(a, basic)
        if adv is not None:
            return _fancy_meta(MetaArray(shape, a.dtype, strides), adv)
        if None in basic:
            strides = _new_dim_strides(a, basic, strides)
        return MetaArray(shape, a.dtype, strides)

    @staticmethod
    def forward(ctx, a, spec, *indices):
        plan = _plan(a.shape, spec, indices)
        ctx.shape, ctx.spec, ctx.plan = a.shape, spec, plan
        out = _region(a, plan)
        if plan[1] is None and None in plan[0]:
            out = _strided(out, 0, out.shape, _new_dim_strides(a, plan[0], out.strides))
        return out

    @staticmethod
    def view_of(a: np.ndarray, spec: tuple) -> np.ndarray:
        """``a[spec]`` for a basic key (``_ViewScatter`` writes through it)."""
        return a[_plan(a.shape, spec, ())[0]]

    @staticmethod
    def backward(ctx, g):
        if ctx.plan[1] is None:  # a view: write the gradient into that view of zeros
            return dispatch(_ViewScatter, g, ctx.shape, Index, (ctx.spec,))
        # repeated indices accumulate
        return dispatch(_IndexScatter, g, _region(_positions(ctx.shape), ctx.plan), ctx.shape)


class IndexPut(Op):
    """A copy of ``a`` with ``a[key]`` set to (or, with ``accumulate``, increased by) the
    broadcast ``values`` (a tensor or a number); repeated indices accumulate. The key is
    ``spec`` and the index tensors after it, as for ``Index``."""

    aten = "index_put"
    signature = ("index_put(Tensor a, Tensor values, Any spec, bool accumulate, "
                 "Tensor[] indices) -> Tensor")

    @staticmethod
    def meta(a, values, spec, accumulate, *indices):
        if not any(_is_mask(i) for i in indices):  # a mask's region depends on its values
            region = Index.meta(a, spec, *indices).shape
            vals = values if isinstance(values, MetaArray) else np.asarray(values)
            if not _fits(vals.shape, region):
                raise _mismatch(vals, region, _plan(a.shape, spec, indices)[1] is None)
        return _meta.new(a.shape, a.dtype)

    @classmethod
    def forward(cls, ctx, a, values, spec, accumulate, *indices):
        plan = _plan(a.shape, spec, indices)
        ctx.spec, ctx.accumulate, ctx.indices = spec, accumulate, indices
        ctx.value_shape = np.shape(values)
        out = _writable_copy(cls, a)
        try:
            if accumulate and plan[1] is not None:
                _add_at(out.reshape(-1), _region(_positions(a.shape), plan), values)
            elif accumulate:
                region = out[plan[0]]
                np.add(region, _fit(values, region.shape), out=region, casting="unsafe")
            elif plan[1] is None:
                out[plan[0]] = values
            else:  # NumPy's mask assignment takes no leading size-1 dims; torch drops them
                vals = np.asarray(values)
                while vals.ndim > 1 and vals.shape[0] == 1:
                    vals = vals[0]
                out[plan[0]][plan[1]] = vals
        except ValueError:
            raise _mismatch(np.asarray(values), _region(a, plan).shape,
                            plan[1] is None) from None
        return out

    @staticmethod
    def backward(ctx, g):
        idx = _tensors(ctx.indices)
        ga = gv = None
        if ctx.needs_input_grad[0]:
            ga = g if ctx.accumulate else dispatch(IndexPut, g, 0, ctx.spec, False, *idx)
        if ctx.needs_input_grad[1]:
            gv = _sum_to_value(dispatch(Index, g, ctx.spec, *idx), ctx.value_shape)
        return ga, gv


def _drop_leading_ones(shape: tuple, ndim: int) -> tuple:
    """``shape`` without the leading size-1 dims beyond ``ndim`` (torch drops them from a
    value written into a region of ``ndim`` dims)."""
    while len(shape) > ndim and shape[0] == 1:
        shape = shape[1:]
    return shape


def _fits(value_shape: tuple, region: tuple) -> bool:
    """Whether a value of ``value_shape`` broadcasts to the indexed ``region``."""
    v = _drop_leading_ones(tuple(value_shape), len(region))
    return len(v) <= len(region) and all(n == 1 or n == r for n, r in
                                         zip(reversed(v), reversed(region)))


def _mismatch(values, region: tuple, basic: bool) -> RuntimeError:
    """torch's error for ``values`` (an array or MetaArray) that do not fit the indexed
    ``region``: expand's for a basic key (torch copies into the view), else index_put's."""
    if basic:
        shape = _drop_leading_ones(values.shape, len(region))
        _expand_geometry(MetaArray(shape, values.dtype), region)  # raises expand's error
    return RuntimeError(f"shape mismatch: value tensor of shape {list(values.shape)} cannot be "
                        f"broadcast to indexing result of shape {list(region)}")


def _key_tensors(self: Tensor, key) -> tuple[tuple, list[Tensor]]:
    """``_prepare_key``; the index tensors of a meta tensor's key become meta tensors, as
    torch lets CPU indices (and lists) index a tensor of any device."""
    spec, tensors = _prepare_key(key)
    if tensors and type(self._data) is MetaArray:
        tensors = [_make(MetaArray.like(t._data)) for t in tensors]
    return spec, tensors


def _getitem(self: Tensor, key) -> Tensor:
    spec, tensors = _key_tensors(self, key)
    return dispatch(Index, self, spec, *tensors)


def _check_put_dtype(input: Tensor, values: Tensor) -> None:
    if values._data.dtype != input._data.dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{input.dtype.scalar_name} for the destination and {values.dtype.scalar_name} "
            "for the source.")


def _casts_value(key, spec: tuple, tensors: list[Tensor], value: Tensor) -> bool:
    """Whether torch's setitem casts a tensor ``value`` of another dtype: it does for basic
    keys (``copy_``) and for one mask with a one-element value (``masked_fill_``); any other
    advanced key goes to ``index_put_``, which needs equal dtypes. A bool is a long index
    there unless it is the whole key."""
    bools = not isinstance(key, bool) and any(type(k) is bool for k in spec)
    if not tensors and not bools:
        return True
    return (len(tensors) == 1 and not bools and value._data.size == 1
            and tensors[0]._data.dtype in (np.bool_, np.uint8))


def _setitem(self: Tensor, key, value) -> None:
    if key is False:  # torch writes nothing, checks nothing (but does for ``(False,)``)
        return
    spec, tensors = _key_tensors(self, key)
    if isinstance(value, Tensor):
        if value._data.dtype != self._data.dtype:
            if not _casts_value(key, spec, tensors, value):
                _check_put_dtype(self, value)
            value = value.to(self.dtype)
    elif isinstance(value, (np.ndarray, list, tuple)):
        value = _make(np.asarray(value, dtype=self._data.dtype))
    dispatch(IndexPut.inplace_op(), self, value, spec, False, *tensors)


Tensor.__getitem__ = _getitem
Tensor.__setitem__ = _setitem


def _put_spec(name: str, indices) -> tuple[tuple, list[Tensor]]:
    """``index_put``'s tuple of index tensors as a key spec."""
    if not all(isinstance(t, Tensor) for t in indices):
        raise TypeError(f"{name}(): argument 'indices' must be tuple of Tensors")
    return tuple(_Slot(i) for i in range(len(indices))), list(indices)


def _index_put(op, input: Tensor, indices, values: Tensor, accumulate: bool) -> Tensor:
    _check_put_dtype(input, values)
    spec, tensors = _put_spec(op.name, indices)
    return dispatch(op, input, values, spec, bool(accumulate), *tensors)


def index_put(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of ``input`` with ``input[indices] = values`` (``+=`` with ``accumulate``)."""
    return _index_put(IndexPut, input, indices, values, accumulate)


tensor_method()(index_put)


@tensor_method()
def index_put_(self: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    return _index_put(IndexPut.inplace_op(), self, indices, values, accumulate)


# ---- gather / scatter ---------------------------------------------------------------------

def _as_1d(a: np.ndarray) -> np.ndarray:
    return a.reshape(1) if a.ndim == 0 else a


_INT_INDEX = (np.int64, np.int32)


def _check_index_dtype(name: str, index: np.ndarray) -> None:
    if index.dtype not in _INT_INDEX:
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")


def _check_gather(a: np.ndarray, dim: int, index: np.ndarray, src=None,
                  name: str = "gather") -> None:
    _check_index_dtype(name, index)
    if max(index.ndim, 1) != max(a.ndim, 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input "
                           "tensor")
    ishape, ashape = index.shape or (1,), a.shape or (1,)
    sshape = (src.shape or (1,)) if isinstance(src, np.ndarray | MetaArray) else None
    for d, s in enumerate(ishape):
        if (d != dim and s > ashape[d]) or (sshape is not None and s > sshape[d]):
            if sshape is None:
                raise RuntimeError(f"Size does not match at dimension {d} expected index "
                                   f"{list(index.shape)} to be no larger than self "
                                   f"{list(a.shape)} apart from dimension {dim}")
            raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than self "
                               f"{list(a.shape)} apart from dimension {dim} and to be no larger "
                               f"size than src {list(src.shape)}")
    _check_bounds(index, ashape[dim], dim, negative=False, exc=RuntimeError)


def _leading(a: np.ndarray, shape: tuple, keep: int | None = None) -> np.ndarray:
    """``a`` cut to its first ``shape`` elements in every dim but ``keep``."""
    return a[tuple(slice(None) if d == keep else slice(0, s) for d, s in enumerate(shape))]


def _along_dim(shape: tuple, dim: int, index: np.ndarray) -> np.ndarray:
    """Flat (C-order) positions, in an array of ``shape``, of the elements a gather along
    ``dim`` reads: ``index`` along ``dim`` and the index's own coordinates along the other
    dims (0-d counts as 1-D). The positions ``_IndexScatter`` sums a gather's gradient to."""
    index1 = _as_1d(index)
    strides = _meta.contiguous(shape or (1,), 1)
    pos = index1.astype(np.int64) * strides[dim]
    for d, n in enumerate(index1.shape):
        if d != dim and n > 1:
            pos = pos + (np.arange(n) * strides[d]).reshape((n,) + (1,) * (index1.ndim - d - 1))
    return pos


class Gather(Op):
    signature = "gather(Tensor a, int dim, Tensor index) -> Tensor"

    @staticmethod
    def meta(a, dim, index):
        _check_gather(a, wrap_dim(dim, a.ndim), index)
        # np.take_along_axis indexes with ``index`` and ranges: the result follows index
        return MetaArray(index.shape, a.dtype, _meta.layout(index.shape, a.itemsize, index))

    @staticmethod
    def forward(ctx, a, dim, index):
        dim = wrap_dim(dim, a.ndim)
        _check_gather(a, dim, index)
        ctx.shape, ctx.dim, ctx.index = a.shape, dim, index
        a1, i1 = _as_1d(a), _as_1d(index)
        return np.take_along_axis(_leading(a1, i1.shape, dim), i1, dim).reshape(index.shape)

    @staticmethod
    def backward(ctx, g):
        positions = _along_dim(ctx.shape, ctx.dim, ctx.index).reshape(ctx.index.shape)
        return dispatch(_IndexScatter, g, positions, ctx.shape)


def _check_scatter(a, dim: int, index, src) -> None:
    _check_gather(a, dim, index, src, name="scatter")
    if isinstance(src, np.ndarray | MetaArray) and src.dtype != a.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")


_REDUCE = {None: None, "add": "sum", "sum": "sum", "multiply": "prod", "prod": "prod",
           "mean": "mean", "amax": "amax", "amin": "amin"}
_UFUNC = {"prod": np.multiply, "amax": np.fmax, "amin": np.fmin}


class Scatter(Op):
    """A copy of ``a`` with ``src`` (tensor or number) written into ``a`` along ``dim`` at
    ``index``, or combined there by ``reduce`` (sum, prod, mean, amax, amin).

    Backward weights the incoming gradient by constants found in forward: which elements
    of ``a`` survive and how each contribution shares its output (mean, ties of amax)."""

    signature = ("scatter(Tensor a, int dim, Tensor index, Tensor src, str? reduce=None, "
                 "bool include_self=True) -> Tensor")

    @staticmethod
    def meta(a, dim, index, src, reduce=None, include_self=True):
        _check_scatter(a, wrap_dim(dim, a.ndim), index, src)
        return _meta.new(a.shape, a.dtype)

    @classmethod
    def forward(cls, ctx, a, dim, index, src, reduce=None, include_self=True):
        dim = wrap_dim(dim, a.ndim)
        _check_scatter(a, dim, index, src)
        a1, i1 = _as_1d(a), _as_1d(index)
        pos = np.take_along_axis(_leading(_positions(a1.shape), i1.shape, dim), i1, dim)
        pos = pos.reshape(-1)
        vals = (_leading(_as_1d(src), i1.shape) if isinstance(src, np.ndarray) else
                np.full(i1.shape, _scalar(src, a.dtype))).reshape(-1)
        old = a.reshape(-1).copy() if reduce in ("amax", "amin") else None
        out = _writable_copy(cls, a)
        flat = out.reshape(-1)
        counts = np.bincount(pos, minlength=flat.size)
        touched = counts > 0
        first = None
        if reduce is not None and not include_self:
            first = np.unique(pos, return_index=True)[1]  # first hit of each position
            flat[touched] = 0 if reduce in ("sum", "mean") else vals[first]
        if reduce is None:
            flat[pos] = vals
        elif reduce in ("sum", "mean"):
            _add_at(flat, pos, vals)
        else:
            keep = np.ones(pos.size, bool)
            if first is not None:  # those were written above
                keep[first] = False
            _UFUNC[reduce].at(flat, pos[keep], vals[keep])
        self_w = src_w = None
        if reduce is None or (reduce == "sum" and not include_self):
            self_w = ~touched
        elif reduce == "mean":
            n = np.maximum(counts + (1 if include_self else 0), 1)
            self_w = 1.0 / n if include_self else ~touched
            if a.dtype.kind in "fc" or is_bfloat16(a.dtype):
                np.divide(flat, n, out=flat, casting="unsafe")
            else:
                np.floor_divide(flat, n, out=flat, casting="unsafe")
            src_w = (1.0 / n)[pos]
        elif reduce in ("amax", "amin"):
            self_w = ~touched
            if include_self:
                self_w |= flat == old
            ties = self_w + np.bincount(pos, vals == flat[pos], flat.size)
            src_w = (vals == flat[pos]) / ties[pos]
            self_w = self_w / ties
        ctx.reduce, ctx.dim, ctx.index, ctx.src_shape = reduce, dim, index, np.shape(src)
        ctx.self_w = None if self_w is None else self_w.astype(a.dtype).reshape(a.shape)
        ctx.src_w = None if src_w is None else src_w.astype(a.dtype).reshape(index.shape)
        return out

    @staticmethod
    def backward(ctx, g):
        if ctx.reduce == "prod":
            raise RuntimeError("the derivative for 'scatter_reduce' with reduce='prod' is not "
                               "implemented in ember")
        ga = gs = None
        if ctx.needs_input_grad[0]:
            ga = g if ctx.self_w is None else g * _make(ctx.self_w)
        if ctx.needs_input_grad[3]:
            gs = dispatch(Gather, g, ctx.dim, _make(ctx.index))
            if ctx.src_w is not None:
                gs = gs * _make(ctx.src_w)
            gs = _pad_to(gs, ctx.src_shape)
        return ga, None, None, gs


def _pad_to(t: Tensor, shape: tuple) -> Tensor:
    """``t`` in the leading corner of zeros of ``shape`` (gradient of a cut-down src)."""
    if t.shape == shape:
        return t
    spec = tuple(slice(0, s) for s in t.shape)
    return dispatch(_ViewScatter, t, shape, Index, (spec,))


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False,
           out=None) -> Tensor:
    """``out[i][j] = input[index[i][j]][j]`` for ``dim=0`` (and so on for other dims)."""
    check_out_dtype(out, input._data.dtype)
    return dispatch_out(Gather, out, input, dim, index)


def _scatter(op, input, dim, index, src, reduce):
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError(f"reduce argument must be either add or multiply. Got {reduce}")
    if reduce is None:
        return dispatch(op, input, dim, index, src)
    return dispatch(op, input, dim, index, src, _REDUCE[reduce])


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None,
            reduce: str | None = None) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor, or the number ``value``) written at
    ``index`` along ``dim``."""
    return _scatter(Scatter, input, dim, index, value if src is None else src, reduce)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    return dispatch(Scatter, input, dim, index, src, "sum")


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """Combine ``src`` into ``input`` at ``index`` by ``reduce``: 'sum', 'prod', 'mean',
    'amax' or 'amin' (``include_self=False``: the old values don't take part)."""
    return _scatter_reduce(Scatter, input, dim, index, src, reduce, include_self)


def _scatter_reduce(op, input, dim, index, src, reduce, include_self):
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError("reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    return dispatch(op, input, dim, index, src, reduce, bool(include_self))


for _fn in (gather, scatter, scatter_add, scatter_reduce):
    tensor_method()(_fn)


@tensor_method()
def scatter_(self: Tensor, dim: int, index: Tensor, src=None, *, value=None,
             reduce: str | None = None) -> Tensor:
    return _scatter(Scatter.inplace_op(), self, dim, index, value if src is None else src,
                    reduce)


@tensor_method()
def scatter_add_(self: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    return dispatch(Scatter.inplace_op(), self, dim, index, src, "sum")


@tensor_method()
def scatter_reduce_(self: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                    include_self: bool = True) -> Tensor:
    return _scatter_reduce(Scatter.inplace_op(), self, dim, index, src, reduce, include_self)


# ---- index_select and the ops that address whole slices along dim ------------------------

def _check_vector_index(name: str, index: np.ndarray) -> None:
    """torch's checks on the index of ``index_select``/``index_add``/... (each differs)."""
    if index.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector")
    if name in ("index_select", "index_add") and index.dtype not in _INT_INDEX:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index"
                           if name == "index_select" else "index_add_(): Expected dtype "
                           f"int32/int64 for index but got: {dtype_name(index).capitalize()}")
    if name == "index_copy" and index.dtype != np.int64:
        raise RuntimeError("index_copy_(): Expected a long tensor for index, but got "
                           f"{dtype_name(index).capitalize()}")
    if name == "index_fill" and index.dtype != np.int64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")


class IndexSelect(Op):
    aten = "index_select"
    signature = "index_select(Tensor a, int dim, Tensor index) -> Tensor"

    @staticmethod
    def meta(a, dim, index):
        dim = wrap_dim(dim, a.ndim)
        _check_vector_index("index_select", index)
        if a.ndim == 0:
            return _meta.new(index.shape, a.dtype)
        return _meta.new(a.shape[:dim] + (index.size,) + a.shape[dim + 1:], a.dtype)

    @staticmethod
    def forward(ctx, a, dim, index):
        dim = wrap_dim(dim, a.ndim)
        _check_vector_index("index_select", index)
        size = _as_1d(a).shape[dim]
        if index.size and (index.min() < 0 or index.max() >= size):
            raise IndexError("index out of range in self")
        ctx.shape, ctx.dim, ctx.index = a.shape, dim, index
        out = np.take(_as_1d(a), index.reshape(-1), axis=dim)  # C-contiguous
        return out.reshape(index.shape) if a.ndim == 0 else out

    @staticmethod
    def backward(ctx, g):
        shape1 = ctx.shape or (1,)
        spread = ctx.index.reshape([-1 if d == ctx.dim else 1 for d in range(len(shape1))])
        out_shape = shape1[:ctx.dim] + (ctx.index.size,) + shape1[ctx.dim + 1:]
        positions = _along_dim(ctx.shape, ctx.dim, np.broadcast_to(spread, out_shape))
        return dispatch(_IndexScatter, g, positions.reshape(g.shape), ctx.shape)


def _check_same_scalar_type(name: str, input: Tensor, out) -> None:
    """index_select/masked_select want ``out`` of the input's dtype (torch's message)."""
    if isinstance(out, Tensor) and out._data.dtype != input._data.dtype:
        raise RuntimeError(f"{name}(): self and result must have the same scalar type")


def index_select(input: Tensor, dim: int, index: Tensor, *, out=None) -> Tensor:
    _check_same_scalar_type("index_select", input, out)
    return dispatch_out(IndexSelect, out, input, dim, index)


def _index_scatter(op, name: str, input: Tensor, dim: int, index: Tensor, source,
                   reduce: str | None) -> Tensor:
    """``index_add``/``index_copy``/``index_fill`` are ``scatter`` with ``index`` spread
    along ``dim`` over the shape of ``source`` (a tensor, or the number to fill)."""
    a, idx = input._data, index._data
    nd = max(a.ndim, 1)
    dim = wrap_dim(dim, a.ndim)
    _check_vector_index(name, idx)
    size = _as_1d(a).shape[dim]
    if isinstance(source, Tensor):
        s = _as_1d(source._data)
        if s.ndim != nd and source._data.ndim:
            raise RuntimeError(f"{name}(): Source/destination tensor must have same slice "
                               "shapes.")
        if s.shape[dim] != idx.size:
            raise RuntimeError(f"{name}_(): Number of indices ({idx.size}) should be equal to "
                               f"source.size(dim): ({s.shape[dim]}), for dim: {dim}")
        if any(s.shape[d] != _as_1d(a).shape[d] for d in range(nd) if d != dim):
            raise RuntimeError(f"{name}(): Source/destination tensor must have same slice "
                               "shapes. Destination slice shape: "
                               f"{list(np.delete(_as_1d(a).shape, dim))} at dimension {dim} and "
                               f"source slice shape: {list(np.delete(s.shape, dim))} at "
                               f"dimension 0.")
        shape = s.shape
    else:
        shape = tuple(idx.size if d == dim else n for d, n in enumerate(_as_1d(a).shape))
    if name == "index_add" and a.ndim <= 1 and idx.size and (idx.min() < 0 or idx.max() >= size):
        raise IndexError("index out of range in self")  # torch's words for 1-d index_add
    _check_bounds(idx, size, dim, negative=False,
                  exc=RuntimeError if name == "index_add" else IndexError,
                  prefix="index_copy_(): " if name == "index_copy" else "")
    target = shape if a.ndim else idx.shape
    if _meta_arrays(a, idx):  # a meta result needs the index's shape only
        spread = _make(MetaArray(target, idx.dtype))
    else:
        spread = _make(np.broadcast_to(idx.reshape([-1 if d == dim else 1 for d in range(nd)]),
                                       shape).reshape(target))
    if isinstance(source, Tensor) and source._data.shape != spread._data.shape:
        source = source.reshape(spread._data.shape)
    return dispatch(op, input, dim, spread, source, reduce) if reduce else \
        dispatch(op, input, dim, spread, source)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1,
              out=None) -> Tensor:
    """A copy of ``input`` with ``alpha * source`` slices added at ``index`` along ``dim``."""
    if out is not None:
        check_out_dtype(out, input._data.dtype)
        return dispatch_out(index_add, out, input, dim, index, source, alpha=alpha)
    return _index_scatter(Scatter, "index_add", input, dim, index,
                          source if alpha == 1 else source * alpha, "sum")


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    return _index_scatter(Scatter, "index_copy", input, dim, index, source, None)


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    return _index_fill(MaskedFill, input, dim, index, value)


def _index_fill(op, input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """``index_fill`` is ``masked_fill`` with a mask of the indexed slices (so a 0-d tensor
    ``value`` gets its gradient too)."""
    a, idx = input._data, index._data
    dim = wrap_dim(dim, a.ndim)
    _check_vector_index("index_fill", idx)
    size = a.shape[dim] if a.ndim else 1
    _check_bounds(idx, size, dim, exc=IndexError)
    shape = tuple(size if d == dim else 1 for d in range(a.ndim))
    if _meta_arrays(a, idx):
        return _masked_fill(op, input, _make(MetaArray(shape, np.bool_)), value)
    mask = np.zeros(size, bool)
    mask[idx.reshape(-1)] = True
    return _masked_fill(op, input, _make(mask.reshape(shape)), value)


for _fn in (index_select, index_add, index_copy, index_fill):
    tensor_method()(_fn)


@tensor_method()
def index_add_(self: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    return _index_scatter(Scatter.inplace_op(), "index_add", self, dim, index,
                          source if alpha == 1 else source * alpha, "sum")


@tensor_method()
def index_copy_(self: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    return _index_scatter(Scatter.inplace_op(), "index_copy", self, dim, index, source, None)


@tensor_method()
def index_fill_(self: Tensor, dim: int, index: Tensor, value) -> Tensor:
    return _index_fill(MaskedFill.inplace_op(), self, dim, index, value)


def _check_flat_index(idx, n: int) -> None:
    """torch's error for an index out of ``[-n, n)`` into a tensor read as 1-D."""
    if isinstance(idx, np.ndarray) and idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} "
                         "elements.")


def _meta_arrays(*arrays) -> bool:
    """Whether some of ``arrays`` is a MetaArray: values a wrapper would compute an index
    from are unknown, and only shapes matter."""
    return any(type(a) is MetaArray for a in arrays)


def take(input: Tensor, index: Tensor, *, out=None) -> Tensor:
    """Elements of ``input`` read as 1-D, at ``index`` (result has ``index``'s shape)."""
    if out is not None:
        if isinstance(out, Tensor) and out._data.dtype != input._data.dtype:
            raise RuntimeError("take(): self and out expected to have the same dtype, but got "
                               f"self.dtype = {input.dtype.scalar_name} and out.dtype = "
                               f"{out.dtype.scalar_name}")
        return dispatch_out(take, out, input, index)
    idx = index._data
    if idx.dtype != np.int64:
        raise RuntimeError(f"take(): Expected a long tensor for index, but got "
                           f"{dtype_name(idx).capitalize()}")
    _check_flat_index(idx, input._data.size)
    return input.reshape(-1)[index]


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None, *,
                   out=None) -> Tensor:
    """``gather`` after broadcasting ``input`` and ``indices`` in every dim but ``dim``
    (both flattened when ``dim`` is None)."""
    if out is not None:
        check_out_dtype(out, input._data.dtype)
        return dispatch_out(take_along_dim, out, input, indices, dim)
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    a, idx = input._data, indices._data
    if a.ndim != idx.ndim:
        raise RuntimeError("torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {a.ndim} dimensions for input, and "
                           f"{idx.ndim} dimensions for indices")
    dim = wrap_dim(dim, a.ndim)
    shape = _broadcast_shapes(tuple(1 if d == dim else s for d, s in enumerate(a.shape)),
                                tuple(1 if d == dim else s for d, s in enumerate(idx.shape)))
    a_shape = tuple(a.shape[d] if d == dim else s for d, s in enumerate(shape))
    i_shape = tuple(idx.shape[d] if d == dim else s for d, s in enumerate(shape))
    return gather(input.expand(a_shape), dim, indices.expand(i_shape))


def _put(op, input: Tensor, index: Tensor, source: Tensor, accumulate: bool) -> Tensor:
    idx = index._data
    n = input._data.size
    _check_flat_index(idx, n)
    if source._data.size != idx.size:
        raise RuntimeError(f"put_(): Expected source and index to have the same number of "
                           f"elements, but got source.numel() = {source._data.size}, "
                           f"index.numel() = {idx.size}")
    if _meta_arrays(input._data, idx):
        coords = [MetaArray((idx.size,), np.int64)] * input._data.ndim
    else:
        coords = np.unravel_index(np.where(idx < 0, idx + n, idx).reshape(-1),
                                  input._data.shape)
    spec = tuple(_Slot(i) for i in range(len(coords)))
    return dispatch(op, input, source.reshape(-1), spec, bool(accumulate), *_tensors(coords))


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of ``input`` (read as 1-D) with ``source`` written at ``index``."""
    return _put(IndexPut, input, index, source, accumulate)


tensor_method()(take)
tensor_method()(take_along_dim)
tensor_method()(put)


@tensor_method()
def put_(self: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    return _put(IndexPut.inplace_op(), self, index, source, accumulate)


# ---- masks ----------------------------------------------------------------------------

def _check_masked_fill(mask, value) -> None:
    if mask.dtype != np.bool_:
        raise RuntimeError("masked_fill_ only supports boolean masks, but got mask with "
                           f"dtype {dtype_name(mask)}")
    if isinstance(value, np.ndarray | MetaArray) and value.ndim:
        raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but "
                           f"got tensor with {value.ndim} dimension(s).")


class MaskedFill(Op):
    """``value`` (a number or 0-d tensor) where ``mask`` is True, ``a`` elsewhere; ``a``
    and ``mask`` broadcast (the in-place variant needs ``a`` to be the broadcast shape)."""

    aten = "masked_fill"
    signature = "masked_fill(Tensor a, Tensor mask, Tensor value) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a, mask, value):
        _check_masked_fill(mask, value)
        return MetaArray(_broadcast_shapes(a.shape, mask.shape), a.dtype)

    @staticmethod
    def forward(ctx, a, mask, value):
        """torch's: ``a`` broadcast to the result's shape, cloned C-contiguous, then
        written where the mask is set (~1.7x faster than ``np.where``'s three operands
        for a causal mask over attention scores, whose layout also followed the inputs')."""
        _check_masked_fill(mask, value)
        ctx.mask = mask
        fill = _scalar(value, a.dtype) if not isinstance(value, np.ndarray) \
            else value.astype(a.dtype)
        if a.size >= _SPLIT_MIN and fill.ndim == 0:  # split across threads where it pays
            out = _kernels().masked_fill(a, mask, fill)
            if out is not None:
                return out
        if a.shape[a.ndim - mask.ndim:] == mask.shape:  # ``a`` has the result's shape
            out = a.copy()
        else:
            out = np.empty(_broadcast_shapes(a.shape, mask.shape), a.dtype)
            np.copyto(out, a)
        np.copyto(out, fill, where=mask)
        return out

    @staticmethod
    def backward(ctx, g):
        mask = _make(ctx.mask)
        ga = gv = None
        if ctx.needs_input_grad[0]:
            ga = masked_fill(g, mask, 0)
        if ctx.needs_input_grad[2]:
            gv = masked_fill(g, _make(~ctx.mask), 0).sum()
        return ga, None, gv


def _masked_fill(op, input: Tensor, mask: Tensor, value) -> Tensor:
    if isinstance(value, Tensor) and value._data.ndim == 0 and \
            value._data.dtype != input._data.dtype:
        value = value.to(input.dtype)
    return dispatch(op, input, mask, value)


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    return _masked_fill(MaskedFill, input, mask, value)


tensor_method()(masked_fill)


@tensor_method()
def masked_fill_(self: Tensor, mask: Tensor, value) -> Tensor:
    return _masked_fill(MaskedFill.inplace_op(), self, mask, value)


def _check_mask(name: str, mask: Tensor) -> None:
    if mask._data.dtype != np.bool_:
        raise RuntimeError(f"{name}: expected BoolTensor for mask")


def _broadcast_pair(input: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    shape = _broadcast_shapes(input._data.shape, mask._data.shape)
    return input.expand(shape), mask.expand(shape)


def masked_select(input: Tensor, mask: Tensor, *, out=None) -> Tensor:
    """The elements of ``input`` where ``mask`` (broadcast with it) is True, as 1-D."""
    if out is not None:
        _check_same_scalar_type("masked_select", input, out)
        return dispatch_out(masked_select, out, input, mask)
    _check_mask("masked_select", mask)
    x, m = _broadcast_pair(input, mask)
    return x.reshape(-1)[m.reshape(-1)]


def _masked_scatter(op, input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    _check_mask("masked_scatter_", mask)
    if op.inplace:
        mask = mask.expand(input._data.shape)
    else:
        input, mask = _broadcast_pair(input, mask)
    if _meta_arrays(input._data, mask._data):  # the count is unknown; the result's shape isn't
        n = source._data.size
    else:
        n = int(np.count_nonzero(mask._data))
        if source._data.size < n:
            raise RuntimeError("Number of elements of source < number of ones in mask")
    if source._data.dtype != input._data.dtype:
        raise RuntimeError("masked_scatter: expected self and source to have same dtypes but "
                           f"got {input.dtype.scalar_name} and {source.dtype.scalar_name}")
    return dispatch(op, input, source.reshape(-1)[:n], (_Slot(0),), False, mask)


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """A copy of ``input`` with the leading elements of ``source`` written (in order) where
    ``mask`` is True."""
    return _masked_scatter(IndexPut, input, mask, source)


tensor_method()(masked_select)
tensor_method()(masked_scatter)


@tensor_method()
def masked_scatter_(self: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    return _masked_scatter(IndexPut.inplace_op(), self, mask, source)


class Nonzero(Op):
    signature = "nonzero(Tensor a, bool as_tuple=False) -> Tensor"
    differentiable = False

    @staticmethod
    def meta(a, as_tuple=False):
        _meta.dynamic_shape("nonzero")

    @staticmethod
    def forward(ctx, a, as_tuple=False):
        if as_tuple:
            return tuple(i.astype(np.int64) for i in np.nonzero(_as_1d(a)))
        return np.argwhere(a).astype(np.int64)


def nonzero(input: Tensor, *, out=None, as_tuple: bool = False):
    """Indices of the non-zero elements: an ``(n, ndim)`` tensor, or with ``as_tuple`` one
    1-D tensor per dim."""
    if as_tuple:
        if out is not None:
            raise RuntimeError("nonzero does not support the out kwarg when as_tuple is True")
        return dispatch(Nonzero, input, True)
    if isinstance(out, Tensor) and out._data.dtype != np.int64:
        raise RuntimeError("nonzero: Expected out tensor to have scalar type Long but got "
                           f"scalar type{out.dtype.scalar_name}")
    return dispatch_out(Nonzero, out, input)


def argwhere(input: Tensor) -> Tensor:
    return dispatch(Nonzero, input)


tensor_method()(nonzero)
tensor_method()(argwhere)


# ---- sorting and selection ------------------------------------------------------------------

def _argsort(a: np.ndarray, dim: int, descending: bool) -> np.ndarray:
    """Stable argsort along ``dim``; NaN sorts as the largest value, as in torch. Descending
    order sorts the reversed array ascending, so equal elements keep their order."""
    if not descending:
        return np.argsort(a, axis=dim, kind="stable")
    n = a.shape[dim]
    flipped = np.argsort(np.flip(a, dim), axis=dim, kind="stable")
    return n - 1 - np.flip(flipped, dim)


class Sort(Op):
    """Sorted values and their indices along ``dim``, cut to ``[start, stop)`` (``topk``,
    ``kthvalue``); ``squeeze`` drops ``dim`` afterwards (``kthvalue(keepdim=False)``)."""

    signature = ("sort(Tensor a, int dim=-1, bool descending=False, int start=0, "
                 "int? stop=None, bool squeeze=False) -> (Tensor values, Tensor indices)")

    @staticmethod
    def meta(a, dim=-1, descending=False, start=0, stop=None, squeeze=False):
        dim = wrap_dim(dim, a.ndim)
        full = a.shape or (1,)
        shape = full[:dim] + (len(range(*slice(start, stop).indices(full[dim]))),) + \
            full[dim + 1:]
        # the indices are a slice of the C-contiguous argsort; the values a new array
        strides = _meta.contiguous(full, 8)
        if squeeze:
            shape, strides = shape[:dim] + shape[dim + 1:], strides[:dim] + strides[dim + 1:]
        elif a.ndim == 0:
            shape, strides = (), ()
        return _meta.new(shape, a.dtype), MetaArray(shape, np.int64, strides)

    @staticmethod
    def forward(ctx, a, dim=-1, descending=False, start=0, stop=None, squeeze=False):
        a1 = _as_1d(a)
        dim = wrap_dim(dim, a.ndim)
        idx = _argsort(a1, dim, descending)
        if start or stop is not None:
            idx = idx[(slice(None),) * dim + (slice(start, stop),)]
        values = np.take_along_axis(a1, idx, dim)
        if squeeze:
            values, idx = values.squeeze(dim), idx.squeeze(dim)
        elif a.ndim == 0:
            values, idx = values.reshape(()), idx.reshape(())
        ctx.shape, ctx.dim, ctx.indices, ctx.squeeze = a.shape, dim, idx, squeeze
        ctx.set_materialize_grads(False)  # the indices get no gradient: build no zeros
        return values, idx.astype(np.int64, copy=False)

    @staticmethod
    def backward(ctx, g, _):
        idx = np.expand_dims(ctx.indices, ctx.dim) if ctx.squeeze else ctx.indices
        positions = _along_dim(ctx.shape, ctx.dim, idx).reshape(g.shape)
        return dispatch(_IndexScatter, g, positions, ctx.shape)


def _values_indices(name: str, pair) -> tuple:
    return values_indices(name)(*pair)


def _check_values_indices_out(input: Tensor, out) -> None:
    """sort/topk want ``out`` = (values of the input's dtype, int64 indices), exactly."""
    if type(out) is tuple and len(out) == 2:
        check_out_dtype(out[0], input._data.dtype)
        check_out_dtype(out[1], np.int64)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False, *,
         out=None):
    """``(values, indices)`` sorted along ``dim``; always stable here (torch allows any
    order of equal elements when ``stable=False``)."""
    _check_values_indices_out(input, out)
    return _values_indices("sort", dispatch_out(Sort, out, input, dim, bool(descending)))


class Argsort(Op):
    signature = "argsort(Tensor a, int dim=-1, bool descending=False) -> Tensor"
    differentiable = False

    @staticmethod
    def meta(a, dim=-1, descending=False):
        wrap_dim(dim, a.ndim)
        return _meta.new(a.shape, np.int64)

    @staticmethod
    def forward(ctx, a, dim=-1, descending=False):
        return _argsort(_as_1d(a), wrap_dim(dim, a.ndim), descending).reshape(a.shape)


def argsort(input: Tensor, dim: int = -1, descending: bool = False,
            stable: bool = False) -> Tensor:
    return dispatch(Argsort, input, dim, bool(descending))


def msort(input: Tensor, *, out=None) -> Tensor:
    if out is not None:
        check_out_dtype(out, input._data.dtype)
        return dispatch_out(msort, out, input)
    return sort(input, 0).values


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True,
         *, out=None):
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices, sorted."""
    size = input._data.shape[wrap_dim(dim, input._data.ndim)] if input._data.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    _check_values_indices_out(input, out)
    return _values_indices("topk", dispatch_out(Sort, out, input, dim, bool(largest), 0, k))


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False, *, out=None):
    """The ``k``-th smallest element along ``dim`` and its index."""
    d = wrap_dim(dim, input._data.ndim)
    size = input._data.shape[d] if input._data.ndim else 1
    if not 1 <= k <= size:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    if type(out) is tuple and len(out) == 2 and all(isinstance(o, Tensor) for o in out):
        if out[0]._data.dtype != input._data.dtype:
            raise RuntimeError("output values must be of same type as input")
        if out[1]._data.dtype != np.int64:
            raise RuntimeError("output indices must be of scalar type Long")
    return _values_indices("kthvalue", dispatch_out(Sort, out, input, d, False, k - 1, k,
                                                    not keepdim and input._data.ndim > 0))


for _fn in (sort, argsort, msort, topk, kthvalue):
    tensor_method()(_fn)


# ---- unique, searchsorted, repeat_interleave ----------------------------------------------

class Unique(Op):
    """Sorted distinct values (or slices along ``dim``), with the inverse map and counts;
    ``consecutive`` only merges runs of equal neighbours. Not differentiable (as torch)."""

    aten = "_unique2"
    signature = ("unique(Tensor a, bool return_inverse=False, bool return_counts=False, "
                 "int? dim=None, bool consecutive=False) -> Tensor[]")
    differentiable = False

    @staticmethod
    def meta(a, return_inverse=False, return_counts=False, dim=None, consecutive=False):
        _meta.dynamic_shape("unique")

    @staticmethod
    def forward(ctx, a, return_inverse=False, return_counts=False, dim=None,
                consecutive=False):
        flat = dim is None
        if flat:
            rows = a.reshape(-1)
        else:
            dim = wrap_dim(dim, a.ndim)
            rows = np.moveaxis(a, dim, 0).reshape(a.shape[dim], -1)
        if consecutive:
            starts = np.ones(len(rows), bool)
            change = rows[1:] != rows[:-1]
            starts[1:] = change if flat else change.any(axis=1)
            values = rows[starts]
            inverse = np.cumsum(starts) - 1
            counts = np.diff(np.append(np.flatnonzero(starts), len(rows)))
        else:
            values, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True,
                                                axis=None if flat else 0)
        if flat:
            inverse = inverse.reshape(a.shape)
        else:
            rest = tuple(s for d, s in enumerate(a.shape) if d != dim)
            values = np.moveaxis(values.reshape((-1,) + rest), 0, dim)
            inverse = inverse.reshape(-1)
        out = (values,)
        if return_inverse:
            out += (inverse.astype(np.int64),)
        if return_counts:
            out += (counts.astype(np.int64),)
        return out


def _unique(input: Tensor, return_inverse: bool, return_counts: bool, dim, consecutive):
    out = dispatch(Unique, input, bool(return_inverse), bool(return_counts), dim, consecutive)
    return out[0] if len(out) == 1 else out


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None):
    """Distinct elements, always sorted here (torch's ``sorted=False`` order is
    unspecified), with the inverse indices and counts when asked."""
    return _unique(input, return_inverse, return_counts, dim, False)


def unique_consecutive(input: Tensor, return_inverse: bool = False,
                       return_counts: bool = False, dim: int | None = None):
    return _unique(input, return_inverse, return_counts, dim, True)


tensor_method()(unique)
tensor_method()(unique_consecutive)


class SearchSorted(Op):
    """Insertion points of ``values`` in the innermost dim of ``seq``; the leading dims of
    ``seq`` (if any) match those of ``values``."""

    signature = ("searchsorted(Tensor seq, Tensor values, str side='left', bool out_int32=False, "
                 "Tensor? sorter=None) -> Tensor")
    differentiable = False

    @staticmethod
    def meta(seq, values, side="left", out_int32=False, sorter=None):
        shape = values.shape if isinstance(values, MetaArray) else ()
        _check_searchsorted(seq, shape, not isinstance(values, MetaArray))
        return _meta.new(shape, np.int32 if out_int32 else np.int64)

    @staticmethod
    def forward(ctx, seq, values, side="left", out_int32=False, sorter=None):
        scalar = not isinstance(values, np.ndarray)
        values = np.asarray(values)
        _check_searchsorted(seq, values.shape, scalar)
        if sorter is not None:
            seq = np.take_along_axis(seq, sorter, -1)
        if seq.ndim == 1:
            out = np.searchsorted(seq, values, side)
        else:
            rows, vals = seq.reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1])
            out = np.stack([np.searchsorted(r, v, side) for r, v in zip(rows, vals)]
                           ).reshape(values.shape)
        return np.asarray(out, np.int32 if out_int32 else np.int64)


def _check_searchsorted(seq, shape: tuple, scalar: bool) -> None:
    if seq.ndim != 1 and (scalar or seq.shape[:-1] != shape[:-1]):
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            "dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {list(seq.shape)} and input value tensor {list(shape)}")


def _check_search_out(out, out_int32: bool) -> None:
    """searchsorted/bucketize write int32 indices with ``out_int32``, else int64, only."""
    if isinstance(out, Tensor) and out._data.dtype != (np.int32 if out_int32 else np.int64):
        raise RuntimeError("torch.searchsorted(): output tensor's dtype is wrong, it can only "
                           "be Int(int32) or Long(int64) depending on whether out_int32 flag "
                           f"is True, but we got output tensor's dtype {out.dtype.scalar_name} "
                           f"and out_int32 flag is {out_int32}")


def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False,
                 right: bool = False, side: str | None = None, out=None,
                 sorter: Tensor | None = None) -> Tensor:
    if side is not None and side not in ("left", "right"):
        raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                           f"got {side}")
    if side == "left" and right:
        raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, "
                           "got side of left while right was True")
    side = side or ("right" if right else "left")
    _check_search_out(out, out_int32)
    return dispatch_out(SearchSorted, out, sorted_sequence, input, side, out_int32, sorter)


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False,
              out=None) -> Tensor:
    """Index of the bucket of each element: ``boundaries[i-1] < x <= boundaries[i]``
    (``right=True``: ``boundaries[i-1] <= x < boundaries[i]``)."""
    if boundaries._data.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim("
                           f"{boundaries._data.ndim})")
    _check_search_out(out, out_int32)
    return dispatch_out(SearchSorted, out, boundaries, input, "right" if right else "left",
                        out_int32)


tensor_method()(bucketize)


def repeat_interleave(input: Tensor, repeats=None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times, in place; with a
    single tensor argument, ``arange(len(repeats))`` repeated by it."""
    if repeats is None:
        counts = input._data
        if counts.ndim > 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        if _meta_arrays(counts):
            _meta.dynamic_shape("repeat_interleave")
        return _make(np.repeat(np.arange(counts.size), counts).astype(np.int64))
    if dim is None:
        input, dim = input.reshape(-1), 0
    size = input._data.shape[wrap_dim(dim, input._data.ndim)] if input._data.ndim else 1
    reps = repeats._data if isinstance(repeats, Tensor) else np.asarray(repeats)
    if reps.ndim > 1 or reps.ndim == 1 and reps.size not in (1, size):
        raise RuntimeError("repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {reps.size} and input.size({dim}) = {size}")
    if _meta_arrays(input._data, reps):
        index = _repeat_index_meta(reps, size, output_size)
    else:
        if (reps < 0).any():
            raise RuntimeError("repeats can not be negative")
        index = np.repeat(np.arange(size), np.broadcast_to(reps, (size,))).astype(np.int64)
    if input._data.ndim == 0:
        return input.reshape(1)[_make(index)]
    return index_select(input, dim, _make(index))


def _repeat_index_meta(reps, size: int, output_size: int | None) -> MetaArray:
    """The index ``repeat_interleave`` selects with, on the meta device: its length is
    ``output_size`` or, with known repeats, their sum over the ``size`` slices."""
    if output_size is not None:
        return MetaArray((output_size,), np.int64)
    if type(reps) is MetaArray:
        _meta.dynamic_shape("repeat_interleave without output_size")
    return MetaArray((int(np.broadcast_to(reps, (size,)).sum()),), np.int64)


tensor_method()(repeat_interleave)


# ---- triangles and one-hot --------------------------------------------------------------------

def _check_tril(a, upper: bool) -> None:
    if a.ndim < 2:
        raise RuntimeError(f"{'triu' if upper else 'tril'}: input tensor must have at least "
                           "2 dimensions")


_TRIANGLES_KEPT = 1 << 16   # masks up to this many elements are remembered


@functools.lru_cache(maxsize=32)
def _triangle(rows: int, cols: int, diagonal: int, upper: bool) -> np.ndarray:
    """The read-only boolean mask ``np.tril``/``np.triu`` keep, remembered: a causal model
    asks for the same mask on every call, and ``np.tril`` spends more time building it than
    applying it (9 us of 12 for a 32x32 mask)."""
    lower = np.tri(rows, cols, diagonal - 1 if upper else diagonal, dtype=np.bool_)
    mask = ~lower if upper else lower
    mask.flags.writeable = False
    return mask


class Tril(Op):
    """The lower (``upper``: upper) triangle of the last two dims, from ``diagonal`` on."""

    signature = "tril(Tensor a, int diagonal=0, bool upper=False) -> Tensor"

    @staticmethod
    def meta(a, diagonal=0, upper=False):
        _check_tril(a, upper)
        # np.tril/np.triu: np.where(mask, ...) with a 2-D boolean mask as first operand
        mask = MetaArray(a.shape[-2:], np.bool_)
        return MetaArray(a.shape, a.dtype, _meta.layout(a.shape, a.itemsize, mask, a))

    @staticmethod
    def forward(ctx, a, diagonal=0, upper=False):
        _check_tril(a, upper)
        ctx.diagonal, ctx.upper = diagonal, upper
        rows, cols = a.shape[-2:]
        if rows * cols > _TRIANGLES_KEPT:
            return np.triu(a, diagonal) if upper else np.tril(a, diagonal)
        keep = _triangle(rows, cols, diagonal, upper)
        if a.dtype == np.bool_:  # a mask (a causal model's): one ufunc, 0.3 us against 0.75
            return np.logical_and(keep, a)
        return np.where(keep, a, np.zeros(1, a.dtype))

    @staticmethod
    def backward(ctx, g):
        return dispatch(Tril, g, ctx.diagonal, ctx.upper)


def tril(input: Tensor, diagonal: int = 0, *, out=None) -> Tensor:
    check_out_dtype(out, input._data.dtype)
    return dispatch_out(Tril, out, input, diagonal)


def triu(input: Tensor, diagonal: int = 0, *, out=None) -> Tensor:
    check_out_dtype(out, input._data.dtype)
    return dispatch_out(Tril, out, input, diagonal, True)


tensor_method()(tril)
tensor_method()(triu)


@tensor_method()
def tril_(self: Tensor, diagonal: int = 0) -> Tensor:
    return dispatch(Tril.inplace_op(), self, diagonal)


@tensor_method()
def triu_(self: Tensor, diagonal: int = 0) -> Tensor:
    return dispatch(Tril.inplace_op(), self, diagonal, True)


def _check_one_hot(a) -> None:
    if a.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")


class OneHot(Op):
    aten = "one_hot"
    signature = "one_hot(Tensor a, int num_classes=-1) -> Tensor"
    differentiable = False

    @staticmethod
    def meta(a, num_classes=-1):
        _check_one_hot(a)
        if num_classes == -1:
            _meta.dynamic_shape("one_hot without num_classes")
        shape = a.shape + (num_classes,)
        # (a[..., None] == arange(num_classes)).astype(int64) keeps the comparison's layout
        operands = (MetaArray(shape[:-1] + (1,), a.dtype, a.strides + (0,)),
                    MetaArray((num_classes,), np.int64))
        return MetaArray(shape, np.int64, _meta.layout(shape, 8, *operands))

    @staticmethod
    def forward(ctx, a, num_classes=-1):
        _check_one_hot(a)
        if num_classes == -1:
            if a.size == 0:
                raise RuntimeError("Can not infer total number of classes from empty tensor.")
            num_classes = int(a.max()) + 1
        if a.size and a.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if a.size and a.max() >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
        return (a[..., None] == np.arange(num_classes)).astype(np.int64)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """``torch.nn.functional.one_hot``: a trailing dim of ``num_classes`` with a 1 at each
    element's value."""
    return dispatch(OneHot, tensor, num_classes)
