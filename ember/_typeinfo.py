"""``torch.finfo`` and ``torch.iinfo``: the numerical limits of ember's dtypes.

The numbers come from ``numpy.finfo``/``numpy.iinfo`` (``ml_dtypes.finfo`` for bfloat16
and the float8 types); the attributes, their Python types (``float``/``int``), the complex ->
real mapping, the repr and the error messages follow torch.
"""

from __future__ import annotations

import math

import numpy as np

from . import _dtype

__all__ = ["finfo", "iinfo"]


class finfo:  # noqa: N801  (torch's name)
    """Limits of a floating point (or complex: its real part's) dtype, as ``torch.finfo``:
    ``bits``, ``eps``, ``max``, ``min``, ``tiny`` (= ``smallest_normal``), ``resolution``,
    ``dtype`` (the name)."""

    __slots__ = ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype")

    def __init__(self, type: _dtype.dtype | None = None):  # noqa: A002  (torch's name)
        t = _dtype.get_default_dtype() if type is None else type
        if not (t.is_floating_point or t.is_complex):
            raise TypeError("torch.finfo() requires a floating point input type. Use "
                            "torch.iinfo to handle 'torch.finfo'")
        t = t.to_real()
        info = _dtype.np_finfo(t.np)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -math.floor(-math.log10(self.eps))
        self.dtype = t.name

    def __eq__(self, other) -> bool:
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:  # noqa: N801  (torch's name)
    """Limits of an integer dtype, as ``torch.iinfo``: ``bits``, ``max``, ``min``, ``dtype``."""

    __slots__ = ("bits", "max", "min", "dtype")

    def __init__(self, type: _dtype.dtype):  # noqa: A002  (torch's name)
        if type is _dtype.bool:
            raise TypeError("torch.bool is not supported by torch.iinfo")
        if type.is_floating_point or type.is_complex:
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo "
                            "to handle 'torch.iinfo'")
        info = np.iinfo(type.np)
        self.bits, self.max, self.min, self.dtype = int(info.bits), int(info.max), \
            int(info.min), type.name

    def __eq__(self, other) -> bool:
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={float(self.min):g}, max={float(self.max):g}, dtype={self.dtype})"
