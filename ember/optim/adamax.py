"""Adamax: Adam with the infinity norm, as ``torch.optim.Adamax``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .optimizer import (
    Optimizer,
    OptimizerStep,
    ParamsT,
    _apply_step,
    _bump_step,
    _call_closure,
    _check_common,
    _real,
    _scalar_state,
    _to_scalar,
    _zeros_like,
)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm of the gradients as second moment)."""

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check_common(lr, eps, weight_decay, betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = _call_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["step"] = _scalar_state(0.0)
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_inf"] = _zeros_like(p)
                _apply_step(FusedAdamax, p, state["exp_avg"], state["exp_inf"],
                            step=_bump_step(state["step"]), lr=_to_scalar(group["lr"]),
                            beta1=beta1, beta2=beta2, eps=group["eps"],
                            weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss


class FusedAdamax(OptimizerStep):
    """One Adamax update of a parameter, its first moment and its infinity norm."""

    name = aten = "_fused_adamax"
    signature = ("_fused_adamax(Tensor(a!) param, Tensor grad, Tensor(b!) exp_avg, "
                 "Tensor(c!) exp_inf, *, float step, float lr, float beta1, float beta2, "
                 "float eps, float weight_decay, bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, exp_avg, exp_inf, *, step, lr, beta1, beta2, eps,
                weight_decay, maximize):
        _adamax(*map(_real, (param, grad, exp_avg, exp_inf)), step=step, lr=lr, beta1=beta1,
                beta2=beta2, eps=eps, weight_decay=weight_decay, maximize=maximize)
        return param


def _adamax(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_inf: np.ndarray, *,
            step: float, lr: float, beta1: float, beta2: float, eps: float,
            weight_decay: float, maximize: bool) -> None:
    """One Adamax update of ``param``, ``exp_avg`` and ``exp_inf``, in place."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    tmp = np.subtract(grad, exp_avg)
    tmp *= 1 - beta1
    exp_avg += tmp
    exp_inf *= beta2
    np.abs(grad, out=tmp)
    tmp += eps
    np.maximum(exp_inf, tmp, out=exp_inf)
    np.divide(exp_avg, exp_inf, out=tmp)
    tmp *= -(lr / (1 - beta1 ** step))
    param += tmp
