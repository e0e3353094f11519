"""The Numba norm kernels of ember/ops/_kernels_norm.py against the float64 formulas: rows
(layer, RMS, group and instance norm) and channels (batch norm), forward and backward, the
parallel spans against the serial kernel, and one-pass moments of data far from zero; the
group norm op (which groups its input itself) against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.ops import _kernels_norm as K


def _tol(dtype) -> dict:
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _norm_ref(x, w, b, eps, center):
    """Layer norm (RMS norm without centring) of float64 rows."""
    mean = x.mean(1, keepdims=True) if center else np.zeros((x.shape[0], 1))
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(1, keepdims=True) + eps)
    xhat = (x - mean) * rstd
    out = xhat * (1 if w is None else w) + (0 if b is None else b)
    return out, mean[:, 0], rstd[:, 0], xhat


def _norm_backward_ref(g, xhat, rstd, w, center):
    gh = g * (1 if w is None else w)
    inner = gh - xhat * (gh * xhat).mean(1, keepdims=True)
    if center:
        inner = inner - gh.mean(1, keepdims=True)
    return inner * rstd[:, None], (g * xhat).sum(0), g.sum(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_norm_rows(dtype, center, affine):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((300, 24)) * 3 + 1).astype(dtype)  # > _FLUSH rows
    g = rng.standard_normal(x.shape).astype(dtype)
    w = rng.standard_normal(24).astype(dtype) if affine else None
    b = rng.standard_normal(24).astype(dtype) if affine else None
    out, mean, rstd = K.norm(x, w, b, 1e-5, center)
    ref, ref_mean, ref_rstd, xhat = _norm_ref(x.astype(np.float64), w, b, 1e-5, center)
    assert out.dtype == mean.dtype == rstd.dtype == dtype
    np.testing.assert_allclose(out, ref, **_tol(dtype))
    np.testing.assert_allclose(rstd, ref_rstd, **_tol(dtype))
    if center:
        np.testing.assert_allclose(mean, ref_mean, **_tol(dtype))
    grads = K.norm_backward(g, x, w, mean if center else np.zeros_like(mean), rstd, center)
    expected = _norm_backward_ref(g.astype(np.float64), xhat, ref_rstd, w, center)
    for got, want in zip(grads, expected):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=_tol(dtype)["rtol"],
                                   atol=_tol(dtype)["atol"] * 30)  # (sums of 300 rows)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_far_from_zero(dtype):
    """One-pass shifted moments: values near 1000 with unit spread (the unshifted sum of
    squares would lose the variance entirely in float32)."""
    rng = np.random.default_rng(6)
    x = (1000 + rng.standard_normal((4, 4096))).astype(dtype)
    _, mean, rstd = K.norm(x, None, None, 1e-5, True)
    _, _, bn_rstd = K.batch_norm(np.ascontiguousarray(x.T).reshape(1, 4096, 4), None, None,
                                 1e-5)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(1), rtol=1e-6)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(x64.var(1) + 1e-5), rtol=1e-4)
    np.testing.assert_allclose(bn_rstd, 1 / np.sqrt(x64.T.var(1) + 1e-5), rtol=1e-4)


def _grouped_norm_ref(x, w, b, groups, eps):
    """Group norm of (N, C, L) float64 ``x`` (per-channel affine): statistics over each
    group's channels and L."""
    xg = x.reshape(x.shape[0], groups, -1)
    mean = xg.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(xg.var(-1, keepdims=True) + eps)
    xhat = ((xg - mean) * rstd).reshape(x.shape)
    return xhat * w[:, None] + b[:, None], xhat, rstd


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 2, 6])
def test_grouped_norm_rows(dtype, groups):
    """Rows with a parameter per group of columns (group norm: P groups of K channels of
    L values; instance norm when K = 1)."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((3, 6, 10)) * 2 + 1).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    w, b = (rng.standard_normal(6).astype(dtype) for _ in range(2))
    out, mean, rstd = K.norm(x.reshape(3 * groups, -1), w, b, 1e-5, True, groups)
    ref, xhat, ref_rstd = _grouped_norm_ref(x.astype(np.float64), w, b, groups, 1e-5)
    np.testing.assert_allclose(out.reshape(x.shape), ref, **_tol(dtype))
    np.testing.assert_allclose(rstd, ref_rstd.reshape(-1), **_tol(dtype))
    gx, gw, gb = K.norm_backward(g.reshape(out.shape), x.reshape(out.shape), w, mean, rstd,
                                 True, groups, 6)
    g64 = g.astype(np.float64)
    np.testing.assert_allclose(gw, (g64 * xhat).sum((0, 2)), **_tol(dtype))
    np.testing.assert_allclose(gb, g64.sum((0, 2)), **_tol(dtype))
    gh = (g64 * w[:, None]).reshape(3, groups, -1)
    xh = xhat.reshape(gh.shape)
    ref_gx = (gh - gh.mean(-1, keepdims=True) - xh * (gh * xh).mean(-1, keepdims=True)) * \
        ref_rstd
    np.testing.assert_allclose(gx.reshape(x.shape), ref_gx.reshape(x.shape), **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("length", [1, 7])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("rows", [9, 600])
def test_batch_norm_channels(dtype, length, affine, rows):
    """Statistics per channel over dims 0 and 2 (the (N, C) case runs row by row, its
    column sums flushed to float64 every ``_FLUSH`` rows: 600 rows cross two flushes)."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((rows, 4, length)) * 2 + 1).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    w, b = (rng.standard_normal(4).astype(dtype) if affine else None for _ in range(2))
    out, mean, rstd = K.batch_norm(x, w, b, 1e-5)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    ref_mean = x64.mean((0, 2))
    ref_rstd = 1 / np.sqrt(x64.var((0, 2)) + 1e-5)
    xhat = (x64 - ref_mean[:, None]) * ref_rstd[:, None]
    w1, b0 = (w, b) if affine else (np.ones(4), np.zeros(4))
    np.testing.assert_allclose(out, xhat * w1[:, None] + b0[:, None], **_tol(dtype))
    np.testing.assert_allclose(mean, ref_mean, **_tol(dtype))
    np.testing.assert_allclose(rstd, ref_rstd, **_tol(dtype))
    gx, gw, gb = K.batch_norm_backward(g, x, w, mean, rstd)
    np.testing.assert_allclose(gw, (g64 * xhat).sum((0, 2)), **_tol(dtype))
    np.testing.assert_allclose(gb, g64.sum((0, 2)), **_tol(dtype))
    cnt = x.shape[0] * length
    ref_gx = (g64 - gb[:, None] / cnt - xhat * gw[:, None] / cnt) * (w1 * ref_rstd)[:, None]
    np.testing.assert_allclose(gx, ref_gx, **_tol(dtype))


@pytest.mark.parametrize("parts", [2, 5])
def test_rows_parallel_spans(parts):
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal((23, 16)), rng.standard_normal((23, 16))
    w, b = rng.standard_normal(16), rng.standard_normal(16)
    out, mean, rstd = K.norm(x, w, b, 1e-5, True)
    pout, pmean, prstd = np.empty_like(x), np.empty(23), np.empty(23)
    K._norm_parallel(x, w, b, pout, pmean, prstd, 1e-5, True, 1, 16, parts)
    np.testing.assert_array_equal(pout, out)
    gx, gw, gb = K.norm_backward(g, x, w, mean, rstd, True)
    pgx, pgw, pgb = np.empty_like(x), np.zeros((parts, 16)), np.zeros((parts, 16))
    K._norm_backward_parallel(g, x, w, mean, rstd, pgx, pgw, pgb, True, 1, 16, parts)
    np.testing.assert_array_equal(pgx, gx)
    np.testing.assert_allclose(pgw.sum(0), gw, rtol=1e-13)
    np.testing.assert_allclose(pgb.sum(0), gb, rtol=1e-13)


@pytest.mark.parametrize("length", [1, 5])
def test_channels_parallel_spans(length):
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((6, 11, length)), rng.standard_normal((6, 11, length))
    w, b = rng.standard_normal(11), rng.standard_normal(11)
    out, mean, rstd = K.batch_norm(x, w, b, 1e-5)
    pout, pmean, prstd = np.empty_like(x), np.empty(11), np.empty(11)
    K._norm_channels_parallel(x, w, b, pout, pmean, prstd, 1e-5, 3)
    np.testing.assert_array_equal(pout, out)
    gx, gw, gb = K.batch_norm_backward(g, x, w, mean, rstd)
    pgx, pgw, pgb = np.empty_like(x), np.empty(11), np.empty(11)
    K._norm_channels_backward_parallel(g, x, w, mean, rstd, pgx, pgw, pgb, 3)
    np.testing.assert_array_equal(pgx, gx)
    np.testing.assert_array_equal(pgw, gw)
    np.testing.assert_array_equal(pgb, gb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_stats(dtype):
    """Batch norm's running statistics: mean and biased variance per channel of (N, C, L)
    in one pass (values far from zero: shifted moments)."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((5, 3, 9)) * 2 + 100).astype(dtype)
    mean, var = K.channel_stats(x)
    assert mean.dtype == var.dtype == dtype
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean((0, 2)), rtol=1e-6 if dtype == np.float32
                               else 1e-13)
    np.testing.assert_allclose(var, x64.var((0, 2)), rtol=1e-4 if dtype == np.float32
                               else 1e-10)


@pytest.mark.parametrize("shape", [(6, 4, 3, 5), (7, 4)])
def test_batch_norm_running_stats_match_torch(shape):
    """Training batch norm's in-place running statistics (the one-pass kernel for (N, C,
    L...) input, NumPy's mean and variance for (N, C)) against torch's."""
    torch = pytest.importorskip("torch")
    import ember

    x = np.random.default_rng(8).standard_normal(shape).astype(np.float32) * 3 + 2
    stats = {}
    for lib in (ember, torch):
        rm, rv = lib.zeros(shape[1]), lib.ones(shape[1])
        lib.nn.functional.batch_norm(lib.from_numpy(x.copy()), rm, rv, training=True,
                                     momentum=0.3)
        stats[lib.__name__] = (rm.numpy(), rv.numpy())
    for got, want in zip(stats["ember"], stats["torch"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,groups", [((4, 6, 5, 3), 3), ((5, 8), 4), ((2, 6, 7), 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_op_matches_torch(shape, groups, affine):
    """``NativeGroupNorm`` groups the (N, C, *) input inside the op: output, input and
    per-channel (C,) parameter gradients against torch, for 2-D to 4-D inputs."""
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    params = [rng.standard_normal(shape[1]).astype(np.float32) for _ in range(2)]
    results = {}
    for name, lib in (("ember", ember), ("torch", torch)):
        xt = lib.from_numpy(x.copy()).requires_grad_()
        wb = [lib.from_numpy(p.copy()).requires_grad_() for p in params] if affine else []
        out = lib.nn.functional.group_norm(xt, groups, *wb, eps=1e-5)
        out.backward(lib.from_numpy(g))
        results[name] = [out.detach().numpy(), xt.grad.numpy(), *(p.grad.numpy() for p in wb)]
    for got, want in zip(results["ember"], results["torch"], strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
