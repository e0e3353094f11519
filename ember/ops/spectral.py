"""Discrete Fourier transforms: the ops behind ``torch.fft`` (``ember/fft.py``).

Three transforms, as torch's ATen has them, computed by NumPy's pocketfft:

- ``_fft_c2c``: complex to complex, forward or inverse;
- ``_fft_r2c``: real to complex (``rfft``; two-sided for ``fft`` of a real input);
- ``_fft_c2r``: one-sided complex to real (``irfft``).

Every transform is linear, so its gradient is its adjoint (torch's convention for complex
gradients): the adjoint of a transform with normalization ``norm`` is the transform the
other way with the *dual* normalization (the same scale factor: "backward" <-> "forward",
"ortho" <-> "ortho"). The adjoints of ``r2c`` and ``c2r`` are not transforms of the table
(zero-padding the one-sided spectrum; doubling the mirrored bins), so they are ops of
their own, ``_fft_r2c_backward`` and ``_fft_c2r_backward``, whose own adjoints are ``r2c``
and ``c2r`` again: gradients of every order work.

Ops see full-size transforms only: the ``n``/``s`` arguments of the public functions trim
or zero-pad the input with ember ops first (differentiable too).
"""

from __future__ import annotations

import numpy as np

from .._dispatch import Op, dispatch
from . import _meta

__all__: list[str] = []

_DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}
_COMPLEX = {np.dtype(np.float32): np.dtype(np.complex64),
            np.dtype(np.float64): np.dtype(np.complex128)}
_REAL = {v: k for k, v in _COMPLEX.items()}


def _resize_last(arr: np.ndarray, axis: int, n: int) -> np.ndarray:
    """``arr`` zero-padded (or trimmed) to ``n`` along ``axis``."""
    size = arr.shape[axis]
    if size >= n:
        return arr[(slice(None),) * axis + (slice(0, n),)]
    pad = [(0, 0)] * arr.ndim
    pad[axis] = (0, n - size)
    return np.pad(arr, pad)


class FftC2C(Op):
    aten = "_fft_c2c"
    signature = "_fft_c2c(Tensor a, int[] dim, str norm, bool forward) -> Tensor"
    kind = "opaque"

    @staticmethod
    def meta(a, dim, norm, forward):
        return _meta.new(a.shape, a.dtype)

    @staticmethod
    def forward(ctx, a, dim, norm, forward):
        ctx.dim, ctx.norm, ctx.forward_dir = dim, norm, forward
        fn = np.fft.fftn if forward else np.fft.ifftn
        return np.ascontiguousarray(fn(a, axes=dim, norm=norm), dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        return dispatch(FftC2C, g, ctx.dim, _DUAL[ctx.norm], not ctx.forward_dir), None, None, \
            None


class FftR2C(Op):
    aten = "_fft_r2c"
    signature = "_fft_r2c(Tensor a, int[] dim, str norm, bool onesided) -> Tensor"
    kind = "opaque"

    @staticmethod
    def meta(a, dim, norm, onesided):
        shape = list(a.shape)
        if onesided:
            shape[dim[-1]] = shape[dim[-1]] // 2 + 1
        return _meta.new(tuple(shape), _COMPLEX[a.dtype])

    @staticmethod
    def forward(ctx, a, dim, norm, onesided):
        ctx.dim, ctx.norm, ctx.onesided = dim, norm, onesided
        ctx.last_dim_size = a.shape[dim[-1]]
        out = np.fft.rfftn(a, axes=dim, norm=norm) if onesided else \
            np.fft.fftn(a, axes=dim, norm=norm)
        return np.ascontiguousarray(out, dtype=_COMPLEX[a.dtype])

    @staticmethod
    def backward(ctx, g):
        return dispatch(FftR2CBackward, g, ctx.dim, ctx.norm, ctx.onesided,
                        ctx.last_dim_size), None, None, None


class FftR2CBackward(Op):
    """The adjoint of ``_fft_r2c``: the real part of the inverse transform (dual norm) of
    the spectrum, zero-padded to full length when it is one-sided."""

    aten = "_fft_r2c_backward"
    signature = ("_fft_r2c_backward(Tensor g, int[] dim, str norm, bool onesided, "
                 "int last_dim_size) -> Tensor")
    kind = "opaque"

    @staticmethod
    def meta(g, dim, norm, onesided, last_dim_size):
        shape = list(g.shape)
        shape[dim[-1]] = last_dim_size
        return _meta.new(tuple(shape), _REAL[g.dtype])

    @staticmethod
    def forward(ctx, g, dim, norm, onesided, last_dim_size):
        ctx.dim, ctx.norm, ctx.onesided = dim, norm, onesided
        full = _resize_last(g, dim[-1] % g.ndim, last_dim_size) if onesided else g
        out = np.fft.ifftn(full, axes=dim, norm=_DUAL[norm]).real
        return np.ascontiguousarray(out, dtype=_REAL[g.dtype])

    @staticmethod
    def backward(ctx, h):
        return dispatch(FftR2C, h, ctx.dim, ctx.norm, ctx.onesided), None, None, None, None


class FftC2R(Op):
    aten = "_fft_c2r"
    signature = "_fft_c2r(Tensor a, int[] dim, str norm, int last_dim_size) -> Tensor"
    kind = "opaque"

    @staticmethod
    def meta(a, dim, norm, last_dim_size):
        shape = list(a.shape)
        shape[dim[-1]] = last_dim_size
        return _meta.new(tuple(shape), _REAL[a.dtype])

    @staticmethod
    def forward(ctx, a, dim, norm, last_dim_size):
        ctx.dim, ctx.norm = dim, norm
        s = [a.shape[d] for d in dim[:-1]] + [last_dim_size]
        out = np.fft.irfftn(a, s=s, axes=dim, norm=norm)
        return np.ascontiguousarray(out, dtype=_REAL[a.dtype])

    @staticmethod
    def backward(ctx, g):
        return dispatch(FftC2RBackward, g, ctx.dim, ctx.norm), None, None, None


class FftC2RBackward(Op):
    """The adjoint of ``_fft_c2r``: the one-sided forward transform (dual norm) with the
    bins that stand for two (their mirror images) doubled, as torch's rule."""

    aten = "_fft_c2r_backward"
    signature = "_fft_c2r_backward(Tensor g, int[] dim, str norm) -> Tensor"
    kind = "opaque"

    @staticmethod
    def meta(g, dim, norm):
        shape = list(g.shape)
        shape[dim[-1]] = shape[dim[-1]] // 2 + 1
        return _meta.new(tuple(shape), _COMPLEX[g.dtype])

    @staticmethod
    def forward(ctx, g, dim, norm):
        axis = dim[-1] % g.ndim
        ctx.dim, ctx.norm, ctx.last_dim_size = dim, norm, g.shape[axis]
        out = np.fft.rfftn(g, axes=dim, norm=_DUAL[norm])
        doubled = g.shape[axis] - out.shape[axis]
        if doubled > 0:
            out[(slice(None),) * axis + (slice(1, 1 + doubled),)] *= 2
        return np.ascontiguousarray(out, dtype=_COMPLEX[g.dtype])

    @staticmethod
    def backward(ctx, h):
        return dispatch(FftC2R, h, ctx.dim, ctx.norm, ctx.last_dim_size), None, None
