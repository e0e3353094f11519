"""Fused optimizer updates (Adam/AdamW, SGD): one Numba pass per parameter instead of a
dozen (SGD: five) NumPy ones.

Imported lazily by the update ops (``ops/optim.py``; Numba is never imported by ``import
ember``); compiled once and cached on disk. Each kernel reads and writes every element of the
parameter and its state once; the math is torch's single-tensor update. The NumPy functions
in ``ops/optim.py`` are the references (``tests/test_kernels_transformer.py``) and handle the
layouts the kernels do not take.
"""

from __future__ import annotations

import numba
import numpy as np

from .._threads import sync_numba

sync_numba()


@numba.njit(cache=True, error_model="numpy")
def _adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, decay, l2, w1, beta2, w2,
          step_size, bias_correction2_sqrt, eps, maximize):
    for i in range(param.shape[0]):
        param[i] *= decay
        g = -grad[i] if maximize else grad[i]
        g = g + l2 * param[i]
        exp_avg[i] += w1 * (g - exp_avg[i])  # exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq[i] = exp_avg_sq[i] * beta2 + w2 * g * g
        v = exp_avg_sq[i]
        if max_exp_avg_sq is not None:
            v = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = v
        param[i] -= step_size * (exp_avg[i] / (np.sqrt(v) / bias_correction2_sqrt + eps))


def adam(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
         max_exp_avg_sq: np.ndarray | None, *, step: float, lr: float, beta1: float,
         beta2: float, eps: float, weight_decay: float, maximize: bool,
         decoupled_weight_decay: bool) -> None:
    """One Adam update in place over 1-D arrays of one dtype (``max_exp_avg_sq`` None
    without AMSGrad). The hyperparameters enter in the arrays' dtype, as torch's scalars do,
    so float32 runs round as torch's and their trajectories stay together."""
    cast = param.dtype.type
    decay = 1 - lr * weight_decay if decoupled_weight_decay else 1.0
    l2 = 0.0 if decoupled_weight_decay else weight_decay
    _adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, cast(decay), cast(l2),
          cast(1 - beta1), cast(beta2), cast(1 - beta2), cast(lr / (1 - beta1 ** step)),
          cast((1 - beta2 ** step) ** 0.5), cast(eps), maximize)


@numba.njit(cache=True, error_model="numpy")
def _sgd(param, grad, buf, neg_lr, weight_decay, momentum, damped, nesterov, maximize, first):
    for i in range(param.shape[0]):
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        if buf is not None:
            b = g if first else buf[i] * momentum + damped * g
            buf[i] = b
            g = g + momentum * b if nesterov else b
        param[i] += neg_lr * g


def sgd(param: np.ndarray, grad: np.ndarray, buf: np.ndarray | None, first: bool, *,
        lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool,
        maximize: bool) -> None:
    """One SGD update in place over 1-D arrays of one dtype (``buf``, the momentum buffer,
    None without momentum; set to the gradient on the ``first`` step). One pass instead of
    NumPy's five (with two temporaries of the parameter's size); each product rounds in the
    arrays' dtype as NumPy's does, so the result equals the reference ``ops.optim._sgd``."""
    cast = param.dtype.type
    _sgd(param, grad, buf, cast(-lr), cast(weight_decay), cast(momentum), cast(1 - dampening),
         nesterov, maximize, first)


def fusable(param: np.ndarray, grad: np.ndarray, *state: np.ndarray | None) -> bool:
    """Whether the kernels update ``param`` and its ``state`` arrays in place: C-contiguous,
    float32 or float64, one dtype. (The gradient is only read: ``flat`` copies it if its
    layout differs, as a weight's gradient from a transposed matmul does.)"""
    dtype = param.dtype
    return (dtype == np.float32 or dtype == np.float64) and grad.dtype == dtype and all(
        a is None or (a.dtype == dtype and a.flags.c_contiguous) for a in (param, *state))


def flat(a: np.ndarray | None) -> np.ndarray | None:
    """``a`` as a 1-D C-contiguous array (a view when it is C-contiguous already)."""
    return None if a is None else np.ascontiguousarray(a).reshape(-1)
