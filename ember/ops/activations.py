"""Activations: their ops, torch's fused backward ops (``gelu_backward``,
``threshold_backward``, ...: one pass per backward, differentiable to any order) and the
functions (``ember.relu``, ``ember.selu``...; the rest are reached through
``nn.functional``).
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import dispatch
from .._tensor import Tensor
from ._pointwise import (
    _backward_by,
    _backward_op,
    _erf,
    _fusable,
    _is_float,
    _sigmoid,
    _softplus,
    _Unary,
    _unary,
    _unary_function,
)
from ._util import dtype_name
from .arithmetic import abs, exp, sigmoid, tanh, where  # noqa: A004
from .creation import zeros_like

# ---- fused activation backward ops ---------------------------------------------------------

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


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


def _mish_curvature(x):
    s, t = sigmoid(x), tanh(softplus(x))
    return s * (1 - t * t) * (2 + x * (1 - s) - 2 * x * s * t)


def _elu_curvature(x, alpha, scale, input_scale):
    return where(x > 0, 0.0, exp(x * input_scale) * (alpha * scale * input_scale ** 2))


def _softplus_curvature(x, beta, threshold):
    s = sigmoid(x * beta)
    return where(x * beta > threshold, 0.0, s * (1 - s) * beta)


def _threshold_backward(g, x, threshold):
    """``0 if x <= threshold else g``: a Numba pass over contiguous arrays (split across
    threads when large), else the ufunc of ``_kernels_elementwise``."""
    from . import _kernels_elementwise as K
    if _fusable(x, g):
        return K.threshold_backward_contiguous(g, x, threshold)
    return K.threshold_backward(g, x, threshold)


def _relu(x):
    """``max(x, 0)``: split across threads for large contiguous float arrays (a NumPy pass
    runs on one)."""
    if x.size >= 1 << 17 and _fusable(x):
        from . import _kernels_elementwise as K
        out = K.relu(x)
        if out is not None:
            return out
    return np.maximum(x, 0)


# (the computation of those without a ``kernel`` is their ufunc in ``_kernels_elementwise``)
ThresholdBackward = _backward_op("threshold_backward", params="Scalar threshold",
                                 kernel=_threshold_backward)
GeluBackward = _backward_op(
    "gelu_backward", _gelu_curvature, "str approximate='none'",
    kernel=lambda g, x, approximate: g * _gelu_grad(x, approximate),
    contiguous=lambda approximate: "gelu_tanh" if approximate == "tanh" else "gelu")
SiluBackward = _backward_op("silu_backward", _silu_curvature,
                            kernel=lambda g, x: g * _silu_grad(x), contiguous=lambda: "silu")
MishBackward = _backward_op("mish_backward", _mish_curvature)
LeakyReluBackward = _backward_op("leaky_relu_backward", params="Scalar negative_slope")
EluBackward = _backward_op("elu_backward", _elu_curvature,
                           "Scalar alpha, Scalar scale, Scalar input_scale")
SoftplusBackward = _backward_op("softplus_backward", _softplus_curvature,
                                "Scalar beta, Scalar threshold")
HardtanhBackward = _backward_op("hardtanh_backward", params="Scalar min_val, Scalar max_val")
LogSigmoidBackward = _backward_op("log_sigmoid_backward", lambda x: -sigmoid(x) * sigmoid(-x))
HardswishBackward = _backward_op("hardswish_backward",
                                 lambda x: ((x > -3) & (x < 3)).to(x.dtype) / 3)
HardsigmoidBackward = _backward_op("hardsigmoid_backward")
SoftshrinkBackward = _backward_op("softshrink_backward", params="Scalar lambd")
HardshrinkBackward = _backward_op("hardshrink_backward", params="Scalar lambd")


# ---- activation ops ------------------------------------------------------------------------

def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x)))
    return 0.5 * x * (1 + _erf(x * _SQRT_HALF))


def _clip(x, lo, hi):
    """``min(max(x, lo), hi)`` (NaN stays NaN), in ``x``'s dtype."""
    return np.minimum(np.maximum(x, lo), hi).astype(x.dtype, copy=False)


def _elu(x, alpha, scale, input_scale):
    return np.where(x > 0, x * scale, np.expm1(x * input_scale) * (alpha * scale))


Relu = _unary("relu", _relu,
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
    kernel_name = staticmethod(GeluBackward.contiguous)


class Silu(_FusedActivation):
    name = "silu"
    kernel = staticmethod(lambda x: x * _sigmoid(x))
    gradient = staticmethod(_backward_by(SiluBackward))
    kernel_name = staticmethod(SiluBackward.contiguous)


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
                   _backward_by(HardswishBackward), ints="reject")
Hardsigmoid = _unary("hardsigmoid", lambda x: np.clip(x + 3, 0, 6) / 6,
                     _backward_by(HardsigmoidBackward), ints="reject")
Threshold = _unary("threshold", lambda x, th, v: np.where(x > th, x, v).astype(x.dtype),
                   _backward_by(ThresholdBackward, 1), ints="int",
                   params="Scalar threshold, Scalar value")
LogSigmoid = _unary("log_sigmoid", lambda x: -np.logaddexp(0, -x),
                    _backward_by(LogSigmoidBackward), ints="reject")
Softshrink = _unary("softshrink",
                    lambda x, lam: np.where(x > lam, x - lam, np.where(x < -lam, x + lam, 0)),
                    _backward_by(SoftshrinkBackward), ints="reject", params="Scalar lambd=0.5")
Hardshrink = _unary("hardshrink", lambda x, lam: np.where((x >= -lam) & (x <= lam), 0, x),
                    _backward_by(HardshrinkBackward), ints="reject", params="Scalar lambd=0.5")


# ---- functions (ember.X where torch has torch.X; the rest for nn.functional) --------------

relu = _unary_function(Relu)


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


__all__ = ["relu", "selu", "celu", "threshold", "hardshrink", "rrelu", "selu_", "celu_",
           "threshold_", "rrelu_"]
