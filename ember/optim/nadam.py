"""NAdam: Adam with Nesterov momentum, as ``torch.optim.NAdam``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ops.creation import zeros_like
from ..ops.optim import FusedNAdam
from .optimizer import (
    Optimizer,
    ParamsT,
    _apply_step,
    _call_closure,
    _check_common,
    _scalar_state,
    _to_scalar,
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
                    state["exp_avg"] = zeros_like(p)
                    state["exp_avg_sq"] = zeros_like(p)
                _apply_step(FusedNAdam, p, state["exp_avg"], state["exp_avg_sq"],
                            state["mu_product"], state["step"],
                            lr=_to_scalar(group["lr"]), beta1=beta1, beta2=beta2,
                            eps=group["eps"], weight_decay=group["weight_decay"],
                            momentum_decay=group["momentum_decay"],
                            decoupled_weight_decay=group["decoupled_weight_decay"],
                            maximize=group["maximize"])
        return loss
