"""Numba kernel of cross-entropy's input gradient for class-index targets: per row
``gx = a * softmax(x) - b * onehot(target)`` in one call (the row's max, one exp pass into
a row buffer, its sum, one scaled write), instead of a softmax, a multiply and a scatter
over (M, C) arrays.

Built from the softmax kernels' row helpers (``_kernels_transformer``: the same max,
vectorised exp and sum, so the gradient is the softmax those compute). Imported lazily
by ``loss`` (Numba is never imported by ``import ember``); cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ._kernels_transformer import _FLAGS, _exp_shifted, _parts, _row_max, _sum_own


@numba.njit(**_FLAGS)
def ce_grad_rows(x, target, a, b, gx, lo, hi):
    """Rows ``lo:hi``: ``gx[r] = a[r] * softmax(x[r])``, then ``gx[r, target[r]] -= b[r]``."""
    n = x.shape[1]
    buf = np.empty(n, x.dtype)
    for r in range(lo, hi):
        m = _row_max(x, r)
        _exp_shifted(x, r, m, buf)
        scale = a[r] / _sum_own(buf)
        for j in range(n):
            gx[r, j] = buf[j] * scale
        gx[r, target[r]] -= b[r]


@numba.njit(parallel=True, **_FLAGS)
def _ce_grad_parallel(x, target, a, b, gx, parts):
    rows = x.shape[0]
    step = (rows + parts - 1) // parts
    for q in prange(parts):
        ce_grad_rows(x, target, a, b, gx, q * step, min(rows, (q + 1) * step))


def ce_grad(x: np.ndarray, target: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a[:, None] * softmax(x) - b[:, None] * onehot(target)`` of a C-contiguous float32
    or float64 (M, C) ``x``; ``target`` (M,) int64 in ``[0, C)``, ``a``/``b`` (M,)."""
    gx = np.empty_like(x)
    a, b = a.astype(x.dtype, copy=False), b.astype(x.dtype, copy=False)
    parts = min(_parts(x.size), x.shape[0])
    if parts == 1:
        ce_grad_rows(x, target, a, b, gx, 0, x.shape[0])
    else:
        _ce_grad_parallel(x, target, a, b, gx, parts)
    return gx
