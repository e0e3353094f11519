"""Gradients of order 1 to 3 of the activations (and so of their fused backward ops, which
their backward dispatches and whose own backward gives the orders above) against torch in
float64, a finite-difference check of the third derivative, and the op sequence a dispatch
mode sees in a backward with and without ``create_graph``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.ops.elementwise as _ew
from tests.dispatch_log import OpNames


def F(L):
    return L.nn.functional


# name, function, input range (kinks of the piecewise ones are not hit by random inputs)
CASES = [
    ("gelu", lambda L, x: F(L).gelu(x), (-3.0, 3.0)),
    ("gelu_tanh", lambda L, x: F(L).gelu(x, approximate="tanh"), (-3.0, 3.0)),
    ("silu", lambda L, x: F(L).silu(x), (-4.0, 4.0)),
    ("mish", lambda L, x: F(L).mish(x), (-4.0, 4.0)),
    ("softplus", lambda L, x: F(L).softplus(x), (-3.0, 3.0)),
    ("softplus_threshold", lambda L, x: F(L).softplus(x, beta=2.0, threshold=1.0), (-2.0, 2.0)),
    ("elu", lambda L, x: F(L).elu(x, alpha=1.5), (-2.0, 2.0)),
    ("selu", lambda L, x: F(L).selu(x), (-2.0, 2.0)),
    ("celu", lambda L, x: F(L).celu(x, alpha=0.7), (-2.0, 2.0)),
    ("leaky_relu", lambda L, x: F(L).leaky_relu(x, 0.2), (-2.0, 2.0)),
    ("hardtanh", lambda L, x: F(L).hardtanh(x, -0.5, 1.0), (-2.0, 2.0)),
    ("relu", lambda L, x: L.relu(x), (-2.0, 2.0)),
    ("threshold", lambda L, x: F(L).threshold(x, 0.3, -1.0), (-2.0, 2.0)),
    ("logsigmoid", lambda L, x: F(L).logsigmoid(x), (-4.0, 4.0)),
    ("sigmoid", lambda L, x: L.sigmoid(x), (-4.0, 4.0)),
    ("tanh", lambda L, x: L.tanh(x), (-2.0, 2.0)),
    ("logit", lambda L, x: L.logit(x), (0.05, 0.95)),
    ("logit_eps", lambda L, x: L.logit(x, eps=0.2), (0.05, 0.95)),
    ("hardswish", lambda L, x: F(L).hardswish(x), (-4.0, 4.0)),
    ("hardsigmoid", lambda L, x: F(L).hardsigmoid(x), (-4.0, 4.0)),
    # (ember.nn.functional.softshrink is a composite; the op's function is in ops.elementwise)
    ("softshrink", lambda L, x: (F(L) if L is torch else _ew).softshrink(x, 0.7), (-2.0, 2.0)),
    ("hardshrink", lambda L, x: L.hardshrink(x, 0.7), (-2.0, 2.0)),
]
IDS = [c[0] for c in CASES]

# the op a backward of each activation dispatches, and nothing else
FUSED = {"gelu": "gelu_backward", "gelu_tanh": "gelu_backward", "silu": "silu_backward",
         "mish": "mish_backward", "softplus": "softplus_backward",
         "softplus_threshold": "softplus_backward", "elu": "elu_backward",
         "selu": "elu_backward", "celu": "elu_backward",
         "leaky_relu": "leaky_relu_backward", "hardtanh": "hardtanh_backward",
         "relu": "threshold_backward", "threshold": "threshold_backward",
         "logsigmoid": "log_sigmoid_backward", "sigmoid": "sigmoid_backward",
         "tanh": "tanh_backward", "logit": "logit_backward", "logit_eps": "logit_backward",
         "hardswish": "hardswish_backward", "hardsigmoid": "hardsigmoid_backward",
         "softshrink": "softshrink_backward", "hardshrink": "hardshrink_backward"}


def _arrays(lo: float, hi: float):
    rng = np.random.default_rng(0)
    x = rng.uniform(lo, hi, size=(3, 4))
    v, w, u = (rng.uniform(-1.0, 1.0, size=(3, 4)) for _ in range(3))
    return x, v, w, u


def _derivatives(L, f, x, v, w, u) -> list:
    """Gradients of order 1, 2 and 3 of ``f`` at ``x``, each with respect to ``x`` and to the
    previous order's cotangent (so that the fused backward op is differentiated with respect
    to both of its tensor arguments): ``[[d1x], [d2x, d2v], [d3x, d3v] or None]``; the last
    is None when the second-order gradients do not require grad (piecewise-linear ``f``)."""
    x = L.tensor(x, requires_grad=True)
    v = L.tensor(v, requires_grad=True)
    (d1,) = L.autograd.grad(f(L, x), x, v, create_graph=True)
    d2 = L.autograd.grad((d1 * L.tensor(w)).sum(), (x, v), create_graph=True,
                         allow_unused=True)
    d2 = [L.zeros_like(x) if d is None else d for d in d2]
    if not any(d.requires_grad for d in d2):
        return [[d1], d2, None]
    s = sum((d * L.tensor(u)).sum() for d in d2 if d.requires_grad)
    d3 = L.autograd.grad(s, (x, v), allow_unused=True)
    return [[d1], d2, [L.zeros_like(x) if d is None else d for d in d3]]


@pytest.mark.parametrize("name,f,bounds", CASES, ids=IDS)
def test_third_order_matches_torch(name, f, bounds):
    arrays = _arrays(*bounds)
    got = _derivatives(ember, f, *arrays)
    try:
        want = _derivatives(torch, f, *arrays)
    except RuntimeError as e:
        if "not implemented" not in str(e):
            raise
        pytest.skip(f"torch has no second derivative of {name}: {e} (ember's are checked "
                    "against finite differences below)")
    for order in range(3):
        if want[order] is None:
            assert got[order] is None or all(not np.any(g.numpy()) for g in got[order])
            pytest.skip(f"torch: the second derivative of {name} is a constant zero that does "
                        "not require grad, so there is no third-order gradient to compare")
        for g, t in zip(got[order], want[order]):
            # (rtol: torch rounds celu's 1 / alpha to float32)
            np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=1e-6,
                                       atol=1e-9, err_msg=f"order {order + 1}")


@pytest.mark.parametrize("name,f,bounds", CASES, ids=IDS)
def test_third_order_finite_differences(name, f, bounds):
    """gradgradcheck of the first derivative: the second and third derivatives against
    finite differences."""
    x = ember.tensor(_arrays(*bounds)[0], requires_grad=True)

    def first(x):
        return ember.autograd.grad(f(ember, x).sum(), x, create_graph=True)[0]

    assert ember.autograd.gradgradcheck(lambda x: f(ember, x), (x,))
    if not first(x).requires_grad:
        pytest.skip(f"the derivative of {name} is piecewise constant")
    assert ember.autograd.gradgradcheck(first, (x,))




@pytest.mark.parametrize("name,f,bounds", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_backward_is_one_fused_op(name, f, bounds, dtype):
    """The backward of an activation dispatches exactly its fused backward op, with or
    without ``create_graph``."""
    seen = []
    for create_graph in (False, True):
        x = ember.tensor(_arrays(*bounds)[0], dtype=dtype, requires_grad=True)
        y = f(ember, x)
        cotangent = ember.ones_like(y)
        with OpNames() as mode:
            ember.autograd.grad(y, x, cotangent, create_graph=create_graph)
        seen.append(mode.names)
    assert seen[0] == seen[1] == [FUSED[name]]


# other differentiable elementwise functions of two positive tensors
OTHERS = {
    "pow": lambda L, a, b: L.pow(a, b), "pow_scalar": lambda L, a, b: a ** 3 + 2.0 ** b,
    "div": lambda L, a, b: a / b, "atan2": lambda L, a, b: L.atan2(a, b),
    "hypot": lambda L, a, b: L.hypot(a, b), "logaddexp": lambda L, a, b: L.logaddexp(a, b),
    "xlogy": lambda L, a, b: L.xlogy(a, b), "maximum": lambda L, a, b: L.maximum(a, b),
    "fmod": lambda L, a, b: L.fmod(a, b), "clamp": lambda L, a, b: L.clamp(a, max=b),
    "lerp": lambda L, a, b: L.lerp(a, b, a / 4), "addcdiv": lambda L, a, b: L.addcdiv(a, a, b),
    "math": lambda L, a, b: L.sqrt(a) * L.erf(b) + L.abs(L.sin(a)) * L.log1p(b),
}


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_backward_ops_do_not_depend_on_create_graph(name):
    """A dispatch mode sees the same ops in a backward with and without ``create_graph``,
    and the gradients agree with torch (float64)."""
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(0.5, 2.0, (3, 4)) for _ in range(2)]
    seen = []
    for create_graph in (False, True):
        a, b = (ember.tensor(x, requires_grad=True) for x in arrays)
        y = OTHERS[name](ember, a, b)
        cotangent = ember.ones_like(y)
        with OpNames() as mode:
            grads = ember.autograd.grad(y, (a, b), cotangent, create_graph=create_graph)
        seen.append(mode.names)
    assert seen[0] == seen[1]
    a, b = (torch.tensor(x, requires_grad=True) for x in arrays)
    want = torch.autograd.grad(OTHERS[name](torch, a, b).sum(), (a, b))
    for g, t in zip(grads, want):
        np.testing.assert_allclose(g.detach().numpy(), t.numpy(), rtol=1e-12, atol=1e-14)
