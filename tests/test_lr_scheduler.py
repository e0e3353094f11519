"""ember.optim.lr_scheduler against torch.optim.lr_scheduler: the same schedulers on the same
optimizers give the same learning rates (and momenta) step after step."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
import ember.optim as eoptim

STEPS = 30


def _optimizers(kind="SGD", **kwargs):
    """Twin optimizers with two parameter groups of different lrs (and no gradients)."""
    e = [ember.zeros(2, requires_grad=True), ember.zeros(3, requires_grad=True)]
    t = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    groups = lambda ps: [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.5}]
    return (getattr(eoptim, kind)(groups(e), lr=0.1, **kwargs),
            getattr(torch.optim, kind)(groups(t), lr=0.1, **kwargs))


def _trace(opt, sched, steps=STEPS, step=None):
    """lrs, momenta and get_last_lr after construction and after each step."""
    def snapshot():
        groups = opt.param_groups
        return ([g["lr"] for g in groups], [g.get("momentum", g.get("betas", (None,))[0])
                                            for g in groups], list(sched.get_last_lr()))
    out = [snapshot()]
    for i in range(steps):
        opt.step()
        (step or (lambda s, i: s.step()))(sched, i)
        out.append(snapshot())
    return out


def _compare(e_trace, t_trace):
    assert len(e_trace) == len(t_trace)
    for e_snap, t_snap in zip(e_trace, t_trace):
        for e_vals, t_vals in zip(e_snap, t_snap):
            np.testing.assert_allclose(np.array(e_vals, dtype=float),
                                       np.array(t_vals, dtype=float), rtol=1e-12, atol=0)


SCHEDULERS = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9),
    "StepLR": lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.3),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=6),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=12),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=8, eta_min=0.01),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5),
    "CosineAnnealingWarmRestarts-mult": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=0.001),
    "CyclicLR-triangular": lambda m, o: m.CyclicLR(o, 0.01, [0.1, 0.2], step_size_up=4),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=3,
                                                    step_size_down=5, mode="triangular2"),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=4,
                                                  mode="exp_range", gamma=0.9),
    "CyclicLR-no-momentum": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=4,
                                                    cycle_momentum=False),
    "OneCycleLR-cos": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=STEPS),
    "OneCycleLR-linear": lambda m, o: m.OneCycleLR(o, max_lr=1.0, epochs=5, steps_per_epoch=6,
                                                   anneal_strategy="linear", pct_start=0.4),
    "OneCycleLR-three-phase": lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=STEPS,
                                                        three_phase=True, div_factor=10.0),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5),
            m.CosineAnnealingLR(o, T_max=10)], milestones=[5]),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=3), m.ExponentialLR(o, gamma=0.9),
            m.StepLR(o, step_size=3)], milestones=[4, 12]),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9)]),
    "ChainedScheduler-cosine": lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.3, total_iters=6), m.CosineAnnealingLR(o, T_max=7)],
        optimizer=o),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_schedule_matches_torch(name):
    e_opt, t_opt = _optimizers(momentum=0.9)
    make = SCHEDULERS[name]
    _compare(_trace(e_opt, make(eoptim.lr_scheduler, e_opt)),
             _trace(t_opt, make(torch.optim.lr_scheduler, t_opt)))


@pytest.mark.parametrize("name", ["CyclicLR-triangular", "OneCycleLR-cos",
                                  "OneCycleLR-three-phase"])
def test_momentum_cycling_drives_adam_beta1(name):
    e_opt, t_opt = _optimizers("Adam")
    make = SCHEDULERS[name]
    e_trace = _trace(e_opt, make(eoptim.lr_scheduler, e_opt))
    t_trace = _trace(t_opt, make(torch.optim.lr_scheduler, t_opt))
    _compare(e_trace, t_trace)
    assert e_opt.param_groups[0]["betas"][1] == 0.999


def test_cyclic_lr_needs_momentum():
    e_opt, t_opt = _optimizers("Adagrad")
    with pytest.raises(ValueError, match="momentum or beta1") as t_err:
        torch.optim.lr_scheduler.CyclicLR(t_opt, 0.01, 0.1)
    with pytest.raises(ValueError) as e_err:
        eoptim.lr_scheduler.CyclicLR(e_opt, 0.01, 0.1)
    assert str(e_err.value) == str(t_err.value)


@pytest.mark.filterwarnings("ignore:The epoch parameter")
@pytest.mark.parametrize("T_mult", [1, 2])
def test_warm_restarts_fractional_epochs(T_mult):
    def step(sched, i):
        sched.step(i / 4)  # four iterations per epoch

    e_opt, t_opt = _optimizers()
    _compare(_trace(e_opt, eoptim.lr_scheduler.CosineAnnealingWarmRestarts(e_opt, 2, T_mult),
                    step=step),
             _trace(t_opt, torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(t_opt, 2, T_mult),
                    step=step))


@pytest.mark.filterwarnings("ignore:The epoch parameter")
@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                                  "LinearLR", "PolynomialLR", "ConstantLR", "LambdaLR"])
def test_step_with_epoch_uses_closed_form(name):
    def step(sched, i):
        sched.step((7 * i) % 23)

    e_opt, t_opt = _optimizers()
    make = SCHEDULERS[name]
    _compare(_trace(e_opt, make(eoptim.lr_scheduler, e_opt), step=step),
             _trace(t_opt, make(torch.optim.lr_scheduler, t_opt), step=step))


METRICS = [1.0, 0.9, 0.95, 0.95, 0.94, 0.96, 0.97, 0.8, 0.8, 0.8, 0.8, 0.81, 0.79, 0.79, 0.7,
           0.75, 0.76, 0.77, 0.78, 0.6, 0.6, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66, 0.5, 0.5, 0.5]


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(patience=1, factor=0.5),
    dict(mode="max", patience=2, threshold=0.05),
    dict(patience=1, threshold_mode="abs", threshold=0.02, cooldown=2),
    dict(patience=0, min_lr=[0.02, 0.1], factor=0.3),
    dict(patience=0, factor=0.9, eps=0.02),
])
def test_reduce_lr_on_plateau(kwargs):
    def step(sched, i):
        sched.step(METRICS[i])

    e_opt, t_opt = _optimizers()
    e_sched = eoptim.lr_scheduler.ReduceLROnPlateau(e_opt, **kwargs)
    t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kwargs)
    _compare(_trace(e_opt, e_sched, step=step), _trace(t_opt, t_sched, step=step))
    assert (e_sched.best, e_sched.num_bad_epochs, e_sched.cooldown_counter) == \
        (t_sched.best, t_sched.num_bad_epochs, t_sched.cooldown_counter)


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "CyclicLR-triangular2",
                                  "OneCycleLR-cos", "SequentialLR", "ChainedScheduler",
                                  "LambdaLR"])
def test_state_dict_resume(name):
    """A scheduler rebuilt from a state dict mid-way continues torch's uninterrupted run."""
    make = SCHEDULERS[name]
    t_opt = _optimizers(momentum=0.9)[1]
    t_trace = _trace(t_opt, make(torch.optim.lr_scheduler, t_opt))
    e_opt = _optimizers(momentum=0.9)[0]
    e_sched = make(eoptim.lr_scheduler, e_opt)
    first = _trace(e_opt, e_sched, steps=12)
    opt_sd, sched_sd = e_opt.state_dict(), e_sched.state_dict()
    e_opt2 = _optimizers(momentum=0.9)[0]
    e_sched2 = make(eoptim.lr_scheduler, e_opt2)
    e_sched2.load_state_dict(sched_sd)
    e_opt2.load_state_dict(opt_sd)
    rest = _trace(e_opt2, e_sched2, steps=STEPS - 12)
    _compare(first + rest[1:], t_trace)


def test_initial_lr_and_base_lrs():
    e_opt, t_opt = _optimizers()
    e_s = eoptim.lr_scheduler.StepLR(e_opt, 3)
    t_s = torch.optim.lr_scheduler.StepLR(t_opt, 3)
    assert e_s.base_lrs == t_s.base_lrs
    assert [g["initial_lr"] for g in e_opt.param_groups] == \
        [g["initial_lr"] for g in t_opt.param_groups]
    assert e_s.last_epoch == t_s.last_epoch == 0
    e_opt2, t_opt2 = _optimizers()
    with pytest.raises(KeyError):
        torch.optim.lr_scheduler.StepLR(t_opt2, 3, last_epoch=4)
    with pytest.raises(KeyError):
        eoptim.lr_scheduler.StepLR(e_opt2, 3, last_epoch=4)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        eoptim.lr_scheduler.StepLR(object(), 3)


def test_warnings_like_torch():
    e_opt, _ = _optimizers()
    sched = eoptim.lr_scheduler.StepLR(e_opt, 3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    e_opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


def test_tensor_lr_is_updated_in_place():
    e = [ember.zeros(2, requires_grad=True)]
    t = [torch.zeros(2, requires_grad=True)]
    e_opt = eoptim.SGD(e, lr=ember.tensor(0.1, dtype=ember.float64))
    t_opt = torch.optim.SGD(t, lr=torch.tensor(0.1, dtype=torch.float64))
    e_lr = e_opt.param_groups[0]["lr"]
    e_s = eoptim.lr_scheduler.ExponentialLR(e_opt, 0.5)
    t_s = torch.optim.lr_scheduler.ExponentialLR(t_opt, 0.5)
    for _ in range(3):
        e_opt.step()
        t_opt.step()
        e_s.step()
        t_s.step()
    assert e_opt.param_groups[0]["lr"] is e_lr
    assert float(e_lr) == float(t_opt.param_groups[0]["lr"])
