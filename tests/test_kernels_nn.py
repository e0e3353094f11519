"""The Numba convolution/pooling kernels against their NumPy references, and the references
against torch (``unfold``/``fold``, ``max_pool``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ember.ops import _kernels_nn as K
from ember.ops.conv import out_size
from ember.ops.pooling import adaptive_table, pool_out_size, window_table

R = np.random.default_rng(0)

# (input shape, kernel, stride, (lo, hi) pads, dilation)
GEOMETRIES = [
    ((2, 3, 7, 6), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ((2, 4, 9, 8), (3, 2), (2, 3), ((2, 0), (1, 2)), (2, 1)),
    ((1, 2, 5, 5), (2, 2), (1, 1), ((0, 1), (0, 1)), (1, 1)),  # padding="same", even kernel
    ((3, 2, 11), (3,), (2,), ((1, 1),), (2,)),
    ((1, 2, 4, 5, 3), (2, 3, 2), (1, 2, 1), ((1, 1), (0, 1), (1, 0)), (1, 1, 2)),
]


def _unfold_args(shape, kernel, stride, pads, dilation):
    out = out_size(shape[2:], kernel, stride, pads, dilation)
    return kernel, stride, tuple(lo for lo, _ in pads), dilation, out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,kernel,stride,pads,dilation", GEOMETRIES)
def test_im2col_col2im_numba_match_numpy(shape, kernel, stride, pads, dilation, dtype):
    args = _unfold_args(shape, kernel, stride, pads, dilation)
    x = R.standard_normal(shape).astype(dtype)
    cols = K.im2col(x, *args)
    np.testing.assert_array_equal(cols, K.im2col_numpy(x, *args))
    g = R.standard_normal(cols.shape).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(K.col2im(g, shape, *args), K.col2im_numpy(g, shape, *args),
                               rtol=tol, atol=tol)


def test_im2col_col2im_non_contiguous_input():
    x = R.standard_normal((5, 6, 3, 2)).transpose(3, 2, 1, 0)  # (2, 3, 6, 5), a view
    args = _unfold_args(x.shape, (2, 3), (1, 2), ((1, 0), (1, 1)), (1, 1))
    np.testing.assert_array_equal(K.im2col(x, *args), K.im2col_numpy(x, *args))
    cols = K.im2col_numpy(x, *args)
    np.testing.assert_allclose(K.col2im(np.asfortranarray(cols), x.shape, *args),
                               K.col2im_numpy(cols, x.shape, *args), rtol=1e-12)


@pytest.mark.parametrize("shape,kernel,stride,pads,dilation",
                         [g for g in GEOMETRIES if len(g[1]) == 2 and g[3][0][0] == g[3][0][1]
                          and g[3][1][0] == g[3][1][1]])
def test_numpy_references_match_torch_unfold_fold(shape, kernel, stride, pads, dilation):
    args = _unfold_args(shape, kernel, stride, pads, dilation)
    x = R.standard_normal(shape)
    kw = dict(kernel_size=kernel, stride=stride, padding=args[2], dilation=dilation)
    expected = torch.nn.functional.unfold(torch.from_numpy(x), **kw).numpy()  # (N, C*K, L)
    cols = K.im2col_numpy(x, *args)  # (C*K, N*L)
    np.testing.assert_array_equal(cols, expected.transpose(1, 0, 2).reshape(cols.shape))
    folded = torch.nn.functional.fold(torch.from_numpy(expected), shape[2:], **kw).numpy()
    np.testing.assert_allclose(K.col2im_numpy(cols, shape, *args), folded, rtol=1e-12,
                               atol=1e-12)


def _pool_tables(spatial, kernel, stride, pad, dilation, ceil_mode):
    tables = []
    for n, k, s, p, d in zip(spatial, kernel, stride, pad, dilation):
        t, v = window_table(n, k, s, p, d, pool_out_size(n, k, s, p, d, ceil_mode))
        tables.append(np.where(v, t, -1))
    return tuple(tables)


POOLS = [((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
         ((2, 3, 7, 6), (3, 2), (2, 1), (1, 1), (2, 1), True),
         ((3, 9), (3,), (2,), (1,), (1,), True),
         ((1, 2, 5, 4, 6), (2, 3, 2), (2, 1, 2), (1, 1, 0), (1, 1, 2), False),
         ((2, 3, 9, 7), (3, 2), (2, 1), (0, 0), (2, 2), False),
         ((1, 2, 9, 8), (3, 3), (1, 2), (1, 1), (1, 1), True),
         ((1, 2, 4, 6, 7), (2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1), True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,kernel,stride,pad,dilation,ceil_mode", POOLS)
def test_max_pool_and_scatter_numba_match_numpy(shape, kernel, stride, pad, dilation,
                                                ceil_mode, dtype):
    nd = len(kernel)
    spatial = shape[-nd:]
    x = R.standard_normal(shape).astype(dtype)
    x.reshape(-1)[::7] = x.reshape(-1)[3]  # ties: the first maximum wins
    x.reshape(-1)[5] = np.nan
    tables = _pool_tables(spatial, kernel, stride, pad, dilation, ceil_mode)
    # regular windows (all of these): max_pool_regular, positions computed, not read
    assert [K._regular(t, n) for t, n in zip(tables, spatial)] == \
        list(zip(kernel, stride, dilation, pad))
    values, indices = K.max_pool(x, tables)
    planes = x.reshape(-1, int(np.prod(spatial)))
    ref_v, ref_i = K.max_pool_numpy(planes, K.flat_table(tables, spatial))
    np.testing.assert_array_equal(values.reshape(ref_v.shape), ref_v)
    np.testing.assert_array_equal(indices.reshape(ref_i.shape), ref_i)
    g = R.standard_normal(ref_v.shape).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(K.scatter_planes(g, ref_i, planes.shape[1]),
                               K.scatter_planes_numpy(g, ref_i, planes.shape[1]), rtol=tol,
                               atol=tol)


def test_max_pool_adaptive_tables_match_numpy():
    """Irregular windows (adaptive 7 -> 4, 5 -> 3): the table kernel."""
    x = R.standard_normal((2, 3, 7, 5))
    tables = tuple(np.where(v, t, -1) for t, v in (adaptive_table(7, 4), adaptive_table(5, 3)))
    assert K._regular(tables[0], 7) is None and K._regular(tables[1], 5) is None
    values, indices = K.max_pool(x, tables)
    ref_v, ref_i = K.max_pool_numpy(x.reshape(6, 35), K.flat_table(tables, (7, 5)))
    np.testing.assert_array_equal(values.reshape(6, -1), ref_v)
    np.testing.assert_array_equal(indices.reshape(6, -1), ref_i)


@pytest.mark.parametrize("pad", [1, 0])
@pytest.mark.parametrize("use_numba", [False, True])
def test_max_pool_nan_and_inf_windows_follow_torch(use_numba, pad):
    x = np.full((1, 1, 4, 4), -np.inf, dtype=np.float32)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 1, 0] = np.nan
    x[0, 0, 2:, 2:] = [[1.0, 3.0], [3.0, 2.0]]
    tables = _pool_tables((4, 4), (2, 2), (2, 2), (pad, pad), (1, 1), False)
    if use_numba:
        values, indices = K.max_pool(x, tables)
    else:
        values, indices = K.max_pool_numpy(x.reshape(1, 16), K.flat_table(tables, (4, 4)))
    expected = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, 2, pad,
                                              return_indices=True)
    np.testing.assert_array_equal(values.reshape(-1), expected[0].numpy().reshape(-1))
    np.testing.assert_array_equal(indices.reshape(-1), expected[1].numpy().reshape(-1))


def test_low_precision_takes_the_numpy_path():
    x = R.standard_normal((1, 2, 5, 5)).astype(np.float16)
    args = _unfold_args(x.shape, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1))
    assert not K.use_numba(x)
    np.testing.assert_array_equal(K.im2col(x, *args), K.im2col_numpy(x, *args))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("center", [True, False])
def test_norm_backward_op_row_kernel_matches_numpy_path(dtype, center):
    """The fused norm backward op: its Numba row path (C-contiguous input, trailing axes)
    and its NumPy path (any layout) give the same three gradients."""
    from ember._dispatch import NULL_CTX
    from ember.ops.normalization import NativeLayerNorm, normalize_array
    axes, shape = (1, 2), (4, 3, 5)
    x = R.standard_normal(shape).astype(dtype)
    w, g = R.standard_normal(shape[1:]).astype(dtype), R.standard_normal(shape).astype(dtype)
    _, mean, rstd = normalize_array(x, axes, 1e-5, center)
    results = []
    for layout in (np.ascontiguousarray, np.asfortranarray):
        results.append(NativeLayerNorm.backward_op.forward(
            NULL_CTX, layout(g), layout(x), w, mean, rstd, axes, 1e-5, center, w.shape))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for fused, reference in zip(*results):
        np.testing.assert_allclose(fused, reference, rtol=tol, atol=tol)


# (input shape, out channels, kernel, stride, (lo, hi) pads, dilation): groups = in channels
DEPTHWISE = [
    ((2, 3, 7, 6), 3, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ((2, 2, 9, 8), 4, (3, 2), (2, 1), ((2, 0), (1, 1)), (2, 1)),   # channel multiplier 2
    ((3, 2, 11), 2, (5,), (2,), ((2, 2),), (1,)),
    ((1, 2, 4, 5, 3), 2, (2, 3, 2), (1, 2, 1), ((1, 1), (0, 1), (1, 0)), (1, 1, 2)),
    # stride 1 (whole planes in the padded pitch, taps three at a time): 25 taps, dilation,
    # uneven padding, multiplier 2; 5 taps in 1-D; 3-D; a kernel larger than the input
    ((2, 3, 10, 9), 6, (5, 5), (1, 1), ((2, 1), (0, 2)), (1, 2)),
    ((2, 2, 13), 2, (5,), (1,), ((0, 3),), (2,)),
    ((1, 2, 4, 5, 6), 2, (2, 3, 2), (1, 1, 1), ((1, 0), (1, 1), (0, 1)), (1, 1, 2)),
    ((2, 4, 3, 3), 4, (7, 7), (1, 1), ((3, 3), (3, 3)), (1, 1)),
    # stride 2 on small maps (windows at every position, every other one kept), dilated,
    # uneven padding, odd sizes; stride 3 (plane_taps)
    ((2, 3, 11, 10), 3, (3, 3), (2, 2), ((1, 2), (2, 1)), (2, 1)),
    ((1, 2, 10, 10), 2, (3, 3), (3, 3), ((1, 1), (1, 1)), (1, 1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,out_channels,kernel,stride,pads,dilation", DEPTHWISE)
def test_depthwise_kernels_match_numpy_and_torch(shape, out_channels, kernel, stride, pads,
                                                 dilation, dtype):
    """The direct depthwise kernels against their NumPy references, and the references
    against torch's grouped convolution (forward, input and weight gradients)."""
    _, _, _, _, out = _unfold_args(shape, kernel, stride, pads, dilation)
    lo = tuple(p for p, _ in pads)
    x = R.standard_normal(shape).astype(dtype)
    w = R.standard_normal((out_channels, 1) + kernel).astype(dtype)
    g = R.standard_normal((shape[0], out_channels) + out).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    results = [
        (K.depthwise_forward(x, w, stride, lo, dilation, out),
         K.depthwise_forward_numpy(x, w, stride, lo, dilation, out)),
        (K.depthwise_input_grad(g, w, shape, stride, lo, dilation),
         K.depthwise_input_grad_numpy(g, w, shape, stride, lo, dilation)),
        (K.depthwise_weight_grad(x, g, w.shape, stride, lo, dilation),
         K.depthwise_weight_grad_numpy(x, g, w.shape, stride, lo, dilation)),
    ]
    for kernel_result, reference in results:
        np.testing.assert_allclose(kernel_result, reference, **tol)
    if all(a == b for a, b in pads):
        conv = getattr(torch.nn.functional, f"conv{len(kernel)}d")
        xt, wt = (torch.from_numpy(a).requires_grad_() for a in (x, w))
        y = conv(xt, wt, stride=stride, padding=lo, dilation=dilation, groups=shape[1])
        y.backward(torch.from_numpy(g))
        for (_, reference), expected in zip(results, (y, xt.grad, wt.grad)):
            np.testing.assert_allclose(reference, expected.detach().numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,kernel,stride,pad,dilation,ceil_mode",
                         [p for p in POOLS if all(d == 1 for d in p[4])])
def test_avg_pool_numba_matches_numpy(shape, kernel, stride, pad, dilation, ceil_mode, dtype):
    """Both directions of the average-pooling kernel against the NumPy references (the
    references against torch: the F.avg_pool conformance entries)."""
    nd = len(kernel)
    spatial = shape[-nd:]
    tables = _pool_tables(spatial, kernel, stride, pad, dilation, ceil_mode)
    out = tuple(t.shape[0] for t in tables)
    divisor = R.integers(1, 5, out).astype(np.float64)
    x = R.standard_normal(shape).astype(dtype)
    g = R.standard_normal(shape[:-nd] + out).astype(dtype)
    planes = x.reshape(-1, int(np.prod(spatial)))
    table = K.flat_table(tables, spatial)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(K.avg_pool(x, tables, divisor).reshape(planes.shape[0], -1),
                               K.avg_pool_numpy(planes, table, divisor.ravel()), rtol=tol,
                               atol=tol)
    back = K.avg_pool(g, tables, divisor, backward_to=spatial)
    np.testing.assert_allclose(back.reshape(planes.shape),
                               K.avg_pool_backward_numpy(g.reshape(planes.shape[0], -1), table,
                                                         divisor.ravel(), planes.shape[1]),
                               rtol=tol, atol=tol)
