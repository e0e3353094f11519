"""Storage-less arrays: what a tensor on ``device="meta"`` holds instead of an ndarray.

A ``MetaArray`` has the metadata of an ``numpy.ndarray`` -- shape, NumPy dtype, strides
in bytes, and the derived ``ndim``/``size``/``itemsize``/``nbytes`` -- and no memory.
The dispatcher sends ops on such tensors to the op's ``meta`` function, which computes
the outputs' metadata from the inputs' without running a kernel: that is how a whole
model's forward runs on the meta device (shapes of a 7B model without 28 GB of RAM), and
what the compiler and the exporters reason with.

Strides follow NumPy's convention (bytes), so meta functions and kernels speak the same
language; ``Tensor.stride()`` divides by the itemsize as for real tensors.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MetaArray", "contiguous_strides"]


def contiguous_strides(shape: tuple, itemsize: int) -> tuple:
    """C-order strides in bytes (size-0 and size-1 dims count as 1, as in torch)."""
    strides, step = [], itemsize
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "writeable")

    def __init__(self, c: bool, f: bool):
        self.c_contiguous, self.f_contiguous, self.writeable = c, f, True


class MetaArray:
    """Shape, dtype and strides of an array that has no memory.

    ``MetaArray(shape, dtype)`` is C-contiguous; pass ``strides`` (bytes) for a view's
    layout. ``like(arr)`` mirrors a real array's metadata.
    """

    __slots__ = ("shape", "dtype", "strides")

    def __init__(self, shape, dtype, strides: tuple | None = None):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.strides = contiguous_strides(self.shape, self.dtype.itemsize) if strides is None \
            else tuple(int(s) for s in strides)
        if len(self.strides) != len(self.shape):
            raise ValueError(f"strides {self.strides} do not match shape {self.shape}")

    @classmethod
    def like(cls, arr) -> MetaArray:
        """The metadata of ``arr`` (an ndarray or a MetaArray); empty arrays get
        contiguous strides (NumPy reports 0s for them)."""
        strides = arr.strides if arr.size else None
        return cls(arr.shape, arr.dtype, strides)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def flags(self) -> _Flags:
        c = self.strides == contiguous_strides(self.shape, self.itemsize)
        f = self.strides[::-1] == contiguous_strides(self.shape[::-1], self.itemsize)
        return _Flags(c or self.size <= 1, f or self.size <= 1)

    @property
    def base(self) -> None:
        return None

    @property
    def __array_interface__(self) -> dict:
        return {"data": (0, False), "shape": self.shape, "typestr": self.dtype.str,
                "strides": self.strides, "version": 3}

    def copy(self) -> MetaArray:
        """A C-contiguous copy, as ``ndarray.copy()`` (``deepcopy`` of a meta tensor)."""
        return MetaArray(self.shape, self.dtype)

    def element_strides(self) -> tuple:
        """Strides in elements, as ``Tensor.stride()`` reports them."""
        return tuple(s // self.itemsize for s in self.strides)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __array__(self, *args, **kwargs):
        raise NotImplementedError("Cannot copy out of meta tensor; no data!")

    def __repr__(self) -> str:
        return f"MetaArray(shape={self.shape}, dtype={self.dtype}, strides={self.strides})"
