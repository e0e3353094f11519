"""Pooling: max (with indices), average, adaptive average/max, max-unpool.

Pooling acts on each plane (all leading dims flattened), so batched and unbatched inputs
share one path. Max pooling gathers every window with one fancy-index per dim (an index
table ``(out, kernel)`` per dim, the same for regular and adaptive windows), takes the
argmax, and routes gradients back with a scatter-add (``bincount``) — no Python loop over
windows. Average pooling is a convolution of each plane with a box kernel, so it inherits
the convolution's gradients of every order; adaptive average pooling is a matmul with an
averaging matrix per dim.
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, _make
from .conv import Convolution, tuple_arg

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


def _gather_windows(x: np.ndarray, tables):
    """``(P, *out, K)`` window values of planes ``x (P, *spatial)`` and the flat input index
    of each window element; positions outside the input read as the lowest value."""
    nd = len(tables)
    spatial = x.shape[1:]
    idx, valid, flat = [], None, 0
    for i, (t, v) in enumerate(tables):
        shape = [1] * (2 * nd)
        shape[i], shape[nd + i] = t.shape
        t = np.clip(t, 0, spatial[i] - 1).reshape(shape)
        v = v.reshape(shape)
        idx.append(t)
        valid = v if valid is None else valid & v
        flat = flat * spatial[i] + t
    vals = x[(slice(None),) + tuple(idx)]
    out = vals.shape[1:1 + nd]
    low = -np.inf if x.dtype.kind == "f" or x.dtype.name == "bfloat16" else np.iinfo(x.dtype).min
    if not valid.all():
        vals = np.where(valid, vals, np.asarray(low, dtype=x.dtype))
    flat = np.broadcast_to(flat, out + flat.shape[nd:])
    return vals.reshape(vals.shape[:1 + nd] + (-1,)), flat.reshape(out + (-1,))


# ---- ops --------------------------------------------------------------------------------

class MaxPool(Op):
    """Max over windows given by per-dim index tables; returns (values, flat indices)."""

    @staticmethod
    def forward(ctx, x, tables):
        nd = len(tables)
        lead, spatial = x.shape[:-nd], x.shape[-nd:]
        planes = x.reshape((-1,) + spatial)
        vals, flat = _gather_windows(planes, tables)
        arg = np.argmax(vals, axis=-1)[..., None] if vals.shape[-1] else \
            np.zeros(vals.shape[:-1] + (1,), dtype=np.int64)
        out = np.take_along_axis(vals, arg, -1)[..., 0]
        indices = np.take_along_axis(np.broadcast_to(flat, vals.shape), arg, -1)[..., 0]
        out_shape = lead + out.shape[1:]
        out, indices = out.reshape(out_shape), indices.astype(np.int64).reshape(out_shape)
        ctx.save_for_backward(indices)
        ctx.spatial = spatial
        return out, indices

    @staticmethod
    def backward(ctx, g, _):
        (indices,) = ctx.saved_tensors
        return dispatch(ScatterPlanes, g, indices, ctx.spatial)


def _planes_flat(indices: np.ndarray, nd: int, plane: int) -> np.ndarray:
    """Per-plane indices (``nd`` trailing window dims) -> indices into all planes, flat."""
    idx = indices.reshape(-1, math.prod(indices.shape[indices.ndim - nd:]))
    return (idx + np.arange(idx.shape[0])[:, None] * plane).ravel()


class ScatterPlanes(Op):
    """Sum ``g`` into zero planes of shape ``spatial`` at per-plane flat ``indices``."""

    @staticmethod
    def forward(ctx, g, indices, spatial):
        nd = len(spatial)
        lead = g.shape[:g.ndim - nd]
        plane = math.prod(spatial)
        n = math.prod(lead) * plane
        flat = _planes_flat(indices, nd, plane)
        out = np.bincount(flat, weights=g.ravel(), minlength=n) if flat.size else np.zeros(n)
        ctx.save_for_backward(indices)
        ctx.nd = nd
        return out.astype(g.dtype, copy=False).reshape(lead + tuple(spatial))

    @staticmethod
    def backward(ctx, gg):
        (indices,) = ctx.saved_tensors
        return dispatch(GatherPlanes, gg, indices, ctx.nd), None


class GatherPlanes(Op):
    """``x`` read at per-plane flat ``indices`` (the adjoint of ``ScatterPlanes``)."""

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
