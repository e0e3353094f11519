"""Adadelta, as ``torch.optim.Adadelta``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ops.creation import zeros_like
from ..ops.optim import FusedAdadelta
from .optimizer import (
    Optimizer,
    ParamsT,
    _apply_step,
    _call_closure,
    _check_common,
    _scalar_state,
    _to_scalar,
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
                    state["square_avg"] = zeros_like(p)
                    state["acc_delta"] = zeros_like(p)
                _apply_step(FusedAdadelta, p, state["square_avg"], state["acc_delta"],
                            state["step"], lr=_to_scalar(group["lr"]), rho=group["rho"],
                            eps=group["eps"], weight_decay=group["weight_decay"],
                            maximize=group["maximize"])
        return loss
