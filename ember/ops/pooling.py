"""Pooling: max (with indices), average, adaptive average/max, max-unpool.

Pooling acts on each plane (all leading dims flattened), so batched and unbatched inputs
share one path. Max pooling reads windows through one table ``(out, kernel)`` of flat
input indices (built from an index table per dim, the same for regular and adaptive
windows), keeps the argmax, and routes gradients back with a scatter-add — both Numba
kernels in ``_kernels_nn`` (NumPy references there), no Python loop over windows.
Average pooling is one Numba pass each way (``AvgPool`` and its adjoint
``AvgPoolBackward``, each the other's backward, so gradients of every order work);
adaptive average pooling to one output per plane is a mean, to other sizes a matmul with
an averaging matrix per dim.
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor
from . import _kernels_nn as K
from . import _meta
from .conv import tuple_arg

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d",
           "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool2d"]


# ---- window index tables --------------------------------------------------------------

def pool_out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Output length of a pooling window sweep (torch's ``pooling_output_shape``)."""
    num = size + 2 * p - d * (k - 1) - 1
    out = (num + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or the left padding
    return out


def window_table(size, k, s, p, d, out):
    """Input positions ``(out, k)`` of each window and which of them lie inside the input."""
    idx = (np.arange(out) * s - p)[:, None] + np.arange(k) * d
    return idx, (idx >= 0) & (idx < size)


def adaptive_table(size: int, out: int):
    """Windows ``[floor(i*L/out), ceil((i+1)*L/out))`` as a padded table (torch's rule)."""
    start = (np.arange(out) * size) // out
    end = -((-(np.arange(out) + 1) * size) // out)
    k = int((end - start).max()) if out else 0
    idx = start[:, None] + np.arange(k)
    return idx, idx < end[:, None]


# ---- ops --------------------------------------------------------------------------------

class MaxPool(Op):
    """Max over windows given by per-dim index tables ``((positions, valid), ...)`` of
    the trailing dims; returns (values, indices flat per plane)."""

    aten = "max_pool2d_with_indices"
    signature = "max_pool2d_with_indices(Tensor x, Any tables) -> (Tensor values, Tensor indices)"

    @staticmethod
    def meta(x, tables):
        shape = tuple(x.shape[:x.ndim - len(tables)]) + tuple(len(t) for t, _ in tables)
        return _meta.new(shape, x.dtype), _meta.new(shape, np.int64)

    @staticmethod
    def forward(ctx, x, tables):
        values, indices = K.max_pool(x, tuple(np.where(v, t, -1) for t, v in tables))
        ctx.save_for_backward(indices)
        ctx.spatial = x.shape[x.ndim - len(tables):]
        return values, indices

    @staticmethod
    def backward(ctx, g, _):
        (indices,) = ctx.saved_tensors
        return dispatch(ScatterPlanes, g, indices, ctx.spatial), None


def _planes_flat(indices: np.ndarray, nd: int, plane: int) -> np.ndarray:
    """Per-plane indices (``nd`` trailing window dims) -> indices into all planes, flat."""
    lead = indices.shape[:indices.ndim - nd]  # explicit, not -1: the window may be empty
    idx = indices.reshape(math.prod(lead), math.prod(indices.shape[indices.ndim - nd:]))
    return (idx + np.arange(idx.shape[0])[:, None] * plane).ravel()


class ScatterPlanes(Op):
    """Sum ``g`` into zero planes of shape ``spatial`` at per-plane flat ``indices``
    (max pooling's backward, max-unpooling, the adjoint of gathers)."""

    aten = "max_pool2d_with_indices_backward"
    signature = ("max_pool2d_with_indices_backward(Tensor g, Tensor indices, int[] spatial) "
                 "-> Tensor")

    @staticmethod
    def meta(g, indices, spatial):
        return _meta.new(tuple(g.shape[:g.ndim - len(spatial)]) + tuple(spatial), g.dtype)

    @staticmethod
    def forward(ctx, g, indices, spatial):
        nd = len(spatial)
        lead = g.shape[:g.ndim - nd]
        plane = math.prod(spatial)
        idx = indices.reshape(math.prod(lead), math.prod(indices.shape[indices.ndim - nd:]))
        if idx.size and (idx.min() < 0 or idx.max() >= plane):
            bad = idx[(idx < 0) | (idx >= plane)][0]
            raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size "
                               f"{'x'.join(map(str, spatial))}")
        out = K.scatter_planes(g.reshape(idx.shape), idx, plane)
        ctx.save_for_backward(indices)
        ctx.nd = nd
        return out.reshape(lead + tuple(spatial))

    @staticmethod
    def backward(ctx, gg):
        (indices,) = ctx.saved_tensors
        return dispatch(GatherPlanes, gg, indices, ctx.nd), None, None


class GatherPlanes(Op):
    """``x`` read at per-plane flat ``indices`` (the adjoint of ``ScatterPlanes``; what
    reflection/replication padding and nearest upsampling are)."""

    aten = "gather_planes"
    signature = "gather_planes(Tensor x, Tensor indices, int nd) -> Tensor"

    @staticmethod
    def meta(x, indices, nd):
        return _meta.new(indices.shape, x.dtype)

    @staticmethod
    def forward(ctx, x, indices, nd):
        spatial = x.shape[x.ndim - nd:]
        ctx.save_for_backward(indices)
        ctx.spatial = spatial
        return x.reshape(-1)[_planes_flat(indices, nd, math.prod(spatial))].reshape(indices.shape)

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        return dispatch(ScatterPlanes, g, indices, ctx.spatial), None, None


# ---- torch's functions --------------------------------------------------------------------

def _check_rank(input: Tensor, nd: int, fname: str) -> None:
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{fname}: Expected {nd + 1}D or {nd + 2}D (batch mode) tensor for "
                           f"input, but got: {list(input.shape)}")


def _pool_geometry(input, nd, fname, kernel_size, stride, padding, dilation, ceil_mode,
                   max_pool: bool):
    _check_rank(input, nd, fname)
    k = tuple_arg(kernel_size, nd, "kernel_size")
    s = k if stride is None or stride == [] or stride == () else tuple_arg(stride, nd, "stride")
    p = tuple_arg(padding, nd, "padding")
    d = tuple_arg(dilation, nd, "dilation")
    if any(v <= 0 for v in k + s + d):
        raise RuntimeError(f"{fname}: kernel_size, stride and dilation must be greater than zero")
    for pi, ki, di in zip(p, k, d):
        if pi < 0 or pi > ((ki - 1) * di + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={pi}, "
                f"kernel_size={ki} and dilation={di}" if max_pool else
                f"pad should be at most half of kernel size, but got pad={pi} and "
                f"kernel_size={ki}")
    spatial = tuple(input.shape[-nd:])
    out = tuple(pool_out_size(*a, ceil_mode) for a in zip(spatial, k, s, p, d))
    if any(o <= 0 for o in out):
        lead = list(input.shape[-nd - 1:-nd])
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, lead + list(spatial)))}). "
                           f"Calculated output size: "
                           f"({'x'.join(map(str, lead + list(out)))}). Output size is too small")
    return spatial, k, s, p, d, out


def _max_pool(nd, fname, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    spatial, k, s, p, d, out = _pool_geometry(input, nd, fname, kernel_size, stride, padding,
                                              dilation, ceil_mode, True)
    tables = tuple(window_table(*a) for a in zip(spatial, k, s, p, d, out))
    values, indices = dispatch(MaxPool, input, tables)
    return (values, indices) if return_indices else values


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """1-D max pooling over ``(N, C, L)`` or ``(C, L)``."""
    return _max_pool(1, "max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """2-D max pooling over ``(N, C, H, W)`` or ``(C, H, W)``; indices are flat per plane."""
    return _max_pool(2, "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """3-D max pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)``."""
    return _max_pool(3, "max_pool3d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def _avg_divisor(size, k, s, p, out, count_include_pad: bool) -> np.ndarray:
    """Per-dim window sizes torch divides by (windows are boxes, so the divisor factorises)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


_AVG = ("int[] kernel_size, int[] stride, int[] padding, bool ceil_mode, "
        "bool count_include_pad, int? divisor_override")


def _avg_windows(spatial, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override):
    """Average pooling's window tables (one per dim, ``-1`` outside the input) and the
    divisor of each output (torch's ``divide_factor``)."""
    out = tuple(pool_out_size(n, k, s, p, 1, ceil_mode)
                for n, k, s, p in zip(spatial, kernel_size, stride, padding))
    tables, divisor = [], np.ones((), dtype=np.int64)
    for n, k, s, p, o in zip(spatial, kernel_size, stride, padding, out):
        t, v = window_table(n, k, s, p, 1, o)
        tables.append(np.where(v, t, -1))
        divisor = np.multiply.outer(divisor, _avg_divisor(n, k, s, p, o, count_include_pad))
    if divisor_override:
        divisor = np.full(out, divisor_override)
    return tuple(tables), divisor


class AvgPool(Op):
    """Average pooling over the trailing ``len(kernel_size)`` dims (torch's
    ``avg_pool{1,2,3}d``, attributes already expanded to one per dim)."""

    aten = "avg_pool2d"
    signature = f"avg_pool2d(Tensor x, {_AVG}) -> Tensor"

    @staticmethod
    def meta(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        nd = len(kernel_size)
        out = tuple(pool_out_size(n, k, s, p, 1, ceil_mode) for n, k, s, p in
                    zip(x.shape[x.ndim - nd:], kernel_size, stride, padding))
        return _meta.new(tuple(x.shape[:x.ndim - nd]) + out, x.dtype)

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        params = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        spatial = x.shape[x.ndim - len(kernel_size):]
        ctx.spatial, ctx.params = spatial, params
        return K.avg_pool(x, *_avg_windows(spatial, *params))

    @staticmethod
    def backward(ctx, g):
        return (dispatch(AvgPoolBackward, g, ctx.spatial, *ctx.params),) + (None,) * 6


class AvgPoolBackward(Op):
    """The adjoint of ``AvgPool``: each output's gradient shared out over its window."""

    aten = "avg_pool2d_backward"
    signature = f"avg_pool2d_backward(Tensor g, int[] spatial, {_AVG}) -> Tensor"

    @staticmethod
    def meta(g, spatial, kernel_size, stride, padding, ceil_mode, count_include_pad,
             divisor_override):
        return _meta.new(tuple(g.shape[:g.ndim - len(spatial)]) + tuple(spatial), g.dtype)

    @staticmethod
    def forward(ctx, g, spatial, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        params = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        ctx.params = params
        return K.avg_pool(g, *_avg_windows(spatial, *params), backward_to=spatial)

    @staticmethod
    def backward(ctx, gg):
        return (dispatch(AvgPool, gg, *ctx.params),) + (None,) * 7


def _avg_pool(nd, fname, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    _, k, s, p, _, _ = _pool_geometry(input, nd, fname, kernel_size, stride, padding, 1,
                                      ceil_mode, False)
    return dispatch(AvgPool, input, k, s, p, bool(ceil_mode), bool(count_include_pad),
                    int(divisor_override) if divisor_override else None)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over ``(N, C, L)`` or ``(C, L)``."""
    return _avg_pool(1, "avg_pool1d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling over ``(N, C, H, W)`` or ``(C, H, W)``."""
    return _avg_pool(2, "avg_pool2d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """3-D average pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)``."""
    return _avg_pool(3, "avg_pool3d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def _adaptive_sizes(input: Tensor, nd: int, output_size, fname: str) -> tuple:
    _check_rank(input, nd, fname)
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        raise ValueError(f"{fname}: output_size must be {nd}")
    spatial = tuple(input.shape[-nd:])
    if any(s == 0 for s in spatial):
        raise RuntimeError(f"{fname}(): Expected input to have non-zero size for non-batch "
                           f"dimensions, but input has sizes {list(input.shape)} with dimension "
                           f"{input.ndim - nd + spatial.index(0)} being empty")
    return spatial, tuple(s if o is None else int(o) for s, o in zip(spatial, output_size))


def _averaging_matrix(size: int, out: int, dtype) -> np.ndarray:
    idx, valid = adaptive_table(size, out)
    m = np.zeros((out, size), dtype=dtype)
    rows = np.broadcast_to(np.arange(out)[:, None], idx.shape)
    m[rows[valid], idx[valid]] = 1
    return m / m.sum(1, keepdims=True)


def _adaptive_avg(nd, input, output_size, fname):
    spatial, out = _adaptive_sizes(input, nd, output_size, fname)
    if all(o == 1 for o in out):  # global average pooling
        return input.mean(tuple(range(-nd, 0)), keepdim=True)
    dtype = input.dtype.np
    y = input
    for i in range(nd):  # contract one spatial dim at a time: (..., L_i, rest) -> (..., O_i)
        m = _meta.constant(_averaging_matrix(spatial[i], out[i], dtype), input)
        y = (y.transpose(-nd + i, -1) @ m.mT).transpose(-nd + i, -1)
    return y


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output length."""
    return _adaptive_avg(1, input, output_size, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed ``(H_out, W_out)`` (``None`` keeps that input size)."""
    return _adaptive_avg(2, input, output_size, "adaptive_avg_pool2d")


def _adaptive_max(nd, input, output_size, return_indices, fname):
    spatial, out = _adaptive_sizes(input, nd, output_size, fname)
    tables = tuple(adaptive_table(n, o) for n, o in zip(spatial, out))
    values, indices = dispatch(MaxPool, input, tables)
    return (values, indices) if return_indices else values


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed output length."""
    return _adaptive_max(1, input, output_size, return_indices, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed ``(H_out, W_out)``."""
    return _adaptive_max(2, input, output_size, return_indices, "adaptive_max_pool2d")


def _max_unpool(nd, input, indices, kernel_size, stride, padding, output_size):
    k = tuple_arg(kernel_size, nd, "kernel_size")
    s = k if stride is None else tuple_arg(stride, nd, "stride")
    p = tuple_arg(padding, nd, "padding")
    spatial = tuple(input.shape[-nd:])
    default = tuple((n - 1) * si - 2 * pi + ki for n, si, pi, ki in zip(spatial, s, p, k))
    if output_size is None:
        out = default
    else:
        out = tuple(output_size)[-nd:]
    if indices.shape != input.shape:
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor "
                           f"({list(input.shape)}) but got indices tensor with shape: "
                           f"{list(indices.shape)}")
    return dispatch(ScatterPlanes, input, indices, out)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of ``max_pool1d``: values placed at their indices, zeros elsewhere."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of ``max_pool2d``."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


__all__ += ["max_unpool1d", "max_unpool2d"]
