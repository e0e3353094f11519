"""Activation modules: thin wrappers of ``nn.functional`` with torch's reprs."""

from __future__ import annotations

from ..._tensor import Tensor
from ...ops.creation import empty
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
           "Hardtanh", "Hardswish", "Hardsigmoid", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
           "Softmin", "Softplus", "Softsign", "Softshrink", "Hardshrink", "Tanhshrink",
           "LogSigmoid", "Threshold", "GLU", "Softmax2d"]


def _inplace_repr(self) -> str:
    return "inplace=True" if self.inplace else ""


def _stateless(name: str, fn, doc: str) -> type[Module]:
    """A module without settings that applies ``fn``."""
    def forward(self, input: Tensor) -> Tensor:
        return fn(input)
    return type(name, (Module,), {"__doc__": doc, "forward": forward, "__module__": __name__})


def _with_inplace(name: str, fn, doc: str) -> type[Module]:
    """A module whose one setting is ``inplace``."""
    def __init__(self, inplace: bool = False) -> None:
        Module.__init__(self)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return fn(input, inplace=self.inplace)
    return type(name, (Module,), {"__doc__": doc, "__init__": __init__, "forward": forward,
                                  "extra_repr": _inplace_repr, "__module__": __name__})


Sigmoid = _stateless("Sigmoid", F.sigmoid, "1 / (1 + exp(-x)).")
Tanh = _stateless("Tanh", F.tanh, "Hyperbolic tangent.")
Softsign = _stateless("Softsign", F.softsign, "x / (1 + |x|).")
Tanhshrink = _stateless("Tanhshrink", F.tanhshrink, "x - tanh(x).")
LogSigmoid = _stateless("LogSigmoid", F.logsigmoid, "log(sigmoid(x)), stable.")
ReLU = _with_inplace("ReLU", F.relu, "max(0, x).")
ReLU6 = _with_inplace("ReLU6", F.relu6, "min(max(0, x), 6).")
SELU = _with_inplace("SELU", F.selu, "Scaled ELU with self-normalising constants.")
SiLU = _with_inplace("SiLU", F.silu, "x * sigmoid(x).")
Mish = _with_inplace("Mish", F.mish, "x * tanh(softplus(x)).")
Hardswish = _with_inplace("Hardswish", F.hardswish, "x * relu6(x + 3) / 6.")
Hardsigmoid = _with_inplace("Hardsigmoid", F.hardsigmoid, "relu6(x + 3) / 6.")


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (
            ", inplace=True" if self.inplace else "")


class Hardtanh(Module):
    """``x`` clamped to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        self.min_val = min_val if min_value is None else min_value
        self.max_val = max_val if max_value is None else max_value
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise AssertionError

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (
            ", inplace=True" if self.inplace else "")


class LeakyReLU(Module):
    """``x`` for positive inputs, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace
                                                           else "")


class _AlphaActivation(Module):
    _fn = staticmethod(F.elu)

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class ELU(_AlphaActivation):
    """``x`` for positive inputs, ``alpha * (exp(x) - 1)`` otherwise."""


class CELU(_AlphaActivation):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    _fn = staticmethod(F.celu)


class GELU(Module):
    """``x * Phi(x)``; ``approximate='tanh'`` uses the tanh formula."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class _Shrink(Module):
    _fn = staticmethod(F.softshrink)

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Softshrink(_Shrink):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""


class Hardshrink(_Shrink):
    """``x`` where ``|x| > lambd``, else 0."""
    _fn = staticmethod(F.hardshrink)


class PReLU(Module):
    """LeakyReLU with a learned slope (one, or one per channel), initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(empty(num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class _SoftmaxLike(Module):
    _fn = staticmethod(F.softmax)

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if not hasattr(self, "dim"):
            self.dim = None

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxLike):
    """``exp(x) / sum(exp(x))`` along ``dim``."""


class LogSoftmax(_SoftmaxLike):
    """``log(softmax(x))`` along ``dim``, stable."""
    _fn = staticmethod(F.log_softmax)


class Softmin(_SoftmaxLike):
    """``softmax(-x)`` along ``dim``."""
    _fn = staticmethod(F.softmin)


class Softmax2d(Module):
    """Softmax over the channels of a ``(N, C, H, W)`` or ``(C, H, W)`` input."""

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.dim()}D "
                             "instead")
        return F.softmax(input, -3, _stacklevel=5)


class GLU(Module):
    """``a * sigmoid(b)`` for the halves ``a, b`` of the input along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
