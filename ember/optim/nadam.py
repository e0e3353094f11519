"""NAdam: Adam with Nesterov momentum, as ``torch.optim.NAdam``."""

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

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """NAdam with momentum decay and optional decoupled weight decay (NAdamW)."""

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_common(lr, eps, weight_decay, betas)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = _call_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["step"] = _scalar_state(0.0)
                    state["mu_product"] = _scalar_state(1.0)
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_avg_sq"] = _zeros_like(p)
                _apply_step(FusedNAdam, p, state["exp_avg"], state["exp_avg_sq"],
                            state["mu_product"], step=_bump_step(state["step"]),
                            lr=_to_scalar(group["lr"]), beta1=beta1, beta2=beta2,
                            eps=group["eps"], weight_decay=group["weight_decay"],
                            momentum_decay=group["momentum_decay"],
                            decoupled_weight_decay=group["decoupled_weight_decay"],
                            maximize=group["maximize"])
        return loss


class FusedNAdam(OptimizerStep):
    """One NAdam update of a parameter, its moments and the running product of momenta."""

    name = aten = "_fused_nadam"
    signature = ("_fused_nadam(Tensor(a!) param, Tensor grad, Tensor(b!) exp_avg, "
                 "Tensor(c!) exp_avg_sq, Tensor(d!) mu_product, *, float step, float lr, "
                 "float beta1, float beta2, float eps, float weight_decay, float momentum_decay, "
                 "bool decoupled_weight_decay, bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, exp_avg, exp_avg_sq, mu_product, *, step, lr, beta1, beta2,
                eps, weight_decay, momentum_decay, decoupled_weight_decay, maximize):
        _nadam(*map(_real, (param, grad, exp_avg, exp_avg_sq)), mu_product, step=step, lr=lr,
               beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
               momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
               maximize=maximize)
        return param


def _nadam(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
           mu_product: np.ndarray, *, step: float, lr: float, beta1: float, beta2: float,
           eps: float, weight_decay: float, momentum_decay: float,
           decoupled_weight_decay: bool, maximize: bool) -> None:
    """One NAdam update, in place; ``mu_product`` is the 0-d running product of momenta.

    ``mu_product`` keeps the scalar state dtype (float32 by default) as in torch, so the
    products round the same way.
    """
    if maximize:
        grad = -grad
    bias_correction2 = 1 - beta2 ** step
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product *= mu
    mu_prod = float(mu_product)
    tmp = np.subtract(grad, exp_avg)
    tmp *= 1 - beta1
    exp_avg += tmp
    np.multiply(grad, grad, out=tmp)
    tmp *= 1 - beta2
    exp_avg_sq *= beta2
    exp_avg_sq += tmp
    denom = np.divide(exp_avg_sq, bias_correction2)
    np.sqrt(denom, out=denom)
    denom += eps
    np.divide(grad, denom, out=tmp)
    tmp *= -lr * (1.0 - mu) / (1.0 - mu_prod)
    param += tmp
    np.divide(exp_avg, denom, out=tmp)
    tmp *= (-lr * mu_next) / (1.0 - mu_prod * mu_next)
    param += tmp
