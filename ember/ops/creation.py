"""Creating tensors: from data, filled, ranges, and the ``Tensor.new_*`` methods.

Signatures, dtype inference and errors follow torch's factory functions. ``layout``,
``pin_memory`` and ``memory_format`` are accepted and ignored (ember tensors are
strided). ``device`` names the CPU or the meta device: on ``"meta"`` (also as the default
device) a factory runs its op's ``meta`` function instead of its kernel and returns a
tensor with shape, dtype and strides but no storage -- nothing is allocated.
"""

from __future__ import annotations

import builtins
import math
import operator
import warnings
from collections.abc import Sequence
from functools import reduce

import numpy as np

from .._device import META, check_device, is_meta_device
from .._dispatch import Op, dispatch, dispatch_factory, dispatch_out
from .._dtype import (
    bfloat16,
    cast,
    complex64,
    complex128,
    float16,
    float32,
    float64,
    from_numpy_dtype,
    get_default_dtype,
    int64,
    is_bfloat16,
    promote_types,
)
from .._dtype import bool as _bool
from .._dtype import dtype as _dtype_cls
from .._meta import MetaArray
from .._state import ACTIVE
from .._tensor import Tensor, _data_read, _make, tensor_method
from . import _meta

__all__ = ["tensor", "as_tensor", "asarray", "from_numpy", "zeros", "ones", "full", "empty",
           "zeros_like", "ones_like", "full_like", "empty_like", "arange", "range", "linspace",
           "logspace", "eye", "empty_strided", "scalar_tensor"]

_NUMPY_OK = ("float64, float32, float16, complex64, complex128, int64, int32, int16, int8, "
             "uint8, and bool")
_PY_SCALARS = frozenset((builtins.bool, builtins.int, builtins.float, builtins.complex))


# ---- dtype inference from Python data -----------------------------------------------------

def _default_complex() -> _dtype_cls:
    return complex128 if get_default_dtype() is float64 else complex64


def _leaf_dtypes(leaf) -> tuple[_dtype_cls, _dtype_cls]:
    """(the dtype torch infers for one scalar, the dtype that holds its value exactly)."""
    if isinstance(leaf, _dtype_cls):
        return leaf, (float32 if leaf in (float16, bfloat16) else leaf)
    if isinstance(leaf, np.dtype):
        d = _numpy_dtype(leaf)
        return d, (float32 if d in (float16, bfloat16) else d)
    if issubclass(leaf, builtins.bool):
        return _bool, _bool
    if issubclass(leaf, builtins.int):
        return int64, int64
    if issubclass(leaf, builtins.float):
        return get_default_dtype(), float64
    return _default_complex(), complex128


def _numpy_dtype(np_dtype: np.dtype) -> _dtype_cls:
    """The ember dtype of a NumPy dtype, with torch's TypeError for the unsupported ones."""
    try:
        return from_numpy_dtype(np_dtype)
    except TypeError:
        raise TypeError(f"can't convert np.ndarray of type numpy.{np_dtype.type.__name__}. The "
                        f"only supported types are: {_NUMPY_OK}.") from None


def _is_seq(x) -> bool:
    return isinstance(x, (list, tuple, builtins.range)) or (
        isinstance(x, Sequence) and not isinstance(x, (str, bytes)))


def _scan(data) -> tuple[list, set]:
    """Shape of nested sequences (torch's compute_sizes: follow the first elements) and the
    set of leaf kinds (Python scalar types, NumPy dtypes, ember dtypes), checking raggedness."""
    shape, x = [], data
    while _is_seq(x):
        shape.append(len(x))
        if not len(x):
            break
        x = x[0]
        if isinstance(x, np.ndarray):
            shape.extend(x.shape)
            break
    leaves: set = set()
    _check(data, 0, shape, leaves)
    return shape, leaves


def _check(x, dim: int, shape: list, leaves: set) -> None:
    if isinstance(x, np.ndarray):
        for d, (want, got) in enumerate(zip(shape[dim:], x.shape), dim):
            if want != got:
                raise ValueError(f"expected sequence of length {want} at dim {d} (got {got})")
        if x.ndim != len(shape) - dim:
            raise ValueError(f"expected {len(shape) - dim} dims at dim {dim} (got {x.ndim})")
        leaves.add(x.dtype)
        return
    if dim == len(shape):
        if _is_seq(x):
            raise TypeError(f"'{type(x).__name__}' object cannot be interpreted as a number")
        leaves.add(_leaf_kind(x))
        return
    if not _is_seq(x):
        raise TypeError("not a sequence")
    if len(x) != shape[dim]:
        raise ValueError(f"expected sequence of length {shape[dim]} at dim {dim} (got {len(x)})")
    if dim == len(shape) - 1:
        kinds = set(map(type, x))
        if kinds <= _PY_SCALARS:  # the common case, at C speed
            leaves.update(kinds)
            return
    for item in x:
        _check(item, dim + 1, shape, leaves)


def _leaf_kind(x):
    if isinstance(x, Tensor):
        if x.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return x.dtype
    if isinstance(x, np.generic):
        return x.dtype
    if isinstance(x, (builtins.bool, builtins.int, builtins.float, builtins.complex)):
        return type(x)
    raise RuntimeError(f"Could not infer dtype of {type(x).__name__}")


def _from_data(data, dtype: _dtype_cls | None) -> np.ndarray:
    """A fresh array holding Python data (nested sequences of numbers, arrays, tensors)."""
    shape, leaves = _scan(data)
    if leaves:
        inferred, wide = (reduce(promote_types, ds) for ds in zip(*map(_leaf_dtypes, leaves)))
    else:
        inferred = wide = get_default_dtype()
    target = dtype or inferred
    try:
        arr = np.array(data, dtype=wide.np)
    except OverflowError:
        raise ValueError("Overflow when unpacking long long") from None
    arr = arr.reshape(shape)
    if arr.dtype != target.np:
        if target._category == 1 and arr.size and arr.dtype.kind != "b" and _overflows(arr,
                                                                                     target):
            raise RuntimeError(f"value cannot be converted to type {target.name} without "
                               "overflow")
        arr = cast(arr, target.np)
    return arr


def _overflows(arr: np.ndarray, target: _dtype_cls) -> builtins.bool:
    """torch's checked conversion of Python numbers to an integer dtype: values must fit,
    except that negative integers may wrap into an unsigned dtype."""
    info = np.iinfo(target.np)
    vals = arr.real if arr.dtype.kind == "c" else arr
    if vals.dtype.kind == "f":
        return builtins.bool(np.isnan(vals).any() or (vals < info.min).any()
                             or (vals > info.max).any())
    low = -builtins.int(info.max) if info.min == 0 else info.min
    return builtins.bool((vals < low).any() or (vals > info.max).any())


def _result(arr: np.ndarray | Tensor, requires_grad: builtins.bool = False) -> Tensor:
    """Wrap a freshly made array (or take a fresh tensor), marked ``requires_grad``."""
    t = arr if isinstance(arr, Tensor) else _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


# ---- factory ops -----------------------------------------------------------------------------
# Every factory runs as an op through the dispatcher, so modes (profiler, tracer, autocast,
# FlopCounter) see it as torch's see aten::zeros. Arguments are plain Python values (size
# tuples, numbers, NumPy dtypes); ``requires_grad`` and ``out`` are handled afterwards.

class Factory(Op):
    """An op that makes a new tensor from plain values (the ``*_like`` ones read only their
    input's metadata); never differentiable. Its ``meta`` is what runs on the meta device."""

    abstract = True
    kind = "factory"
    differentiable = False


def factory_result(op: type[Op], device, out: Tensor | None, requires_grad: builtins.bool,
                   *args) -> Tensor:
    """A public factory's result: ``op`` run on ``args`` on ``device`` -- with ``out=``,
    out's device unless ``device`` is given (torch's error when they differ) -- then
    written into ``out`` or marked ``requires_grad``.

    On the CPU the op is dispatched to its kernel; on the meta device its ``meta``
    function gives a tensor without storage (nothing is allocated, and no mode sees the
    call: there is nothing to run)."""
    if out is not None:
        if device is None:
            device = out.device
        elif is_meta_device(device) != out.is_meta:
            raise RuntimeError(f"device type {'meta' if is_meta_device(device) else 'cpu'} "
                               f"does not match device type of out parameter "
                               f"({out.device.type})")
    t = dispatch_out(_meta_factory(op) if is_meta_device(device) else op, out, *args)
    return t if out is not None else _result(t, requires_grad)


def _meta_factory(op: type[Op]):
    """``op`` on the meta device: a tensor from its ``meta`` function, nothing allocated,
    the call seen by the active modes (``dispatch_factory``); named after ``op`` for
    ``dispatch_out``'s errors."""
    def run(*args) -> Tensor:
        return dispatch_factory(op, META, *args)
    run.__name__ = op.aten
    return run


class _Sized(Factory):
    """``kernel(size, dtype)``: a new C-contiguous array."""

    abstract = True
    kernel = None

    @classmethod
    def forward(cls, ctx, size, dtype):
        return cls.kernel(size, dtype)

    @staticmethod
    def meta(size, dtype):
        return _meta.new(size, dtype)


class Zeros(_Sized):
    signature = "zeros(int[] size, dtype dtype) -> Tensor"
    kernel = staticmethod(np.zeros)


def _ones(size: tuple, dtype) -> np.ndarray:
    """``np.ones``, filled in C (np.ones is Python: 0.75 us against 0.3 for 64 bools)."""
    out = np.empty(size, dtype)
    out.fill(1)
    return out


class Ones(_Sized):
    signature = "ones(int[] size, dtype dtype) -> Tensor"
    kernel = staticmethod(_ones)


class Empty(_Sized):
    signature = "empty.memory_format(int[] size, dtype dtype) -> Tensor"
    kernel = staticmethod(np.empty)


class Full(Factory):
    signature = "full(int[] size, Scalar fill_value, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, size, fill_value, dtype):
        return np.full(size, fill_value, dtype)

    @staticmethod
    def meta(size, fill_value, dtype):
        return _meta.new(size, dtype)


class _Like(Factory):
    """``kernel(input, dtype)``: a new array laid out as NumPy lays out ``input``'s
    (``order="K"``, which is torch's ``preserve_format`` for dense tensors)."""

    abstract = True
    kernel = None

    @classmethod
    def forward(cls, ctx, input, dtype):
        return cls.kernel(input, dtype)

    @staticmethod
    def meta(input, dtype):
        return _meta.like(input, dtype)


class ZerosLike(_Like):
    name = "zeros_like"
    signature = "zeros_like(Tensor input, dtype dtype) -> Tensor"
    kernel = staticmethod(np.zeros_like)


class OnesLike(_Like):
    name = "ones_like"
    signature = "ones_like(Tensor input, dtype dtype) -> Tensor"
    kernel = staticmethod(np.ones_like)


class EmptyLike(_Like):
    name = "empty_like"
    signature = "empty_like(Tensor input, dtype dtype) -> Tensor"
    kernel = staticmethod(np.empty_like)


class FullLike(Factory):
    name = "full_like"
    signature = "full_like(Tensor input, Scalar fill_value, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, input, fill_value, dtype):
        return np.full_like(input, fill_value, dtype)

    @staticmethod
    def meta(input, fill_value, dtype):
        return _meta.like(input, dtype)


def _out_dtype(dtype: _dtype_cls | None, out: Tensor | None, default=None) -> _dtype_cls | None:
    if out is None:
        return dtype or default
    if dtype is not None and dtype is not out.dtype:
        raise RuntimeError(f"dtype {dtype.scalar_name} does not match dtype of out parameter "
                           f"({out.dtype.scalar_name})")
    return out.dtype


def _constructor_device(device):
    """The device a constructor of torch's list (``zeros``, ``tensor``, ``arange``...)
    makes its tensor on: ``device``, else the default device if that is ``meta``, else
    None (wherever the data is)."""
    return "meta" if device is None and is_meta_device(None) else device


def to_device(t: Tensor, device, dtype: _dtype_cls | None = None) -> Tensor:
    """``t`` moved to ``device`` (None: where it is) with ``dtype`` (None: its own) when
    that crosses between the CPU and the meta device; else ``t`` itself (dtype untouched).

    To the meta device: ``t``'s shape and layout, no storage; it requires grad when ``t``
    does (a leaf: the meta device records no graph). From it: torch's error (no data).
    """
    if device is None or is_meta_device(device) == t.is_meta:
        return t
    if t.is_meta:
        raise NotImplementedError("Cannot copy out of meta tensor; no data!")
    out = _make(_meta.like(t._data, None if dtype is None else dtype.np))
    out._requires_grad = t._requires_grad and (out.is_floating_point() or out.is_complex())
    return out


# ---- from data ---------------------------------------------------------------------------

def tensor(data, *, dtype: _dtype_cls | None = None, device=None,
           requires_grad: builtins.bool = False, pin_memory: builtins.bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``: nested lists/tuples of numbers, NumPy arrays
    and scalars, or tensors. The dtype is inferred as torch does: bool < int64 < the default
    float dtype < complex, with NumPy scalars and tensors inside lists keeping theirs."""
    check_device(device)
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use "
                      "sourceTensor.detach().clone() or sourceTensor.detach().clone()."
                      "requires_grad_(True), rather than torch.tensor(sourceTensor).",
                      UserWarning, stacklevel=2)
        arr = np.array(data._data, copy=True) if dtype is None else cast(data._data, dtype.np)
    elif isinstance(data, (np.ndarray, np.generic)):
        src = _numpy_dtype(data.dtype)
        arr = cast(np.asarray(data), (dtype or src).np)
    elif _is_seq(data) or isinstance(data, (builtins.int, builtins.float, builtins.complex)):
        arr = _from_data(data, dtype)
    elif hasattr(data, "__array__"):
        arr = np.array(np.asarray(data), dtype=dtype.np if dtype else None, copy=True)
        _numpy_dtype(arr.dtype)
    else:
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
    t = _result(to_device(_make(arr), _constructor_device(device)), requires_grad)
    if ACTIVE.modes:
        _data_read(t, "new")  # a constant made from Python data, for a compiler's capture
    return t


def as_tensor(data, dtype: _dtype_cls | None = None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a tensor or NumPy array when no conversion is
    needed (a tensor of the right dtype is returned as is, keeping its autograd history)."""
    check_device(device)
    if isinstance(data, Tensor):
        t = data if dtype is None or dtype is data.dtype else data.to(dtype)
    elif isinstance(data, np.ndarray):
        t = from_numpy(data)
        t = t if dtype is None or dtype is t.dtype else _make(cast(data, dtype.np))
    else:
        t = tensor(data, dtype=dtype, device="cpu")
    return to_device(t, _constructor_device(device))


def asarray(obj, *, dtype: _dtype_cls | None = None, device=None, copy: builtins.bool | None = None,
            requires_grad: builtins.bool = False) -> Tensor:
    """Convert ``obj`` to a tensor, sharing memory with tensors, NumPy arrays and buffers
    unless ``copy=True`` or a dtype conversion is needed (``copy=False`` forbids copying)."""
    check_device(device)
    if isinstance(obj, Tensor) or hasattr(obj, "__array__") or isinstance(obj, memoryview):
        t = obj if isinstance(obj, Tensor) else from_numpy(np.asarray(obj))
        if dtype is not None and dtype is not t.dtype:
            if copy is False:
                raise ValueError(f"can't alias tensor of dtype {t.dtype} as {dtype} "
                                 "without copying (copy=False)")
            t = t.to(dtype)
        elif copy:
            t = t.clone()
    else:
        if copy is False:
            raise ValueError(f"can't alias Python object of type {type(obj).__name__} "
                             "without copying (copy=False)")
        t = tensor(obj, dtype=dtype, device="cpu")
    t = to_device(t, _constructor_device(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray``: writes to either show in the other."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if not ndarray.dtype.isnative:
        raise ValueError("given numpy array has byte order different from the native byte "
                         "order. Conversion between byte orders is currently not supported.")
    _numpy_dtype(ndarray.dtype)
    return _make(ndarray)


# ---- filled --------------------------------------------------------------------------------

def _parse_size(args: tuple, name: str) -> tuple[int, ...]:
    """torch's ``size`` argument: ints, or one tuple/list/Size of ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for s in args:  # the usual case, Python ints in range, checked without a generator
        if type(s) is not int or not 0 <= s < 1 << 63:
            break
    else:
        return args
    if len(args) == 1 and not hasattr(args[0], "__index__"):
        raise TypeError(f"{name}(): argument 'size' (position 1) must be tuple of ints, not "
                        f"{type(args[0]).__name__}")
    dims = []
    for pos, s in enumerate(args, 1):
        try:
            dims.append(operator.index(s))
        except TypeError:
            raise TypeError(f"{name}(): argument 'size' failed to unpack the object at pos {pos} "
                            f"with error \"type must be tuple of ints,but got "
                            f"{type(s).__name__}\"") from None
    for pos, d in enumerate(dims, 1):
        if d >= 1 << 63:  # torch parses sizes as int64
            raise TypeError(f"{name}(): argument 'size' failed to unpack the object at pos {pos} "
                            "with error \"Overflow when unpacking long long\"")
    for d in dims:
        if d < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {d}: {dims}")
    return tuple(dims)


def _size_arg(args: tuple, size, name: str) -> tuple[int, ...]:
    if args and size is not None:
        raise TypeError(f"{name}() got multiple values for argument 'size'")
    if not args and size is None:
        raise TypeError(f"{name}() missing 1 required positional arguments: \"size\"")
    return _parse_size(args or (size,), name)


def _filled(op: type[Factory], shape: tuple, dtype, out, requires_grad, device, *fill) -> Tensor:
    check_device(device)
    dt = _out_dtype(dtype, out, get_default_dtype()).np
    return factory_result(op, device, out, requires_grad, shape, *fill, dt)


def zeros(*args, size=None, out: Tensor | None = None, dtype: _dtype_cls | None = None,
          layout=None, device=None, requires_grad: builtins.bool = False,
          pin_memory: builtins.bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)``, ``zeros((2, 3))``."""
    return _filled(Zeros, _size_arg(args, size, "zeros"), dtype, out, requires_grad, device)


def ones(*args, size=None, out: Tensor | None = None, dtype: _dtype_cls | None = None,
         layout=None, device=None, requires_grad: builtins.bool = False,
         pin_memory: builtins.bool = False) -> Tensor:
    """A tensor of ones."""
    return _filled(Ones, _size_arg(args, size, "ones"), dtype, out, requires_grad, device)


def empty(*args, size=None, out: Tensor | None = None, dtype: _dtype_cls | None = None,
          layout=None, device=None, requires_grad: builtins.bool = False,
          pin_memory: builtins.bool = False, memory_format=None) -> Tensor:
    """An uninitialised tensor."""
    return _filled(Empty, _size_arg(args, size, "empty"), dtype, out, requires_grad, device)


def _scalar_dtype(value) -> _dtype_cls:
    """The dtype torch gives a tensor filled with ``value`` (a number or 0-d tensor)."""
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, (builtins.bool, np.bool_)):
        return _bool
    if isinstance(value, (builtins.int, np.integer)):
        return int64
    if isinstance(value, (builtins.complex, np.complexfloating)):
        return _default_complex()
    return get_default_dtype()


def _fill_value(value):
    return value.item() if isinstance(value, Tensor) else value


def full(size, fill_value, *, out: Tensor | None = None, dtype: _dtype_cls | None = None,
         layout=None, device=None, requires_grad: builtins.bool = False) -> Tensor:
    """A tensor filled with ``fill_value``; its dtype follows the value (bool, int64, the
    default float dtype or complex) unless ``dtype`` or ``out`` gives it."""
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"full(): argument 'size' (position 1) must be tuple of ints, not "
                        f"{type(size).__name__}")
    if dtype is None and out is None:
        dtype = _scalar_dtype(fill_value)
    return _filled(Full, _parse_size((size,), "full"), dtype, out, requires_grad, device,
                   _fill_value(fill_value))


def _like(op: type[Factory], input: Tensor, dtype, requires_grad, device, *fill) -> Tensor:
    """``op`` in the shape and layout of ``input``, on ``device`` (default: input's)."""
    dt = (dtype or input.dtype).np
    if device is not None:
        check_device(device)
        if is_meta_device(device) != input.is_meta:
            if input.is_meta:  # to the CPU: the kernel on an array laid out as input
                input = _make(_stand_in(input._data))
            else:
                input = _make(MetaArray.like(input._data))  # dispatched on the meta device
    return _result(dispatch(op, input, *fill, dt), requires_grad)


def _stand_in(meta: MetaArray) -> np.ndarray:
    """An uninitialised array with ``meta``'s shape, dtype and (non-negative) strides."""
    if min(meta.strides, default=0) < 0:
        return np.empty(meta.shape, meta.dtype)
    return _empty_strided(meta.shape, meta.element_strides(), meta.dtype)


def zeros_like(input: Tensor, *, dtype: _dtype_cls | None = None, layout=None, device=None,
               requires_grad: builtins.bool = False, memory_format=None) -> Tensor:
    """Zeros with the shape (and, for dense inputs, the strides) of ``input``."""
    return _like(ZerosLike, input, dtype, requires_grad, device)


def ones_like(input: Tensor, *, dtype: _dtype_cls | None = None, layout=None, device=None,
              requires_grad: builtins.bool = False, memory_format=None) -> Tensor:
    """Ones with the shape of ``input``."""
    return _like(OnesLike, input, dtype, requires_grad, device)


def empty_like(input: Tensor, *, dtype: _dtype_cls | None = None, layout=None, device=None,
               requires_grad: builtins.bool = False, memory_format=None) -> Tensor:
    """An uninitialised tensor with the shape of ``input``."""
    return _like(EmptyLike, input, dtype, requires_grad, device)


def full_like(input: Tensor, fill_value, *, dtype: _dtype_cls | None = None, layout=None,
              device=None, requires_grad: builtins.bool = False, memory_format=None) -> Tensor:
    """``fill_value`` in the shape of ``input`` (and its dtype unless ``dtype`` is given)."""
    return _like(FullLike, input, dtype, requires_grad, device, _fill_value(fill_value))


def empty_strided(size, stride, *, dtype: _dtype_cls | None = None, layout=None, device=None,
                  requires_grad: builtins.bool = False, pin_memory: builtins.bool = False,
                  ) -> Tensor:
    """An uninitialised tensor with the given strides (in elements)."""
    check_device(device)
    shape = _parse_size((size,), "empty_strided")
    strides = tuple(operator.index(s) for s in stride)
    if len(strides) != len(shape):
        raise RuntimeError("mismatch in length of strides and shape")
    return factory_result(EmptyStrided, device, None, requires_grad, shape, strides,
                          (dtype or get_default_dtype()).np)


def _empty_strided(shape: tuple, strides: tuple, dt: np.dtype) -> np.ndarray:
    span = 0 if 0 in shape else 1 + sum((n - 1) * s for n, s in zip(shape, strides))
    buf = np.empty(span, dtype=dt)
    return np.lib.stride_tricks.as_strided(buf, shape, tuple(s * dt.itemsize for s in strides))


class EmptyStrided(Factory):
    name = "empty_strided"
    signature = "empty_strided(int[] size, int[] stride, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, size, stride, dtype):
        return _empty_strided(size, stride, dtype)

    @staticmethod
    def meta(size, stride, dtype):
        itemsize = np.dtype(dtype).itemsize
        return MetaArray(size, dtype, tuple(st * itemsize for st in stride))


class ScalarTensor(Factory):
    name = "scalar_tensor"
    signature = "scalar_tensor(Scalar s, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, s, dtype):
        return np.array(s, dtype)

    @staticmethod
    def meta(s, dtype):
        return _meta.new((), dtype)


def scalar_tensor(s, *, dtype: _dtype_cls | None = None, layout=None, device=None,
                  requires_grad: builtins.bool = False, pin_memory: builtins.bool = False,
                  ) -> Tensor:
    """A 0-d tensor holding ``s`` (the default float dtype unless ``dtype`` is given)."""
    check_device(device)
    return factory_result(ScalarTensor, device, None, requires_grad, _fill_value(s),
                          (dtype or get_default_dtype()).np)


class Eye(Factory):
    signature = "eye.m(int n, int m, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, n, m, dtype):
        return np.eye(n, m, dtype=dtype)

    @staticmethod
    def meta(n, m, dtype):
        return _meta.new((n, m), dtype)


def eye(n: int, m: int | None = None, *, out: Tensor | None = None,
        dtype: _dtype_cls | None = None, layout=None, device=None,
        requires_grad: builtins.bool = False, pin_memory: builtins.bool = False) -> Tensor:
    """A 2-D tensor with ones on the diagonal: ``n`` rows, ``m`` (default ``n``) columns."""
    check_device(device)
    m = n if m is None else m
    for name, v in (("n", n), ("m", m)):
        if v < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {v}")
    dt = _out_dtype(dtype, out, get_default_dtype())
    return factory_result(Eye, device, out, requires_grad, n, m, dt.np)


# ---- ranges --------------------------------------------------------------------------------

def _number(x):
    """A range endpoint as a Python number (0-d tensors and NumPy scalars included)."""
    if isinstance(x, (Tensor, np.generic)):
        return x.item()
    return x


def _any_float(*xs) -> builtins.bool:
    for x in xs:  # (a loop: a generator in any() cost more than the test)
        if isinstance(x, (builtins.float, builtins.complex)):
            return True
    return False


def arange(start=0, end=None, step=1, *, out: Tensor | None = None,
           dtype: _dtype_cls | None = None, layout=None, device=None,
           requires_grad: builtins.bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (excluded) by ``step``.

    The length is ``ceil((end - start) / step)`` computed in double as torch does; the
    dtype is the default float dtype when any argument is a float, int64 otherwise. With
    an integer ``dtype``, ``start`` and ``step`` are truncated first (torch's rule).
    """
    check_device(device)
    if end is None:
        start, end = 0, start
    start, end, step = _number(start), _number(end), _number(step)
    floating = _any_float(start, end, step)
    dtype = _out_dtype(dtype, out, get_default_dtype() if floating else int64)
    _check_range_dtype(dtype, "arange")
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise RuntimeError(f"unsupported range: {start} -> {end}")
    if not ((step > 0 and end >= start) or (step < 0 and end <= start)):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if floating:
        n = math.ceil((end - start) / step)
    else:
        n = -((start - end) // step)
    if isinstance(out, Tensor) and out.numel() not in (0, n):
        warnings.warn(f"The number of elements in the out tensor of shape {list(out.shape)} is "
                      f"{out.numel()} which does not match the computed number of elements {n}. "
                      "Note that this may occur as a result of rounding error. The out tensor "
                      f"will be resized to a tensor of shape ({n},).", UserWarning, stacklevel=2)
    return factory_result(Arange, device, out, requires_grad, start, step, n, dtype.np)


def _inexact(dt: np.dtype) -> builtins.bool:
    return dt.kind in "fc" or is_bfloat16(dt)


def _stepped(start, step, n: int, dt: np.dtype) -> np.ndarray:
    """``n`` values ``start + i * step``: in double for floating dtypes, else in int64 from
    the truncated ``start`` and ``step``."""
    if _inexact(dt):
        return (start + np.arange(n, dtype=np.float64) * step).astype(dt)
    start, step = builtins.int(start), builtins.int(step)
    if start == 0 and step == 1:  # arange(n): positions, one NumPy call
        return np.arange(n, dtype=np.int64).astype(dt, copy=False)
    return (start + np.arange(n, dtype=np.int64) * step).astype(dt)


class Arange(Factory):
    """``n`` values ``start + i * step`` (the public function computes ``n`` from the
    end point, with torch's rule)."""

    signature = "arange.start_step(Scalar start, Scalar step, int n, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, start, step, n, dtype):
        return _stepped(start, step, n, dtype)

    @staticmethod
    def meta(start, step, n, dtype):
        return _meta.new((n,), dtype)


class Range(Arange):
    signature = "range.step(Scalar start, Scalar step, int n, dtype dtype) -> Tensor"


def _check_range_dtype(dtype: _dtype_cls, name: str) -> None:
    if dtype is _bool:
        raise NotImplementedError(f'"{name}_cpu" not implemented for \'Bool\'')


def _spaced(start, end, steps: int, dt: np.dtype) -> np.ndarray:
    """torch's linspace kernel: the first half counts up from ``start``, the second half
    down from ``end`` (so both endpoints are exact), in the dtype's own arithmetic
    (double for integer dtypes)."""
    _check_steps(steps)
    if _inexact(dt):
        work = dt
    else:
        work = np.float64
        start, end = builtins.int(start.real), builtins.int(end.real)
    start, end = np.array(start, dtype=work), np.array(end, dtype=work)
    if steps <= 1:
        return np.full(steps, start, dtype=work)
    step = (end - start) / np.array(steps - 1, dtype=work)
    idx = np.arange(steps)
    half = steps // 2
    lo = start + step * idx[:half].astype(work)
    hi = end - step * (steps - idx[half:] - 1).astype(work)
    return np.concatenate([lo, hi]).astype(work)


def _check_steps(steps: int) -> None:
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")


class Linspace(Factory):
    signature = "linspace(Scalar start, Scalar end, int steps, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, start, end, steps, dtype):
        return _spaced(start, end, steps, dtype).astype(dtype)

    @staticmethod
    def meta(start, end, steps, dtype):
        _check_steps(steps)
        return _meta.new((steps,), dtype)


class Logspace(Factory):
    signature = "logspace(Scalar start, Scalar end, int steps, float base, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, start, end, steps, base, dtype):
        exps = _spaced(start, end, steps, dtype)
        wide = np.complex128 if dtype.kind == "c" else np.float64
        return np.power(wide(base), exps.astype(wide)).astype(dtype)

    @staticmethod
    def meta(start, end, steps, base, dtype):
        _check_steps(steps)
        return _meta.new((steps,), dtype)


def _linspace_dtype(dtype, out, start, end) -> _dtype_cls:
    complex_ = isinstance(start, builtins.complex) or isinstance(end, builtins.complex)
    return _out_dtype(dtype, out, _default_complex() if complex_ else get_default_dtype())


def linspace(start, end, steps: int, *, out: Tensor | None = None,
             dtype: _dtype_cls | None = None, layout=None, device=None,
             requires_grad: builtins.bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` (both included)."""
    check_device(device)
    start, end = _number(start), _number(end)
    dtype = _linspace_dtype(dtype, out, start, end)
    if steps > 1:  # torch's kernel (and its dtype check) runs only then
        _check_range_dtype(dtype, "linspace")
    return factory_result(Linspace, device, out, requires_grad, start, end, steps, dtype.np)


def logspace(start, end, steps: int, base: float = 10.0, *, out: Tensor | None = None,
             dtype: _dtype_cls | None = None, layout=None, device=None,
             requires_grad: builtins.bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    check_device(device)
    start, end = _number(start), _number(end)
    dtype = _linspace_dtype(dtype, out, start, end)
    return factory_result(Logspace, device, out, requires_grad, start, end, steps, base,
                          dtype.np)


# ---- Tensor.new_* ------------------------------------------------------------------------

@tensor_method()
def new_tensor(self, data, *, dtype: _dtype_cls | None = None, device=None,
               requires_grad: builtins.bool = False, layout=None,
               pin_memory: builtins.bool = False) -> Tensor:
    """A new tensor from ``data`` with this tensor's dtype and device unless given."""
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                  requires_grad=requires_grad)


def _new_factory(op: type[Factory], name: str):
    def new(self, *args, size=None, dtype: _dtype_cls | None = None, device=None,
            requires_grad: builtins.bool = False, layout=None,
            pin_memory: builtins.bool = False) -> Tensor:
        return _filled(op, _size_arg(args, size, name), dtype or self.dtype, None,
                       requires_grad, device or self.device)
    new.__name__ = new.__qualname__ = name
    new.__doc__ = (f"Like ``ember.{name[4:]}`` with this tensor's dtype and device unless "
                   "given.")
    return new


for _op, _name in ((Zeros, "new_zeros"), (Ones, "new_ones"), (Empty, "new_empty")):
    tensor_method(_name)(_new_factory(_op, _name))


@tensor_method()
def new_full(self, size, fill_value, *, dtype: _dtype_cls | None = None, device=None,
             requires_grad: builtins.bool = False, layout=None,
             pin_memory: builtins.bool = False) -> Tensor:
    """``fill_value`` in ``size`` with this tensor's dtype and device unless given."""
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                requires_grad=requires_grad)


@tensor_method()
def new_empty_strided(self, size, stride, *, dtype: _dtype_cls | None = None, device=None,
                      requires_grad: builtins.bool = False, layout=None,
                      pin_memory: builtins.bool = False) -> Tensor:
    """Like ``ember.empty_strided`` with this tensor's dtype and device unless given."""
    return empty_strided(size, stride, dtype=dtype or self.dtype, device=device or self.device,
                         requires_grad=requires_grad)


# Defined last: it shadows the builtin ``range`` for the rest of this module.
def range(start=0, end=None, step=1, *, out: Tensor | None = None,  # noqa: A001
          dtype: _dtype_cls | None = None, layout=None, device=None,
          requires_grad: builtins.bool = False) -> Tensor:
    """Deprecated: values from ``start`` to ``end`` *inclusive*; use ``arange``."""
    warnings.warn("torch.range is deprecated and will be removed in a future release because "
                  "its behavior is inconsistent with Python's range builtin. Instead, use "
                  "torch.arange, which produces values in [start, end).", UserWarning,
                  stacklevel=2)
    check_device(device)
    if end is None:
        start, end = 0, start
    start, end, step = _number(start), _number(end), _number(step)
    dtype = _out_dtype(dtype, out, get_default_dtype())
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if not ((step > 0 and end >= start) or (step < 0 and end <= start)):
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    n = builtins.int(math.floor((end - start) / step)) + 1
    return factory_result(Range, device, out, requires_grad, start, step, n, dtype.np)

