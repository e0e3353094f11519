"""Creating tensors: from data, filled, ranges."""

from __future__ import annotations

import numpy as np

from .._device import check_device
from .._dtype import bool as _bool
from .._dtype import dtype as _dtype_cls
from .._dtype import from_numpy_dtype, get_default_dtype, int64
from .._tensor import Tensor, _make

__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "zeros_like",
           "ones_like", "full_like", "empty_like", "arange"]


def _infer_dtype(data) -> _dtype_cls:
    """torch's inference from Python data: bool < int64 < default float < complex."""
    kinds = set()
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, Tensor):
            kinds.add(x.dtype)
        elif isinstance(x, np.ndarray):
            kinds.add(from_numpy_dtype(x.dtype))
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, bool | np.bool_):
            kinds.add(_bool)
        elif isinstance(x, int | np.integer):
            kinds.add(int64)
        elif isinstance(x, complex):
            kinds.add(get_default_dtype().to_complex())
        else:
            kinds.add(get_default_dtype())
    if not kinds:
        return get_default_dtype()
    if all(isinstance(x, Tensor | np.ndarray) for x in ([data] if not isinstance(
            data, (list, tuple)) else [])) and len(kinds) == 1:
        return kinds.pop()
    order = sorted(kinds, key=lambda d: (d._category, d._rank))
    return order[-1] if order[-1]._category == 2 and not isinstance(data, np.ndarray) \
        else order[-1]


def _to_array(data, dtype: _dtype_cls | None) -> np.ndarray:
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        arr = np.array([_to_array(x, dtype) for x in data])
    else:
        if dtype is None:
            dtype = _infer_dtype(data)
        return np.array(data, dtype=dtype.np)
    return arr if dtype is None else arr.astype(dtype.np)


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """A new tensor copying ``data`` (nested lists, scalars, arrays, tensors)."""
    check_device(device)
    if isinstance(data, np.ndarray) and dtype is None:
        arr = np.array(data, copy=True)
        from_numpy_dtype(arr.dtype)
    else:
        arr = np.array(_to_array(data, dtype), copy=True)
    t = _make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a tensor or ndarray of the right dtype."""
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None or dtype.np == data._data.dtype else data.to(dtype)
    if isinstance(data, np.ndarray):
        from_numpy_dtype(data.dtype)
        return _make(data if dtype is None else data.astype(dtype.np, copy=False))
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    from_numpy_dtype(array.dtype)
    return _make(array)


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def _filled(fill, size, dtype, device, requires_grad) -> Tensor:
    check_device(device)
    dt = (dtype or get_default_dtype()).np
    arr = np.empty(size, dtype=dt) if fill is None else np.full(size, fill, dtype=dt)
    t = _make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False) -> Tensor:
    return _filled(0, _size(size), dtype, device, requires_grad)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False) -> Tensor:
    return _filled(1, _size(size), dtype, device, requires_grad)


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, memory_format=None) -> Tensor:
    return _filled(None, _size(size), dtype, device, requires_grad)


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad=False) -> Tensor:
    if dtype is None:
        dtype = _infer_dtype(fill_value)
    return _filled(fill_value, _size((size,)), dtype, device, requires_grad)


def _like(fill):
    def like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
             memory_format=None) -> Tensor:
        return _filled(fill, input._data.shape, dtype or input.dtype, device, requires_grad)
    return like


zeros_like = _like(0)
ones_like = _like(1)
empty_like = _like(None)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None) -> Tensor:
    return _filled(fill_value, input._data.shape, dtype or input.dtype, device, requires_grad)


def arange(start, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = _infer_dtype([start, end, step])
    return _filled_array(np.arange(start, end, step, dtype=np.float64 if dtype.is_floating_point
                                   else np.int64).astype(dtype.np), device, requires_grad)


def _filled_array(arr, device, requires_grad) -> Tensor:
    check_device(device)
    t = _make(arr)
    if requires_grad:
        t.requires_grad = True
    return t
