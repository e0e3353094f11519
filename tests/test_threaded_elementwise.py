"""add, sub, mul and div (``_kernels_elementwise.binary``) and neg, abs, sqrt, rsqrt and
reciprocal (``unary``) of large float arrays split across threads: the values are NumPy's
(and torch's) bit for bit, with
NumPy's dtype and shape, for same-shape operands, a row broadcast along the last axis
(either order), Python numbers on either side, special values, odd sizes and 2-3 parts;
other operands (strides, mixed dtypes, half precision, integers, other broadcasts) take
NumPy's ufunc; ``out=``, in-place variants on aliased operands, and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.ops import _kernels_elementwise as K

OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}
ROWS, COLS = 513, 257  # 131841 elements: just over the size that is split


def _data(shape, dtype, seed=0):
    """Normal values with zeros of both signs, infinities and NaN sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    flat = x.reshape(-1)
    idx = rng.choice(flat.size, size=min(40, flat.size), replace=False)
    flat[idx] = np.resize([0.0, -0.0, np.inf, -np.inf, np.nan], idx.size)
    return x.astype(dtype)


@pytest.fixture(params=[2, 3])
def split(request, monkeypatch):
    """Every call counts as big and the machine as free; records which kernels ran."""
    ran = []
    monkeypatch.setattr(K, "_parts", lambda size: request.param)
    for name in ("_binary_parallel", "_rows_parallel", "_unary_parallel"):
        kernel = getattr(K, name)

        def spy(*args, _kernel=kernel, _name=name):
            ran.append(_name)
            return _kernel(*args)
        monkeypatch.setattr(K, name, spy)
    return ran


def _run(op, a, b):
    ta = ember.from_numpy(a) if isinstance(a, np.ndarray) else a
    tb = ember.from_numpy(b) if isinstance(b, np.ndarray) else b
    return getattr(ember, op)(ta, tb).numpy()


def _check(op, a, b, split, kernel):
    with np.errstate(all="ignore"):
        want = OPS[op](a, b)
    got = _run(op, a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # (NaN where NumPy's is)
    if got.dtype.kind == "f":  # zeros' signs too
        real = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[real]), np.signbit(want[real]))
    assert split == ([kernel] if kernel else [])
    split.clear()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", list(OPS))
def test_same_shape(split, op, dtype):
    a, b = _data((ROWS, COLS), dtype, 0), _data((ROWS, COLS), dtype, 1)
    _check(op, a, b, split, "_binary_parallel")
    _check(op, a.reshape(-1), b.reshape(-1), split, "_binary_parallel")
    _check(op, a[None], b[None], split, "_binary_parallel")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", list(OPS))
def test_row_broadcast(split, op, dtype):
    a, row = _data((ROWS, COLS), dtype, 0), _data((COLS,), dtype, 2)
    _check(op, a, row, split, "_rows_parallel")
    _check(op, row, a, split, "_rows_parallel")
    _check(op, a.reshape(27, 19, COLS), row.reshape(1, 1, COLS), split, "_rows_parallel")
    _check(op, row.reshape(1, COLS), a.reshape(27, 19, COLS), split, "_rows_parallel")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("number", [0.17677669529663687, -3, 0.0, 1e40, float("nan")])
def test_numbers(split, op, dtype, number):
    a = _data((ROWS, COLS), dtype, 3)
    _check(op, a, number, split, "_binary_parallel")
    _check(op, number, a, split, "_binary_parallel")


@pytest.mark.parametrize("op", list(OPS))
def test_promoted_operands(split, op):
    """Mixed float dtypes are promoted first (as NumPy's ufunc converts them): the float64
    pass is split."""
    a32, b64 = _data((ROWS, COLS), np.float32, 4), _data((ROWS, COLS), np.float64, 5)
    _check(op, a32, b64, split, "_binary_parallel")
    _check(op, b64[0].astype(np.float32), a32.astype(np.float64), split, "_rows_parallel")


@pytest.mark.parametrize("op", list(OPS))
def test_other_operands_take_numpy(split, op):
    a32, b32 = _data((ROWS, COLS), np.float32, 4), _data((ROWS, COLS), np.float32, 5)
    cases = [
        (a32[:, ::2], b32[:, ::2]),                               # strided
        (a32.T, b32.T),                                           # transposed (F order)
        (a32, b32[:, :1]),                                        # a column broadcast
        (a32[:, :8].copy(), b32[0, :8].copy()),                   # short rows
        (a32.astype(np.float16), b32.astype(np.float16)),         # half precision
        (a32.astype(np.complex64), b32.astype(np.complex64)),
        (a32, np.float32(2.5)),                                   # a NumPy scalar
        (a32, 2.5 + 1j),
    ]
    if op in ("add", "mul"):  # (torch rejects bool sub; bool and int div give floats)
        cases.append((a32 > 0, b32 > 0))
    if op != "div":
        cases.append(((a32 * 100).astype(np.int32), (b32 * 100).astype(np.int32)))
    for a, b in cases:
        _check(op, a, b, split, None)


@pytest.mark.parametrize("op", list(OPS))
def test_matches_torch(split, op):
    a, b = _data((ROWS, COLS), np.float32, 6), _data((ROWS, COLS), np.float32, 7)
    row = b[0].copy()
    for x, y in ((a, b), (a, row), (row, a), (a, 0.125), (1.5, a)):
        tx = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
        ty = torch.from_numpy(y) if isinstance(y, np.ndarray) else y
        want = getattr(torch, op)(tx, ty).numpy()
        np.testing.assert_array_equal(_run(op, x, y), want)
    assert split and set(split) <= {"_binary_parallel", "_rows_parallel"}


def test_out_and_inplace_with_aliases(split):
    a, b = _data((ROWS, COLS), np.float32, 8), _data((ROWS, COLS), np.float32, 9)
    row = b[0].copy()
    x = ember.from_numpy(a.copy())
    x.add_(x)
    np.testing.assert_array_equal(x.numpy(), a + a)
    x = ember.from_numpy(a.copy())
    x.mul_(0.5)
    np.testing.assert_array_equal(x.numpy(), a * np.float32(0.5))
    x, y = ember.from_numpy(a.copy()), ember.from_numpy(b.copy())
    ember.sub(x, y, out=y)
    np.testing.assert_array_equal(y.numpy(), a - b)
    x = ember.from_numpy(a.copy())
    x.div_(ember.from_numpy(row))
    np.testing.assert_array_equal(x.numpy(), a / row)
    out = ember.empty(ROWS, COLS, dtype=ember.float64)  # written with a cast
    ember.mul(ember.from_numpy(a), ember.from_numpy(b), out=out)
    np.testing.assert_array_equal(out.numpy(), (a * b).astype(np.float64))
    assert {"_binary_parallel", "_rows_parallel"} <= set(split)


def test_gradients_match_torch(split):
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((2, ROWS, COLS))
    b, row = b + 3.0, rng.standard_normal(COLS) + 3.0
    sides = []
    for wrap in (ember.from_numpy, torch.from_numpy):
        x, y, r = (wrap(v.copy()).requires_grad_() for v in (a, b, row))
        loss = (((x * 0.3 + y) / r - x) * (y / x)).sum()
        loss.backward()
        sides.append([t.grad.numpy() for t in (x, y, r)])
    for got, want in zip(*sides):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert split


UNARY = {"neg": np.negative, "abs": np.abs, "sqrt": np.sqrt,
         "rsqrt": lambda x: np.reciprocal(np.sqrt(x)), "reciprocal": np.reciprocal}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", list(UNARY))
def test_unary(split, op, dtype):
    x = _data((ROWS, COLS), dtype, 13)
    for a, kernel in ((x, "_unary_parallel"), (x.reshape(-1), "_unary_parallel"),
                      (x[:, ::2], None), (x.astype(np.float16), None)):
        with np.errstate(all="ignore"):
            want = UNARY[op](a)
        got = getattr(ember, op)(ember.from_numpy(a)).numpy()
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        real = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[real]), np.signbit(want[real]))
        assert split == ([kernel] if kernel else [])
        split.clear()
    if dtype == np.float32:  # (torch's float32 sqrt is off by an ulp at times: NumPy's is exact)
        tol = 2.5e-7 if "sqrt" in op else 0
        np.testing.assert_allclose(getattr(ember, op)(ember.from_numpy(x)).numpy(),
                                   getattr(torch, op)(torch.from_numpy(x)).numpy(), rtol=tol)


def test_unary_ints_and_gradients(split):
    ints = np.arange(-(1 << 17), 1 << 17, dtype=np.int32)
    np.testing.assert_array_equal(ember.abs(ember.from_numpy(ints)).numpy(), np.abs(ints))
    np.testing.assert_array_equal((-ember.from_numpy(ints)).numpy(), -ints)
    assert not split
    x = np.random.default_rng(14).random((ROWS, COLS)) + 0.5
    sides = []
    for lib, wrap in ((ember, ember.from_numpy), (torch, torch.from_numpy)):
        t = wrap(x.copy()).requires_grad_()
        (lib.sqrt(t) + lib.rsqrt(t) - lib.reciprocal(t) + lib.abs(-t)).sum().backward()
        sides.append(t.grad.numpy())
    np.testing.assert_allclose(*sides, rtol=1e-12, atol=1e-12)
    assert "_unary_parallel" in split
