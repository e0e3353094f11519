"""The optimizers' update steps as ops: one in-place op per parameter and step.

The optimizers of ``ember.optim`` call these, as torch's fused optimizers call
``_fused_adam_``/``_fused_sgd_``: ``dispatch(Step.inplace_op(), param, param.grad, *state,
**hyperparameters)``. Modes see every update, and the dispatcher's in-place path bumps the
parameter's version counter. The math of each step is one function over NumPy arrays
(torch's ``_single_tensor_*`` update); SGD, Adam and AdamW run fused Numba kernels
(``_kernels_optim.py``) where the layout allows, with the NumPy function as reference.
"""

from __future__ import annotations

import functools

import numpy as np

from .._dispatch import Op
from . import _meta

__all__: list[str] = []


class OptimizerStep(Op):
    """An optimizer's update of one parameter, applied in place.

    ``forward`` updates the state buffers (the ``Tensor(x!)`` arguments of the signature)
    in place and returns the parameter's array, updated in place too, so that the
    dispatcher's in-place write has nothing to copy and only bumps the version counter.
    Outside autograd (``differentiable = False``), as torch's ``_fused_adam_``.
    """

    abstract = True
    kind = "opaque"
    differentiable = False

    @staticmethod
    def meta(param, *args, **kwargs):
        return _meta.like(param)


def _next_step(state_step: np.ndarray) -> float:
    """Increment the 0-d step counter (``state['step']``) in place; the new count."""
    state_step += 1
    return float(state_step)


@functools.cache
def _fused_kernels():
    """The Numba kernels, imported on first use (never by ``import ember``)."""
    from . import _kernels_optim
    return _kernels_optim


def _check_state(param: np.ndarray, *arrays) -> None:
    """The gradient and state buffers must have the parameter's shape (a state dict loaded
    from another model would otherwise send the kernels out of bounds): torch's error."""
    for a in arrays:
        if a is not None and a.shape != param.shape:
            for dim in range(-1, -1 - max(a.ndim, param.ndim), -1):
                n = param.shape[dim] if -dim <= param.ndim else 1
                m = a.shape[dim] if -dim <= a.ndim else 1
                if n != m:
                    raise RuntimeError(f"The size of tensor a ({m}) must match the size of "
                                       f"tensor b ({n}) at non-singleton dimension "
                                       f"{max(a.ndim, param.ndim) + dim}")
            raise RuntimeError(f"state of shape {list(a.shape)} does not match the parameter "
                               f"of shape {list(param.shape)}")


def _real(a: np.ndarray) -> np.ndarray:
    """The view the update math runs on: complex arrays as real ones with a trailing axis of 2
    (``torch.view_as_real``), 0-d arrays as 1-d (so NumPy results stay arrays, not scalars)."""
    if a.dtype.kind == "c":
        return a[..., None].view(a.real.dtype)
    return a if a.ndim else a[None]


class FusedSGD(OptimizerStep):
    """One SGD update of a parameter and its momentum buffer (None without momentum): the
    Numba kernel where the layout allows, else the NumPy reference ``_sgd``."""

    name = aten = "_fused_sgd"
    signature = ("_fused_sgd(Tensor(a!) param, Tensor grad, Tensor(b!)? momentum_buffer, *, "
                 "float lr, float momentum, float dampening, float weight_decay, bool nesterov, "
                 "bool maximize, bool is_first_step) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, momentum_buffer, *, lr, momentum, dampening, weight_decay,
                nesterov, maximize, is_first_step):
        _check_state(param, grad, momentum_buffer)
        kernels = _fused_kernels()
        arrays = (_real(param), _real(grad),
                  None if momentum_buffer is None else _real(momentum_buffer))
        update = _sgd
        if kernels.fusable(*arrays):
            update, arrays = kernels.sgd, tuple(map(kernels.flat, arrays))
        update(*arrays, is_first_step, lr=lr, momentum=momentum, dampening=dampening,
               weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
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


class FusedAdam(OptimizerStep):
    """One Adam update of a parameter and its moments (``max_exp_avg_sq`` with AMSGrad):
    the Numba kernel where the layout allows, else the NumPy reference ``_adam``."""

    name = aten = "_fused_adam"
    signature = ("_fused_adam(Tensor(a!) param, Tensor grad, Tensor(b!) exp_avg, "
                 "Tensor(c!) exp_avg_sq, Tensor(d!)? max_exp_avg_sq, Tensor(e!) state_step, *, "
                 "float lr, float beta1, float beta2, float eps, float weight_decay, "
                 "bool maximize) -> Tensor")
    decoupled_weight_decay = False

    @classmethod
    def forward(cls, ctx, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, state_step, *, lr,
                beta1, beta2, eps, weight_decay, maximize):
        _check_state(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)
        kernels = _fused_kernels()
        arrays = (*map(_real, (param, grad, exp_avg, exp_avg_sq)),
                  None if max_exp_avg_sq is None else _real(max_exp_avg_sq))
        update = _adam
        if kernels.fusable(*arrays):
            update, arrays = kernels.adam, tuple(map(kernels.flat, arrays))
        update(*arrays, step=_next_step(state_step), lr=lr, beta1=beta1, beta2=beta2, eps=eps,
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


class FusedAdadelta(OptimizerStep):
    """One Adadelta update of a parameter and both running averages."""

    name = aten = "_fused_adadelta"
    signature = ("_fused_adadelta(Tensor(a!) param, Tensor grad, Tensor(b!) square_avg, "
                 "Tensor(c!) acc_delta, Tensor(d!) state_step, *, float lr, float rho, "
                 "float eps, float weight_decay, bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, square_avg, acc_delta, state_step, *, lr, rho, eps,
                weight_decay, maximize):
        _check_state(param, grad, square_avg, acc_delta)
        _next_step(state_step)
        _adadelta(*map(_real, (param, grad, square_avg, acc_delta)), lr=lr, rho=rho, eps=eps,
                  weight_decay=weight_decay, maximize=maximize)
        return param


def _adadelta(param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray,
              acc_delta: np.ndarray, *, lr: float, rho: float, eps: float,
              weight_decay: float, maximize: bool) -> None:
    """One Adadelta update of ``param`` and both running averages, in place."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    tmp = np.multiply(grad, grad)
    tmp *= 1 - rho
    square_avg *= rho
    square_avg += tmp
    delta = np.add(acc_delta, eps)
    np.sqrt(delta, out=delta)
    np.add(square_avg, eps, out=tmp)
    np.sqrt(tmp, out=tmp)
    delta /= tmp
    delta *= grad
    np.multiply(delta, delta, out=tmp)
    tmp *= 1 - rho
    acc_delta *= rho
    acc_delta += tmp
    delta *= -lr
    param += delta


class FusedAdagrad(OptimizerStep):
    """One Adagrad update of a parameter and its running sum of squared gradients."""

    name = aten = "_fused_adagrad"
    signature = ("_fused_adagrad(Tensor(a!) param, Tensor grad, Tensor(b!) state_sum, "
                 "Tensor(c!) state_step, *, float lr, float lr_decay, float eps, "
                 "float weight_decay, bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, state_sum, state_step, *, lr, lr_decay, eps, weight_decay,
                maximize):
        _check_state(param, grad, state_sum)
        _adagrad(*map(_real, (param, grad, state_sum)), step=_next_step(state_step), lr=lr,
                 lr_decay=lr_decay, eps=eps, weight_decay=weight_decay, maximize=maximize)
        return param


def _adagrad(param: np.ndarray, grad: np.ndarray, state_sum: np.ndarray, *, step: float,
             lr: float, lr_decay: float, eps: float, weight_decay: float,
             maximize: bool) -> None:
    """One Adagrad update of ``param`` and the running sum of squares, in place."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    std = np.multiply(grad, grad)
    state_sum += std
    np.sqrt(state_sum, out=std)
    std += eps
    np.divide(grad, std, out=std)
    std *= -clr
    param += std


class FusedAdamax(OptimizerStep):
    """One Adamax update of a parameter, its first moment and its infinity norm."""

    name = aten = "_fused_adamax"
    signature = ("_fused_adamax(Tensor(a!) param, Tensor grad, Tensor(b!) exp_avg, "
                 "Tensor(c!) exp_inf, Tensor(d!) state_step, *, float lr, float beta1, "
                 "float beta2, float eps, float weight_decay, bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, exp_avg, exp_inf, state_step, *, lr, beta1, beta2, eps,
                weight_decay, maximize):
        _check_state(param, grad, exp_avg, exp_inf)
        _adamax(*map(_real, (param, grad, exp_avg, exp_inf)), step=_next_step(state_step),
                lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                maximize=maximize)
        return param


def _adamax(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_inf: np.ndarray, *,
            step: float, lr: float, beta1: float, beta2: float, eps: float,
            weight_decay: float, maximize: bool) -> None:
    """One Adamax update of ``param``, ``exp_avg`` and ``exp_inf``, in place."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    tmp = np.subtract(grad, exp_avg)
    tmp *= 1 - beta1
    exp_avg += tmp
    exp_inf *= beta2
    np.abs(grad, out=tmp)
    tmp += eps
    np.maximum(exp_inf, tmp, out=exp_inf)
    np.divide(exp_avg, exp_inf, out=tmp)
    tmp *= -(lr / (1 - beta1 ** step))
    param += tmp


class FusedNAdam(OptimizerStep):
    """One NAdam update of a parameter, its moments and the running product of momenta."""

    name = aten = "_fused_nadam"
    signature = ("_fused_nadam(Tensor(a!) param, Tensor grad, Tensor(b!) exp_avg, "
                 "Tensor(c!) exp_avg_sq, Tensor(d!) mu_product, Tensor(e!) state_step, *, "
                 "float lr, float beta1, float beta2, float eps, float weight_decay, "
                 "float momentum_decay, bool decoupled_weight_decay, bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, exp_avg, exp_avg_sq, mu_product, state_step, *, lr, beta1,
                beta2, eps, weight_decay, momentum_decay, decoupled_weight_decay, maximize):
        _check_state(param, grad, exp_avg, exp_avg_sq)
        _nadam(*map(_real, (param, grad, exp_avg, exp_avg_sq)), mu_product,
               step=_next_step(state_step), lr=lr, beta1=beta1, beta2=beta2, eps=eps,
               weight_decay=weight_decay, momentum_decay=momentum_decay,
               decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        return param


def _nadam(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
           mu_product: np.ndarray, *, step: float, lr: float, beta1: float, beta2: float,
           eps: float, weight_decay: float, momentum_decay: float,
           decoupled_weight_decay: bool, maximize: bool) -> None:
    """One NAdam update, in place; ``mu_product`` is the 0-d running product of momenta.

    ``mu_product`` keeps the scalar state dtype (float32 by default) as in torch, so the
    products round the same way.
    """
    if maximize:
        grad = -grad
    bias_correction2 = 1 - beta2 ** step
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product *= mu
    mu_prod = float(mu_product)
    tmp = np.subtract(grad, exp_avg)
    tmp *= 1 - beta1
    exp_avg += tmp
    np.multiply(grad, grad, out=tmp)
    tmp *= 1 - beta2
    exp_avg_sq *= beta2
    exp_avg_sq += tmp
    denom = np.divide(exp_avg_sq, bias_correction2)
    np.sqrt(denom, out=denom)
    denom += eps
    np.divide(grad, denom, out=tmp)
    tmp *= -lr * (1.0 - mu) / (1.0 - mu_prod)
    param += tmp
    np.divide(exp_avg, denom, out=tmp)
    tmp *= (-lr * mu_next) / (1.0 - mu_prod * mu_next)
    param += tmp


class FusedRAdam(OptimizerStep):
    """One RAdam update of a parameter and its moments."""

    name = aten = "_fused_radam"
    signature = ("_fused_radam(Tensor(a!) param, Tensor grad, Tensor(b!) exp_avg, "
                 "Tensor(c!) exp_avg_sq, Tensor(d!) state_step, *, float lr, float beta1, "
                 "float beta2, float eps, float weight_decay, bool decoupled_weight_decay, "
                 "bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, exp_avg, exp_avg_sq, state_step, *, lr, beta1, beta2, eps,
                weight_decay, decoupled_weight_decay, maximize):
        _check_state(param, grad, exp_avg, exp_avg_sq)
        _radam(*map(_real, (param, grad, exp_avg, exp_avg_sq)), step=_next_step(state_step),
               lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
               decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        return param


def _radam(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
           *, step: float, lr: float, beta1: float, beta2: float, eps: float,
           weight_decay: float, decoupled_weight_decay: bool, maximize: bool) -> None:
    """One RAdam update, in place: SGD with momentum until the variance is tractable."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    tmp = np.subtract(grad, exp_avg)
    tmp *= 1 - beta1
    exp_avg += tmp
    np.multiply(grad, grad, out=tmp)
    tmp *= 1 - beta2
    exp_avg_sq *= beta2
    exp_avg_sq += tmp
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    update = np.divide(exp_avg, bias_correction1)
    update *= lr
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        np.sqrt(exp_avg_sq, out=tmp)
        tmp += eps
        np.divide(bias_correction2 ** 0.5, tmp, out=tmp)
        update *= tmp
        update *= rect
    param -= update


class FusedRMSprop(OptimizerStep):
    """One RMSprop update of a parameter and its running averages (``grad_avg`` when
    centered, ``momentum_buffer`` with momentum; None otherwise)."""

    name = aten = "_fused_rmsprop"
    signature = ("_fused_rmsprop(Tensor(a!) param, Tensor grad, Tensor(b!) square_avg, "
                 "Tensor(c!)? grad_avg, Tensor(d!)? momentum_buffer, Tensor(e!) state_step, *, "
                 "float lr, float alpha, float eps, float weight_decay, float momentum, "
                 "bool maximize) -> Tensor")

    @staticmethod
    def forward(ctx, param, grad, square_avg, grad_avg, momentum_buffer, state_step, *, lr,
                alpha, eps, weight_decay, momentum, maximize):
        _check_state(param, grad, square_avg, grad_avg, momentum_buffer)
        _next_step(state_step)
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
