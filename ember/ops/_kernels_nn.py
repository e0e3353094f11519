"""Kernels of convolution and pooling: im2col, col2im, max pooling and its scatter.

Each has a NumPy reference (``*_numpy``: strided views and fancy indexing) and a Numba
kernel (parallel over batch x channels or over planes) used for float32/float64. The
dispatching functions (``im2col``, ``col2im``, ``max_pool``, ``scatter_planes``) pick one.
Convolutions of 1, 2 and 3 dims share one 3-D kernel: missing leading spatial dims are
size-1 dims with a 1-wide kernel. This module never imports Numba at import time; the
kernels are compiled (or loaded from the on-disk cache) on first use by ``_numba()``.

Layouts: ``cols`` is ``(N, C*K, L)`` (K kernel offsets, L output positions, both
row-major): the kernel writes it sequentially, and a convolution is a batched GEMM
``w (O, C*K) @ cols[n]`` whose result is NCHW already.
Pooling works on planes ``(P, S)`` with a window table ``(O, K)`` of flat in-plane
input indices, ``-1`` marking window positions outside the input (padding).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_KERNELS = None
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _numba():
    """Compile (or load from cache) the kernels on first use."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    from .._threads import sync_numba
    sync_numba()

    from . import _kernels_nn_jit as jit
    _KERNELS = jit.unfold, jit.max_pool, jit.scatter_planes
    return _KERNELS


def use_numba(*arrays: np.ndarray) -> bool:
    """The kernels take float32/float64 arrays of one dtype."""
    return arrays[0].dtype in _FLOATS and all(a.dtype == arrays[0].dtype for a in arrays)


# ---- convolution: im2col / col2im ------------------------------------------------------------

def _windows(xp: np.ndarray, kernel, stride, dilation, out) -> np.ndarray:
    """``(N, C, *out, *kernel)`` strided view of the windows of the padded ``xp``."""
    nd = len(kernel)
    eff = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
    view = sliding_window_view(xp, eff, axis=tuple(range(2, 2 + nd)))
    return view[(slice(None),) * 2
                + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride))
                + tuple(slice(None, None, d) for d in dilation)]


def _padded(size, kernel, stride, pad, dilation, out) -> tuple:
    """Lengths of the zero-padded input that every window and the input itself fit in."""
    return tuple(max(n + p, (o - 1) * s + (k - 1) * d + 1)
                 for n, k, s, p, d, o in zip(size, kernel, stride, pad, dilation, out))


def im2col_numpy(x, kernel, stride, pad, dilation, out) -> np.ndarray:
    """``(N, C*K, L)`` columns of ``x (N, C, *size)``; ``pad`` is the leading zero padding."""
    n, c = x.shape[:2]
    nd = len(kernel)
    padded = _padded(x.shape[2:], kernel, stride, pad, dilation, out)
    xp = np.pad(x, ((0, 0),) * 2 + tuple((p, t - s - p) for s, p, t in
                                          zip(x.shape[2:], pad, padded)))
    win = _windows(xp, kernel, stride, dilation, out)
    win = win.transpose((0, 1) + tuple(range(2 + nd, 2 + 2 * nd)) + tuple(range(2, 2 + nd)))
    return win.reshape(n, c * math.prod(kernel), math.prod(out))


def col2im_numpy(cols, size, kernel, stride, pad, dilation, out) -> np.ndarray:
    """The adjoint of ``im2col_numpy``: sums ``cols (N, C*K, L)`` into ``(N, C, *size)``."""
    n = cols.shape[0]
    c = cols.shape[1] // math.prod(kernel)
    cols = cols.reshape((n, c) + tuple(kernel) + tuple(out))
    padded = _padded(size, kernel, stride, pad, dilation, out)
    xp = np.zeros((n, c) + padded, dtype=cols.dtype)
    for idx in np.ndindex(*kernel):
        sl = tuple(slice(i * d, i * d + (o - 1) * s + 1, s)
                   for i, d, o, s in zip(idx, dilation, out, stride))
        xp[(Ellipsis,) + sl] += cols[(slice(None),) * 2 + idx]
    return xp[(Ellipsis,) + tuple(slice(p, p + s) for s, p in zip(size, pad))]


def _geometry3d(kernel, stride, pad, dilation, out) -> tuple:
    """The parameters of an ``nd``-dim convolution as those of a 3-D one."""
    extra = 3 - len(kernel)
    ones = (1,) * extra
    return (ones + tuple(kernel), ones + tuple(stride), (0,) * extra + tuple(pad),
            ones + tuple(dilation), ones + tuple(out))


def _unfold(x5, cols, geometry, fold: bool) -> None:
    """Run the im2col (or with ``fold`` col2im) kernel for a 3-D ``geometry``."""
    kernel, stride, pad, dilation, out = geometry
    padded = _padded(x5.shape[2:], kernel, stride, pad, dilation, out)
    _numba()[0](x5, cols, kernel, stride, pad, dilation, out, padded, fold)


def im2col(x, kernel, stride, pad, dilation, out) -> np.ndarray:
    """``im2col_numpy``, by the Numba kernel for float arrays of 1-3 spatial dims."""
    if not use_numba(x) or len(kernel) > 3:
        return np.ascontiguousarray(im2col_numpy(x, kernel, stride, pad, dilation, out))
    n, c = x.shape[:2]
    geometry = _geometry3d(kernel, stride, pad, dilation, out)
    x5 = np.ascontiguousarray(x).reshape((n, c) + (1,) * (5 - x.ndim) + x.shape[2:])
    cols = np.empty((n, c * math.prod(kernel), math.prod(out)), dtype=x.dtype)
    _unfold(x5, cols, geometry, False)
    return cols


def col2im(cols, size, kernel, stride, pad, dilation, out) -> np.ndarray:
    """``col2im_numpy``, by the Numba kernel for float arrays of 1-3 spatial dims."""
    if not use_numba(cols) or len(kernel) > 3:
        return np.ascontiguousarray(col2im_numpy(cols, size, kernel, stride, pad, dilation,
                                                 out))
    n, c = cols.shape[0], cols.shape[1] // math.prod(kernel)
    x5 = np.empty((n, c) + (1,) * (3 - len(kernel)) + tuple(size), dtype=cols.dtype)
    _unfold(x5, np.ascontiguousarray(cols), _geometry3d(kernel, stride, pad, dilation, out),
            True)
    return x5.reshape((n, c) + tuple(size))


# ---- pooling ----------------------------------------------------------------------------------

def max_pool_numpy(planes: np.ndarray, table: np.ndarray):
    """Max of ``planes (P, S)`` over each window of ``table (O, K)`` and its flat index.

    torch's rule: the first maximum wins, a NaN wins over any number (the last NaN), and a
    window of -inf only reports its first position inside the input."""
    valid = table >= 0
    vals = planes[:, np.maximum(table, 0)]  # (P, O, K)
    low = -np.inf if planes.dtype.kind == "f" or planes.dtype.name == "bfloat16" else \
        np.iinfo(planes.dtype).min
    vals = np.where(valid, vals, np.asarray(low, dtype=planes.dtype))
    arg = np.argmax(vals, axis=-1)
    nan = np.isnan(vals) if planes.dtype.kind == "f" else np.zeros(vals.shape, bool)
    last_nan = table.shape[1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    first_valid = np.broadcast_to(np.argmax(valid, axis=-1), arg.shape)
    arg = np.where(nan.any(-1), last_nan, np.where(vals.max(-1) == low, first_valid, arg))
    values = np.take_along_axis(vals, arg[..., None], -1)[..., 0]
    indices = np.take_along_axis(np.broadcast_to(table, vals.shape), arg[..., None], -1)
    return values, indices[..., 0].astype(np.int64)


def scatter_planes_numpy(g: np.ndarray, indices: np.ndarray, size: int) -> np.ndarray:
    """Sum ``g (P, O)`` into zero planes ``(P, size)`` at the in-plane ``indices (P, O)``."""
    p = g.shape[0]
    flat = (indices + np.arange(p)[:, None] * size).ravel()
    out = np.bincount(flat, weights=g.ravel(), minlength=p * size) if flat.size else \
        np.zeros(p * size)
    return out.astype(g.dtype, copy=False).reshape(p, size)


def flat_table(tables, spatial) -> np.ndarray:
    """Per-dim window tables ``(out_i, k_i)`` (``-1`` outside the input) combined into one
    ``(O, K)`` table of flat in-plane indices (both row-major), ``-1`` where any is."""
    flat = np.zeros((1, 1), dtype=np.int64)
    for t, n in zip(tables, spatial):
        rows, cols = flat.shape[0] * t.shape[0], flat.shape[1] * t.shape[1]
        valid = (flat[:, None, :, None] >= 0) & (t[None, :, None, :] >= 0)
        flat = np.where(valid, flat[:, None, :, None] * n + t[None, :, None, :], -1)
        flat = flat.reshape(rows, cols)
    return flat


def max_pool(x: np.ndarray, tables):
    """Max pooling of ``x (..., *spatial)`` over windows given by one table per spatial dim
    (``(out_i, k_i)`` input positions, ``-1`` outside the input): values and flat in-plane
    indices of shape ``(..., *out)``. ``max_pool_numpy`` or the Numba kernel."""
    nd = len(tables)
    lead, spatial = x.shape[:x.ndim - nd], x.shape[x.ndim - nd:]
    out_shape = lead + tuple(t.shape[0] for t in tables)
    planes = x.reshape(math.prod(lead), math.prod(spatial))
    if not use_numba(x) or nd > 3:
        values, indices = max_pool_numpy(planes, flat_table(tables, spatial))
        return values.reshape(out_shape), indices.reshape(out_shape)
    unit = np.zeros((1, 1), dtype=np.int64)
    tables = (unit,) * (3 - nd) + tuple(np.ascontiguousarray(t, dtype=np.int64) for t in tables)
    planes = np.ascontiguousarray(planes).reshape((planes.shape[0],) + (1,) * (3 - nd) + spatial)
    out3 = tuple(t.shape[0] for t in tables)
    values = np.empty((planes.shape[0],) + out3, dtype=x.dtype)
    indices = np.empty(values.shape, dtype=np.int64)
    _numba()[1](planes, *tables, values, indices)
    return values.reshape(out_shape), indices.reshape(out_shape)


def scatter_planes(g: np.ndarray, indices: np.ndarray, size: int) -> np.ndarray:
    """``scatter_planes_numpy``, by the Numba kernel for float ``g``."""
    if not use_numba(g):
        return scatter_planes_numpy(g, indices, size)
    out = np.empty((g.shape[0], size), dtype=g.dtype)
    _numba()[2](np.ascontiguousarray(g), np.ascontiguousarray(indices, dtype=np.int64), out)
    return out
