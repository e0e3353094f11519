"""Conformance entries for the in-place variants of the core elementwise ops (``x.exp_()``,
``x.add_(y)``, ``x.copy_(y)``...): values, dtype rules (the target's dtype is kept; a result
that can't be cast to it is an error), shape rules (the source broadcasts to the target, never
the other way) and gradients through the overwritten tensor. Each runs on a clone of a leaf, so
gradients reach the leaves through the in-place op's node."""

from __future__ import annotations

from tests.conformance.harness import FLOAT_DTYPES, OpInfo, Sample, make
from tests.conformance.ops_elementwise import _binary, _divisor, _unary

DTYPES = FLOAT_DTYPES + ("int64",)


def _method(name):
    return lambda L, a, *rest: getattr(a.clone(), name)(*rest)


def _unary_inplace(name, low=-2.0, high=2.0, **kw):
    return OpInfo(f"inplace_{name}", _method(name),
                  lambda dt, rng: _unary(dt, rng, low, high), dtypes=DTYPES, **kw)


def _binary_inplace(name, samples=None, low=-2.0, high=2.0, **kw):
    samples = samples or (lambda dt, rng: _binary(dt, rng, low, high))
    return OpInfo(f"inplace_{name}", _method(name), samples, dtypes=DTYPES, **kw)


def _on_view_of_nonleaf(index, method):
    """``method`` in place on ``y[index]`` where ``y = a * 1`` is not a leaf: the written
    region's gradient comes from the in-place op, the rest of ``y``'s from ``a`` (torch's
    CopySlices node on the base)."""
    def fn(L, a, b):
        y = a * 1
        getattr(y[index], method)(b)
        return y
    return fn


def _view_samples(dt, rng):
    return [Sample((make((3, 4), dt, rng), make((2, 4), dt, rng))),
            Sample((make((3, 4), dt, rng), make((4,), dt, rng)), name="broadcast")]


def _column_samples(dt, rng):
    return [Sample((make((3, 4), dt, rng), make((3, 2), dt, rng)))]


_POSITIVE = dict(low=0.1, high=3.0)
_UNIT = dict(low=-0.9, high=0.9)

OPS = [
    *(_unary_inplace(n) for n in (
        "neg_", "abs_", "exp_", "exp2_", "expm1_", "sin_", "cos_", "atan_", "sinh_", "cosh_",
        "tanh_", "sigmoid_", "relu_", "erf_", "nan_to_num_")),
    *(_unary_inplace(n, **_POSITIVE) for n in (
        "sqrt_", "rsqrt_", "log_", "log2_", "log10_", "reciprocal_")),
    *(_unary_inplace(n, **_UNIT) for n in ("asin_", "acos_", "log1p_", "tan_")),
    # piecewise constant: zero gradients, which gradgradcheck has nothing to check in
    *(_unary_inplace(n, gradgrad=False) for n in (
        "sign_", "floor_", "ceil_", "round_", "trunc_")),
    OpInfo("inplace_clamp_", lambda L, a: a.clone().clamp_(min=-0.5, max=0.7),
        lambda dt, rng: _unary(dt, rng), dtypes=DTYPES),
    OpInfo("inplace_clip_", lambda L, a: a.clone().clip_(max=0.3),
           lambda dt, rng: _unary(dt, rng), dtypes=DTYPES),
    *(_binary_inplace(n) for n in (
        "add_", "sub_", "mul_", "atan2_", "copy_")),
    *(_binary_inplace(n, samples=_divisor) for n in ("div_", "remainder_", "fmod_")),
    _binary_inplace("floor_divide_", samples=_divisor, grad=False),
    _binary_inplace("pow_", low=0.5, high=2.0),
    OpInfo("inplace_lerp_", lambda L, a, b: a.clone().lerp_(b, 0.3),
           lambda dt, rng: _binary(dt, rng)[:5], dtypes=DTYPES),
    *(_binary_inplace(n, grad=False) for n in (
        "eq_", "ne_", "lt_", "le_", "gt_", "ge_", "logical_and_", "logical_or_",
        "logical_xor_")),
    OpInfo("inplace_mul_on_row_view_of_nonleaf", _on_view_of_nonleaf(slice(1, None), "mul_"),
           _view_samples),
    OpInfo("inplace_add_on_column_view_of_nonleaf",
           _on_view_of_nonleaf((slice(None), slice(1, 3)), "add_"), _column_samples),
]
