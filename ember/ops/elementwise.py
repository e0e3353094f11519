"""Elementwise ops: arithmetic, math functions, activations, clamping, comparisons, logical
and bitwise ops, fills.

Each op is one ``Op`` (a NumPy kernel and a backward rule) plus a function with torch's
signature; Tensor methods, in-place variants and operators are installed at the end.

Most ops come from two templates: ``_Unary`` computes ``kernel(x, *params)`` and
``_Binary`` computes ``kernel(a, b)`` on operands promoted to torch's result type. Their
derivatives are written once, against a namespace ``m`` of functions: in an ordinary
``backward()`` ``m`` is NumPy (no graph, no dispatch overhead), and under
``create_graph=True`` it is this module, so the same formula records a differentiable
graph and higher-order gradients work.
"""

from __future__ import annotations

import builtins
import math
import sys
from types import SimpleNamespace

import ml_dtypes
import numpy as np

from .._dispatch import Op, dispatch
from .._dtype import bfloat16, float64, from_numpy_dtype, result_type_arrays
from .._state import STATE
from .._tensor import Tensor, _make, tensor_method
from ._util import dtype_name, float_result, promote, promote_many
from .creation import zeros_like

_BF16 = bfloat16.np


# ---- shared helpers ------------------------------------------------------------------------

def broadcast_shape(a: tuple, b: tuple) -> tuple:
    """The broadcast shape of two shapes; torch's RuntimeError when they don't broadcast."""
    n = builtins.max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b "
                               f"({y}) at non-singleton dimension {i}")
        out.append(y if x == 1 else x)
    return tuple(out)


def _check_broadcast(*operands) -> None:
    """Raise torch's error unless the array operands broadcast together."""
    shape = None
    for x in operands:
        if type(x) is np.ndarray:
            shape = x.shape if shape is None or shape == x.shape else broadcast_shape(shape,
                                                                                      x.shape)


def _operands(a, b):
    """Check that ``a`` and ``b`` broadcast and promote them to torch's result type."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.shape != b.shape:
        broadcast_shape(a.shape, b.shape)
    a, b = promote(a, b)
    if type(a) is not type(b) and _BF16 in (getattr(a, "dtype", None), getattr(b, "dtype", None)):
        return promote_many(a, b)  # ml_dtypes turns bfloat16 op Python float into float32
    return a, b


def _float_operands(a, b):
    """Integer operands of an op that computes in floats, both in the default float dtype;
    converted from the originals, as integer promotion wraps numbers (``uint8 / -1``)."""
    return float_result(np.asarray(a)), float_result(np.asarray(b))


def _result_dtype(a, b):
    return a.dtype if type(a) is np.ndarray else np.asarray(b).dtype


def _check_sub(a, b) -> None:
    bools = [np.asarray(x).dtype == np.bool_ for x in (a, b)]
    if all(bools):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    if any(bools):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")


def _is_float(x) -> bool:
    dt = np.asarray(x).dtype if type(x) is not np.ndarray else x.dtype
    return dt.kind in "fc" or dt == _BF16


def _unsupported(name: str, x) -> NotImplementedError:
    """torch's error for a kernel that has no implementation for a dtype."""
    return NotImplementedError(f'"{name}_cpu" not implemented for '
                               f"'{dtype_name(np.asarray(x))}'")


def _reject_bool(name: str, a, b) -> None:
    """torch has no bool kernel for division-like ops: both operands bool is an error."""
    if np.asarray(a).dtype == np.bool_ and np.asarray(b).dtype == np.bool_:
        raise _unsupported(name, a)


def _check_int_divisor(a, b) -> None:
    """Integer division by zero raises in torch (it has no integer inf), unless the result
    is empty."""
    b = np.asarray(b)
    if b.dtype.kind in "iub" and np.size(a) and b.size and not np.all(b):
        raise RuntimeError("ZeroDivisionError")


def _data(x):
    return x._data if isinstance(x, Tensor) else x


def _as_tensor(x, like: Tensor) -> Tensor:
    """A number operand as a 0-d tensor of ``like``'s dtype (for differentiable formulas)."""
    return x if isinstance(x, Tensor) else _make(np.asarray(x, dtype=like._data.dtype))


def _wrap(x) -> Tensor | None:
    return None if x is None else _make(np.asarray(x))


def _out(result: Tensor, out: Tensor | None) -> Tensor:
    """Honour an ``out=`` argument: resize ``out`` if needed and copy the result in."""
    if out is None:
        return result
    if out._data.shape != result._data.shape:
        out._data = np.empty(result._data.shape, dtype=out._data.dtype)
    return out.copy_(result) if out._data.size else out


def _kernels():
    from . import _kernels_elementwise
    return _kernels_elementwise


def _numba_unary(name: str):
    """A Numba kernel of ``_kernels_elementwise``; half types are computed in float32."""
    def kernel(x):
        fn = getattr(_kernels(), name)
        if x.dtype == np.float32 or x.dtype == np.float64:
            return fn(x)
        return fn(x.astype(np.float32)).astype(x.dtype)
    kernel.__name__ = name
    return kernel


_erf, _erfc, _erfinv = (_numba_unary(n) for n in ("erf", "erfc", "erfinv"))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)


def _log(x):
    """``log`` promoting integers to the default float, as ``torch.log`` (NumPy: float16)."""
    return np.log(float_result(np.asarray(x)))


def _xlogy(a, b):
    return np.where((a == 0) & ~np.isnan(b), 0, a * np.log(b))


# The NumPy side of the derivative formulas (the ember side is this module itself).
_NP = SimpleNamespace(
    exp=np.exp, exp2=np.exp2, log=_log, sqrt=np.sqrt, sin=np.sin, cos=np.cos,
    sinh=np.sinh, cosh=np.cosh, tanh=np.tanh, sign=np.sign, where=np.where, isnan=np.isnan,
    isfinite=np.isfinite, trunc=np.trunc, _div_floor=np.floor_divide,
    zeros_like=np.zeros_like, erf=_erf, sigmoid=_sigmoid, softplus=_softplus, xlogy=_xlogy)


# ---- templates -----------------------------------------------------------------------------

class _Unary(Op):
    """``out = kernel(x, *params)`` for one tensor and fixed parameters.

    ``derivative(m, x, out, *params)`` gives d out / d x (None: the gradient is zero, as
    for ``floor``); ``saves`` names what it reads ("x", "out", both or neither). ``ints``
    says what integer and bool inputs do: "float" (computed in the default float dtype),
    "int" (kept; bool rejected), "intbool" (kept) or "reject" (torch has no kernel).
    """

    abstract = True

    ints = "float"
    saves = "x"
    derivative = None

    @staticmethod
    def kernel(x, *params):
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx, a, *params):
        if not _is_float(a):
            if cls.ints == "float":
                a = float_result(a)
            elif cls.ints == "reject" or (cls.ints == "int" and a.dtype == np.bool_):
                raise _unsupported(cls.name, a)
        if a.dtype == _BF16:  # computed in float32, as torch does for reduced precision
            out = np.asarray(cls.kernel(a.astype(np.float32), *params)).astype(_BF16)
        else:
            out = cls.kernel(a, *params)
        saves = cls.saves
        ctx.save_for_backward(a if "x" in saves else None, out if "out" in saves else None)
        ctx.params = params
        return out

    @classmethod
    def backward(cls, ctx, g):
        if cls.derivative is None:
            return _make(np.zeros_like(g._data))
        x, out = ctx.saved_tensors
        if STATE.grad_enabled:
            return g * cls.derivative(_EM, x, out, *ctx.params)
        d = cls.derivative(_NP, _data(x), _data(out), *ctx.params)
        return _make(np.asarray(g._data * d))


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _unary(name: str, kernel, derivative=None, saves: str = "x", ints: str = "float"):
    """A ``_Unary`` op class for torch's op ``name`` (``leaky_relu`` -> ``LeakyRelu``)."""
    return type(_class_name(name), (_Unary,), {
        "name": name, "kernel": staticmethod(kernel), "saves": saves, "ints": ints,
        "derivative": None if derivative is None else staticmethod(derivative)})


class _Binary(Op):
    """``out = kernel(a, b)`` on promoted operands; ``grads(m, g, a, b, out)`` returns both
    gradients (None for ``grads``: torch has no derivative). ``ints``: "keep", "float" or
    "reject", as for ``_Unary``."""

    abstract = True

    ints = "keep"
    grads = None

    @staticmethod
    def kernel(a, b):
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx, a, b):
        _check_broadcast(a, b)
        x, y = promote_many(a, b)
        if cls.ints != "keep" and not _is_float(x):
            if cls.ints == "reject":
                raise _unsupported(cls.name, x)
            x, y = _float_operands(a, b)
        out = cls.kernel(x, y)
        ctx.save_for_backward(a, b, out)
        return out

    @classmethod
    def backward(cls, ctx, g):
        if cls.grads is None:
            raise RuntimeError(f"derivative for aten::{cls.name} is not implemented")
        a, b, out = ctx.saved_tensors
        if STATE.grad_enabled:
            return cls.grads(_EM, g, _as_tensor(a, out), _as_tensor(b, out), out)
        ga, gb = cls.grads(_NP, g._data, _data(a), _data(b), out._data)
        return _wrap(ga), _wrap(gb)


class _NoGrad(Op):
    """A non-differentiable op (comparisons, predicates, logical and bitwise ops)."""

    abstract = True

    differentiable = False

    @staticmethod
    def kernel(*args):
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx, *args):
        return cls.kernel(*args)


def _nograd(name: str, kernel) -> type[Op]:
    return type(_class_name(name), (_NoGrad,), {"name": name, "kernel": staticmethod(kernel)})


# ---- arithmetic ----------------------------------------------------------------------------

class Add(Op):
    @staticmethod
    def forward(ctx, a, b, alpha=1):
        a, b = _operands(a, b)
        ctx.alpha = alpha
        if alpha == 1:
            return a + b
        return np.asarray(a + alpha * b).astype(_result_dtype(a, b), copy=False)

    @staticmethod
    def backward(ctx, g):
        return g, (g if ctx.alpha == 1 else g * ctx.alpha)


class Sub(Op):
    @staticmethod
    def forward(ctx, a, b, alpha=1):
        _check_sub(a, b)
        a, b = _operands(a, b)
        ctx.alpha = alpha
        if alpha == 1:
            return a - b
        return np.asarray(a - alpha * b).astype(_result_dtype(a, b), copy=False)

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.alpha == 1 else g * -ctx.alpha)


class Mul(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        a, b = _operands(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * a


class Div(Op):
    @staticmethod
    def forward(ctx, a, b, rounding_mode=None):
        x, y = _operands(a, b)
        if rounding_mode is None:
            if not (_is_float(x) or _is_float(y)):  # true division of integers gives floats
                x, y = _float_operands(a, b)
            ctx.save_for_backward(a, b)
            return np.true_divide(x, y)
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
        if getattr(ctx, "rounding", False):  # rounded quotients are piecewise constant
            return _make(np.zeros_like(g._data)), _make(np.zeros_like(g._data))
        a, b = ctx.saved_tensors
        return g / b, -g * a / (b * b)


def _floor_divide(x, y):
    _reject_bool("div_floor", x, y)
    _check_int_divisor(x, y)
    return np.floor_divide(x, y)


class Neg(Op):
    @staticmethod
    def forward(ctx, a):
        if a.dtype == np.bool_:
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                               "If you are trying to invert a mask, use the `~` or "
                               "`logical_not()` operator instead.")
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(_Binary):
    @classmethod
    def forward(cls, ctx, a, b):
        x, y = _operands(a, b)
        if _is_float(x) or _is_float(y):  # (x stays a Python int in ``2 ** float_tensor``)
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
    def grads(m, g, a, b, out):
        ga = m.where(b == 0, 0.0, g * b * a ** (b - 1))
        base = a.to(out.dtype) if isinstance(a, Tensor) else np.asarray(a, out.dtype)
        gb = m.where((a == 0) & (b >= 0), 0.0, g * out * m.log(base))  # log in out's dtype
        return ga, gb


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
    def grads(m, g, a, b, out):
        return g, -g * m._div_floor(a, b)


class Fmod(_Binary):
    @staticmethod
    def kernel(a, b):
        _reject_bool("fmod", a, b)
        _check_int_divisor(a, b)
        return np.fmod(a, b)

    @staticmethod
    def grads(m, g, a, b, out):
        return g, -g * m.trunc(a / b)


class FloorDivide(_Binary):  # torch records it but has no derivative for it
    name = "floor_divide"
    kernel = staticmethod(_floor_divide)


class Heaviside(_Binary):
    name = "heaviside"
    kernel = staticmethod(lambda a, b: np.heaviside(a, b).astype(a.dtype, copy=False))

    @classmethod
    def forward(cls, ctx, a, b):
        if np.asarray(a).dtype != np.asarray(b).dtype:
            raise RuntimeError("heaviside is not yet implemented for tensors with different "
                               "dtypes.")
        return super().forward(ctx, a, b)


class Atan2(_Binary):
    ints = "float"
    kernel = staticmethod(np.arctan2)

    @staticmethod
    def grads(m, g, a, b, out):
        d = a * a + b * b
        r = g / m.where(d == 0, 1.0, d)  # zero gradient at the origin, as torch
        return r * b, -r * a


class Hypot(_Binary):
    ints = "reject"
    kernel = staticmethod(np.hypot)

    @staticmethod
    def grads(m, g, a, b, out):
        return g * a / out, g * b / out


class Logaddexp(_Binary):
    ints = "reject"
    kernel = staticmethod(np.logaddexp)

    @staticmethod
    def grads(m, g, a, b, out):
        return g / (1 + m.exp(b - a)), g / (1 + m.exp(a - b))


class Logaddexp2(_Binary):
    ints = "reject"
    kernel = staticmethod(np.logaddexp2)

    @staticmethod
    def grads(m, g, a, b, out):
        return g / (1 + m.exp2(b - a)), g / (1 + m.exp2(a - b))


class Xlogy(_Binary):
    ints = "float"
    kernel = staticmethod(_xlogy)

    @staticmethod
    def grads(m, g, a, b, out):
        return m.where((a == 0) & (b <= 0), 0.0, m.xlogy(g, b)), g * a / b


class Copysign(_Binary):
    ints = "float"
    kernel = staticmethod(np.copysign)

    @staticmethod
    def grads(m, g, a, b, out):
        return g * m.where(a == 0, 0.0, out / a), m.zeros_like(g)


def _split_grad(m, g, a_wins, b_wins, tie):
    """Gradients of a selection between ``a`` and ``b``; ties share it as torch does."""
    shared = m.where(tie, g / 2, g)
    return m.where(b_wins, 0.0, shared), m.where(a_wins, 0.0, shared)


class Maximum(_Binary):
    kernel = staticmethod(np.maximum)

    @staticmethod
    def grads(m, g, a, b, out):
        return _split_grad(m, g, a > b, a < b, a == b)


class Minimum(_Binary):
    kernel = staticmethod(np.minimum)

    @staticmethod
    def grads(m, g, a, b, out):
        return _split_grad(m, g, a < b, a > b, a == b)


class Fmax(_Binary):
    kernel = staticmethod(np.fmax)

    @staticmethod
    def grads(m, g, a, b, out):
        a_taken = (a >= b) | m.isnan(b)
        return m.where(a_taken, g, 0.0), m.where(a_taken, 0.0, g)


class Fmin(_Binary):
    kernel = staticmethod(np.fmin)

    @staticmethod
    def grads(m, g, a, b, out):
        a_taken = (a <= b) | m.isnan(b)
        return m.where(a_taken, g, 0.0), m.where(a_taken, 0.0, g)


class Addcmul(Op):
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
        return g, g * (v * t2), g * (v * t1)


class Addcdiv(Op):
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
        return g, g * v / t2, -g * v * t1 / (t2 * t2)


class Lerp(Op):
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
        return g * (1 - w), g * w, (g * (end - start) if isinstance(w, Tensor) else None)


def _dt(x) -> str:
    return from_numpy_dtype(x.dtype).name


# ---- unary math ----------------------------------------------------------------------------

_LN2, _LN10 = math.log(2.0), math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _rounding(fn):
    """A rounding kernel: integers are already whole, so they are copied."""
    return lambda x: fn(x) if _is_float(x) else x.copy()


def _round(x, decimals):
    if not _is_float(x):
        if decimals is not None:
            raise _unsupported("round", x)
        return x.copy()
    if not decimals:
        return np.rint(x)
    if x.dtype.itemsize < 4:  # torch scales half types in float32
        return np.round(x.astype(np.float32), decimals).astype(x.dtype)
    return np.round(x, decimals)


def _sign(x):
    return x.copy() if x.dtype == np.bool_ else np.sign(x)


def _logit(x, eps):
    z = x if eps is None else np.clip(x, eps, 1 - eps)
    return np.log(z / (1 - z))


def _logit_grad(m, x, out, eps):
    d = 1 / (x * (1 - x))
    return d if eps is None else m.where((x < eps) | (x > 1 - eps), 0.0, d)


def _nan_to_num(x, nan, posinf, neginf):
    out = x.copy()
    if _is_float(x):
        info = ml_dtypes.finfo(x.dtype)
        out[np.isnan(x)] = nan
        out[x == np.inf] = info.max if posinf is None else posinf
        out[x == -np.inf] = info.min if neginf is None else neginf
    return out


Sqrt = _unary("sqrt", np.sqrt, lambda m, x, y: 0.5 / y, "out")
Rsqrt = _unary("rsqrt", lambda x: np.reciprocal(np.sqrt(x)), lambda m, x, y: -0.5 * y * y * y,
               "out")
Exp = _unary("exp", np.exp, lambda m, x, y: y, "out")
Exp2 = _unary("exp2", np.exp2, lambda m, x, y: y * _LN2, "out")
Expm1 = _unary("expm1", np.expm1, lambda m, x, y: y + 1, "out")
Log = _unary("log", np.log, lambda m, x, y: 1 / x)
Log2 = _unary("log2", np.log2, lambda m, x, y: 1 / (x * _LN2))
Log10 = _unary("log10", np.log10, lambda m, x, y: 1 / (x * _LN10))
Log1p = _unary("log1p", np.log1p, lambda m, x, y: 1 / (x + 1))
Sin = _unary("sin", np.sin, lambda m, x, y: m.cos(x))
Cos = _unary("cos", np.cos, lambda m, x, y: -m.sin(x))
Tan = _unary("tan", np.tan, lambda m, x, y: 1 + y * y, "out")
Asin = _unary("asin", np.arcsin, lambda m, x, y: 1 / m.sqrt(1 - x * x))
Acos = _unary("acos", np.arccos, lambda m, x, y: -1 / m.sqrt(1 - x * x))
Atan = _unary("atan", np.arctan, lambda m, x, y: 1 / (1 + x * x))
Sinh = _unary("sinh", np.sinh, lambda m, x, y: m.cosh(x))
Cosh = _unary("cosh", np.cosh, lambda m, x, y: m.sinh(x))
Tanh = _unary("tanh", np.tanh, lambda m, x, y: 1 - y * y, "out")
Asinh = _unary("asinh", np.arcsinh, lambda m, x, y: 1 / m.sqrt(x * x + 1))
Acosh = _unary("acosh", np.arccosh, lambda m, x, y: 1 / m.sqrt(x * x - 1))
Atanh = _unary("atanh", np.arctanh, lambda m, x, y: 1 / (1 - x * x))
Erf = _unary("erf", _erf, lambda m, x, y: _TWO_OVER_SQRT_PI * m.exp(-x * x))
Erfc = _unary("erfc", _erfc, lambda m, x, y: -_TWO_OVER_SQRT_PI * m.exp(-x * x))
Erfinv = _unary("erfinv", _erfinv, lambda m, x, y: 0.5 * math.sqrt(math.pi) * m.exp(y * y),
                "out")
Sigmoid = _unary("sigmoid", _sigmoid, lambda m, x, y: y * (1 - y), "out")
Logit = _unary("logit", _logit, _logit_grad)
Reciprocal = _unary("reciprocal", np.reciprocal, lambda m, x, y: -y * y, "out")
Frac = _unary("frac", lambda x: x - np.trunc(x), lambda m, x, y: 1.0, "", ints="reject")
Abs = _unary("abs", np.abs, lambda m, x, y: m.where(m.isnan(x), 0.0, m.sign(x)), ints="int")
Sign = _unary("sign", _sign, saves="", ints="intbool")
Sgn = _unary("sgn", _sign, saves="", ints="intbool")
Floor = _unary("floor", _rounding(np.floor), saves="", ints="int")
Ceil = _unary("ceil", _rounding(np.ceil), saves="", ints="int")
Trunc = _unary("trunc", _rounding(np.trunc), saves="", ints="int")
Round = _unary("round", _round, saves="", ints="int")
NanToNum = _unary("nan_to_num", _nan_to_num, lambda m, x, y, *p: m.isfinite(x), ints="intbool")


# ---- activations ---------------------------------------------------------------------------

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x)))
    return 0.5 * x * (1 + _erf(x * _SQRT_HALF))


def _gelu_grad(m, x, out, approximate):
    if approximate == "tanh":
        t = m.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * x * x)
    return 0.5 * (1 + m.erf(x * _SQRT_HALF)) + x * m.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _silu_grad(m, x, out):
    s = m.sigmoid(x)
    return s * (1 + x * (1 - s))


def _mish_grad(m, x, out):
    t = m.tanh(m.softplus(x))
    return t + x * m.sigmoid(x) * (1 - t * t)


def _clip(x, lo, hi):
    """``min(max(x, lo), hi)`` (NaN stays NaN), in ``x``'s dtype."""
    return np.minimum(np.maximum(x, lo), hi).astype(x.dtype, copy=False)


def _elu(x, alpha, scale, input_scale):
    return np.where(x > 0, x * scale, np.expm1(x * input_scale) * (alpha * scale))


def _elu_grad(m, x, out, alpha, scale, input_scale):
    return m.where(x > 0, scale, m.exp(x * input_scale) * (alpha * scale * input_scale))


Relu = _unary("relu", lambda x: np.maximum(x, 0), lambda m, x, y: y > 0, "out", ints="int")
def _fusable(x: np.ndarray) -> bool:
    return (x.dtype == np.float32 or x.dtype == np.float64) and x.flags.c_contiguous


class _FusedActivation(_Unary):
    """An activation whose float32/float64 forward and first-order backward are each one
    Numba pass (``_kernels_transformer``); other dtypes and layouts, and the backward under
    ``create_graph``, use ``_Unary``'s formulas. ``kernel_name(*params)`` names the kernel."""

    abstract = True

    ints = "reject"

    @staticmethod
    def kernel_name(*params) -> str:
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx, a, *params):
        if not _fusable(a):
            return super().forward(ctx, a, *params)
        from . import _kernels_transformer as K
        ctx.save_for_backward(a, None)
        ctx.params = params
        return K.activation(a, cls.kernel_name(*params))

    @classmethod
    def backward(cls, ctx, g):
        x, _ = ctx.saved_tensors
        gd = g._data
        if STATE.grad_enabled or not _fusable(x._data) or gd.dtype != x._data.dtype \
                or gd.shape != x._data.shape:
            return super().backward(ctx, g)
        from . import _kernels_transformer as K
        return _make(K.activation_backward(np.ascontiguousarray(gd), x._data,
                                           cls.kernel_name(*ctx.params)))


class Gelu(_FusedActivation):
    name = "gelu"
    kernel = staticmethod(_gelu)
    derivative = staticmethod(_gelu_grad)

    @staticmethod
    def kernel_name(approximate):
        return "gelu_tanh" if approximate == "tanh" else "gelu"


class Silu(_FusedActivation):
    name = "silu"
    kernel = staticmethod(lambda x: x * _sigmoid(x))
    derivative = staticmethod(_silu_grad)

    @staticmethod
    def kernel_name():
        return "silu"
Mish = _unary("mish", lambda x: x * np.tanh(_softplus(x)), _mish_grad, ints="reject")
LeakyRelu = _unary("leaky_relu", lambda x, s: np.where(x > 0, x, x * s),
                   lambda m, x, y, s: m.where(x > 0, 1.0, s), ints="reject")
Elu = _unary("elu", _elu, _elu_grad, ints="reject")
Softplus = _unary("softplus", _softplus,
                  lambda m, x, y, beta, th: m.where(x * beta > th, 1.0, m.sigmoid(x * beta)),
                  ints="reject")
Hardtanh = _unary("hardtanh", _clip, lambda m, x, y, lo, hi: (x > lo) & (x < hi), ints="int")
Hardswish = _unary("hardswish", lambda x: x * np.clip(x + 3, 0, 6) / 6,
                   lambda m, x, y: m.where(x <= -3, 0.0, m.where(x < 3, x / 3 + 0.5, 1.0)),
                   ints="reject")
Hardsigmoid = _unary("hardsigmoid", lambda x: np.clip(x + 3, 0, 6) / 6,
                     lambda m, x, y: m.where((x > -3) & (x < 3), 1 / 6, 0.0), ints="reject")
Threshold = _unary("threshold", lambda x, th, v: np.where(x > th, x, v).astype(x.dtype),
                   lambda m, x, y, th, v: x > th, ints="int")
LogSigmoid = _unary("log_sigmoid", lambda x: -np.logaddexp(0, -x),
                    lambda m, x, y: m.sigmoid(-x), ints="reject")
Softshrink = _unary("softshrink",
                    lambda x, lam: np.where(x > lam, x - lam, np.where(x < -lam, x + lam, 0)),
                    lambda m, x, y, lam: (x > lam) | (x < -lam), ints="reject")
Hardshrink = _unary("hardshrink", lambda x, lam: np.where((x >= -lam) & (x <= lam), 0, x),
                    lambda m, x, y, lam: (x > lam) | (x < -lam), ints="reject")


# ---- clamp, where --------------------------------------------------------------------------

class Clamp(Op):
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


class Where(Op):
    @staticmethod
    def forward(ctx, cond, x, y):
        if np.asarray(cond).dtype != np.bool_:
            raise RuntimeError("where expected condition to be a boolean tensor, but got a "
                               f"tensor with dtype {dtype_name(np.asarray(cond))}")
        _check_broadcast(cond, x, y)
        x, y = promote(x, y)
        ctx.save_for_backward(cond)
        return np.where(cond, x, y)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        return None, where(cond, g, 0.0), where(cond, 0.0, g)


# ---- comparisons, predicates, logical and bitwise ops -------------------------------------

def _comparison(ufunc):
    return lambda a, b: ufunc(*_operands(a, b))


def _bitwise(ufunc, kernel_name: str):
    def kernel(a, b):
        a, b = _operands(a, b)
        for x in (a, b):  # either may be the (promoted) tensor
            if type(x) is np.ndarray and _is_float(x):
                raise _unsupported(kernel_name, x)
        return ufunc(a, b)
    return kernel


def _float_test(ufunc, integer_value: bool):
    """A float predicate (isnan, ...); integer and bool elements are all ``integer_value``."""
    return lambda x: ufunc(x) if _is_float(x) else np.full(x.shape, integer_value)


def _bitwise_not(x):
    if _is_float(x):
        raise _unsupported("bitwise_not", x)
    return np.invert(x)


def _isclose(a, b, rtol, atol, equal_nan):
    if a.dtype != b.dtype:
        raise RuntimeError(f"{dtype_name(a)} did not match {dtype_name(b)}")
    _check_broadcast(a, b)
    return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


Eq = _nograd("eq", _comparison(np.equal))
Ne = _nograd("ne", _comparison(np.not_equal))
Lt = _nograd("lt", _comparison(np.less))
Le = _nograd("le", _comparison(np.less_equal))
Gt = _nograd("gt", _comparison(np.greater))
Ge = _nograd("ge", _comparison(np.greater_equal))
LogicalAnd = _nograd("logical_and", _comparison(np.logical_and))
LogicalOr = _nograd("logical_or", _comparison(np.logical_or))
LogicalXor = _nograd("logical_xor", _comparison(np.logical_xor))
LogicalNot = _nograd("logical_not", np.logical_not)
BitwiseAnd = _nograd("bitwise_and", _bitwise(np.bitwise_and, "bitwise_and"))
BitwiseOr = _nograd("bitwise_or", _bitwise(np.bitwise_or, "bitwise_or"))
BitwiseXor = _nograd("bitwise_xor", _bitwise(np.bitwise_xor, "bitwise_xor"))
BitwiseLeftShift = _nograd("bitwise_left_shift", _bitwise(np.left_shift, "lshift"))
BitwiseRightShift = _nograd("bitwise_right_shift", _bitwise(np.right_shift, "rshift"))
BitwiseNot = _nograd("bitwise_not", _bitwise_not)
IsNan = _nograd("isnan", _float_test(np.isnan, False))
IsInf = _nograd("isinf", _float_test(np.isinf, False))
IsFinite = _nograd("isfinite", _float_test(np.isfinite, True))
IsPosInf = _nograd("isposinf", _float_test(lambda x: x == np.inf, False))
IsNegInf = _nograd("isneginf", _float_test(lambda x: x == -np.inf, False))
SignBit = _nograd("signbit", lambda x: np.signbit(x) if _is_float(x) else x < 0)
IsClose = _nograd("isclose", _isclose)
Equal = _nograd("equal", lambda a, b: np.asarray(a.shape == b.shape and bool(
    np.array_equal(*promote(a, b)))))


# ---- fills ---------------------------------------------------------------------------------

class Fill(Op):
    """``self.fill_(value)``: every element becomes ``value`` (a number or a 0-d tensor)."""

    @staticmethod
    def forward(ctx, dst, value):
        if type(value) is np.ndarray and value.ndim:
            raise RuntimeError("fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions.")
        return np.full_like(dst, value)

    @staticmethod
    def backward(ctx, g):
        return _make(np.zeros_like(g._data)), g.sum()


# ---- functions with torch's signatures -----------------------------------------------------

def add(input, other, *, alpha=1, out=None) -> Tensor:
    """``input + alpha * other``."""
    return _out(dispatch(Add, input, other, alpha) if alpha != 1 else
                dispatch(Add, input, other), out)


def sub(input, other, *, alpha=1, out=None) -> Tensor:
    """``input - alpha * other``."""
    return _out(dispatch(Sub, input, other, alpha) if alpha != 1 else
                dispatch(Sub, input, other), out)


def mul(input, other, *, out=None) -> Tensor:
    return _out(dispatch(Mul, input, other), out)


def div(input, other, *, rounding_mode=None, out=None) -> Tensor:
    """True division, or rounded with ``rounding_mode`` "trunc" or "floor"."""
    if rounding_mode is None:
        return _out(dispatch(Div, input, other), out)
    return _out(dispatch(Div, input, other, rounding_mode), out)


def _div_floor(a: Tensor, b: Tensor) -> Tensor:
    """Floor division with a (zero) derivative, for the formulas of ``_Binary`` ops."""
    return dispatch(Div, a, b, "floor")


def true_divide(input, other, *, out=None) -> Tensor:
    return _out(dispatch(Div, input, other), out)


def neg(input, *, out=None) -> Tensor:
    return _out(dispatch(Neg, input), out)


def positive(input: Tensor) -> Tensor:
    """``+input``: the input itself."""
    if input._data.dtype == np.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def pow(input, exponent, *, out=None) -> Tensor:  # noqa: A001
    """``input ** exponent``; either may be a number."""
    return _out(dispatch(Pow, input, exponent), out)


def float_power(input, exponent, *, out=None) -> Tensor:
    """``pow`` computed in double precision."""
    def double(x):
        return x.to(float64) if isinstance(x, Tensor) else x
    return _out(dispatch(Pow, double(input), double(exponent)), out)


def square(input, *, out=None) -> Tensor:
    """``input ** 2`` (integers and bools give int64, as in torch)."""
    return _out(dispatch(Pow, input, 2), out)


def addcmul(input, tensor1, tensor2, *, value=1, out=None) -> Tensor:
    """``input + value * tensor1 * tensor2``."""
    return _out(dispatch(Addcmul, input, tensor1, tensor2, value), out)


def addcdiv(input, tensor1, tensor2, *, value=1, out=None) -> Tensor:
    """``input + value * tensor1 / tensor2``."""
    return _out(dispatch(Addcdiv, input, tensor1, tensor2, value), out)


def lerp(input, end, weight, *, out=None) -> Tensor:
    """``input + weight * (end - input)``; ``weight`` is a number or a tensor."""
    return _out(dispatch(Lerp, input, end, weight), out)


def round(input, *, decimals: int | None = None, out=None) -> Tensor:  # noqa: A001
    """Round half to even, to ``decimals`` decimal places."""
    return _out(dispatch(Round, input, decimals), out)


def logit(input, eps: float | None = None, *, out=None) -> Tensor:
    """``log(p / (1 - p))``, with ``p`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given."""
    return _out(dispatch(Logit, input, eps), out)


def nan_to_num(input, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None, *, out=None) -> Tensor:
    """NaN -> ``nan``, +/-inf -> ``posinf``/``neginf`` (default: the dtype's extremes)."""
    return _out(dispatch(NanToNum, input, nan, posinf, neginf), out)


def clamp(input, min=None, max=None, *, out=None) -> Tensor:  # noqa: A002
    """Clamp into ``[min, max]``; either bound may be None, a number or a tensor."""
    return _out(dispatch(Clamp, input, min, max), out)


def clamp_min(input, min, *, out=None) -> Tensor:  # noqa: A002
    return _out(dispatch(Clamp, input, min, None), out)


def clamp_max(input, max, *, out=None) -> Tensor:  # noqa: A002
    return _out(dispatch(Clamp, input, None, max), out)


def where(condition, input=None, other=None, *, out=None):
    """``input`` where ``condition`` holds, else ``other`` (numbers allowed); with only the
    condition, the indices of its true elements (``nonzero(as_tuple=True)``)."""
    if input is None and other is None:
        return tuple(_make(i) for i in np.nonzero(np.atleast_1d(condition._data)))
    return _out(dispatch(Where, condition, input, other), out)


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


def _unary_function(op: type[Op]):
    """``name(input, *, out=None)`` running ``op`` (named after it)."""
    def fn(input: Tensor, *, out: Tensor | None = None) -> Tensor:
        return _out(dispatch(op, input), out)
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = f"Elementwise ``{op.name}``, as ``torch.{op.name}``."
    return fn


def _require_tensor(name: str, x, position: int) -> None:
    """torch's TypeError for a number where its signature wants a Tensor."""
    if not isinstance(x, Tensor):
        arg = ("input", "other")[position - 1]
        raise TypeError(f"{name}(): argument '{arg}' (position {position}) must be Tensor, not "
                        f"{type(x).__name__}")


def _binary_function(op: type[Op], number_input: bool = False, number_other: bool = True):
    """``name(input, other, *, out=None)`` running ``op`` (named after it); which operands
    may be numbers follows torch's overloads."""
    def fn(input, other, *, out: Tensor | None = None) -> Tensor:
        if not number_input:
            _require_tensor(op.name, input, 1)
        if not number_other:
            _require_tensor(op.name, other, 2)
        return _out(dispatch(op, input, other), out)
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = f"Elementwise ``{op.name}``, as ``torch.{op.name}``."
    return fn


_UNARY_OPS = (Sqrt, Rsqrt, Exp, Exp2, Expm1, Log, Log2, Log10, Log1p, Sin, Cos, Tan, Asin, Acos,
              Atan, Sinh, Cosh, Tanh, Asinh, Acosh, Atanh, Erf, Erfc, Erfinv, Sigmoid,
              Reciprocal, Frac, Abs, Sign, Sgn, Floor, Ceil, Trunc, Relu)
(sqrt, rsqrt, exp, exp2, expm1, log, log2, log10, log1p, sin, cos, tan, asin, acos, atan, sinh,
 cosh, tanh, asinh, acosh, atanh, erf, erfc, erfinv, sigmoid, reciprocal, frac, abs, sign, sgn,
 floor, ceil, trunc, relu) = map(_unary_function, _UNARY_OPS)  # noqa: A001
(logical_not, bitwise_not, isnan, isinf, isfinite, isposinf, isneginf, signbit) = map(
    _unary_function, (LogicalNot, BitwiseNot, IsNan, IsInf, IsFinite, IsPosInf, IsNegInf,
                      SignBit))
(floor_divide, remainder, xlogy, bitwise_and, bitwise_or, bitwise_xor, bitwise_left_shift,
 bitwise_right_shift) = (_binary_function(op, number_input=True) for op in (
    FloorDivide, Remainder, Xlogy, BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseLeftShift,
    BitwiseRightShift))
fmod, copysign, eq, ne, lt, le, gt, ge = map(_binary_function, (Fmod, Copysign, Eq, Ne, Lt, Le,
                                                                Gt, Ge))
_TENSOR_OTHER = (Heaviside, Atan2, Hypot, Logaddexp, Logaddexp2, Maximum, Minimum, Fmax, Fmin,
                 LogicalAnd, LogicalOr, LogicalXor)  # torch has no overload with a number
(heaviside, atan2, hypot, logaddexp, logaddexp2, maximum, minimum, fmax, fmin, logical_and,
 logical_or, logical_xor) = (_binary_function(op, number_other=False) for op in _TENSOR_OTHER)

# torch's alternative names
subtract, multiply, divide, negative, absolute, fix, clip = sub, mul, div, neg, abs, trunc, clamp
arcsin, arccos, arctan, arctan2, arcsinh, arccosh, arctanh = asin, acos, atan, atan2, asinh, \
    acosh, atanh
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


# ---- activations (ember.X where torch has torch.X; the rest for nn.functional) ------------

def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit; ``approximate="tanh"`` uses the tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return dispatch(Gelu, input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)``."""
    return dispatch(Silu.inplace_op() if inplace else Silu, input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``."""
    return dispatch(Mish.inplace_op() if inplace else Mish, input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""
    return dispatch(Softplus, input, beta, threshold)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return dispatch(LeakyRelu.inplace_op() if inplace else LeakyRelu, input, negative_slope)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, True)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return dispatch(Elu.inplace_op() if inplace else Elu, input, alpha, 1.0, 1.0)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """Scaled ELU with the self-normalising constants."""
    return dispatch(Elu.inplace_op() if inplace else Elu, input, _SELU_ALPHA, _SELU_SCALE, 1.0)


def selu_(input: Tensor) -> Tensor:
    return selu(input, True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return dispatch(Elu.inplace_op() if inplace else Elu, input, alpha, 1.0, 1.0 / alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, True)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """Clamp into ``[min_val, max_val]`` (gradient zero at the bounds)."""
    return dispatch(Hardtanh.inplace_op() if inplace else Hardtanh, input, min_val, max_val)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6``."""
    return dispatch(Hardswish.inplace_op() if inplace else Hardswish, input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``."""
    return dispatch(Hardsigmoid.inplace_op() if inplace else Hardsigmoid, input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, else ``value``."""
    return dispatch(Threshold.inplace_op() if inplace else Threshold, input, threshold, value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return dispatch(Threshold.inplace_op(), input, threshold, value)


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))``, computed without overflow."""
    return dispatch(LogSigmoid, input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    if lambd < 0 and _is_float(input._data):
        raise RuntimeError(f"lambda must be in range [0, 3.40282e+38] for input dtype "
                           f"{dtype_name(input._data)}, but found {lambd}")
    return dispatch(Softshrink, input, lambd)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > lambd``, else 0."""
    return dispatch(Hardshrink, input, lambd)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    return input / (1 + abs(input))


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``."""
    return input - tanh(input)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU: slopes drawn from ``U(lower, upper)`` in training, their mean
    otherwise."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    slopes = zeros_like(input).uniform_(lower, upper)
    result = where(input >= 0, input, input * slopes)
    return input.copy_(result) if inplace else result


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, True)


# ---- in-place variants --------------------------------------------------------------------

def _inplace_function(op: type[Op], name: str, n_args: int = 0, params: tuple = ()):
    """``name(self, *args)`` writing ``op``'s result into ``self``: ``n_args`` operands, then
    ``params`` ((keyword, default) pairs) given by position or keyword."""
    tensor_other = op in _TENSOR_OTHER

    def fn(self: Tensor, *args, **given) -> Tensor:
        if tensor_other:
            _require_tensor(name, args[0] if args else None, 2)
        if not params:
            return dispatch(op.inplace_op(), self, *args)
        rest = args[n_args:]
        values = tuple(rest[i] if i < len(rest) else given.get(k, d)
                       for i, (k, d) in enumerate(params))
        return dispatch(op.inplace_op(), self, *args[:n_args], *values)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"In-place ``{name[:-1]}``."
    return fn


_INPLACE = {op.name + "_": op for op in _UNARY_OPS}
_INPLACE.update({
    "neg_": Neg, "square_": None, "xlogy_": Xlogy, "true_divide_": Div, "mul_": Mul,
    "floor_divide_": FloorDivide, "remainder_": Remainder, "fmod_": Fmod, "pow_": Pow,
    "hypot_": Hypot, "atan2_": Atan2, "copysign_": Copysign, "heaviside_": Heaviside,
    "lerp_": Lerp, "eq_": Eq, "ne_": Ne, "lt_": Lt, "le_": Le, "gt_": Gt, "ge_": Ge,
    "logical_and_": LogicalAnd, "logical_or_": LogicalOr, "logical_xor_": LogicalXor,
    "logical_not_": LogicalNot, "bitwise_and_": BitwiseAnd, "bitwise_or_": BitwiseOr,
    "bitwise_xor_": BitwiseXor, "bitwise_not_": BitwiseNot,
    "bitwise_left_shift_": BitwiseLeftShift, "bitwise_right_shift_": BitwiseRightShift,
    "fill_": Fill})
del _INPLACE["square_"]
for _name, _op in _INPLACE.items():
    globals()[_name] = _inplace_function(_op, _name)
add_ = _inplace_function(Add, "add_", 1, (("alpha", 1),))
sub_ = _inplace_function(Sub, "sub_", 1, (("alpha", 1),))
addcmul_ = _inplace_function(Addcmul, "addcmul_", 2, (("value", 1),))
addcdiv_ = _inplace_function(Addcdiv, "addcdiv_", 2, (("value", 1),))
div_ = _inplace_function(Div, "div_", 1, (("rounding_mode", None),))
round_ = _inplace_function(Round, "round_", 0, (("decimals", None),))
logit_ = _inplace_function(Logit, "logit_", 0, (("eps", None),))
nan_to_num_ = _inplace_function(NanToNum, "nan_to_num_", 0, (("nan", 0.0), ("posinf", None),
                                                             ("neginf", None)))
clamp_ = _inplace_function(Clamp, "clamp_", 0, (("min", None), ("max", None)))


def square_(input: Tensor) -> Tensor:
    return dispatch(Pow.inplace_op(), input, 2)


def clamp_min_(input: Tensor, min) -> Tensor:  # noqa: A002
    return dispatch(Clamp.inplace_op(), input, min, None)


def clamp_max_(input: Tensor, max) -> Tensor:  # noqa: A002
    return dispatch(Clamp.inplace_op(), input, None, max)


def zero_(input: Tensor) -> Tensor:
    return dispatch(Fill.inplace_op(), input, 0)


(subtract_, multiply_, divide_, negative_, absolute_, fix_, clip_, arcsin_, arccos_, arctan_,
 arctan2_, arcsinh_, arccosh_, arctanh_, greater_, greater_equal_, less_, less_equal_,
 not_equal_) = (sub_, mul_, div_, neg_, abs_, trunc_, clamp_, asin_, acos_, atan_,  # noqa: F821
                atan2_, asinh_, acosh_, atanh_, gt_, ge_, lt_, le_, ne_)  # noqa: F821

_EM = sys.modules[__name__]  # the ember side of the derivative formulas

_TOP_LEVEL_INPLACE = [
    "neg_", "negative_", "abs_", "absolute_", "reciprocal_", "square_", "xlogy_", "sqrt_",
    "rsqrt_", "exp_", "exp2_", "expm1_", "log_", "log2_", "log10_", "log1p_", "sin_", "cos_",
    "tan_", "asin_", "acos_", "atan_", "arcsin_", "arccos_", "arctan_", "sinh_", "cosh_",
    "tanh_", "asinh_", "acosh_", "atanh_", "arcsinh_", "arccosh_", "arctanh_", "erf_",
    "erfc_", "sigmoid_", "logit_", "frac_", "relu_", "selu_", "celu_", "threshold_",
    "rrelu_", "clamp_", "clip_", "clamp_min_", "clamp_max_", "nan_to_num_", "floor_",
    "ceil_", "round_", "trunc_", "fix_", "fill_", "zero_"]
__all__ = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
    "floor_divide", "neg", "negative", "positive", "pow", "float_power", "square", "addcmul",
    "addcdiv", "lerp", "round", "logit", "nan_to_num", "clamp", "clip", "clamp_min",
    "clamp_max", "where", "isclose", "allclose", "equal", *(op.name for op in _UNARY_OPS),
    "logical_not", "bitwise_not", "isnan", "isinf", "isfinite", "isposinf", "isneginf",
    "signbit", "remainder", "fmod", "heaviside", "atan2", "hypot", "logaddexp", "logaddexp2",
    "xlogy", "copysign", "maximum", "minimum", "fmax", "fmin", "eq", "ne", "lt", "le", "gt",
    "ge", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift", "absolute", "fix", "arcsin",
    "arccos", "arctan", "arctan2", "arcsinh", "arccosh", "arctanh", "greater", "greater_equal",
    "less", "less_equal", "not_equal", "selu", "celu", "threshold", "hardshrink", "rrelu",
    *_TOP_LEVEL_INPLACE]


# ---- Tensor methods and operators ----------------------------------------------------------

_NOT_METHODS = {"where", "selu", "celu", "threshold", "rrelu", "selu_", "celu_", "threshold_",
                "rrelu_"}
for _name in __all__ + [n for n in _INPLACE if n not in __all__] + [
        "add_", "sub_", "subtract_", "multiply_", "divide_", "addcmul_", "addcdiv_", "div_",
        "arctan2_", "greater_", "greater_equal_", "less_", "less_equal_", "not_equal_"]:
    if _name not in _NOT_METHODS:
        tensor_method(_name)(globals()[_name])


@tensor_method("where")
def _where_method(self, condition, y):
    """``x.where(condition, y)`` is ``where(condition, x, y)``."""
    return where(condition, self, y)


_NUMBER = (int, float, complex, np.generic)


def _operator(op: type[Op], reflected: bool = False, inplace: bool = False):
    """A Python operator running ``op``; other operand types are left to Python."""
    if inplace:
        op = op.inplace_op()

    def operator(self, other):
        if not isinstance(other, (Tensor, *_NUMBER)):
            return NotImplemented
        return dispatch(op, other, self) if reflected else dispatch(op, self, other)
    return operator


for _names, _op in (
        (("add", "radd", "iadd"), Add), (("sub", "rsub", "isub"), Sub),
        (("mul", "rmul", "imul"), Mul), (("truediv", "rtruediv", "itruediv"), Div),
        (("floordiv", "rfloordiv", "ifloordiv"), FloorDivide),
        (("mod", "rmod", "imod"), Remainder), (("pow", "rpow", "ipow"), Pow),
        (("and", "rand", "iand"), BitwiseAnd), (("or", "ror", "ior"), BitwiseOr),
        (("xor", "rxor", "ixor"), BitwiseXor),
        (("lshift", "rlshift", "ilshift"), BitwiseLeftShift),
        (("rshift", "rrshift", "irshift"), BitwiseRightShift)):
    for _kind, _dunder in enumerate(_names):
        setattr(Tensor, f"__{_dunder}__", _operator(_op, reflected=_kind == 1,
                                                    inplace=_kind == 2))
for _dunder, _op in (("eq", Eq), ("ne", Ne), ("lt", Lt), ("le", Le), ("gt", Gt), ("ge", Ge)):
    setattr(Tensor, f"__{_dunder}__", _operator(_op))
Tensor.__neg__ = lambda self: dispatch(Neg, self)
Tensor.__pos__ = positive
Tensor.__abs__ = lambda self: dispatch(Abs, self)


def _invert(self):
    if _is_float(self._data):
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type "
                        "tensors")
    return dispatch(BitwiseNot, self)


Tensor.__invert__ = _invert
