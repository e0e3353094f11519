"""Fused softmax / log_softmax kernels (forward and backward) along one dim.

``softmax*_numpy`` are the references; the Numba row kernels (``_kernels_transformer``,
shared with attention) handle the hot case: float32 or float64, reducing the last,
contiguous dim. This module is imported lazily by ``reductions.py``; Numba only inside
``softmax*_numba``.
"""

from __future__ import annotations

import numpy as np


def softmax_numpy(x: np.ndarray, dim: int, log: bool) -> np.ndarray:
    """Stable (log-)softmax: the max is subtracted before exponentiating."""
    acc = x.astype(np.float32) if x.dtype.itemsize < 4 else x
    m = np.amax(acc, axis=dim, keepdims=True) if acc.size else acc
    shifted = acc - m  # an inf max makes the row nan, as in torch
    e = np.exp(shifted)
    s = np.sum(e, axis=dim, keepdims=True)
    out = shifted - np.log(s) if log else e / s
    return out.astype(x.dtype, copy=False)


def softmax_backward_numpy(g: np.ndarray, y: np.ndarray, dim: int, log: bool) -> np.ndarray:
    """softmax: ``y * (g - sum(g * y))``; log_softmax: ``g - exp(y) * sum(g)``."""
    if log:
        return g - np.exp(y) * np.sum(g, axis=dim, keepdims=True)
    return y * (g - np.sum(g * y, axis=dim, keepdims=True))


def _use_numba(*arrays: np.ndarray, dim: int) -> bool:
    x = arrays[0]
    return (x.size > 0 and dim == x.ndim - 1
            and all(a.dtype == x.dtype and a.flags.c_contiguous for a in arrays)
            and x.dtype in (np.float32, np.float64))


def softmax_numba(x: np.ndarray, log: bool) -> np.ndarray:
    """(log-)softmax over the last dim of a C-contiguous float32/float64 array."""
    from . import _kernels_transformer as K
    return K.softmax(x, log)


def softmax_backward_numba(g: np.ndarray, y: np.ndarray, log: bool) -> np.ndarray:
    from . import _kernels_transformer as K
    return K.softmax_backward(g, y, log)


def softmax(x: np.ndarray, dim: int, log: bool) -> np.ndarray:
    if not x.ndim:
        return softmax_numpy(x.reshape(1), 0, log).reshape(())
    if _use_numba(x, dim=dim):
        return softmax_numba(x, log)
    return softmax_numpy(x, dim, log)


def softmax_backward(g: np.ndarray, y: np.ndarray, dim: int, log: bool) -> np.ndarray:
    if not g.ndim:
        return softmax_backward_numpy(g.reshape(1), y.reshape(1), 0, log).reshape(())
    if _use_numba(g, y, dim=dim):
        return softmax_backward_numba(g, y, log)
    return softmax_backward_numpy(g, y, dim, log)
