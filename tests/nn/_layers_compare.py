"""Helpers for the layer tests: run the same function in ember and torch on the same
arrays, compare every output and the gradients of inputs (and module parameters)."""

from __future__ import annotations

import numpy as np
import torch

import ember

TOL = {"float64": dict(rtol=1e-7, atol=1e-9), "float32": dict(rtol=2e-4, atol=2e-5)}


def _flat(out) -> list:
    if hasattr(out, "batch_sizes") and not isinstance(out, (torch.Tensor, ember.Tensor)):
        return [out.data]  # a PackedSequence
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [] if out is None else [out]


def _lib_args(lib, arrays, grad):
    out = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            t = lib.from_numpy(a.copy())
            out.append(t.requires_grad_() if i in grad else t)
        else:
            out.append(a)
    return out


def compare(fn, arrays, grad=None, dtype="float64", modules=None, atol=None):
    """``fn(lib, *args)`` for lib in (torch, ember); float arrays are cast to ``dtype`` and
    require grad (or only the positions in ``grad``). ``modules = (torch_module,
    ember_module)``: ember's gets torch's parameters and buffers first, and parameter
    gradients are compared too."""
    arrays = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
              for a in arrays]
    if grad is None:
        grad = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and
                a.dtype.kind == "f"]
    tol = dict(TOL[dtype])
    if atol is not None:
        tol["atol"] = atol
    params_t, params_e = [], []
    if modules is not None:
        params_t, params_e = copy_state(*modules)
    tt, te = _lib_args(torch, arrays, grad), _lib_args(ember, arrays, grad)
    ot, oe = _flat(fn(torch, *tt)), _flat(fn(ember, *te))
    assert len(ot) == len(oe)
    for a, b in zip(oe, ot):
        assert tuple(a.shape) == tuple(b.shape), (tuple(a.shape), tuple(b.shape))
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
        np.testing.assert_allclose(a._data, b.detach().numpy(), **tol)
    diff_t = [o for o in ot if o.requires_grad]
    diff_e = [o for o in oe if o.requires_grad]
    assert len(diff_t) == len(diff_e)
    leaves_t = [tt[i] for i in grad] + params_t
    leaves_e = [te[i] for i in grad] + params_e
    if not diff_t or not leaves_t:
        return oe
    rng = np.random.default_rng(7)
    cots = [rng.standard_normal(tuple(o.shape)).astype(dtype) for o in diff_t]
    gt = torch.autograd.grad(diff_t, leaves_t, [torch.from_numpy(c) for c in cots],
                             allow_unused=True)
    ge = ember.autograd.grad(diff_e, leaves_e, [ember.from_numpy(c.copy()) for c in cots],
                             allow_unused=True)
    for a, b in zip(ge, gt):
        if b is None:
            assert a is None or not np.any(a._data)
            continue
        np.testing.assert_allclose(a._data, b.numpy(), **tol)
    return oe


def copy_state(tm: torch.nn.Module, em) -> tuple[list, list]:
    """Copy torch's parameters and buffers into ember's module (same names, same shapes);
    returns the matching parameter lists."""
    tp, ep = dict(tm.named_parameters()), dict(em.named_parameters())
    assert set(tp) == set(ep), set(tp) ^ set(ep)
    tb, eb = dict(tm.named_buffers()), dict(em.named_buffers())
    assert set(tb) == set(eb), set(tb) ^ set(eb)
    for name, t in list(tp.items()) + list(tb.items()):
        e = ep.get(name, eb.get(name))
        assert tuple(e.shape) == tuple(t.shape), name
        e._data[...] = t.detach().numpy()
    names = list(tp)
    return [tp[n] for n in names], [ep[n] for n in names]


def gradchecks(fn, arrays, gradgrad: bool = True) -> None:
    """ember's gradcheck (and gradgradcheck) of ``fn(ember, *tensors)`` in float64."""
    leaves = tuple(ember.from_numpy(a.astype("float64")).requires_grad_() for a in arrays)

    def f(*xs):
        return fn(ember, *xs)
    assert ember.autograd.gradcheck(f, leaves)
    if gradgrad:
        assert ember.autograd.gradgradcheck(f, leaves)
