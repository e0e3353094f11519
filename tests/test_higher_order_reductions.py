"""Higher-order gradients of the reductions, scans, softmax and matrix products: third
derivatives (``autograd.grad`` three times, the first two with ``create_graph``) against
torch in float64, ``gradgradcheck`` against finite differences, and the ops a dispatch
mode sees in a backward with and without ``create_graph``.

These ops' backward rules are ember ops (fused ones such as the softmax backward and the
reversed cumsum have backward rules of their own), so every order must work and match
torch; the routing ops of max/median/cummax (scatter, and gather as its gradient) and
the zero-safe prod/cumprod formulas are reached at the second and third order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

import ember
from tests.conformance import ops_conversion, ops_linalg, ops_reductions
from tests.dispatch_log import OpNames
from tests.op_samples import _leaves, _outputs, _to_ember


@dataclass
class Case:
    name: str
    fn: object                      # fn(lib, *tensors) -> Tensor
    args: list                      # float64 arrays (differentiated) and other values
    kwargs: dict = field(default_factory=dict)

    def wrt(self) -> list[int]:
        return [i for i, a in enumerate(self.args)
                if isinstance(a, np.ndarray) and a.dtype == np.float64]


def _x(*shape, seed=0, low=-1.0, high=1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape)


def _with_zeros(*shape, zeros=((0, 1),), seed=0) -> np.ndarray:
    a = _x(*shape, seed=seed, low=0.5, high=1.5)
    for idx in zeros:
        a[idx] = 0.0
    return a


def _method(name, *args, **kwargs):
    return lambda L, x: getattr(x, name)(*args, **kwargs)


CASES = [
    Case("sum-dims", _method("sum", (0, 2), keepdim=True), [_x(2, 3, 4)]),
    Case("mean", _method("mean", 1), [_x(3, 4)]),
    Case("logsumexp", lambda L, x: L.logsumexp(x, 1), [_x(3, 4)]),
    Case("logsumexp-dims-keepdim", lambda L, x: L.logsumexp(x, (0, 2), keepdim=True),
         [_x(2, 3, 4)]),
    Case("var", _method("var", 1), [_x(3, 4)]),
    Case("var-all-correction0", lambda L, x: L.var(x, correction=0), [_x(3, 4)]),
    Case("std", _method("std", 0, keepdim=True), [_x(3, 4)]),
    Case("std-all", _method("std"), [_x(2, 3)]),
    Case("vector_norm-2", lambda L, x: L.linalg.vector_norm(x, 2, 1), [_x(3, 4)]),
    Case("vector_norm-3", lambda L, x: L.linalg.vector_norm(x, 3, (0, 1)), [_x(3, 4)]),
    Case("vector_norm-1.5-keepdim", lambda L, x: L.linalg.vector_norm(x, 1.5, 0, True),
         [_x(3, 4)]),
    Case("vector_norm-1", lambda L, x: L.linalg.vector_norm(x, 1, 1), [_x(3, 4)]),
    Case("vector_norm-inf", lambda L, x: L.linalg.vector_norm(x, float("inf"), 1),
         [_x(3, 4)]),
    Case("norm-fro", _method("norm"), [_x(3, 4)]),
    Case("cumsum", lambda L, x: L.cumsum(x, 1), [_x(3, 4)]),
    Case("cumsum-noncontig", lambda L, x: L.cumsum(x.mT, 0), [_x(3, 4)]),
    Case("cumprod", lambda L, x: L.cumprod(x, 1), [_x(3, 4, low=0.5, high=1.5)]),
    Case("cumprod-zeros", lambda L, x: L.cumprod(x, 1), [_with_zeros(3, 4)]),
    Case("cumprod-two-zeros", lambda L, x: L.cumprod(x, 0),
         [_with_zeros(4, 2, zeros=((1, 0), (2, 0)))]),
    Case("cumprod-zeros-everywhere", lambda L, x: L.cumprod(x, 1),
         [_with_zeros(4, 5, zeros=((0, 0), (0, 4), (1, 1), (1, 2), (1, 4), (3, 2)))]),
    Case("prod-dim", _method("prod", 1), [_x(3, 4, low=0.5, high=1.5)]),
    Case("prod-all", _method("prod"), [_x(2, 3, low=0.5, high=1.5)]),
    Case("prod-zero", _method("prod", 1), [_with_zeros(3, 4)]),
    Case("prod-two-zeros", _method("prod", 1, keepdim=True),
         [_with_zeros(3, 4, zeros=((0, 1), (0, 3), (2, 2)))]),
    Case("prod-all-zero", _method("prod"), [_with_zeros(2, 3)]),
    Case("softmax", lambda L, x: L.softmax(x, 1), [_x(3, 4)]),
    Case("softmax-dim0-noncontig", lambda L, x: L.softmax(x.mT, 0), [_x(3, 4)]),
    Case("log_softmax", lambda L, x: L.log_softmax(x, -1), [_x(2, 3, 4)]),
    Case("softmin", lambda L, x: L.nn.functional.softmin(x, 1), [_x(3, 4)]),
    Case("amax", lambda L, x: L.amax(x, 1), [_x(3, 4)]),
    Case("max-dim", lambda L, x: L.max(x, 1).values, [_x(3, 4)]),
    Case("median-dim", lambda L, x: L.median(x, 0, keepdim=True).values, [_x(3, 4)]),
    Case("cummax", lambda L, x: L.cummax(x, 1).values, [_x(3, 4)]),
    Case("svdvals-tall", lambda L, x: L.linalg.svdvals(x), [_x(2, 4, 3)]),
    Case("svdvals-wide", lambda L, x: L.linalg.svdvals(x), [_x(3, 5)]),
    Case("matrix_norm-nuc", lambda L, x: L.linalg.matrix_norm(x, "nuc"), [_x(4, 4)]),
    Case("matrix_norm-2", lambda L, x: L.linalg.matrix_norm(x, 2), [_x(2, 3, 5)]),
    Case("matrix_norm--2", lambda L, x: L.linalg.matrix_norm(x, -2), [_x(4, 3)]),
    Case("matmul-2d", lambda L, a, b: a @ b, [_x(3, 4), _x(4, 2, seed=1)]),
    Case("matmul-batch-2d", lambda L, a, b: a @ b, [_x(2, 3, 4), _x(4, 2, seed=1)]),
    Case("matmul-broadcast", lambda L, a, b: a @ b, [_x(2, 1, 3, 4), _x(3, 4, 2, seed=1)]),
    Case("matmul-vec-mat", lambda L, a, b: a @ b, [_x(4), _x(2, 4, 3, seed=1)]),
    Case("matmul-mat-vec", lambda L, a, b: a @ b, [_x(2, 3, 4), _x(4, seed=1)]),
    Case("matmul-dot", lambda L, a, b: a @ b, [_x(4), _x(4, seed=1)]),
    Case("bmm", lambda L, a, b: L.bmm(a, b), [_x(2, 3, 4), _x(2, 4, 2, seed=1)]),
    Case("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2.0),
         [_x(2), _x(3, 4, seed=1), _x(4, 2, seed=2)]),
    Case("linear", lambda L, x, w, b: L.nn.functional.linear(x, w, b),
         [_x(2, 3, 4), _x(5, 4, seed=1), _x(5, seed=2)]),
    Case("linear-no-bias", lambda L, x, w: L.nn.functional.linear(x, w),
         [_x(3, 4), _x(2, 4, seed=1)]),
    Case("einsum-mm", lambda L, a, b: L.einsum("ij,jk->ik", a, b), [_x(3, 4), _x(4, 2, seed=1)]),
    Case("einsum-batch", lambda L, a, b: L.einsum("bij,bjk->bki", a, b),
         [_x(2, 3, 4), _x(2, 4, 2, seed=1)]),
    Case("einsum-diagonal", lambda L, a: L.einsum("ii->i", a), [_x(3, 3)]),
    Case("einsum-squares", lambda L, a, b: L.einsum("ij,ij->", a * a, b),
         [_x(3, 4), _x(3, 4, seed=1)]),
    Case("einsum-outer", lambda L, a, b: L.einsum("i,j->ij", a, b), [_x(3), _x(4, seed=1)]),
    Case("einsum-chain", lambda L, a, b, c: L.einsum("ij,jk,kl->il", a, b, c),
         [_x(2, 3), _x(3, 4, seed=1), _x(4, 2, seed=2)]),
    Case("einsum-ellipsis-broadcast", lambda L, a, b: L.einsum("...ij,...jk->...ik", a, b),
         [_x(2, 1, 3, 4), _x(3, 4, 2, seed=1)]),
]
IDS = [c.name for c in CASES]


def _inputs(lib, case: Case) -> list:
    wrt = set(case.wrt())
    return [lib.tensor(a.copy(), requires_grad=i in wrt) if isinstance(a, np.ndarray) else a
            for i, a in enumerate(case.args)]


def _cotangent(lib, like, seed: int):
    return lib.tensor(np.random.default_rng(seed).uniform(-1, 1, tuple(like.shape)))


def _orders(lib, case: Case) -> list[list[np.ndarray]]:
    """First, second and third derivatives w.r.t. the float64 inputs, each contracted with
    fixed random cotangents: grad of <c0, f>, then of <c1, that>, then of <c2, that>."""
    args = _inputs(lib, case)
    wrt = [args[i] for i in case.wrt()]
    out = case.fn(lib, *args)
    total = (out * _cotangent(lib, out, 10)).sum()
    orders = []
    for k in range(3):
        if not total.requires_grad:  # the previous order is constant: this one is zero
            grads = [None] * len(wrt)
        else:
            grads = lib.autograd.grad(total, wrt, create_graph=k < 2, allow_unused=True)
        orders.append([np.zeros(tuple(t.shape)) if g is None else  # (clone: torch's
                       g.detach().clone().numpy() for g, t in zip(grads, wrt)])  # ZeroTensors)
        live = [g for g in grads if g is not None]
        total = sum((g * _cotangent(lib, g, 11 + k + i)).sum()
                            for i, g in enumerate(live)) if live else lib.zeros(())
    return orders



@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_derivatives_to_third_order_match_torch(case):
    try:
        expected = _orders(torch, case)
    except RuntimeError as e:  # torch does not differentiate this op to third order
        pytest.skip(f"torch: {e}")
    got = _orders(ember, case)
    for k, (g_k, e_k) in enumerate(zip(got, expected)):
        for i, (g, e) in enumerate(zip(g_k, e_k)):
            np.testing.assert_allclose(g, e, rtol=1e-7, atol=1e-9,
                                       err_msg=f"{case.name}: order {k + 1}, input {i}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradgradcheck(case):
    args = _inputs(ember, case)
    wrt = case.wrt()

    def fn(*ts):
        full = list(args)
        for i, t in zip(wrt, ts):
            full[i] = t
        return case.fn(ember, *full)

    assert ember.autograd.gradgradcheck(fn, [args[i] for i in wrt], atol=1e-5, rtol=1e-3)




@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_ops_same_with_create_graph(case):
    """A dispatch mode sees the same ops in a backward with or without ``create_graph``:
    the rules compute with ember ops in both (no NumPy shortcut when nothing records)."""
    seen = []
    for create_graph in (False, True):
        args = _inputs(ember, case)
        out = case.fn(ember, *args)
        total = (out * _cotangent(ember, out, 10)).sum()
        with OpNames() as mode:
            ember.autograd.grad(total, [args[i] for i in case.wrt()], create_graph=create_graph)
        seen.append(mode.names)
    assert seen[0] == seen[1]
    assert seen[0], "the backward dispatched no op"


_ENTRIES = [e for m in (ops_reductions, ops_linalg, ops_conversion) for e in m.OPS if e.grad]


@pytest.mark.parametrize("entry", _ENTRIES, ids=str)
def test_conformance_backwards_same_ops_with_create_graph(entry):
    """The same on every float64 sample of the conformance entries of these modules."""
    for i, sample in enumerate(entry.samples("float64", np.random.default_rng(0))):
        seen = []
        for create_graph in (False, True):
            args = [_to_ember(a, j not in entry.skip_grad_args) for j, a in enumerate(sample.args)]
            try:
                outs = _outputs(entry.fn(ember, *args, **sample.kwargs))
            except Exception:  # noqa: BLE001 (error-parity samples)
                break
            if not outs:
                break
            with OpNames() as mode:
                ember.autograd.grad(outs, _leaves(args), [ember.ones_like(o) for o in outs],
                                    allow_unused=True, create_graph=create_graph)
            seen.append(mode.names)
        if seen:
            assert seen[0] == seen[1], f"{entry.name} sample {i}"
