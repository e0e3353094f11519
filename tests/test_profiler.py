"""``ember.profiler``: what gets recorded (ops, ranges, backward nodes), how events nest,
torch's table layout, the Chrome trace, schedules (against torch.profiler's own), and that
nothing is recorded when no profiler is active. No timing assertions beyond ordering."""

from __future__ import annotations

import gzip
import json
import re
import warnings

import pytest
import torch
import torch.profiler as tprof

import ember
import ember.nn as nn
from ember._dispatch import OPS
from ember._state import STATE
from ember.profiler import (
    ProfilerAction,
    ProfilerActivity,
    profile,
    record_function,
    schedule,
    tensorboard_trace_handler,
)


def mlp():
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def train_step(model, opt, x):
    opt.zero_grad()
    loss = model(x).sum()
    loss.backward()
    opt.step()


def aten(name: str) -> str:
    """The event name of the op ``OPS[name]``: torch's, from the op table."""
    return "aten::" + OPS[name].aten


def counts(prof) -> dict[str, int]:
    return {e.key: e.count for e in prof.key_averages()}


def walk(events):
    """Every event and every descendant of the top-level ones, checked for consistency."""
    for e in events:
        assert e.self_cpu_time_total <= e.cpu_time_total
        assert e.self_cpu_time_total >= 0
        assert e.start_ns <= e.end_ns
        for c in e.cpu_children:
            assert c.cpu_parent is e
            assert e.start_ns <= c.start_ns <= c.end_ns <= e.end_ns


# ---- what is recorded -------------------------------------------------------------------

def test_training_step_records_forward_backward_and_optimizer_ops():
    model = mlp()
    opt = ember.optim.SGD(model.parameters(), lr=0.1)
    x = ember.randn(5, 8)
    with profile() as prof:
        train_step(model, opt, x)
    c = counts(prof)
    # forward: two linears (each torch's addmm kernel); backward: dW2 and dh for the second
    # layer, dW1 for the first (x needs no gradient), then each parameter's gradient
    # accumulated
    assert c["aten::linear"] == c["aten::addmm"] == 2
    assert c["aten::mm"] == 3 and "aten::matmul" not in c  # (torch's addmm backward: mm)
    assert c["aten::relu"] == 1
    assert c["LinearBackward0"] == 2
    assert c["ReluBackward0"] == 1
    assert c["SumBackward0"] == 1
    assert c["torch::autograd::AccumulateGrad"] == 4
    walk(prof.events())


def test_backward_ops_nest_in_their_node_and_link_to_forward():
    a = ember.randn(3, 4, requires_grad=True)
    b = ember.randn(4, 5, requires_grad=True)
    with profile() as prof:
        y = a @ b
        y.sum().backward()
    events = prof.events()
    fwd = [e for e in events if e.name == "aten::matmul" and e.cpu_parent is None]
    bwd_node = [e for e in events if e.name == "MatmulBackward0"]
    assert len(fwd) == 1 and len(bwd_node) == 1
    inner = [c.name for c in bwd_node[0].cpu_children]
    assert inner.count("aten::matmul") == 2        # da = g @ b^T, db = a^T @ g
    assert [e.name for e in fwd[0].cpu_children] == ["aten::mm"]   # the kernel, as torch
    assert fwd[0].sequence_nr == bwd_node[0].sequence_nr == y.grad_fn._seq
    assert bwd_node[0].start_ns > fwd[0].end_ns
    walk(events)


def backward_nodes(events) -> list[tuple[str, int]]:
    return [(e.name, e.sequence_nr) for e in events if e.category == "backward"]


def test_backward_of_a_graph_recorded_before_profiling():
    a = ember.randn(3, 4, requires_grad=True)
    b = ember.randn(4, 5, requires_grad=True)
    y = (a @ b).relu().sum()
    s = y.grad_fn
    r = s.next_functions[0][0]
    m = r.next_functions[0][0]
    with profile() as prof:
        y.backward()
    events = prof.events()
    # torch's order (and no sequence number for AccumulateGrad, which has no forward op)
    assert backward_nodes(events) == [
        (s.name(), s._seq), (r.name(), r._seq), (m.name(), m._seq),
        ("torch::autograd::AccumulateGrad", -1), ("torch::autograd::AccumulateGrad", -1)]
    assert all(e.cpu_parent is None for e in events if e.category == "backward")
    mm = next(e for e in events if e.name == m.name())
    assert [c.name for c in mm.cpu_children].count("aten::matmul") == 2
    walk(events)


def test_nodes_skipped_by_autograd_grad_inputs_record_nothing():
    x = ember.randn(3, 4, requires_grad=True)
    w = ember.randn(5, 4, requires_grad=True)
    with profile() as prof:
        y = (x @ w.mT).sum()
        ember.autograd.grad(y, [x])     # w's transpose node and both leaves don't run
        x * 2
    events = prof.events()
    assert [n for n, _ in backward_nodes(events)] == ["SumBackward0", "MatmulBackward0"]
    assert events[-1].name == "aten::mul" and events[-1].cpu_parent is None
    walk(events)

    with profile() as prof:
        (x @ w.mT).sum().backward(inputs=[w])   # only w's branch accumulates
    assert [n for n, _ in backward_nodes(prof.events())] == [
        "SumBackward0", "MatmulBackward0", "PermuteBackward0", "torch::autograd::AccumulateGrad"]


def test_backward_node_event_closes_when_its_backward_raises():
    class Fails(ember.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * 1

        @staticmethod
        def backward(ctx, g):
            g * 2
            raise ValueError("boom")

    x = ember.ones(3, requires_grad=True)
    y = Fails.apply(x).sum()
    with profile() as prof:
        with pytest.raises(ValueError, match="boom"):
            y.backward()
        x * 3
    events = prof.events()
    failed = next(e for e in events if e.name == y.grad_fn.next_functions[0][0].name())
    assert [c.name for c in failed.cpu_children] == ["aten::mul"]
    assert events[-1].name == "aten::mul" and events[-1].cpu_parent is None
    walk(events)


def test_self_time_excludes_children_total_includes_them():
    x = ember.randn(20, 20, requires_grad=True)
    with profile() as prof:
        with record_function("outer"):
            with record_function("inner"):
                (x @ x).sum().backward()
            x * 2
    events = prof.events()
    outer = next(e for e in events if e.name == "outer")
    inner = next(e for e in events if e.name == "inner")
    assert inner.cpu_parent is outer and outer.cpu_parent is None
    assert [c.name for c in outer.cpu_children] == ["inner", "aten::mul"]
    assert outer.cpu_time_total >= inner.cpu_time_total + outer.cpu_children[1].cpu_time_total
    children = sum(c.cpu_time_total for c in outer.cpu_children)
    assert outer.self_cpu_time_total == pytest.approx(outer.cpu_time_total - children)
    walk(events)
    avg = {e.key: e for e in prof.key_averages()}
    assert sum(e.self_cpu_time_total for e in avg.values()) == \
        pytest.approx(outer.cpu_time_total)   # self times partition the top-level range


def test_record_function_decorator_and_exceptions():
    @record_function("helper")
    def helper(t):
        return t + 1

    with profile() as prof:
        helper(ember.ones(2))
        with pytest.raises(RuntimeError):
            with record_function("failing"):
                ember.ones(2, 3) @ ember.ones(2, 3)  # shape mismatch inside an op
        helper(ember.ones(2))
    c = counts(prof)
    assert c["helper"] == 2 and c["failing"] == 1 and c["aten::add"] == 2
    assert c["aten::matmul"] == 1
    helper_events = [e for e in prof.events() if e.name == "helper"]
    assert all(e.cpu_parent is None for e in helper_events)  # the failure closed its range
    walk(prof.events())


def test_autograd_profiler_record_function_is_the_same_range():
    # torch.autograd.profiler.record_function: older programs import it from there
    from ember.autograd.profiler import record_function as legacy
    assert legacy is record_function
    t = ember.ones(2)
    with profile() as prof:
        with legacy("legacy_range"):
            t + 1
    outer = next(e for e in prof.events() if e.name == "legacy_range")
    assert outer.is_user_annotation and [c.name for c in outer.cpu_children] == ["aten::add"]


def test_record_shapes_and_group_by_input_shape():
    with profile(record_shapes=True) as prof:
        ember.ones(2, 3) @ ember.ones(3, 4)
        ember.ones(2, 3) @ ember.ones(3, 4)
        ember.ones(5, 3) @ ember.ones(3, 1)
        ember.cat([ember.ones(2), ember.ones(3)])
    grouped = {(e.key, str(e.input_shapes)): e.count
               for e in prof.key_averages(group_by_input_shape=True)}
    assert grouped[("aten::matmul", "[[2, 3], [3, 4]]")] == 2
    assert grouped[("aten::matmul", "[[5, 3], [3, 1]]")] == 1
    assert ("aten::cat", "[[[2], [3]], []]") in grouped
    assert counts(prof)["aten::matmul"] == 3


def test_profile_memory_counts_new_output_bytes():
    a, b = ember.ones(6, 5), ember.ones(5, 7)
    with profile(profile_memory=True) as prof:
        with record_function("block"):
            y = a @ b
            y.reshape(42)       # a view: no new memory
            y.add_(1)           # in place: no new memory
            y.double()
    ev = {e.name: e for e in prof.events()}
    assert ev["aten::mm"].self_cpu_memory_usage == 6 * 7 * 4   # the kernel allocates
    assert ev["aten::matmul"].self_cpu_memory_usage == 0
    assert ev[aten("reshape")].self_cpu_memory_usage == 0
    assert ev["aten::add_"].self_cpu_memory_usage == 0
    block = ev["block"]
    assert block.self_cpu_memory_usage == 0
    assert block.cpu_memory_usage == 6 * 7 * 4 + 6 * 7 * 8
    assert "CPU Mem" in prof.key_averages().table()


def test_with_stack_and_with_flops():
    with profile(with_stack=True, with_flops=True) as prof:
        ember.ones(3, 4) @ ember.ones(4, 5)
    matmul = next(e for e in prof.events() if e.name == "aten::matmul")
    ev = next(e for e in prof.events() if e.name == "aten::mm")
    assert ev.cpu_parent is matmul
    assert ev.flops == 2 * 3 * 5 * 4 and matmul.flops == 0  # the kernel's, as torch
    assert any("test_profiler.py" in f and "test_with_stack_and_with_flops" in f
               for f in ev.stack)
    assert not any("_dispatch.py" in f for f in ev.stack)
    table = prof.key_averages(group_by_stack_n=1).table()
    assert "Source Location" in table and "Total FLOPs" in table


def test_with_modules_adds_module_ranges_to_the_trace(tmp_path):
    model = mlp()
    with profile(with_modules=True) as prof:
        model(ember.randn(2, 8))
    path = tmp_path / "t.json"
    prof.export_chrome_trace(str(path))
    names = [e["name"] for e in json.loads(path.read_text())["traceEvents"]
             if e.get("cat") == "python_function"]
    assert sorted(names) == ["nn.Module: Linear_0", "nn.Module: Linear_1", "nn.Module: ReLU_0",
                             "nn.Module: Sequential_0"]


# ---- torch's names, from the op table ----------------------------------------------------

def test_event_names_are_the_op_tables_aten_names():
    x = ember.ones(2, 3)
    with profile() as prof:
        (x * 2).sum()
    assert [e.name for e in prof.events()] == [aten("mul"), aten("sum")] == ["aten::mul",
                                                                          "aten::sum"]


def test_torch_kernel_names_are_op_table_names():
    from ember.ops import all_ops
    from ember.profiler.profiler import TORCH_KERNELS
    atens = {op.aten for op in all_ops().values()}
    assert set(TORCH_KERNELS) <= atens


def _kernel_counts(lib, prof_mod, build, x_shape, names) -> dict[str, int]:
    lib.manual_seed(0)
    model = build(lib)
    x = lib.ones(*x_shape)
    with prof_mod.profile() as p:
        model(x).sum().backward()
    c = {e.key: e.count for e in p.key_averages()}
    return {n: c.get(n, 0) for n in names}


def _cnn(lib):
    n = lib.nn
    return n.Sequential(n.Conv2d(3, 4, 3, padding=1), n.ReLU(), n.Flatten(),
                        n.Linear(4 * 5 * 5, 6), n.ReLU(), n.Linear(6, 2, bias=False))


def _transformer_mlp(lib):
    n = lib.nn
    return n.Sequential(n.Linear(8, 16), n.GELU(), n.Linear(16, 8))


@pytest.mark.parametrize("build, x_shape", [(_cnn, (2, 3, 5, 5)),
                                            (_transformer_mlp, (2, 5, 8))])
def test_filtering_by_torch_kernel_names_finds_torchs_events(build, x_shape):
    """Code that picks the GEMMs and convolutions out of a profile by their aten names
    counts the same calls as with torch, forward and backward."""
    names = ["aten::linear", "aten::addmm", "aten::mm", "aten::bmm", "aten::convolution",
             "aten::convolution_backward", "aten::relu"]
    ours = _kernel_counts(ember, ember.profiler, build, x_shape, names)
    assert ours == _kernel_counts(torch, tprof, build, x_shape, names)
    assert ours["aten::mm"] > 0


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 2, 3, 4), (2, 4, 5)),
    ((4,), (4,)), ((3, 4), (4,)), ((3,), (3, 4)), ((2, 3, 4), (4,)), ((3,), (2, 3, 4))])
def test_matmul_reports_torchs_kernel(a_shape, b_shape):
    def kernel(lib, prof_mod):
        a, b = lib.ones(*a_shape), lib.ones(*b_shape)
        with prof_mod.profile() as p:
            lib.matmul(a, b)
        matmul = next(e for e in p.events() if e.name == "aten::matmul")
        return [c.name for c in matmul.cpu_children if c.name in
                ("aten::mm", "aten::bmm", "aten::mv", "aten::dot")]
    assert kernel(ember, ember.profiler) == kernel(torch, tprof)


def _backward_names(lib, prof_mod) -> list[str]:
    x = lib.ones(3, 4, requires_grad=True)
    y = (x * 2).exp().relu().sum()
    with prof_mod.profile() as p:
        y.backward()
    # torch also wraps each node in an "autograd::engine::evaluate_function: <node>" range
    return [e.name for e in p.events() if e.name.endswith("Backward0") and ":" not in e.name]


def test_backward_events_are_named_as_torchs_nodes():
    assert _backward_names(ember, ember.profiler) == _backward_names(torch, tprof) == [
        "SumBackward0", "ReluBackward0", "ExpBackward0", "MulBackward0"]


def _model_backward_names(lib, prof_mod) -> set[str]:
    """Ops that are one op in both libraries (no composite matmul or reshape, whose torch
    nodes are the kernels they decompose into)."""
    n, F = lib.nn, lib.nn.functional
    lib.manual_seed(0)
    emb, ln, conv, pool = n.Embedding(10, 8), n.LayerNorm(8), n.Conv2d(1, 2, 3), n.MaxPool2d(2)
    x = lib.ones(1, 1, 6, 6, requires_grad=True)
    h = ln(emb(lib.tensor([[1, 2, 3, 4]])))
    y = (F.log_softmax(h, -1).mean() + pool(lib.relu(conv(x))).sum() + F.gelu(h).sum()
         + lib.softmax(h, -1).pow(2).sum() + F.nll_loss(h.select(0, 0), lib.tensor([1, 2, 3, 4]))
         + h.max(-1).values.sum() + h.var())
    with prof_mod.profile() as p:
        y.backward()
    return {e.name for e in p.events() if e.name.endswith("Backward0") and ":" not in e.name}


def test_backward_events_of_nn_ops_are_named_as_torchs_nodes():
    """Node names follow torch's rule from the op's ``aten`` name (``native_layer_norm`` ->
    ``NativeLayerNormBackward0``, ``max_pool2d_with_indices`` ->
    ``MaxPool2DWithIndicesBackward0``): ``Op._backward_name``, read by ``grad_fn.name()``
    and the profiler alike."""
    ours, theirs = _model_backward_names(ember, ember.profiler), _model_backward_names(torch, tprof)
    assert ours == theirs, (f"not torch's node names: {sorted(ours - theirs)}; torch's: "
                            f"{sorted(theirs - ours)}")


# ---- no profiler, no recording ---------------------------------------------------------------

def test_nothing_recorded_outside_the_profiler():
    a = ember.ones(2, 2, requires_grad=True)
    with record_function("before"):   # no profiler: a no-op
        a * 2
    with profile() as prof:
        y = (a * 3).sum()
    assert STATE.modes == []
    n = len(prof.events())
    with record_function("after"):
        y.backward()                  # the stopped profiler observes nothing
        a * 4
    assert len(prof.events()) == n
    assert {e.name for e in prof.events()} == {"aten::mul", "aten::sum"}


def test_only_one_profiler_records_at_a_time():
    with profile():
        with pytest.raises(RuntimeError, match="already recording"):
            with profile():
                pass
    assert STATE.modes == []


def test_cuda_activity_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="CPU only"):
        prof = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
    t = ember.ones(2)
    with prof:
        t + 1
    assert counts(prof) == {"aten::add": 1}


# ---- the table ---------------------------------------------------------------------------

def _columns(table: str) -> list[str]:
    return re.split(r"\s{2,}", table.splitlines()[1].strip())


def _torch_table(**kwargs) -> str:
    m = torch.nn.Linear(3, 2)
    with tprof.profile(activities=[tprof.ProfilerActivity.CPU],
                       record_shapes=kwargs.pop("record_shapes", False),
                       profile_memory=kwargs.pop("profile_memory", False)) as p:
        m(torch.ones(4, 3)).sum()
    return p.key_averages(**kwargs).table()


@pytest.mark.parametrize("opts", [{}, {"profile_memory": True},
                                  {"record_shapes": True, "group_by_input_shape": True},
                                  {"record_shapes": True, "profile_memory": True,
                                   "group_by_input_shape": True}])
def test_table_has_torchs_columns_and_layout(opts):
    model = mlp()
    kw = dict(opts)
    group = kw.pop("group_by_input_shape", False)
    with profile(**kw) as prof:
        model(ember.ones(4, 8)).sum()
    table = prof.key_averages(group_by_input_shape=group).table()
    expected = _torch_table(**opts)
    assert _columns(table) == _columns(expected)
    lines = table.splitlines()
    tlines = expected.splitlines()
    # rule / header / rule, rows, rule, footer, as torch; each row as wide as the rule
    assert lines[0] == lines[2] == lines[-2] and set(lines[0]) == {"-", " "}
    widths, twidths = [len(s) for s in lines[0].split()], [len(s) for s in tlines[0].split()]
    if group:  # the shapes column is as wide as the longest shapes + 4
        assert widths.pop() == max(len(str(e.input_shapes)) for e in prof.key_averages(
            group_by_input_shape=True)) + 4
        twidths.pop()
    assert widths[1:] == twidths[1:]
    assert all(len(line) == len(lines[0]) for line in lines[:-1])
    assert re.fullmatch(r"Self CPU time total: \d+\.\d{3}(us|ms|s)", lines[-1])
    assert lines[0].index(" ") == max(len(e.key) for e in prof.key_averages()) + 4


@pytest.mark.parametrize("sort_by", ["self_cpu_time_total", "cpu_time_total",
                                     "cpu_memory_usage", "self_cpu_memory_usage", "count"])
def test_table_sorts_and_limits_rows(sort_by):
    model = mlp()
    with profile(profile_memory=True) as prof:
        model(ember.ones(4, 8)).sum().backward()
    avgs = prof.key_averages()
    table = avgs.table(sort_by=sort_by, row_limit=4)
    rows = table.splitlines()[3:-2]
    assert len(rows) == 4
    by_key = {e.key: e for e in avgs}
    names = [re.split(r"\s{2,}", r.strip())[0] for r in rows]
    values = [getattr(by_key[n], sort_by) for n in names]
    assert values == sorted(values, reverse=True)
    assert values[0] == max(getattr(e, sort_by) for e in avgs)


def test_long_names_are_cut_as_torch_does():
    name = "x" * 70
    with profile() as prof:
        with record_function(name):
            pass
    row = prof.key_averages().table().splitlines()[3]
    assert row.startswith("x" * 52 + "...")


# ---- Chrome trace -----------------------------------------------------------------------------

def test_chrome_trace_has_complete_events_and_fwd_bwd_flows(tmp_path):
    model = mlp()
    opt = ember.optim.SGD(model.parameters(), lr=0.1)
    with profile(record_shapes=True) as prof:
        with record_function("step"):
            train_step(model, opt, ember.randn(5, 8))
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == len(prof.events())
    for e in complete:
        assert {"name", "ts", "dur", "pid", "tid", "cat", "args"} <= set(e)
        assert e["dur"] >= 0
    step = next(e for e in complete if e["name"] == "step")
    assert step["cat"] == "user_annotation"
    assert all(step["ts"] <= e["ts"] and e["ts"] + e["dur"] <= step["ts"] + step["dur"] + 1e-3
               for e in complete)
    linear = next(e for e in complete if e["name"] == "aten::linear")
    assert linear["args"]["Input Dims"] == [[5, 8], [16, 8], [16]]
    assert linear["args"]["Input type"] == ["float", "float", "float"]

    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    finishes = {e["id"]: e for e in events if e["ph"] == "f"}
    assert starts and starts.keys() == finishes.keys()
    by_ts = {}
    for e in complete:
        by_ts.setdefault(e["ts"], []).append(e)
    backward_names = set()
    for flow_id, s in starts.items():
        f = finishes[flow_id]
        assert s["cat"] == f["cat"] == "fwdbwd" and f["bp"] == "e"
        assert s["ts"] < f["ts"]
        fwd = [e for e in by_ts[s["ts"]] if e["args"].get("Sequence number") == flow_id]
        bwd = [e for e in by_ts[f["ts"]] if e["args"].get("Sequence number") == flow_id]
        assert fwd[0]["name"].startswith("aten::")
        assert bwd[0]["name"].endswith("Backward0")
        backward_names.add(bwd[0]["name"])
    assert backward_names == {"LinearBackward0", "ReluBackward0", "SumBackward0"}


# ---- schedules ---------------------------------------------------------------------------

SCHEDULES = [dict(wait=1, warmup=1, active=2), dict(wait=1, warmup=1, active=2, repeat=2),
             dict(wait=0, warmup=1, active=1, repeat=3, skip_first=2),
             dict(wait=2, warmup=1, active=3, skip_first=1, skip_first_wait=1)]


@pytest.mark.parametrize("kw", SCHEDULES)
@pytest.mark.parametrize("steps", [3, 9])
def test_schedule_matches_torch(kw, steps):
    def run(lib, prof_mod):
        ready = []

        def on_ready(p):
            c = {e.key.split("::")[-1]: e.count for e in p.key_averages()}
            steps = sorted(e.trace_name for e in p.events() if e.name == "ProfilerStep*")
            ready.append((c.get("ProfilerStep*"), c.get("mul"), steps))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = prof_mod.schedule(**kw)
            actions = [sched(i) for i in range(steps + 2)]
            with prof_mod.profile(schedule=sched, on_trace_ready=on_ready) as p:
                for _ in range(steps):
                    lib.ones(3) * 2
                    p.step()
        return ready, [a.name for a in actions]

    assert run(ember, ember.profiler) == run(torch, tprof)


def test_schedule_arguments_are_checked():
    with pytest.raises(AssertionError, match="Invalid profiler schedule"):
        schedule(wait=0, warmup=0, active=0)
    with pytest.warns(UserWarning, match="won't be using warmup"):
        fn = schedule(wait=1, warmup=0, active=1)
    assert [fn(i) for i in range(4)] == [ProfilerAction.NONE, ProfilerAction.RECORD_AND_SAVE] * 2


def test_tensorboard_trace_handler_writes_one_trace_per_cycle(tmp_path):
    with profile(schedule=schedule(wait=1, warmup=1, active=1, repeat=2),
                 on_trace_ready=tensorboard_trace_handler(str(tmp_path), "worker")) as p:
        for _ in range(8):
            ember.ones(3) * 2
            p.step()
    files = sorted(tmp_path.iterdir())
    assert len(files) == 2
    for f in files:
        assert f.name.startswith("worker.") and f.name.endswith(".pt.trace.json")
        names = {e["name"] for e in json.loads(f.read_text())["traceEvents"]}
        assert "aten::mul" in names


def test_gzipped_trace(tmp_path):
    with profile(on_trace_ready=tensorboard_trace_handler(str(tmp_path), use_gzip=True)):
        ember.ones(3) * 2
    (path,) = tmp_path.iterdir()
    assert path.name.endswith(".pt.trace.json.gz")
    with gzip.open(path, "rt") as f:
        assert any(e["name"] == "aten::mul" for e in json.load(f)["traceEvents"])


def test_results_need_a_finished_recording():
    p = profile(schedule=schedule(wait=5, warmup=1, active=1))
    with p:
        ember.ones(2) * 2
        with pytest.raises(RuntimeError, match="didn't finish"):
            p.events()
    with pytest.raises(RuntimeError, match="didn't finish"):  # the schedule never recorded
        p.key_averages()
