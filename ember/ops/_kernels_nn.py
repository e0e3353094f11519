"""Kernels of convolution and pooling: im2col, col2im, direct depthwise convolution, max
and average pooling and their backward passes.

Each has a NumPy reference (``*_numpy``: strided views, fancy indexing, matmul) and a
Numba kernel (``_kernels_nn_jit``, parallel over planes) used for float32/float64; the
dispatching functions (``im2col``, ``col2im``, ``depthwise_*``, ``max_pool``, ``avg_pool``,
``scatter_planes``) pick one. Convolutions of 1, 2 and 3 dims share one 3-D kernel:
missing leading spatial dims are size-1 dims with a 1-wide kernel. This module never
imports Numba at import time; the kernels are compiled (or loaded from the on-disk cache)
on first use by ``_numba()``, and each call runs them on one thread when the work is too
small for a second one to pay or the machine is busy (``_run``).

Layouts: ``cols`` is ``(C*K, N*L)`` (K kernel offsets, L output positions, all row-major):
the batch is folded into the GEMM's columns, so a convolution is one large GEMM
``w (O, C*K) @ cols`` (one per group) whatever the batch size, which BLAS runs at full
speed on every core, instead of N small ones.
Pooling works on planes ``(P, S)`` with a window table ``(O, K)`` of flat in-plane
input indices, ``-1`` marking window positions outside the input (padding).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._threads import sync_numba
from ._parallel import threads_for

_KERNELS = None
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
PARALLEL_ELEMENTS = 1 << 17  # below this many elements touched a kernel runs on one thread


def _numba():
    """Compile (or load from cache) the kernels on first use."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    from . import _kernels_nn_jit
    sync_numba()
    _KERNELS = _kernels_nn_jit
    return _KERNELS


def _run(kernel: str, elements: int, *args) -> None:
    """Run the Numba ``kernel`` on a call touching ``elements``, on the threads
    ``_parallel.threads_for`` gives it (one below ``PARALLEL_ELEMENTS`` or when the
    machine is busy)."""
    jit = _numba()
    numba = jit.numba
    had = numba.get_num_threads()
    want = min(threads_for(elements, PARALLEL_ELEMENTS), numba.config.NUMBA_NUM_THREADS)
    if want != had:
        numba.set_num_threads(want)
    try:
        getattr(jit, kernel)(*args)
    finally:
        if want != had:
            numba.set_num_threads(had)


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
    """``(C*K, N*L)`` columns of ``x (N, C, *size)``; ``pad`` is the leading zero padding."""
    n, c = x.shape[:2]
    nd = len(kernel)
    padded = _padded(x.shape[2:], kernel, stride, pad, dilation, out)
    xp = np.pad(x, ((0, 0),) * 2 + tuple((p, t - s - p) for s, p, t in
                                          zip(x.shape[2:], pad, padded)))
    win = _windows(xp, kernel, stride, dilation, out)  # (N, C, *out, *kernel)
    win = win.transpose((1,) + tuple(range(2 + nd, 2 + 2 * nd)) + (0,)
                        + tuple(range(2, 2 + nd)))
    return win.reshape(c * math.prod(kernel), n * math.prod(out))


def col2im_numpy(cols, shape, kernel, stride, pad, dilation, out) -> np.ndarray:
    """The adjoint of ``im2col_numpy``: sums ``cols (C*K, N*L)`` into ``shape (N, C, *size)``."""
    n, c, size = shape[0], shape[1], tuple(shape[2:])
    cols = cols.reshape((c,) + tuple(kernel) + (n,) + tuple(out))
    padded = _padded(size, kernel, stride, pad, dilation, out)
    xp = np.zeros((n, c) + padded, dtype=cols.dtype)
    for idx in np.ndindex(*kernel):
        sl = tuple(slice(i * d, i * d + (o - 1) * s + 1, s)
                   for i, d, o, s in zip(idx, dilation, out, stride))
        xp[(Ellipsis,) + sl] += cols[(slice(None),) + idx].swapaxes(0, 1)
    return xp[(Ellipsis,) + tuple(slice(p, p + s) for s, p in zip(size, pad))]


def _geometry3d(kernel, stride, pad, dilation, out) -> tuple:
    """The parameters of an ``nd``-dim convolution as those of a 3-D one."""
    extra = 3 - len(kernel)
    ones = (1,) * extra
    return (ones + tuple(kernel), ones + tuple(stride), (0,) * extra + tuple(pad),
            ones + tuple(dilation), ones + tuple(out))


def _as5d(x: np.ndarray) -> np.ndarray:
    """``(N, C, *size)`` (1-3 spatial dims) as a C-contiguous ``(N, C, D, H, W)``."""
    return np.ascontiguousarray(x).reshape(x.shape[:2] + (1,) * (5 - x.ndim) + x.shape[2:])


def im2col(x, kernel, stride, pad, dilation, out, per_sample: bool = False) -> np.ndarray:
    """``im2col_numpy``, by the Numba kernel for float arrays of 1-3 spatial dims. With
    ``per_sample`` the columns are laid out ``(N, C*K, L)``: each sample's own matrix."""
    n, c = x.shape[:2]
    if not use_numba(x) or len(kernel) > 3:
        cols = im2col_numpy(x, kernel, stride, pad, dilation, out)
        if per_sample:
            cols = cols.reshape(cols.shape[0], n, -1).swapaxes(0, 1)
        return np.ascontiguousarray(cols)
    kernel, stride, pad, dilation, out = _geometry3d(kernel, stride, pad, dilation, out)
    length, rows = math.prod(out), c * math.prod(kernel)
    cols = np.empty((n, rows, length) if per_sample else (rows, n * length), dtype=x.dtype)
    padded = _padded((1,) * (5 - x.ndim) + x.shape[2:], kernel, stride, pad, dilation, out)
    row_stride, sample_stride = (length, rows * length) if per_sample else (n * length, length)
    _run("unfold", cols.size, _as5d(x), cols, kernel, stride, pad, dilation, out, padded,
         row_stride, sample_stride, False)
    return cols


def col2im(cols, shape, kernel, stride, pad, dilation, out, per_sample: bool = False
           ) -> np.ndarray:
    """``col2im_numpy``, by the Numba kernel for float arrays of 1-3 spatial dims; ``cols``
    laid out ``(N, C*K, L)`` with ``per_sample``."""
    n, c, size = shape[0], shape[1], tuple(shape[2:])
    if not use_numba(cols) or len(kernel) > 3:
        if per_sample:
            cols = cols.swapaxes(0, 1).reshape(cols.shape[1], -1)
        return np.ascontiguousarray(col2im_numpy(cols, shape, kernel, stride, pad, dilation,
                                                 out))
    size3 = (1,) * (3 - len(size)) + size
    kernel, stride, pad, dilation, out = _geometry3d(kernel, stride, pad, dilation, out)
    x5 = np.empty((n, c) + size3, dtype=cols.dtype)
    length, rows = math.prod(out), c * math.prod(kernel)
    padded = _padded(size3, kernel, stride, pad, dilation, out)
    row_stride, sample_stride = (length, rows * length) if per_sample else (n * length, length)
    _run("unfold", cols.size, x5, np.ascontiguousarray(cols), kernel, stride, pad, dilation,
         out, padded, row_stride, sample_stride, True)
    return x5.reshape(shape)


# ---- convolution: direct depthwise kernels ---------------------------------------------------

def depthwise_ok(channels: int, w_shape, groups: int, *arrays: np.ndarray) -> bool:
    """Whether the direct kernels take this convolution: every group reads one of the
    input's ``channels`` (depthwise, any channel multiplier), 1-3 spatial dims, ``arrays``
    float32 or float64 alike."""
    return groups == channels and w_shape[1] == 1 and len(w_shape) <= 5 and use_numba(*arrays)


def _depthwise_geometry(size, kernel, stride, pad, dilation, out):
    kernel, stride, pad, dilation, out = _geometry3d(kernel, stride, pad, dilation, out)
    size3 = (1,) * (3 - len(size)) + tuple(size)
    return stride, pad, dilation, _padded(size3, kernel, stride, pad, dilation, out)


def _depthwise_cols(x, kernel, stride, pad, dilation, out) -> np.ndarray:
    """``im2col_numpy`` of ``x`` as ``(C, K, N, L)``."""
    cols = im2col_numpy(x, kernel, stride, pad, dilation, out)
    return cols.reshape(x.shape[1], math.prod(kernel), x.shape[0], math.prod(out))


def depthwise_forward_numpy(x, w, stride, pad, dilation, out) -> np.ndarray:
    """The reference of ``depthwise_forward``: ``y[n, o] = w[o] . cols[o // (O/C)][n]``."""
    cols = _depthwise_cols(x, w.shape[2:], stride, pad, dilation, out)
    mult = w.shape[0] // x.shape[1]
    y = np.einsum("ok,oknl->nol", w.reshape(w.shape[0], -1), np.repeat(cols, mult, axis=0))
    return y.reshape((x.shape[0], w.shape[0]) + tuple(out))


def depthwise_input_grad_numpy(g, w, shape, stride, pad, dilation) -> np.ndarray:
    """The reference of ``depthwise_input_grad``: col2im of ``w[o] g[n, o]`` summed per
    input channel."""
    mult = w.shape[0] // shape[1]
    taps = math.prod(w.shape[2:])
    cols = np.einsum("ok,nol->oknl", w.reshape(w.shape[0], -1), g.reshape(g.shape[:2] + (-1,)))
    cols = cols.reshape(shape[1], mult, taps, -1).sum(1).reshape(shape[1] * taps, -1)
    return col2im_numpy(cols, shape, w.shape[2:], stride, pad, dilation, g.shape[2:])


def depthwise_weight_grad_numpy(x, g, w_shape, stride, pad, dilation) -> np.ndarray:
    """The reference of ``depthwise_weight_grad``: ``g[n, o] . cols[o // (O/C)][n]``."""
    cols = _depthwise_cols(x, w_shape[2:], stride, pad, dilation, g.shape[2:])
    mult = w_shape[0] // x.shape[1]
    gw = np.einsum("nol,oknl->ok", g.reshape(g.shape[:2] + (-1,)),
                   np.repeat(cols, mult, axis=0))
    return gw.reshape(w_shape)


def _w5(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w).reshape(w.shape[:2] + (1,) * (5 - w.ndim) + w.shape[2:])


def depthwise_forward(x, w, stride, pad, dilation, out) -> np.ndarray:
    """A depthwise convolution (``depthwise_ok``) without bias: ``(N, O, *out)``."""
    geometry = _depthwise_geometry(x.shape[2:], w.shape[2:], stride, pad, dilation, out)
    y = np.empty((x.shape[0], w.shape[0]) + tuple(out), dtype=x.dtype)
    _run("depthwise_forward", y.size * math.prod(w.shape[2:]), _as5d(x), _w5(w), _as5d(y),
         *geometry)
    return y


def depthwise_input_grad(g, w, shape, stride, pad, dilation) -> np.ndarray:
    """The adjoint of ``depthwise_forward`` in its input, of ``shape``."""
    geometry = _depthwise_geometry(shape[2:], w.shape[2:], stride, pad, dilation, g.shape[2:])
    x = np.empty(shape, dtype=g.dtype)
    _run("depthwise_input_grad", g.size * math.prod(w.shape[2:]), _as5d(g), _w5(w), _as5d(x),
         *geometry)
    return x


def depthwise_weight_grad(x, g, w_shape, stride, pad, dilation) -> np.ndarray:
    """The adjoint of ``depthwise_forward`` in its weight, of ``w_shape``."""
    geometry = _depthwise_geometry(x.shape[2:], w_shape[2:], stride, pad, dilation, g.shape[2:])
    w = np.empty(w_shape, dtype=x.dtype)
    _run("depthwise_weight_grad", g.size * math.prod(w_shape[2:]), _as5d(x), _as5d(g),
         _w5(w), *geometry)
    return w


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


def _planes3d(x: np.ndarray, tables) -> tuple:
    """``x (..., *spatial)`` as C-contiguous planes ``(P, D, H, W)`` and the per-dim
    tables as three (a missing leading dim gets a one-position table)."""
    nd = len(tables)
    spatial = x.shape[x.ndim - nd:]
    unit = np.zeros((1, 1), dtype=np.int64)
    tables = (unit,) * (3 - nd) + tuple(np.ascontiguousarray(t, dtype=np.int64) for t in tables)
    planes = np.ascontiguousarray(x).reshape((-1,) + (1,) * (3 - nd) + spatial)
    return planes, tables


def max_pool(x: np.ndarray, tables):
    """Max pooling of ``x (..., *spatial)`` over windows given by one table per spatial dim
    (``(out_i, k_i)`` input positions, ``-1`` outside the input): values and flat in-plane
    indices of shape ``(..., *out)``. ``max_pool_numpy`` or the Numba kernel."""
    nd = len(tables)
    lead, spatial = x.shape[:x.ndim - nd], x.shape[x.ndim - nd:]
    out_shape = lead + tuple(t.shape[0] for t in tables)
    if not use_numba(x) or nd > 3:
        planes = x.reshape(math.prod(lead), math.prod(spatial))
        values, indices = max_pool_numpy(planes, flat_table(tables, spatial))
        return values.reshape(out_shape), indices.reshape(out_shape)
    planes, tables = _planes3d(x, tables)
    values = np.empty((planes.shape[0],) + tuple(t.shape[0] for t in tables), dtype=x.dtype)
    indices = np.empty(values.shape, dtype=np.int64)
    regular = [_regular(t, n) for t, n in zip(tables, planes.shape[1:])]
    if values.size and all(r is not None for r in regular):
        _run("max_pool_regular", planes.size, planes, *(np.array(v, dtype=np.int64)
                                                        for v in zip(*regular)), values, indices)
    else:
        _run("max_pool", planes.size, planes, *tables, values, indices)
    return values.reshape(out_shape), indices.reshape(out_shape)


def _regular(table: np.ndarray, size: int) -> tuple[int, int, int, int] | None:
    """``(kernel, stride, dilation, padding)`` of a window table ``(out, k)`` over ``size``
    input positions whose window ``o`` starts at ``o * stride - padding`` (``-1`` where a
    position lies outside the input); else None."""
    out, k = table.shape
    valid = table >= 0
    first = int(np.argmax(valid[0])) if valid[0].any() else -1
    if first < 0:
        return None
    pos = np.where(valid, table, 0)
    stride, dil = 1, 1
    if out > 1:  # (a valid position in window 1 at an offset valid in window 0 too)
        both = np.flatnonzero(valid[0] & valid[1])
        if not both.size:
            return None
        stride = int(pos[1, both[0]] - pos[0, both[0]])
    if k > 1:
        dil = int(pos[0, first + 1] - pos[0, first]) if first + 1 < k and valid[0, first + 1] \
            else 1
    pad = first * dil - int(pos[0, first])
    expect = np.arange(out)[:, None] * stride - pad + np.arange(k) * dil
    expect = np.where((expect >= 0) & (expect < size), expect, -1)
    return (k, stride, dil, pad) if stride > 0 and dil > 0 and np.array_equal(table, expect) \
        else None


def avg_pool_numpy(planes: np.ndarray, table: np.ndarray, divisor: np.ndarray) -> np.ndarray:
    """Sums of ``planes (P, S)`` over each window of ``table (O, K)`` (``-1`` outside the
    input) divided by ``divisor (O,)``; half-precision planes are summed in float32."""
    acc = np.result_type(planes.dtype, np.float32)
    vals = np.where(table >= 0, planes[:, np.maximum(table, 0)].astype(acc), 0)
    return (vals.sum(-1) / divisor).astype(planes.dtype)


def avg_pool_backward_numpy(g: np.ndarray, table: np.ndarray, divisor: np.ndarray,
                            size: int) -> np.ndarray:
    """The adjoint of ``avg_pool_numpy``: ``g (P, O) / divisor`` spread over each window
    into zero planes ``(P, size)``."""
    share = np.broadcast_to((g / divisor).astype(g.dtype)[..., None], g.shape + table.shape[1:])
    valid = np.broadcast_to(table >= 0, share.shape)
    index = np.broadcast_to(table, share.shape)
    return scatter_planes_numpy(share[valid].reshape(g.shape[0], -1),
                                index[valid].reshape(g.shape[0], -1), size)


def avg_pool(x: np.ndarray, tables, divisor: np.ndarray, backward_to=None) -> np.ndarray:
    """Average pooling of ``x (..., *spatial)`` over the windows of one table per spatial
    dim (as ``max_pool``'s), each window's sum divided by ``divisor (*out)``: shape
    ``(..., *out)``. With ``backward_to`` (the input's ``spatial``), the adjoint: ``x`` is
    the gradient ``(..., *out)`` spread back over the windows, shape ``(..., *spatial)``."""
    nd = len(tables)
    out = tuple(t.shape[0] for t in tables)
    spatial = tuple(backward_to) if backward_to is not None else x.shape[x.ndim - nd:]
    lead = x.shape[:x.ndim - nd]
    if not use_numba(x) or nd > 3:
        planes = x.reshape(math.prod(lead), math.prod(x.shape[x.ndim - nd:]))
        table, div = flat_table(tables, spatial), divisor.reshape(-1)
        res = avg_pool_numpy(planes, table, div) if backward_to is None else \
            avg_pool_backward_numpy(planes, table, div, math.prod(spatial))
        return res.reshape(lead + (out if backward_to is None else spatial))
    div3 = np.ascontiguousarray(divisor, dtype=x.dtype).reshape((1,) * (3 - nd) + out)
    if backward_to is None:
        planes, tables = _planes3d(x, tables)
        res = np.empty((planes.shape[0],) + div3.shape, dtype=x.dtype)
        _run("avg_pool", planes.size, planes, *tables, div3, res, False)
        return res.reshape(lead + out)
    grad, tables = _planes3d(x, tables)
    result = np.empty(lead + spatial, dtype=x.dtype)  # (owns its memory: a leaf's .grad as is)
    planes = result.reshape((grad.shape[0],) + (1,) * (3 - nd) + spatial)
    _run("avg_pool", planes.size, planes, *tables, div3, grad, True)
    return result


def scatter_planes(g: np.ndarray, indices: np.ndarray, size: int) -> np.ndarray:
    """``scatter_planes_numpy``, by the Numba kernel for float ``g``."""
    if not use_numba(g):
        return scatter_planes_numpy(g, indices, size)
    out = np.empty((g.shape[0], size), dtype=g.dtype)
    _run("scatter_planes", out.size, np.ascontiguousarray(g),
         np.ascontiguousarray(indices, dtype=np.int64), out)
    return out
