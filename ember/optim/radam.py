"""RAdam: Adam with a rectified adaptive learning rate, as ``torch.optim.RAdam``."""

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

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """RAdam with optional decoupled weight decay (RAdamW)."""

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_common(lr, eps, weight_decay, betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
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
                    state["exp_avg_sq"] = _zeros_like(p)
                _apply_step(FusedRAdam, p, state["exp_avg"], state["exp_avg_sq"],
                            step=_bump_step(state["step"]), lr=_to_scalar(group["lr"]),
                            beta1=beta1, beta2=beta2, eps=group["eps"],
                            weight_decay=group["weight_decay"],
                            decoupled_weight_decay=group["decoupled_weight_decay"],
                            maximize=group["maximize"])
        return loss


class FusedRAdam(OptimizerStep):
    """One RAdam update of a parameter and its moments."""

    name = aten = "_fused_radam"
    signature = ("_fused_radam(Tensor(a!) param, Tensor grad, Tensor(b!) exp_avg, "
                 "Tensor(c!) exp_avg_sq, *, float step, float lr, float beta1, float beta2, "
                 "float eps, float weight_decay, bool decoupled_weight_decay, bool maximize) "
                 "-> Tensor")

    @staticmethod
    def forward(ctx, param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1, beta2, eps,
                weight_decay, decoupled_weight_decay, maximize):
        _radam(*map(_real, (param, grad, exp_avg, exp_avg_sq)), step=step, lr=lr, beta1=beta1,
               beta2=beta2, eps=eps, weight_decay=weight_decay,
               decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        return param


def _radam(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
           *, step: float, lr: float, beta1: float, beta2: float, eps: float,
           weight_decay: float, decoupled_weight_decay: bool, maximize: bool) -> None:
    """One RAdam update, in place: SGD with momentum until the variance is tractable."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    tmp = np.subtract(grad, exp_avg)
    tmp *= 1 - beta1
    exp_avg += tmp
    np.multiply(grad, grad, out=tmp)
    tmp *= 1 - beta2
    exp_avg_sq *= beta2
    exp_avg_sq += tmp
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    update = np.divide(exp_avg, bias_correction1)
    update *= lr
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        np.sqrt(exp_avg_sq, out=tmp)
        tmp += eps
        np.divide(bias_correction2 ** 0.5, tmp, out=tmp)
        update *= tmp
        update *= rect
    param -= update
