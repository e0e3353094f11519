"""The short paths taken to cut per-op Python overhead (generation-sized tensors) give
torch's results: values, dtypes, shapes and strides, against torch as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _pair(arr: np.ndarray):
    return ember.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


def _same(got, want) -> None:
    assert tuple(got.shape) == tuple(want.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    assert got.stride() == want.stride()
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
@pytest.mark.parametrize("shapes", [((1, 4, 5, 5), (5, 5)), ((2, 3), (2, 3)), ((3,), ()),
                                    ((0, 4), (4,)), ((2, 3), (1, 3)), ((1, 3), (2, 3)),
                                    ((), ()), ((2, 1, 3), (4, 3))])
@pytest.mark.parametrize("transposed_mask", [False, True])
def test_masked_fill(dtype, shapes, transposed_mask):
    rng = np.random.default_rng(0)
    a_shape, m_shape = shapes
    a = np.asarray(rng.standard_normal(a_shape) * 5).astype(dtype)
    m = np.asarray(rng.random(m_shape) > 0.5)
    if transposed_mask:  # the same mask, laid out in Fortran order
        m = np.asfortranarray(m)
    value = True if dtype == np.bool_ else 3 if dtype == np.int64 else float("-inf")
    ea, ta = _pair(a)
    got = ea.masked_fill(ember.from_numpy(m), value)
    want = ta.masked_fill(torch.from_numpy(m.copy()), value)
    _same(got, want)
    if got.shape == ea.shape:  # the in-place variant writes the same values
        ea.masked_fill_(ember.from_numpy(m), value)
        np.testing.assert_array_equal(ea.numpy(), want.numpy())


def test_masked_fill_grad():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 4)).astype(np.float64)
    m = rng.random((3, 4)) > 0.5
    ea, ta = _pair(a)
    ea.requires_grad_()
    ta.requires_grad_()
    g = rng.standard_normal((2, 3, 4))
    ea.masked_fill(ember.from_numpy(m), 0.5).backward(ember.from_numpy(g))
    ta.masked_fill(torch.from_numpy(m), 0.5).backward(torch.from_numpy(g))
    np.testing.assert_array_equal(ea.grad.numpy(), ta.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_views_of_split_pieces(dtype):
    """q, k, v of a fused projection viewed as heads, twice (the second from the remembered
    strides), with size-1 dims where torch's strides differ from NumPy's."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 5, 24)).astype(dtype)
    ex, tx = _pair(x)
    for _ in range(2):
        for e, t in zip(ex.split(8, dim=2), tx.split(8, dim=2)):
            _same(e, t)
            for shape in [(1, 5, 2, 4), (1, 5, 8, 1), (5, 1, 8), (-1, 4), (1, 1, 5, 8)]:
                try:
                    want = t.view(*shape)
                except RuntimeError:
                    with pytest.raises(RuntimeError):
                        e.view(*shape)
                    continue
                _same(e.view(*shape), want)
                _same(e.reshape(shape), t.reshape(shape))


@pytest.mark.parametrize("shape", [(np.int64(2), 12), [2, 12], (ember.Size([2, 12]),), (True, 24)])
def test_view_size_arguments(shape):
    x = ember.arange(24.0)
    want = torch.arange(24.0).view(*[int(s) for s in (shape[0] if len(shape) == 1 and
                                                      isinstance(shape[0], tuple) else shape)])
    got = x.view(*shape) if isinstance(shape, tuple) else x.view(shape)
    _same(got, want)


def test_view_size_errors():
    x = ember.zeros(6)
    with pytest.raises(RuntimeError, match="invalid"):
        x.view(-2, -3)
    with pytest.raises(RuntimeError, match="only one dimension"):
        x.view(-1, -1)
    with pytest.raises(RuntimeError, match="invalid"):
        x.view(4)


def test_getitem_keys():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 6)).astype(np.float32)
    ex, tx = _pair(x)
    for key in [(slice(None), -1), (0, slice(1, 5, 2)), (Ellipsis, None, 3), 1,
                (slice(np.int64(1), None), np.int64(2)), (True, 0), (slice(None, None, 3),)]:
        _same(ex[key], tx[key])
    with pytest.raises(ValueError):
        ex[::-1]


@pytest.mark.parametrize("dtypes", [(np.int64, np.int64), (np.float32, np.float32),
                                    (np.int64, np.float32), (np.float32, np.float64)])
def test_cat(dtypes):
    a = np.arange(6).reshape(1, 6).astype(dtypes[0])
    b = np.arange(3).reshape(1, 3).astype(dtypes[1])
    (ea, ta), (eb, tb) = _pair(a), _pair(b)
    _same(ember.cat([ea, eb], dim=1), torch.cat([ta, tb], dim=1))
    e0, t0 = _pair(np.zeros((0,), dtypes[1]))  # a 1-D empty input is skipped
    _same(ember.cat([ea, e0], dim=1), torch.cat([ta, t0], dim=1))


@pytest.mark.parametrize("dtype", [ember.bool, ember.float32, ember.float64, ember.int64,
                                   ember.uint8, ember.complex64, ember.float16,
                                   ember.bfloat16])
def test_ones(dtype):
    got = ember.ones(3, 4, dtype=dtype)
    want = torch.ones(3, 4, dtype=getattr(torch, str(dtype).split(".")[-1]))
    assert got.dtype == dtype and got.shape == (3, 4) and got.is_contiguous()
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
    assert ember.ones(0, 2).shape == (0, 2) and ember.ones(()).item() == 1


@pytest.mark.parametrize("args", [(7,), (0,), (2, 9), (9, 2, -2), (3, 11, 3), (-4, 4)])
@pytest.mark.parametrize("dtype", [None, ember.int32, ember.float32, ember.int16])
def test_arange(args, dtype):
    kwargs = {} if dtype is None else {"dtype": dtype}
    tkw = {} if dtype is None else {"dtype": getattr(torch, str(dtype).split(".")[-1])}
    _same(ember.arange(*args, **kwargs), torch.arange(*args, **tkw))


def test_masked_fill_layouts_and_errors():
    """torch clones the (broadcast) input C-contiguous whatever its layout, and refuses a
    mask that does not broadcast with its RuntimeError."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    m = rng.random((4,)) > 0.5
    ea, ta = _pair(a)
    _same(ea.t().masked_fill(ember.from_numpy(m), 0.0),
          ta.t().masked_fill(torch.from_numpy(m), 0.0))
    with pytest.raises(RuntimeError, match="must match the size"):
        ea.masked_fill(ember.from_numpy(rng.random((3,)) > 0.5), 1.0)
    with pytest.raises(RuntimeError):
        ea.masked_fill_(ember.from_numpy(rng.random((3, 4, 5)) > 0.5), 1.0)
    meta = ember.empty(4, 5, device="meta").t().masked_fill(ember.empty(4, dtype=ember.bool,
                                                                          device="meta"), 0.0)
    assert meta.shape == (5, 4) and meta.stride() == (4, 1)


@pytest.mark.parametrize("shape", [(8,), (3, 8)])
@pytest.mark.parametrize("affine, bias", [(True, True), (True, False), (False, False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_module(shape, affine, bias, dtype):
    """LayerNorm's own check of the usual call, against torch, forward and backward."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3) + shape).astype(dtype)
    e = ember.nn.LayerNorm(shape, elementwise_affine=affine, bias=bias).to(
        getattr(ember, np.dtype(dtype).name))
    t = torch.nn.LayerNorm(shape, elementwise_affine=affine, bias=bias).to(
        getattr(torch, np.dtype(dtype).name))
    if affine:
        w = rng.standard_normal(shape).astype(dtype)
        e.weight.data = ember.from_numpy(w.copy())
        t.weight.data = torch.from_numpy(w.copy())
    (ex, tx) = _pair(x)
    ex.requires_grad_()
    tx.requires_grad_()
    got, want = e(ex), t(tx)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(got.shape).astype(dtype)
    got.backward(ember.from_numpy(g))
    want.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=tol * 100, atol=tol * 100)
    if affine:
        np.testing.assert_allclose(e.weight.grad.numpy(), t.weight.grad.numpy(), rtol=tol * 100,
                                   atol=tol * 100)


def test_layer_norm_module_errors():
    """Calls that fail the module's check take layer_norm's, with torch's errors."""
    e, t = ember.nn.LayerNorm(8), torch.nn.LayerNorm(8)
    for shape in [(2, 7), (8, 2), ()]:
        x = np.ones(shape, np.float32)
        with pytest.raises(RuntimeError) as want:
            t(torch.from_numpy(x))
        with pytest.raises(RuntimeError) as got:
            e(ember.from_numpy(x))
        assert str(got.value) == str(want.value)
    e.weight = ember.nn.Parameter(ember.ones(4))
    t.weight = torch.nn.Parameter(torch.ones(4))
    with pytest.raises(RuntimeError) as want:
        t(torch.ones(2, 8))
    with pytest.raises(RuntimeError) as got:
        e(ember.ones(2, 8))
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("shape", [(8, 8), (3, 5), (2, 4, 6), (0, 3), (1, 1)])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("diagonal", [0, 1, -2, 7])
def test_tril_triu_of_masks(shape, transposed, diagonal):
    """Boolean masks take one logical_and with the remembered triangle: torch's values
    and strides (also for a transposed input), the meta device's strides alike."""
    a = np.random.default_rng(6).random(shape) > 0.3
    e, t = ember.from_numpy(a), torch.from_numpy(a.copy())
    if transposed:
        e, t = e.transpose(-1, -2), t.transpose(-1, -2)
    for name in ("tril", "triu"):
        got, want = getattr(e, name)(diagonal), getattr(t, name)(diagonal)
        _same(got, want)
        meta = getattr(e.to("meta"), name)(diagonal)
        assert meta.stride() == want.stride()
