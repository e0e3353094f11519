"""``ember.compile``: compiled programs equal eager ones (every conformance entry, values
and gradients; whole models over 50 training steps), and guards, recompiles, graph breaks
and ``fullgraph`` behave as documented."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from bench import models, models_zoo
from tests.op_samples import _leaves, _outputs, _to_ember
from tests.test_conformance import OPS as ENTRIES

# ---- every op of the table, through the compiler ------------------------------------------


def _close(a, b, tol: float) -> None:
    if isinstance(a, ember.Tensor):
        x, y = a.detach().numpy(), b.detach().numpy()
        assert x.shape == y.shape and x.dtype == y.dtype
        if x.dtype.kind in "fc":
            np.testing.assert_allclose(y, x, rtol=tol, atol=tol, equal_nan=True)
        else:
            np.testing.assert_array_equal(y, x)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for p, q in zip(a, b):
            _close(p, q, tol)
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


def _run(entry, sample, dt: str, compiled: bool) -> list:
    """Two calls (the second runs the generated code), each with its gradients."""
    grad = entry.grad and dt == "float64"
    args = [_to_ember(a, grad and j not in entry.skip_grad_args)
            for j, a in enumerate(sample.args)]

    def fn(*a):
        return entry.fn(ember, *a, **sample.kwargs)
    if compiled:
        fn = ember.compile(fn)
    results = []
    for _ in range(2):
        ember.manual_seed(0)
        out = fn(*args)
        outs = _outputs(out) if grad else []
        grads = None
        if outs:
            grads = ember.autograd.grad(outs, _leaves(args), [ember.ones_like(o) for o in outs],
                                        allow_unused=True)
        results.append((out, grads))
    return results


@pytest.mark.parametrize("entry", ENTRIES, ids=str)
def test_every_op_compiled_equals_eager(entry):
    """Values (float32 1e-5, float64 1e-10) and float64 gradients of the first sample in
    float32 and float64 (or the entry's first dtype), first call (capture) and second call
    (generated code)."""
    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dt in [d for d in ("float32", "float64") if d in entry.dtypes] or entry.dtypes[:1]:
            sample = entry.samples(dt, np.random.default_rng(0))[0]
            try:
                expected = _run(entry, sample, dt, compiled=False)
            except Exception:  # noqa: BLE001 -- an error-parity sample: eager rejects it too
                continue
            got = _run(entry, sample, dt, compiled=True)
            tol = 1e-5 if dt == "float32" else 1e-10
            for (o1, g1), (o2, g2) in zip(expected, got):
                if not entry.nondeterministic_values:
                    _close(o1, o2, tol)
                if g1 is not None:
                    _close([g for g in g1 if g is not None], [g for g in g2 if g is not None],
                           tol)
            checked += 1
    if not checked:
        pytest.skip("every sample is an error-parity sample")


# ---- whole models: the same losses over 50 training steps ---------------------------------


def _losses(make_model, batches, compiled: bool, steps: int = 50, opt="adam") -> list:
    ember.manual_seed(0)
    model = make_model()
    params = list(model.parameters())
    opt = ember.optim.Adam(params, lr=1e-3) if opt == "adam" else \
        ember.optim.SGD(params, lr=0.05, momentum=0.9)
    fn = ember.compile(model) if compiled else model
    losses = []
    for i in range(steps):
        x, y = batches[i % len(batches)]
        opt.zero_grad()
        out = fn(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _digits_batches():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(5):
        idx = rng.choice(len(x), 64, replace=False)
        out.append((ember.from_numpy(x[idx]), ember.from_numpy(d.target[idx].astype(np.int64))))
    return out


def _token_batches(vocab: int, batch: int, length: int):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(4):
        seq = rng.integers(0, vocab, (batch, length + 1))
        out.append((ember.from_numpy(seq[:, :-1].copy()), ember.from_numpy(seq[:, 1:].copy())))
    return out


@pytest.mark.parametrize("name", ["digits_cnn", "gpt", "lstm_lm"])
def test_models_train_to_the_same_losses(name):
    if name == "digits_cnn":
        make, batches, opt = (lambda: models_zoo.digits_cnn(ember)), _digits_batches(), "sgd"
    elif name == "gpt":
        make = lambda: models.gpt(ember, vocab=32, width=32, heads=2, layers=2,  # noqa: E731
                                  context=16)
        batches, opt = _token_batches(32, 4, 16), "adam"
    else:
        make = lambda: models_zoo.lstm_lm(ember, vocab=32, width=16, layers=2)  # noqa: E731
        batches, opt = _token_batches(32, 4, 12), "adam"
    eager = _losses(make, batches, compiled=False, opt=opt)
    compiled = _losses(make, batches, compiled=True, opt=opt)
    assert eager[-1] < eager[0]  # it trains
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)


# ---- guards, recompiles, graph breaks, fullgraph ------------------------------------------


def test_guard_miss_recompiles_and_limit_falls_back_with_the_failed_guard():
    calls = []

    def f(x):
        calls.append(1)  # Python side effects run only when the function is captured
        return (x * 2).sum(0)

    cf = ember.compile(f)
    a, b = ember.randn(3, 4), ember.randn(5, 4)
    for x in (a, a, b, b):
        np.testing.assert_allclose(cf(x).numpy(), (x * 2).sum(0).numpy(), rtol=1e-6)
    assert len(calls) == 2 and len(cf.cache) == 2  # one capture per shape
    cf(a.double())
    assert len(cf.cache) == 3  # dtype is guarded too
    old = ember.compiler.config.cache_size_limit
    ember.compiler.config.cache_size_limit = 3
    try:
        with pytest.warns(UserWarning, match=r"arg0: expected \(\(3, 4\), dtype\('float64'\)"
                          r".*got \(\(7, 4\)"):
            out = cf(ember.randn(7, 4, dtype=ember.float64))
        assert out.shape == (4,)
    finally:
        ember.compiler.config.cache_size_limit = old


def test_guards_on_grad_mode_training_flag_and_python_arguments():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    cm = ember.compile(model)
    x = ember.randn(8, 4)
    model.eval()
    with ember.no_grad():
        np.testing.assert_allclose(cm(x).numpy(), model(x).numpy(), rtol=1e-6)
    model.train()
    ember.manual_seed(1)
    y = cm(x)
    assert (y == 0).any()  # dropout is active again: the eval program was not reused
    assert len(cm._compiled.cache) == 2

    cf = ember.compile(lambda x, k: x * k)
    assert cf(x, 2).allclose(x * 2) and cf(x, 3).allclose(x * 3)
    assert len(cf.cache) == 2


def test_graph_break_runs_eagerly_and_is_explained():
    def f(x):
        y = x.sin()
        if y.sum() > 0:  # data-dependent control flow
            return y * 2
        return y - 1

    cf = ember.compile(f)
    for x in (ember.ones(3), -ember.ones(3), ember.ones(3)):
        np.testing.assert_allclose(cf(x).numpy(), f(x).numpy())
    report = ember.compile.explain(f, ember.ones(3))
    assert report.graph_break_count == 1
    reason = report.break_reasons[0]
    assert "item" in reason.reason and reason.location.endswith(
        f"test_compile.py:{f.__code__.co_firstlineno + 2}")
    assert report.graph_count == 2  # recording goes on after the break, in a new graph
    assert report.ops_per_graph == [["sin", "sum", "gt"], ["mul"]]
    assert "Graph Break Count: 1" in str(report)


def _generated_calls(fn) -> dict[str, int]:
    """``fn()``'s calls of generated (compiled) functions, by name."""
    import sys
    calls: dict[str, int] = {}

    def prof(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith("<ember.compile:"):
            calls[frame.f_code.co_name] = calls.get(frame.f_code.co_name, 0) + 1
    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


def test_graph_break_compiles_the_graph_before_it():
    """A module whose forward breaks at ``.item()``: the graph before the break runs as
    a compiled program (forward and backward), the rest eagerly; values and gradients
    equal eager's, on every call."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 3)

        def forward(self, x):
            h = F.gelu(self.a(x)) * 2 + 1
            scale = h.abs().mean().item()  # the break
            return self.b(h / scale).tanh()

    ember.manual_seed(0)
    model = Net()
    cm = ember.compile(model)

    def step(fn, x):
        model.zero_grad()
        out = fn(x)
        (out * ember.arange(3.0)).sum().backward()
        return [out.detach().numpy().copy()] + [p.grad.numpy().copy()
                                               for p in model.parameters()]
    for i in range(3):
        x = ember.randn(5, 4) * (i + 1)
        want = step(model, x)
        got: list = []
        calls = _generated_calls(lambda: got.extend(step(cm, x)))  # noqa: B023
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        if i:  # (the first call captures and compiles)
            assert calls == {"Net_forward": 1, "Net_backward": 1}
    (prog,) = cm._compiled.cache.values()
    assert prog.prefix is not None and len(prog.breaks) == 1
    assert "# gelu" in prog.forward.__source__ and "# tanh" not in prog.forward.__source__
    report = ember.compile.explain(model, x)
    assert (report.graph_count, report.graph_break_count) == (2, 1)


def test_graph_break_prefix_falls_back_when_another_branch_reads_more():
    """After the break, a branch the capture did not take reads a value of the graph
    before it that the program does not return: that call (and the key's later ones)
    runs eagerly, with eager's values."""
    def f(x):
        y, z = x.sin(), x.cos() * 3
        if y.sum() > 0:
            return y * 2
        return z + 1

    cf = ember.compile(f)
    for x in (ember.ones(3), ember.ones(3), -ember.ones(3), -ember.ones(3)):
        np.testing.assert_allclose(cf(x).numpy(), f(x).numpy())
    (prog,) = cf.cache.values()
    assert prog.prefix is None and prog.breaks


def test_fullgraph_turns_a_break_into_an_error():
    def f(x):
        return x * x.sum().item()

    with pytest.raises(ember.compiler.GraphBreak, match=r"item.*test_compile.py:\d+"):
        ember.compile(f, fullgraph=True)(ember.ones(2))


def test_custom_function_and_out_arguments_break():
    class Double(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    report = ember.compile.explain(lambda x: Double.apply(x) + 1, ember.ones(2))
    assert "autograd.Function" in report.break_reasons[0].reason
    out = ember.empty(2)
    report = ember.compile.explain(lambda x: ember.add(x, 1, out=out), ember.ones(2))
    assert "out=" in report.break_reasons[0].reason


def test_compiled_module_shares_parameters_and_state_dict_prefix():
    model = nn.Linear(3, 2)
    cm = ember.compile(model)
    x = ember.randn(4, 3)
    cm(x)
    with ember.no_grad():
        model.weight.mul_(0)  # an in-place update of a parameter is seen by the program
    np.testing.assert_allclose(cm(x).detach().numpy(),
                               np.broadcast_to(model.bias.detach().numpy(), (4, 2)), rtol=1e-6)
    assert list(cm.state_dict()) == ["_orig_mod.weight", "_orig_mod.bias"]
    assert cm.in_features == 3


def test_generated_code_is_readable_python():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    cm = ember.compile(model)
    with ember.no_grad():
        cm(ember.randn(2, 3))
    prog = next(iter(cm._compiled.cache.values()))
    src = prog.forward.__source__
    assert src.startswith("def ") and "# linear" in src and "# relu" in src
    assert "Tensor" not in src  # arrays only: no dispatcher, no autograd in the hot path


@pytest.mark.parametrize("opt_name", ["adamw", "sgd"])
def test_compiled_optimizer_step_reads_lr_schedule_at_run_time(opt_name):
    """``compile(opt.step)``: the first step (which makes the state) runs eagerly; later
    steps read the live gradients and state (new ``.grad`` tensors every ``zero_grad``)
    and the hyperparameters as runtime inputs: a scheduler changing ``lr`` every step
    for 20 steps compiles once and gives eager's parameters."""
    def run(compiled: bool):
        ember.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        opt = (ember.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.95))
               if opt_name == "adamw" else
               ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3))
        sched = ember.optim.lr_scheduler.ExponentialLR(opt, 0.9)
        step = ember.compile(opt.step) if compiled else opt.step
        x, y = ember.randn(16, 4), ember.randn(16, 2)
        for _ in range(20):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            step()
            sched.step()
        return [p.detach().numpy().copy() for p in model.parameters()], step
    eager, _ = run(False)
    compiled, step = run(True)
    for a, b in zip(compiled, eager):  # (SGD: float32 rounding differs by an ulp or so,
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # with a constant lr too)
    assert len(step.cache) == 1 and not step.fallback
    assert ("_H[0]['lr']" in next(iter(step.cache.values())).forward.__source__)


def test_dynamic_shapes_one_program_for_every_batch_and_length():
    """``dynamic=True``: one program serves every batch size and sequence length >= 2
    (sizes of views, ``arange`` and the causal mask computed from the input's dims),
    forward and backward equal eager; size-1 dims are specialised, as torch does."""
    ember.manual_seed(0)
    model = models.gpt(ember, vocab=32, width=32, heads=2, layers=1, context=64)
    cm = ember.compile(model, dynamic=True)
    for b, t in [(2, 8), (3, 8), (2, 13), (4, 30)]:
        idx = ember.randint(0, 32, (b, t))
        model.zero_grad()
        model(idx).square().mean().backward()
        expected = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        out = cm(idx)
        out.square().mean().backward()
        np.testing.assert_allclose(out.detach().numpy(), model(idx).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)
        for p, g in zip(model.parameters(), expected):
            np.testing.assert_allclose(p.grad.numpy(), g.numpy(), rtol=1e-4, atol=1e-6)
    assert len(cm._compiled.dynamic_programs) == 1 and not cm._compiled.cache
    cm(ember.randint(0, 32, (1, 5)))  # batch 1: a specialised program of its own
    assert len(cm._compiled.dynamic_programs) == 2


def test_dynamic_falls_back_to_a_program_per_shape_when_sizes_do_not_fit():
    """A size used as a float (not an integer of the graph) cannot be fitted: that dim
    stays static, so each of its sizes gets its own program, still correct."""
    cf = ember.compile(lambda x: x * (1.0 / x.shape[0]), dynamic=True)
    for n in (3, 4, 6):
        x = ember.randn(n, 2)
        np.testing.assert_allclose(cf(x).numpy(), (x / n).numpy(), rtol=1e-6)
    assert len(cf.cache) + len(cf.dynamic_programs) == 3


def test_module_compile_in_place_keeps_state_dict_keys():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = ember.randn(5, 3)
    expected = model(x).detach().numpy()
    model.compile()
    for _ in range(2):
        np.testing.assert_allclose(model(x).detach().numpy(), expected, rtol=1e-6)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(model._compiled_call_impl.cache) == 1
    model(x).sum().backward()
    assert model[0].weight.grad is not None


def test_cse_keeps_apart_values_written_in_place_or_returned():
    """Two equal expressions whose result one later writes in place (or returns to the
    caller, who may) are not merged: each keeps its own array, as in torch."""
    import torch

    def f(lib, x):
        a = x + 1
        b = x + 1
        a.add_(1)
        return a * 1, b * 1, lib.zeros(3), lib.zeros(3)
    compiled = ember.compile(lambda x: f(ember, x))
    x = ember.ones(3)
    want = [t.numpy() for t in f(torch, torch.ones(3))]
    for _ in range(3):  # capture, then the generated code
        out = compiled(x)
        for got, exp in zip(out, want):
            np.testing.assert_array_equal(got.numpy(), exp)
    out[2].add_(5)  # the two returned zeros are two arrays
    np.testing.assert_array_equal(out[3].numpy(), np.zeros(3))


def test_inlined_views_handle_inputs_of_other_strides():
    """``view``/``reshape``/``permute``/``split`` are NumPy expressions in generated code;
    guards do not check strides, so a later call with a non-contiguous input of the same
    shape takes the kernel's path: reshape copies, view raises torch's error."""
    import torch

    def f(lib, x):
        a, b = x.reshape(4, 6).permute(1, 0).split([2, 2], dim=1)
        return a.reshape(-1) * 2 + b.reshape(-1)
    compiled = ember.compile(lambda x: f(ember, x))
    base = np.arange(24, dtype=np.float32).reshape(6, 4)
    assert "transpose(" in _generated(compiled, ember.from_numpy(base.T.copy()))
    for arr in (base.T.copy(), base.T):  # contiguous, then a transposed layout
        got = compiled(ember.from_numpy(arr)).numpy()
        np.testing.assert_array_equal(got, f(torch, torch.from_numpy(arr.copy())).numpy())
    viewed = ember.compile(lambda x: x.view(-1) * 2)
    viewed(ember.from_numpy(base.T.copy()))
    viewed(ember.from_numpy(base.T.copy()))
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        viewed(ember.from_numpy(base.T))


def _generated(compiled, *args) -> str:
    """The forward source of ``compiled`` after calling it on ``args``."""
    compiled(*args)
    prog = next(iter(compiled.cache.values()))
    return prog.forward.__source__


def _compiled_node(t):
    """The autograd node of a compiled program that ``t`` comes from."""
    node = t.grad_fn
    while node.name() != "CompiledFunctionBackward":
        node = next(n for n, _ in node.next_functions if n is not None)
    return node


def test_compiled_backward_frees_saved_arrays_unless_the_graph_is_retained():
    """What a compiled forward keeps for backward is dropped when backward runs (freed one
    by one after its last use, so backward's peak is lower than with retain_graph=True,
    which keeps them for a second backward, as torch does); a second backward without
    retain_graph raises torch's error."""
    import tracemalloc

    import torch

    def f(lib, *xs):  # gradients made one by one, while the saved arrays are freed
        y = xs[0].sin()
        for x in xs[1:]:
            y = (y * x).sin()
        return y.sum()
    arr = np.linspace(0, 1, 1 << 16)
    xs = [ember.from_numpy(arr * (i + 1)).requires_grad_() for i in range(6)]
    compiled = ember.compile(lambda *xs: f(ember, *xs))
    for _ in range(2):
        compiled(*xs).backward()  # capture, then the generated code
    peaks = {}
    for retain in (False, True):
        for x in xs:
            x.grad = None
        tracemalloc.start()
        y = compiled(*xs)
        y.backward(retain_graph=retain)
        peaks[retain] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert (type(_compiled_node(y)._saved) is tuple) == retain  # else freed
    assert peaks[False] < peaks[True] - 2 * arr.nbytes  # saved arrays freed on the way
    y.backward()  # the retained graph: a second backward, gradients accumulate
    xts = [torch.from_numpy(arr * (i + 1)).requires_grad_() for i in range(6)]
    f(torch, *xts).backward()
    for x, xt in zip(xs, xts):
        np.testing.assert_allclose(x.grad.numpy(), 2 * xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


@pytest.mark.parametrize("log", [False, True])
def test_scale_mask_softmax_fuses_into_one_row_kernel(log):
    """Attention's scale, causal mask and softmax (log-softmax) over the last dim run as
    one fused row kernel (chosen over the separate kernels when faster) equal to torch,
    for float32 and float64, with the mask broadcast over batch and heads."""
    import torch

    def f(lib, x):
        mask = lib.ones(x.shape[-1], x.shape[-1], dtype=lib.bool).tril()
        att = (x * 0.3).masked_fill(~mask, float("-inf"))
        return (lib.log_softmax if log else lib.softmax)(att, dim=-1)
    rng = np.random.default_rng(0)
    for dtype, tol in ((np.float32, 1e-6), (np.float64, 1e-13)):
        arr = rng.standard_normal((2, 3, 9, 9)).astype(dtype)
        compiled = ember.compile(lambda x: f(ember, x))
        for _ in range(3):
            got = compiled(ember.from_numpy(arr)).numpy()
        (prog,) = compiled.cache.values()
        (fused,) = [n.op for n in prog.graph.nodes if getattr(n.op, "row", False)]
        assert fused.name.endswith("softmax")
        fused._use_fused = True  # (whichever the timing chose: the kernel is what is tested)
        got = compiled(ember.from_numpy(arr)).numpy()
        want = f(torch, torch.from_numpy(arr)).numpy()
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("mask", ["causal", "none", "other"])
def test_written_out_attention_runs_the_fused_attention_kernels(mask):
    """``softmax(masked_fill(q @ k^T / sqrt(d), ~tril, -inf)) @ v`` (and without a mask)
    becomes one fused attention node forward and one backward, equal to torch (values and
    the gradients of q, k, v); another mask (here ``~triu``) keeps the ops written out."""
    import torch

    def f(lib, q, k, v):
        att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        if mask != "none":
            keep = lib.ones(q.shape[-2], q.shape[-2], dtype=lib.bool)
            keep = keep.tril() if mask == "causal" else keep.triu()
            att = att.masked_fill(~keep, float("-inf"))
        return lib.softmax(att, dim=-1) @ v
    rng = np.random.default_rng(0)
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        arrays = [rng.standard_normal((2, 3, 7, 5)).astype(dtype) for _ in range(3)]
        compiled = ember.compile(lambda q, k, v: f(ember, q, k, v))
        for _ in range(2):
            xs = [ember.from_numpy(a).requires_grad_() for a in arrays]
            got = compiled(*xs)
            got.backward(ember.from_numpy(np.cos(got.detach().numpy())))
        ts = [torch.from_numpy(a).requires_grad_() for a in arrays]
        want = f(torch, *ts)
        want.backward(torch.cos(want.detach()))
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol,
                                   atol=tol)
        for x, t in zip(xs, ts):
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)
        (prog,) = compiled.cache.values()
        names = {n.name for g in (prog.graph, prog.backward_graph) for n in g.nodes}
        fused = {"fused_attention", "fused_attention_backward"}
        assert fused <= names if mask != "other" else not fused & names


def test_fused_kernel_in_pieces_on_threads_equals_one_piece(monkeypatch):
    """A fused kernel over a large array, cut into pieces run on two threads (flat, row
    and broadcast kernels), gives what one piece gives."""
    from ember.compiler import fusion

    calls = []

    def two_threads(work, threshold):  # (however busy the machine is)
        calls.append(work)
        return 2

    def f(x, b):
        return ember.softmax((x * 0.5 + b).tanh() * 2.0, dim=-1), (x * b).sigmoid() - x
    rng = np.random.default_rng(0)
    x = ember.from_numpy(rng.standard_normal((4, 3, 96, 80)).astype(np.float32))
    b = ember.from_numpy(rng.standard_normal(80).astype(np.float32))
    compiled = ember.compile(f)
    compiled(x, b)
    compiled(x, b)
    (prog,) = compiled.cache.values()
    ops = [n.op for n in prog.graph.nodes if isinstance(n.op, fusion.FusedOp)]
    assert len(ops) == 2 and any(op.row for op in ops)
    monkeypatch.setattr(fusion, "threads_for", two_threads)
    results = []
    for split in (False, True):
        for op in ops:
            op._use_fused, op._split = True, split
        results.append([t.numpy() for t in compiled(x, b)])
    assert len(calls) == 2  # both kernels ran in pieces
    for a, c in zip(*results):
        np.testing.assert_array_equal(a, c)


def test_fused_kernel_divides_by_zero_as_eager():
    """A fused chain's division by zero gives inf and nan as the eager ops do (NumPy's
    error model in the kernel), also when the zeros come after the kernel was chosen."""
    def f(x, y):
        return (x / y + 1.0) * 2.0
    x = ember.from_numpy(np.array([1.0, -1.0, 0.0, 2.0], np.float32))
    ones, zeros = ember.ones(4), ember.zeros(4)
    compiled = ember.compile(f)
    compiled(x, ones)
    compiled(x, ones)
    (prog,) = compiled.cache.values()
    (node,) = prog.graph.nodes
    node.op._use_fused = True  # (whichever the timing chose: the kernel is what is tested)
    got = compiled(x, zeros).numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(got, f(x, zeros).numpy())
    assert np.isnan(got[2]) and np.isposinf(got[0]) and np.isneginf(got[1])


def test_compiling_call_leaves_the_random_generator_as_eager_does():
    """The call that compiles runs the generated code once more (its kernels compile
    there): the generator is put back, so a seeded sequence of calls with dropout draws
    what eager draws, call after call."""
    def f(x):
        return F.dropout(x * 2.0, 0.5) + 1.0
    x = ember.randn(64, 32)
    compiled = ember.compile(f)
    outs = {}
    for label, fn in (("eager", f), ("compiled", compiled)):
        ember.manual_seed(0)
        outs[label] = [fn(x).numpy() for _ in range(3)]
    assert compiled.cache and not compiled.fallback
    for a, b in zip(outs["eager"], outs["compiled"]):
        np.testing.assert_allclose(b, a, rtol=1e-6)


def test_cat_of_reshaped_transposes_writes_into_the_result():
    """``cat([reshape(transposed), ...])`` (the QKV gradient's shape in a transformer's
    backward) runs as one node writing each piece into its block, equal to torch, values
    and gradients; a piece whose reshape is read elsewhere keeps the written-out ops."""
    import torch

    def f(lib, a, b, share):
        pieces = [x.transpose(1, 2).reshape(2, 5, 12) for x in (a, b)]
        out = lib.cat(pieces, dim=2) * 3.0
        return out + pieces[0].sum() if share else out
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3, 5, 4)) for _ in range(2)]
    for share in (False, True):
        compiled = ember.compile(functools.partial(f, ember, share=share))
        for _ in range(2):
            xs = [ember.from_numpy(a).requires_grad_() for a in arrays]
            got = compiled(*xs)
            got.backward(ember.from_numpy(np.sin(got.detach().numpy())))
        ts = [torch.from_numpy(a).requires_grad_() for a in arrays]
        want = f(torch, *ts, share)
        want.backward(torch.sin(want.detach()))
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
        for x, t in zip(xs, ts):
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
        (prog,) = compiled.cache.values()
        names = [n.name for n in prog.graph.nodes]
        assert ("fused_cat_reshaped" in names) != share
