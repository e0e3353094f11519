"""Scalar lowering rules: how one element of a pointwise op is computed, for the fused
kernels the compiler generates (as JAX registers a lowering per primitive, and as the
ONNX exporter keeps its own table of rules for the same ops).

A rule takes the op's arguments by their signature names -- tensor arguments as Python
source of a scalar expression, attributes as their values -- and returns the source of
the element's expression, or None when that call is not lowered (a rounding mode the
rule does not cover...). The code generator casts each result to the op's output dtype,
so a rule may compute in a wider type. NaN behaves as in torch (``relu(nan)`` is nan,
``maximum`` propagates it).
"""

from __future__ import annotations

import math

__all__ = ["RULES", "rule", "LIBM"]

RULES: dict[str, object] = {}

# Ops whose rule calls a libm function: Numba calls it once per element (~10-30 ns),
# where NumPy's SIMD loops take ~1 ns, so fused kernels leave these ops to NumPy.
LIBM = {"exp", "log", "log1p", "expm1", "tanh", "sin", "cos", "erf", "erfc", "sigmoid", "silu",
        "gelu", "log2", "log10", "asin", "acos", "atan", "sinh", "cosh", "atan2", "hypot",
        "pow"}


def rule(*names: str):
    """Register the decorated function as the rule of the ops ``names``."""
    def register(fn):
        for n in names:
            RULES[n] = fn
        return fn
    return register


def lit(x) -> str | None:
    """A Python number as source (None for what is not a plain number)."""
    if isinstance(x, bool):
        return repr(x)
    if isinstance(x, int | float) and math.isfinite(x):
        return repr(x)
    if isinstance(x, float):
        return "math.inf" if x > 0 else "-math.inf" if x < 0 else "math.nan"
    return None


def _operand(x) -> str | None:
    return x if isinstance(x, str) else lit(x)


def _binary(fmt: str):
    def fn(a, b, **_):
        a, b = _operand(a), _operand(b)
        return None if a is None or b is None else fmt.format(a=a, b=b)
    return fn


for _name, _fmt in {"mul": "({a} * {b})", "maximum": "({a} if ({a} != {a} or {a} > {b}) else {b})",
                    "minimum": "({a} if ({a} != {a} or {a} < {b}) else {b})",
                    "gt": "({a} > {b})", "lt": "({a} < {b})", "ge": "({a} >= {b})",
                    "le": "({a} <= {b})", "eq": "({a} == {b})", "ne": "({a} != {b})",
                    "logical_and": "(bool({a}) and bool({b}))",
                    "logical_or": "(bool({a}) or bool({b}))", "atan2": "math.atan2({a}, {b})",
                    "hypot": "math.hypot({a}, {b})"}.items():
    RULES[_name] = _binary(_fmt)

for _name, _fmt in {"neg": "(-{a})", "abs": "abs({a})", "exp": "math.exp({a})",
                    "log": "math.log({a})", "log1p": "math.log1p({a})",
                    "expm1": "math.expm1({a})", "tanh": "math.tanh({a})",
                    "sin": "math.sin({a})", "cos": "math.cos({a})", "erf": "math.erf({a})",
                    "erfc": "math.erfc({a})", "sqrt": "math.sqrt({a})",
                    "rsqrt": "(1.0 / math.sqrt({a}))", "reciprocal": "(1.0 / {a})",
                    "sigmoid": "(1.0 / (1.0 + math.exp(-{a})))",
                    "silu": "({a} / (1.0 + math.exp(-{a})))",
                    "relu": "(0.0 if {a} <= 0 else {a})", "clone": "{a}", "_to_copy": "{a}",
                    "logical_not": "(not {a})", "isnan": "({a} != {a})",
                    "log2": "math.log2({a})", "log10": "math.log10({a})",
                    "asin": "math.asin({a})", "acos": "math.acos({a})",
                    "atan": "math.atan({a})", "sinh": "math.sinh({a})",
                    "cosh": "math.cosh({a})"}.items():
    RULES[_name] = (lambda fmt: lambda a, **_: fmt.format(a=a))(_fmt)


@rule("add")
def _add(a, b, alpha=1):
    a, b, s = _operand(a), _operand(b), lit(alpha)
    if None in (a, b, s):
        return None
    return f"({a} + {b})" if alpha == 1 else f"({a} + {b} * {s})"


@rule("sub")
def _sub(a, b, alpha=1):
    a, b, s = _operand(a), _operand(b), lit(alpha)
    if None in (a, b, s):
        return None
    return f"({a} - {b})" if alpha == 1 else f"({a} - {b} * {s})"


@rule("div")
def _div(a, b, rounding_mode=None):
    a, b = _operand(a), _operand(b)
    if rounding_mode is not None or a is None or b is None:
        return None
    return f"({a} / {b})"


@rule("pow")
def _pow(a, b):
    a, b = _operand(a), _operand(b)
    if a is None or b is None:
        return None
    if b in ("2", "2.0"):
        return f"({a} * {a})"
    return f"({a} ** {b})"


@rule("gelu")
def _gelu(a, approximate="none"):
    if approximate == "tanh":
        return f"(0.5 * {a} * (1.0 + math.tanh(0.7978845608028654 * ({a} + 0.044715 * {a} * " \
               f"{a} * {a}))))"
    return f"(0.5 * {a} * (1.0 + math.erf({a} * 0.7071067811865476)))"


@rule("leaky_relu")
def _leaky_relu(a, negative_slope=0.01):
    s = lit(negative_slope)
    return None if s is None else f"({a} if {a} > 0 else {a} * {s})"


@rule("maskedfill")
def _masked_fill(a, mask, value):
    v = _operand(value)
    return None if v is None else f"({v} if {mask} else {a})"


@rule("clamp")
def _clamp(a, lo=None, hi=None):
    out = a
    if lo is not None:
        lo = _operand(lo)
        if lo is None:
            return None
        out = f"({lo} if {out} < {lo} else {out})"
    if hi is not None:
        hi = _operand(hi)
        if hi is None:
            return None
        out = f"({hi} if {out} > {hi} else {out})"
    return out


@rule("addcmul")
def _addcmul(x, t1, t2, value=1):
    v = lit(value)
    return None if v is None else f"({x} + {v} * {t1} * {t2})"


@rule("addcdiv")
def _addcdiv(x, t1, t2, value=1):
    v = lit(value)
    return None if v is None else f"({x} + {v} * {t1} / {t2})"
