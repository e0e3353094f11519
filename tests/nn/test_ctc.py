"""CTC loss against torch (values and gradients, every option), against a brute-force sum
over alignments, the Numba kernels against their NumPy references, and gradcheck."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import ember
from ember.ops import _kernels_loss as K

REDUCTIONS = ["none", "mean", "sum"]
rng = np.random.default_rng(0)
T, N, C = 6, 3, 5
LOGITS = rng.standard_normal((T, N, C))
# sample 0 repeats a label (needs a blank between), sample 2 has an empty target
PADDED = np.array([[1, 3, 3, 0], [4, 1, 0, 0], [2, 2, 2, 2]])
TARGET_LENGTHS = (3, 2, 0)
INPUT_LENGTHS = (6, 4, 5)
CONCAT = np.concatenate([PADDED[b, :n] for b, n in enumerate(TARGET_LENGTHS)])


def _run(lib, logits, targets, il, tl, as_tensors, through_log_softmax, **kw):
    """The loss, and a leaf for its gradient: the logits under a log_softmax, or the
    log-probabilities themselves (torch's gradient there is not the true derivative)."""
    if through_log_softmax:
        leaf = lib.tensor(logits, requires_grad=True)
        lp = leaf.log_softmax(-1)
    else:
        log_probs = torch.from_numpy(logits).log_softmax(-1).numpy()
        leaf = lp = lib.tensor(log_probs, requires_grad=True)
    if as_tensors:
        il, tl = lib.tensor(il), lib.tensor(tl)
    return lib.nn.functional.ctc_loss(lp, lib.tensor(targets), il, tl, **kw), leaf


def _compare(logits, targets, il, tl, as_tensors=True, through_log_softmax=True, dtype="float64",
             **kw):
    logits = logits.astype(dtype)
    lt, xt = _run(torch, logits, targets, il, tl, as_tensors, through_log_softmax, **kw)
    le, xe = _run(ember, logits, targets, il, tl, as_tensors, through_log_softmax, **kw)
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-6)
    assert tuple(le.shape) == tuple(lt.shape) and str(le.dtype) == str(lt.dtype).replace(
        "torch", "ember")
    np.testing.assert_allclose(le.detach().numpy(), lt.detach().numpy(), **tol)
    cot = np.random.default_rng(1).standard_normal(tuple(lt.shape)).astype(dtype)
    (gt,) = torch.autograd.grad(lt, xt, torch.from_numpy(cot))
    (ge,) = ember.autograd.grad(le, xe, ember.from_numpy(cot))
    np.testing.assert_allclose(ge.numpy(), gt.numpy(), **tol)
    return le, ge


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("blank", [0, C - 1])
def test_ctc_matches_torch(reduction, blank, dtype):
    targets = np.where(PADDED == blank, 1 if blank else 2, PADDED)
    concat = np.where(CONCAT == blank, 1 if blank else 2, CONCAT)
    for through in (True, False):
        _compare(LOGITS, targets, INPUT_LENGTHS, TARGET_LENGTHS, True, through, dtype,
                 blank=blank, reduction=reduction)
    _compare(LOGITS, concat, INPUT_LENGTHS, TARGET_LENGTHS, False, True, dtype, blank=blank,
             reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_impossible_alignments(reduction, zero_infinity):
    # sample 0: three repeats of a label need 5 frames but get 3; sample 1: no input at all
    targets = np.array([[2, 2, 2], [1, 0, 0], [3, 1, 4]])
    with np.errstate(invalid="ignore"):
        loss, grad = _compare(LOGITS, targets, (3, 0, 6), (3, 1, 3), through_log_softmax=False,
                              reduction=reduction, zero_infinity=zero_infinity)
    if zero_infinity:
        assert np.isfinite(loss.detach().numpy()).all() and np.isfinite(grad.numpy()).all()


def test_ctc_unbatched_and_lengths_forms():
    lp = LOGITS[:, 0]
    for reduction in REDUCTIONS:
        _compare(lp, PADDED[0, :3], 6, 3, reduction=reduction)
        _compare(lp, PADDED[0, :3], (6,), (3,), as_tensors=False, reduction=reduction)
    _compare(lp, PADDED[:1], 6, 3, reduction="none")  # unbatched with a (1, S) target
    lt = torch.nn.functional.ctc_loss(torch.from_numpy(LOGITS), torch.from_numpy(PADDED),
                                      torch.tensor(INPUT_LENGTHS, dtype=torch.int32),
                                      torch.tensor(TARGET_LENGTHS, dtype=torch.int32))
    le = ember.nn.functional.ctc_loss(ember.from_numpy(LOGITS), ember.from_numpy(PADDED),
                                      ember.tensor(INPUT_LENGTHS, dtype=ember.int32),
                                      ember.tensor(TARGET_LENGTHS, dtype=ember.int32))
    np.testing.assert_allclose(le.numpy(), lt.numpy(), rtol=1e-12)


def test_ctc_module_and_node_names():
    lp = torch.from_numpy(LOGITS).log_softmax(-1).numpy()
    for kw in [{}, {"blank": 4, "reduction": "sum"}, {"zero_infinity": True}]:
        mt, me = torch.nn.CTCLoss(**kw), ember.nn.CTCLoss(**kw)
        assert repr(me) == repr(mt)
        targets = np.where(PADDED == kw.get("blank", 0), 1, PADDED)
        args = (targets, INPUT_LENGTHS, TARGET_LENGTHS)
        np.testing.assert_allclose(
            me(ember.tensor(lp), *[ember.tensor(a) for a in args]).numpy(),
            mt(torch.tensor(lp), *[torch.tensor(a) for a in args]).numpy(), rtol=1e-12)
    x = ember.tensor(lp, requires_grad=True)
    loss = ember.nn.functional.ctc_loss(x, ember.tensor(PADDED), INPUT_LENGTHS, TARGET_LENGTHS,
                                        reduction="none")
    assert loss.grad_fn.name() == "CtcLossBackward0"


def test_ctc_gradcheck_and_no_double_backward():
    x = ember.tensor(LOGITS[:4, :2], requires_grad=True)
    args = (ember.tensor(PADDED[:2]), (4, 3), (3, 2))

    def f(x):
        return ember.nn.functional.ctc_loss(x.log_softmax(-1), *args, reduction="sum")
    assert ember.autograd.gradcheck(f, (x,))
    (g,) = ember.autograd.grad(f(x), x, create_graph=True)
    with pytest.raises(RuntimeError, match="_ctc_loss_backward"):
        ember.autograd.grad(g.sum(), x)


def _brute_force_nll(log_probs: np.ndarray, target: list, blank: int) -> float:
    """-log of the summed probability of every path that collapses to ``target``."""
    total = -np.inf
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        labels = [k for k, _ in itertools.groupby(path) if k != blank]
        if labels == target:
            total = np.logaddexp(total, sum(log_probs[t, k] for t, k in enumerate(path)))
    return -total


@pytest.mark.parametrize("use_numba", [False, True])
def test_ctc_kernels_against_brute_force(use_numba):
    lp = torch.from_numpy(rng.standard_normal((5, 3, 4))).log_softmax(-1).numpy()
    targets = np.array([[1, 1, 0], [3, 2, 1], [2, 0, 0]])
    in_len, tg_len = np.array([5, 4, 3]), np.array([2, 3, 1])
    nll, _ = K.ctc_forward(lp, targets, in_len, tg_len, 0, use_numba=use_numba)
    for b in range(3):
        want = _brute_force_nll(lp[:in_len[b], b], list(targets[b, :tg_len[b]]), 0)
        np.testing.assert_allclose(nll[b], want, rtol=1e-12)


def test_ctc_numba_kernels_match_numpy_reference():
    t, n, c, s = 30, 4, 7, 6
    lp = torch.from_numpy(rng.standard_normal((t, n, c))).log_softmax(-1).numpy()
    targets = rng.integers(1, c, (n, s))
    targets[0, 1] = targets[0, 0]  # a repeated label
    in_len, tg_len = np.array([30, 25, 12, 2]), np.array([6, 4, 0, 5])  # last: impossible
    ref = K.ctc_forward_numpy(lp, targets, in_len, tg_len, 0)
    fast = K.ctc_forward(lp, targets, in_len, tg_len, 0, use_numba=True)
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-12)
    np.testing.assert_allclose(fast[1], ref[1], rtol=1e-12)
    g = rng.standard_normal(n)
    for zero_infinity in (False, True):
        with np.errstate(invalid="ignore"):
            want = K.ctc_backward_numpy(g, lp, targets, in_len, tg_len, *ref, 0, zero_infinity)
        got = K.ctc_backward(g, lp, targets, in_len, tg_len, *ref, 0, zero_infinity,
                             use_numba=True)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


BAD_CALLS = [
    ("input length too long", lambda lp, tg, il, tl: (lp, tg, [7, 4, 5], tl), {}),
    ("negative input length", lambda lp, tg, il, tl: (lp, tg, [-1, 4, 5], tl), {}),
    ("negative target length", lambda lp, tg, il, tl: (lp, tg, il, [-3, 2, 0]), {}),
    ("targets too short", lambda lp, tg, il, tl: (lp, tg[:, :2], il, tl), {}),
    ("concatenated size", lambda lp, tg, il, tl: (lp, tg.reshape(-1), il, tl), {}),
    ("targets 3-D", lambda lp, tg, il, tl: (lp, tg[None], il, tl), {}),
    ("batch size", lambda lp, tg, il, tl: (lp, tg, il[:2], tl), {}),
    ("blank", lambda lp, tg, il, tl: (lp, tg, il, tl), {"blank": 5}),
    ("blank negative", lambda lp, tg, il, tl: (lp, tg, il, tl), {"blank": -1}),
    ("reduction", lambda lp, tg, il, tl: (lp, tg, il, tl), {"reduction": "avg"}),
    ("float lengths", lambda lp, tg, il, tl: (lp, tg, il.double(), tl), {}),
    ("empty", lambda lp, tg, il, tl: (lp[:0], tg, il, tl), {}),
    ("4-D", lambda lp, tg, il, tl: (lp[None], tg, il, tl), {}),
    ("half", lambda lp, tg, il, tl: (lp.half(), tg, il, tl), {}),
]


@pytest.mark.parametrize("name,make_args,kw", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_ctc_errors_match_torch(name, make_args, kw):
    def call(lib):
        lp = lib.from_numpy(LOGITS.copy())
        args = make_args(lp, lib.from_numpy(PADDED.copy()), lib.tensor(INPUT_LENGTHS),
                         lib.tensor(TARGET_LENGTHS))
        args = [lib.tensor(a) if isinstance(a, list) else a for a in args]
        return lib.nn.functional.ctc_loss(*args, **kw)
    with pytest.raises(Exception) as expected:
        call(torch)
    with pytest.raises(expected.type) as actual:
        call(ember)
    assert str(actual.value) == str(expected.value)
