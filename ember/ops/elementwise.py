"""Elementwise ops: arithmetic, math functions, activations, comparisons.

Each op is one ``Op`` class (NumPy kernel + backward written with ember ops) and a
function with torch's signature; Tensor methods and operators are installed at the end.
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, tensor_method
from ._util import float_result, promote

__all__ = ["add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "neg",
           "negative", "pow", "exp", "log"]


# ---- arithmetic --------------------------------------------------------------------------

class Add(Op):
    @staticmethod
    def forward(ctx, a, b, alpha=1):
        a, b = promote(a, b)
        ctx.alpha = alpha
        return a + b if alpha == 1 else a + alpha * b

    @staticmethod
    def backward(ctx, g):
        return g, (g if ctx.alpha == 1 else g * ctx.alpha)


class Sub(Op):
    @staticmethod
    def forward(ctx, a, b, alpha=1):
        a, b = promote(a, b)
        if a.dtype == np.bool_ if type(a) is np.ndarray else False:
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                               "supported. Use the `^` or `logical_xor()` operator instead.")
        ctx.alpha = alpha
        return a - b if alpha == 1 else a - alpha * b

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.alpha == 1 else g * -ctx.alpha)


class Mul(Op):
    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * a


class Div(Op):
    @staticmethod
    def forward(ctx, a, b, rounding_mode=None):
        a, b = promote(a, b)
        if rounding_mode is None:
            if _is_int(a) and _is_int(b):  # true division of integers gives floats
                a, b = float_result(np.asarray(a)), float_result(np.asarray(b))
            ctx.save_for_backward(a, b)
            return np.true_divide(a, b)
        ctx.mark_non_differentiable()
        if rounding_mode == "floor":
            return np.floor_divide(a, b) if _is_int(a) else np.floor(np.true_divide(a, b))
        if rounding_mode == "trunc":
            return np.trunc(np.true_divide(a, b)).astype(np.result_type(a, b)) if _is_int(a) \
                else np.trunc(np.true_divide(a, b))
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                           f"but found '{rounding_mode}'")

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g / b, -g * a / (b * b)


def _is_int(a) -> bool:
    return np.asarray(a).dtype.kind in "iub"


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


class Pow(Op):
    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        if type(b) is not np.ndarray and _is_int(a) and b < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if isinstance(a, Tensor):
            ga = g * b * a ** (b - 1) if isinstance(b, Tensor) or b != 0 else g * 0
        if isinstance(b, Tensor):
            # d/db a**b = a**b log(a); torch takes it as 0 where a == 0
            log_a = log(a.masked_fill(a == 0, 1.0)) if isinstance(a, Tensor) else math.log(a)
            gb = g * out * log_a
        return ga, gb


class Exp(Op):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(float_result(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(Op):
    @staticmethod
    def forward(ctx, a):
        a = float_result(a)
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


# ---- functions with torch's signatures ---------------------------------------------------

def _out(result: Tensor, out: Tensor | None) -> Tensor:
    """Honour an ``out=`` argument: resize ``out`` if needed and copy the result in."""
    if out is None:
        return result
    if out._data.shape != result._data.shape:
        out._data = np.empty(result._data.shape, dtype=out._data.dtype)
    return out.copy_(result) if out._data.size else out


def add(input, other, *, alpha=1, out=None) -> Tensor:
    return _out(dispatch(Add, input, other, alpha) if alpha != 1 else
                dispatch(Add, input, other), out)


def sub(input, other, *, alpha=1, out=None) -> Tensor:
    return _out(dispatch(Sub, input, other, alpha) if alpha != 1 else
                dispatch(Sub, input, other), out)


subtract = sub


def mul(input, other, *, out=None) -> Tensor:
    return _out(dispatch(Mul, input, other), out)


multiply = mul


def div(input, other, *, rounding_mode=None, out=None) -> Tensor:
    if rounding_mode is None:
        return _out(dispatch(Div, input, other), out)
    return _out(dispatch(Div, input, other, rounding_mode), out)


divide = div


def true_divide(input, other, *, out=None) -> Tensor:
    return _out(dispatch(Div, input, other), out)


def neg(input, *, out=None) -> Tensor:
    return _out(dispatch(Neg, input), out)


negative = neg


def pow(input, exponent, *, out=None) -> Tensor:  # noqa: A001
    return _out(dispatch(Pow, input, exponent), out)


def exp(input, *, out=None) -> Tensor:
    return _out(dispatch(Exp, input), out)


def log(input, *, out=None) -> Tensor:
    return _out(dispatch(Log, input), out)


# ---- Tensor methods and operators -------------------------------------------------------

def _r(op):
    """A reflected operator: ``2 - x`` is ``sub(2, x)``."""
    def reflected(self, other):
        return dispatch(op, other, self)
    return reflected


Tensor.__add__ = lambda self, other: dispatch(Add, self, other)
Tensor.__radd__ = _r(Add)
Tensor.__sub__ = lambda self, other: dispatch(Sub, self, other)
Tensor.__rsub__ = _r(Sub)
Tensor.__mul__ = lambda self, other: dispatch(Mul, self, other)
Tensor.__rmul__ = _r(Mul)
Tensor.__truediv__ = lambda self, other: dispatch(Div, self, other)
Tensor.__rtruediv__ = _r(Div)
Tensor.__neg__ = lambda self: dispatch(Neg, self)
Tensor.__pow__ = lambda self, other: dispatch(Pow, self, other)
Tensor.__rpow__ = _r(Pow)
Tensor.__iadd__ = lambda self, other: dispatch(Add.inplace_op(), self, other)
Tensor.__isub__ = lambda self, other: dispatch(Sub.inplace_op(), self, other)
Tensor.__imul__ = lambda self, other: dispatch(Mul.inplace_op(), self, other)
Tensor.__itruediv__ = lambda self, other: dispatch(Div.inplace_op(), self, other)

for _name in ("add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
              "neg", "negative", "pow", "exp", "log"):
    tensor_method(_name)(globals()[_name])


@tensor_method()
def add_(self, other, *, alpha=1):
    if alpha != 1:
        return dispatch(Add.inplace_op(), self, other, alpha)
    return dispatch(Add.inplace_op(), self, other)


@tensor_method()
def sub_(self, other, *, alpha=1):
    if alpha != 1:
        return dispatch(Sub.inplace_op(), self, other, alpha)
    return dispatch(Sub.inplace_op(), self, other)


@tensor_method()
def mul_(self, other):
    return dispatch(Mul.inplace_op(), self, other)


@tensor_method()
def div_(self, other, *, rounding_mode=None):
    if rounding_mode is None:
        return dispatch(Div.inplace_op(), self, other)
    return dispatch(Div.inplace_op(), self, other, rounding_mode)


@tensor_method()
def neg_(self):
    return dispatch(Neg.inplace_op(), self)


@tensor_method()
def pow_(self, exponent):
    return dispatch(Pow.inplace_op(), self, exponent)


@tensor_method()
def exp_(self):
    return dispatch(Exp.inplace_op(), self)
