"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .optimizer import (
    Optimizer,
    OptimizerStep,
    ParamsT,
    _apply_step,
    _call_closure,
    _check_common,
    _real,
    _to_scalar,
    _zeros_like,
)

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD with momentum, dampening, Nesterov momentum and L2 weight decay (torch's form)."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check_common(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        _check_common(0.0, weight_decay=weight_decay)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = _call_closure(closure)
        for group in self.param_groups:
            momentum = group["momentum"]
            for p in self._params_with_grad(group):
                buf, first = None, False
                if momentum != 0:
                    state = self.state[p]
                    first = state.get("momentum_buffer") is None
                    if first:
                        state["momentum_buffer"] = _zeros_like(p)
                    buf = state["momentum_buffer"]
                _apply_step(FusedSGD, p, buf, lr=_to_scalar(group["lr"]), momentum=momentum,
                            dampening=group["dampening"], weight_decay=group["weight_decay"],
                            nesterov=group["nesterov"], maximize=group["maximize"],
                            is_first_step=first)
        return loss


class FusedSGD(OptimizerStep):
    """One SGD update of a parameter and its momentum buffer (None without momentum)."""

    name = aten = "_fused_sgd"
    signature = ("_fused_sgd(Tensor(a!) param, Tensor grad, Tensor(b!)? momentum_buffer, *, "
                 "float lr, float momentum, float dampening, float weight_decay, bool nesterov, "
                 "bool maximize, bool is_first_step) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, momentum_buffer, *, lr, momentum, dampening, weight_decay,
                nesterov, maximize, is_first_step):
        _sgd(_real(param), _real(grad), None if momentum_buffer is None else
             _real(momentum_buffer), is_first_step, lr=lr, momentum=momentum,
             dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
             maximize=maximize)
        return param


def _sgd(param: np.ndarray, grad: np.ndarray, buf: np.ndarray | None, first: bool, *,
         lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool,
         maximize: bool) -> None:
    """One SGD update of ``param`` in place; ``buf`` is the momentum buffer (set on step 1)."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if buf is not None:
        if first:
            buf[...] = grad
        else:
            buf *= momentum
            buf += (1 - dampening) * grad
        grad = grad + momentum * buf if nesterov else buf
    param += -lr * grad
