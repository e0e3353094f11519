"""Inputs that would make a kernel index out of bounds are refused with a Python
exception, never a crash (issue 16): convolution geometry (`dilation=-10**6` was a
SIGSEGV), embedding indices changed after forward, optimizer state of another model."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import ember
from ember.ops.conv import Convolution, ConvTranspose, ConvWeight

CASES = [
    "F.conv1d(L.ones(1, 1, 16), L.ones(1, 1, 3), dilation=-10**6)",
    "F.conv2d(L.ones(1, 1, 8, 8), L.ones(1, 1, 3, 3), dilation=-3)",
    "F.conv2d(L.ones(1, 1, 8, 8), L.ones(1, 1, 3, 3), dilation=(1, 0))",
    "F.conv3d(L.ones(1, 1, 4, 4, 4), L.ones(1, 1, 2, 2, 2), stride=(1, 0, 1))",
    "F.conv_transpose2d(L.ones(1, 1, 8, 8), L.ones(1, 1, 3, 3), dilation=-2)",
    "F.unfold(L.ones(1, 1, 8, 8), 3, dilation=-2)",
    "F.unfold(L.ones(1, 1, 8, 8), 3, stride=0)",
    "F.unfold(L.ones(1, 1, 8, 8), 3, padding=-1)",
    "F.unfold(L.ones(1, 1, 8, 8), 0)",
    "F.fold(L.ones(1, 9, 36), (8, 8), 3, dilation=0)",
    "F.fold(L.ones(1, 9, 36), (8, 8), 3, stride=0)",
    "F.unfold(L.ones(1, 1, 4, 4), 5)",
    "F.interpolate(L.ones(1, 1, 4, 4), size=0)",
    "F.interpolate(L.ones(1, 1, 4), size=0)",
    "F.interpolate(L.ones(1, 1, 4, 4), scale_factor=-2.0)",
    "F.interpolate(L.ones(1, 1, 4, 4), scale_factor=0.1, mode='bilinear')",
]

INDEX_CASES = [
    "L.ones(3).index_add(0, L.tensor([5]), L.ones(1))",
    "L.ones(3).index_add(0, L.tensor([-1]), L.ones(1))",
    "L.ones(3, 4).index_add(0, L.tensor([5]), L.ones(1, 4))",
    "L.ones(3).index_fill(0, L.tensor([5]), 1.0)",
    "L.ones(3).index_copy(0, L.tensor([5]), L.ones(1))",
]


@pytest.mark.parametrize("expr", INDEX_CASES)
def test_index_ops_out_of_range_raise_torchs_error(expr):
    t_type, t_msg = _error(torch, expr)
    e_type, e_msg = _error(ember, expr)
    assert (e_type, e_msg) == (t_type, t_msg)


def _error(lib, expr: str) -> tuple[type, str]:
    try:
        eval(expr, {"L": lib, "F": lib.nn.functional})  # noqa: S307 (fixed test expressions)
    except Exception as exc:  # noqa: BLE001
        return type(exc), str(exc)
    pytest.fail(f"{lib.__name__} accepted {expr}")


@pytest.mark.parametrize("expr", CASES)
def test_bad_geometry_raises_torchs_error(expr):
    t_type, t_msg = _error(torch, expr)
    e_type, e_msg = _error(ember, expr)
    assert e_type is t_type
    assert e_msg.split(", but got")[0] == t_msg.split(", but got")[0]


def test_bad_geometry_never_crashes_the_process():
    """The inputs that crashed, run in a fresh process: an exception, never a signal."""
    code = ("import ember as L; F = L.nn.functional\n"
            + "".join(f"try:\n    {c}\nexcept RuntimeError:\n    pass\n" for c in CASES)
            + "print('survived')")
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "survived" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.parametrize("geometry", [((1, -3), ((0, 0), (0, 0)), (1, 1), 1),
                                      ((1, 1), ((0, 0), (0, 0)), (1, -3), 1),
                                      ((1, 1), ((-2, 0), (0, 0)), (1, 1), 1),
                                      ((1, 1), ((0, 0), (0, 0)), (1, 1), 0)])
def test_the_ops_check_geometry_themselves(geometry):
    x, w = ember.ones(1, 1, 8, 8), ember.ones(1, 1, 3, 3)
    g = ember.ones(1, 1, 6, 6)
    with pytest.raises(RuntimeError):
        ember._dispatch.dispatch(Convolution, x, w, None, *geometry)
    with pytest.raises(RuntimeError):
        ember._dispatch.dispatch(ConvTranspose, g, w, None, (1, 1, 8, 8), *geometry)
    with pytest.raises(RuntimeError):
        ember._dispatch.dispatch(ConvWeight, x, g, (1, 1, 3, 3), *geometry)


def test_embedding_backward_checks_indices_changed_after_forward():
    """``.numpy()`` writes bypass version counters; the backward kernel writes out[idx]."""
    emb = ember.nn.Embedding(10, 4)
    idx = ember.tensor([1, 2, 3])
    out = emb(idx)
    idx.numpy()[0] = 1000
    with pytest.raises(IndexError, match="index out of range"):
        out.sum().backward()


@pytest.mark.parametrize("opt", ["SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax",
                                 "NAdam", "RAdam", "RMSprop"])
def test_optimizer_state_of_another_model_raises_torchs_error_and_changes_nothing(opt):
    def setup(lib, n):
        model = lib.nn.Linear(n, n)
        kwargs = {"lr": 0.1, "momentum": 0.9} if opt in ("SGD", "RMSprop") else {"lr": 0.1}
        optim = getattr(lib.optim, opt)(model.parameters(), **kwargs)
        model(lib.ones(1, n)).sum().backward()
        return model, optim

    errors = []
    for lib in (torch, ember):
        small, small_opt = setup(lib, 10)
        small_opt.step()
        big, big_opt = setup(lib, 100)
        big_opt.load_state_dict(small_opt.state_dict())
        before = big.weight.detach().clone()
        with pytest.raises(RuntimeError) as info:
            big_opt.step()
        errors.append(str(info.value))
        if lib is ember:
            assert ember.equal(big.weight.detach(), before)
    assert errors[1] == errors[0]


@pytest.mark.parametrize("bad", [7, -3])
def test_ctc_refuses_labels_outside_the_classes(bad):
    """torch reads out of bounds on these; ember raises before any kernel runs. Labels
    past a sample's target length are padding and may be anything."""
    lp = ember.randn(12, 2, 5).log_softmax(2)
    with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
        ember.nn.functional.ctc_loss(lp, ember.tensor([[1, 2, bad], [1, 1, 2]]),
                                     ember.tensor([12, 12]), ember.tensor([3, 3]))
    padded = ember.nn.functional.ctc_loss(lp, ember.tensor([[1, 2, bad], [1, 1, 2]]),
                                          ember.tensor([12, 12]), ember.tensor([2, 3]))
    assert ember.isfinite(padded)
