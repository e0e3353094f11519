"""Mean and variance over every dim but one (batch norm's per-channel statistics), and the
mean over trailing dims (global average pooling), by Numba.

NumPy's ``var`` over the axes around a kept one (``(0, 2, 3)`` of NCHW) writes the centred
input and its square to two temporaries of the input's size and reduces strided axes; this
kernel reads the input twice (mean, then squared deviations; the mean alone: once) and
writes one value per kept index, accumulating in float64. Imported lazily by ``reductions``
(never by ``import ember``); compiled once and cached on disk.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._threads import sync_numba
from ._parallel import threads_for

sync_numba()

_PARALLEL_MIN = 1 << 16  # elements below which one thread takes a reduction


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _sums(x, means):
    """Per kept index k: the sum of ``x[:, k, :]``, or with ``means`` the sum of squared
    deviations from ``means[k]``. Memory is read in order (the innermost loop runs along
    ``inner``, or along ``kept`` when ``inner`` is 1, so that it vectorises either way)."""
    outer, kept, inner = x.shape
    out = np.zeros(kept, np.float64)
    for o in range(outer):
        if inner == 1:
            for k in range(kept):
                d = x[o, k, 0] - (0.0 if means is None else means[k])
                out[k] += d if means is None else d * d
            continue
        for k in range(kept):
            m, total = 0.0 if means is None else means[k], 0.0
            for i in range(inner):
                d = x[o, k, i] - m
                total += d if means is None else d * d
            out[k] += total
    return out


def _rows(a: np.ndarray, kept: int) -> np.ndarray:
    """``a`` viewed as (outer, kept, inner) around its dim ``kept``."""
    return a.reshape(math.prod(a.shape[:kept]), a.shape[kept], -1)


def mean_around(a: np.ndarray, kept: int) -> np.ndarray:
    """The mean over every dim of ``a`` (a non-empty C-contiguous float32/float64 array) but
    ``kept``: a 1-D array of ``a.shape[kept]`` values in ``a``'s dtype."""
    x = _rows(a, kept)
    return (_sums(x, None) / (x.shape[0] * x.shape[2])).astype(a.dtype)


def var_around(a: np.ndarray, kept: int, denom: int) -> np.ndarray:
    """Sum of squared deviations from the mean over every dim of ``a`` (as ``mean_around``)
    but ``kept``, divided by ``denom`` (> 0): a 1-D array in ``a``'s dtype."""
    x = _rows(a, kept)
    means = _sums(x, None) / (x.shape[0] * x.shape[2])
    return (_sums(x, means) / denom).astype(a.dtype)


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _row_means(x, out, lo, hi):
    """``out[r] = mean(x[r])`` for rows ``lo:hi`` of the (R, N) ``x``, summed in float64."""
    n = x.shape[1]
    for r in range(lo, hi):
        total = 0.0
        for j in range(n):
            total += x[r, j]
        out[r] = total / n


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _row_means_parallel(x, out, parts):
    rows = x.shape[0]
    step = (rows + parts - 1) // parts
    for q in numba.prange(parts):
        _row_means(x, out, q * step, min(rows, (q + 1) * step))


def mean_rows(a: np.ndarray, n: int) -> np.ndarray:
    """The mean over the trailing dims of ``a`` (a non-empty C-contiguous float32/float64
    array) holding ``n`` elements: a 1-D array of ``a.size // n`` values in ``a``'s dtype.
    NumPy's reduction over short trailing axes (a 4x4 plane) is ~10x slower."""
    x = a.reshape(-1, n)
    out = np.empty(x.shape[0], a.dtype)
    parts = min(threads_for(a.size, _PARALLEL_MIN), numba.get_num_threads(), x.shape[0])
    if parts > 1:
        _row_means_parallel(x, out, parts)
    else:
        _row_means(x, out, 0, x.shape[0])
    return out
