"""Adadelta, as ``torch.optim.Adadelta``."""

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

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta: steps scaled by running averages of squared gradients and updates."""

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check_common(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_common(0.0, eps, weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = _call_closure(closure)
        for group in self.param_groups:
            for p in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["step"] = _scalar_state(0.0)
                    state["square_avg"] = _zeros_like(p)
                    state["acc_delta"] = _zeros_like(p)
                _bump_step(state["step"])
                _apply_step(FusedAdadelta, p, state["square_avg"], state["acc_delta"],
                            lr=_to_scalar(group["lr"]), rho=group["rho"], eps=group["eps"],
                            weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss


class FusedAdadelta(OptimizerStep):
    """One Adadelta update of a parameter and both running averages."""

    name = aten = "_fused_adadelta"
    signature = ("_fused_adadelta(Tensor(a!) param, Tensor grad, Tensor(b!) square_avg, "
                 "Tensor(c!) acc_delta, *, float lr, float rho, float eps, float weight_decay, "
                 "bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, square_avg, acc_delta, *, lr, rho, eps, weight_decay,
                maximize):
        _adadelta(*map(_real, (param, grad, square_avg, acc_delta)), lr=lr, rho=rho, eps=eps,
                  weight_decay=weight_decay, maximize=maximize)
        return param


def _adadelta(param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray,
              acc_delta: np.ndarray, *, lr: float, rho: float, eps: float,
              weight_decay: float, maximize: bool) -> None:
    """One Adadelta update of ``param`` and both running averages, in place."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    tmp = np.multiply(grad, grad)
    tmp *= 1 - rho
    square_avg *= rho
    square_avg += tmp
    delta = np.add(acc_delta, eps)
    np.sqrt(delta, out=delta)
    np.add(square_avg, eps, out=tmp)
    np.sqrt(tmp, out=tmp)
    delta /= tmp
    delta *= grad
    np.multiply(delta, delta, out=tmp)
    tmp *= 1 - rho
    acc_delta *= rho
    acc_delta += tmp
    delta *= -lr
    param += delta
