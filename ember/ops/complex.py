"""Complex tensors' parts: ``real``/``imag`` (views), ``view_as_real``/``view_as_complex``,
``complex(real, imag)``, ``polar(abs, angle)`` and ``angle``.

What spectral code needs around ``torch.fft``. Gradients follow torch's convention for
complex tensors (the gradient of a real loss L with respect to z is dL/dRe z + i dL/dIm z),
so ``real``'s gradient is the real cotangent as a complex tensor, ``imag``'s is ``i`` times
it, and ``view_as_real``/``view_as_complex`` pass gradients through the other view.
"""

from __future__ import annotations

import numpy as np

from .._dispatch import Op, dispatch
from .._dtype import from_numpy_dtype
from .._meta import MetaArray
from .._tensor import Tensor, tensor_method
from . import _meta
from .arithmetic import cos, sin, where

__all__ = ["real", "imag", "view_as_real", "view_as_complex", "complex", "polar", "angle"]

_COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64),
               np.dtype(np.float64): np.dtype(np.complex128)}


def _real_dtype(dt) -> np.dtype:
    return np.empty(0, dt).real.dtype


class Real(Op):
    signature = "real(Tensor(a) a) -> Tensor(a)"
    kind = "view"
    view = True

    @staticmethod
    def meta(a):
        return MetaArray(a.shape, _real_dtype(a.dtype), a.strides)

    @staticmethod
    def forward(ctx, a):
        return a.real

    @staticmethod
    def backward(ctx, g):
        return dispatch(Complex, g, g * 0)


class Imag(Op):
    signature = "imag(Tensor(a) a) -> Tensor(a)"
    kind = "view"
    view = True

    @staticmethod
    def meta(a):
        _check_complex(a, "imag")
        return MetaArray(a.shape, _real_dtype(a.dtype), a.strides[:a.ndim])

    @staticmethod
    def forward(ctx, a):
        _check_complex(a, "imag")
        return a.imag

    @staticmethod
    def backward(ctx, g):
        return dispatch(Complex, g * 0, g)


def _check_complex(a, name: str) -> None:
    if a.dtype.kind != "c":
        raise RuntimeError(f"{name} is not implemented for tensors with non-complex dtypes.")


class ViewAsReal(Op):
    signature = "view_as_real(Tensor(a) a) -> Tensor(a)"
    kind = "view"
    view = True

    @staticmethod
    def meta(a):
        if a.dtype.kind != "c":
            raise RuntimeError("view_as_real is only supported for complex tensors")
        dt = _real_dtype(a.dtype)
        return MetaArray(a.shape + (2,), dt, a.strides + (dt.itemsize,))

    @staticmethod
    def forward(ctx, a):
        if a.dtype.kind != "c":
            raise RuntimeError("view_as_real is only supported for complex tensors")
        return a[..., None].view(_real_dtype(a.dtype))

    @staticmethod
    def backward(ctx, g):
        return dispatch(ViewAsComplex, g.contiguous())


class ViewAsComplex(Op):
    signature = "view_as_complex(Tensor(a) a) -> Tensor(a)"
    kind = "view"
    view = True

    @staticmethod
    def _check(a):
        if a.dtype not in _COMPLEX_OF:
            raise RuntimeError("view_as_complex is only supported for float and double "
                               f"tensors, but got a tensor of scalar type: "
                               f"{from_numpy_dtype(a.dtype).scalar_name}")
        if a.ndim == 0 or a.shape[-1] != 2:
            raise RuntimeError("Tensor must have a last dimension of size 2")
        if a.strides[-1] != a.itemsize:
            raise RuntimeError("Tensor must have a last dimension with stride 1")
        if any(s % (2 * a.itemsize) for s, n in zip(a.strides[:-1], a.shape[:-1]) if n > 1):
            raise RuntimeError("Tensor must have a stride divisible by 2 for all but last "
                               "dimension")

    @classmethod
    def meta(cls, a):
        cls._check(a)
        return MetaArray(a.shape[:-1], _COMPLEX_OF[a.dtype], a.strides[:-1])

    @classmethod
    def forward(cls, ctx, a):
        cls._check(a)
        return a.view(_COMPLEX_OF[a.dtype])[..., 0]  # the last axis is contiguous

    @staticmethod
    def backward(ctx, g):
        return dispatch(ViewAsReal, g)


class Complex(Op):
    signature = "complex(Tensor real, Tensor imag) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def _dtype(real, imag):
        if real.dtype != imag.dtype or real.dtype not in _COMPLEX_OF:
            raise RuntimeError("Expected both inputs to be Half, Float or Double tensors but "
                               f"got {from_numpy_dtype(real.dtype).scalar_name} and "
                               f"{from_numpy_dtype(imag.dtype).scalar_name}")
        return _COMPLEX_OF[real.dtype]

    @classmethod
    def meta(cls, real, imag):
        return _meta.pointwise(real, imag, dtype=cls._dtype(real, imag))

    @classmethod
    def forward(cls, ctx, real, imag):
        out = np.empty(np.broadcast_shapes(real.shape, imag.shape), cls._dtype(real, imag))
        out.real, out.imag = real, imag
        return out

    @staticmethod
    def backward(ctx, g):
        needs = ctx.needs_input_grad
        return (real(g) if needs[0] else None), (imag(g) if needs[1] else None)


class Angle(Op):
    signature = "angle(Tensor a) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a):
        dt = _real_dtype(a.dtype) if a.dtype.kind in "fc" else _meta.float_dtype(a.dtype)
        return _meta.like(a, dt)

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        if a.dtype.kind == "c":
            return np.angle(a).astype(_real_dtype(a.dtype), copy=False)
        dt = a.dtype if a.dtype.kind == "f" else _meta.float_dtype(a.dtype)
        return np.where(np.isnan(a), a, np.where(a < 0, np.pi, 0.0)).astype(dt)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        if not a.is_complex():
            return g * 0
        # torch's angle_backward: g * i z / |z|^2 (zero at z = 0), as a complex tensor
        d = a.abs().pow(2)
        gz = dispatch(Complex, g * 0, g) * a / where(d == 0, 1.0, d)
        return where(d == 0, 0.0, gz)


def real(input: Tensor) -> Tensor:
    """The real part of ``input`` (a view; ``input`` itself for real tensors)."""
    return dispatch(Real, input) if input.is_complex() else input


def imag(input: Tensor) -> Tensor:
    """The imaginary part of a complex ``input`` (a view)."""
    return dispatch(Imag, input)


def view_as_real(input: Tensor) -> Tensor:
    """A complex tensor's memory as real numbers with a last dim of 2 (real, imag)."""
    return dispatch(ViewAsReal, input)


def view_as_complex(input: Tensor) -> Tensor:
    """A real tensor with a last dim of 2 (real, imag) seen as complex numbers."""
    return dispatch(ViewAsComplex, input)


def complex(real: Tensor, imag: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A001
    """``real + i imag``, as ``torch.complex``."""
    result = dispatch(Complex, real, imag)
    return result if out is None else out.copy_(result)


def polar(abs: Tensor, angle: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``abs * (cos(angle) + i sin(angle))``, as ``torch.polar``."""
    result = complex(abs * cos(angle), abs * sin(angle))
    return result if out is None else out.copy_(result)


def angle(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The argument of each element (0 or pi for real numbers)."""
    result = dispatch(Angle, input)
    return result if out is None else out.copy_(result)


tensor_method("real")(property(real))
tensor_method("imag")(property(imag))
tensor_method("angle")(angle)
