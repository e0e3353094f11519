"""``out=`` of the public functions against torch, one representative op per family: the
values written and ``out`` returned (its version bumped), the dtype errors torch raises
before or instead of writing, the resize warning for an ``out`` of another shape, and the
autograd error when an argument requires grad. Every one goes through ``dispatch_out``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
F32, F64, I64, I32 = "float32", "float64", "int64", "int32"


def _x(L, requires_grad: bool = False):
    return L.tensor(X, dtype=L.float32, requires_grad=requires_grad)


# name: (call(L, x, out), out's (shape, dtype) -- a tuple of them for several results --,
#        an out dtype torch refuses, whether an input requiring grad makes torch refuse)
CASES = {
    "add": (lambda L, x, out: L.add(x, 2.0, alpha=3, out=out), ((3, 4), F32), I64, True),
    "mul": (lambda L, x, out: L.mul(x, x, out=out), ((3, 4), F32), I32, True),
    "div": (lambda L, x, out: L.div(x, 3, out=out), ((3, 4), F32), I64, True),
    "pow": (lambda L, x, out: L.pow(x, 2, out=out), ((3, 4), F32), I32, True),
    "clamp": (lambda L, x, out: L.clamp(x, -0.5, 0.5, out=out), ((3, 4), F32), I64, True),
    "where": (lambda L, x, out: L.where(x > 0, x, L.zeros(4), out=out), ((3, 4), F32), I64,
              True),
    "exp": (lambda L, x, out: L.exp(x, out=out), ((3, 4), F32), I64, True),
    "sum_dim": (lambda L, x, out: L.sum(x, 1, out=out), ((3,), F64), None, True),
    "sum_dtype": (lambda L, x, out: L.sum(x, 1, dtype=L.float64, out=out), ((3,), F64), F32,
                  True),
    "mean": (lambda L, x, out: L.mean(x, 0, out=out), ((4,), F32), I64, True),
    "amax": (lambda L, x, out: L.amax(x, 1, out=out), ((3,), F32), F64, True),
    "logsumexp": (lambda L, x, out: L.logsumexp(x, 1, out=out), ((3,), F64), I64, True),
    "cumsum": (lambda L, x, out: L.cumsum(x, 0, dtype=L.float64, out=out), ((3, 4), F64), F32,
               True),
    "sort": (lambda L, x, out: L.sort(x, 1, out=out), (((3, 4), F32), ((3, 4), I64)),
             (F32, I32), True),
    "cat": (lambda L, x, out: L.cat([x, x], 0, out=out), ((6, 4), F32), I64, True),
    "stack": (lambda L, x, out: L.stack([x, x], 1, out=out), ((3, 2, 4), F32), I64, True),
    "index_select": (lambda L, x, out: L.index_select(x, 1, L.tensor([3, 0, 3]), out=out),
                     ((3, 3), F32), F64, True),
    "nonzero": (lambda L, x, out: L.nonzero(x > 0, out=out), ((int((X > 0).sum()), 2), I64),
                I32, False),
    "tril": (lambda L, x, out: L.tril(x, 1, out=out), ((3, 4), F32), F64, True),
    "matmul": (lambda L, x, out: L.matmul(x, x.T, out=out), ((3, 3), F32), F64, True),
    "mm": (lambda L, x, out: L.mm(x.T, x, out=out), ((4, 4), F32), F64, True),
    "bmm": (lambda L, x, out: L.bmm(x.reshape(2, 3, 2), x.reshape(2, 2, 3), out=out),
            ((2, 3, 3), F32), F64, True),
    "addmm": (lambda L, x, out: L.addmm(L.ones(3, 3), x, x.T, beta=2, alpha=0.5, out=out),
              ((3, 3), F32), F64, True),
    "zeros": (lambda L, x, out: L.zeros(3, 4, dtype=L.float32, out=out), ((3, 4), F32), F64,
              False),
    "arange": (lambda L, x, out: L.arange(1.0, 4.0, 0.5, dtype=L.float32, out=out),
               ((6,), F32), F64, False),
    "searchsorted": (lambda L, x, out: L.searchsorted(L.tensor([-1.0, 0.0, 0.5]), x, out=out),
                     ((3, 4), I64), I32, False),
    "vector_norm": (lambda L, x, out: L.linalg.vector_norm(x, 3, 1, out=out), ((3,), F32), F64,
                    True),
}
RANDOM = {"randn": (lambda L, out: L.randn(3, 4, dtype=L.float32, out=out), ((3, 4), F32))}


def _several(spec) -> bool:
    """Whether ``spec`` describes several outs: a tuple of (shape, dtype) pairs."""
    return not isinstance(spec[1], str)


def _make_out(L, spec, requires_grad: bool = False):
    """An ``out`` (or tuple of them) of ``spec``: (shape, dtype), or a tuple of those."""
    if _several(spec):
        return tuple(_make_out(L, s) for s in spec)
    return L.zeros(spec[0], dtype=getattr(L, spec[1]), requires_grad=requires_grad)


def _run(L, fn, x, out):
    """``fn``'s result, or its exception as (type name, message), and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(L, x, out)
        except (RuntimeError, TypeError) as e:
            result = (type(e).__name__, str(e))
    return result, [str(w.message) for w in caught]


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", CASES)
def test_out_gets_torchs_values_and_is_returned_with_its_version_bumped(name):
    fn, spec, _, _ = CASES[name]
    got = {}
    for L in (ember, torch):
        out = _make_out(L, spec)
        result, caught = _run(L, fn, _x(L), out)
        assert caught == []
        assert all(r is o for r, o in zip(_as_tuple(result), _as_tuple(out)))
        got[L] = [(t.numpy(), str(t.dtype).split(".")[-1], t._version) for t in _as_tuple(out)]
    for (ours, ours_dt, ours_v), (theirs, theirs_dt, theirs_v) in zip(got[ember], got[torch]):
        assert (ours_dt, ours_v) == (theirs_dt, theirs_v) and ours_v >= 1
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in CASES if CASES[n][2] is not None])
def test_an_out_dtype_torch_refuses_raises_torchs_error(name):
    fn, spec, bad, _ = CASES[name]
    if _several(spec):
        spec = tuple((s[0], b) for s, b in zip(spec, bad))
    else:
        spec = (spec[0], bad)
    outcomes = {L: _run(L, fn, _x(L), _make_out(L, spec)) for L in (ember, torch)}
    theirs = outcomes[torch][0]
    assert isinstance(theirs, tuple) and isinstance(theirs[0], str)  # torch refused
    assert outcomes[ember][0] == theirs


FACTORIES = ("zeros", "arange")


@pytest.mark.parametrize("name", CASES)
def test_an_out_of_another_shape_is_resized_with_torchs_warning(name):
    """Ops of tensors warn that a non-empty ``out`` was resized; factories resize silently
    (arange says so in its own words)."""
    fn, spec, _, _ = CASES[name]
    wrong = tuple(((7,), s[1]) for s in spec) if _several(spec) else ((7,), spec[1])
    shapes, caught = {}, {}
    for L in (ember, torch):
        out = _make_out(L, wrong)
        result, messages = _run(L, fn, _x(L), out)
        assert all(r is o for r, o in zip(_as_tuple(result), _as_tuple(out)))
        shapes[L] = [tuple(t.shape) for t in _as_tuple(out)]
        caught[L] = [m.split(" (Triggered internally")[0] for m in messages]
    assert shapes[ember] == shapes[torch]
    assert caught[ember] == caught[torch]
    first = {"zeros": [], "arange": ["The number of elements in the out tensor"]}.get(
        name, ["An output with one or more elements was resized"] * (2 if _several(spec) else 1))
    assert [m[:len(f)] for m, f in zip(caught[torch], first)] == first
    assert len(caught[torch]) == len(first)


@pytest.mark.parametrize("name", CASES)
def test_an_argument_requiring_grad_raises_torchs_autograd_error(name):
    fn, spec, _, input_refused = CASES[name]
    factory = name in FACTORIES
    outcomes = {}
    for L in (ember, torch):
        out = _make_out(L, spec, requires_grad=factory)
        outcomes[L] = _run(L, fn, _x(L, requires_grad=not factory), out)[0]
    if input_refused or factory:
        assert outcomes[ember] == outcomes[torch]
        assert "don't support automatic differentiation" in outcomes[ember][1]
    else:  # torch's non-differentiable ops take an input that requires grad
        assert not isinstance(outcomes[torch][0], str)
        assert not isinstance(outcomes[ember][0], str)


@pytest.mark.parametrize("name", RANDOM)
def test_a_random_op_fills_out_with_its_shape_and_dtype(name):
    fn, spec = RANDOM[name]
    for L in (ember, torch):
        out = L.empty(0, dtype=getattr(L, spec[1]))
        assert fn(L, out) is out
        assert (tuple(out.shape), str(out.dtype).split(".")[-1]) == spec
        assert out._version >= 1 and np.isfinite(out.numpy()).all()
    with pytest.raises(RuntimeError, match="dtype Float does not match dtype of out parameter "
                                           r"\(Double\)"):
        fn(ember, ember.empty(0, dtype=ember.float64))
