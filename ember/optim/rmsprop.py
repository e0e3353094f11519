"""RMSprop, as ``torch.optim.RMSprop``."""

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

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop with optional momentum and centering (Graves' variant)."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check_common(lr, eps)
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        _check_common(0.0, weight_decay=weight_decay)
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = _call_closure(closure)
        for group in self.param_groups:
            for p in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["step"] = _scalar_state(0.0)
                    state["square_avg"] = _zeros_like(p)
                    if group["momentum"] > 0:
                        state["momentum_buffer"] = _zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = _zeros_like(p)
                _bump_step(state["step"])
                buf, grad_avg = (state.get(k) for k in ("momentum_buffer", "grad_avg"))
                _apply_step(FusedRMSprop, p, state["square_avg"], grad_avg, buf,
                            lr=_to_scalar(group["lr"]), alpha=group["alpha"], eps=group["eps"],
                            weight_decay=group["weight_decay"], momentum=group["momentum"],
                            maximize=group["maximize"])
        return loss


class FusedRMSprop(OptimizerStep):
    """One RMSprop update of a parameter and its running averages (``grad_avg`` when
    centered, ``momentum_buffer`` with momentum; None otherwise)."""

    name = aten = "_fused_rmsprop"
    signature = ("_fused_rmsprop(Tensor(a!) param, Tensor grad, Tensor(b!) square_avg, "
                 "Tensor(c!)? grad_avg, Tensor(d!)? momentum_buffer, *, float lr, float alpha, "
                 "float eps, float weight_decay, float momentum, bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps,
                weight_decay, momentum, maximize):
        _rmsprop(*map(_real, (param, grad, square_avg)),
                 None if grad_avg is None else _real(grad_avg),
                 None if momentum_buffer is None else _real(momentum_buffer), lr=lr,
                 alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                 maximize=maximize)
        return param


def _rmsprop(param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray,
             grad_avg: np.ndarray | None, momentum_buffer: np.ndarray | None, *, lr: float,
             alpha: float, eps: float, weight_decay: float, momentum: float,
             maximize: bool) -> None:
    """One RMSprop update, in place; ``grad_avg`` is given when centered."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    avg = np.multiply(grad, grad)
    avg *= 1 - alpha
    square_avg *= alpha
    square_avg += avg
    if grad_avg is not None:
        np.subtract(grad, grad_avg, out=avg)
        avg *= 1 - alpha
        grad_avg += avg
        np.multiply(grad_avg, grad_avg, out=avg)
        np.subtract(square_avg, avg, out=avg)
        np.sqrt(avg, out=avg)
    else:
        np.sqrt(square_avg, out=avg)
    avg += eps
    np.divide(grad, avg, out=avg)
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += avg
        param += -lr * momentum_buffer
    else:
        avg *= -lr
        param += avg
