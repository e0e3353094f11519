"""Convolutions (1-D/2-D/3-D, transposed, grouped, dilated): one GEMM per group over the
whole batch, or direct kernels for depthwise convolutions.

Three ops close the convolution family under differentiation, as in torch:

- ``Convolution(x, w, b)``            y = conv(x; w) + b
- ``ConvTranspose(g, w, b)``          the adjoint of conv in its input (conv_transpose)
- ``ConvWeight(x, g)``                the adjoint of conv in its weight

Each one's backward is written with the other two, so gradients of any order work.

How each is computed (``_kernels_nn`` holds the kernels and their NumPy references):

- im2col + GEMM: the columns ``(C*K, N*L)`` hold the whole batch, so forward is one GEMM
  ``w (O, C*K) @ cols`` per group, the input gradient ``w^T @ g`` folded back by col2im,
  the weight gradient ``g @ cols^T`` (``g`` as ``(O, N*L)``), each run by BLAS on both
  cores when large (``_blas``) instead of N small single-threaded GEMMs.
- A 1x1 convolution with stride 1 and no padding needs no columns: ``x`` as
  ``(C, N*L)`` is them.
- Depthwise convolutions (each group one input channel) are direct Numba kernels: as
  GEMMs they would be N*C matrix-vector products of 1 x K.
- 2-D float32 convolutions with enough channels, up to 6x6 at stride 1 and 4x4 to 6x6 at
  stride 2, use Winograd F(2x2, 3x3) (a larger kernel as a sum of 3x3 ones) for the forward
  pass and the weight gradient, and at stride 1 for the input gradient (3x3: 2.25x fewer
  multiplies; per block of tiles, transforms and GEMMs in cache: ``_kernels_conv``); a
  stride-2 5x5 kernel's input gradient is one such convolution of the output gradient
  whose output channels are the input's four phases (``_phase_input_grad``).
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor
from . import _kernels_nn as K
from . import _meta
from ._blas import matmul, matmul_sum
from ._util import dtype_name

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]


# ---- array kernels ------------------------------------------------------------------------

def out_size(size, kernel, stride, pads, dilation) -> tuple:
    """Output lengths of a convolution (``pads`` are ``(lo, hi)`` per dim)."""
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, (lo, hi), d in zip(size, kernel, stride, pads, dilation))


def _lo(pads) -> tuple:
    return tuple(lo for lo, _ in pads)


def _as(a: np.ndarray, dtype) -> np.ndarray:
    """``a`` in ``dtype``: NumPy's matmul of bfloat16 gives float32 (accumulated there, as
    torch's), and the result is rounded back once at the end."""
    return a if a.dtype == dtype else a.astype(dtype)


def _pointwise(kernel, stride, pads) -> bool:
    """A 1x1 convolution whose columns are the input itself."""
    return all(k == 1 for k in kernel) and all(s == 1 for s in stride) and \
        all(lo == 0 and hi == 0 for lo, hi in pads)


def _layout():
    """``_kernels_conv`` (imported on first use: it imports Numba)."""
    from . import _kernels_conv
    return _kernels_conv


def _pass_parts(a: np.ndarray) -> int:
    """Threads for a layout pass over ``a`` (1: NumPy's pass); ``_kernels_conv`` takes
    float32/float64 only."""
    if a.dtype not in (np.float32, np.float64) or a.ndim < 3 or not a.size:
        return 1
    return _layout().copy_parts(a)


def _channels_first(a: np.ndarray) -> np.ndarray:
    """``a (N, C, *size)`` as a C-contiguous ``(C, N*L)``: the batch folded into columns."""
    n, c = a.shape[:2]
    parts = _pass_parts(a)
    if parts == 1:
        return np.ascontiguousarray(a.swapaxes(0, 1)).reshape(c, -1)
    out = np.empty((c, a.size // c), dtype=a.dtype)
    _layout().to_channels(np.ascontiguousarray(a).reshape(n, c, -1), out, parts)
    return out


def _batch_first(a: np.ndarray, shape, bias=None) -> np.ndarray:
    """``a (C, N*L)`` back to a C-contiguous ``shape (N, C, *size)``, plus ``bias (C,)``."""
    n, c = shape[:2]
    dtype = np.result_type(a, bias) if bias is not None else a.dtype
    out = np.empty(shape, dtype=dtype)
    parts = _pass_parts(out) if dtype == a.dtype else 1
    if parts > 1:
        b = np.empty(0, dtype) if bias is None else bias.astype(dtype, copy=False)
        _layout().to_batch(a, b, out.reshape(n, c, -1), parts)
        return out
    view = a.reshape((c, n) + tuple(shape[2:])).swapaxes(0, 1)
    if bias is None:
        np.copyto(out, view)
    else:
        np.add(view, bias.reshape((c,) + (1,) * (len(shape) - 2)), out=out)
    return out


def _add_bias(y: np.ndarray, b) -> np.ndarray:
    """``y (N, C, *size) += b (C,)`` in place (no bias: ``y``); returns ``y``."""
    if b is None:
        return y
    parts = _pass_parts(y) if b.dtype == y.dtype else 1
    if parts > 1 and y.flags.c_contiguous:
        _layout().add_bias(y.reshape(y.shape[0], y.shape[1], -1), b, parts)
    else:
        y += b.reshape((y.shape[1],) + (1,) * (y.ndim - 2))
    return y


def _columns(x, kernel, stride, pads, dilation, out) -> np.ndarray:
    """The im2col columns ``(C*K, N*L)`` of ``x``."""
    if _pointwise(kernel, stride, pads):
        return _channels_first(x)
    return K.im2col(x, kernel, stride, _lo(pads), dilation, out)


BY_SAMPLE_MIN_POSITIONS = 64  # below, one GEMM per sample is too small to run well


def _by_sample(n: int, out) -> bool:
    """Whether a convolution with ``out`` positions per sample of ``n`` runs one GEMM per
    sample (columns ``(N, C*K, L)``, see ``conv_forward``) rather than one over the batch."""
    return n >= 2 and math.prod(out) >= BY_SAMPLE_MIN_POSITIONS



def _sample_columns(x, kernel, stride, pads, dilation, out) -> np.ndarray:
    """The im2col columns of each sample, ``(N, C*K, L)``: ``x`` itself for 1x1."""
    if _pointwise(kernel, stride, pads):
        return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)
    return K.im2col(x, kernel, stride, _lo(pads), dilation, out, per_sample=True)


def _sample_groups(a: np.ndarray, groups: int) -> np.ndarray:
    """``a (N, G*R, L)`` as ``(N, G, R, L)`` (unchanged when ungrouped)."""
    return a if groups == 1 else a.reshape(a.shape[0], groups, a.shape[1] // groups, a.shape[2])


def _per_group(a: np.ndarray, groups: int) -> np.ndarray:
    """``a (G*R, cols)`` as ``(G, R, cols)`` (2-D, one plain GEMM, when ungrouped)."""
    return a if groups == 1 else a.reshape(groups, a.shape[0] // groups, a.shape[1])


def _t(a: np.ndarray) -> np.ndarray:
    return a.swapaxes(-1, -2)


WINOGRAD_MIN_CHANNELS = 16  # per group, in and out: below, the transforms cost more than
# the GEMMs save


def winograd_ok(x: np.ndarray, w_shape, dtype, stride, pads, dilation, groups: int) -> bool:
    """Whether ``_kernels_conv`` takes this convolution of ``x`` by a weight of ``w_shape``
    (its forward pass and weight gradient; the input gradient at stride 1): 2-D, a kernel
    and stride ``_kernels_conv.takes``, dilation 1, float32 (float64 keeps im2col: the
    transforms round differently from direct sums), padding less than the kernel, at least
    ``WINOGRAD_MIN_CHANNELS`` channels in and out per group, a non-empty input."""
    kernel = tuple(w_shape[2:])
    if not (x.ndim == 4 and x.size and len(kernel) == 2 and tuple(dilation) == (1, 1)
            and x.dtype == dtype == np.float32 and len(set(stride)) == 1
            and all(0 <= p < k for pair, k in zip(pads, kernel) for p in pair)
            and min(w_shape[0] // groups, w_shape[1]) >= WINOGRAD_MIN_CHANNELS):
        return False
    from . import _kernels_conv
    return _kernels_conv.takes(kernel, stride) and _kernels_conv.available(dtype)


def conv_forward(x, w, b, stride, pads, dilation, groups) -> np.ndarray:
    """``conv(x; w) + b`` of NCHW ``x``: direct depthwise, Winograd or one GEMM per group."""
    n, o = x.shape[0], w.shape[0]
    kernel = w.shape[2:]
    out = out_size(x.shape[2:], kernel, stride, pads, dilation)
    shape = (n, o) + out
    if K.depthwise_ok(x.shape[1], w.shape, groups, x, w):
        return _add_bias(K.depthwise_forward(x, w, stride, _lo(pads), dilation, out), b)
    if winograd_ok(x, w.shape, w.dtype, stride, pads, dilation, groups):
        from . import _kernels_conv  # adds the bias in its output transform (in parallel)
        return _kernels_conv.conv(x, w, stride[0], _lo(pads), out, groups, bias=b)
    if _by_sample(n, out):
        cols = _sample_columns(x, kernel, stride, pads, dilation, out)
        y = _as(matmul(_per_group(w.reshape(o, -1), groups), _sample_groups(cols, groups))
                .reshape(shape), x.dtype)
        return _add_bias(y, b)
    cols = _columns(x, kernel, stride, pads, dilation, out)
    y = matmul(_per_group(w.reshape(o, -1), groups), _per_group(cols, groups))
    return _as(_batch_first(y.reshape(o, -1), shape, b), x.dtype)


def conv_input_grad(g, w, in_shape, stride, pads, dilation, groups) -> np.ndarray:
    """The adjoint of ``conv_forward`` in ``x``: col2im of ``w^T @ g`` per group."""
    in_shape = tuple(in_shape)
    if K.depthwise_ok(in_shape[1], w.shape, groups, g, w):
        return K.depthwise_input_grad(g, w, in_shape, stride, _lo(pads), dilation)
    if tuple(stride) == (2, 2) and winograd_ok(g, w.shape, w.dtype, stride, pads, dilation,
                                               groups):
        dx = _phase_input_grad(g, w, in_shape, pads, groups)
        if dx is not None:
            return dx
    full = tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(w.shape[2:], pads))
    if tuple(stride) == (1, 1) and winograd_ok(g, w.shape, w.dtype, stride, full, dilation,
                                               groups):
        # a stride-1 convolution's input gradient is the full correlation of g with the
        # flipped, transposed kernel: the forward Winograd kernel again
        from . import _kernels_conv
        return _kernels_conv.conv(g, w, 1, _lo(full), in_shape[2:], groups, adjoint=True)
    o, n = w.shape[0], g.shape[0]
    if _by_sample(n, g.shape[2:]):
        cols = matmul(_t(_per_group(w.reshape(o, -1), groups)),
                      _sample_groups(g.reshape(n, o, -1), groups))
        cols = cols.reshape(n, -1, cols.shape[-1])
        if _pointwise(w.shape[2:], stride, pads):
            return _as(cols.reshape(in_shape), g.dtype)
        return _as(K.col2im(cols, in_shape, w.shape[2:], stride, _lo(pads), dilation,
                            g.shape[2:], per_sample=True), g.dtype)
    cols = matmul(_t(_per_group(w.reshape(o, -1), groups)), _per_group(_channels_first(g),
                                                                        groups))
    cols = cols.reshape(math.prod(cols.shape[:-1]), cols.shape[-1])
    if _pointwise(w.shape[2:], stride, pads):
        return _as(_batch_first(cols, in_shape), g.dtype)
    return _as(K.col2im(cols, in_shape, w.shape[2:], stride, _lo(pads), dilation,
                        g.shape[2:]), g.dtype)


PHASE_MIN_TILES = 256  # 2x2 tiles of a phase of dx: below, building and transforming the
# 4x larger weight every call costs more than the GEMMs save (one thread, 5x5: 256 channels
# on 8x8 maps, batch 32 (128 tiles) 1.25x im2col's time; 128 on 8x8, batch 64 (256): 0.65x)


def _phase_input_grad(g, w, in_shape, pads, groups):
    """The input gradient of a stride-2 2-D convolution as one stride-1 Winograd
    convolution of ``g``, or None where that does not apply. Per dim, the input's phase
    ``i0`` (positions ``i0 + 2 a``) meets only the kernel's taps ``q + 2 j``, ``q = (i0 +
    lo) % 2``: ``dx[i0 + 2 a] = sum_j g[a + c - j] w[q + 2 j]``, ``c = (i0 + lo - q) / 2``,
    a correlation of ``g`` by a kernel with ``w[q + 2 j]`` at tap ``lead + c - j``. With
    one ``lead`` for all phases, the four phases of ``dx`` are four blocks of output
    channels of one convolution of ``g`` (a 5x5 kernel: 3x3, each phase's taps in place).
    Its input transform is done once: 4 multiplies per value of ``dx`` against im2col's
    6.25 (25 per value of ``g``), and no col2im scatter (one thread, N8 16->32 64x64 5x5:
    5.5 -> 3.1 ms)."""
    maps = []  # per dim: per phase (tap q, lead c, taps Kq, positions)
    for d in range(2):
        lo, size, k = pads[d][0], in_shape[2 + d], w.shape[2 + d]
        maps.append([((i0 + lo) % 2, (i0 + lo) // 2, len(range((i0 + lo) % 2, k, 2)),
                      len(range(i0, size, 2))) for i0 in range(2)])
    out = (maps[0][0][3], maps[1][0][3])
    if g.shape[0] * -(-out[0] // 2) * -(-out[1] // 2) < PHASE_MIN_TILES:
        return None
    lead = [max(kq - 1 - c for _, c, kq, _ in m) for m in maps]
    size = [max(c for _, c, _, _ in m) + lo + 1 for m, lo in zip(maps, lead)]
    from . import _kernels_conv
    if not (min(lead) >= 0 and all(lo < k for lo, k in zip(lead, size))
            and _kernels_conv.takes(size, (1, 1))
            and all(kq and n for m in maps for _, _, kq, n in m)):
        return None
    o, c_in = w.shape[:2]  # per group: c_in
    wt = w.reshape(groups, o // groups, c_in, *w.shape[2:]).swapaxes(1, 2)
    kern = np.zeros((groups, 4, c_in, o // groups, *size), dtype=w.dtype)
    for p in range(4):  # taps lead + c - j for j < Kq: w[q::2] reversed
        (q0, c0, k0, _), (q1, c1, k1, _) = maps[0][p // 2], maps[1][p % 2]
        r0, r1 = lead[0] + c0 + 1 - k0, lead[1] + c1 + 1 - k1
        kern[:, p, ..., r0:r0 + k0, r1:r1 + k1] = wt[..., q0::2, q1::2][..., ::-1, ::-1]
    y = _kernels_conv.conv(np.ascontiguousarray(g), kern.reshape(-1, o // groups, *size), 1,
                           lead, out, groups)
    y = y.reshape(g.shape[0], groups, 4, c_in, *out)
    dx = np.empty(in_shape, dtype=g.dtype)
    per_group = dx.reshape(in_shape[0], groups, c_in, *in_shape[2:])
    for p in range(4):
        i0, j0 = p // 2, p % 2
        per_group[..., i0::2, j0::2] = y[:, :, p, :, :maps[0][i0][3], :maps[1][j0][3]]
    return dx


def conv_weight_grad(x, g, w_shape, stride, pads, dilation, groups) -> np.ndarray:
    """The adjoint of ``conv_forward`` in ``w``: ``g (O, N*L) @ cols^T`` per group."""
    w_shape = tuple(w_shape)
    dtype = np.result_type(x, g)
    if K.depthwise_ok(x.shape[1], w_shape, groups, x, g):
        return K.depthwise_weight_grad(x, g, w_shape, stride, _lo(pads), dilation)
    if g.dtype == x.dtype and winograd_ok(x, w_shape, x.dtype, stride, pads, dilation, groups):
        from . import _kernels_conv
        return _kernels_conv.weight_grad(x, g, w_shape, stride[0], _lo(pads), groups)
    n, o = g.shape[:2]
    if _by_sample(n, g.shape[2:]):
        cols = _sample_columns(x, w_shape[2:], stride, pads, dilation, g.shape[2:])
        gw = matmul_sum(_sample_groups(g.reshape(n, o, -1), groups),
                        _t(_sample_groups(cols, groups)))
        return _as(gw.reshape(w_shape), dtype)
    cols = _columns(x, w_shape[2:], stride, pads, dilation, g.shape[2:])
    gw = matmul(_per_group(_channels_first(g), groups), _t(_per_group(cols, groups)))
    return _as(gw.reshape(w_shape), dtype)


# ---- ops --------------------------------------------------------------------------------

def _bias_grad(g: Tensor, nd: int) -> Tensor:
    return g.sum((0,) + tuple(range(2, 2 + nd)))


_GEOMETRY = "int[] stride, int[][] pads, int[] dilation, int groups"


def _check_geometry(stride, pads, dilation, groups) -> None:
    """The kernels index memory from these: every path into them (conv, conv_transpose,
    unfold/fold, their gradients) is checked here, in the ops themselves, so no input
    reachable from Python can make a kernel read or write out of bounds."""
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        raise RuntimeError("negative padding is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")


class Convolution(Op):
    aten = "convolution"
    signature = f"convolution(Tensor x, Tensor w, Tensor? b, {_GEOMETRY}) -> Tensor"
    kind = "matmul"

    @staticmethod
    def meta(x, w, b, stride, pads, dilation, groups):
        _check_geometry(stride, pads, dilation, groups)
        out = out_size(x.shape[2:], w.shape[2:], stride, pads, dilation)
        return _meta.new((x.shape[0], w.shape[0]) + out, x.dtype)

    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dilation, groups):
        _check_geometry(stride, pads, dilation, groups)
        ctx.save_for_backward(x, w)
        ctx.params = (stride, pads, dilation, groups)
        return conv_forward(x, w, b, stride, pads, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        p = ctx.params
        need = ctx.needs_input_grad
        gx = dispatch(ConvTranspose, g, w, None, tuple(x.shape), *p) if need[0] else None
        gw = dispatch(ConvWeight, x, g, tuple(w.shape), *p) if need[1] else None
        gb = _bias_grad(g, len(p[0])) if need[2] else None
        return gx, gw, gb


class ConvTranspose(Op):
    """``conv_transpose``: the input-adjoint of a convolution whose input has ``shape``
    (torch's ``convolution`` with ``transposed=True``, and the input part of
    ``convolution_backward``)."""

    aten = "conv_transpose"
    _backward_name = "ConvolutionBackward0"  # torch's node of F.conv_transpose*d
    signature = f"conv_transpose(Tensor g, Tensor w, Tensor? b, int[] shape, {_GEOMETRY}) -> Tensor"
    kind = "matmul"

    @staticmethod
    def meta(g, w, b, shape, stride, pads, dilation, groups):
        _check_geometry(stride, pads, dilation, groups)
        return _meta.new(shape, g.dtype)

    @staticmethod
    def forward(ctx, g, w, b, shape, stride, pads, dilation, groups):
        _check_geometry(stride, pads, dilation, groups)
        ctx.save_for_backward(g, w)
        ctx.params = (stride, pads, dilation, groups)
        y = conv_input_grad(g, w, shape, stride, pads, dilation, groups)
        return _as(_add_bias(y, b), g.dtype)

    @staticmethod
    def backward(ctx, gg):
        g, w = ctx.saved_tensors
        p = ctx.params
        need = ctx.needs_input_grad
        dg = dispatch(Convolution, gg, w, None, *p) if need[0] else None
        dw = dispatch(ConvWeight, gg, g, tuple(w.shape), *p) if need[1] else None
        db = _bias_grad(gg, len(p[0])) if need[2] else None
        return dg, dw, db


class ConvWeight(Op):
    """The weight-adjoint of a convolution: ``dL/dw`` from input ``x`` and output grad ``g``
    (the weight part of torch's ``convolution_backward``)."""

    aten = "convolution_backward"
    signature = f"convolution_backward(Tensor x, Tensor g, int[] w_shape, {_GEOMETRY}) -> Tensor"
    kind = "matmul"

    @staticmethod
    def meta(x, g, w_shape, stride, pads, dilation, groups):
        _check_geometry(stride, pads, dilation, groups)
        return _meta.new(w_shape, _meta.result_dtype(x, g))

    @staticmethod
    def forward(ctx, x, g, w_shape, stride, pads, dilation, groups):
        _check_geometry(stride, pads, dilation, groups)
        ctx.save_for_backward(x, g)
        ctx.params = (stride, pads, dilation, groups)
        return conv_weight_grad(x, g, w_shape, stride, pads, dilation, groups)

    @staticmethod
    def backward(ctx, gg):
        x, g = ctx.saved_tensors
        p = ctx.params
        need = ctx.needs_input_grad
        dx = dispatch(ConvTranspose, g, gg, None, tuple(x.shape), *p) if need[0] else None
        dg = dispatch(Convolution, x, gg, None, *p) if need[1] else None
        return dx, dg


# ---- argument checking (torch's messages) ------------------------------------------------

def tuple_arg(value, nd: int, name: str) -> tuple:
    """An int or sequence argument expanded to ``nd`` ints (torch's ``_ntuple``)."""
    if isinstance(value, Tensor):
        value = value.tolist()
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nd
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * nd
    if len(value) != nd:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {nd} "
                           f"values to match the convolution dimensions, but got "
                           f"{name}={list(value)}")
    return value


def _shape_str(shape) -> str:
    return str(list(shape))


def _check_input(x: Tensor, w: Tensor, nd: int, fname: str) -> bool:
    """Validate ranks and dtypes; returns whether ``x`` is unbatched."""
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                           f"{fname}, but got input of size: {_shape_str(x.shape)}")
    if w.ndim != nd + 2:
        raise RuntimeError(f"Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional "
                           f"input {_shape_str(x.shape)}, but got {w.ndim}-dimensional weight "
                           f"of size {_shape_str(w.shape)} instead")
    if x._data.dtype != w._data.dtype:
        raise RuntimeError(f"Input type ({dtype_name(x._data)}) and weight type "
                           f"({dtype_name(w._data)}) should be the same")
    return x.ndim == nd + 1


def _check_bias(b, channels: int, x: Tensor) -> None:
    if b is None:
        return
    if b.ndim != 1 or b.shape[0] != channels:
        raise RuntimeError(f"Given weight of size {channels}, expected bias to be 1-dimensional "
                           f"with {channels} elements, but got bias of size "
                           f"{_shape_str(b.shape)} instead")
    if b._data.dtype != x._data.dtype:
        raise RuntimeError(f"Input type ({dtype_name(x._data)}) and bias type "
                           f"({dtype_name(b._data)}) should be the same")


def _conv_pads(padding, kernel, stride, dilation) -> tuple:
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    pads = tuple_arg(padding, nd, "padding")
    if any(p < 0 for p in pads):
        raise RuntimeError("negative padding is not supported")
    return tuple((p, p) for p in pads)


def _convnd(nd: int, fname: str, input, weight, bias, stride, padding, dilation, groups):
    unbatched = _check_input(input, weight, nd, fname)
    if unbatched:
        input = input.unsqueeze(0)
    stride = tuple_arg(stride, nd, "stride")
    dilation = tuple_arg(dilation, nd, "dilation")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    kernel = tuple(weight.shape[2:])
    pads = _conv_pads(padding, kernel, stride, dilation)
    c = input.shape[1]
    if weight.shape[0] < groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be at least {groups} "
                           f"at dimension 0, but got weight of size {_shape_str(weight.shape)} "
                           "instead")
    if weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size {_shape_str(weight.shape)} "
                           "instead")
    if c != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {_shape_str(weight.shape)}, "
                           f"expected input{_shape_str(input.shape)} to have "
                           f"{weight.shape[1] * groups} channels, but got {c} channels instead")
    _check_bias(bias, weight.shape[0], input)
    padded = [s + lo + hi for s, (lo, hi) in zip(input.shape[2:], pads)]
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(f"Calculated padded input size per channel: "
                           f"({' x '.join(map(str, padded))}). Kernel size: "
                           f"({' x '.join(map(str, eff))}). Kernel size can't be greater than "
                           "actual input size")
    out = dispatch(Convolution, input, weight, bias, stride, pads, dilation, groups)
    return out.squeeze(0) if unbatched else out


def _conv_transposend(nd: int, fname: str, input, weight, bias, stride, padding,
                      output_padding, groups, dilation):
    unbatched = _check_input(input, weight, nd, fname)
    if unbatched:
        input = input.unsqueeze(0)
    stride = tuple_arg(stride, nd, "stride")
    dilation = tuple_arg(dilation, nd, "dilation")
    padding = tuple_arg(padding, nd, "padding")
    output_padding = tuple_arg(output_padding, nd, "output_padding")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise RuntimeError("output padding must be smaller than either stride or dilation, "
                               f"but got output_padding: {list(output_padding)}, stride: "
                               f"{list(stride)}, dilation: {list(dilation)}")
    c = input.shape[1]
    if c != weight.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {_shape_str(weight.shape)}, "
                           f"expected input{_shape_str(input.shape)} to have {weight.shape[0]} "
                           f"channels, but got {c} channels instead")
    if c % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size "
                           f"{_shape_str(weight.shape)} instead")
    out_channels = weight.shape[1] * groups
    _check_bias(bias, out_channels, input)
    kernel = weight.shape[2:]
    spatial = tuple((i - 1) * s - 2 * p + d * (k - 1) + op + 1 for i, s, p, d, k, op in
                    zip(input.shape[2:], stride, padding, dilation, kernel, output_padding))
    if any(s <= 0 for s in spatial):
        raise RuntimeError(f"Given input size per channel: {list(input.shape[2:])}. Calculated "
                           f"output size per channel: {list(spatial)}. Output size is too small")
    shape = (input.shape[0], out_channels) + spatial
    pads = tuple((p, p) for p in padding)
    out = dispatch(ConvTranspose, input, weight, bias, shape, stride, pads, dilation, groups)
    return out.squeeze(0) if unbatched else out


# ---- torch's functions --------------------------------------------------------------------

def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution over ``(N, C_in, L)`` (or unbatched ``(C_in, L)``)."""
    return _convnd(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution over ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``)."""
    return _convnd(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """3-D convolution over ``(N, C_in, D, H, W)``."""
    return _convnd(3, "conv3d", input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution ("deconvolution"); ``weight`` is ``(C_in, C_out/groups, k)``."""
    return _conv_transposend(1, "conv_transpose1d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution; ``weight`` is ``(C_in, C_out/groups, kH, kW)``."""
    return _conv_transposend(2, "conv_transpose2d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-D transposed convolution."""
    return _conv_transposend(3, "conv_transpose3d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)
