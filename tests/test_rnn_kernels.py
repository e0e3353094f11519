"""The float32 sigmoid of the recurrent kernels (``ember.ops._kernels_rnn._sigmoid32``)
against float64's exact value: absolute error within 1.2e-7 over all of float32's range
(every magnitude from 1e-6 to 1e4, both signs), and the limits (0 and 1 at +-inf, NaN
through)."""

from __future__ import annotations

import numba
import numpy as np

from ember.ops import _kernels_rnn


@numba.njit(cache=False)
def _apply(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = _kernels_rnn._sigmoid32(x[i])
    return out


def test_sigmoid32_matches_float64():
    mags = np.geomspace(1e-6, 1e4, 400_000)
    x = np.concatenate([-mags[::-1], [0.0], mags, np.linspace(-20, 20, 100_001)])
    x = x.astype(np.float32)
    got = _apply(x)
    assert got.dtype == np.float32
    exact = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    assert np.max(np.abs(got - exact)) < 1.2e-7
    edge = _apply(np.array([np.inf, -np.inf, np.nan, 88.7, -88.7], np.float32))
    assert edge[0] == 1.0 and 0.0 <= edge[1] < 1e-37 and np.isnan(edge[2])
    assert edge[3] == 1.0 and edge[4] < 1e-37
