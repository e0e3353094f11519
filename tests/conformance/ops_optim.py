"""Conformance entries for the optimizers' update ops (``_fused_adam_``, ``_fused_sgd_``...):
six steps of ``lib.optim.<Optimizer>`` on one parameter with a fixed gradient, compared with
torch.optim's. Several steps, so the state buffers made on the first step are read later
(momentum, moments, AMSGrad's maximum) and RAdam reaches its rectified update (step 6); a
transposed parameter takes the NumPy path where the fused kernels take contiguous ones.
Not differentiable (``grad=False``).
"""

from __future__ import annotations

from tests.conformance.harness import OpInfo, Sample, make

STEPS = 6


def _step(optimizer: str):
    def fn(lib, param, grad, **options):
        p = param.clone().requires_grad_(True)
        opt = getattr(lib.optim, optimizer)([p], **options)
        for _ in range(STEPS):
            p.grad = grad.clone()
            opt.step()
        return p.detach()
    return fn


def _samples(*variants: dict):
    """One sample per option set, on a contiguous matrix, plus a transposed matrix, a
    vector and a 0-d parameter with the first option set."""
    def samples(dt, rng):
        shapes = [((3, 4), False)] * len(variants) + [((4, 3), True), ((5,), False), ((), False)]
        options = list(variants) + [variants[0]] * 3
        return [Sample((make(shape, dt, rng, noncontig=nc), make(shape, dt, rng, noncontig=nc)),
                       dict(opts)) for (shape, nc), opts in zip(shapes, options)]
    return samples


def _entry(optimizer: str, *variants: dict) -> OpInfo:
    return OpInfo(f"optim_{optimizer}", _step(optimizer), _samples(*variants), grad=False)


OPS = [
    _entry("Adam", dict(lr=0.1), dict(lr=0.1, amsgrad=True, weight_decay=0.1),
           dict(lr=0.05, betas=(0.8, 0.9), maximize=True)),
    _entry("AdamW", dict(lr=0.1), dict(lr=0.1, amsgrad=True, weight_decay=0.5)),
    _entry("SGD", dict(lr=0.1), dict(lr=0.1, momentum=0.9, weight_decay=0.1),
           dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True),
           dict(lr=0.1, momentum=0.5, dampening=0.3)),
    _entry("Adadelta", dict(lr=1.0), dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
    _entry("Adagrad", dict(lr=0.1), dict(lr=0.1, lr_decay=0.1, weight_decay=0.1,
                                         initial_accumulator_value=0.5)),
    _entry("Adamax", dict(lr=0.1), dict(lr=0.1, weight_decay=0.1, maximize=True)),
    _entry("NAdam", dict(lr=0.1), dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True)),
    _entry("RAdam", dict(lr=0.1), dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True)),
    _entry("RMSprop", dict(lr=0.01), dict(lr=0.01, momentum=0.9, centered=True,
                                          weight_decay=0.1)),
]
