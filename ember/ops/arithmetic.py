"""Arithmetic and math functions: ``add`` ... ``pow``, ``atan2``, ``maximum``, ``addcmul``,
``lerp``, the unary math functions (``sqrt``, ``exp``, ``sin``, ``erf``, ``sigmoid``,
``tanh``, ``logit``, rounding...), ``clamp``, ``where`` and ``fill``: their ops and
functions with torch's signatures. The templates are in ``_pointwise``.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from .._dispatch import Op, dispatch, dispatch_out
from .._dtype import float64, from_numpy_dtype, np_finfo, result_type_arrays
from .._tensor import Tensor
from . import _meta
from ._pointwise import (
    _backward_by,
    _backward_op,
    _Binary,
    _binary_function,
    _check_broadcast,
    _check_int_divisor,
    _default_float,
    _dtype,
    _erf,
    _erfc,
    _erfinv,
    _float_operands,
    _is_float,
    _is_float_dtype,
    _operands,
    _reject_bool,
    _sigmoid,
    _threaded,
    _threaded_unary,
    _unary,
    _unary_function,
    _unsupported,
)
from ._util import promote, promote_many
from .comparison import isfinite, isnan
from .creation import zeros_like

# ---- arithmetic ----------------------------------------------------------------------------

def _result_dtype(a, b):
    return a.dtype if type(a) is np.ndarray else np.asarray(b).dtype


def _check_sub(a, b) -> None:
    bools = [_dtype(x) == np.bool_ for x in (a, b)]
    if all(bools):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    if any(bools):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")


def _xlogy(a, b):
    return np.where((a == 0) & ~np.isnan(b), 0, a * np.log(b))


class Add(Op):
    signature = "add(Tensor a, Tensor b, Scalar alpha=1) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a, b, alpha=1):
        return _meta.pointwise(a, b)

    @staticmethod
    def forward(ctx, a, b, alpha=1):
        a, b = _operands(a, b)
        if alpha == 1:  # (ctx keeps alpha only when it is not 1: no per-node dict)
            out = _threaded("add", a, b)
            return a + b if out is None else out
        ctx.alpha = alpha
        return np.asarray(a + alpha * b).astype(_result_dtype(a, b), copy=False)

    @staticmethod
    def backward(ctx, g):
        alpha = getattr(ctx, "alpha", 1)
        return g, (g if alpha == 1 else g * alpha)


class Sub(Op):
    signature = "sub(Tensor a, Tensor b, Scalar alpha=1) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a, b, alpha=1):
        _check_sub(a, b)
        return _meta.pointwise(a, b)

    @staticmethod
    def forward(ctx, a, b, alpha=1):
        _check_sub(a, b)
        a, b = _operands(a, b)
        if alpha == 1:
            out = _threaded("sub", a, b)
            return a - b if out is None else out
        ctx.alpha = alpha
        return np.asarray(a - alpha * b).astype(_result_dtype(a, b), copy=False)

    @staticmethod
    def backward(ctx, g):
        alpha = getattr(ctx, "alpha", 1)
        return g, (-g if alpha == 1 else g * -alpha)


class Mul(Op):
    signature = "mul(Tensor a, Tensor b) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a, b):
        return _meta.pointwise(a, b)

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        a, b = _operands(a, b)
        out = _threaded("mul", a, b)
        return a * b if out is None else out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        needs = ctx.needs_input_grad
        # torch's convention for complex inputs: d(a*b)/da applied to g is g * conj(b)
        return (dispatch(Mul, g, _conj_operand(b)) if needs[0] else None), \
            (dispatch(Mul, g, _conj_operand(a)) if needs[1] else None)


def _conj_operand(x):
    """The conjugate of a saved operand (tensor or Python number); real ones unchanged."""
    if isinstance(x, Tensor):
        return conj(x)
    return x.conjugate() if isinstance(x, complex) else x


class Div(Op):
    signature = "div(Tensor a, Tensor b, str? rounding_mode=None) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a, b, rounding_mode=None):
        dt = _meta.result_dtype(a, b)
        if rounding_mode is None and not _is_float_dtype(dt):
            dt = _default_float()  # true division of integers gives floats
        return _meta.pointwise(a, b, dtype=dt)

    @staticmethod
    def forward(ctx, a, b, rounding_mode=None):
        x, y = _operands(a, b)
        if rounding_mode is None:
            if not (_is_float(x) or _is_float(y)):  # true division of integers gives floats
                x, y = _float_operands(a, b)
            ctx.save_for_backward(a, b)
            out = _threaded("div", x, y)
            return np.true_divide(x, y) if out is None else out
        ctx.rounding = True
        if rounding_mode == "floor":
            return _floor_divide(x, y)
        if rounding_mode == "trunc":
            if _is_float(x):
                return np.trunc(np.true_divide(x, y))
            _reject_bool("div_trunc", x, y)
            _check_int_divisor(x, y)
            q = np.floor_divide(x, y)  # floor and trunc differ where the division is inexact
            return q + ((q < 0) & (q * y != x))
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                           f"but found '{rounding_mode}'")

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad[:2]
        if getattr(ctx, "rounding", False):  # rounded quotients are piecewise constant
            return (zeros_like(g) if need_a else None), (zeros_like(g) if need_b else None)
        a, b = ctx.saved_tensors
        cb = _conj_operand(b)  # complex inputs: torch's convention conjugates the other factor
        ga = g / cb
        return (ga if need_a else None), (-ga * _conj_operand(a) / cb if need_b else None)


def _floor_divide(x, y):
    _reject_bool("div_floor", x, y)
    _check_int_divisor(x, y)
    return np.floor_divide(x, y)


def _check_neg(a) -> None:
    if a.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or "
                           "`logical_not()` operator instead.")


_neg = _threaded_unary("neg", np.negative)


class Neg(Op):
    signature = "neg(Tensor a) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a):
        _check_neg(a)
        return _meta.like(a)

    @staticmethod
    def forward(ctx, a):
        _check_neg(a)
        return _neg(a)

    @staticmethod
    def backward(ctx, g):
        return -g


class Conj(Op):
    """The complex conjugate, copied (torch's ``conj_physical``; ``conj`` of a real tensor
    is the tensor itself, and ember has no lazy conjugate bit)."""

    aten = "conj_physical"
    signature = "conj_physical(Tensor a) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a):
        return _meta.like(a)

    @staticmethod
    def forward(ctx, a):
        return np.conjugate(a)

    @staticmethod
    def backward(ctx, g):
        return dispatch(Conj, g)


def _log_of_number(x, dtype) -> float:
    """``log(x)`` of a number, rounded to ``dtype`` (the precision torch computes it in)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log(np.asarray(x, dtype=dtype)))


class Pow(_Binary):
    @classmethod
    def forward(cls, ctx, a, b):
        x, y = _operands(a, b)
        if _is_float(x) or _is_float(y):  # (x stays a Python int in ``2 ** float_tensor``)
            out = _power_by_products(x, y)
            if out is None:
                out = np.power(x, y)
        elif type(x) is np.ndarray and x.dtype == np.bool_ and type(b) is bool:
            out = x | (not y)  # a bool tensor to a bool number's power stays bool
        else:
            _reject_bool("pow", x, y)
            if type(b) is not np.ndarray and b < 0:  # (checked before promotion wraps it)
                raise RuntimeError("Integers to negative integer powers are not allowed.")
            out = _int_power(x, y)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def grads(g, a, b, out, needs):
        ga = gb = None
        if needs[0]:
            if isinstance(b, Tensor):
                ga = where(b == 0, 0.0, g * b * a ** (b - 1))
            else:
                ga = zeros_like(g) if b == 0 else g * (b * a ** (b - 1))
        if needs[1]:
            if isinstance(a, Tensor):  # the log in out's dtype, as torch
                base = a if a.dtype == out.dtype else a.to(out.dtype)
                gb = where((a == 0) & (b >= 0), 0.0, g * out * log(base))
            else:
                gb = g * out * _log_of_number(a, out._data.dtype)
                if a == 0:
                    gb = where(b >= 0, 0.0, gb)
        return ga, gb


def _power_by_products(x, e):
    """``x ** e`` for a float32/float64 array and a number ``e`` that is a whole or half
    number from 1.5 to 4, or -2 or -0.5, by multiplications and a square root; NumPy's
    ``power`` calls libm's ``pow`` per element, some 4-7x slower. These are torch's own
    forms where it has them (``x*x*x``, ``1/(x*x)``, ``1/sqrt(x)``: the same values),
    otherwise within 2 ulp of ``pow`` (products of more factors round further off). None
    for other exponents (NumPy's ``power`` squares, square-roots and inverts itself) and
    for a positive half-integral power of a negative base (``pow(-inf, 2.5)`` is ``inf``,
    not the square root's NaN) or NaN; torch's power -0.5 is ``1/sqrt(x)`` everywhere."""
    if type(x) is not np.ndarray or x.dtype not in _POW_DTYPES or type(e) not in (int, float) \
            or not x.ndim:  # (NumPy's ufuncs give 0-d arrays' results as scalars)
        return None
    twice = 2 * e
    if not (3 <= twice <= 8 or e in (-2, -0.5)) or twice != int(twice):
        return None
    n, half = divmod(int(builtins.abs(twice)), 2)
    if half and e > 0 and x.size and not x.min() >= 0:  # (a NaN anywhere, too)
        return None
    factors = [np.sqrt(x)] if half else []
    square = x
    while n:  # x^n is the product of x^(2^k) over the bits k of n
        if n & 1:
            factors.append(square)
        n >>= 1
        if n:
            square = square * square
    out = factors[0] if len(factors) == 1 else np.multiply(factors[0], factors[1])
    for f in factors[2:]:
        np.multiply(out, f, out=out)
    return np.reciprocal(out, out=out) if e < 0 else out


_POW_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _int_power(x, y):
    """Integer powers; negative exponents give 0 except for bases 1 and -1, as in torch."""
    if not np.any(np.asarray(y) < 0):
        return np.power(x, y)
    dtype = np.result_type(x, y)  # before broadcasting turns a number base into int64
    x, y = np.broadcast_arrays(x, y)
    out = np.power(x, np.abs(y))
    neg = y < 0
    return np.where(neg & (x != 1) & (x != -1), 0, np.where(neg & (x == -1) & (y % 2 == 0),
                                                           1, out)).astype(dtype)


class Remainder(_Binary):
    @staticmethod
    def kernel(a, b):
        _reject_bool("remainder", a, b)
        _check_int_divisor(a, b)
        return np.remainder(a, b)

    @staticmethod
    def grads(g, a, b, out, needs):
        return g, (-g * dispatch(Div, a, b, "floor") if needs[1] else None)


class Fmod(_Binary):
    @staticmethod
    def kernel(a, b):
        _reject_bool("fmod", a, b)
        _check_int_divisor(a, b)
        return np.fmod(a, b)

    @staticmethod
    def grads(g, a, b, out, needs):
        return g, (-g * dispatch(Div, a, b, "trunc") if needs[1] else None)


class FloorDivide(_Binary):  # torch records it but has no derivative for it
    name = "floor_divide"
    kernel = staticmethod(_floor_divide)


def _check_heaviside(a, b) -> None:
    if _dtype(a) != _dtype(b):
        raise RuntimeError("heaviside is not yet implemented for tensors with different "
                           "dtypes.")


class Heaviside(_Binary):
    name = "heaviside"
    kernel = staticmethod(lambda a, b: np.heaviside(a, b).astype(a.dtype, copy=False))

    @classmethod
    def meta(cls, a, b):
        _check_heaviside(a, b)
        return super().meta(a, b)

    @classmethod
    def forward(cls, ctx, a, b):
        _check_heaviside(a, b)
        return super().forward(ctx, a, b)


class Atan2(_Binary):
    ints = "float"
    kernel = staticmethod(np.arctan2)

    @staticmethod
    def grads(g, a, b, out, needs):
        d = a * a + b * b
        r = g / where(d == 0, 1.0, d)  # zero gradient at the origin, as torch
        return (r * b if needs[0] else None), (-r * a if needs[1] else None)


class Hypot(_Binary):
    ints = "reject"
    kernel = staticmethod(np.hypot)

    @staticmethod
    def grads(g, a, b, out, needs):
        r = g / out
        return (r * a if needs[0] else None), (r * b if needs[1] else None)


class Logaddexp(_Binary):
    ints = "reject"
    kernel = staticmethod(np.logaddexp)

    @staticmethod
    def grads(g, a, b, out, needs):
        return (g * sigmoid(a - b) if needs[0] else None), \
            (g * sigmoid(b - a) if needs[1] else None)


class Logaddexp2(_Binary):
    ints = "reject"
    kernel = staticmethod(np.logaddexp2)

    @staticmethod
    def grads(g, a, b, out, needs):  # 1 / (1 + 2**(b - a)) = sigmoid((a - b) ln 2)
        return (g * sigmoid((a - b) * _LN2) if needs[0] else None), \
            (g * sigmoid((b - a) * _LN2) if needs[1] else None)


class Xlogy(_Binary):
    ints = "float"
    kernel = staticmethod(_xlogy)

    @staticmethod
    def grads(g, a, b, out, needs):
        ga = where((a == 0) & (b <= 0), 0.0, xlogy(g, b)) if needs[0] else None
        return ga, (g * a / b if needs[1] else None)


class Copysign(_Binary):
    ints = "float"
    kernel = staticmethod(np.copysign)

    @staticmethod
    def grads(g, a, b, out, needs):
        return (g * where(a == 0, 0.0, out / a) if needs[0] else None), \
            (zeros_like(b) if needs[1] else None)


def _split_grad(g, a_wins, b_wins, tie, needs):
    """Gradients of a selection between ``a`` and ``b``; ties share it as torch does."""
    shared = where(tie, g / 2, g)
    return (where(b_wins, 0.0, shared) if needs[0] else None), \
        (where(a_wins, 0.0, shared) if needs[1] else None)


class Maximum(_Binary):
    kernel = staticmethod(np.maximum)

    @staticmethod
    def grads(g, a, b, out, needs):
        return _split_grad(g, a > b, a < b, a == b, needs)


class Minimum(_Binary):
    kernel = staticmethod(np.minimum)

    @staticmethod
    def grads(g, a, b, out, needs):
        return _split_grad(g, a < b, a > b, a == b, needs)


class Fmax(_Binary):
    kernel = staticmethod(np.fmax)

    @staticmethod
    def grads(g, a, b, out, needs):
        a_taken = (a >= b) | isnan(b)
        return (where(a_taken, g, 0.0) if needs[0] else None), \
            (where(a_taken, 0.0, g) if needs[1] else None)


class Fmin(_Binary):
    kernel = staticmethod(np.fmin)

    @staticmethod
    def grads(g, a, b, out, needs):
        a_taken = (a <= b) | isnan(b)
        return (where(a_taken, g, 0.0) if needs[0] else None), \
            (where(a_taken, 0.0, g) if needs[1] else None)


def _ternary_meta(x, t1, t2, value=1):
    """``x + value * (t1 op t2)``: NumPy lays out the inner result first, then the sum."""
    return _meta.pointwise(x, _meta.pointwise(t1, t2), dtype=_meta.result_dtype(x, t1, t2))


class Addcmul(Op):
    signature = "addcmul(Tensor x, Tensor t1, Tensor t2, Scalar value=1) -> Tensor"
    kind = "pointwise"
    meta = staticmethod(_ternary_meta)

    @staticmethod
    def forward(ctx, x, t1, t2, value=1):
        _check_broadcast(x, t1, t2)
        a, b, c = promote_many(x, t1, t2)
        ctx.save_for_backward(t1, t2)
        ctx.value = value
        if not _is_float(a):
            value = int(value)  # torch casts the scalar to the integer dtype
        return np.asarray(a + value * b * c).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        t1, t2 = ctx.saved_tensors
        v = ctx.value
        _, need_1, need_2 = ctx.needs_input_grad[:3]
        return g, (g * (v * t2) if need_1 else None), (g * (v * t1) if need_2 else None)


class Addcdiv(Op):
    signature = "addcdiv(Tensor x, Tensor t1, Tensor t2, Scalar value=1) -> Tensor"
    kind = "pointwise"
    meta = staticmethod(_ternary_meta)

    @staticmethod
    def forward(ctx, x, t1, t2, value=1):
        if not _is_float(t1) and not _is_float(t2):
            raise RuntimeError(
                "Integer division with addcdiv is no longer supported, and in a future release "
                "addcdiv will perform a true division of tensor1 and tensor2. The historic "
                "addcdiv behavior can be implemented as (input + value * torch.trunc(tensor1 / "
                "tensor2)).to(input.dtype) for integer inputs and as (input + value * tensor1 "
                "/ tensor2) for float inputs. The future addcdiv behavior is just the latter "
                "implementation: (input + value * tensor1 / tensor2), for all dtypes.")
        _check_broadcast(x, t1, t2)
        a, b, c = promote_many(x, t1, t2)
        ctx.save_for_backward(t1, t2)
        ctx.value = value
        return np.asarray(a + value * (b / c)).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        t1, t2 = ctx.saved_tensors
        v = ctx.value
        _, need_1, need_2 = ctx.needs_input_grad[:3]
        g1 = g * v / t2
        return g, (g1 if need_1 else None), (-g1 * t1 / t2 if need_2 else None)


class Lerp(Op):
    signature = "lerp(Tensor start, Tensor end, Tensor weight) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(start, end, weight):
        return _meta.pointwise(start, end, weight, dtype=start.dtype)

    @staticmethod
    def forward(ctx, start, end, weight):
        for what, x in (("input", start), ("end", end)):
            if type(x) is not np.ndarray:
                raise TypeError(f"lerp(): argument '{what}' must be Tensor, not "
                                f"{type(x).__name__}")
        tensor_weight = type(weight) is np.ndarray
        # torch checks dtypes first; a 0-d weight may differ (it is a wrapped number)
        for what, x in (("end", end), ("weight", weight if tensor_weight and weight.ndim
                                       else None)):
            if x is not None and x.dtype != start.dtype:
                raise RuntimeError(f"expected dtype {_dt(start)} for `{what}` but got dtype "
                                   f"{_dt(x)}")
        if not _is_float(start):
            raise _unsupported("lerp_kernel_tensor" if tensor_weight else "lerp_kernel_scalar",
                               start)
        _check_broadcast(start, end, weight)
        ctx.save_for_backward(start, end, weight)
        w = weight.astype(start.dtype) if tensor_weight else weight
        diff = end - start
        if tensor_weight:  # torch's two-sided formula, exact at both ends
            out = np.where(np.abs(w) < 0.5, start + w * diff, end - diff * (1 - w))
        else:
            out = start + w * diff if builtins.abs(w) < 0.5 else end - diff * (1 - w)
        return out.astype(start.dtype, copy=False)  # ml_dtypes: bfloat16 * float -> float32

    @staticmethod
    def backward(ctx, g):
        start, end, w = ctx.saved_tensors
        need_s, need_e, need_w = ctx.needs_input_grad[:3]
        return (g * (1 - w) if need_s else None), (g * w if need_e else None), \
            (g * (end - start) if need_w else None)


def _dt(x) -> str:
    return from_numpy_dtype(x.dtype).name


# ---- unary math ----------------------------------------------------------------------------

_LN2, _LN10 = math.log(2.0), math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_HALF_SQRT_PI = 0.5 * math.sqrt(math.pi)


def _rounding(fn):
    """A rounding kernel: integers are already whole, so they are copied."""
    return lambda x: fn(x) if _is_float(x) else np.copy(x)


def _round(x, decimals):
    if not _is_float(x):
        if decimals is not None:
            raise _unsupported("round", x)
        return np.copy(x)
    if not decimals:
        return np.rint(x)
    if x.dtype.itemsize < 4:  # torch scales half types in float32
        return np.round(x.astype(np.float32), decimals).astype(x.dtype)
    return np.round(x, decimals)


def _sign(x):
    return np.copy(x) if x.dtype == np.bool_ else np.sign(x)


def _logit(x, eps):
    z = x if eps is None else np.clip(x, eps, 1 - eps)
    return np.log(z / (1 - z))


def _nan_to_num(x, nan, posinf, neginf):
    out = np.copy(x)
    if _is_float(x):
        info = np_finfo(x.dtype)
        out[np.isnan(x)] = nan
        out[x == np.inf] = info.max if posinf is None else posinf
        out[x == -np.inf] = info.min if neginf is None else neginf
    return out


Sqrt = _unary("sqrt", _threaded_unary("sqrt", np.sqrt), lambda g, x, y: g / (2 * y), "out")
Rsqrt = _unary("rsqrt", _threaded_unary("rsqrt", lambda x: np.reciprocal(np.sqrt(x))),
               lambda g, x, y: g * y ** 3 * -0.5, "out")
Exp = _unary("exp", np.exp, lambda g, x, y: g * y, "out")
Exp2 = _unary("exp2", np.exp2, lambda g, x, y: g * y * _LN2, "out")
Expm1 = _unary("expm1", np.expm1, lambda g, x, y: g * (y + 1), "out")
Log = _unary("log", np.log, lambda g, x, y: g / x)
Log2 = _unary("log2", np.log2, lambda g, x, y: g / (x * _LN2))
Log10 = _unary("log10", np.log10, lambda g, x, y: g / (x * _LN10))
Log1p = _unary("log1p", np.log1p, lambda g, x, y: g / (x + 1))
Sin = _unary("sin", np.sin, lambda g, x, y: g * cos(x))
Cos = _unary("cos", np.cos, lambda g, x, y: g * -sin(x))
Tan = _unary("tan", np.tan, lambda g, x, y: g * (1 + y * y), "out")
Asin = _unary("asin", np.arcsin, lambda g, x, y: g * rsqrt(1 - x * x))
Acos = _unary("acos", np.arccos, lambda g, x, y: -g * rsqrt(1 - x * x))
Atan = _unary("atan", np.arctan, lambda g, x, y: g / (1 + x * x))
Sinh = _unary("sinh", np.sinh, lambda g, x, y: g * cosh(x))
Cosh = _unary("cosh", np.cosh, lambda g, x, y: g * sinh(x))
Asinh = _unary("asinh", np.arcsinh, lambda g, x, y: g * rsqrt(x * x + 1))
Acosh = _unary("acosh", np.arccosh, lambda g, x, y: g * rsqrt(x * x - 1))
Atanh = _unary("atanh", np.arctanh, lambda g, x, y: g / (1 - x * x))
Erf = _unary("erf", _erf, lambda g, x, y: g * exp(-x * x) * _TWO_OVER_SQRT_PI)
Erfc = _unary("erfc", _erfc, lambda g, x, y: g * exp(-x * x) * -_TWO_OVER_SQRT_PI)
Erfinv = _unary("erfinv", _erfinv, lambda g, x, y: g * exp(y * y) * _HALF_SQRT_PI, "out")
Reciprocal = _unary("reciprocal", _threaded_unary("reciprocal", np.reciprocal),
                    lambda g, x, y: -g * (y * y), "out")
Frac = _unary("frac", lambda x: x - np.trunc(x), lambda g, x, y: g, "", ints="reject")
Abs = _unary("abs", _threaded_unary("abs", np.abs),
             lambda g, x, y: g * where(isnan(x), 0.0, sign(x)), ints="int")


def _abs_meta(cls, a):
    """``abs`` of complex numbers is real (their modulus), as ``np.abs`` gives it."""
    if a.dtype.kind == "c":
        return _meta.like(a, np.dtype(a.dtype.char.lower()))
    return _meta.like(a, cls.result_dtype(a))


Abs.meta = classmethod(_abs_meta)
Sign = _unary("sign", _sign, saves="", ints="intbool")
Sgn = _unary("sgn", _sign, saves="", ints="intbool")
Floor = _unary("floor", _rounding(np.floor), saves="", ints="int")
Ceil = _unary("ceil", _rounding(np.ceil), saves="", ints="int")
Trunc = _unary("trunc", _rounding(np.trunc), saves="", ints="int")
Round = _unary("round", _round, saves="", ints="int", params="int? decimals=None")
NanToNum = _unary("nan_to_num", _nan_to_num, lambda g, x, y, *p: g * isfinite(x),
                  ints="intbool", params="float? nan=None, float? posinf=None, "
                                         "float? neginf=None")


def _logit_grad(x, eps):
    d = 1 / (x * (1 - x))
    return d if eps is None else np.where((x < eps) | (x > 1 - eps), 0, d)


def _logit_curvature(x, eps):
    v = x * (1 - x)
    d = (2 * x - 1) / (v * v)
    return d if eps is None else where((x < eps) | (x > 1 - eps), 0.0, d)


# (the computation of sigmoid's and tanh's is their ufunc in ``_kernels_elementwise``)
SigmoidBackward = _backward_op("sigmoid_backward", lambda y: 1 - 2 * y)
TanhBackward = _backward_op("tanh_backward", lambda y: -2 * y)
LogitBackward = _backward_op("logit_backward", _logit_curvature, "float? eps=None",
                             kernel=lambda g, x, eps: g * _logit_grad(x, eps))

Tanh = _unary("tanh", np.tanh, _backward_by(TanhBackward), "out")
Sigmoid = _unary("sigmoid", _sigmoid, _backward_by(SigmoidBackward), "out")
Logit = _unary("logit", _logit, _backward_by(LogitBackward), params="float? eps=None")


# ---- clamp, where --------------------------------------------------------------------------

class Clamp(Op):
    signature = "clamp(Tensor a, Tensor? lo=None, Tensor? hi=None) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a, lo=None, hi=None):
        given = [v for v in (a, lo, hi) if v is not None]
        return _meta.pointwise(*given, dtype=_meta.result_dtype(*given))

    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        if type(a) is not np.ndarray:
            raise TypeError(f"clamp(): argument 'input' (position 1) must be Tensor, not "
                            f"{type(a).__name__}")
        if lo is None and hi is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        _check_broadcast(a, lo, hi)
        given = [v for v in (a, lo, hi) if v is not None]
        dt = result_type_arrays(*given).np
        if dt == np.bool_ and not any(type(v) is np.ndarray for v in (lo, hi)):
            raise _unsupported("clamp", a)  # torch has tensor-bound kernels for bool only
        out = a.astype(dt, copy=False)
        if lo is not None:
            out = np.maximum(out, np.asarray(lo).astype(dt, copy=False))
        if hi is not None:
            out = np.minimum(out, np.asarray(hi).astype(dt, copy=False))
        ctx.save_for_backward(a, lo, hi)
        return out

    @staticmethod
    def backward(ctx, g):
        a, lo, hi = ctx.saved_tensors
        g_lo = g_hi = None
        if lo is not None and hi is not None:
            ga = where((a >= lo) & (a <= hi), g, 0.0)
            if isinstance(lo, Tensor):
                g_lo = where((a < lo) & (lo < hi), g, 0.0)
            if isinstance(hi, Tensor):
                g_hi = where((a > hi) | (hi < lo), g, 0.0)
        elif lo is not None:
            ga = where(a >= lo, g, 0.0)
            g_lo = where(a < lo, g, 0.0) if isinstance(lo, Tensor) else None
        else:
            ga = where(a <= hi, g, 0.0)
            g_hi = where(a > hi, g, 0.0) if isinstance(hi, Tensor) else None
        return ga, g_lo, g_hi


def _check_condition(cond) -> None:
    if _dtype(cond) != np.bool_:
        raise RuntimeError("where expected condition to be a boolean tensor, but got a "
                           f"tensor with dtype {from_numpy_dtype(_dtype(cond)).scalar_name}")


class Where(Op):
    signature = "where(Tensor cond, Tensor x, Tensor y) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(cond, x, y):
        _check_condition(cond)
        return _meta.pointwise(cond, x, y, dtype=_meta.result_dtype(x, y))

    @staticmethod
    def forward(ctx, cond, x, y):
        _check_condition(cond)
        _check_broadcast(cond, x, y)
        x, y = promote(x, y)
        ctx.save_for_backward(cond)
        return np.where(cond, x, y)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        _, need_x, need_y = ctx.needs_input_grad[:3]
        return None, (where(cond, g, 0.0) if need_x else None), \
            (where(cond, 0.0, g) if need_y else None)


# ---- fills ---------------------------------------------------------------------------------

class Fill(Op):
    """``self.fill_(value)``: every element becomes ``value`` (a number or a 0-d tensor)."""

    signature = "fill(Tensor dst, Tensor value) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(dst, value):
        return _meta.like(dst)

    @staticmethod
    def forward(ctx, dst, value):
        if type(value) is np.ndarray and value.ndim:
            raise RuntimeError("fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions.")
        return np.full_like(dst, value)

    @staticmethod
    def backward(ctx, g):
        need_dst, need_value = ctx.needs_input_grad[:2]
        return (zeros_like(g) if need_dst else None), (g.sum() if need_value else None)


# ---- functions with torch's signatures -----------------------------------------------------

def add(input, other, *, alpha=1, out=None) -> Tensor:
    """``input + alpha * other``."""
    if out is None:  # the hot path
        return dispatch(Add, input, other, alpha)
    return dispatch_out(Add, out, input, other, alpha)


def sub(input, other, *, alpha=1, out=None) -> Tensor:
    """``input - alpha * other``."""
    if out is None:  # the hot path
        return dispatch(Sub, input, other, alpha)
    return dispatch_out(Sub, out, input, other, alpha)


def mul(input, other, *, out=None) -> Tensor:
    if out is None:  # the hot path
        return dispatch(Mul, input, other)
    return dispatch_out(Mul, out, input, other)


def div(input, other, *, rounding_mode=None, out=None) -> Tensor:
    """True division, or rounded with ``rounding_mode`` "trunc" or "floor"."""
    if rounding_mode is None:
        return dispatch(Div, input, other) if out is None else dispatch_out(Div, out, input, other)
    return dispatch_out(Div, out, input, other, rounding_mode)


def true_divide(input, other, *, out=None) -> Tensor:
    return dispatch_out(Div, out, input, other)


def neg(input, *, out=None) -> Tensor:
    return dispatch_out(Neg, out, input)


def conj_physical(input: Tensor, *, out=None) -> Tensor:
    return dispatch_out(Conj, out, input)


def conj(input: Tensor) -> Tensor:
    """The complex conjugate; a real tensor is returned as it is (as torch's ``conj``)."""
    return dispatch(Conj, input) if input._data.dtype.kind == "c" else input


def resolve_conj(input: Tensor) -> Tensor:
    """The tensor itself: ember conjugates eagerly, so there is no conjugate bit."""
    return input


def is_conj(input: Tensor) -> bool:
    return False


def positive(input: Tensor) -> Tensor:
    """``+input``: the input itself."""
    if input._data.dtype == np.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def pow(input, exponent, *, out=None) -> Tensor:  # noqa: A001
    """``input ** exponent``; either may be a number."""
    return dispatch_out(Pow, out, input, exponent)


def float_power(input, exponent, *, out=None) -> Tensor:
    """``pow`` computed in double precision."""
    def double(x):
        return x.to(float64) if isinstance(x, Tensor) else x
    return dispatch_out(Pow, out, double(input), double(exponent))


def square(input, *, out=None) -> Tensor:
    """``input ** 2`` (integers and bools give int64, as in torch)."""
    return dispatch_out(Pow, out, input, 2)


def addcmul(input, tensor1, tensor2, *, value=1, out=None) -> Tensor:
    """``input + value * tensor1 * tensor2``."""
    return dispatch_out(Addcmul, out, input, tensor1, tensor2, value)


def addcdiv(input, tensor1, tensor2, *, value=1, out=None) -> Tensor:
    """``input + value * tensor1 / tensor2``."""
    return dispatch_out(Addcdiv, out, input, tensor1, tensor2, value)


def lerp(input, end, weight, *, out=None) -> Tensor:
    """``input + weight * (end - input)``; ``weight`` is a number or a tensor."""
    return dispatch_out(Lerp, out, input, end, weight)


def round(input, *, decimals: int | None = None, out=None) -> Tensor:  # noqa: A001
    """Round half to even, to ``decimals`` decimal places."""
    return dispatch_out(Round, out, input, decimals)


def logit(input, eps: float | None = None, *, out=None) -> Tensor:
    """``log(p / (1 - p))``, with ``p`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given."""
    return dispatch_out(Logit, out, input, eps)


def nan_to_num(input, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None, *, out=None) -> Tensor:
    """NaN -> ``nan``, +/-inf -> ``posinf``/``neginf`` (default: the dtype's extremes)."""
    return dispatch_out(NanToNum, out, input, nan, posinf, neginf)


def _check_exact_out(out, operands: tuple, message: str) -> None:
    """torch's check of ``clamp`` with number bounds and of ``where``: ``out`` must have the
    result dtype of ``operands`` exactly; ``message`` names ``{out}`` and ``{want}``."""
    if isinstance(out, Tensor):
        want = result_type_arrays(*(x._data if isinstance(x, Tensor) else x
                                    for x in operands if x is not None))
        if want.np != out._data.dtype:
            raise RuntimeError(message.format(out=out.dtype.scalar_name, want=want.scalar_name))


def clamp(input, min=None, max=None, *, out=None) -> Tensor:  # noqa: A002
    """Clamp into ``[min, max]``; either bound may be None, a number or a tensor."""
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        _check_exact_out(out, (input, min, max), "Found dtype {out} but expected {want}")
    return dispatch_out(Clamp, out, input, min, max)


def clamp_min(input, min, *, out=None) -> Tensor:  # noqa: A002
    return clamp(input, min, None, out=out)


def clamp_max(input, max, *, out=None) -> Tensor:  # noqa: A002
    return clamp(input, None, max, out=out)


def where(condition, input=None, other=None, *, out=None):
    """``input`` where ``condition`` holds, else ``other`` (numbers allowed); with only the
    condition, the indices of its true elements (``nonzero(as_tuple=True)``)."""
    if input is None and other is None:  # (a Tensor method: indexing sits above this module)
        return condition.nonzero(as_tuple=True)
    _check_exact_out(out, (input, other), "Expected out type to be {want} but got {out}")
    return dispatch_out(Where, out, condition, input, other)


_UNARY_OPS = (Sqrt, Rsqrt, Exp, Exp2, Expm1, Log, Log2, Log10, Log1p, Sin, Cos, Tan, Asin, Acos,
              Atan, Sinh, Cosh, Tanh, Asinh, Acosh, Atanh, Erf, Erfc, Erfinv, Sigmoid,
              Reciprocal, Frac, Abs, Sign, Sgn, Floor, Ceil, Trunc)
(sqrt, rsqrt, exp, exp2, expm1, log, log2, log10, log1p, sin, cos, tan, asin, acos, atan, sinh,
 cosh, tanh, asinh, acosh, atanh, erf, erfc, erfinv, sigmoid, reciprocal, frac, abs, sign, sgn,
 floor, ceil, trunc) = map(_unary_function, _UNARY_OPS)  # noqa: A001
floor_divide, remainder, xlogy = (_binary_function(op, number_input=True)
                                  for op in (FloorDivide, Remainder, Xlogy))
fmod, copysign = map(_binary_function, (Fmod, Copysign))
_TENSOR_OTHER = (Heaviside, Atan2, Hypot, Logaddexp, Logaddexp2, Maximum, Minimum, Fmax, Fmin)
(heaviside, atan2, hypot, logaddexp, logaddexp2, maximum, minimum, fmax, fmin) = (
    _binary_function(op, number_other=False) for op in _TENSOR_OTHER)  # no number overload

# torch's alternative names
subtract, multiply, divide, negative, absolute, fix, clip = sub, mul, div, neg, abs, trunc, clamp
arcsin, arccos, arctan, arctan2, arcsinh, arccosh, arctanh = asin, acos, atan, atan2, asinh, \
    acosh, atanh

__all__ = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
    "floor_divide", "neg", "negative", "positive", "conj", "conj_physical", "resolve_conj",
    "is_conj", "pow", "float_power", "square", "addcmul",
    "addcdiv", "lerp", "round", "logit", "nan_to_num", "clamp", "clip", "clamp_min",
    "clamp_max", "where", *(op.name for op in _UNARY_OPS), "remainder", "fmod", "heaviside",
    "atan2", "hypot", "logaddexp", "logaddexp2", "xlogy", "copysign", "maximum", "minimum",
    "fmax", "fmin", "absolute", "fix", "arcsin", "arccos", "arctan", "arctan2", "arcsinh",
    "arccosh", "arctanh"]
