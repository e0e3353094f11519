"""Elementwise ops: arithmetic, math functions, activations, clamping, comparisons, logical
and bitwise ops, fills.

Each op is one ``Op`` (a NumPy kernel, a spec and a backward rule) plus a function with
torch's signature; Tensor methods, in-place variants and operators are installed at the end.

Most ops come from templates that also write their spec: ``_Unary`` computes
``kernel(x, *params)``, ``_Binary`` computes ``kernel(a, b)`` on operands promoted to torch's
result type, ``_NoGrad`` covers the ops without a derivative (comparisons, predicates,
logical and bitwise ops). Backward rules are written in ember ops, so a dispatch mode sees
the same ops in every backward and higher-order gradients work. The hot activations have
torch's fused backward ops (``gelu_backward``, ``threshold_backward``, ...): one pass over
the arrays per backward, themselves differentiable (``_ActivationBackward``).
"""

from __future__ import annotations

import builtins
import math

import ml_dtypes
import numpy as np

from .._dispatch import Op, dispatch
from .._dtype import bfloat16, float64, from_numpy_dtype, get_default_dtype, result_type_arrays
from .._tensor import Tensor, tensor_method
from . import _meta
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
    bools = [_dtype(x) == np.bool_ for x in (a, b)]
    if all(bools):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    if any(bools):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")


def _dtype(x) -> np.dtype:
    """The NumPy dtype of an operand: an array, a MetaArray or a number."""
    dt = getattr(x, "dtype", None)
    return np.asarray(x).dtype if dt is None else dt


def _is_float_dtype(dt) -> bool:
    return dt.kind in "fc" or dt == _BF16


def _is_float(x) -> bool:
    return _is_float_dtype(_dtype(x))


def _default_float() -> np.dtype:
    return get_default_dtype().np


def _unsupported(name: str, x) -> NotImplementedError:
    """torch's error for a kernel that has no implementation for a dtype."""
    return NotImplementedError(f'"{name}_cpu" not implemented for '
                               f"'{from_numpy_dtype(_dtype(x)).scalar_name}'")


def _reject_bool(name: str, a, b) -> None:
    """torch has no bool kernel for division-like ops: both operands bool is an error."""
    if _dtype(a) == np.bool_ and _dtype(b) == np.bool_:
        raise _unsupported(name, a)


def _check_int_divisor(a, b) -> None:
    """Integer division by zero raises in torch (it has no integer inf), unless the result
    is empty."""
    b = np.asarray(b)
    if b.dtype.kind in "iub" and np.size(a) and b.size and not np.all(b):
        raise RuntimeError("ZeroDivisionError")


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


def _xlogy(a, b):
    return np.where((a == 0) & ~np.isnan(b), 0, a * np.log(b))


# ---- templates -----------------------------------------------------------------------------

def _auto_signature(cls, args: str) -> None:
    """Give a concrete op made from a template its signature ``<aten>(<args>) -> Tensor``
    (unless it declares one; in-place variants share their base op's)."""
    if cls.__dict__.get("abstract", False) or cls.inplace or "signature" in cls.__dict__:
        return
    cls.signature = f"{cls.aten}({args}) -> Tensor"


class _Unary(Op):
    """``out = kernel(x, *params)`` for one tensor and fixed parameters.

    ``params`` declares the parameters in schema language (``"float negative_slope"``), for
    the signature. ``gradient(g, x, out, *params)`` is the input's gradient in ember ops
    (None: zero, as for ``floor``); ``saves`` names what it reads ("x", "out", both or
    neither). ``ints`` says what integer and bool inputs do: "float" (computed in the
    default float dtype), "int" (kept; bool rejected), "intbool" (kept) or "reject" (torch
    has no kernel).
    """

    abstract = True
    kind = "pointwise"

    ints = "float"
    saves = "x"
    params = ""
    gradient = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _auto_signature(cls, ", ".join(["Tensor a"] + ([cls.params] if cls.params else [])))

    @staticmethod
    def kernel(x, *params):
        raise NotImplementedError

    @classmethod
    def result_dtype(cls, a) -> np.dtype:
        """The output dtype for input ``a`` (array or MetaArray); torch's error for integer
        inputs the op has no kernel for."""
        dt = a.dtype
        if _is_float_dtype(dt):
            return dt
        if cls.ints == "float":
            return _default_float()
        if cls.ints == "reject" or (cls.ints == "int" and dt == np.bool_):
            raise _unsupported(cls.name, a)
        return dt

    @classmethod
    def meta(cls, a, *params):
        return _meta.like(a, cls.result_dtype(a))

    @classmethod
    def forward(cls, ctx, a, *params):
        dt = cls.result_dtype(a)
        if dt != a.dtype:
            a = a.astype(dt)
        if dt == _BF16:  # computed in float32, as torch does for reduced precision
            out = np.asarray(cls.kernel(a.astype(np.float32), *params)).astype(_BF16)
        else:
            out = cls.kernel(a, *params)
        saves = cls.saves
        ctx.save_for_backward(a if "x" in saves else None, out if "out" in saves else None)
        ctx.params = params
        return out

    @classmethod
    def backward(cls, ctx, g):
        if cls.gradient is None:
            return zeros_like(g)
        x, out = ctx.saved_tensors
        return cls.gradient(g, x, out, *ctx.params)


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _unary(name: str, kernel, gradient=None, saves: str = "x", ints: str = "float",
           params: str = ""):
    """A ``_Unary`` op class for torch's op ``name`` (``leaky_relu`` -> ``LeakyRelu``)."""
    return type(_class_name(name), (_Unary,), {
        "name": name, "kernel": staticmethod(kernel), "saves": saves, "ints": ints,
        "params": params, "gradient": None if gradient is None else staticmethod(gradient)})


class _Binary(Op):
    """``out = kernel(a, b)`` on promoted operands (either may be a number).

    ``grads(g, a, b, out, needs)`` returns both gradients in ember ops, computing only those
    ``needs`` (``ctx.needs_input_grad``) asks for; None: torch has no derivative. ``ints``:
    "keep", "float" or "reject", as for ``_Unary``."""

    abstract = True
    kind = "pointwise"

    ints = "keep"
    grads = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _auto_signature(cls, "Tensor a, Tensor b")

    @staticmethod
    def kernel(a, b):
        raise NotImplementedError

    @classmethod
    def meta(cls, a, b):
        dt = _meta.result_dtype(a, b)
        if cls.ints != "keep" and not _is_float_dtype(dt):
            if cls.ints == "reject":
                raise _unsupported(cls.name, a if hasattr(a, "dtype") else b)
            dt = _default_float()
        return _meta.pointwise(a, b, dtype=dt)

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
        return cls.grads(g, a, b, out, ctx.needs_input_grad)


class _NoGrad(Op):
    """A non-differentiable binary op (comparisons, logical and bitwise ops):
    ``kernel(a, b)``, its result laid out by ``meta_rule(a, b)``."""

    abstract = True
    kind = "pointwise"
    differentiable = False
    signature_args = "Tensor a, Tensor b"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _auto_signature(cls, cls.signature_args)

    @staticmethod
    def kernel(a, b):
        raise NotImplementedError

    @staticmethod
    def meta_rule(a, b):
        raise NotImplementedError

    @classmethod
    def meta(cls, a, b):
        return cls.meta_rule(a, b)

    @classmethod
    def forward(cls, ctx, a, b):
        return cls.kernel(a, b)


class _NoGradUnary(_NoGrad):
    """A non-differentiable unary op (predicates, ``logical_not``, ``bitwise_not``)."""

    abstract = True
    signature_args = "Tensor a"

    @classmethod
    def meta(cls, a):
        return cls.meta_rule(a)

    @classmethod
    def forward(cls, ctx, a):
        return cls.kernel(a)


def _nograd(name: str, kernel, meta_rule, unary: bool = False) -> type[Op]:
    return type(_class_name(name), (_NoGradUnary if unary else _NoGrad,), {
        "name": name, "kernel": staticmethod(kernel), "meta_rule": staticmethod(meta_rule)})


# ---- arithmetic ----------------------------------------------------------------------------

class Add(Op):
    signature = "add(Tensor a, Tensor b, Scalar alpha=1) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(a, b, alpha=1):
        return _meta.pointwise(a, b)

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
        ctx.alpha = alpha
        if alpha == 1:
            return a - b
        return np.asarray(a - alpha * b).astype(_result_dtype(a, b), copy=False)

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.alpha == 1 else g * -ctx.alpha)


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
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        return (g * b if need_a else None), (g * a if need_b else None)


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
        need_a, need_b = ctx.needs_input_grad[:2]
        if getattr(ctx, "rounding", False):  # rounded quotients are piecewise constant
            return (zeros_like(g) if need_a else None), (zeros_like(g) if need_b else None)
        a, b = ctx.saved_tensors
        ga = g / b
        return (ga if need_a else None), (-ga * a / b if need_b else None)


def _floor_divide(x, y):
    _reject_bool("div_floor", x, y)
    _check_int_divisor(x, y)
    return np.floor_divide(x, y)


def _check_neg(a) -> None:
    if a.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or "
                           "`logical_not()` operator instead.")


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
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


def _log_of_number(x, dtype) -> float:
    """``log(x)`` of a number, rounded to ``dtype`` (the precision torch computes it in)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log(np.asarray(x, dtype=dtype)))


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
        info = ml_dtypes.finfo(x.dtype)
        out[np.isnan(x)] = nan
        out[x == np.inf] = info.max if posinf is None else posinf
        out[x == -np.inf] = info.min if neginf is None else neginf
    return out


Sqrt = _unary("sqrt", np.sqrt, lambda g, x, y: g / (2 * y), "out")
Rsqrt = _unary("rsqrt", lambda x: np.reciprocal(np.sqrt(x)),
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
Reciprocal = _unary("reciprocal", np.reciprocal, lambda g, x, y: -g * (y * y), "out")
Frac = _unary("frac", lambda x: x - np.trunc(x), lambda g, x, y: g, "", ints="reject")
Abs = _unary("abs", np.abs, lambda g, x, y: g * where(isnan(x), 0.0, sign(x)), ints="int")
Sign = _unary("sign", _sign, saves="", ints="intbool")
Sgn = _unary("sgn", _sign, saves="", ints="intbool")
Floor = _unary("floor", _rounding(np.floor), saves="", ints="int")
Ceil = _unary("ceil", _rounding(np.ceil), saves="", ints="int")
Trunc = _unary("trunc", _rounding(np.trunc), saves="", ints="int")
Round = _unary("round", _round, saves="", ints="int", params="int? decimals=None")
NanToNum = _unary("nan_to_num", _nan_to_num, lambda g, x, y, *p: g * isfinite(x),
                  ints="intbool", params="float? nan=None, float? posinf=None, "
                                         "float? neginf=None")


# ---- fused activation backward ops ---------------------------------------------------------

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _fusable(*arrays) -> bool:
    """Whether the one-pass Numba kernels take these arrays: C-contiguous, one shape, and
    all float32 or all float64."""
    x = arrays[0]
    return (x.dtype == np.float32 or x.dtype == np.float64) and all(
        a.flags.c_contiguous and a.dtype == x.dtype and a.shape == x.shape for a in arrays)


class _ActivationBackward(Op):
    """``grad_output * f'(x)`` for an activation ``f``: torch's ``<f>_backward`` op, one pass
    over the arrays, so that the activation's backward is one dispatched op.

    ``x`` is the activation's input, or its output for activations whose derivative is
    written in it (sigmoid, tanh, relu). ``kernel(g, x, *params)`` is the NumPy
    computation; ``fused`` names a one-pass Numba kernel of ``_kernels_transformer`` for
    float32/float64 (the NumPy one covers the rest). The op is differentiable: the gradient
    for ``grad_output`` is this op again, the one for ``x`` is
    ``gg * grad_output * curvature(x, *params)``, with ``curvature`` (``f''``, None when
    it is zero) written in ember ops, so gradients of every order work.
    """

    abstract = True
    kind = "pointwise"
    params = ""
    fused = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _auto_signature(cls, ", ".join(["Tensor grad_output", "Tensor x"]
                                       + ([cls.params] if cls.params else [])))

    @staticmethod
    def kernel(g, x, *params):
        raise NotImplementedError

    curvature = None

    @classmethod
    def meta(cls, grad_output, x, *params):
        return _meta.pointwise(grad_output, x)

    @classmethod
    def forward(cls, ctx, grad_output, x, *params):
        ctx.save_for_backward(grad_output, x)
        ctx.params = params
        g = grad_output
        if cls.fused is not None and _fusable(x, g):
            from . import _kernels_transformer as K
            return K.activation_backward(g, x, cls.fused(*params))
        dt = np.result_type(g, x)
        if dt == _BF16:  # computed in float32, as torch does for reduced precision
            return np.asarray(cls.kernel(g.astype(np.float32), x.astype(np.float32),
                                         *params)).astype(dt)
        return np.asarray(cls.kernel(g, x, *params)).astype(dt, copy=False)

    @classmethod
    def backward(cls, ctx, gg):
        g, x = ctx.saved_tensors
        need_g, need_x = ctx.needs_input_grad[:2]
        gx = None
        if need_x:
            gx = zeros_like(x) if cls.curvature is None else \
                gg * g * cls.curvature(x, *ctx.params)
        return (dispatch(cls, gg, x, *ctx.params) if need_g else None), gx


def _backward_op(name: str, kernel, curvature=None, params: str = "", fused=None):
    """An ``_ActivationBackward`` op class for torch's op ``name``."""
    return type(_class_name(name), (_ActivationBackward,), {
        "name": name, "kernel": staticmethod(kernel), "params": params,
        "curvature": None if curvature is None else staticmethod(curvature),
        "fused": None if fused is None else staticmethod(fused)})


def _gelu_grad(x, approximate):
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * x * x)
    return 0.5 * (1 + _erf(x * _SQRT_HALF)) + x * np.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _gelu_curvature(x, approximate):
    if approximate == "tanh":
        # f' = (1 + t) / 2 + x (1 - t^2) u' / 2 with t = tanh(u), u = c (x + k x^3)
        du = _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * x * x)
        t = tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x))
        return (1 - t * t) * (du + 3 * _SQRT_2_OVER_PI * _KAPPA * x * x - x * t * du * du)
    return exp(-0.5 * x * x) * (2 - x * x) * _INV_SQRT_2PI  # phi(x) (2 - x^2)


def _silu_grad(x):
    s = _sigmoid(x)
    return s * (1 + x * (1 - s))


def _silu_curvature(x):
    s = sigmoid(x)
    return s * (1 - s) * (2 + x * (1 - 2 * s))


def _mish_grad(x):
    t = np.tanh(_softplus(x))
    return t + x * _sigmoid(x) * (1 - t * t)


def _mish_curvature(x):
    s, t = sigmoid(x), tanh(softplus(x))
    return s * (1 - t * t) * (2 + x * (1 - s) - 2 * x * s * t)


def _elu_grad(x, alpha, scale, input_scale):
    return np.where(x > 0, scale, np.exp(x * input_scale) * (alpha * scale * input_scale))


def _elu_curvature(x, alpha, scale, input_scale):
    return where(x > 0, 0.0, exp(x * input_scale) * (alpha * scale * input_scale ** 2))


def _softplus_curvature(x, beta, threshold):
    s = sigmoid(x * beta)
    return where(x * beta > threshold, 0.0, s * (1 - s) * beta)


def _logit_grad(x, eps):
    d = 1 / (x * (1 - x))
    return d if eps is None else np.where((x < eps) | (x > 1 - eps), 0, d)


def _logit_curvature(x, eps):
    v = x * (1 - x)
    d = (2 * x - 1) / (v * v)
    return d if eps is None else where((x < eps) | (x > 1 - eps), 0.0, d)


ThresholdBackward = _backward_op(
    "threshold_backward", lambda g, x, th: np.where(x <= th, 0, g), params="Scalar threshold")
SigmoidBackward = _backward_op("sigmoid_backward", lambda g, y: g * (y * (1 - y)),
                               lambda y: 1 - 2 * y)
TanhBackward = _backward_op("tanh_backward", lambda g, y: g * (1 - y * y), lambda y: -2 * y)
GeluBackward = _backward_op(
    "gelu_backward", lambda g, x, approximate: g * _gelu_grad(x, approximate), _gelu_curvature,
    params="str approximate='none'",
    fused=lambda approximate: "gelu_tanh" if approximate == "tanh" else "gelu")
SiluBackward = _backward_op("silu_backward", lambda g, x: g * _silu_grad(x), _silu_curvature,
                            fused=lambda: "silu")
MishBackward = _backward_op("mish_backward", lambda g, x: g * _mish_grad(x), _mish_curvature)
LeakyReluBackward = _backward_op(
    "leaky_relu_backward", lambda g, x, slope: np.where(x > 0, g, g * slope),
    params="Scalar negative_slope")
EluBackward = _backward_op(
    "elu_backward", lambda g, x, *p: g * _elu_grad(x, *p), _elu_curvature,
    params="Scalar alpha, Scalar scale, Scalar input_scale")
SoftplusBackward = _backward_op(
    "softplus_backward",
    lambda g, x, beta, th: g * np.where(x * beta > th, 1, _sigmoid(x * beta)),
    _softplus_curvature, params="Scalar beta, Scalar threshold")
HardtanhBackward = _backward_op(
    "hardtanh_backward", lambda g, x, lo, hi: np.where((x <= lo) | (x >= hi), 0, g),
    params="Scalar min_val, Scalar max_val")
LogSigmoidBackward = _backward_op("log_sigmoid_backward", lambda g, x: g * _sigmoid(-x),
                                  lambda x: -sigmoid(x) * sigmoid(-x))
LogitBackward = _backward_op("logit_backward", lambda g, x, eps: g * _logit_grad(x, eps),
                             _logit_curvature, params="float? eps=None")


# ---- activations ---------------------------------------------------------------------------

def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x)))
    return 0.5 * x * (1 + _erf(x * _SQRT_HALF))


def _clip(x, lo, hi):
    """``min(max(x, lo), hi)`` (NaN stays NaN), in ``x``'s dtype."""
    return np.minimum(np.maximum(x, lo), hi).astype(x.dtype, copy=False)


def _elu(x, alpha, scale, input_scale):
    return np.where(x > 0, x * scale, np.expm1(x * input_scale) * (alpha * scale))


def _backward_by(op: type[Op], n_params: int | None = None):
    """The ``gradient`` of a ``_Unary`` whose derivative is the fused op ``op``, applied to
    what the activation saved (its input or its output) and its first ``n_params``
    parameters (all by default)."""
    def gradient(g, x, out, *params):
        return dispatch(op, g, out if x is None else x, *params[:n_params])
    return gradient


Tanh = _unary("tanh", np.tanh, _backward_by(TanhBackward), "out")
Sigmoid = _unary("sigmoid", _sigmoid, _backward_by(SigmoidBackward), "out")
Logit = _unary("logit", _logit, _backward_by(LogitBackward), params="float? eps=None")
Relu = _unary("relu", lambda x: np.maximum(x, 0),
              lambda g, x, y: dispatch(ThresholdBackward, g, y, 0), "out", ints="int")


class _FusedActivation(_Unary):
    """An activation whose float32/float64 forward is one Numba pass
    (``_kernels_transformer``); other dtypes and layouts use ``kernel``.
    ``kernel_name(*params)`` names the Numba kernel."""

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


class Gelu(_FusedActivation):
    name = "gelu"
    params = "str approximate='none'"
    kernel = staticmethod(_gelu)
    gradient = staticmethod(_backward_by(GeluBackward))
    kernel_name = staticmethod(GeluBackward.fused)


class Silu(_FusedActivation):
    name = "silu"
    kernel = staticmethod(lambda x: x * _sigmoid(x))
    gradient = staticmethod(_backward_by(SiluBackward))
    kernel_name = staticmethod(SiluBackward.fused)


Mish = _unary("mish", lambda x: x * np.tanh(_softplus(x)), _backward_by(MishBackward),
              ints="reject")
LeakyRelu = _unary("leaky_relu", lambda x, s: np.where(x > 0, x, x * s),
                   _backward_by(LeakyReluBackward), ints="reject",
                   params="Scalar negative_slope=0.01")
Elu = _unary("elu", _elu, _backward_by(EluBackward), ints="reject",
             params="Scalar alpha=1, Scalar scale=1, Scalar input_scale=1")
Softplus = _unary("softplus", _softplus, _backward_by(SoftplusBackward), ints="reject",
                  params="Scalar beta=1, Scalar threshold=20")
Hardtanh = _unary("hardtanh", _clip, _backward_by(HardtanhBackward), ints="int",
                  params="Scalar min_val=-1, Scalar max_val=1")
Hardswish = _unary("hardswish", lambda x: x * np.clip(x + 3, 0, 6) / 6,
                   lambda g, x, y: g * where(x <= -3, 0.0, where(x < 3, x / 3 + 0.5, 1.0)),
                   ints="reject")
Hardsigmoid = _unary("hardsigmoid", lambda x: np.clip(x + 3, 0, 6) / 6,
                     lambda g, x, y: where((x > -3) & (x < 3), g / 6, 0.0), ints="reject")
Threshold = _unary("threshold", lambda x, th, v: np.where(x > th, x, v).astype(x.dtype),
                   _backward_by(ThresholdBackward, 1), ints="int",
                   params="Scalar threshold, Scalar value")
LogSigmoid = _unary("log_sigmoid", lambda x: -np.logaddexp(0, -x),
                    _backward_by(LogSigmoidBackward), ints="reject")
Softshrink = _unary("softshrink",
                    lambda x, lam: np.where(x > lam, x - lam, np.where(x < -lam, x + lam, 0)),
                    lambda g, x, y, lam: where((x > lam) | (x < -lam), g, 0.0), ints="reject",
                    params="Scalar lambd=0.5")
Hardshrink = _unary("hardshrink", lambda x, lam: np.where((x >= -lam) & (x <= lam), 0, x),
                    lambda g, x, y, lam: where((x > lam) | (x < -lam), g, 0.0), ints="reject",
                    params="Scalar lambd=0.5")


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
    return _out(dispatch(Add, input, other, alpha), out)


def sub(input, other, *, alpha=1, out=None) -> Tensor:
    """``input - alpha * other``."""
    return _out(dispatch(Sub, input, other, alpha), out)


def mul(input, other, *, out=None) -> Tensor:
    return _out(dispatch(Mul, input, other), out)


def div(input, other, *, rounding_mode=None, out=None) -> Tensor:
    """True division, or rounded with ``rounding_mode`` "trunc" or "floor"."""
    if rounding_mode is None:
        return _out(dispatch(Div, input, other), out)
    return _out(dispatch(Div, input, other, rounding_mode), out)


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
        from .indexing import nonzero
        return nonzero(condition, as_tuple=True)
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
    """A Python operator running ``op``; other operand types are left to Python. ``add``
    and ``sub`` get their ``alpha`` (1), so that they are always called alike."""
    if inplace:
        op = op.inplace_op()
    extra = (1,) if op.name in ("add", "sub", "add_", "sub_") else ()

    def operator(self, other):
        if not isinstance(other, (Tensor, *_NUMBER)):
            return NotImplemented
        if reflected:
            return dispatch(op, other, self, *extra)
        return dispatch(op, self, other, *extra)
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
