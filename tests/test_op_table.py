"""The op table, checked from ``OPS`` alone: every op has a spec, samples, and a ``meta``
function that agrees with the real result on every sample.

Samples are the op-level calls recorded while the conformance entries run
(``tests/op_samples.py``), so no op is listed here by hand: a new op in ``OPS`` gets
these tests by existing, and fails them until it has a signature, a kind, a meta
function and a conformance entry that reaches it.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import ember.ops
from ember._dispatch import KINDS
from ember._meta import MetaArray
from ember._schema import parse
from ember.ops._meta import DynamicOutputShapeError
from tests.op_samples import record

OPS = ember.ops.all_ops()
NAMES = sorted(OPS)


def _forward_params(op) -> tuple[list[str], bool]:
    """Names of forward's parameters after ``ctx``, and whether it takes ``*args``."""
    params = list(inspect.signature(op.forward).parameters.values())
    if params and params[0].name == "ctx":
        params = params[1:]
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD,
                                                  p.KEYWORD_ONLY)]
    return names, any(p.kind == p.VAR_POSITIONAL for p in params)


@pytest.mark.parametrize("name", NAMES)
def test_spec(name):
    op = OPS[name]
    assert op.kind in KINDS, f"{name}: kind {op.kind!r} is not one of {KINDS}"
    assert isinstance(op.aten, str) and op.aten, f"{name}: no aten name"
    assert op.signature, f"{name}: no signature"
    schema = parse(op.signature)
    names, varargs = _forward_params(op)
    declared = [a.name for a in schema.arguments]
    if varargs:
        assert declared[:len(names)] == names[:len(declared)], \
            f"{name}: signature arguments {declared} do not match forward's {names} (+*args)"
    else:
        assert declared == names, \
            f"{name}: signature arguments {declared} do not match forward's {names}"
    assert "meta" in _own(op), f"{name}: no meta function"


def _own(op) -> set:
    """Attributes defined below ``Op`` in ``op``'s class hierarchy."""
    from ember._dispatch import Op
    attrs = set()
    for klass in op.__mro__:
        if klass is Op:
            break
        attrs.update(klass.__dict__)
    return attrs


def _as_meta(x):
    if isinstance(x, np.ndarray):
        return MetaArray.like(x)
    if type(x) is list and x and all(isinstance(a, np.ndarray) for a in x):
        return [MetaArray.like(a) for a in x]
    return x


def _same_layout(real: MetaArray, meta: MetaArray) -> bool:
    """Strides agree on every dimension that has more than one element (the stride of a
    size-1 dimension is arbitrary, in NumPy and torch alike); empty arrays have none."""
    if real.size == 0:
        return True
    return all(n == 1 or a == b for n, a, b in zip(real.shape, real.strides, meta.strides))


@pytest.mark.parametrize("name", NAMES)
def test_meta(name):
    op = OPS[name]
    calls = record().get(name, [])
    assert calls, f"{name}: no conformance sample reaches this op"
    for call in calls:
        args = tuple(_as_meta(a) for a in call.args)
        try:
            out = op.meta(*args, **call.kwargs)
        except DynamicOutputShapeError:  # the shape depends on values (nonzero, masks...)
            continue
        where = f"{name} on {call.source}"
        if call.inplace:
            target = args[0]
            got = out[0] if isinstance(out, tuple) else out
            assert tuple(got.shape) == tuple(target.shape), \
                f"{where} (in place): meta shape {got.shape} != target {target.shape}"
            continue
        outs = out if isinstance(out, tuple) else (out,)
        real = [o for o in call.outputs]
        assert len(outs) == len(real), f"{where}: meta gives {len(outs)} outputs, real {len(real)}"
        for k, (m, r) in enumerate(zip(outs, real)):
            if r is None:
                continue
            assert isinstance(m, MetaArray), f"{where}: output {k} is {type(m).__name__}"
            assert m.shape == r.shape, f"{where}: output {k} shape {m.shape} != real {r.shape}"
            assert m.dtype == r.dtype, f"{where}: output {k} dtype {m.dtype} != real {r.dtype}"
            assert _same_layout(r, m), \
                f"{where}: output {k} strides {m.strides} != real {r.strides} (shape {r.shape})"


def test_sample_counts():
    """Every op is reached by at least one sample (also failed per op by test_meta); the
    totals are what the op-table note reports."""
    samples = record()
    covered = [n for n in NAMES if samples.get(n)]
    assert len(covered) == len(NAMES), \
        f"ops without samples: {sorted(set(NAMES) - set(covered))}"


def _as_tensor(x):
    if isinstance(x, np.ndarray):
        return ember.from_numpy(x.copy())
    if type(x) is list and x and all(isinstance(a, np.ndarray) for a in x):
        return [ember.from_numpy(a.copy()) for a in x]
    return x


WITH_DECOMPOSITION = [n for n in NAMES if OPS[n].decomposition is not None]


@pytest.mark.parametrize("name", WITH_DECOMPOSITION)
def test_decomposition(name):
    """A composite op's decomposition into primitive ops computes what its fused kernel
    computes, on every recorded sample (values, dtype, shape)."""
    op = OPS[name]
    calls = [c for c in record().get(name, []) if not c.inplace]
    assert calls, f"{name}: no samples"
    for call in calls:
        args = [_as_tensor(a) for a in call.args]
        expected = op.apply(*args, **call.kwargs)
        got = op.decomposition(*args, **call.kwargs)
        exp = expected if isinstance(expected, tuple) else (expected,)
        got = got if isinstance(got, tuple) else (got,)
        for e, g in zip(exp, got, strict=True):
            assert g.shape == e.shape and g.dtype == e.dtype, \
                f"{name} on {call.source}: {g.shape}/{g.dtype} != {e.shape}/{e.dtype}"
            tol = 1e-5 if e.dtype in (ember.float32, ember.float64) else 1e-2
            np.testing.assert_allclose(g.float().numpy() if g.is_floating_point() else g.numpy(),
                                       e.float().numpy() if e.is_floating_point() else e.numpy(),
                                       rtol=tol, atol=tol, err_msg=f"{name} on {call.source}")
