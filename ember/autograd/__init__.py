"""``ember.autograd``: automatic differentiation, as ``torch.autograd`` (reverse mode, and
forward mode in ``forward_ad``)."""

from __future__ import annotations

from . import forward_ad, functional, graph
from .anomaly_mode import detect_anomaly, set_detect_anomaly
from .function import Function, FunctionCtx, once_differentiable
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import gradcheck, gradgradcheck
from ._api import backward, grad
from .graph import gradient_edge, run_backward

__all__ = ["backward", "grad", "Function", "FunctionCtx", "once_differentiable", "no_grad",
           "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled", "detect_anomaly", "set_detect_anomaly", "graph",
           "gradcheck", "gradgradcheck", "functional", "forward_ad", "Variable"]


def Variable(data, requires_grad: bool = False):  # noqa: N802  (torch's legacy name)
    """Legacy alias: returns ``data`` with ``requires_grad`` set."""
    return data.requires_grad_(requires_grad) if requires_grad else data
