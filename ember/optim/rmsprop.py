"""RMSprop, as ``torch.optim.RMSprop``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ops.creation import zeros_like
from ..ops.optim import FusedRMSprop
from .optimizer import (
    Optimizer,
    ParamsT,
    _apply_step,
    _call_closure,
    _check_common,
    _scalar_state,
    _to_scalar,
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
                    state["square_avg"] = zeros_like(p)
                    if group["momentum"] > 0:
                        state["momentum_buffer"] = zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = zeros_like(p)
                buf, grad_avg = (state.get(k) for k in ("momentum_buffer", "grad_avg"))
                _apply_step(FusedRMSprop, p, state["square_avg"], grad_avg, buf, state["step"],
                            lr=_to_scalar(group["lr"]), alpha=group["alpha"], eps=group["eps"],
                            weight_decay=group["weight_decay"], momentum=group["momentum"],
                            maximize=group["maximize"])
        return loss
