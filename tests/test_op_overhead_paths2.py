"""The short paths of the second round of per-op overhead cuts (layer norm's arrays,
matmul's and linear's checks, softmax, argmax, embedding's index check, add) give torch's
results: values, dtypes, shapes, strides, gradients and errors, against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _pair(arr: np.ndarray):
    return ember.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


def _close(got, want, tol) -> None:
    assert tuple(got.shape) == tuple(want.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,norm", [((1, 1, 128), (128,)), ((3, 5, 7), (7,)),
                                        ((2, 3, 4), (3, 4)), ((0, 6), (6,)), ((5,), (5,)),
                                        ((2, 1, 3), (1, 3))])
@pytest.mark.parametrize("params", ["both", "weight", "bias", "none", "strided"])
@pytest.mark.parametrize("transposed", [False, True])
def test_layer_norm_rows(dtype, shape, norm, params, transposed):
    """layer_norm's kernel call told in a few compares (contiguous parameters of the
    normalised shape): forward and gradients as torch's, other layouts the general path."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    ex, tx = _pair(x)
    if transposed and len(shape) >= 2:
        ex, tx = ex.transpose(0, -1).contiguous().transpose(0, -1), \
            tx.transpose(0, -1).contiguous().transpose(0, -1)
    ex.requires_grad_()
    tx.requires_grad_()
    w = rng.standard_normal(norm).astype(dtype)
    b = rng.standard_normal(norm).astype(dtype)
    if params == "strided":
        w2 = rng.standard_normal(norm + (2,)).astype(dtype)
        (ew, tw) = _pair(w2)
        ew, tw = ew[..., 0], tw[..., 0]
        eb, tb = None, None
    else:
        ew, tw = _pair(w) if params in ("both", "weight") else (None, None)
        eb, tb = _pair(b) if params in ("both", "bias") else (None, None)
    for t in (ew, tw, eb, tb):
        if t is not None:
            t.requires_grad_()
    got = ember.nn.functional.layer_norm(ex, norm, ew, eb)
    want = torch.nn.functional.layer_norm(tx, norm, tw, tb)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    _close(got, want, tol)
    if not transposed:  # (a transposed input takes NumPy's path, which keeps its layout)
        assert got.stride() == want.stride()
    g = rng.standard_normal(shape).astype(dtype)
    got.backward(ember.from_numpy(g))
    want.backward(torch.from_numpy(g))
    _close(ex.grad, tx.grad, tol * 100)
    for e, t in ((ew, tw), (eb, tb)):
        if e is not None:
            _close(e.grad, t.grad, tol * 100)


def test_layer_norm_meta_and_half():
    """The meta device and other dtypes keep their paths."""
    x = ember.ones(2, 3, 8, device="meta")
    out = ember.nn.functional.layer_norm(x, (8,), ember.ones(8, device="meta"))
    assert out.shape == (2, 3, 8) and out.device.type == "meta"
    a = np.random.default_rng(2).standard_normal((4, 8)).astype(np.float16)
    ex, tx = _pair(a)
    _close(ember.nn.functional.layer_norm(ex, (8,), ember.ones(8, dtype=ember.float16)),
           torch.nn.functional.layer_norm(tx, (8,), torch.ones(8, dtype=torch.float16)), 2e-3)


@pytest.mark.parametrize("shapes", [((1, 4, 3, 5), (1, 4, 5, 2)), ((4, 3, 5), (5, 2)),
                                    ((3, 5), (2, 5, 4)), ((2, 1, 3, 5), (4, 5, 2)),
                                    ((1, 4, 3, 5), (2, 1, 5, 2)), ((5,), (2, 5, 3)),
                                    ((2, 3, 5), (5,)), ((0, 3, 5), (0, 5, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_matmul_batches(shapes, dtype):
    """The batch size read without np.broadcast_shapes when the batches match or one
    has none: torch's values and shapes, also with out= and through mm/bmm/dot."""
    rng = np.random.default_rng(3)
    a = (rng.standard_normal(shapes[0]) * 3).astype(dtype)
    b = (rng.standard_normal(shapes[1]) * 3).astype(dtype)
    (ea, ta), (eb, tb) = _pair(a), _pair(b)
    _close(ea @ eb, ta @ tb, 1e-5)
    _close(ember.matmul(ea, eb), torch.matmul(ta, tb), 1e-5)
    eo, to = ember.from_numpy(np.zeros(1, dtype)), torch.zeros(1, dtype=ta.dtype)
    ember.matmul(ea, eb, out=eo)
    torch.matmul(ta, tb, out=to)
    _close(eo, to, 1e-5)


def test_matmul_type_errors():
    """Arguments that are not tensors: torch's TypeError, for each of the products."""
    e, t = ember.ones(2, 2), torch.ones(2, 2)
    for name in ("matmul", "mm", "bmm", "dot", "outer"):
        for args_e, args_t in (((e, 1.0), (t, 1.0)), (([1.0], e), ([1.0], t))):
            with pytest.raises(TypeError) as want:
                getattr(torch, name)(*args_t)
            with pytest.raises(TypeError) as got:
                getattr(ember, name)(*args_e)
            assert str(got.value) == str(want.value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape", [(1, 4, 1, 1), (1, 4, 7, 7), (3, 5), (6,), (), (2, 0, 3)])
@pytest.mark.parametrize("dim", [-1, "last", 0])
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("strided", [False, True])
def test_softmax_rows(dtype, shape, dim, log, strided):
    """Softmax of the last dim of a contiguous float32/64 input goes straight to the row
    kernel: torch's values, strides and gradients; other calls keep their path."""
    rng = np.random.default_rng(4)
    a = np.asarray(rng.standard_normal(shape)).astype(dtype)
    if a.ndim and a.size:
        a[..., :1] = -np.inf
    ea, ta = _pair(a)
    if strided and a.ndim >= 2:
        ea, ta = ea.transpose(0, -1), ta.transpose(0, -1)
    d = max(ea.ndim - 1, 0) if dim == "last" else dim
    ea.requires_grad_(dtype != np.float16)
    ta.requires_grad_(dtype != np.float16)
    name = "log_softmax" if log else "softmax"
    got = getattr(ember.nn.functional, name)(ea, dim=d)
    want = getattr(torch.nn.functional, name)(ta, dim=d)
    tol = 2e-3 if dtype == np.float16 else 1e-5 if dtype == np.float32 else 1e-12
    _close(got, want, tol)
    if not strided:  # (a strided input takes NumPy's path, which keeps its layout)
        assert got.stride() == want.stride()
    if dtype != np.float16 and a.size:
        g = rng.standard_normal(got.shape).astype(dtype)
        got.backward(ember.from_numpy(g))
        want.backward(torch.from_numpy(g))
        _close(ea.grad, ta.grad, tol * 10)
    _close(getattr(ea, name)(d, dtype=ember.float64), getattr(ta, name)(d, dtype=torch.float64),
           tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
@pytest.mark.parametrize("shape", [(1, 96), (3, 5, 4), (7,), (), (0, 3), (3, 0)])
@pytest.mark.parametrize("dim", [-1, 0, 1, 3, None])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin(dtype, shape, dim, keepdim):
    """argmax/argmin's short path (a valid dim of a non-empty input): torch's indices,
    ties and NaN included; torch's errors for the others."""
    rng = np.random.default_rng(5)
    a = np.asarray((rng.standard_normal(shape) * 2).round())
    if dtype == np.float32 and a.size > 2:
        a.reshape(-1)[2] = np.nan
    a = a.astype(dtype) if dtype != np.bool_ else np.asarray(a > 0)
    ea, ta = _pair(a)
    for name in ("argmax", "argmin"):
        try:
            want = getattr(ta, name)(dim, keepdim=keepdim)
        except (RuntimeError, IndexError) as exc:
            with pytest.raises(type(exc)):
                getattr(ea, name)(dim, keepdim=keepdim)
            continue
        got = getattr(ea, name)(dim, keepdim=keepdim)
        _close(got, want, 0)


@pytest.mark.parametrize("n", [0, 1, 5, 16, 17, 40])
@pytest.mark.parametrize("idx_dtype", [np.int64, np.int32, np.uint8, np.int16, np.int8])
@pytest.mark.parametrize("bad", [None, "negative", "past", "far_negative"])
@pytest.mark.parametrize("transposed", [False, True])
def test_embedding_indices(n, idx_dtype, bad, transposed):
    """Embedding's index check (Python ints for a few indices, one unsigned max for more)
    and its gather (take): torch's rows, strides and gradient, torch's IndexError for an
    index out of range either side."""
    rng = np.random.default_rng(6)
    w = rng.standard_normal((12, 7) if not transposed else (7, 12)).astype(np.float32)
    i = rng.integers(0, 12, (2, n)).astype(idx_dtype)
    if bad and n and not (np.dtype(idx_dtype).kind == "u" and "negative" in bad):
        i[1, n // 2] = {"negative": -1, "past": 12, "far_negative": -100}[bad]
    ew, tw = _pair(w)
    if transposed:
        ew, tw = ew.t(), tw.t()
    ew.requires_grad_()
    tw.requires_grad_()
    ei = ember.from_numpy(i.copy())
    ti = torch.from_numpy(i.astype(np.int64))
    try:
        want = torch.nn.functional.embedding(ti, tw)
    except IndexError as exc:
        with pytest.raises(IndexError) as got:
            ember.nn.functional.embedding(ei, ew)
        assert str(got.value) == str(exc)
        return
    got = ember.nn.functional.embedding(ei, ew)
    _close(got, want, 0)
    assert got.stride() == want.stride()
    g = rng.standard_normal(got.shape).astype(np.float32)
    got.backward(ember.from_numpy(g))
    want.backward(torch.from_numpy(g))
    _close(ew.grad, tw.grad, 1e-6)


@pytest.mark.parametrize("lead", [(), (1,), (4,), (1, 1), (1, 8), (9,), (1, 16), (2, 17), (33,)])
@pytest.mark.parametrize("out_features", [96, 384, 1100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("strided", [False, True])
def test_linear_rows(lead, out_features, dtype, bias, strided):
    """linear's forward without the reshape of a 2-D input and with _blas.matmul's
    few-rows tests behind cheap compares: torch's values, shapes, strides and grads for
    1 to 34 rows (the few-rows kernel, the turned-round product, BLAS)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(lead + (64 * (2 if strided else 1),)).astype(dtype)
    w = rng.standard_normal((out_features, 64)).astype(dtype)
    b = rng.standard_normal(out_features).astype(dtype)
    (ex, tx), (ew, tw), (eb, tb) = _pair(x), _pair(w), _pair(b)
    if strided:
        ex, tx = ex[..., ::2], tx[..., ::2]
    for t in (ex, tx, ew, tw, eb, tb):
        t.requires_grad_()
    got = ember.nn.functional.linear(ex, ew, eb if bias else None)
    want = torch.nn.functional.linear(tx, tw, tb if bias else None)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    _close(got, want, tol)
    assert got.stride() == want.stride()
    g = rng.standard_normal(got.shape).astype(dtype)
    got.backward(ember.from_numpy(g))
    want.backward(torch.from_numpy(g))
    for e, t in ((ex, tx), (ew, tw)) + (((eb, tb),) if bias else ()):
        _close(e.grad, t.grad, tol * 10)


@pytest.mark.parametrize("norm", [(8,), [8], 8, (2, 8), (4,), (1, 2, 8), (), (8.0,)])
@pytest.mark.parametrize("wshape", [None, (8,), (4,), (2, 8)])
def test_layer_norm_shape_checks(norm, wshape):
    """layer_norm's shape check told by tuple compares for the usual call: torch's
    results, and torch's errors for the others (lists, mismatches)."""
    x = np.random.default_rng(8).standard_normal((2, 8)).astype(np.float32)
    ex, tx = _pair(x)
    ew = None if wshape is None else ember.ones(*wshape)
    tw = None if wshape is None else torch.ones(*wshape)
    try:
        want = torch.nn.functional.layer_norm(tx, norm, tw)
    except TypeError:
        pytest.skip("torch's argument parser rejects it; ember takes ints (both paths)")
    except RuntimeError as exc:
        with pytest.raises(RuntimeError) as got:
            ember.nn.functional.layer_norm(ex, norm, ew)
        assert str(got.value) == str(exc)
        return
    _close(ember.nn.functional.layer_norm(ex, norm, ew), want, 1e-5)
