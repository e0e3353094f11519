"""Fused softmax / log_softmax kernels (forward and backward) along one dim.

``softmax*_numpy`` are the references; the Numba kernels handle the hot case (float32 or
float64, reducing the last, contiguous dim) and are compiled on first use (``cache=True``).
This module is imported lazily by ``reductions.py``; Numba only inside ``_numba()``.
"""

from __future__ import annotations

import numpy as np

# Below this the NumPy version is as fast (its float32 exp is SIMD, the kernel's scalar),
# and the parallel kernel's worker threads, spinning after each call, starve BLAS's on a
# machine with few or shared cores (gpt_generate ran 4x slower with 4096 here).
_NUMBA_MIN_SIZE = 1 << 21
_KERNELS = None


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


def _numba():
    """Compile (or load from cache) the row kernels on first use."""
    global _KERNELS
    if _KERNELS is None:
        import numba

        @numba.njit(parallel=True, cache=True, fastmath=False)
        def forward(x, out, log):
            rows, n = x.shape
            for r in numba.prange(rows):
                m = -np.inf
                for j in range(n):
                    m = max(m, x[r, j])
                s = 0.0
                for j in range(n):
                    e = np.exp(x[r, j] - m)
                    out[r, j] = e
                    s += e
                if log:
                    ls = np.log(s)
                    for j in range(n):
                        out[r, j] = x[r, j] - m - ls
                else:
                    inv = 1.0 / s
                    for j in range(n):
                        out[r, j] *= inv

        @numba.njit(parallel=True, cache=True, fastmath=False)
        def backward(g, y, out, log):
            rows, n = g.shape
            for r in numba.prange(rows):
                s = 0.0
                if log:
                    for j in range(n):
                        s += g[r, j]
                    for j in range(n):
                        out[r, j] = g[r, j] - np.exp(y[r, j]) * s
                else:
                    for j in range(n):
                        s += g[r, j] * y[r, j]
                    for j in range(n):
                        out[r, j] = y[r, j] * (g[r, j] - s)

        _KERNELS = forward, backward
    return _KERNELS


def _use_numba(*arrays: np.ndarray, dim: int) -> bool:
    x = arrays[0]
    return (x.size >= _NUMBA_MIN_SIZE and dim == x.ndim - 1
            and all(a.dtype == x.dtype and a.flags.c_contiguous for a in arrays)
            and x.dtype in (np.float32, np.float64))


def softmax_numba(x: np.ndarray, log: bool) -> np.ndarray:
    """(log-)softmax over the last dim of a C-contiguous float32/float64 array."""
    out = np.empty_like(x)
    _numba()[0](x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1]), log)
    return out


def softmax_backward_numba(g: np.ndarray, y: np.ndarray, log: bool) -> np.ndarray:
    out = np.empty_like(g)
    n = g.shape[-1]
    _numba()[1](g.reshape(-1, n), y.reshape(-1, n), out.reshape(-1, n), log)
    return out


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
