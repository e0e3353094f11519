"""``torch.fft``: discrete Fourier transforms with torch's signatures, dtypes, normalization
modes ("backward", "ortho", "forward") and gradients.

The transforms are the ops of ``ember/ops/spectral.py``; this module applies torch's
argument rules: ``n``/``s`` trim or zero-pad the input first, ``dim`` defaults, integer
inputs are transformed in the default float dtype, real inputs of the complex transforms
are made complex, and the output is complex64 for float32 and complex128 for float64.
Half precision is rejected as by torch on the CPU. ``hfft2``/``hfftn``/``ihfft2``/``ihfftn``
are not covered.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._dispatch import dispatch
from ._dtype import get_default_dtype
from ._tensor import Tensor
from .ops.arithmetic import conj
from .ops.creation import arange, zeros
from .ops.shape import cat, roll
from .ops.spectral import FftC2C, FftC2R, FftR2C

__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
           "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _norm(norm: str | None) -> str:
    norm = "backward" if norm is None else norm
    if norm not in _DUAL:
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return norm


def _floating(x: Tensor, name: str, real_only: bool = False) -> Tensor:
    """``x`` in a dtype the transforms take: float32/64 or complex64/128."""
    dt = x.dtype
    if dt.is_complex:
        if real_only:
            raise RuntimeError(f"{name} expects a real input tensor, but got {dt.scalar_name}")
        return x
    if dt.name in ("float16", "bfloat16"):
        raise RuntimeError(f"Unsupported dtype {dt.scalar_name}")
    if not dt.is_floating_point:
        return x.to(get_default_dtype())
    return x


def _complex(x: Tensor, name: str) -> Tensor:
    x = _floating(x, name)
    return x if x.dtype.is_complex else x.to(x.dtype.to_complex())


def _wrap(dim: int, ndim: int) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _resize(x: Tensor, dim: int, n: int) -> Tensor:
    """``x`` trimmed or zero-padded to ``n`` along ``dim``."""
    if n < 1:
        raise RuntimeError(f"Invalid number of data points ({n}) specified")
    size = x.shape[dim]
    if n < size:
        return x.narrow(dim, 0, n)
    if n > size:
        shape = list(x.shape)
        shape[dim] = n - size
        return cat([x, zeros(shape, dtype=x.dtype)], dim)
    return x


def _dims_sizes(x: Tensor, s: Sequence[int] | None, dim, default_all: bool):
    """torch's rules for the (s, dim) pair of the n-dimensional transforms: the wrapped dims
    and the sizes (-1 in ``s``: the input's size)."""
    if dim is None and s is not None and len(s) > x.ndim:
        raise RuntimeError(f"Got shape with {len(s)} values but input tensor only has "
                           f"{x.ndim} dimensions.")
    if dim is None:
        dims = list(range(x.ndim - len(s), x.ndim)) if s is not None else (
            list(range(x.ndim)) if default_all else [x.ndim - 2, x.ndim - 1])
    else:
        dims = [_wrap(d, x.ndim) for d in ([dim] if isinstance(dim, int) else dim)]
        if len(set(dims)) != len(dims):
            raise RuntimeError("FFT dims must be unique")
    if s is not None:
        if len(s) != len(dims):
            raise RuntimeError("When given, dim and shape arguments must have the same length")
        sizes = [x.shape[d] if n == -1 else n for d, n in zip(dims, s)]
    else:
        sizes = [x.shape[d] for d in dims]
    return dims, sizes


def _c2c(name: str, x: Tensor, s, dim, norm, forward: bool, default_all: bool = True):
    x = _complex(x, name)
    dims, sizes = _dims_sizes(x, s, dim, default_all)
    if not dims:  # a 0-d input (or dim=()): the transform over no dims is the identity
        return x.clone()
    for d, n in zip(dims, sizes):
        x = _resize(x, d, n)
    return dispatch(FftC2C, x, dims, _norm(norm), forward)


def fft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The one-dimensional discrete Fourier transform along ``dim``."""
    return _c2c("fft", input, None if n is None else [n], [dim], norm, True)


def ifft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The inverse of ``fft``."""
    return _c2c("ifft", input, None if n is None else [n], [dim], norm, False)


def fft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """The two-dimensional discrete Fourier transform over ``dim``."""
    return _c2c("fft2", input, s, dim, norm, True)


def ifft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """The inverse of ``fft2``."""
    return _c2c("ifft2", input, s, dim, norm, False)


def fftn(input: Tensor, s=None, dim=None, norm: str | None = None) -> Tensor:
    """The N-dimensional discrete Fourier transform (over all dims by default)."""
    return _c2c("fftn", input, s, dim, norm, True)


def ifftn(input: Tensor, s=None, dim=None, norm: str | None = None) -> Tensor:
    """The inverse of ``fftn``."""
    return _c2c("ifftn", input, s, dim, norm, False)


def _r2c(name: str, x: Tensor, s, dim, norm, default_all: bool = True) -> Tensor:
    x = _floating(x, name, real_only=True)
    dims, sizes = _dims_sizes(x, s, dim, default_all)
    if not dims:
        raise RuntimeError(f"{name} must transform at least one axis")
    for d, n in zip(dims, sizes):
        x = _resize(x, d, n)
    return dispatch(FftR2C, x, dims, _norm(norm), True)


def rfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The one-sided Fourier transform of a real signal (``n // 2 + 1`` frequencies)."""
    return _r2c("rfft", input, None if n is None else [n], [dim], norm)


def rfft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """``rfftn`` over two dims."""
    return _r2c("rfft2", input, s, dim, norm)


def rfftn(input: Tensor, s=None, dim=None, norm: str | None = None) -> Tensor:
    """The N-dimensional Fourier transform of a real signal, one-sided in the last dim."""
    return _r2c("rfftn", input, s, dim, norm)


def _c2r(name: str, x: Tensor, s, dim, norm, default_all: bool = True) -> Tensor:
    x = _complex(x, name)
    dims, sizes = _dims_sizes(x, s, dim, default_all)
    if not dims:
        raise RuntimeError(f"{name} must transform at least one axis")
    if s is None or s[-1] == -1:
        sizes[-1] = 2 * (x.shape[dims[-1]] - 1)
    if sizes[-1] < 1:
        raise RuntimeError(f"Invalid number of data points ({sizes[-1]}) specified")
    for d, n in zip(dims[:-1], sizes[:-1]):
        x = _resize(x, d, n)
    x = _resize(x, dims[-1], sizes[-1] // 2 + 1)
    return dispatch(FftC2R, x, dims, _norm(norm), sizes[-1])


def irfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The inverse of ``rfft``: a real signal of ``n`` points (``2 (m - 1)`` by default)."""
    return _c2r("irfft", input, None if n is None else [n], [dim], norm)


def irfft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:
    """The inverse of ``rfft2``."""
    return _c2r("irfft2", input, s, dim, norm)


def irfftn(input: Tensor, s=None, dim=None, norm: str | None = None) -> Tensor:
    """The inverse of ``rfftn``."""
    return _c2r("irfftn", input, s, dim, norm)


def hfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The Fourier transform of a Hermitian-symmetric signal given by its one-sided half:
    a real spectrum of ``n`` points (``irfft`` of the conjugate, forward-scaled)."""
    return _c2r("hfft", conj(_complex(input, "hfft")), None if n is None else [n], [dim],
                _DUAL[_norm(norm)])


def ihfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The inverse of ``hfft``: the one-sided half of a real signal's inverse transform."""
    return conj(_r2c("ihfft", input, None if n is None else [n], [dim], _DUAL[_norm(norm)]))


def fftfreq(n: int, d: float = 1.0, *, dtype=None, layout=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """The sample frequencies of an ``n``-point ``fft`` with sample spacing ``d``."""
    freqs = arange(n, dtype=dtype, device=device)
    freqs = cat([freqs[:(n + 1) // 2], freqs[(n + 1) // 2:] - n]) / (n * d)
    return freqs.requires_grad_(requires_grad) if requires_grad else freqs


def rfftfreq(n: int, d: float = 1.0, *, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """The sample frequencies of an ``n``-point ``rfft`` with sample spacing ``d``."""
    freqs = arange(n // 2 + 1, dtype=dtype, device=device) / (n * d)
    return freqs.requires_grad_(requires_grad) if requires_grad else freqs


def _shift_dims(input: Tensor, dim) -> list[int]:
    if dim is None:
        return list(range(input.ndim))
    return [dim] if isinstance(dim, int) else list(dim)


def fftshift(input: Tensor, dim=None) -> Tensor:
    """Move the zero frequency to the centre (roll by ``n // 2`` along each of ``dim``)."""
    dims = _shift_dims(input, dim)
    return roll(input, [input.shape[d] // 2 for d in dims], dims)


def ifftshift(input: Tensor, dim=None) -> Tensor:
    """The inverse of ``fftshift``."""
    dims = _shift_dims(input, dim)
    return roll(input, [(input.shape[d] + 1) // 2 for d in dims], dims)
