"""In-place variants of the elementwise functions (``add_``, ``exp_``, ``clamp_`` ...): each
dispatches its op's in-place variant, which writes the result into ``self``.

``INPLACE`` maps every name to its function (all are Tensor methods); ``TOP_LEVEL`` names
those torch also has as functions (``torch.exp_``).
"""

from __future__ import annotations

from .._dispatch import Op, dispatch
from .._tensor import Tensor
from . import activations as _act
from . import arithmetic as _ar
from . import comparison as _cmp
from ._pointwise import _require_tensor

_TENSOR_OTHER = _ar._TENSOR_OTHER + _cmp._TENSOR_OTHER  # torch has no overload with a number


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


def square_(input: Tensor) -> Tensor:
    return dispatch(_ar.Pow.inplace_op(), input, 2)


def clamp_min_(input: Tensor, min) -> Tensor:  # noqa: A002
    return dispatch(_ar.Clamp.inplace_op(), input, min, None)


def clamp_max_(input: Tensor, max) -> Tensor:  # noqa: A002
    return dispatch(_ar.Clamp.inplace_op(), input, None, max)


def zero_(input: Tensor) -> Tensor:
    return dispatch(_ar.Fill.inplace_op(), input, 0)


_OPERANDS = {op.name + "_": op for op in _ar._UNARY_OPS + (_act.Relu,)}
_OPERANDS.update({
    "neg_": _ar.Neg, "xlogy_": _ar.Xlogy, "true_divide_": _ar.Div, "mul_": _ar.Mul,
    "floor_divide_": _ar.FloorDivide, "remainder_": _ar.Remainder, "fmod_": _ar.Fmod,
    "pow_": _ar.Pow, "hypot_": _ar.Hypot, "atan2_": _ar.Atan2, "copysign_": _ar.Copysign,
    "heaviside_": _ar.Heaviside, "lerp_": _ar.Lerp, "fill_": _ar.Fill, "eq_": _cmp.Eq,
    "ne_": _cmp.Ne, "lt_": _cmp.Lt, "le_": _cmp.Le, "gt_": _cmp.Gt, "ge_": _cmp.Ge,
    "logical_and_": _cmp.LogicalAnd, "logical_or_": _cmp.LogicalOr,
    "logical_xor_": _cmp.LogicalXor, "logical_not_": _cmp.LogicalNot,
    "bitwise_and_": _cmp.BitwiseAnd, "bitwise_or_": _cmp.BitwiseOr,
    "bitwise_xor_": _cmp.BitwiseXor, "bitwise_not_": _cmp.BitwiseNot,
    "bitwise_left_shift_": _cmp.BitwiseLeftShift,
    "bitwise_right_shift_": _cmp.BitwiseRightShift})

INPLACE = {name: _inplace_function(op, name) for name, op in _OPERANDS.items()}
INPLACE.update(
    add_=_inplace_function(_ar.Add, "add_", 1, (("alpha", 1),)),
    sub_=_inplace_function(_ar.Sub, "sub_", 1, (("alpha", 1),)),
    addcmul_=_inplace_function(_ar.Addcmul, "addcmul_", 2, (("value", 1),)),
    addcdiv_=_inplace_function(_ar.Addcdiv, "addcdiv_", 2, (("value", 1),)),
    div_=_inplace_function(_ar.Div, "div_", 1, (("rounding_mode", None),)),
    round_=_inplace_function(_ar.Round, "round_", 0, (("decimals", None),)),
    logit_=_inplace_function(_ar.Logit, "logit_", 0, (("eps", None),)),
    nan_to_num_=_inplace_function(_ar.NanToNum, "nan_to_num_", 0,
                                  (("nan", 0.0), ("posinf", None), ("neginf", None))),
    clamp_=_inplace_function(_ar.Clamp, "clamp_", 0, (("min", None), ("max", None))),
    square_=square_, clamp_min_=clamp_min_, clamp_max_=clamp_max_, zero_=zero_)
_ALIASES = {  # torch's alternative names
    "subtract_": "sub_", "multiply_": "mul_", "divide_": "div_", "negative_": "neg_",
    "absolute_": "abs_", "fix_": "trunc_", "clip_": "clamp_", "arcsin_": "asin_",
    "arccos_": "acos_", "arctan_": "atan_", "arctan2_": "atan2_", "arcsinh_": "asinh_",
    "arccosh_": "acosh_", "arctanh_": "atanh_", "greater_": "gt_", "greater_equal_": "ge_",
    "less_": "lt_", "less_equal_": "le_", "not_equal_": "ne_"}
INPLACE.update({alias: INPLACE[name] for alias, name in _ALIASES.items()})

TOP_LEVEL = [
    "neg_", "negative_", "abs_", "absolute_", "reciprocal_", "square_", "xlogy_", "sqrt_",
    "rsqrt_", "exp_", "exp2_", "expm1_", "log_", "log2_", "log10_", "log1p_", "sin_", "cos_",
    "tan_", "asin_", "acos_", "atan_", "arcsin_", "arccos_", "arctan_", "sinh_", "cosh_",
    "tanh_", "asinh_", "acosh_", "atanh_", "arcsinh_", "arccosh_", "arctanh_", "erf_",
    "erfc_", "sigmoid_", "logit_", "frac_", "relu_", "clamp_", "clip_", "clamp_min_",
    "clamp_max_", "nan_to_num_", "floor_", "ceil_", "round_", "trunc_", "fix_", "fill_",
    "zero_"]
