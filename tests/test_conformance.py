"""The conformance table, checked against torch: values, dtypes, shapes, gradients,
``gradcheck`` in float64 and ``gradgradcheck`` where the op supports double backward.

Entries live in ``tests/conformance/ops_*.py`` (one ``OPS`` list per module).
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest
import torch

import ember
from tests.conformance import harness
from tests.conformance.harness import TensorList

torch.set_num_threads(1)


def _collect():
    ops = []
    pkg = importlib.import_module("tests.conformance")
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("ops_"):
            ops.extend(importlib.import_module(f"tests.conformance.{info.name}").OPS)
    return ops


OPS = _collect()


def _is_float(arr) -> bool:
    return arr.dtype.kind in "fc" or arr.dtype.name == "bfloat16"


def _convert(lib, arg, requires_grad: bool):
    if isinstance(arg, TensorList):
        return [_convert(lib, a, requires_grad) for a in arg.arrays]
    if not isinstance(arg, np.ndarray):
        return arg
    rg = requires_grad and _is_float(arg)
    if lib is torch:
        if arg.dtype.name == "bfloat16":
            t = torch.from_numpy(arg.astype(np.float32)).to(torch.bfloat16)
        else:
            t = torch.from_numpy(arg.copy(order="K"))
    else:
        t = ember.from_numpy(arg.copy(order="K"))
    return t.requires_grad_(rg) if rg else t


def _leaves(args):
    out = []
    for a in args:
        if isinstance(a, list):
            out.extend(t for t in a if t.requires_grad)
        elif hasattr(a, "requires_grad") and a.requires_grad:
            out.append(a)
    return out


def _to_numpy(x):
    if isinstance(x, torch.Tensor):
        x = x.detach()
        return x.float().numpy() if x.dtype == torch.bfloat16 else x.numpy()
    if isinstance(x, ember.Tensor):
        arr = x._data
        return arr.astype(np.float32) if arr.dtype.name == "bfloat16" else arr
    return x


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _dtype_name(x) -> str:
    return str(x.dtype).split(".")[-1]


def _cases(kind: str):
    for op in OPS:
        if kind != "values" and not op.grad:
            continue
        if (kind == "gradgrad" and not op.gradgrad) or (kind == "gradcheck" and not op.gradcheck):
            continue
        dtypes = op.dtypes if kind == "values" else \
            (("float64", "float32") if kind == "grad" else ("float64",))
        for dt in dtypes:
            if kind != "values" and dt not in op.dtypes and dt != "float64":
                continue
            n = len(op.samples(dt, np.random.default_rng(0)))
            for i in range(n):
                yield pytest.param(op, dt, i, id=f"{op.name}-{dt}-{i}")


def _sample(op, dt, i):
    return op.samples(dt, np.random.default_rng(i))[i]


def _skip_if_torch_rejects(op, s):
    """Samples torch rejects are error-parity cases, checked by test_values only."""
    try:
        op.fn(torch, *[_convert(torch, a, False) for a in s.args], **s.kwargs)
    except Exception:
        pytest.skip("torch rejects this sample (error parity is checked in test_values)")


@pytest.mark.parametrize("op,dt,i", list(_cases("values")))
def test_values(op, dt, i):
    s = _sample(op, dt, i)
    t_args = [_convert(torch, a, False) for a in s.args]
    e_args = [_convert(ember, a, False) for a in s.args]
    try:
        expected = op.fn(torch, *t_args, **s.kwargs)
    except Exception as exc:  # torch rejects it: ember must too, with the same type
        with pytest.raises(type(exc)):
            op.fn(ember, *e_args, **s.kwargs)
        return
    actual = op.fn(ember, *e_args, **s.kwargs)
    exp_flat, act_flat = _flat(expected), _flat(actual)
    assert len(exp_flat) == len(act_flat)
    atol, rtol = harness.tolerance(dt, op)
    for e, a in zip(exp_flat, act_flat):
        if isinstance(e, torch.Tensor):
            assert isinstance(a, ember.Tensor), f"expected a Tensor, got {type(a)}"
            assert tuple(a.shape) == tuple(e.shape), f"shape {tuple(a.shape)} != {tuple(e.shape)}"
            assert _dtype_name(a) == _dtype_name(e), f"dtype {a.dtype} != {e.dtype}"
            if not op.nondeterministic_values:
                arr = _to_numpy(a)
                if _is_float(arr):  # compared in double precision (complex stays complex)
                    arr = arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64)
                np.testing.assert_allclose(arr, _to_numpy(e), atol=atol, rtol=rtol,
                                           equal_nan=True)
        else:
            assert a == e or (isinstance(e, float) and np.isclose(a, e, atol=atol, rtol=rtol))


@pytest.mark.parametrize("op,dt,i", list(_cases("grad")))
def test_grads(op, dt, i):
    s = _sample(op, dt, i)
    _skip_if_torch_rejects(op, s)
    rng = np.random.default_rng(100 + i)
    t_args = [_convert(torch, a, j not in op.skip_grad_args) for j, a in enumerate(s.args)]
    e_args = [_convert(ember, a, j not in op.skip_grad_args) for j, a in enumerate(s.args)]
    t_leaves, e_leaves = _leaves(t_args), _leaves(e_args)
    if not t_leaves:
        pytest.skip("no differentiable inputs in this sample")
    t_out = [o for o in _flat(op.fn(torch, *t_args, **s.kwargs))
             if isinstance(o, torch.Tensor) and o.requires_grad]
    e_out = [o for o in _flat(op.fn(ember, *e_args, **s.kwargs))
             if isinstance(o, ember.Tensor) and o.requires_grad]
    assert len(t_out) == len(e_out), "different number of differentiable outputs"
    cots = [rng.standard_normal(tuple(o.shape)).astype(_to_numpy(o).dtype) for o in t_out]
    t_grads = torch.autograd.grad(t_out, t_leaves, [torch.from_numpy(c) for c in cots],
                                  allow_unused=True)
    e_grads = ember.autograd.grad(e_out, e_leaves, [ember.from_numpy(c.copy()) for c in cots],
                                  allow_unused=True)
    tol = (op.grad_atol, op.grad_rtol) if dt == "float64" else (1e-4, 1e-3)
    for k, (tg, eg) in enumerate(zip(t_grads, e_grads)):
        if tg is None:
            assert eg is None or not np.any(_to_numpy(eg)), f"grad {k}: torch None"
            continue
        assert eg is not None, f"grad {k}: ember returned None, torch a gradient"
        assert tuple(eg.shape) == tuple(tg.shape)
        assert _dtype_name(eg) == _dtype_name(tg)
        np.testing.assert_allclose(_to_numpy(eg), _to_numpy(tg), atol=tol[0], rtol=tol[1])


def _ember_fn(op, s):
    """The op as a function of the differentiable tensors only (for gradcheck)."""
    _skip_if_torch_rejects(op, s)
    args = [_convert(ember, a, j not in op.skip_grad_args) for j, a in enumerate(s.args)]
    leaves = _leaves(args)

    def fn(*leaf_values):
        it = iter(leaf_values)
        call = []
        for a in args:
            if isinstance(a, list):
                call.append([next(it) if t.requires_grad else t for t in a])
            elif isinstance(a, ember.Tensor) and a.requires_grad:
                call.append(next(it))
            else:
                call.append(a)
        return op.fn(ember, *call, **s.kwargs)
    return fn, leaves


@pytest.mark.parametrize("op,dt,i", list(_cases("gradcheck")))
def test_gradcheck(op, dt, i):
    fn, leaves = _ember_fn(op, _sample(op, dt, i))
    if not leaves:
        pytest.skip("no differentiable inputs in this sample")
    assert ember.autograd.gradcheck(fn, tuple(leaves), atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("op,dt,i", list(_cases("gradgrad")))
def test_gradgradcheck(op, dt, i):
    fn, leaves = _ember_fn(op, _sample(op, dt, i))
    if not leaves:
        pytest.skip("no differentiable inputs in this sample")
    assert ember.autograd.gradgradcheck(fn, tuple(leaves), atol=1e-5, rtol=1e-3)
