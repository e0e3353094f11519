"""Adam (and, with decoupled weight decay, AdamW), as ``torch.optim.Adam``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .optimizer import (
    Optimizer,
    ParamsT,
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
        from . import _kernels
        loss = _call_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = map(_to_scalar, group["betas"])
            for p in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["step"] = _scalar_state(0.0)
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_avg_sq"] = _zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = _zeros_like(p)
                max_sq = state["max_exp_avg_sq"]._data if group["amsgrad"] else None
                arrays = (*map(_real, (p._data, p.grad._data, state["exp_avg"]._data,
                                       state["exp_avg_sq"]._data)),
                          None if max_sq is None else _real(max_sq))
                options = dict(step=_bump_step(state["step"]), lr=_to_scalar(group["lr"]),
                               beta1=beta1, beta2=beta2, eps=group["eps"],
                               weight_decay=group["weight_decay"], maximize=group["maximize"],
                               decoupled_weight_decay=group["decoupled_weight_decay"])
                if _kernels.fusable(*arrays):
                    _kernels.adam(*map(_kernels.flat, arrays), **options)
                else:
                    _adam(*arrays, **options)
        return loss


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
