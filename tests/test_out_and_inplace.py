"""The one write path, against torch: ``out=`` (``dispatch_out``: resize and its warning,
the cast rule, no autograd, overlap, tuples of outputs, the version bump) and in-place ops
on views of tensors with a graph (torch's CopySlices)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
from ember._dispatch import OPS, DispatchMode, dispatch_out

RNG = np.random.default_rng(0)
A = RNG.standard_normal((2, 3))
B = RNG.standard_normal((2, 3))


def _outcome(fn):
    """``fn()``'s result (or error) and the warnings it gave, comparable across libraries."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except (RuntimeError, TypeError) as e:
            result = (type(e).__name__, str(e))
    messages = [str(w.message).split(" (Triggered internally")[0] for w in caught]
    return result, messages


def _add(lib, a, b, out):
    """``add`` with ``out=``: torch's own, ember's through ``dispatch_out``."""
    if lib is torch:
        return torch.add(a, b, out=out)
    return dispatch_out(OPS["add"], out, a, b)


def _same_out(ours, theirs, e_out, t_out):
    (e_res, e_warn), (t_res, t_warn) = ours, theirs
    assert e_warn == t_warn
    if isinstance(t_res, tuple):
        assert e_res == t_res
        return
    assert e_res is e_out and t_res is t_out
    assert tuple(e_out.shape) == tuple(t_out.shape)
    assert str(e_out.dtype) == str(t_out.dtype).replace("torch.", "ember.")
    assert e_out._version == t_out._version
    np.testing.assert_array_equal(e_out.numpy(), t_out.numpy())


@pytest.mark.parametrize("shape", [(2, 3), (0,), (5,), (3, 2)])
def test_out_of_another_shape_is_resized_with_torchs_warning(shape):
    outs = {lib: lib.zeros(shape, dtype=lib.float64) for lib in (ember, torch)}
    results = {lib: _outcome(lambda lib=lib: _add(lib, lib.tensor(A), lib.tensor(B), outs[lib]))
               for lib in outs}
    _same_out(results[ember], results[torch], outs[ember], outs[torch])
    assert bool(results[torch][1]) == (shape not in ((2, 3), (0,)))


@pytest.mark.parametrize("src, dst", [("float64", "int64"), ("int64", "float32"),
                                      ("float32", "float64"), ("int64", "bool"),
                                      ("int64", "int32"), ("float64", "float16")])
def test_out_dtype_follows_torchs_cast_rule(src, dst):
    outs = {lib: lib.empty(2, 3, dtype=getattr(lib, dst)) for lib in (ember, torch)}
    results = {}
    for lib in outs:
        a, b = (lib.tensor(x * 3).to(getattr(lib, src)) for x in (A, B))
        results[lib] = _outcome(lambda lib=lib, a=a, b=b: _add(lib, a, b, outs[lib]))
    _same_out(results[ember], results[torch], outs[ember], outs[torch])


@pytest.mark.parametrize("which", ["input", "out"])
def test_out_refuses_autograd_unless_grad_mode_is_off(which):
    for grad in (True, False):
        outs = {}
        results = {}
        for lib in (ember, torch):
            a = lib.tensor(A, requires_grad=which == "input")
            outs[lib] = lib.zeros(2, 3, dtype=lib.float64, requires_grad=which == "out")
            with lib.set_grad_enabled(grad):
                results[lib] = _outcome(lambda lib=lib, a=a, o=outs[lib]: _add(
                    lib, a, lib.tensor(B), o))
        if grad:
            assert results[ember] == results[torch]
            assert "don't support automatic differentiation" in results[ember][0][1]
        else:
            assert results[ember][0] is outs[ember] and results[torch][0] is outs[torch]
            assert outs[ember].requires_grad == outs[torch].requires_grad
            assert outs[ember].grad_fn is None and outs[torch].grad_fn is None
            np.testing.assert_array_equal(outs[ember].detach().numpy(),
                                          outs[torch].detach().numpy())


@pytest.mark.parametrize("how", ["partial", "same", "disjoint"])
def test_out_may_be_an_input_but_not_overlap_one_partially(how):
    results, xs = {}, {}
    for lib in (ember, torch):
        x = xs[lib] = lib.arange(8, dtype=lib.float64)
        src, dst = {"partial": (x[:4], x[2:6]), "same": (x[2:6], x[2:6]),
                    "disjoint": (x[:4], x[4:])}[how]
        results[lib] = _outcome(lambda lib=lib, src=src, dst=dst: _add(lib, src, 1, dst))
    if how == "partial":
        assert results[ember] == results[torch]
        assert "refer to a single memory location" in results[ember][0][1]
    else:
        assert results[ember][1] == results[torch][1] == []
        np.testing.assert_array_equal(xs[ember].numpy(), xs[torch].numpy())
        assert xs[ember]._version == xs[torch]._version == 1


def test_out_tuple_for_an_op_with_several_results():
    data = RNG.standard_normal((3, 4))
    got = {}
    for lib in (ember, torch):
        values, indices = lib.empty(0, dtype=lib.float64), lib.empty(0, dtype=lib.int64)
        if lib is torch:
            result = torch.sort(torch.tensor(data), out=(values, indices))
        else:
            result = dispatch_out(OPS["sort"], (values, indices), ember.tensor(data))
        assert result[0] is values and result[1] is indices
        got[lib] = (values.numpy(), indices.numpy(), values._version, indices._version)
    for ours, theirs in zip(got[ember], got[torch]):
        np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(TypeError, match="argument 'out' must be Tensor, not list"):
        dispatch_out(OPS["add"], [ember.empty(3)], ember.ones(3), 1)


def test_a_tensor_written_through_out_fails_the_saved_tensor_check():
    errors = {}
    for lib in (ember, torch):
        x = lib.ones(3, requires_grad=True)
        w = lib.full((3,), 2.0)
        y = (x * w).sum()  # mul saves w
        with lib.no_grad():
            _add(lib, lib.ones(3), 1, w)
        with pytest.raises(RuntimeError) as info:
            y.backward()
        errors[lib] = str(info.value).split(" Hint:")[0]
    assert errors[ember] == errors[torch]
    assert "modified by an inplace operation" in errors[ember]


@pytest.mark.parametrize("fn", [
    lambda L, out: L.matmul(L.ones(2, 3), L.full((3, 2), 2.0), out=out),
    lambda L, out: L.mm(L.ones(2, 3), L.full((3, 2), 2.0), out=out),
    lambda L, out: L.matmul(L.ones(2, 3, requires_grad=True), L.ones(3, 2), out=out),
])
@pytest.mark.parametrize("out", [lambda L: L.empty(5), lambda L: L.empty(2, 2),
                                 lambda L: L.empty(2, 2, dtype=L.float64)])
def test_matmul_out_like_torch(fn, out):
    outs = {lib: out(lib) for lib in (ember, torch)}
    results = {lib: _outcome(lambda lib=lib: fn(lib, outs[lib])) for lib in outs}
    _same_out(results[ember], results[torch], outs[ember], outs[torch])


def _view_then_inplace(lib, a, b, index, method):
    y = a * 1
    view = y[index]
    getattr(view, method)(b)
    return y, view


@pytest.mark.parametrize("index, method, b_shape", [
    (slice(1, None), "mul_", (2, 4)),
    ((slice(None), slice(1, 3)), "add_", (3, 2)),
    ((1, slice(None, None, 2)), "div_", (2,)),
])
def test_inplace_on_a_view_of_a_nonleaf_like_torch(index, method, b_shape):
    a_data, b_data = RNG.standard_normal((3, 4)), RNG.standard_normal(b_shape) + 3
    got = {}
    for lib in (ember, torch):
        a = lib.tensor(a_data, requires_grad=True)
        b = lib.tensor(b_data, requires_grad=True)
        y, view = _view_then_inplace(lib, a, b, index, method)
        names = (y.grad_fn.name(), view.grad_fn.name())
        versions = (y._version, view._version)
        (y * lib.arange(12.0, dtype=lib.float64).reshape(3, 4)).sum().backward()
        got[lib] = (names, versions, y.detach().numpy(), a.grad.numpy(), b.grad.numpy())
    assert got[ember][:2] == got[torch][:2]
    for ours, theirs in zip(got[ember][2:], got[torch][2:]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_inplace_on_a_view_of_a_leaf_that_requires_grad_raises_like_torch():
    errors = {}
    for lib in (ember, torch):
        a = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            a[1:].mul_(2)
        errors[lib] = str(info.value)
    assert errors[ember].split(".")[0] == errors[torch].split(".")[0]


def test_modes_see_an_inplace_op_on_a_view_as_functional_steps():
    class Seen(DispatchMode):
        def __init__(self):
            self.names = []

        def __ember_dispatch__(self, op, args, kwargs):
            self.names.append(op.name)
            return op.apply(*args, **kwargs)

    a = ember.ones(3, 4, requires_grad=True)
    y = a * 1
    view = y[1:]
    with Seen() as seen:
        view.mul_(2)
    assert seen.names == ["clone", "mul", "copy_slices_", "asstrided"]
    with ember.no_grad(), Seen() as seen:  # nothing to record: a plain write
        view.mul_(2)
    assert seen.names == ["mul_"]
    np.testing.assert_array_equal(y.detach().numpy()[1:], 4.0)


def test_versions_are_bumped_once_per_write_like_torch():
    got = {}
    for lib in (ember, torch):
        x = lib.zeros(4)
        view = x[1:3]
        x.add_(1)
        view.mul_(2)
        _add(lib, lib.ones(2), 1, view)
        got[lib] = (x._version, view._version, x.tolist())
    assert got[ember] == got[torch]
