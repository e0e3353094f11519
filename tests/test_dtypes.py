"""Type promotion against torch: promote_types, result_type, and the dtype of ``a + b``
for tensors, 0-d tensors and Python scalars; the default dtype's effects."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import ember

REAL = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
        "float64"]
ALL = REAL + ["complex64", "complex128"]


def _name(dt) -> str:
    return str(dt).split(".")[-1]


def _torch_dtype_or_skip(fn):
    """torch's result dtype; ember has no complex32 (torch's half-precision complex, which
    float16 meets complex in), so those cases are skipped."""
    try:
        dt = fn()
    except RuntimeError as exc:  # torch: no complex dtype for a bfloat16 default
        if "complex" in str(exc):
            return None
        raise
    return None if dt == torch.complex32 else dt


@pytest.mark.parametrize("a,b", list(itertools.product(ALL, ALL)))
def test_promote_types(a, b):
    expected = torch.promote_types(getattr(torch, a), getattr(torch, b))
    assert _name(ember.promote_types(getattr(ember, a), getattr(ember, b))) == _name(expected)


def _operand(lib, kind: str, dtype: str):
    """A dimensioned tensor, a 0-d tensor, or a Python scalar of the dtype's category."""
    if kind == "scalar":
        return {"bool": True, "int": 3, "float": 2.5, "complex": 1 + 1j}[dtype]
    shape = (2,) if kind == "tensor" else ()
    return lib.ones(shape, dtype=getattr(lib, dtype))


SCALARS = ["bool", "int", "float", "complex"]
OPERANDS = ([("tensor", d) for d in REAL] + [("zerodim", d) for d in REAL]
            + [("scalar", s) for s in SCALARS])
PAIRS = [(x, y) for x, y in itertools.product(OPERANDS, OPERANDS)
         if not (x[0] == "scalar" and y[0] == "scalar")]
RESULT_PAIRS = PAIRS


@pytest.mark.parametrize("x,y", RESULT_PAIRS, ids=lambda o: f"{o[0]}-{o[1]}")
def test_result_type(x, y):
    expected = _torch_dtype_or_skip(
        lambda: torch.result_type(_operand(torch, *x), _operand(torch, *y)))
    if expected is None:
        pytest.skip("complex32 result: ember has no complex32")
    assert _name(ember.result_type(_operand(ember, *x), _operand(ember, *y))) == _name(expected)


ADD_PAIRS = [(x, y) for x, y in PAIRS if not (x[1] == "bool" and y[1] == "bool")
             and "bfloat16" not in (x[1], y[1])]


@pytest.mark.parametrize("x,y", ADD_PAIRS, ids=lambda o: f"{o[0]}-{o[1]}")
def test_add_result_dtype(x, y):
    expected = _operand(torch, *x) + _operand(torch, *y)
    if expected.dtype == torch.complex32:
        pytest.skip("complex32 result: ember has no complex32")
    actual = _operand(ember, *x) + _operand(ember, *y)
    assert _name(actual.dtype) == _name(expected.dtype)
    assert tuple(actual.shape) == tuple(expected.shape)
    np.testing.assert_allclose(actual._data.astype(np.complex128),
                               expected.numpy().astype(np.complex128))


@pytest.mark.parametrize("default", ["float64", "float16", "bfloat16"])
def test_default_dtype_effects(default):
    cases = [
        lambda L: L.tensor([1.0]), lambda L: L.tensor([1, 2.5]), lambda L: L.tensor(1j),
        lambda L: L.arange(0.0, 2.0), lambda L: L.arange(3), lambda L: L.zeros(2),
        lambda L: L.tensor([1, 2]) * 1.5, lambda L: L.tensor([1, 2]) / 2,
        lambda L: L.tensor([1, 2]) * 1j, lambda L: L.tensor([True]) + 0.5,
        lambda L: L.tensor([1.0], dtype=L.float32) * 2.0, lambda L: L.full((1,), 2.0),
        lambda L: L.linspace(0, 1, 2), lambda L: L.rand(2),
    ]
    try:
        for lib in (torch, ember):
            lib.set_default_dtype(getattr(lib, default))
        assert _name(ember.get_default_dtype()) == _name(torch.get_default_dtype())
        for fn in cases:
            expected = _torch_dtype_or_skip(lambda fn=fn: fn(torch).dtype)
            if expected is not None:
                assert _name(fn(ember).dtype) == _name(expected)
    finally:
        torch.set_default_dtype(torch.float32)
        ember.set_default_dtype(ember.float32)


def test_set_default_dtype_rejects_non_float():
    for lib in (torch, ember):
        with pytest.raises(TypeError):
            lib.set_default_dtype(lib.int64)


def test_can_cast_matches_torch():
    for a, b in itertools.product(ALL, ALL):
        assert ember.can_cast(getattr(ember, a), getattr(ember, b)) == \
            torch.can_cast(getattr(torch, a), getattr(torch, b)), (a, b)


# Result dtype (or exception type) of binary ops over tensors, 0-d tensors and Python scalars
# of every category: weak scalars and 0-d tensors must promote as torch's do in each op.
GRID_DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "bfloat16", "float32",
               "float64"]
GRID = ([("tensor", d) for d in GRID_DTYPES]
        + [("zerodim", d) for d in ("bool", "int64", "float64", "float16")]
        + [("scalar", s) for s in ("bool", "int", "float")])
BINARY_OPS = {
    "sub": lambda L, a, b: L.sub(a, b), "mul": lambda L, a, b: L.mul(a, b),
    "div": lambda L, a, b: L.div(a, b), "floor_divide": lambda L, a, b: L.floor_divide(a, b),
    "remainder": lambda L, a, b: L.remainder(a, b), "pow": lambda L, a, b: L.pow(a, b),
    "atan2": lambda L, a, b: L.atan2(a, b), "maximum": lambda L, a, b: L.maximum(a, b),
    "minimum": lambda L, a, b: L.minimum(a, b), "eq": lambda L, a, b: L.eq(a, b),
    "lt": lambda L, a, b: L.lt(a, b), "fmod": lambda L, a, b: L.fmod(a, b),
    "where": lambda L, a, b: L.where(L.tensor([True, False]), a, b),
    "clamp": lambda L, a, b: L.clamp(a, b), "clamp_max": lambda L, a, b: L.clamp(a, max=b),
    "logical_and": lambda L, a, b: L.logical_and(a, b),
    "bitwise_and": lambda L, a, b: L.bitwise_and(a, b),
    "copysign": lambda L, a, b: L.copysign(a, b), "hypot": lambda L, a, b: L.hypot(a, b),
    "xlogy": lambda L, a, b: L.xlogy(a, b), "lerp": lambda L, a, b: L.lerp(a, b, 0.5),
    "add_alpha": lambda L, a, b: L.add(a, b, alpha=2),
    "div_floor": lambda L, a, b: L.div(a, b, rounding_mode="floor"),
    "div_trunc": lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
    "logaddexp": lambda L, a, b: L.logaddexp(a, b),
    "masked_fill": lambda L, a, b: a.masked_fill(L.tensor(True), b),
    "dot": lambda L, a, b: L.dot(a, b), "matmul": lambda L, a, b: L.matmul(a, b),
    "truediv_operator": lambda L, a, b: a / b, "pow_operator": lambda L, a, b: a ** b,
    "floordiv_operator": lambda L, a, b: a // b, "mod_operator": lambda L, a, b: a % b,
    # in-place: the target's dtype wins unless the result can't be cast to it
    "mul_": lambda L, a, b: a.clone().mul_(b), "add_": lambda L, a, b: a.clone().add_(b),
    "div_": lambda L, a, b: a.clone().div_(b), "pow_": lambda L, a, b: a.clone().pow_(b),
    "copy_": lambda L, a, b: a.clone().copy_(b),
}


def _grid_result(lib, fn, x, y):
    try:
        return _name(fn(lib, _operand(lib, *x), _operand(lib, *y)).dtype)
    except Exception as exc:  # noqa: BLE001  (the exception type is what is compared)
        return type(exc).__name__


@pytest.mark.parametrize("name", list(BINARY_OPS))
def test_binary_op_promotion_matches_torch(name):
    fn = BINARY_OPS[name]
    inplace = name.endswith("_")
    mismatches = []
    for x, y in itertools.product(GRID, GRID):
        if x[0] == "scalar" and (y[0] == "scalar" or inplace):
            continue
        if inplace and x[0] == "zerodim" and y[0] == "tensor":
            continue  # a shape error (0-d target, broadcast source), not a dtype question
        expected, actual = _grid_result(torch, fn, x, y), _grid_result(ember, fn, x, y)
        if expected != actual:
            mismatches.append((x, y, expected, actual))
    assert not mismatches, mismatches[:5]
