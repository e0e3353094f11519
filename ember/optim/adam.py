"""Adam (and, with decoupled weight decay, AdamW), as ``torch.optim.Adam``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ops.creation import zeros_like
from ..ops.optim import FusedAdam, FusedAdamW
from .optimizer import (
    Optimizer,
    ParamsT,
    _apply_step,
    _call_closure,
    _check_common,
    _scalar_state,
    _to_scalar,
)

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam with optional AMSGrad, L2 or decoupled weight decay, and maximize."""

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        _check_common(lr, eps, weight_decay, betas)
        defaults = dict(lr=lr, betas=tuple(map(_to_scalar, betas)), eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = _call_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = map(_to_scalar, group["betas"])
            op = FusedAdamW if group["decoupled_weight_decay"] else FusedAdam
            for p in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["step"] = _scalar_state(0.0)
                    state["exp_avg"] = zeros_like(p)
                    state["exp_avg_sq"] = zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = zeros_like(p)
                _apply_step(op, p, state["exp_avg"], state["exp_avg_sq"],
                            state.get("max_exp_avg_sq") if group["amsgrad"] else None,
                            state["step"], lr=_to_scalar(group["lr"]),
                            beta1=beta1, beta2=beta2, eps=group["eps"],
                            weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss
