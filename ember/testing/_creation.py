"""``make_tensor``: a tensor of random values for tests, as ``torch.testing.make_tensor``:
uniform in ``[low, high)`` (defaults -9..9; 0..10 for uint8), clamped to the dtype's range,
optionally non-contiguous or without zeros. Values come from ember's generator, so
``ember.manual_seed`` makes them reproducible (they are not torch's numbers)."""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype
from .._tensor import Tensor, _make
from ..random import _np_generator

__all__ = ["make_tensor"]


def _finfo(dt: _dtype.dtype):
    from .._typeinfo import finfo
    return finfo(dt)


def _bounds(dt: _dtype.dtype, low, high) -> tuple[float, float]:
    lo_default, hi_default = (0, 10) if dt.name == "uint8" else (-9, 9)
    for value in (low, high):
        if value is not None and isinstance(value, float) and math.isnan(value):
            raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and "
                             f"high={high if high is not None else hi_default}")
    low = lo_default if low is None else low
    high = hi_default if high is None else high
    if low >= high:
        raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
    if dt.is_floating_point or dt.is_complex:
        info = _finfo(dt)
        return max(low, info.min), min(high, info.max)
    info = np.iinfo(dt.np)
    return max(low, info.min), min(high, info.max)


def make_tensor(*shape, dtype: _dtype.dtype, device=None, low: float | None = None,
                high: float | None = None, requires_grad: bool = False,
                noncontiguous: bool = False, exclude_zero: bool = False,
                memory_format=None) -> Tensor:
    """A tensor of ``shape`` and ``dtype`` filled with random values in ``[low, high)``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(n) for n in shape)
    rng = _np_generator()
    if dtype is _dtype.bool:
        arr = rng.integers(0, 2, size=shape).astype(bool)
    elif dtype.is_floating_point or dtype.is_complex:
        lo, hi = _bounds(dtype, low, high)
        arr = rng.uniform(lo, hi, size=shape)
        if dtype.is_complex:
            arr = arr + 1j * rng.uniform(lo, hi, size=shape)
        arr = arr.astype(dtype.np)
    else:
        lo, hi = _bounds(dtype, low, high)
        arr = rng.integers(math.ceil(lo), math.ceil(hi), size=shape).astype(dtype.np)
    if exclude_zero:
        replacement = _finfo(dtype).tiny if dtype.is_floating_point or dtype.is_complex else 1
        arr[arr == 0] = replacement
    if noncontiguous and arr.size > 1:
        wide = np.empty(shape[:-1] + (shape[-1] * 2,), dtype=arr.dtype)
        wide[..., ::2] = arr
        arr = wide[..., ::2]
    t = _make(arr)
    if memory_format is not None:
        t = t.contiguous(memory_format=memory_format)
    return t.requires_grad_(True) if requires_grad else t
