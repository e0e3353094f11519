"""Adamax: Adam with the infinity norm, as ``torch.optim.Adamax``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ops.creation import zeros_like
from ..ops.optim import FusedAdamax
from .optimizer import (
    Optimizer,
    ParamsT,
    _apply_step,
    _call_closure,
    _check_common,
    _scalar_state,
    _to_scalar,
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
                    state["exp_avg"] = zeros_like(p)
                    state["exp_inf"] = zeros_like(p)
                _apply_step(FusedAdamax, p, state["exp_avg"], state["exp_inf"], state["step"],
                            lr=_to_scalar(group["lr"]),
                            beta1=beta1, beta2=beta2, eps=group["eps"],
                            weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss
