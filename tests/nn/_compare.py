"""Run the same function in ember and torch on the same arrays; compare values and
gradients (and, in float64, gradcheck/gradgradcheck ember's)."""

from __future__ import annotations

import numpy as np
import torch

import ember


def compare(fn, arrays, grad_args, dtype="float64", gradgrad=True, rtol=None,
            gradcheck=True):
    """``fn(lib, *tensors)`` with ``arrays`` (floats cast to ``dtype``); gradients of the
    positions in ``grad_args``. ``gradcheck=False`` where torch's gradient is not the true
    derivative by design (embedding's padding_idx, scale_grad_by_freq)."""
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    te = [ember.from_numpy(a.copy()) for a in arrays]
    tt = [torch.from_numpy(a.copy()) for a in arrays]
    for i in grad_args:
        te[i].requires_grad_()
        tt[i].requires_grad_()
    ot, oe = fn(torch, *tt), fn(ember, *te)
    tol = dict(rtol=1e-7, atol=1e-10) if dtype == "float64" else dict(rtol=2e-5, atol=1e-6)
    if rtol is not None:
        tol["rtol"] = rtol
    assert tuple(oe.shape) == tuple(ot.shape)
    assert str(oe.dtype).split(".")[-1] == str(ot.dtype).split(".")[-1]
    np.testing.assert_allclose(oe._data, ot.detach().numpy(), **tol)
    if not grad_args:
        return
    cot = np.random.default_rng(1).standard_normal(tuple(ot.shape)).astype(dtype)
    gt = torch.autograd.grad(ot, [tt[i] for i in grad_args], torch.from_numpy(cot.copy()))
    ge = ember.autograd.grad(oe, [te[i] for i in grad_args], ember.from_numpy(cot.copy()))
    for a, b in zip(ge, gt):
        np.testing.assert_allclose(a._data, b.numpy(), **tol)
    if dtype != "float64" or not gradcheck:
        return

    def f(*leaves):
        args = list(te)
        for i, leaf in zip(grad_args, leaves):
            args[i] = leaf
        return fn(ember, *args)
    leaves = tuple(te[i] for i in grad_args)
    assert ember.autograd.gradcheck(f, leaves)
    if gradgrad:
        assert ember.autograd.gradgradcheck(f, leaves)
