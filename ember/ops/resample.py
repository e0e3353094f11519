"""Padding, interpolation, pixel shuffle and im2col (unfold/fold).

Constant padding is one op whose adjoint is itself with negated pads (crop). The other
pad modes and nearest interpolation are gathers through a per-plane index table
(``GatherPlanes``, whose adjoint is a scatter-add). Linear/bilinear/bicubic interpolation
is separable: one small interpolation-matrix product per spatial dim.
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor
from . import _meta
from .conv import Convolution, ConvTranspose, tuple_arg
from .pooling import GatherPlanes, adaptive_avg_pool1d, adaptive_avg_pool2d

__all__ = ["pad", "interpolate", "pixel_shuffle", "pixel_unshuffle", "unfold", "fold"]


# ---- padding ------------------------------------------------------------------------------

class ConstantPad(Op):
    """Pad trailing dims by ``pads = ((lo, hi), ...)`` with ``value``; negative pads crop."""

    aten = "constant_pad_nd"
    signature = "constant_pad_nd(Tensor x, int[][] pads, Scalar value) -> Tensor"

    @staticmethod
    def meta(x, pads, value):
        lead = x.ndim - len(pads)
        shape = tuple(x.shape[:lead]) + tuple(n + lo + hi for n, (lo, hi) in
                                             zip(x.shape[lead:], pads))
        return _meta.new(shape, x.dtype)

    @staticmethod
    def forward(ctx, x, pads, value):
        ctx.pads = pads
        grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
        out = np.pad(x, ((0, 0),) * (x.ndim - len(pads)) + grow, constant_values=value) \
            if any(a or b for a, b in grow) else x.copy()
        crop = tuple(slice(-min(lo, 0), out.shape[x.ndim - len(pads) + i] + min(hi, 0))
                     for i, (lo, hi) in enumerate(pads))
        return np.ascontiguousarray(out[(Ellipsis,) + crop])

    @staticmethod
    def backward(ctx, g):
        return dispatch(ConstantPad, g, tuple((-lo, -hi) for lo, hi in ctx.pads), 0), None, None


def _pad_index(size: int, lo: int, hi: int, mode: str) -> np.ndarray:
    j = np.arange(-lo, size + hi)
    if mode == "reflect":
        j = np.abs(j)
        return np.where(j >= size, 2 * (size - 1) - j, j)
    if mode == "replicate":
        return np.clip(j, 0, size - 1)
    return j % size  # circular


def gather_table(x: Tensor, per_dim: list) -> Tensor:
    """Read the trailing ``len(per_dim)`` dims of ``x`` at the outer product of the per-dim
    index vectors (differentiable: a gather whose adjoint is a scatter-add)."""
    nd = len(per_dim)
    spatial = x.shape[x.ndim - nd:]
    flat = 0
    for i, idx in enumerate(per_dim):
        shape = [1] * nd
        shape[i] = idx.size  # not -1: an index vector may be empty
        flat = flat * spatial[i] + idx.reshape(shape)
    table = np.broadcast_to(flat, tuple(x.shape[:x.ndim - nd]) + flat.shape)
    return dispatch(GatherPlanes, x, _meta.constant(np.ascontiguousarray(table), x), nd)


_PAD_RANKS = {1: (2, 3), 2: (3, 4), 3: (4, 5)}


def _check_gather_pad(input: Tensor, pads: tuple, mode: str) -> None:
    """torch's checks of reflect/replicate padding: only the batch dim may be empty, and
    a 1-d/2-d padding must leave an output (torch's 2-d check passes when either of H, W
    remains)."""
    if mode == "circular":
        return
    nd = len(pads)
    rest = input.shape[1:] if input.ndim == nd + 2 else input.shape
    if 0 in rest:
        raise RuntimeError(f"Expected {nd + 1}D or {nd + 2}D (batch mode) tensor with possibly "
                           "0 batch size and other non-zero dimensions for input, but got: "
                           f"{list(input.shape)}")
    spatial = input.shape[input.ndim - nd:]
    out = [n + lo + hi for n, (lo, hi) in zip(spatial, pads)]
    if nd <= 2 and all(o < 1 for o in out):
        names = "HW"[2 - nd:]
        raise RuntimeError(
            f"input ({', '.join(f'{c}: {n}' for c, n in zip(names, spatial))}) is too small. "
            f"Calculated output {' '.join(f'{c}: {o}' for c, o in zip(names, out))}")


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the trailing dims: ``pad = (left, right, top, bottom, ...)`` from the last dim
    backwards; modes ``constant``, ``reflect``, ``replicate``, ``circular``."""
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    nd = len(pad) // 2
    if nd > input.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input "
                           "dimension but got padding length "
                           f"{len(pad)} and input of dimension {input.ndim}")
    pads = tuple((pad[2 * i], pad[2 * i + 1]) for i in reversed(range(nd)))
    if mode == "constant":
        # torch crops with narrow() before padding: cropping more than the dim is an error
        spatial = input.shape[input.ndim - nd:]
        if any(n + min(lo, 0) + min(hi, 0) < 0 for n, (lo, hi) in zip(spatial, pads)):
            raise RuntimeError("narrow(): length must be non-negative.")
        return dispatch(ConstantPad, input, pads, 0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value:
        raise ValueError(f"Padding mode \"{mode}\" doesn't take in value argument")
    if nd not in _PAD_RANKS or input.ndim not in _PAD_RANKS[nd]:
        raise NotImplementedError("Only 2D, 3D, 4D, 5D padding with non-constant padding are "
                                  "supported for now")
    spatial = input.shape[input.ndim - nd:]
    _check_gather_pad(input, pads, mode)
    for i, ((lo, hi), size) in enumerate(zip(pads, spatial)):
        limit = size - 1 if mode == "reflect" else size
        if mode != "replicate" and (lo > limit or hi > limit):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding "
                               f"input dimension, but got: padding ({lo}, {hi}) at dimension "
                               f"{input.ndim - nd + i} of input {list(input.shape)}")
        if size == 0 or size + lo + hi < 0:
            raise RuntimeError(f"input tensor has a zero-sized dimension or the padded size is "
                               f"negative for input of shape {list(input.shape)}")
    return gather_table(input, [_pad_index(s, lo, hi, mode) for s, (lo, hi) in
                                zip(spatial, pads)])


# ---- interpolation --------------------------------------------------------------------------

def _source_scale(size: int, out: int, align_corners: bool, scale: float | None) -> float:
    if align_corners:
        return (size - 1) / (out - 1) if out > 1 else 0.0
    return 1.0 / scale if scale else size / out


def _linear_matrix(size, out, align_corners, scale, dtype) -> np.ndarray:
    s = _source_scale(size, out, align_corners, scale)
    dst = np.arange(out, dtype=np.float64)
    src = dst * s if align_corners else np.maximum((dst + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    lam = src - i0
    m = np.zeros((out, size))
    rows = np.arange(out)
    np.add.at(m, (rows, i0), 1 - lam)
    np.add.at(m, (rows, i1), lam)
    return m.astype(dtype)


def _cubic_matrix(size, out, align_corners, scale, dtype) -> np.ndarray:
    a = -0.75  # torch's cubic convolution coefficient
    s = _source_scale(size, out, align_corners, scale)
    dst = np.arange(out, dtype=np.float64)
    src = dst * s if align_corners else (dst + 0.5) * s - 0.5
    i = np.floor(src).astype(np.int64)
    t = src - i
    x1, x2 = t + 1, 1 - t
    w = [((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a,
         ((a + 2) * t - (a + 3)) * t * t + 1,
         ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1,
         ((a * (x2 + 1) - 5 * a) * (x2 + 1) + 8 * a) * (x2 + 1) - 4 * a]
    m = np.zeros((out, size))
    rows = np.arange(out)
    for k in range(4):
        np.add.at(m, (rows, np.clip(i - 1 + k, 0, size - 1)), w[k])
    return m.astype(dtype)


def _nearest_index(size, out, scale, exact: bool) -> np.ndarray:
    s = 1.0 / scale if scale else size / out
    dst = np.arange(out, dtype=np.float64)
    src = np.floor((dst + 0.5) * s if exact else dst * s).astype(np.int64)
    return np.minimum(src, size - 1)


def _apply_matrices(x: Tensor, mats: list) -> Tensor:
    nd = len(mats)
    for i, m in enumerate(mats):  # contract one spatial dim at a time
        x = (x.transpose(-nd + i, -1) @ _meta.constant(m, x).mT).transpose(-nd + i, -1)
    return x


_MODE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims (``nearest``, ``nearest-exact``, ``linear``, ``bilinear``,
    ``bicubic``, ``trilinear``, ``area``) to ``size`` or by ``scale_factor``."""
    nd = input.ndim - 2
    if nd < 1:
        raise ValueError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got "
                         f"{input.ndim}D) for the modes: nearest | linear | bilinear | bicubic | "
                         f"trilinear | area | nearest-exact (got {mode})")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if mode in _MODE_DIMS and _MODE_DIMS[mode] != nd:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                  f"{_MODE_DIMS[mode] + 2}D input")
    if antialias:
        raise NotImplementedError("interpolate(antialias=True) is not supported by ember")
    spatial = tuple(input.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        out = tuple_arg(size, nd, "size") if not isinstance(size, (list, tuple)) or \
            len(size) == nd else None
        if out is None:
            raise ValueError(f"Input and output must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(spatial)} and output size of {list(size)}. Please provide "
                             f"input tensor in (N, C, d1, d2, ...,dK) format and output size in "
                             f"(o1, o2, ...,oK) format.")
        scales = (None,) * nd
    else:
        factors = tuple(float(f) for f in (scale_factor if isinstance(scale_factor,
                                           (list, tuple)) else (scale_factor,) * nd))
        if len(factors) != nd:
            raise ValueError(f"Input and scale_factor must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(spatial)} and scale_factor of shape {list(scale_factor)}.")
        out = tuple(int(math.floor(s * f)) for s, f in zip(spatial, factors))
        scales = (None,) * nd if recompute_scale_factor else factors
    if min(out) <= 0 or min(spatial) <= 0:
        names = ("D", "H", "W")[3 - nd:]
        sizes = [", ".join(f"{n}: {v}" for n, v in zip(names, dims)) for dims in (spatial, out)]
        joint = " and " if nd == 1 else " "
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input "
                           f"({sizes[0]}){joint}output ({sizes[1]})")
    dtype = input.dtype.np
    if mode in ("nearest", "nearest-exact"):
        return gather_table(input, [_nearest_index(s, o, sc, mode == "nearest-exact")
                                    for s, o, sc in zip(spatial, out, scales)])
    if mode == "area":
        return (adaptive_avg_pool1d if nd == 1 else adaptive_avg_pool2d)(input, out)
    if mode in ("linear", "bilinear", "trilinear"):
        make = _linear_matrix
    elif mode == "bicubic":
        make = _cubic_matrix
    else:
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported "
                                  f"(got {input.ndim}D) for the modes: nearest | linear | "
                                  f"bilinear | bicubic | trilinear | area | nearest-exact (got "
                                  f"{mode})")
    return _apply_matrices(input, [make(s, o, align_corners, sc, dtype)
                                   for s, o, sc in zip(spatial, out, scales)])


# ---- pixel shuffle ---------------------------------------------------------------------------

def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """``(*, C*r*r, H, W) -> (*, C, H*r, W*r)``."""
    r = upscale_factor
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got "
                           f"input with {input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    lead = tuple(lead)
    n = len(lead)
    x = input.reshape(lead + (c // (r * r), r, r, h, w))
    perm = tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2)
    return x.permute(perm).reshape(lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """``(*, C, H*r, W*r) -> (*, C*r*r, H, W)`` (the inverse of ``pixel_shuffle``)."""
    r = downscale_factor
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but "
                           f"got input with {input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by "
                           f"downscale_factor, but input.size(-2)={h} and input.size(-1)={w} "
                           f"are not divisible by {r}")
    lead = tuple(lead)
    n = len(lead)
    x = input.reshape(lead + (c, h // r, r, w // r, r))
    perm = tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3)
    return x.permute(perm).reshape(lead + (c * r * r, h // r, w // r))


# ---- unfold / fold (im2col) -------------------------------------------------------------------

def _identity_kernel(kernel: tuple, dtype) -> np.ndarray:
    k = math.prod(kernel)
    return np.eye(k, dtype=dtype).reshape((k, 1) + kernel)


def _fold_args(kernel_size, dilation, padding, stride):
    """The four geometry arguments of unfold/fold as pairs, with torch's checks."""
    k, d, p, s = (tuple_arg(kernel_size, 2, "kernel_size"), tuple_arg(dilation, 2, "dilation"),
                  tuple_arg(padding, 2, "padding"), tuple_arg(stride, 2, "stride"))
    for name, pair, ok, rule in (("kernel size", k, min(k) > 0, "greater than zero"),
                                 ("dilation", d, min(d) > 0, "greater than zero"),
                                 ("padding", p, min(p) >= 0, "non-negative"),
                                 ("stride", s, min(s) > 0, "greater than zero")):
        if not ok:
            what = "kernel" if name == "kernel size" else name.split()[0].replace("padding", "pad")
            raise RuntimeError(f"{name} should be {rule}, but got {what}_height: {pair[0]} "
                               f"{what}_width: {pair[1]}")
    return k, d, p, s


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extract sliding blocks: ``(N, C, H, W) -> (N, C*kH*kW, L)`` (im2col)."""
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported (got "
                                  f"{input.ndim}D)")
    k, d, p, s = _fold_args(kernel_size, dilation, padding, stride)
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    n, c, h, w = x.shape
    blocks = tuple((size + 2 * pi - di * (ki - 1) - 1) // si + 1
                   for size, ki, di, pi, si in zip((h, w), k, d, p, s))
    if min(blocks) < 1:
        raise RuntimeError(f"Given input with spatial size ({h}, {w}), kernel_size={k}, "
                           f"dilation={d}, padding={p}, calculated shape of the array of "
                           f"sliding blocks as {blocks}, but its components must be at least "
                           "one.")
    eye = _meta.constant(_identity_kernel(k, input.dtype.np), input)
    cols = dispatch(Convolution, x.reshape(n * c, 1, h, w), eye, None, s,
                    ((p[0], p[0]), (p[1], p[1])), d, 1)
    out = cols.reshape(n, c * math.prod(k), -1)
    return out.squeeze(0) if unbatched else out


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum sliding blocks back into an image: ``(N, C*kH*kW, L) -> (N, C, H, W)`` (col2im)."""
    if input.ndim not in (2, 3):
        raise NotImplementedError(f"Input Error: Only unbatched (2D) or batched (3D) input "
                                  f"Tensors are supported (got {input.ndim}D)")
    k, d, p, s = _fold_args(kernel_size, dilation, padding, stride)
    size = tuple_arg(output_size, 2, "output_size")
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    n, ck, length = x.shape
    kk = math.prod(k)
    blocks = tuple((o + 2 * pi - di * (ki - 1) - 1) // si + 1
                   for o, pi, di, ki, si in zip(size, p, d, k, s))
    if ck % kk or math.prod(blocks) != length:
        raise RuntimeError(f"Expected size of input's dimension 2 to match the calculated number "
                           f"of sliding blocks {blocks[0]} * {blocks[1]} = {math.prod(blocks)}, "
                           f"but got input.size(2)={length}." if ck % kk == 0 else
                           f"Expected size of input's dimension 1 to be divisible by the product "
                           f"of kernel_size, but got input.size(1)={ck} and kernel_size={k}")
    c = ck // kk
    eye = _meta.constant(_identity_kernel(k, input.dtype.np), input)
    out = dispatch(ConvTranspose, x.reshape((n * c, kk) + blocks), eye, None,
                   (n * c, 1) + size, s, ((p[0], p[0]), (p[1], p[1])), d, 1)
    out = out.reshape((n, c) + size)
    return out.squeeze(0) if unbatched else out
