"""Comparisons, predicates, logical and bitwise ops (none has a derivative): their ops and
functions with torch's signatures.
"""

from __future__ import annotations

import numpy as np

from .._dispatch import dispatch
from .._tensor import Tensor
from . import _meta
from ._pointwise import (
    _binary_function,
    _check_broadcast,
    _is_float,
    _is_float_dtype,
    _NoGrad,
    _nograd,
    _operands,
    _require_tensor,
    _unary_function,
    _unsupported,
)
from ._util import dtype_name, promote

# ---- comparisons, predicates, logical and bitwise ops -------------------------------------

def _comparison(ufunc):
    return lambda a, b: ufunc(*_operands(a, b))


def _bool_meta(*operands):
    return _meta.pointwise(*operands, dtype=np.bool_)


def _bitwise(ufunc, kernel_name: str):
    def kernel(a, b):
        a, b = _operands(a, b)
        for x in (a, b):  # either may be the (promoted) tensor
            if type(x) is np.ndarray and _is_float(x):
                raise _unsupported(kernel_name, x)
        return ufunc(a, b)
    return kernel


def _bitwise_meta(kernel_name: str):
    def meta(a, b):
        dt = _meta.result_dtype(a, b)
        if _is_float_dtype(dt):
            raise _unsupported(kernel_name, a if hasattr(a, "dtype") else b)
        return _meta.pointwise(a, b, dtype=dt)
    return meta


def _float_test(ufunc, integer_value: bool):
    """A float predicate (isnan, ...); integer and bool elements are all ``integer_value``."""
    return lambda x: ufunc(x) if _is_float(x) else np.full_like(x, integer_value, dtype=bool)


def _bool_like(x):
    return _meta.like(x, np.bool_)


def _bitwise_not(x):
    if _is_float(x):
        raise _unsupported("bitwise_not", x)
    return np.invert(x)


def _bitwise_not_meta(x):
    if _is_float(x):
        raise _unsupported("bitwise_not", x)
    return _meta.like(x)


Eq = _nograd("eq", _comparison(np.equal), _bool_meta)
Ne = _nograd("ne", _comparison(np.not_equal), _bool_meta)
Lt = _nograd("lt", _comparison(np.less), _bool_meta)
Le = _nograd("le", _comparison(np.less_equal), _bool_meta)
Gt = _nograd("gt", _comparison(np.greater), _bool_meta)
Ge = _nograd("ge", _comparison(np.greater_equal), _bool_meta)
LogicalAnd = _nograd("logical_and", _comparison(np.logical_and), _bool_meta)
LogicalOr = _nograd("logical_or", _comparison(np.logical_or), _bool_meta)
LogicalXor = _nograd("logical_xor", _comparison(np.logical_xor), _bool_meta)
LogicalNot = _nograd("logical_not", np.logical_not, _bool_like, unary=True)
BitwiseAnd = _nograd("bitwise_and", _bitwise(np.bitwise_and, "bitwise_and"),
                     _bitwise_meta("bitwise_and"))
BitwiseOr = _nograd("bitwise_or", _bitwise(np.bitwise_or, "bitwise_or"),
                    _bitwise_meta("bitwise_or"))
BitwiseXor = _nograd("bitwise_xor", _bitwise(np.bitwise_xor, "bitwise_xor"),
                     _bitwise_meta("bitwise_xor"))
BitwiseLeftShift = _nograd("bitwise_left_shift", _bitwise(np.left_shift, "lshift"),
                           _bitwise_meta("lshift"))
BitwiseRightShift = _nograd("bitwise_right_shift", _bitwise(np.right_shift, "rshift"),
                            _bitwise_meta("rshift"))
BitwiseNot = _nograd("bitwise_not", _bitwise_not, _bitwise_not_meta, unary=True)
IsNan = _nograd("isnan", _float_test(np.isnan, False), _bool_like, unary=True)
IsInf = _nograd("isinf", _float_test(np.isinf, False), _bool_like, unary=True)
IsFinite = _nograd("isfinite", _float_test(np.isfinite, True), _bool_like, unary=True)
IsPosInf = _nograd("isposinf", _float_test(lambda x: x == np.inf, False), _bool_like,
                   unary=True)
IsNegInf = _nograd("isneginf", _float_test(lambda x: x == -np.inf, False), _bool_like,
                   unary=True)
SignBit = _nograd("signbit", lambda x: np.signbit(x) if _is_float(x) else x < 0, _bool_like,
                  unary=True)


class IsClose(_NoGrad):
    name = "isclose"
    signature = ("isclose(Tensor a, Tensor b, float rtol=1e-05, float atol=1e-08, "
                 "bool equal_nan=False) -> Tensor")

    @staticmethod
    def meta(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
        if a.dtype != b.dtype:
            raise RuntimeError(f"{dtype_name(a)} did not match {dtype_name(b)}")
        return _bool_meta(a, b)

    @staticmethod
    def forward(ctx, a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
        if a.dtype != b.dtype:
            raise RuntimeError(f"{dtype_name(a)} did not match {dtype_name(b)}")
        _check_broadcast(a, b)
        return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


class Equal(_NoGrad):
    name = "equal"
    kind = "reduction"
    signature = "equal(Tensor a, Tensor b) -> Tensor"

    @staticmethod
    def meta(a, b):
        return _meta.new((), np.bool_)

    @staticmethod
    def forward(ctx, a, b):
        return np.asarray(a.shape == b.shape and bool(np.array_equal(*promote(a, b))))


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """``|input - other| <= atol + rtol * |other|`` elementwise."""
    _require_tensor("isclose", other, 2)
    return dispatch(IsClose, input, other, rtol, atol, equal_nan)


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    return bool(np.all(isclose(input, other, rtol, atol, equal_nan)._data))


def equal(input, other) -> bool:
    """True when both have the same shape and elements."""
    _require_tensor("equal", other, 2)
    return bool(dispatch(Equal, input, other)._data)


(logical_not, bitwise_not, isnan, isinf, isfinite, isposinf, isneginf, signbit) = map(
    _unary_function, (LogicalNot, BitwiseNot, IsNan, IsInf, IsFinite, IsPosInf, IsNegInf,
                      SignBit))
bitwise_and, bitwise_or, bitwise_xor, bitwise_left_shift, bitwise_right_shift = (
    _binary_function(op, number_input=True) for op in (
        BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseLeftShift, BitwiseRightShift))
eq, ne, lt, le, gt, ge = map(_binary_function, (Eq, Ne, Lt, Le, Gt, Ge))
_TENSOR_OTHER = (LogicalAnd, LogicalOr, LogicalXor)  # torch has no overload with a number
logical_and, logical_or, logical_xor = (_binary_function(op, number_other=False)
                                        for op in _TENSOR_OTHER)
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne  # torch's other names

__all__ = [
    "isclose", "allclose", "equal", "logical_not", "bitwise_not", "isnan", "isinf",
    "isfinite", "isposinf", "isneginf", "signbit", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_left_shift", "bitwise_right_shift", "greater", "greater_equal", "less",
    "less_equal", "not_equal"]
