"""Conformance entries for the elementwise ops (ember/ops/elementwise.py)."""

from __future__ import annotations

import numpy as np

import ember.ops.elementwise as _ew
from tests.conformance.harness import ALL_FLOAT, FLOAT_DTYPES, OpInfo, Sample, make

WITH_INTS = FLOAT_DTYPES + ("int64", "int32", "uint8", "bool")
SIGNED = FLOAT_DTYPES + ("int64", "int32")
BITS = ("int64", "int32", "uint8", "bool")


def F(L):
    """Where a library keeps activations torch has only in nn.functional."""
    return L.nn.functional if L.__name__ == "torch" else _ew


def _maker(dt, rng, low, high):
    """``make`` in [low, high]; integer dtypes get the whole numbers of that range."""
    if np.dtype(make((), dt).dtype).kind in "iub":
        low = int(np.floor(low))
        low, high = low, max(int(np.floor(high)), low)
    return lambda shape, **kw: make(shape, dt, rng, low=low, high=high, **kw)


def _unary(dt, rng, low=-2.0, high=2.0):
    m = _maker(dt, rng, low, high)
    return [
        Sample((m((3, 4)),)),
        Sample((m((4, 3), noncontig=True),), name="noncontig"),
        Sample((m(()),), name="0-d"),
        Sample((m((0, 2)),), name="empty"),
    ]


def _binary(dt, rng, low=-2.0, high=2.0, scalar=2.5):
    m = _maker(dt, rng, low, high)
    return [
        Sample((m((3, 4)), m((3, 4)))),
        Sample((m((2, 3, 4)), m((4,))), name="broadcast"),
        Sample((m((4, 3), noncontig=True), m((4, 1))), name="noncontig"),
        Sample((m(()), m((2, 2))), name="0-d"),
        Sample((m((0, 3)), m((3,))), name="empty"),
        Sample((m((3,)), scalar), name="scalar"),
        Sample((m((2, 3)), m((4,))), name="mismatch"),
    ]


def _unary_op(name, low=-2.0, high=2.0, dtypes=WITH_INTS, call=None, **kw):
    fn = call or (lambda L, a: getattr(L, name)(a))
    return OpInfo(name, fn, lambda dt, rng: _unary(dt, rng, low, high), dtypes=dtypes, **kw)


def _binary_op(name, low=-2.0, high=2.0, dtypes=WITH_INTS, call=None, scalar=2.5, **kw):
    fn = call or (lambda L, a, b: getattr(L, name)(a, b))
    return OpInfo(name, fn, lambda dt, rng: _binary(dt, rng, low, high, scalar), dtypes=dtypes,
                  **kw)


def _grad_at(f):
    """The gradient of ``f(L, x).sum()`` as a value (for kinks, where gradcheck can't go)."""
    def fn(L, a):
        x = a.detach().clone().requires_grad_()
        return L.autograd.grad(f(L, x).sum(), x)[0]
    return fn


_KINKS = np.array([-6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0])


def _kinks(dt, rng):
    return [Sample((_KINKS.astype(dt),))]


def _positive(lo=0.5):
    return dict(low=lo, high=3.0)


_MATH = [
    _unary_op("sqrt", **_positive(0.1)), _unary_op("rsqrt", **_positive(0.1)),
    _unary_op("exp", dtypes=WITH_INTS + ALL_FLOAT[:2]), _unary_op("exp2"), _unary_op("expm1"),
    _unary_op("log", **_positive(0.1)), _unary_op("log2", **_positive(0.1)),
    _unary_op("log10", **_positive(0.1)), _unary_op("log1p", low=-0.9),
    _unary_op("sin"), _unary_op("cos"), _unary_op("tan", low=-1.2, high=1.2),
    _unary_op("asin", low=-0.9, high=0.9), _unary_op("acos", low=-0.9, high=0.9),
    _unary_op("atan"), _unary_op("arcsin", low=-0.9, high=0.9), _unary_op("sinh"),
    _unary_op("cosh"), _unary_op("tanh", dtypes=WITH_INTS + ALL_FLOAT[:2]), _unary_op("asinh"),
    _unary_op("acosh", low=1.1, high=3.0), _unary_op("atanh", low=-0.9, high=0.9),
    _unary_op("erf", dtypes=WITH_INTS + ALL_FLOAT[:2]), _unary_op("erfc"),
    _unary_op("erfinv", low=-0.95, high=0.95),
    _unary_op("sigmoid", dtypes=WITH_INTS + ALL_FLOAT[:2], low=-8.0, high=8.0),
    _unary_op("logit", low=0.05, high=0.95),
    _unary_op("logit_eps", low=0.05, high=0.95, call=lambda L, a: L.logit(a, eps=0.2)),
    _unary_op("reciprocal", **_positive()), _unary_op("frac"), _unary_op("abs"),
    _unary_op("neg_method", call=lambda L, a: a.negative()),
    _unary_op("abs_operator", call=lambda L, a: abs(a)),
    _unary_op("square"), _unary_op("sign"),
    _unary_op("sgn", grad=False),  # torch gives a ZeroTensor gradient, which can't be compared
    _unary_op("floor"),
    _unary_op("ceil"), _unary_op("trunc"), _unary_op("fix"), _unary_op("round"),
    _unary_op("round_decimals", call=lambda L, a: L.round(a * 10, decimals=1)),
    _unary_op("round_neg_decimals", call=lambda L, a: L.round(a * 100, decimals=-1)),
    _unary_op("positive", call=lambda L, a: +a),
    # in-place variants and methods, on a non-leaf so that gradients flow through them
    _unary_op("exp_", call=lambda L, a: a.clone().exp_(), dtypes=FLOAT_DTYPES),
    _unary_op("sigmoid_", call=lambda L, a: a.clone().sigmoid_(), dtypes=FLOAT_DTYPES),
    _unary_op("sqrt_method", call=lambda L, a: a.sqrt(), **_positive(0.1)),
    _unary_op("relu_", call=lambda L, a: a.clone().relu_(), dtypes=SIGNED),
    _unary_op("clamp_", call=lambda L, a: a.clone().clamp_(-0.5, 0.5), dtypes=SIGNED),
    _unary_op("sigmoid_int_inplace", call=lambda L, a: a.clone().sigmoid_(),
              dtypes=("int64",)),
]

_NAN_INF = np.array([[np.nan, np.inf, -np.inf, 1.5], [-0.0, 0.0, -2.0, np.nan]])


def _special(dt, rng):
    arr = _NAN_INF.astype(dt) if np.dtype(make((), dt).dtype).kind == "f" else \
        make((2, 4), dt, rng)
    return [Sample((arr,)), Sample((arr[:, ::2],), name="noncontig")]


_PREDICATES = [
    OpInfo(name, (lambda n: lambda L, a: getattr(L, n)(a))(name), _special, dtypes=WITH_INTS,
           grad=False)
    for name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit")
] + [
    OpInfo("nan_to_num", lambda L, a: L.nan_to_num(a), _special, dtypes=WITH_INTS, grad=False),
    OpInfo("nan_to_num_args", lambda L, a: L.nan_to_num(a, nan=1.0, posinf=2.0, neginf=-3.0),
           _special, dtypes=("float32", "float64", "float16"), grad=False),
    _unary_op("nan_to_num_grad", call=lambda L, a: L.nan_to_num(a)),
]

_ACTIVATIONS = [
    _unary_op("relu", dtypes=SIGNED + ALL_FLOAT[:2]),
    _unary_op("gelu", call=lambda L, a: F(L).gelu(a), dtypes=WITH_INTS + ALL_FLOAT[:2],
              low=-4.0, high=4.0),
    _unary_op("gelu_tanh", call=lambda L, a: F(L).gelu(a, approximate="tanh"), low=-4.0,
              high=4.0),
    _unary_op("gelu_bad", call=lambda L, a: F(L).gelu(a, approximate="exact"), grad=False),
    _unary_op("silu", call=lambda L, a: F(L).silu(a), low=-5.0, high=5.0),
    _unary_op("mish", call=lambda L, a: F(L).mish(a), low=-5.0, high=5.0),
    _unary_op("softplus", call=lambda L, a: F(L).softplus(a)),
    _unary_op("softplus_beta", call=lambda L, a: F(L).softplus(a * 10, beta=2, threshold=5)),
    _unary_op("leaky_relu", call=lambda L, a: F(L).leaky_relu(a, 0.2)),
    _unary_op("elu", call=lambda L, a: F(L).elu(a, alpha=1.5)),
    _unary_op("selu", call=lambda L, a: L.selu(a)),
    _unary_op("celu", call=lambda L, a: L.celu(a, alpha=0.7)),
    _unary_op("hardtanh", call=lambda L, a: F(L).hardtanh(a, -0.5, 1.0), dtypes=SIGNED),
    _unary_op("relu6", call=lambda L, a: F(L).relu6(a * 4), dtypes=SIGNED),
    _unary_op("hardswish", call=lambda L, a: F(L).hardswish(a * 3)),
    _unary_op("hardsigmoid", call=lambda L, a: F(L).hardsigmoid(a * 3)),
    _unary_op("softsign", call=lambda L, a: F(L).softsign(a)),
    _unary_op("threshold", call=lambda L, a: L.threshold(a, 0.3, -1.0), dtypes=SIGNED),
    _unary_op("logsigmoid", call=lambda L, a: F(L).logsigmoid(a * 10)),
    _unary_op("tanhshrink", call=lambda L, a: F(L).tanhshrink(a)),
    _unary_op("softshrink", call=lambda L, a: F(L).softshrink(a, 0.7)),
    _unary_op("softshrink_negative", call=lambda L, a: F(L).softshrink(a, -0.5), grad=False),
    _unary_op("hardshrink", call=lambda L, a: L.hardshrink(a, 0.7)),
    _unary_op("rrelu_eval", call=lambda L, a: L.rrelu(a)),
    _unary_op("leaky_relu_inplace", call=lambda L, a: F(L).leaky_relu(a.clone(), 0.1, True),
              dtypes=FLOAT_DTYPES),
    _unary_op("elu_inplace", call=lambda L, a: F(L).elu_(a.clone()), dtypes=FLOAT_DTYPES),
]

# Gradients at the kinks, compared with torch as values.
_KINK_GRADS = [
    OpInfo(f"grad_at_kinks_{name}", _grad_at(f), _kinks, grad=False) for name, f in [
        ("relu", lambda L, x: L.relu(x)), ("abs", lambda L, x: L.abs(x)),
        ("hardtanh", lambda L, x: F(L).hardtanh(x)), ("relu6", lambda L, x: F(L).relu6(x)),
        ("hardswish", lambda L, x: F(L).hardswish(x)),
        ("hardsigmoid", lambda L, x: F(L).hardsigmoid(x)),
        ("leaky_relu", lambda L, x: F(L).leaky_relu(x)), ("elu", lambda L, x: F(L).elu(x)),
        ("softshrink", lambda L, x: F(L).softshrink(x, 1.0)),
        ("hardshrink", lambda L, x: F(L).hardshrink(x, 1.0)),
        ("threshold", lambda L, x: L.threshold(x, 1.0, 2.0)),
        ("clamp", lambda L, x: L.clamp(x, -1.0, 3.0)),
        ("maximum", lambda L, x: L.maximum(x, L.zeros_like(x) + 0.5)),
        ("minimum", lambda L, x: L.minimum(x, L.zeros_like(x) + 0.5)),
        ("fmax", lambda L, x: L.fmax(x, L.zeros_like(x) + 0.5)),
        ("copysign", lambda L, x: L.copysign(x, L.zeros_like(x) - 1.0)),
        ("floor", lambda L, x: L.floor(x)), ("sign", lambda L, x: L.sign(x)),
        ("frac", lambda L, x: L.frac(x)),
        ("div_floor", lambda L, x: L.div(x, 2.0, rounding_mode="floor")),
        ("pow_zero_base", lambda L, x: L.pow(x, 2.0)),
        ("pow_zero_exponent", lambda L, x: L.pow(L.zeros_like(x) + 0.0, x.abs())),
    ]
]


def _into(f):
    """``f(L, a, b, out=o)`` into a fresh (resized) ``o``, returned."""
    def fn(L, a, b):
        o = L.zeros(0, dtype=a.dtype)
        f(L, a, b, out=o)
        return o
    return fn


def _divisor(dt, rng):
    """Samples whose divisors stay away from zero."""
    out = []
    for s in _binary(dt, rng, low=1.0, high=3.0):
        a, b = s.args
        a = np.asarray(a * 3 - 4, dtype=a.dtype) if a.dtype.kind in "fi" else a
        out.append(Sample((a, b), name=s.name))
    return out


def _int_zero_divisor(dt, rng):
    return [Sample((make((3,), dt, rng), np.array([1, 0, 2], dtype=dt)), name="zero")]


_ARITH = [
    _binary_op("add_int", call=lambda L, a, b: a + b, dtypes=WITH_INTS[:-1] + ALL_FLOAT[:2]),
    _binary_op("add_alpha", call=lambda L, a, b: L.add(a, b, alpha=3)),
    _binary_op("sub_alpha", call=lambda L, a, b: L.sub(a, b, alpha=2), dtypes=SIGNED),
    _binary_op("sub_bool", call=lambda L, a, b: a - b, dtypes=("bool",)),
    _binary_op("rsub_scalar", call=lambda L, a, b: 3 - a),
    _binary_op("mul_all", call=lambda L, a, b: a * b),
    _binary_op("rmul_scalar", call=lambda L, a, b: 1.5 * a),
    _unary_op("neg_bool", call=lambda L, a: -a, dtypes=("bool",)),
    OpInfo("truediv", lambda L, a, b: a / b, _divisor, dtypes=WITH_INTS),
    OpInfo("rtruediv", lambda L, a, b: 2 / b, _divisor, dtypes=WITH_INTS),
    OpInfo("div_floor", lambda L, a, b: L.div(a, b, rounding_mode="floor"), _divisor,
           dtypes=SIGNED),
    OpInfo("div_trunc", lambda L, a, b: L.div(a, b, rounding_mode="trunc"), _divisor,
           dtypes=SIGNED),
    OpInfo("div_bad_mode", lambda L, a, b: L.div(a, b, rounding_mode="round"), _divisor,
           grad=False),
    OpInfo("floordiv", lambda L, a, b: a // b, _divisor, dtypes=SIGNED, grad=False),
    OpInfo("rfloordiv", lambda L, a, b: 7 // b, _divisor, dtypes=SIGNED, grad=False),
    OpInfo("floor_divide", lambda L, a, b: L.floor_divide(a, b), _divisor, dtypes=SIGNED,
           grad=False),
    OpInfo("mod", lambda L, a, b: a % b, _divisor, dtypes=SIGNED),
    OpInfo("rmod", lambda L, a, b: 5 % b, _divisor, dtypes=SIGNED, grad=False),
    OpInfo("remainder", lambda L, a, b: L.remainder(a, b), _divisor, dtypes=SIGNED),
    OpInfo("fmod", lambda L, a, b: L.fmod(a, b), _divisor, dtypes=SIGNED),
    OpInfo("int_floordiv_zero", lambda L, a, b: a // b, _int_zero_divisor, dtypes=("int64",),
           grad=False),
    OpInfo("int_mod_zero", lambda L, a, b: a % b, _int_zero_divisor, dtypes=("int64",),
           grad=False),
    OpInfo("int_fmod_zero", lambda L, a, b: L.fmod(a, b), _int_zero_divisor, dtypes=("int64",),
           grad=False),
    OpInfo("int_div_trunc_zero", lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
           _int_zero_divisor, dtypes=("int64",), grad=False),
    OpInfo("true_divide", lambda L, a, b: L.true_divide(a, b), _divisor),
    OpInfo("pow", lambda L, a, b: L.pow(a, b),
           lambda dt, rng: _binary(dt, rng, low=0.5, high=2.0), dtypes=FLOAT_DTYPES),
    OpInfo("pow_int", lambda L, a, b: a ** b,
           lambda dt, rng: _binary(dt, rng, low=0.0, high=3.0, scalar=2), dtypes=BITS[:3]),
    OpInfo("pow_int_negative", lambda L, a: a ** L.tensor([-1, -2, 0, 2]),
           lambda dt, rng: [Sample((np.array([-1, 1, 2, -1], dtype=dt),))], dtypes=("int64",)),
    _unary_op("pow_int_negative_scalar", call=lambda L, a: a ** -1, dtypes=("int64",)),
    _unary_op("rpow", call=lambda L, a: 2.0 ** a),
    _unary_op("pow_half", call=lambda L, a: a ** 0.5, **_positive()),
    _unary_op("pow_zero", call=lambda L, a: a ** 0),
    _unary_op("float_power", call=lambda L, a: L.float_power(a, 2)),
    _binary_op("atan2", dtypes=WITH_INTS[:-1], low=0.5),
    _binary_op("arctan2", dtypes=FLOAT_DTYPES, low=0.5),
    _binary_op("hypot", dtypes=SIGNED, call=lambda L, a, b: L.hypot(a, b + 3)),
    _binary_op("logaddexp", dtypes=SIGNED),
    _binary_op("logaddexp2", dtypes=SIGNED),
    _binary_op("xlogy", low=0.5, dtypes=WITH_INTS[:-1]),
    _binary_op("copysign", dtypes=SIGNED),
    _binary_op("heaviside", dtypes=SIGNED, grad=False,
               call=lambda L, a, b: L.heaviside(L.round(a), b)),
    _binary_op("maximum"), _binary_op("minimum"), _binary_op("fmax"), _binary_op("fmin"),
    OpInfo("maximum_ties", lambda L, a, b: L.maximum(a, b), lambda dt, rng: [
        Sample((np.array([1.0, 2.0, 3.0], dt), np.array([1.0, 1.0, 4.0], dt)))], grad=False),
    OpInfo("fmax_nan", lambda L, a, b: L.fmax(a, b), lambda dt, rng: [
        Sample((np.array([np.nan, 2.0, np.nan], dt), np.array([1.0, np.nan, np.nan], dt)))],
        grad=False),
    OpInfo("addcmul", lambda L, a, b, c: L.addcmul(a, b, c, value=0.5), lambda dt, rng: [
        Sample((make((3, 4), dt, rng), make((3, 4), dt, rng), make((4,), dt, rng))),
        Sample((make((4, 3), dt, rng, noncontig=True), make((1, 3), dt, rng),
                make((4, 1), dt, rng)), name="noncontig")], dtypes=WITH_INTS[:-1]),
    OpInfo("addcdiv", lambda L, a, b, c: L.addcdiv(a, b, c, value=2), lambda dt, rng: [
        Sample((make((3, 4), dt, rng), make((3, 4), dt, rng), make((4,), dt, rng, positive=True))),
        Sample((make((), dt, rng), make((2, 1), dt, rng), make((3,), dt, rng, positive=True)),
               name="0-d")], dtypes=SIGNED),
    OpInfo("lerp_scalar", lambda L, a, b: L.lerp(a, b, 0.3),
           lambda dt, rng: _binary(dt, rng)[:5], dtypes=SIGNED),
    OpInfo("lerp_scalar_high", lambda L, a, b: L.lerp(a, b, 0.8),
           lambda dt, rng: _binary(dt, rng)[:5]),
    OpInfo("lerp_tensor", lambda L, a, b, w: L.lerp(a, b, w), lambda dt, rng: [
        Sample((make((3, 4), dt, rng), make((3, 4), dt, rng), make((3, 4), dt, rng, low=0.0,
                                                                    high=1.0))),
        Sample((make((4, 3), dt, rng, noncontig=True), make((3,), dt, rng),
                make((4, 1), dt, rng)), name="broadcast")]),
    OpInfo("lerp_dtype_mismatch", lambda L, a, b: L.lerp(a, b.double(), 0.5),
           lambda dt, rng: _binary(dt, rng)[:1], dtypes=("float32",), grad=False),
    OpInfo("addcmul_", lambda L, a, b, c: a.clone().addcmul_(b, c, value=2), lambda dt, rng: [
        Sample((make((3, 4), dt, rng), make((3, 4), dt, rng), make((4,), dt, rng)))]),
    OpInfo("add_inplace_alpha", lambda L, a, b: a.clone().add_(b, alpha=-2),
           lambda dt, rng: _binary(dt, rng)[:3]),
    OpInfo("iadd", lambda L, a, b: _iop(a, b), lambda dt, rng: _binary(dt, rng)[:3]),
    OpInfo("mul_out", _into(lambda L, a, b, out: L.mul(a, b, out=out)),
           lambda dt, rng: _binary(dt, rng)[:3], grad=False),
    OpInfo("exp_out", _into(lambda L, a, b, out: L.exp(a, out=out)),
           lambda dt, rng: _binary(dt, rng)[:3], grad=False),
    OpInfo("inplace_int_into_float", lambda L, a, b: a.clone().mul_(b),
           lambda dt, rng: [Sample((make((3,), "int64", rng), make((3,), dt, rng)))],
           grad=False),
]


def _iop(a, b):
    a = a.clone()
    a += b
    a *= b
    a -= 1
    return a


def _clamp(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), -0.5, 0.5)),
        Sample((make((3, 4), dt, rng), None, 0.5), name="max-only"),
        Sample((make((4, 3), dt, rng, noncontig=True), -0.5, None), name="min-only"),
        Sample((make((3, 4), dt, rng), make((4,), dt, rng, high=0.0),
                make((3, 1), dt, rng, low=0.0)), name="tensors"),
        Sample((make((3, 4), dt, rng), make((3, 4), dt, rng), None), name="tensor-min"),
        Sample((make((), dt, rng), None, make((2,), dt, rng)), name="0-d"),
        Sample((make((3,), dt, rng), None, None), name="none"),
    ]


def _where(dt, rng):
    cond = make((3, 4), "bool", rng)
    return [
        Sample((cond, make((3, 4), dt, rng), make((3, 4), dt, rng))),
        Sample((cond[:, :1], make((4,), dt, rng), make((3, 1), dt, rng)), name="broadcast"),
        Sample((cond.T, make((4, 3), dt, rng, noncontig=True), 0.5), name="scalar-other"),
        Sample((cond, 2, make((3, 4), dt, rng)), name="scalar-input"),
        Sample((make((3,), "int64", rng), make((3,), dt, rng), 1.0), name="int-cond"),
        Sample((cond, make((3, 4), dt, rng), make((2, 4), dt, rng)), name="mismatch"),
    ]


_SELECT = [
    OpInfo("clamp", lambda L, a, lo, hi: L.clamp(a, lo, hi), _clamp, dtypes=SIGNED),
    OpInfo("clip", lambda L, a, lo, hi: a.clip(min=lo, max=hi), _clamp),
    OpInfo("clamp_int_float_bound", lambda L, a: L.clamp(a, 0.5, 1.5),
           lambda dt, rng: [Sample((make((4,), "int64", rng),))], grad=False),
    OpInfo("clamp_min", lambda L, a: L.clamp_min(a, 0.2), _unary),
    OpInfo("clamp_max", lambda L, a: a.clamp_max(0.2), _unary),
    OpInfo("where", lambda L, c, a, b: L.where(c, a, b), _where, dtypes=WITH_INTS[:-1],
           skip_grad_args=(0,)),
    OpInfo("where_method", lambda L, c, a, b: a.where(c, b), lambda dt, rng: _where(dt, rng)[:2],
           skip_grad_args=(0,)),
    OpInfo("where_scalars", lambda L, c: L.where(c, 1, 2.0),
           lambda dt, rng: [Sample((make((2, 3), "bool", rng),))], grad=False),
    OpInfo("where_nonzero", lambda L, c: L.where(c), lambda dt, rng: [
        Sample((make((3, 4), "bool", rng),)), Sample((np.array(True),), name="0-d"),
        Sample((make((3, 4), "int64", rng),), name="int")], grad=False),
]


def _cmp_op(name, call=None, dtypes=WITH_INTS):
    return _binary_op(name, call=call, dtypes=dtypes, grad=False)


_COMPARE = [
    _cmp_op(n) for n in ("eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal",
                         "less", "less_equal", "not_equal", "logical_and", "logical_or",
                         "logical_xor")
] + [
    _cmp_op("lt_operator", call=lambda L, a, b: a < b),
    _cmp_op("eq_operator", call=lambda L, a, b: a == b),
    _cmp_op("ge_reflected", call=lambda L, a, b: 1 <= a),
    _cmp_op("int_lt_float_scalar", call=lambda L, a, b: a < 0.5, dtypes=BITS),
    _cmp_op("eq_inplace", call=lambda L, a, b: a.clone().eq_(b), dtypes=SIGNED),
    _unary_op("logical_not", grad=False),
    _cmp_op("bitwise_and"), _cmp_op("bitwise_or"), _cmp_op("bitwise_xor"),
    _cmp_op("and_operator", call=lambda L, a, b: a & b, dtypes=BITS),
    _cmp_op("or_operator", call=lambda L, a, b: a | b, dtypes=BITS),
    _cmp_op("xor_operator", call=lambda L, a, b: a ^ b, dtypes=BITS),
    _cmp_op("rand_operator", call=lambda L, a, b: 6 & a, dtypes=BITS),
    _cmp_op("lshift", call=lambda L, a, b: a << 2, dtypes=("int64", "int32", "bool",
                                                         "float32")),
    _cmp_op("rshift", call=lambda L, a, b: a >> 1, dtypes=("int64", "int32", "float32")),
    _cmp_op("bitwise_left_shift", call=lambda L, a, b: L.bitwise_left_shift(a, a.abs() % 3),
            dtypes=("int64", "int32")),
    _unary_op("bitwise_not", dtypes=BITS + ("float32",), grad=False),
    _unary_op("invert", call=lambda L, a: ~a, dtypes=BITS + ("float32",), grad=False),
    _cmp_op("isclose", call=lambda L, a, b: L.isclose(a, a + b * 1e-6)),
    _cmp_op("isclose_tol", call=lambda L, a, b: L.isclose(a, b, rtol=0.5, atol=0.3),
            dtypes=FLOAT_DTYPES),
    _cmp_op("isclose_dtypes", call=lambda L, a, b: L.isclose(a, b.double()),
            dtypes=("float32",)),
    OpInfo("isclose_nan", lambda L, a: L.isclose(a, a, equal_nan=True), _special,
           grad=False),
    _cmp_op("allclose", call=lambda L, a, b: L.allclose(a, a + b * 1e-9),
            dtypes=FLOAT_DTYPES),
    _cmp_op("allclose_not", call=lambda L, a, b: L.allclose(a, b), dtypes=FLOAT_DTYPES),
    _cmp_op("equal", call=lambda L, a, b: L.equal(a, a.clone()) and not L.equal(a, b)),
    _cmp_op("equal_shapes", call=lambda L, a, b: L.equal(a, a[:1])),
]


def _fill(dt, rng):
    return [Sample((make((3, 4), dt, rng), 2.7)),
            Sample((make((4, 3), dt, rng, noncontig=True), np.array(1.5, dtype=dt)),
                   name="tensor-value"),
            Sample((make((3,), dt, rng), np.array([1.5], dtype=dt)), name="1-d-value")]


_FILLS = [
    OpInfo("fill_", lambda L, a, v: (a * 1).fill_(v), _fill, dtypes=WITH_INTS),
    OpInfo("zero_", lambda L, a: (a * 1).zero_(), _unary, dtypes=WITH_INTS[:-1]),
]

def _complex(dt, rng):
    def z(shape, **kw):
        return np.asarray(make(shape, "float64", rng, **kw)
                          + 1j * make(shape, "float64", rng, **kw))
    return [Sample((z((3, 4)).astype(dt),)), Sample((z((4, 3), noncontig=True).astype(dt),),
                                                    name="noncontig"),
            Sample((z(()).astype(dt),), name="0-d")]


_CONJ = [
    # torch's conj is a lazy view; conj_physical and resolve_conj give the values
    OpInfo("conj_physical", lambda L, a: L.conj_physical(a), _complex,
           dtypes=("complex64", "complex128"), grad=False),
    OpInfo("conj", lambda L, a: L.conj(a).resolve_conj(), _complex,
           dtypes=("complex64", "complex128"), grad=False),
    OpInfo("conj_real", lambda L, a: L.conj(a), _unary),
]

OPS = (_MATH + _PREDICATES + _ACTIVATIONS + _KINK_GRADS + _ARITH + _SELECT + _COMPARE + _FILLS
       + _CONJ)
