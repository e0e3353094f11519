"""``.grad`` ownership: the engine may hand a leaf the very gradient backward computed
(torch's AccumulateGrad "steals" a gradient nobody else references) instead of a copy, but
never one that someone else can still see.

Each case runs on ember and torch from the same values. After backward every leaf's
``.grad`` must equal torch's, and writing into one leaf's ``.grad`` must change nothing
else: no other ``.grad``, no input, no upstream gradient, no tensor a hook kept. Where it
is observable the tests compare with torch whether the gradient was taken without a copy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.autograd.graph as graph
from ember.profiler import profile

RNG = np.random.default_rng(0)


def _pair(*shape: int) -> tuple[np.ndarray, ...]:
    return RNG.standard_normal(shape).astype(np.float32)


def _leaves(lib, arrays):
    return [lib.tensor(a.copy(), requires_grad=True) for a in arrays]


def _check_isolated(leaves, others) -> None:
    """Writing into each leaf's ``.grad`` leaves every other tensor as it was."""
    for leaf in leaves:
        rest = [t for t in others + [x.grad for x in leaves if x is not leaf] if t is not None]
        before = [t.detach().numpy().copy() for t in rest]
        with ember.no_grad():
            leaf.grad.add_(1000.0)
        for t, b in zip(rest, before):
            np.testing.assert_array_equal(t.detach().numpy(), b)
        with ember.no_grad():
            leaf.grad.sub_(1000.0)


def _run(fn, arrays, upstream=None, extra=None):
    """``fn(lib, *leaves)`` backpropagated on both libraries (from ``upstream``, else from
    the sum); returns ember's leaves and the tensors ``extra(lib)`` made (kept by the test)
    after checking the gradients against torch's."""
    results = {}
    for lib in (ember, torch):
        leaves = _leaves(lib, arrays)
        kept = [] if extra is None else extra(lib)
        out = fn(lib, *leaves, *kept)
        grad = None if upstream is None else lib.tensor(upstream.copy())
        (out if grad is not None else out.sum()).backward(grad)
        results[lib] = (leaves, kept, grad)
    for e, t in zip(results[ember][0], results[torch][0]):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)
    return results[ember]


CASES = {
    # one gradient (the same tensor) reaches two leaves
    "add two leaves": (lambda lib, a, b: a + b, [(3, 4), (3, 4)]),
    "sub two leaves": (lambda lib, a, b: a - b, [(3, 4), (3, 4)]),
    # a leaf used twice: its gradients are summed
    "leaf twice": (lambda lib, a: a * 2 + a, [(3, 4)]),
    # broadcast/expand backward: sums; a view of a leaf: the gradient is a reshape of one
    "broadcast": (lambda lib, a, b: a * b, [(1, 4), (3, 1)]),
    "expand": (lambda lib, a: a.expand(3, 4) * 2, [(1, 4)]),
    "view": (lambda lib, a, b: a.view(12) + b, [(3, 4), (12,)]),
    "reshape transpose": (lambda lib, a, b: a.t() + b, [(3, 4), (4, 3)]),
    # cat/stack/chunk backward: gradients are slices of one gradient
    "cat": (lambda lib, a, b: lib.cat([a, b]), [(2, 4), (3, 4)]),
    "stack": (lambda lib, a, b: lib.stack([a, b]), [(2, 4), (2, 4)]),
    "chunk": (lambda lib, a: lib.cat(list(a.chunk(2))[::-1]), [(4, 3)]),
    # gradients passed through unchanged (clone, contiguous, to) toward leaves
    "clone": (lambda lib, a: a.clone(), [(3, 4)]),
    "to same dtype": (lambda lib, a, b: a.to(lib.float32) + b.contiguous(), [(3, 4), (3, 4)]),
    "linear": (lambda lib, x, w, b: lib.nn.functional.linear(x, w, b), [(5, 4), (3, 4), (3,)]),
    "matmul shared": (lambda lib, a: a @ a, [(4, 4)]),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("from_user", [False, True], ids=["sum", "upstream"])
def test_grads_match_and_are_isolated(name, from_user):
    fn, shapes = CASES[name]
    arrays = [_pair(*s) for s in shapes]
    out_shape = tuple(fn(torch, *[torch.tensor(a) for a in arrays]).shape)
    upstream = _pair(*out_shape) if from_user else None
    leaves, _, grad = _run(fn, arrays, upstream)
    _check_isolated(leaves, [grad] if grad is not None else [])


def test_upstream_gradient_into_leaf_is_copied():
    """A gradient the caller passed (here reaching the leaf through add unchanged) stays
    the caller's: ``.grad`` is a copy, as torch's."""
    a = ember.randn(3, requires_grad=True)
    g = ember.ones(3)
    (a + 0).backward(g)
    assert a.grad.data_ptr() != g.data_ptr()
    _check_isolated([a], [g])


def test_a_gradient_that_is_another_tensor_is_copied():
    """An upstream gradient that is also an input of the graph, a leaf requiring grad."""
    a = ember.randn(3, requires_grad=True)
    b = ember.randn(3, requires_grad=True)
    (a * 1).backward(b)
    (a + b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.detach().numpy() + 1, rtol=1e-6)
    _check_isolated([a, b], [])


def test_hooks_that_keep_the_gradient():
    """A tensor hook on the leaf and one on an intermediate keep the gradient they saw:
    ``.grad`` must not be it."""
    x = _pair(3, 4)
    for lib in (ember, torch):
        a = lib.tensor(x.copy(), requires_grad=True)
        kept = []
        a.register_hook(kept.append)
        y = a * 3
        y.register_hook(kept.append)
        (y * y).sum().backward()
        if lib is ember:
            _check_isolated([a], kept)
        else:
            torch_grad = a.grad.numpy()
    np.testing.assert_allclose(a.grad.numpy(), torch_grad, rtol=1e-5)


def test_retain_grad_of_an_intermediate_passing_its_gradient_on():
    """``y = a + b`` with ``y.retain_grad()``: y's gradient flows to a and b unchanged."""
    a, b = _leaves(ember, [_pair(3), _pair(3)])
    y = a + b
    y.retain_grad()
    (y * 2).sum().backward()
    _check_isolated([a, b], [y.grad])
    with ember.no_grad():
        y.grad.add_(5.0)
    np.testing.assert_array_equal(a.grad.numpy(), np.full(3, 2, np.float32))


def test_accumulating_twice_does_not_write_into_a_shared_gradient():
    """A second backward adds in place into ``.grad``: that must not reach any tensor the
    first gradient came from."""
    x, up = _pair(3, 4), _pair(3, 4)
    results = []
    for lib in (ember, torch):
        a, b = _leaves(lib, [x, x[::-1].copy()])
        g = lib.tensor(up.copy())
        y = a * b
        y.backward(g, retain_graph=True)
        y.backward(g)
        (a + b).sum().backward()
        results.append((a.grad.numpy().copy(), b.grad.numpy().copy(), g.numpy().copy()))
        if lib is ember:
            _check_isolated([a, b], [g])
    for e, t in zip(*results):
        np.testing.assert_allclose(e, t, rtol=1e-5, atol=1e-6)


def test_create_graph_grad_is_recorded_and_isolated():
    """Under ``create_graph`` the first gradient is a recorded copy, as torch's."""
    grads, arrays = {}, [_pair(4), _pair(4)]
    for lib in (ember, torch):
        a, b = _leaves(lib, arrays)
        (a * a * b).sum().backward(create_graph=True)
        assert a.grad.grad_fn is not None and b.grad.grad_fn is not None
        (a.grad.sum() + b.grad.sum()).backward()
        grads[lib] = (a.grad.detach().numpy().copy(), b.grad.detach().numpy().copy())
    for e, t in zip(grads[ember], grads[torch]):
        np.testing.assert_allclose(e, t, rtol=1e-5, atol=1e-6)


def _custom(lib, keep: bool, twice: bool):
    """A custom Function whose backward makes a new gradient and records its address;
    ``keep`` stores that gradient on ctx, ``twice`` returns it for both inputs."""

    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * 2 + y

        @staticmethod
        def backward(ctx, g):
            r = g * 2
            ctx.ptr = r.data_ptr()
            if keep:
                ctx.kept = r
            return r, (r if twice else g * 1)
    return Scale


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("twice", [False, True])
def test_taken_without_copy_exactly_when_torch_does(keep, twice):
    """A gradient nothing else holds becomes ``.grad`` itself (no copy), as in torch; one
    that backward's ctx keeps, or that reaches two leaves, is copied (for one leaf)."""
    taken, arrays = {}, [_pair(5), _pair(5)]
    for lib in (ember, torch):
        x, y = _leaves(lib, arrays)
        fn = _custom(lib, keep, twice)
        out = fn.apply(x, y)
        out.backward(lib.ones(5))
        ptr = out.grad_fn.ptr
        taken[lib] = [x.grad.data_ptr() == ptr, y.grad.data_ptr() == ptr]
        assert not all(taken[lib])  # never both leaves on one memory
        np.testing.assert_allclose(x.grad.numpy(), np.full(5, 2, np.float32))
        if lib is ember:
            _check_isolated([x, y], [out.grad_fn.kept] if keep else [])
    if twice:  # which of the two leaves runs first is each engine's own choice
        taken = {lib: sorted(t) for lib, t in taken.items()}
    assert taken[ember] == taken[torch]


def test_linear_weight_gradient_taken_without_copy():
    """The case stealing is for: a big weight gradient (a fresh GEMM result) is kept as
    ``.grad``; torch's is likewise taken as the leaf's own (its address is new memory)."""
    x = ember.randn(2, 64, requires_grad=True)
    w = ember.randn(128, 64, requires_grad=True)
    seen = []
    original = graph._accumulate

    def spy(t, grad, create_graph, owned=False):
        seen.append((t is w, grad is not None and grad.data_ptr()))
        original(t, grad, create_graph, owned)
    graph._accumulate = spy
    try:
        ember.nn.functional.linear(x, w).sum().backward()
    finally:
        graph._accumulate = original
    ptr = next(p for is_w, p in seen if is_w)
    assert w.grad.data_ptr() == ptr
    _check_isolated([x, w], [])


def test_profiler_path_accumulates_isolated_grads():
    """With a profiler observing backward the engine takes the other call path."""
    a, b = _leaves(ember, [_pair(3, 4), _pair(3, 4)])
    with profile():
        (a + b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((3, 4), np.float32))
    _check_isolated([a, b], [])
