"""``ember.compile``: guards, the cache of compiled programs, and how a compiled program
runs -- plain (inference) or as one autograd node whose backward is the compiled backward
graph (training).

A call looks up its *guard key* -- grad mode, each tensor argument's shape, dtype and
``requires_grad``, the value of every other argument, the ``training`` flag of every
module the function uses, and the shapes and dtypes of the parameters -- in the cache. A
miss captures the function on the call's real inputs (that call's result is the eager
one), runs the passes, generates code and runs it once on those inputs (so its kernels
compile in this call, see ``_warm``); the next calls with the same key run the generated
code. A capture that breaks (see ``capture``) makes that key run eagerly, and
with ``fullgraph=True`` raises instead. Past ``config.cache_size_limit`` keys, a warning
names the guard that failed and the function runs eagerly from then on.
"""

from __future__ import annotations

import functools
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._dispatch import DispatchMode, Op
from .._state import STATE
from .._tensor import Tensor, _make
from ..autograd.grad_mode import no_grad
from ..autograd.graph import _FREED, run_backward
from . import attention, concat, fusion, hyper, passes
from .capture import capture, close_prefix
from .codegen import debug_dump, generate, rebuild
from .dynamic import Sym, apply_symbols, fit_dynamic
from .graph import Graph, Node, Value, tree_leaves
from .scalar_rules import LIBM, RULES
from .sources import module_sources, optimizer_guard, optimizer_of, optimizer_sources

__all__ = ["compile", "CompiledFunction", "config", "explain", "reset", "ExplainOutput"]


class config:  # noqa: N801 -- torch._dynamo.config's spelling
    """Knobs of the compiler (class attributes, as ``torch._dynamo.config``)."""

    cache_size_limit = 8       # guard keys per function before falling back to eager
    suppress_errors = False    # an error while compiling: warn and run eagerly
    # a compiled backward frees each saved activation after its last use (as eager's engine
    # does; gpt_train: backward's peak 97 -> 87 MiB). False keeps them to backward's end:
    # ~3% faster there (fewer fresh pages for later allocations), a higher peak
    free_saved_in_backward = True


@dataclass
class _Program:
    """What one guard key runs: generated forward (and backward), or eager (``breaks``)."""

    forward: Any = None
    backward: Any = None   # the generated backward function (``backward_op`` calls it)
    backward_op: type | None = None
    externs: list = field(default_factory=list)   # sources of the tensors read per call
    out_spec: Any = None
    graph: Graph | None = None
    backward_graph: Graph | None = None
    breaks: list = field(default_factory=list)
    prefix: list | None = None  # with a break: the ops the program replaces (``_Replay``)
    compile_seconds: float = 0.0


class CompiledFunction:
    """``fn`` with its compiled programs, one per guard key."""

    def __init__(self, fn, *, fullgraph: bool = False, dynamic: bool | None = None,
                 mode: str | None = None, module=None):
        self.fn, self.fullgraph, self.dynamic, self.mode = fn, fullgraph, dynamic, mode
        self.module = module
        self.cache: dict[tuple, _Program] = {}
        self.dynamic_programs: list[tuple[tuple, _Program]] = []  # (key pattern, program)
        self.last_key: tuple | None = None
        self.fallback = False
        self.runtime_hypers: set[tuple[int, str]] = set()  # see ``hyper``
        functools.update_wrapper(self, fn, updated=())

    # ---- guards -----------------------------------------------------------------------

    def _used_modules(self) -> list:
        from ..nn.modules.module import Module
        if self.module is not None:
            return [self.module]
        found, fn = [], self.fn
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, Module):
            found.append(owner)
        code = getattr(fn, "__code__", None)
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                if isinstance(cell.cell_contents, Module):
                    found.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        if code is not None:
            g = getattr(fn, "__globals__", {})
            found += [g[n] for n in code.co_names if isinstance(g.get(n), Module)]
        return found

    def guard_key(self, args: tuple, kwargs: dict) -> tuple:
        parts: list = [("grad_mode", STATE.grad_enabled)]
        for i, x in enumerate(tree_leaves((args, kwargs))):
            if isinstance(x, Tensor):
                d = x._data
                parts.append((f"arg{i}", d.shape, d.dtype, x._requires_grad))
            else:
                parts.append((f"arg{i}", type(x), _hashable(x)))
        for m in self._used_modules():
            parts += _module_guard(m)
        opt = None if self.module is not None else optimizer_of(self.fn)
        if opt is not None:
            parts.append(("optimizer", optimizer_guard(opt, self.runtime_hypers)))
        return tuple(parts)

    # ---- calling ----------------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        if self.fallback:
            return self.fn(*args, **kwargs)
        key = self.guard_key(args, kwargs)
        prog = self.cache.get(key)
        if prog is None and self.dynamic_programs:
            prog = next((p for pattern, p in self.dynamic_programs if _matches(pattern, key)),
                        None)
        if prog is None:
            if len(self.cache) + len(self.dynamic_programs) >= config.cache_size_limit:
                self.fallback = True
                warnings.warn(f"ember.compile: {_fn_name(self.fn)} hit the recompile limit "
                              f"(config.cache_size_limit={config.cache_size_limit}); last "
                              f"guard that failed: {_failed_guard(self.last_key, key)}. "
                              "Running eagerly from now on.", stacklevel=2)
                return self.fn(*args, **kwargs)
            self.last_key = key
            return self._compile(key, args, kwargs)
        self.last_key = key
        if prog.forward is None:
            return self.fn(*args, **kwargs)
        if prog.prefix is not None:
            try:
                replay = _Replay(prog, _run(prog, args, kwargs))
                with replay:
                    result = self.fn(*args, **kwargs)
                replay.check(tree_leaves(result))
                return result
            except _StalePrefix:  # this call read a value the program does not return
                prog.prefix = prog.forward = None  # eager from now on, from the start now
                return self.fn(*args, **kwargs)
        return _run(prog, args, kwargs)

    def _sources(self) -> dict:
        found: dict = {}
        for m in self._used_modules():
            prefix = "" if m is self.module else f"{type(m).__name__}."
            for k, v in module_sources(m, prefix).items():
                found.setdefault(k, v)
        opt = optimizer_of(self.fn)
        if opt is not None:
            found.update(optimizer_sources(opt))
        return found

    def _fit_dynamic(self, cap, args, kwargs, sources) -> list | None:
        """With ``dynamic=True``: fit the capture's sizes (see ``dynamic``), the extra
        captures leaving the modules' buffers and the random generator as they were."""
        from ..random import get_rng_state, set_rng_state
        externs = {k: v[:2] for k, v in sources.items()}

        def run_capture(a, k):
            rng = get_rng_state()
            buffers = [(b, b._data.copy()) for m in self._used_modules()
                       for b in m.buffers() if b is not None]
            try:
                return capture(self.fn, a, k, backward=True, externs=externs)[0]
            finally:
                set_rng_state(rng)
                for b, data in buffers:
                    b._data[...] = data
        fitted = fit_dynamic(run_capture, args, kwargs, cap)
        if fitted is None:
            return None
        symbols, dims = fitted
        apply_symbols(cap, symbols)
        return dims

    def _read_hypers(self, opt, prog: _Program, key: tuple) -> None:
        """Point the program's hyperparameter reads at ``opt.param_groups``; those it
        reads stop being guarded on their value (the cache entry is re-keyed)."""
        fns = [prog.forward] + ([prog.backward_op] if prog.backward_op is not None else [])
        read = hyper.read_by(*(getattr(f, "__source__", "") for f in fns))
        prog.forward.__globals__[hyper.GLOBAL] = opt.param_groups
        if read - self.runtime_hypers:
            self.runtime_hypers |= read
            if self.cache.get(key) is prog:
                del self.cache[key]
                new = ("optimizer", optimizer_guard(opt, self.runtime_hypers))
                self.cache[tuple(new if p[0] == "optimizer" else p for p in key)] = prog

    def _compile(self, key: tuple, args: tuple, kwargs: dict):
        opt = optimizer_of(self.fn)
        if opt is not None and any(p.grad is not None and not opt.state.get(p)
                                   for g in opt.param_groups for p in g["params"]):
            # the first step makes the optimizer's state: run it eagerly, capture the next
            return self.fn(*args, **kwargs)
        start = time.perf_counter()
        sources = self._sources()
        with hyper.wrapped(opt) if opt is not None else nullcontext():
            cap, result = capture(self.fn, args, kwargs, backward=True,
                                  externs={k: v[:2] for k, v in sources.items()})
        prog = _Program(breaks=cap.breaks)
        if cap.breaks:
            self.cache[key] = prog
            if self.fullgraph:
                raise cap.breaks[0]
            breaks = cap.breaks
            if opt is None and close_prefix(cap, result, backward=True):
                prog.prefix = cap.dispatched
                self._finish(prog, cap, sources)
            prog.breaks = breaks
            return result
        dims = self._fit_dynamic(cap, args, kwargs, sources) if self.dynamic else None
        if dims:
            self.dynamic_programs.append((_pattern(key, dims), prog))
        else:
            self.cache[key] = prog
        self._finish(prog, cap, sources)
        if opt is not None:
            self._read_hypers(opt, prog, key)
        _warm(prog, args, kwargs)
        prog.compile_seconds = time.perf_counter() - start
        return result


    def _finish(self, prog: _Program, cap, sources: dict) -> None:
        """Build ``prog`` from the capture's graphs, its externs read from ``sources``."""
        prog.graph, prog.backward_graph = cap.graph, cap.backward_graph
        prog.externs = [sources[id(t)][2] if id(t) in sources else _fixed(t)
                        for t in cap.extern_tensors.values()]
        prog.out_spec = cap.graph.out_spec
        _build(prog, _fn_name(self.fn))


class _Replay(DispatchMode):
    """Runs ``fn`` again after its compiled prefix (the graph before its break) ran: the
    prefix's ops, in the captured order, return the program's outputs (or, for a value
    nothing reads after the break, a zero-strided placeholder of its shape and dtype)
    instead of computing; the ops after the break run eagerly."""

    def __init__(self, prog: _Program, outs: list):
        self.prefix, self.i = prog.prefix, 0
        self.outs = {id(v): t for v, t in zip(prog.graph.outputs, outs)}
        self.placeholders: dict[int, Tensor] = {}

    def check(self, leaves) -> None:
        """Raise ``_StalePrefix`` where a placeholder is among ``leaves``: after the break
        Python read a value the capture did not see read (another branch taken)."""
        if any(id(x) in self.placeholders for x in leaves):
            raise _StalePrefix

    def __ember_data_read__(self, t: Tensor, what: str) -> None:
        self.check((t,))

    def __ember_dispatch__(self, op, args, kwargs):
        if self.i >= len(self.prefix):
            self.check(tree_leaves((args, kwargs)))
            return op.apply(*args, **kwargs)
        want, values, multi = self.prefix[self.i]
        if op.name != want.name:
            raise RuntimeError(f"ember.compile: the compiled prefix expected op {want.name} "
                               f"but the function ran {op.name}: its ops before the graph "
                               "break depend on something the guards do not check")
        self.i += 1
        res = tuple(self._placeholder(v) if self.outs.get(id(v)) is None else self.outs[id(v)]
                    for v in values)
        return res if multi else res[0]

    def _placeholder(self, v: Value) -> Tensor:
        t = _make(np.broadcast_to(np.zeros((), v.dtype), v.shape))
        self.placeholders[id(t)] = t
        return t


class _StalePrefix(Exception):
    """A compiled prefix's replay met a value it does not have."""


def _arguments(prog: _Program, args: tuple, kwargs: dict) -> list[Tensor]:
    tensors = [x for x in tree_leaves((args, kwargs)) if isinstance(x, Tensor)]
    return tensors + [source() for source in prog.externs]


def _warm(prog: _Program, args: tuple, kwargs: dict) -> None:
    """Run the generated forward (and backward, on gradients of ones) once on the
    capture's inputs, results dropped, when no node writes an array (random ops may: the
    generator's state is put back): the Numba kernels it
    calls compile and its fused regions choose their variant (``FusedOp``) in the call
    that compiles, not in the next one, which would otherwise take seconds on a cold
    cache (as torch.compile, all compiling happens in the first call)."""
    from ..random import get_rng_state, set_rng_state
    graphs = [g for g in (prog.graph, prog.backward_graph) if g is not None]
    if any(n.op.inplace or getattr(n.op, "_mutated_others", ()) for g in graphs
           for n in g.nodes):
        return
    rng = get_rng_state()  # (random ops draw again: the generator goes back after)
    try:
        with no_grad():
            res = prog.forward(*[t._data for t in _arguments(prog, args, kwargs)])
            if prog.backward is not None:
                saved = list(res[len(prog.graph.outputs):])
                del res
                prog.backward(saved, *[np.ones(v.shape, v.dtype)
                                       for v in prog.backward_graph.grads])
    finally:
        set_rng_state(rng)


def _run(prog: _Program, args: tuple, kwargs: dict):
    tensors = _arguments(prog, args, kwargs)
    if prog.backward_op is not None:
        outs = prog.backward_op.apply(*tensors)
    else:
        outs = [_make(a) for a in prog.forward(*[t._data for t in tensors])]
    return rebuild(prog.out_spec, list(outs))


def _build(prog: _Program, name: str) -> None:
    """Run the passes and generate the program's functions (with ``EMBER_COMPILE_DEBUG``,
    each graph is written before and after the passes)."""
    g, bw = prog.graph, prog.backward_graph
    stage = _Stages(name)
    stage("forward_captured", g)
    if bw is None:
        stats = passes.optimize(g)
        if attention.fuse_attention(g):
            stats["dce"] += passes.dce(g)
        stats["cat"] = concat.fuse_cat_of_reshapes(g)
        stage("forward_optimized", g, stats)
        stage("forward_fused", g, {"fused groups": fusion.fuse(g)})
        prog.forward = generate(g, f"{name}_forward", layouts=True)
        return
    stage("backward_captured", bw)
    stage("forward_optimized", g, passes.optimize(g, keep=_forward_reads(g, bw)))
    passes.substitute(bw, getattr(g, "replaced", {}))
    stage("backward_optimized", bw, passes.optimize_backward(bw))
    found = attention.fuse_attention(g, keep=_forward_reads(g, bw))
    if attention.fuse_attention_backward(bw, found):
        passes.dce(bw)
    concat.fuse_cat_of_reshapes(bw)
    concat.fuse_cat_of_reshapes(g, keep=_forward_reads(g, bw))
    moved = _rematerialize(g, bw)
    passes.dce(g, keep=_forward_reads(g, bw))
    stage("rematerialized", bw, {"recomputed in backward": moved})
    reads = _forward_reads(g, bw)
    stage("forward_fused", g, {"fused groups": fusion.fuse(g, keep=reads)})
    stage("backward_fused", bw, {"fused groups": fusion.fuse(bw)})
    bw.inputs = reads
    aux = {v for v in reads if v.kind == "aux"}
    fwd = generate(g, f"{name}_forward", returns=[*g.outputs, *reads], aux_needed=aux)
    bwd = generate(bw, f"{name}_backward", packed=True)
    prog.forward, prog.backward = fwd, bwd
    prog.backward_op = _backward_op(name, fwd, bwd, g, bw, len(g.outputs))


def _rematerialize(g: Graph, bw: Graph) -> int:
    """Recompute in backward, instead of saving, the outputs of cheap pointwise forward
    nodes (arithmetic, ``relu``...: no libm call) whose inputs backward has anyway: fewer
    activations live between forward and backward, for a pass over memory. Each
    recomputation goes right before its first use. Returns how many were moved."""
    reads = _forward_reads(g, bw)
    have = {id(v) for v in reads}
    returned = {id(v) for v in g.outputs if v is not None}
    moved = 0
    for v in reads:
        node = v.producer
        if v.kind != "node" or node is None or id(v) in returned or node.multi or \
                node.op.kind != "pointwise" or passes.has_effects(node) or \
                node.op.name not in RULES or node.op.name in LIBM:
            continue
        if not all(a.kind in ("input", "param", "buffer", "extern", "const") or id(a) in have
                   for a in node.inputs):
            continue
        if any(r.kind == "aux" and r.producer is node for r in reads):
            continue
        first = next(i for i, n in enumerate(bw.nodes) if any(x is v for x in n.inputs))
        bw.nodes.insert(first, Node(node.op, node.args, node.kwargs, outputs=(v,),
                                    location=node.location))
        have.discard(id(v))
        moved += 1
    return moved


class _Stages:
    """Numbered graph dumps for ``EMBER_COMPILE_DEBUG``."""

    def __init__(self, name: str):
        self.name, self.n = name, 0

    def __call__(self, stage: str, g: Graph, stats: dict | None = None) -> None:
        self.n += 1
        header = f"# {stage}: {len(g.nodes)} nodes" + (f", {stats}" if stats else "")
        debug_dump(f"{self.name}.{self.n:02d}_{stage}.txt", f"{header}\n{g}\n")


def _forward_reads(g: Graph, bw: Graph) -> list[Value]:
    """The forward values the backward graph reads (saved for it; with ``dynamic``, the
    inputs whose sizes it computes with), in a fixed order."""
    made = {id(o) for n in bw.nodes for o in n.outputs} | {id(v) for v in bw.grads}
    seen, out = set(), []
    sized = [v for n in bw.nodes for s in tree_leaves((n.args, n.kwargs)) if type(s) is Sym
             for v in s.values()]
    for v in [x for n in bw.nodes for x in n.inputs] + [o for o in bw.outputs if o] + sized:
        if id(v) not in made and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _backward_op(name: str, fwd, bwd, g: Graph, bw: Graph, n_out: int) -> type:
    """An op (not in ``OPS``) running the compiled forward and backward as one autograd
    node."""
    inputs = g.all_inputs()
    position = {id(v): i for i, v in enumerate(inputs)}
    grad_slots = [position[id(v)] for v in bw.out_spec]
    outputs_with_grad = bw.grad_outputs

    def forward(ctx, *arrays):
        res = fwd(*arrays)
        # what backward reads, as the node's one saved item: the engine drops it right
        # after backward (unless retain_graph), as it drops an eager node's saved tensors
        ctx.save_for_backward(res[n_out:])
        return tuple(res[:n_out])

    def backward(ctx, *grads):
        if STATE.grad_enabled:
            raise RuntimeError("ember.compile: double backward through a compiled function "
                               "is not supported; compile without it or run eagerly")
        gs = [grads[i]._data for i in outputs_with_grad]
        (kept,) = ctx.saved_tensors  # (raises torch's error once it was freed)
        saved = list(kept)
        if config.free_saved_in_backward and not _graph_retained():
            # backward's code frees each array after its last use
            ctx._saved = _FREED
            del kept
        results = bwd(saved, *gs)
        out = [None] * len(inputs)
        for slot, r in zip(grad_slots, results):
            if r is not None:
                out[slot] = _make(r)
        return tuple(out)

    return type(f"Compiled_{name}", (Op,), {
        "abstract": True, "name": f"compiled_{name}", "aten": "compiled_graph",
        "forward": staticmethod(forward), "backward": staticmethod(backward),
        "_backward_name": "CompiledFunctionBackward"})


def _graph_retained() -> bool:
    """Whether the backward running now keeps the graph (``retain_graph=True``). The
    engine tells a node's backward nothing of it, so it is read from the engine's frame
    (``run_backward``'s ``keep_graph``); True -- keep what backward reads -- when no such
    frame is found."""
    f = sys._getframe(1)
    while f is not None:
        if f.f_code is _RUN_BACKWARD:
            return bool(f.f_locals.get("keep_graph", True))
        f = f.f_back
    return True


_RUN_BACKWARD = run_backward.__code__


def _pattern(key: tuple, dims: list) -> tuple:
    """``key`` with the dynamic dims of tensor arguments as None (any size >= 2)."""
    dynamic: dict[int, set] = {}
    for i, axis in dims:
        dynamic.setdefault(i, set()).add(axis)
    out, tensor_index = [], 0
    for part in key:
        if part[0].startswith("arg") and len(part) == 4:
            axes = dynamic.get(tensor_index, ())
            shape = tuple(None if a in axes else n for a, n in enumerate(part[1]))
            part = (part[0], shape, *part[2:])
            tensor_index += 1
        out.append(part)
    return tuple(out)


def _matches(pattern: tuple, key: tuple) -> bool:
    if len(pattern) != len(key):
        return False
    for p, k in zip(pattern, key):
        if p == k:
            continue
        if not (p[0].startswith("arg") and len(p) == 4 and len(k) == 4 and p[2:] == k[2:]
                and len(p[1]) == len(k[1])):
            return False
        if not all(a == b or (a is None and b >= 2) for a, b in zip(p[1], k[1])):
            return False
    return True


def _fixed(t: Tensor):
    return lambda: t


def _module_guard(m) -> list[tuple]:
    """The guard parts of a module tree: each module's ``training`` flag and each of its
    parameters' and buffers' shape, dtype and ``requires_grad``. A flat walk over
    ``_modules``, without the qualified names ``named_parameters`` builds, in plain loops
    (a GPT of 34 modules and 53 tensors: 26 -> 13 us): it runs at every call."""
    mods = [m]
    for s in mods:  # (the list grows as it is walked: breadth first)
        for c in s._modules.values():
            if c is not None:
                mods.append(c)
    tensors = []
    for s in mods:
        for table in (s._parameters, s._buffers):
            for t in table.values():
                if t is not None:
                    d = t._data
                    tensors.append((d.shape, d.dtype, t._requires_grad))
    return [("training", tuple([s.training for s in mods])), ("params", tuple(tensors))]


def _module_tensors(m, kinds: bool = False) -> dict:
    out = {}
    for name, p in m.named_parameters():
        out[name] = (p, "param") if kinds else p
    for name, b in m.named_buffers():
        if b is not None:
            out[name] = (b, "buffer") if kinds else b
    return out


def _hashable(x):
    try:
        hash(x)
        return x
    except TypeError:
        return ("id", id(x))


def _fn_name(fn) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return "".join(c if c.isalnum() else "_" for c in name)


def _failed_guard(old: tuple | None, new: tuple) -> str:
    if old is None:
        return "none recorded"
    for a, b in zip(old, new):
        if a != b:
            return f"{a[0]}: expected {a[1:]}, got {b[1:]}"
    return "the number of arguments changed"


def compile(model=None, *, fullgraph: bool = False, dynamic: bool | None = None,  # noqa: A001
            backend: str | Any = "ember", mode: str | None = None, options: dict | None = None,
            disable: bool = False):
    """Compile a function or ``nn.Module`` (torch.compile's signature); usable as
    ``@compile`` and ``@compile(fullgraph=True)``."""
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic,
                                 backend=backend, mode=mode, options=options, disable=disable)
    if disable:
        return model
    if backend not in ("ember", "inductor", "eager", "aot_eager"):
        if callable(backend):
            warnings.warn("ember.compile: custom backends are not supported; using ember's",
                          stacklevel=2)
        else:
            raise RuntimeError(f"Invalid backend: {backend!r}")
    from ..nn.modules.module import Module
    from .module import make_optimized_module
    if isinstance(model, Module):
        return make_optimized_module(model, fullgraph=fullgraph, dynamic=dynamic, mode=mode)
    if not callable(model):
        raise RuntimeError(f"compile() expects a callable or nn.Module, got {type(model)}")
    return CompiledFunction(model, fullgraph=fullgraph, dynamic=dynamic, mode=mode)


@dataclass
class ExplainOutput:
    """What ``explain`` reports (the fields of ``torch._dynamo.explain``'s result)."""

    graphs: list
    graph_count: int
    graph_break_count: int
    break_reasons: list
    ops_per_graph: list
    compile_times: list

    def __str__(self) -> str:
        lines = [f"Graph Count: {self.graph_count}",
                 f"Graph Break Count: {self.graph_break_count}",
                 f"Op Count: {sum(len(o) for o in self.ops_per_graph)}",
                 "Break Reasons:"]
        for i, b in enumerate(self.break_reasons, 1):
            lines.append(f"  Break Reason {i}:\n    Reason: {b.reason}\n    At: {b.location}")
        lines.append("Ops per Graph:")
        for i, ops in enumerate(self.ops_per_graph, 1):
            lines.append(f"  Ops {i}:")
            lines += [f"    {o}" for o in ops]
        return "\n".join(lines)


def explain(fn, *args, **kwargs):
    """Capture ``fn(*args, **kwargs)`` and report graphs, breaks and their reasons;
    ``explain(fn)`` alone returns a function taking the arguments (torch's spelling)."""
    if not args and not kwargs:
        return functools.partial(explain, fn)
    from ..nn.modules.module import Module
    externs = {}
    if isinstance(fn, Module):
        externs = {id(t): (n, k) for n, (t, k) in _module_tensors(fn, kinds=True).items()}
    start = time.perf_counter()
    cap, _ = capture(fn, args, kwargs, externs=externs, segments=True)
    seconds = time.perf_counter() - start
    graphs = [g for g in [*cap.closed, cap.graph] if g.nodes]
    return ExplainOutput(graphs=graphs, graph_count=len(graphs),
                         graph_break_count=len(cap.breaks), break_reasons=list(cap.breaks),
                         ops_per_graph=[[n.op.aten for n in g.nodes] for g in graphs],
                         compile_times=[seconds])


def reset() -> None:
    """Forget compiled programs (``torch._dynamo.reset``): a no-op cache-wise, since each
    compiled function owns its cache; kept for programs that call it."""

