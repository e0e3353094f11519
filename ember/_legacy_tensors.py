"""torch's legacy tensor types: ``FloatTensor``, ``LongTensor``, ...

Old programs still build tensors with ``torch.FloatTensor(2, 3)`` or
``torch.LongTensor([1, 2])``, test ``isinstance(x, torch.FloatTensor)`` and convert with
``x.type(torch.DoubleTensor)``. In torch these are classes of the metaclass ``tensortype``
whose ``isinstance`` check compares the tensor's dtype (CPU tensors only); they are not
subclasses of ``Tensor``. ember mirrors that: each class carries its ``dtype``, calling it
builds a tensor of that dtype, and ``Tensor.type`` accepts the class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dtype
from ._tensor import Size, Tensor

__all__ = ["tensortype", "LEGACY_TYPES", "FloatTensor", "DoubleTensor", "HalfTensor",
           "BFloat16Tensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor",
           "ByteTensor", "BoolTensor"]


class tensortype(type):
    """Metaclass of the legacy types: ``isinstance`` means "a CPU tensor of this dtype"."""

    dtype: _dtype.dtype

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and obj.device.type == "cpu"

    def __call__(cls, *args: Any, device: Any = None) -> Tensor:
        """``T()`` empty, ``T(2, 3)`` or ``T(size)`` zeros, ``T(data)`` from a sequence or
        array, ``T(tensor)`` an alias of a tensor of this dtype."""
        from . import tensor, zeros
        if len(args) == 1 and isinstance(args[0], Tensor):
            src = args[0]
            if src.dtype != cls.dtype:
                raise TypeError(f"expected dtype {cls.dtype} (got {src.dtype})")
            return src.view(src.shape)
        if len(args) == 1 and isinstance(args[0], Size):
            return zeros(args[0], dtype=cls.dtype, device=device)
        if len(args) == 1 and isinstance(args[0], (list, tuple, np.ndarray)):
            return tensor(args[0], dtype=cls.dtype, device=device)
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return zeros(args or (0,), dtype=cls.dtype, device=device)
        bad = next(a for a in args if not isinstance(a, int) or isinstance(a, bool))
        raise TypeError(f"new(): data must be a sequence (got {type(bad).__name__})")

    def __repr__(cls) -> str:
        return f"<class 'torch.{cls.__name__}'>"


def _make(dt: _dtype.dtype) -> tensortype:
    name = f"{dt.scalar_name}Tensor"
    return tensortype(name, (), {"dtype": dt, "is_sparse": False, "__module__": "ember",
                                 "__doc__": f"Legacy constructor/type for {dt} CPU tensors."})


# the dtypes torch has legacy CPU types for
LEGACY_TYPES: dict[str, tensortype] = {
    t.__name__: t for t in map(_make, (
        _dtype.float32, _dtype.float64, _dtype.float16, _dtype.bfloat16, _dtype.int64,
        _dtype.int32, _dtype.int16, _dtype.int8, _dtype.uint8, _dtype.bool))}
FloatTensor, DoubleTensor, HalfTensor, BFloat16Tensor, LongTensor, IntTensor, ShortTensor, \
    CharTensor, ByteTensor, BoolTensor = LEGACY_TYPES.values()
