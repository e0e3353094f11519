"""``ember.utils.flop_counter``: FLOPs checked against hand-computed counts and against
torch's ``FlopCounterMode`` running the same shapes (FLOPs depend on shapes only)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch.utils.flop_counter import FlopCounterMode as TorchFlopCounterMode

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.ops.linalg import Linear, LinearBackward, Matmul
from ember.utils.flop_counter import FlopCounterMode, register_flop_formula

RNG = np.random.default_rng(0)


def leaves(*shapes, requires_grad=True):
    """The same random float32 leaves in ember and in torch."""
    arrays = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    return ([ember.tensor(a, requires_grad=requires_grad) for a in arrays],
            [torch.tensor(a, requires_grad=requires_grad) for a in arrays])


def ember_flops(fn, *args, **kwargs) -> int:
    with FlopCounterMode(display=False) as fc:
        fn(*args, **kwargs)
    return fc.get_total_flops()


def torch_flops(fn, *args, **kwargs) -> int:
    with TorchFlopCounterMode(display=False) as fc:
        fn(*args, **kwargs)
    return fc.get_total_flops()


def forward_backward(fn):
    def run(*args):
        fn(*args).sum().backward()
    return run


# ---- hand-computed counts ---------------------------------------------------------------

@pytest.mark.parametrize("a_shape, b_shape, expected", [
    ((3, 4), (4, 5), 2 * 3 * 5 * 4),                # mm
    ((6, 3, 4), (6, 4, 5), 2 * 6 * 3 * 5 * 4),      # bmm
    ((2, 1, 3, 4), (5, 4, 6), 2 * 2 * 5 * 3 * 6 * 4),  # broadcast batch dims
    ((2, 3, 4), (4, 5), 2 * 2 * 3 * 5 * 4),         # batched @ matrix
    ((4,), (4, 5), 2 * 5 * 4),                      # vector @ matrix
    ((3, 4), (4,), 2 * 3 * 4),                      # mv: ember counts it, torch does not
    ((4,), (4,), 2 * 4),                            # dot
])
def test_matmul_counts_two_flops_per_multiply_add(a_shape, b_shape, expected):
    (a, b), _ = leaves(a_shape, b_shape, requires_grad=False)
    assert ember_flops(ember.matmul, a, b) == expected


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (4, 5)), ((6, 3, 4), (6, 4, 5)), ((2, 1, 3, 4), (5, 4, 6)), ((2, 3, 4), (4, 5))])
def test_matmul_matches_torch_forward_and_backward(a_shape, b_shape):
    (a, b), (ta, tb) = leaves(a_shape, b_shape)
    assert ember_flops(ember.matmul, a, b) == torch_flops(torch.matmul, ta, tb)
    both = ember_flops(forward_backward(ember.matmul), a, b)
    assert both == torch_flops(forward_backward(torch.matmul), ta, tb)
    assert both == 3 * ember_flops(ember.matmul, a, b)  # backward = 2x forward


def test_matmul_backward_counts_only_needed_gradients():
    (a,), _ = leaves((3, 4))
    (b,), _ = leaves((4, 5), requires_grad=False)
    forward = 2 * 3 * 5 * 4
    assert ember_flops(forward_backward(ember.matmul), a, b) == 2 * forward


def test_bmm_addmm_baddbmm_count_the_product_only():
    (c, a, b), _ = leaves((3, 5), (3, 4), (4, 5), requires_grad=False)
    assert ember_flops(ember.addmm, c, a, b) == 2 * 3 * 5 * 4
    (c, a, b), _ = leaves((2, 3, 5), (2, 3, 4), (2, 4, 5), requires_grad=False)
    assert ember_flops(ember.bmm, a, b) == 2 * 2 * 3 * 5 * 4
    assert ember_flops(ember.baddbmm, c, a, b) == 2 * 2 * 3 * 5 * 4


@pytest.mark.parametrize("x_shape", [(7, 4), (2, 3, 4)])
def test_linear(x_shape):
    (x, w, b), (tx, tw, tb) = leaves(x_shape, (5, 4), (5,))
    rows = int(np.prod(x_shape[:-1]))
    assert ember_flops(F.linear, x, w, b) == 2 * rows * 5 * 4
    assert ember_flops(F.linear, x, w, b) == torch_flops(TF.linear, tx, tw, tb)
    fwd_bwd = ember_flops(forward_backward(F.linear), x, w, b)
    assert fwd_bwd == 3 * 2 * rows * 5 * 4
    assert fwd_bwd == torch_flops(forward_backward(TF.linear), tx, tw, tb)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding=2, groups=2),
                                dict(stride=(2, 1), padding=(1, 0), dilation=2, groups=2)])
def test_conv2d(kw):
    groups = kw.get("groups", 1)
    (x, w, b), (tx, tw, tb) = leaves((2, 4, 9, 8), (6, 4 // groups, 3, 3), (6,))
    stride, pad, dil = (np.broadcast_to(kw.get(k, d), 2) for k, d in
                        (("stride", 1), ("padding", 0), ("dilation", 1)))
    out_hw = [(n + 2 * p - d * 2 - 1) // s + 1 for n, s, p, d in zip((9, 8), stride, pad, dil)]
    hand = 2 * 2 * out_hw[0] * out_hw[1] * 6 * (4 // groups) * 3 * 3  # per output: C_in/g*k*k
    assert ember_flops(F.conv2d, x, w, b, **kw) == hand
    assert hand == torch_flops(TF.conv2d, tx, tw, tb, **kw)
    fn = forward_backward(lambda *a: F.conv2d(*a, **kw))
    tfn = forward_backward(lambda *a: TF.conv2d(*a, **kw))
    assert ember_flops(fn, x, w, b) == torch_flops(tfn, tx, tw, tb)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(groups=2)])
def test_conv_transpose2d_and_conv1d(kw):
    groups = kw.get("groups", 1)
    (x, w), (tx, tw) = leaves((2, 4, 5, 6), (4, 6 // groups, 3, 3))
    assert ember_flops(F.conv_transpose2d, x, w, **kw) == \
        torch_flops(TF.conv_transpose2d, tx, tw, **kw)
    fn = forward_backward(lambda *a: F.conv_transpose2d(*a, **kw))
    tfn = forward_backward(lambda *a: TF.conv_transpose2d(*a, **kw))
    assert ember_flops(fn, x, w) == torch_flops(tfn, tx, tw)
    (x, w), (tx, tw) = leaves((2, 4, 11), (6, 4 // groups, 3))
    assert ember_flops(forward_backward(lambda *a: F.conv1d(*a, **kw)), x, w) == \
        torch_flops(forward_backward(lambda *a: TF.conv1d(*a, **kw)), tx, tw)


def test_attention():
    (q, k, v), (tq, tk, tv) = leaves((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6))
    hand = 2 * 2 * 3 * 5 * 7 * 4 + 2 * 2 * 3 * 5 * 7 * 6  # q @ k^T, then attn @ v
    sdpa, tsdpa = F.scaled_dot_product_attention, TF.scaled_dot_product_attention
    assert ember_flops(sdpa, q, k, v) == hand == torch_flops(tsdpa, tq, tk, tv)
    assert ember_flops(forward_backward(sdpa), q, k, v) == 3 * hand == \
        torch_flops(forward_backward(tsdpa), tq, tk, tv)


@pytest.mark.parametrize("equation, shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("bij,bjk,bkl->bil", [(2, 3, 4), (2, 4, 5), (2, 5, 6)]), ("bhqd,bhkd->bhqk",
                                                               [(2, 3, 5, 4), (2, 3, 7, 4)])])
def test_einsum_matches_torch(equation, shapes):
    es, ts = leaves(*shapes, requires_grad=False)
    assert ember_flops(ember.einsum, equation, *es) == torch_flops(torch.einsum, equation, *ts)


# ---- modules ------------------------------------------------------------------------------

def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(8, 16), lib.nn.ReLU(),
                             lib.nn.Sequential(lib.nn.Linear(16, 16), lib.nn.Tanh()),
                             lib.nn.Linear(16, 3))


def _cnn(lib):
    n = lib.nn
    return n.Sequential(n.Conv2d(3, 8, 3, padding=1), n.ReLU(), n.MaxPool2d(2),
                        n.Conv2d(8, 8, 3, stride=2, groups=2), n.Flatten(), n.Linear(8 * 3 * 3, 5))


def _per_module_totals(counts: dict) -> dict:
    return {name: sum(ops.values()) for name, ops in counts.items()}


@pytest.mark.parametrize("build, x_shape", [(_mlp, (4, 8)), (_cnn, (2, 3, 14, 14))])
def test_model_counts_per_module_match_torch(build, x_shape):
    model, tmodel = build(ember), build(torch)
    x = RNG.standard_normal(x_shape).astype(np.float32)
    with FlopCounterMode(display=False) as fc:
        model(ember.tensor(x)).sum().backward()
    with TorchFlopCounterMode(display=False) as tfc:
        tmodel(torch.tensor(x)).sum().backward()
    assert fc.get_total_flops() == tfc.get_total_flops() > 0
    assert _per_module_totals(fc.get_flop_counts()) == \
        _per_module_totals(tfc.get_flop_counts())


def test_backward_is_credited_to_the_module_that_ran_forward():
    model = _mlp(ember)
    x = ember.randn(4, 8)
    with FlopCounterMode(display=False) as fc:
        model(x).sum().backward()
    counts = fc.get_flop_counts()
    first = 2 * 4 * 16 * 8        # Sequential.0 forward; backward: its weight grad only
    inner = 2 * 4 * 16 * 16       # Sequential.2.0 forward; backward: weight and input grads
    assert counts["Sequential.0"] == {Linear: first, LinearBackward: first}
    assert counts["Sequential.2"] == counts["Sequential.2.0"] == {Linear: inner,
                                                                  LinearBackward: 2 * inner}


def _same_model_and_input(x_shape):
    model, tmodel = _mlp(ember), _mlp(torch)
    x = RNG.standard_normal(x_shape).astype(np.float32)
    return model, tmodel, ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def test_backward_of_a_graph_recorded_before_counting():
    model, tmodel, x, tx = _same_model_and_input((4, 8))
    loss, tloss = model(x).sum(), tmodel(tx).sum()
    with FlopCounterMode(display=False) as fc:
        loss.backward()
    with TorchFlopCounterMode(display=False) as tfc:
        tloss.backward()
    assert fc.get_total_flops() == tfc.get_total_flops() > 0
    assert _per_module_totals(fc.get_flop_counts()) == \
        _per_module_totals(tfc.get_flop_counts())


def test_nodes_skipped_by_autograd_grad_inputs_leave_module_credit_alone():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(ember.randn(5, 8))

        def forward(self, x):
            return x @ (self.w * 2).mT   # nodes that only the weight's gradient needs

    x = ember.randn(4, 8, requires_grad=True)
    a, b = ember.ones(3, 4), ember.ones(4, 5)
    with FlopCounterMode(display=False) as fc:
        ember.autograd.grad(Scaled()(x).sum(), [x])   # the weight's branch doesn't run
        ember.matmul(a, b)                             # outside every module: Global only
    counts = _per_module_totals(fc.get_flop_counts())
    assert counts["Global"] - counts["Scaled"] == 2 * 3 * 4 * 5


def test_table_layout():
    model = _mlp(ember)
    with FlopCounterMode(display=False, depth=1) as fc:
        model(ember.randn(4, 8))
    lines = fc.get_table().splitlines()
    assert lines[0].split() == ["Module", "FLOP", "%", "Total"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    total = 2 * 4 * 16 * 8 + 2 * 4 * 16 * 16 + 2 * 4 * 3 * 16
    assert fc.get_total_flops() == total == 3456  # 4 digits: no suffix, as torch's table
    assert lines[2].split() == ["Sequential", "3456.000", "100.00%"]
    assert lines[3].split() == ["-", "aten.linear", "3456.000", "100.00%"]  # torch's label
    assert len(lines) == 4  # depth=1: children left out; Global subsumed by Sequential
    assert len({len(line) for line in lines}) == 1
    deeper = fc.get_table(depth=2)
    assert " Sequential.2" in deeper and "Sequential.2.0" not in deeper


def test_display_prints_table(capsys):
    (a, b), _ = leaves((3, 4), (4, 5), requires_grad=False)
    with FlopCounterMode():
        ember.matmul(a, b)
    out = capsys.readouterr().out
    assert "Global" in out and "120.000" in out


def test_empty_and_mods_argument():
    with pytest.warns(UserWarning, match="mods argument is not needed"):
        fc = FlopCounterMode(nn.Linear(2, 2), display=False)
    with fc:
        ember.ones(3) + 1
    assert fc.get_total_flops() == 0
    assert fc.get_table().split() == ["Module", "FLOP", "%", "Total", "--------", "------",
                                      "---------", "Global", "0.000", "0%"]


def test_formulas_are_keyed_by_op_table_aten_names():
    """Every formula belongs to an op of the table (by its ``aten`` name), so renaming an op
    cannot leave a formula behind unnoticed."""
    from ember.ops import all_ops
    from ember.utils.flop_counter import flop_registry
    atens = {op.aten for op in all_ops().values()}
    assert flop_registry and set(flop_registry) <= atens
    assert flop_registry[Matmul.aten] is not flop_registry[Linear.aten]


def test_custom_formulas():
    class Scale(ember._dispatch.Op):
        name = "test_scale_op"

        @staticmethod
        def forward(ctx, x):
            return x * 3

    x = ember.ones(4, 5)
    with FlopCounterMode(display=False, custom_mapping={Scale: lambda s, out_shape: 7}) as fc:
        ember._dispatch.dispatch(Scale, x)
    assert fc.get_flop_counts()["Global"] == {Scale: 7}
    with FlopCounterMode(display=False,  # by aten name, as torch's custom_mapping
                         custom_mapping={"test_scale_op": lambda s, out_shape: 9}) as fc:
        ember._dispatch.dispatch(Scale, x)
    assert fc.get_flop_counts()["Global"] == {Scale: 9}

    register_flop_formula(Scale)(lambda x_shape, out_shape: int(np.prod(out_shape)))
    try:
        assert ember_flops(ember._dispatch.dispatch, Scale, x) == 20
        with pytest.raises(RuntimeError, match="duplicate"):
            register_flop_formula(Scale)(lambda *a, **k: 0)
    finally:
        from ember.utils.flop_counter import flop_registry
        del flop_registry[Scale.aten]


def test_modes_compose_with_profiler():
    from ember.profiler import profile
    (a, b), _ = leaves((3, 4), (4, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with profile() as prof, FlopCounterMode(display=False) as fc:
            ember.matmul(a, b).sum().backward()
    assert fc.get_total_flops() == 3 * 120
    assert [e.key for e in prof.key_averages() if e.key == "aten::matmul"][0]


@pytest.mark.parametrize("shape,bias", [((3, 4), True), ((2, 3, 4), False), ((4,), True)])
def test_linear_counts_one_matrix_product(shape, bias):
    counts = {}
    for lib in (torch, ember):
        x, w = lib.ones(shape), lib.ones(5, 4)
        with lib.utils.flop_counter.FlopCounterMode(display=False) as mode:
            lib.nn.functional.linear(x, w, lib.ones(5) if bias else None)
        counts[lib] = mode.get_total_flops()
    assert counts[ember] == counts[torch]
