"""Higher-order gradients of the fused nn ops (losses, norms, conv, pooling, attention,
embedding, resampling): ``gradgradcheck`` against finite differences, and third
derivatives (``autograd.grad`` three times with ``create_graph``) against torch.

Each fused op's backward is itself a dispatched op whose backward is written with ember
ops, so every order must work; where torch itself refuses an order, the case is skipped
with torch's reason. Also checked: a dispatch mode sees the same ops in a backward with
and without ``create_graph``.

torch's fused ``native_layer_norm`` and ``native_batch_norm`` (also instance norm) give
third derivatives w.r.t. the input that disagree with finite differences of their own
second derivatives; for them the oracle is the norm written with torch's elementary ops
(``reference``), which agrees with torch's fused op to second order and with finite
differences at the third (``test_torch_fused_norm_third_order``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

import ember
from tests.dispatch_log import OpNames


def F(lib):
    return lib.nn.functional


@dataclass
class Case:
    name: str
    fn: object                 # fn(lib, *tensors) -> Tensor
    args: list                 # numpy arrays (float64 ones are differentiated) and others
    grad: tuple = ()           # indices of the differentiated args (default: all float64)
    kwargs: dict = field(default_factory=dict)
    reference: object = None   # torch's oracle when torch's own fused op is wrong

    def wrt(self) -> list[int]:
        if self.grad:
            return list(self.grad)
        return [i for i, a in enumerate(self.args)
                if isinstance(a, np.ndarray) and a.dtype == np.float64]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _x(*shape, seed=0, low=-1.0, high=1.0):
    return _rng(seed).uniform(low, high, shape)


def _targets(n, c, seed=1, shape=None):
    return _rng(seed).integers(0, c, shape or (n,))


def _probs(*shape, seed=2):
    e = np.exp(_x(*shape, seed=seed))
    return e / e.sum(1, keepdims=True)


def _norm_ref(x, axes, w=None, b=None, eps=1e-5):
    """``(x - mean) / sqrt(var + eps) * w + b`` over ``axes`` in elementary ops."""
    xc = x - x.mean(axes, keepdim=True)
    y = xc * ((xc * xc).mean(axes, keepdim=True) + eps) ** -0.5
    y = y * w if w is not None else y
    return y + b if b is not None else y


def _channels(t, ndim):
    return t.reshape((1, -1) + (1,) * (ndim - 2))


def _mha(L, x, w_in, b_in, w_out):
    """Self-attention whose loss reads the output and the (averaged) attention weights."""
    out, weights = F(L).multi_head_attention_forward(
        x, x, x, 4, 2, w_in, b_in, None, None, False, 0.0, w_out, None, need_weights=True)
    return out.sum() + (weights * weights).sum()


CASES = []
for red in ("mean", "sum", "none"):
    CASES.append(Case(f"cross_entropy-{red}", lambda L, x, t, red=red:
                      F(L).cross_entropy(x, t, reduction=red), [_x(3, 4), _targets(3, 4)]))
CASES += [
    Case("cross_entropy-weight-ignore", lambda L, x, t, w:
         F(L).cross_entropy(x, t, weight=w, ignore_index=1),
         [_x(4, 3), np.array([0, 1, 2, 2]), _x(3, seed=3, low=0.5, high=2)], grad=(0,)),
    Case("cross_entropy-smoothing", lambda L, x, t, w:
         F(L).cross_entropy(x, t, weight=w, label_smoothing=0.2),
         [_x(3, 4), _targets(3, 4), _x(4, seed=3, low=0.5, high=2)], grad=(0,)),
    Case("cross_entropy-spatial", lambda L, x, t: F(L).cross_entropy(x, t, reduction="none"),
         [_x(2, 3, 2), _targets(2, 3, shape=(2, 2))]),
    Case("cross_entropy-1d", lambda L, x, t: F(L).cross_entropy(x, t), [_x(4), np.array(2)]),
    Case("cross_entropy-probs", lambda L, x, y: F(L).cross_entropy(x, y), [_x(3, 4),
                                                                       _probs(3, 4)]),
    Case("cross_entropy-probs-smoothing", lambda L, x, y, w:
         F(L).cross_entropy(x, y, weight=w, label_smoothing=0.1, reduction="sum"),
         [_x(3, 4), _probs(3, 4), _x(4, seed=3, low=0.5, high=2)], grad=(0, 1)),
    Case("nll_loss", lambda L, x, t, w: F(L).nll_loss(x, t, weight=w, ignore_index=0),
         [_x(4, 3), np.array([0, 1, 2, 1]), _x(3, seed=3, low=0.5, high=2)], grad=(0,)),
    Case("nll_loss-none", lambda L, x, t: F(L).nll_loss(F(L).log_softmax(x, 1), t,
                                                         reduction="none"),
         [_x(3, 4), _targets(3, 4)]),
    Case("log_softmax", lambda L, x: F(L).log_softmax(x, 1), [_x(3, 4)]),
    Case("softmax", lambda L, x: F(L).softmax(x, 0), [_x(3, 4)]),
    Case("layer_norm", lambda L, x, w, b: F(L).layer_norm(x, (4,), w, b),
         [_x(2, 3, 4), _x(4, seed=1), _x(4, seed=2)],
         reference=lambda L, x, w, b: _norm_ref(x, (-1,), w, b)),
    Case("layer_norm-2d-no-affine", lambda L, x: F(L).layer_norm(x, (3, 4)), [_x(2, 3, 4)],
         reference=lambda L, x: _norm_ref(x, (-2, -1))),
    Case("layer_norm-noncontig", lambda L, x, w: F(L).layer_norm(x.mT, (3,), w),
         [_x(2, 3, 4), _x(3, seed=1)], reference=lambda L, x, w: _norm_ref(x.mT, (-1,), w)),
    Case("rms_norm", lambda L, x, w: F(L).rms_norm(x, (4,), w, eps=1e-5),
         [_x(3, 4), _x(4, seed=1)]),
    Case("group_norm", lambda L, x, w, b: F(L).group_norm(x, 2, w, b),
         [_x(2, 4, 3), _x(4, seed=1), _x(4, seed=2)]),
    Case("batch_norm-train", lambda L, x, w, b: F(L).batch_norm(x, None, None, w, b,
                                                                training=True),
         [_x(3, 2, 2), _x(2, seed=1), _x(2, seed=2)],
         reference=lambda L, x, w, b: _norm_ref(x, (0, 2), _channels(w, 3), _channels(b, 3))),
    Case("instance_norm", lambda L, x: F(L).instance_norm(x), [_x(2, 2, 4)],
         reference=lambda L, x: _norm_ref(x, (2,))),
    Case("conv1d", lambda L, x, w, b: F(L).conv1d(x, w, b, padding=1),
         [_x(2, 2, 5), _x(3, 2, 3, seed=1), _x(3, seed=2)]),
    Case("conv2d-stride-groups", lambda L, x, w: F(L).conv2d(x, w, stride=2, padding=1,
                                                              groups=2),
         [_x(1, 4, 4, 4), _x(2, 2, 3, 3, seed=1)]),
    Case("conv2d-dilation", lambda L, x, w: F(L).conv2d(x, w, dilation=2),
         [_x(1, 1, 5, 5), _x(2, 1, 2, 2, seed=1)]),
    Case("conv_transpose2d", lambda L, x, w, b: F(L).conv_transpose2d(x, w, b, stride=2),
         [_x(1, 2, 3, 3), _x(2, 1, 2, 2, seed=1), _x(1, seed=2)]),
    Case("avg_pool2d", lambda L, x: F(L).avg_pool2d(x, 2, padding=1), [_x(1, 2, 4, 4)]),
    Case("max_pool2d", lambda L, x: F(L).max_pool2d(x, 2, stride=1), [_x(1, 2, 4, 4)]),
    Case("adaptive_max_pool2d", lambda L, x: F(L).adaptive_max_pool2d(x, 2),
         [_x(1, 1, 5, 5)]),
    Case("adaptive_avg_pool2d", lambda L, x: F(L).adaptive_avg_pool2d(x, 3),
         [_x(1, 1, 5, 5)]),
    Case("embedding", lambda L, i, w: F(L).embedding(i, w),
         [np.array([[0, 2], [2, 3]]), _x(4, 3)]),
    Case("embedding-padding-freq", lambda L, i, w:
         F(L).embedding(i, w, padding_idx=1, scale_grad_by_freq=True),
         [np.array([[0, 1], [2, 2]]), _x(4, 3)]),
    Case("sdpa", lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v),
         [_x(1, 3, 2), _x(1, 4, 2, seed=1), _x(1, 4, 2, seed=2)]),
    Case("sdpa-causal", lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v,
                                                                            is_causal=True),
         [_x(2, 3, 2), _x(2, 3, 2, seed=1), _x(2, 3, 2, seed=2)]),
    Case("sdpa-float-mask", lambda L, q, k, v, m:
         F(L).scaled_dot_product_attention(q, k, v, attn_mask=m),
         [_x(1, 3, 2), _x(1, 4, 2, seed=1), _x(1, 4, 2, seed=2), _x(3, 4, seed=3)]),
    Case("multi_head_attention-weights", lambda L, x, w_in, b_in, w_out: _mha(L, x, w_in, b_in,
                                                                             w_out),
         [_x(3, 1, 4), _x(12, 4, seed=1), _x(12, seed=2), _x(4, 4, seed=3)]),
    Case("mse_loss", lambda L, x, y: F(L).mse_loss(x, y), [_x(3, 4), _x(3, 4, seed=1)]),
    Case("l1_loss", lambda L, x, y: F(L).l1_loss(x, y, reduction="sum"),
         [_x(3, 4), _x(3, 4, seed=1)]),
    Case("smooth_l1_loss", lambda L, x, y: F(L).smooth_l1_loss(x, y, beta=0.5),
         [_x(3, 4), _x(3, 4, seed=1)]),
    Case("huber_loss", lambda L, x, y: F(L).huber_loss(x, y, reduction="none", delta=0.4),
         [_x(3, 4), _x(3, 4, seed=1)]),
    Case("binary_cross_entropy", lambda L, x, y: F(L).binary_cross_entropy(x, y),
         [_x(3, 4, low=0.1, high=0.9), _x(3, 4, seed=1, low=0, high=1)]),
    Case("bce_with_logits", lambda L, x, y: F(L).binary_cross_entropy_with_logits(x, y),
         [_x(3, 4), _x(3, 4, seed=1, low=0, high=1)]),
    Case("bce_with_logits-pos_weight", lambda L, x, y, pw:
         F(L).binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction="sum"),
         [_x(3, 4), _x(3, 4, seed=1, low=0, high=1), _x(4, seed=2, low=0.5, high=2)],
         grad=(0, 1)),
    Case("soft_margin_loss", lambda L, x, y: F(L).soft_margin_loss(x, y),
         [_x(3, 4), np.sign(_x(3, 4, seed=1))], grad=(0,)),
    Case("kl_div", lambda L, x, y: F(L).kl_div(x, y, reduction="batchmean"),
         [_x(3, 4), _x(3, 4, seed=1, low=0.1, high=1)]),
    Case("kl_div-log_target", lambda L, x, y: F(L).kl_div(x, y, reduction="sum",
                                                         log_target=True),
         [_x(3, 4), _x(3, 4, seed=1)]),
    Case("poisson_nll_loss", lambda L, x, y: F(L).poisson_nll_loss(x, y),
         [_x(3, 4), _x(3, 4, seed=1, low=0, high=3)]),
    Case("poisson_nll_loss-full", lambda L, x, y: F(L).poisson_nll_loss(
        x, y, log_input=False, full=True), [_x(3, 4, low=0.5, high=2),
                                            _x(3, 4, seed=1, low=0, high=3)]),
    Case("interpolate-bilinear", lambda L, x: F(L).interpolate(x, size=(3, 5), mode="bilinear"),
         [_x(1, 1, 2, 3)]),
    Case("interpolate-nearest", lambda L, x: F(L).interpolate(x, scale_factor=2),
         [_x(1, 1, 2, 3)]),
    Case("pad-reflect", lambda L, x: F(L).pad(x, (1, 2), mode="reflect"), [_x(1, 2, 4)]),
    Case("pad-constant", lambda L, x: F(L).pad(x, (1, -1, 2, 0), value=0.5), [_x(1, 2, 4)]),
]

IDS = [c.name for c in CASES]


def _inputs(lib, case: Case) -> list:
    wrt = set(case.wrt())
    out = []
    for i, a in enumerate(case.args):
        if not isinstance(a, np.ndarray):
            out.append(a)
            continue
        t = lib.tensor(a.copy())
        if i in wrt:
            t.requires_grad_(True)
        out.append(t)
    return out


def _third_order(lib, case: Case, fn=None) -> list[np.ndarray]:
    """Gradients of <c2, grad(<c1, grad(<c0, f>)>)> w.r.t. the differentiated inputs:
    three reverse passes, the first two with ``create_graph``."""
    args = _inputs(lib, case)
    wrt = [args[i] for i in case.wrt()]
    out = (fn or case.fn)(lib, *args)
    rng = _rng(7)
    c0 = lib.tensor(rng.uniform(-1, 1, tuple(out.shape)))
    grads = lib.autograd.grad((out * c0).sum(), wrt, create_graph=True)
    for _ in range(2):
        # one cotangent per input, drawn whether or not its gradient depends on the
        # inputs (which differs between a fused op and a composite)
        cots = [lib.tensor(rng.uniform(-1, 1, tuple(t.shape))) for t in wrt]
        live = [(g * c).sum() for g, c in zip(grads, cots) if g is not None and g.requires_grad]
        if not live:
            return [np.zeros(tuple(t.shape)) for t in wrt]
        grads = lib.autograd.grad(sum(live), wrt, create_graph=True, allow_unused=True)
    return [np.zeros(tuple(t.shape)) if g is None else g.detach().numpy()
            for g, t in zip(grads, wrt)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_third_order_matches_torch(case):
    try:
        expected = _third_order(torch, case, case.reference)
    except RuntimeError as e:  # torch does not differentiate this op to third order
        pytest.skip(f"torch: {e}")
    got = _third_order(ember, case)
    for i, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-8,
                                   err_msg=f"{case.name}: third derivative of input {i}")


REFERENCED = [c for c in CASES if c.reference is not None]


@pytest.mark.parametrize("case", REFERENCED, ids=[c.name for c in REFERENCED])
def test_torch_fused_norm_third_order(case):
    """The elementary-op reference agrees with torch's fused norm up to second order, and
    its third derivative agrees with finite differences of the second (so it, not
    torch's fused third derivative, is the oracle)."""
    for order in (1, 2):
        np.testing.assert_allclose(_nth_order(torch, case, order, case.reference),
                                   _nth_order(torch, case, order, case.fn), rtol=1e-9,
                                   atol=1e-10)
    third = _nth_order(torch, case, 3, case.reference)
    x0 = case.args[case.wrt()[0]]
    h, fd = 1e-6, np.zeros_like(x0)
    for idx in np.ndindex(x0.shape):
        shifted = []
        for sign in (1, -1):
            args = list(case.args)
            args[case.wrt()[0]] = x0.copy()
            args[case.wrt()[0]][idx] += sign * h
            moved = Case(case.name, case.fn, args, case.grad)
            shifted.append(_nth_order(torch, moved, 2, case.reference, dot=True))
        fd[idx] = (shifted[0] - shifted[1]) / (2 * h)
    np.testing.assert_allclose(third, fd, rtol=1e-5, atol=1e-6)


def _nth_order(lib, case: Case, order: int, fn, dot: bool = False):
    """The ``order``-th gradient of ``fn`` w.r.t. the first differentiated input (random
    cotangents as in ``_third_order``); with ``dot``, its inner product with the next
    cotangent instead (a scalar, for finite differences)."""
    args = _inputs(lib, case)
    x = args[case.wrt()[0]]
    rng = _rng(7)
    out = fn(lib, *args)
    value = (out * lib.tensor(rng.uniform(-1, 1, tuple(out.shape)))).sum()
    for _ in range(order):
        (g,) = lib.autograd.grad(value, [x], create_graph=True)
        value = (g * lib.tensor(rng.uniform(-1, 1, tuple(g.shape)))).sum()
    return value.item() if dot else g.detach().numpy()


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
    """A dispatch mode sees the same ops in a first backward with or without
    ``create_graph`` (backward rules are ember ops in both)."""
    seen = []
    for create_graph in (False, True):
        args = _inputs(ember, case)
        out = case.fn(ember, *args).sum()
        with OpNames() as mode:
            ember.autograd.grad(out, [args[i] for i in case.wrt()], create_graph=create_graph)
        seen.append(mode.names)
    assert seen[0] == seen[1]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_meta_device_gives_the_real_shape(case):
    """The same functions on meta tensors (no data): the ops' meta functions and the
    constants the functions build follow the input's device."""
    real = case.fn(ember, *_inputs(ember, case))
    meta = [ember.empty(a.shape, dtype=ember.from_numpy(a).dtype, device="meta")
            if isinstance(a, np.ndarray) else a for a in case.args]
    out = case.fn(ember, *meta)
    assert out.is_meta and out.shape == real.shape and out.dtype == real.dtype
