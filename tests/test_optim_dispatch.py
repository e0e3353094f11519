"""Optimizers, gradient clipping, GradScaler and lr schedulers write only through
dispatched ops.

A dispatch mode watches the tensors a step may write (parameters, gradients, optimizer
state): before each dispatched op and at the end it checks that none of them changed
since the previous op finished. A write into a tensor's array that bypasses the
dispatcher (``p._data += ...``) fails the check and is named. Each update must also be
one op per parameter (``_fused_adam_``...) and bump the parameter's version counter
exactly once, as the dispatcher's in-place path does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
import ember.optim as eoptim
from ember._dispatch import DispatchMode


class _Watch(DispatchMode):
    """Records the ops dispatched while active and fails on a write to ``tensors`` made
    between two dispatched ops (outside the dispatcher)."""

    def __init__(self, tensors) -> None:
        self.tensors = list(tensors)
        self.names: list[str] = []
        self._snapshot()

    def _snapshot(self) -> None:
        self.arrays = [t._data.copy() for t in self.tensors]

    def _check(self, before: str) -> None:
        for i, (t, old) in enumerate(zip(self.tensors, self.arrays)):
            assert np.array_equal(t._data, old, equal_nan=True), \
                f"watched tensor {i} {tuple(t.shape)} was written outside the dispatcher " \
                f"(before {before})"

    def __ember_dispatch__(self, op, args, kwargs):
        self._check(op.name)
        out = op.apply(*args, **kwargs)
        self.names.append(op.name)
        self._snapshot()
        return out

    def __exit__(self, *exc):
        super().__exit__(*exc)
        if exc[0] is None:
            self._check("the end of the block")


def _params(seed: int = 0, dtype=np.float32) -> list[ember.Tensor]:
    rng = np.random.default_rng(seed)
    return [ember.from_numpy(rng.standard_normal(s).astype(dtype)).requires_grad_()
            for s in ((3, 4), (5,), ())]


def _set_grads(params, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for p in params:
        p.grad = ember.from_numpy(rng.standard_normal(p.shape).astype(p._data.dtype))


def _state_tensors(opt) -> list[ember.Tensor]:
    return [v for s in opt.state.values() for v in s.values() if isinstance(v, ember.Tensor)]


OPTIMIZERS = [
    ("SGD", dict(lr=0.1, momentum=0.9), "_fused_sgd_"),
    ("Adam", dict(lr=0.1, amsgrad=True, weight_decay=0.1), "_fused_adam_"),
    ("AdamW", dict(lr=0.1), "_fused_adamw_"),
    ("Adadelta", dict(), "_fused_adadelta_"),
    ("Adagrad", dict(lr=0.1), "_fused_adagrad_"),
    ("Adamax", dict(lr=0.1), "_fused_adamax_"),
    ("NAdam", dict(lr=0.1), "_fused_nadam_"),
    ("RAdam", dict(lr=0.1), "_fused_radam_"),
    ("RMSprop", dict(lr=0.1, momentum=0.9, centered=True), "_fused_rmsprop_"),
]


@pytest.mark.parametrize("name,options,update", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_step_updates_through_one_dispatched_op_per_parameter(name, options, update):
    params = _params()
    opt = getattr(eoptim, name)(params, **options)
    for step in range(3):
        _set_grads(params, step)
        versions = [p._version for p in params]
        before = [p._data.copy() for p in params]
        watched = params + [p.grad for p in params] + _state_tensors(opt)
        with _Watch(watched) as watch:
            opt.step()
        assert watch.names.count(update) == len(params), watch.names
        assert [p._version for p in params] == [v + 1 for v in versions]
        assert all(not np.array_equal(p._data, b) for p, b in zip(params, before))


def test_lbfgs_writes_parameters_through_dispatched_ops():
    params = _params()
    targets = [ember.from_numpy(np.full(p.shape, 0.5, np.float32)) for p in params]
    opt = eoptim.LBFGS(params, lr=0.5, max_iter=4, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = sum(((p - t) ** 2).sum() for p, t in zip(params, targets))
        loss.backward()
        return loss

    start = float(closure())
    with _Watch(params) as watch:
        opt.step(closure)
    assert "add_" in watch.names and "copy_" in watch.names
    assert float(closure()) < start / 10  # (trajectories vs torch: tests/test_optim.py)


def test_zero_grad_in_place_is_a_dispatched_fill():
    params = _params()
    _set_grads(params, 0)
    grads = [p.grad for p in params]
    versions = [g._version for g in grads]
    opt = eoptim.SGD(params, lr=0.1)
    with _Watch(grads) as watch:
        opt.zero_grad(set_to_none=False)
    assert watch.names == ["fill_"] * len(params)
    assert all(p.grad is g and not g._data.any() for p, g in zip(params, grads))
    assert [g._version for g in grads] == [v + 1 for v in versions]


def _torch_twins(params):
    twins = [torch.from_numpy(p._data.copy()).requires_grad_() for p in params]
    for p, t in zip(params, twins):
        t.grad = torch.from_numpy(p.grad._data.copy())
    return twins


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_matches_torch_through_dispatched_ops(norm_type):
    params = _params()
    _set_grads(params, 0)
    twins = _torch_twins(params)
    with _Watch([p.grad for p in params]) as watch:
        total = nn.utils.clip_grad_norm_(params, 0.5, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(twins, 0.5, norm_type=norm_type)
    assert watch.names.count("mul_") == len(params)
    np.testing.assert_allclose(float(total), float(expected), rtol=1e-6)
    for p, t in zip(params, twins):
        np.testing.assert_allclose(p.grad._data, t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_value_matches_torch_through_dispatched_ops():
    params = _params()
    _set_grads(params, 0)
    twins = _torch_twins(params)
    with _Watch([p.grad for p in params]) as watch:
        nn.utils.clip_grad_value_(params, 0.3)
    torch.nn.utils.clip_grad_value_(twins, 0.3)
    assert watch.names.count("clamp_") == len(params)
    for p, t in zip(params, twins):
        np.testing.assert_array_equal(p.grad._data, t.grad.numpy())


@pytest.mark.parametrize("poison", [False, True])
def test_grad_scaler_unscales_through_dispatched_ops(poison):
    params = _params()
    _set_grads(params, 0)
    if poison:
        params[1].grad._data[2] = np.inf
    expected = [p.grad._data / np.float32(8.0) for p in params]
    opt = eoptim.SGD(params, lr=0.1)
    scaler = ember.amp.GradScaler("cpu", init_scale=8.0)
    with _Watch([p.grad for p in params]) as watch:
        scaler.unscale_(opt)
    assert watch.names.count("mul_") == len(params)
    for p, e in zip(params, expected):
        np.testing.assert_array_equal(p.grad._data, e)
    before = [p._data.copy() for p in params]
    scaler.step(opt)
    assert all(np.array_equal(p._data, b) for p, b in zip(params, before)) == poison


def test_lr_scheduler_fills_a_tensor_lr_in_place():
    params = _params()
    lr = ember.tensor(0.1)
    opt = eoptim.SGD(params, lr=lr)
    sched = eoptim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    _set_grads(params, 0)
    opt.step()
    with _Watch([lr]) as watch:
        sched.step()
    assert opt.param_groups[0]["lr"] is lr and "fill_" in watch.names
    np.testing.assert_allclose(float(lr), 0.05, rtol=1e-6)


def test_fused_step_bumps_the_version_of_every_buffer_it_writes():
    """The fused ops' signatures mark the state they write (``Tensor(b!) exp_avg``); the
    dispatcher's write path bumps each of them, as torch's in-place updates do."""
    p = ember.nn.Parameter(ember.randn(3))
    opt = ember.optim.Adam([p])
    versions = []
    for _ in range(2):
        p.grad = ember.randn(3)
        opt.step()
        versions.append({k: v._version for k, v in opt.state[p].items()} | {"p": p._version})
    assert versions == [{"step": 1, "exp_avg": 1, "exp_avg_sq": 1, "p": 1},
                        {"step": 2, "exp_avg": 2, "exp_avg_sq": 2, "p": 2}]
