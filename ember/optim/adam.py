"""Adam (and, with decoupled weight decay, AdamW), as ``torch.optim.Adam``."""

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
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_avg_sq"] = _zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = _zeros_like(p)
                _apply_step(op, p, state["exp_avg"], state["exp_avg_sq"],
                            state.get("max_exp_avg_sq") if group["amsgrad"] else None,
                            step=_bump_step(state["step"]), lr=_to_scalar(group["lr"]),
                            beta1=beta1, beta2=beta2, eps=group["eps"],
                            weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss


class FusedAdam(OptimizerStep):
    """One Adam update of a parameter and its moments (``max_exp_avg_sq`` with AMSGrad):
    the Numba kernel where the layout allows, else the NumPy reference ``_adam``."""

    name = aten = "_fused_adam"
    signature = ("_fused_adam(Tensor(a!) param, Tensor grad, Tensor(b!) exp_avg, "
                 "Tensor(c!) exp_avg_sq, Tensor(d!)? max_exp_avg_sq, *, float step, float lr, "
                 "float beta1, float beta2, float eps, float weight_decay, bool maximize) "
                 "-> Tensor")
    decoupled_weight_decay = False

    @classmethod
    def forward(cls, ctx, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step, lr,
                beta1, beta2, eps, weight_decay, maximize):
        from . import _kernels
        arrays = (*map(_real, (param, grad, exp_avg, exp_avg_sq)),
                  None if max_exp_avg_sq is None else _real(max_exp_avg_sq))
        update = _kernels.adam if _kernels.fusable(*arrays) else _adam
        if update is _kernels.adam:
            arrays = tuple(map(_kernels.flat, arrays))
        update(*arrays, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
               weight_decay=weight_decay, maximize=maximize,
               decoupled_weight_decay=cls.decoupled_weight_decay)
        return param


class FusedAdamW(FusedAdam):
    """One AdamW update: Adam whose weight decay shrinks the parameter directly."""

    name = aten = "_fused_adamw"
    signature = FusedAdam.signature.replace("_fused_adam(", "_fused_adamw(")
    decoupled_weight_decay = True


def _adam(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
          max_exp_avg_sq: np.ndarray | None, *, step: float, lr: float, beta1: float,
          beta2: float, eps: float, weight_decay: float, maximize: bool,
          decoupled_weight_decay: bool) -> None:
    """One Adam update of ``param`` and its moments, in place (torch's single-tensor math);
    the NumPy reference of ``_kernels.adam``, used for the layouts it does not take."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    tmp = np.subtract(grad, exp_avg)
    tmp *= 1 - beta1
    exp_avg += tmp                                   # exp_avg.lerp_(grad, 1 - beta1)
    np.multiply(grad, grad, out=tmp)
    tmp *= 1 - beta2
    exp_avg_sq *= beta2
    exp_avg_sq += tmp
    bias_correction1 = 1 - beta1 ** step
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        np.sqrt(max_exp_avg_sq, out=tmp)
    else:
        np.sqrt(exp_avg_sq, out=tmp)
    tmp /= bias_correction2_sqrt
    tmp += eps
    np.divide(exp_avg, tmp, out=tmp)
    tmp *= -(lr / bias_correction1)
    param += tmp
