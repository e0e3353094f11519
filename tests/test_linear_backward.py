"""``Linear``'s backward as one op (``LinearBackward``): gradients, the outputs not asked
for, and gradients of gradients, against torch; the weight gradient of one row (an outer
product) as a broadcast multiply; the split paths on several threads (gradients side by side,
outer products in row blocks, the forward's bias inside the split GEMM)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _pair(arrays, grads):
    e = [ember.from_numpy(a.copy()).requires_grad_(r) for a, r in zip(arrays, grads)]
    t = [torch.from_numpy(a.copy()).requires_grad_(r) for a, r in zip(arrays, grads)]
    return e, t


@pytest.mark.parametrize("x_shape", [(6, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_grad", [True, False])
def test_linear_gradients_and_second_order_match_torch(x_shape, bias, x_grad):
    """First and second derivatives (through ``create_graph``) of a loss of the
    gradients, in float64, also where the input needs no gradient."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((4, 5))]
    arrays += [rng.standard_normal(4)] if bias else []
    e, t = _pair(arrays, [x_grad, True, True])
    results = []
    for lib, ts in ((ember, e), (torch, t)):
        out = lib.nn.functional.linear(*ts)
        up = lib.from_numpy(np.cos(np.arange(out.numel(), dtype=np.float64)).reshape(
            tuple(out.shape)))
        wanted = [x for x in ts if x.requires_grad]
        grads = lib.autograd.grad((out * out).sum(), wanted, create_graph=True)
        loss = sum(((g * g).sum() for g in grads), (out * up).sum())
        loss.backward()
        results.append([g.detach().numpy() for g in grads] + [x.grad.numpy() for x in wanted])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_unrequested_outputs_are_free_broadcasts():
    """The input's gradient of a first layer is not computed: the op's output is a
    read-only zero broadcast, and the input gets no gradient."""
    from ember.ops.linalg import LinearBackward
    rng = np.random.default_rng(1)
    g, x, w = (ember.from_numpy(rng.standard_normal(s).astype(np.float32))
               for s in ((7, 3), (7, 4), (3, 4)))
    gx, gw, gb = LinearBackward.apply(g, x, w, False, True, True)
    assert gx._data.strides == (0, 0) and not gx._data.any()
    np.testing.assert_allclose(gw.numpy(), g.numpy().T @ x.numpy(), rtol=1e-5)
    np.testing.assert_allclose(gb.numpy(), g.numpy().sum(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("a_shape, b_shape", [((5, 1), (1, 4)), ((3, 5, 1), (1, 4)),
                                              ((5, 1), (2, 1, 4)), ((2, 3, 5, 1), (3, 1, 4))])
def test_outer_products_as_broadcast_products(a_shape, b_shape):
    """A product with one step of depth (the weight gradient of a linear layer on one row)
    is a broadcast multiply: NumPy's matmul result, C-contiguous; a depth mismatch still
    fails."""
    from ember.ops import _blas
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    got = _blas.matmul(a, b)
    np.testing.assert_array_equal(got, np.matmul(a, b))
    assert got.flags.c_contiguous
    assert _blas.matmul(a.swapaxes(-1, -2).copy().swapaxes(-1, -2), b).flags.c_contiguous
    with pytest.raises(ValueError):
        _blas.matmul(np.ones((2, 1)), np.ones((2, 3)))


@pytest.mark.parametrize("threads", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, bias", [((37, 20), True), ((3, 11, 20), False),
                                           ((9, 20), True)])
def test_gradients_side_by_side_match_torch(monkeypatch, threads, dtype, x_shape, bias):
    """On several threads ``g @ W`` and ``g^T @ x`` (with the bias's sum) run side by side
    (``_kernels_gemm.linear_grads``, each product in row blocks); the gradients equal
    torch's, the input's is an array of its own in the input's shape (a leaf keeps it
    without a copy), and a non-contiguous upstream gradient is read right."""
    from ember.ops import _blas, _kernels_gemm
    monkeypatch.setattr(_blas, "threads_for", lambda work, threshold: threads)
    calls = []
    real = _kernels_gemm.linear_grads
    monkeypatch.setattr(_kernels_gemm, "linear_grads",
                        lambda *a: calls.append(a[4]) or real(*a))
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(x_shape).astype(dtype),
              rng.standard_normal((13, 20)).astype(dtype)]
    arrays += [rng.standard_normal(13).astype(dtype)] if bias else []
    up = rng.standard_normal(x_shape[:-1] + (26,)).astype(dtype)[..., ::2]  # strided
    e, t = _pair(arrays, [True] * len(arrays))
    for lib, ts in ((ember, e), (torch, t)):
        lib.nn.functional.linear(*ts).backward(lib.from_numpy(up))
    assert calls == [threads]
    assert e[0].grad._data.base is None and e[0].grad.shape == x_shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(e, t, strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outer_product_on_threads_equals_numpy(monkeypatch, dtype):
    """A big outer product on several threads (``_kernels_gemm.outer``, blocks of rows,
    one with fewer rows) equals NumPy's broadcast product exactly, strided operands too."""
    from ember.ops import _blas
    monkeypatch.setattr(_blas, "threads_for", lambda work, threshold: 3)
    rng = np.random.default_rng(4)
    a = rng.standard_normal((40, 2)).astype(dtype)[:, :1]
    b = rng.standard_normal((1, 66)).astype(dtype)[:, ::2]
    got = _blas.matmul(a, b)
    np.testing.assert_array_equal(got, a * b)
    assert got.flags.c_contiguous and got.dtype == dtype


@pytest.mark.parametrize("views", [False, True])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, out_features", [((100, 20), 13), ((2, 20, 20), 300)])
def test_forward_bias_inside_split_gemm_matches_torch(monkeypatch, threads, dtype, x_shape,
                                                      out_features, views):
    """The bias goes inside the GEMM (``_blas.linear``): on several threads copied into
    each block of the split GEMM, which BLAS adds the product to (blocks of rows, more
    rows than columns, and of columns), on one thread as the whole result BLAS adds to;
    a strided bias, input and weight as views (a column slice, a transpose), equal to
    torch."""
    from ember.ops import _blas
    monkeypatch.setattr(_blas, "threads_for", lambda work, threshold: threads)
    monkeypatch.setattr(_blas, "FOLD_FLOPS", 0)  # (a small layer: matmul and a sum, else)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((out_features, 20)).astype(dtype)
    if views:
        x = rng.standard_normal(x_shape[:-1] + (30,)).astype(dtype)[..., 5:25]
        w = np.asfortranarray(w)
    b = rng.standard_normal(2 * out_features).astype(dtype)[::2]
    assert _blas.linear(x.reshape(-1, 20), w, b) is not None
    got = ember.nn.functional.linear(*(ember.from_numpy(a) for a in (x, w, b))).numpy()
    want = torch.nn.functional.linear(*(torch.from_numpy(a) for a in (x, w, b))).numpy()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
