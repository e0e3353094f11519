"""Capture: run a function once on its real inputs under a dispatch mode that records
every op into a ``Graph``.

The function runs eagerly (its result is the real one), so capture needs no fake tensors
and sees exactly the ops eager mode runs -- forward, and, with ``capture_backward``, the
backward rules too, which are ember ops (the op-table issue made sure of that). Each
tensor the function meets is one of:

- a graph value: an input, or the output of a recorded op (mapped by identity);
- a parameter or buffer of the module being compiled, or any other tensor made outside
  the function ("extern": read from the live tensor at every call, never copied, so an
  optimizer's in-place update or ``p.data = ...`` is seen);
- after backward capture, an array a forward kernel kept for backward ("aux").

What capture cannot follow is a *graph break*: reading a graph value's data in Python
(``.item()``, ``bool()``, ``.tolist()``, ``.numpy()``, printing), a custom
``autograd.Function`` or an op through an ``out=`` argument. The first break stops the
recording (the call finishes eagerly) and is reported with its reason and ``file:line``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from .._dispatch import DispatchMode
from .._meta import MetaArray
from .._state import STATE
from .._tensor import Tensor
from ..autograd.graph import Node as AutogradNode
from .graph import Graph, Node, Slot, Value, tree_leaves, tree_map

__all__ = ["capture", "Capture", "GraphBreak", "user_location"]

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GraphBreak(RuntimeError):
    """What stopped a capture: ``reason`` and the user's ``location`` (``file:line``)."""

    def __init__(self, reason: str, location: str):
        super().__init__(f"{reason} (at {location})")
        self.reason, self.location = reason, location


def user_location(skip: tuple = ()) -> str:
    """``file:line`` of the innermost frame outside ember's package (the user's line)."""
    f = sys._getframe(1)
    while f is not None:
        fname = f.f_code.co_filename
        if not fname.startswith(_PKG) and fname not in skip and not fname.startswith("<frozen"):
            return f"{fname}:{f.f_lineno}"
        f = f.f_back
    return "<unknown>"


class Capture(DispatchMode):
    """The recording mode. ``externs`` names the tensors of the module being compiled
    (``id(tensor) -> (qualified name, kind)``); any other outside tensor is an extern."""

    def __init__(self, externs: dict[int, tuple[str, str]] | None = None,
                 segments: bool = False):
        self.graph = Graph()
        self.segments = segments   # go on after a break, in a new graph (for ``explain``)
        self.closed: list[Graph] = []  # the graphs before each break
        self._earlier: set[int] = set()  # ids of tensors of closed graphs
        self.named = externs or {}
        self.by_tensor: dict[int, Value] = {}
        self.by_array: dict[int, Value] = {}
        self.extern_tensors: dict[str, Tensor] = {}  # name -> the live tensor
        self.keep: list = []       # referenced objects stay alive: ids stay unique
        self.breaks: list[GraphBreak] = []
        self._count = 0
        # the ops recorded, in dispatch order: (op, output Values, multi) -- a compiled
        # prefix replays them (see ``frontend._Replay``)
        self.dispatched: list[tuple] = []
        # values of the graph before a break that Python reads after it, in order
        self.used_after: dict[int, Value] = {}

    # ---- values -----------------------------------------------------------------------

    def _new(self, kind: str, meta: MetaArray, producer=None, **kw) -> Value:
        name = f"{kind[0]}{self._count}" if kind not in ("node", "aux") else f"v{self._count}"
        self._count += 1
        return Value(name, kind, meta, producer, **kw)

    def bind(self, t: Tensor, value: Value) -> None:
        self.by_tensor[id(t)] = value
        self.by_array[id(t._data)] = value
        self.keep.append(t)

    def add_input(self, t: Tensor) -> Value:
        v = self._new("input", MetaArray.like(t._data))
        self.graph.inputs.append(v)
        self.bind(t, v)
        return v

    def value_of(self, t: Tensor) -> Value:
        """The Value a tensor argument is: known, or a new extern (parameter/buffer)."""
        v = self.by_tensor.get(id(t))
        if v is not None:
            return v
        v = self.by_array.get(id(t._data))
        if v is not None:  # a new Tensor object over a known array (a saved output...)
            return v
        if id(t) in self._earlier:  # made by an earlier graph: an input of this one
            return self.add_input(t)
        name, kind = self.named.get(id(t), (None, "extern"))
        if name is None:
            name = f"extern{len(self.extern_tensors)}"
        v = self._new(kind, MetaArray.like(t._data), target=name)
        self.graph.params[name] = v
        self.extern_tensors[name] = t
        self.bind(t, v)
        return v

    def lift(self, tree):
        """``tree`` (an op's arguments) with tensors -- and arrays that are graph values --
        replaced by their Values."""
        def leaf(x):
            if isinstance(x, Tensor):
                return self.value_of(x)
            if type(x) is np.ndarray:
                return self.by_array.get(id(x), x)
            return x
        return tree_map(leaf, tree)

    def is_tracked(self, t: Tensor) -> bool:
        return id(t) in self.by_tensor or id(t._data) in self.by_array

    # ---- the mode ---------------------------------------------------------------------

    def __ember_dispatch__(self, op, args, kwargs):
        if self.breaks and not self.segments:
            self._use(tree_leaves((args, kwargs)))
            return op.apply(*args, **kwargs)
        if op.tensor_forward:
            self._break(f"custom autograd.Function {op.__name__}")
            return op.apply(*args, **kwargs)
        gargs, gkwargs = self.lift(args), self.lift(kwargs)
        if op.inplace:
            target = args[0]
            out = op.apply(*args, **kwargs)
            (result,) = self._record(op, gargs, gkwargs, (target,), multi=False)
            return out
        out = op.apply(*args, **kwargs)
        multi = type(out) is not Tensor
        outs = tuple(out) if multi else (out,)
        if not all(isinstance(o, Tensor) for o in outs):
            self._break(f"op {op.name} returned a non-tensor result")
            return out
        self._record(op, gargs, gkwargs, outs, multi)
        return out

    def _record(self, op, gargs, gkwargs, outs: tuple, multi: bool) -> tuple:
        node = Node(op, gargs, gkwargs, location=user_location())
        values = []
        for i, t in enumerate(outs):
            v = self._new("node", MetaArray.like(t._data), node, index=i)
            values.append(v)
        node.outputs, node.multi = tuple(values), multi
        self.dispatched.append((op, node.outputs, multi))
        for t, v in zip(outs, values):
            self.bind(t, v)
        self.graph.nodes.append(node)
        grad_fn = outs[0].grad_fn if outs else None
        if isinstance(grad_fn, AutogradNode) and grad_fn.op is op:
            node.needs_input_grad = tuple(grad_fn.needs_input_grad)
            self._register_aux(node, grad_fn)
        return tuple(values)

    def _register_aux(self, node: Node, ctx: AutogradNode) -> None:
        """Arrays the forward kernel kept in ``ctx`` (saved or as attributes) that are not
        graph values: backward may read them, so they become ``aux`` values of ``node``."""
        saved = ctx._saved if type(ctx._saved) is tuple else ()
        for i, item in enumerate(saved):
            if isinstance(item, Tensor) and not self.is_tracked(item):
                self._aux(node, item._data, ("saved", i, ()))
        for name, attr in list(ctx.__dict__.items()):
            self._aux_tree(node, attr, ("attr", name, ()))

    def _aux_tree(self, node: Node, obj, where: tuple) -> None:
        if isinstance(obj, Tensor):
            obj = obj._data
        if type(obj) is np.ndarray:
            if id(obj) not in self.by_array:
                self._aux(node, obj, where)
        elif type(obj) in (tuple, list):
            for j, x in enumerate(obj):
                self._aux_tree(node, x, (where[0], where[1], where[2] + (j,)))

    def _aux(self, node: Node, arr: np.ndarray, where: tuple) -> None:
        v = self._new("aux", MetaArray.like(arr), node, aux=where)
        self.by_array[id(arr)] = v
        self.keep.append(arr)

    def __ember_data_read__(self, t: Tensor, what: str) -> None:
        """A tensor's data read in Python (``item``, ``bool``...): a break when it is a
        graph value, whose data the captured program would not have."""
        if self.breaks and not self.segments:
            self._use((t,))
            return
        if what == "new":  # a tensor made from Python data: a constant of the graph
            v = self._new("const", MetaArray.like(t._data), data=t._data.copy())
            self.bind(t, v)
        elif what == "out=":
            self._break("an op with an out= argument")
        elif self.is_tracked(t):
            self._break(f"data-dependent: Tensor.{what}() on a traced tensor")
            self._use((t,))

    def _use(self, leaves) -> None:
        """Note the values of the graph before the break among ``leaves``."""
        for x in leaves:
            if isinstance(x, Tensor):
                v = self.by_tensor.get(id(x)) or self.by_array.get(id(x._data))
                if v is not None and v.kind == "node":
                    self.used_after.setdefault(id(v), v)

    def _break(self, reason: str) -> None:
        self.breaks.append(GraphBreak(reason, user_location()))
        if self.segments:  # close this graph; what it made is input to the next
            self.closed.append(self.graph)
            self._earlier |= set(self.by_tensor)
            self.by_tensor, self.by_array = {}, {}
            self.graph = Graph()


def capture(fn, args: tuple, kwargs: dict | None = None,
            externs: dict[int, tuple[str, str]] | None = None,
            backward: bool = False, segments: bool = False) -> tuple[Capture, Any]:
    """Run ``fn(*args, **kwargs)`` recording its ops; returns the capture and the result.
    With ``segments``, recording goes on after a break in a new graph (``closed`` holds
    the earlier ones).

    With ``backward``, and when the result has tensors that require grad, the backward
    graph is captured too (``Capture.backward_graph``); see ``capture_backward``.
    """
    kwargs = kwargs or {}
    cap = Capture(externs, segments)
    for t in tree_leaves((args, kwargs)):
        if isinstance(t, Tensor) and not cap.is_tracked(t):
            cap.add_input(t)
    with cap:
        result = fn(*args, **kwargs)
    if cap.breaks:
        return cap, result
    g = cap.graph
    slots: list[Value] = []

    def out_leaf(x):
        if isinstance(x, Tensor):
            v = cap.value_of(x)
            slots.append(v)
            return Slot(len(slots) - 1)
        return x
    g.out_spec = tree_map(out_leaf, result)
    g.outputs = slots
    cap.result_tensors = [x for x in tree_leaves(result) if isinstance(x, Tensor)]
    cap.backward_graph = None
    if backward and STATE.grad_enabled and any(t.requires_grad for t in cap.result_tensors):
        cap.backward_graph = capture_backward(cap)
    return cap, result


def close_prefix(cap: Capture, result, backward: bool) -> bool:
    """Make a broken capture's first graph a program of its own: its outputs are the
    values Python reads after the break (and those in ``result``), with their backward
    graph when ``backward``. False where that is not possible: a break in segmented mode
    or in backward, an empty prefix, or an in-place op in it (replaying would have to
    write into tensors the program does not return)."""
    if cap.segments or not cap.dispatched or len(cap.breaks) != 1 or any(
            op.inplace or op._mutated_others for op, _, _ in cap.dispatched):
        return False
    cap._use(tree_leaves(result))
    g = cap.graph
    g.outputs = list(cap.used_after.values())
    g.out_spec = [Slot(i) for i in range(len(g.outputs))]
    by_value = {id(v): t for t in cap.keep if isinstance(t, Tensor)
                for v in [cap.by_tensor.get(id(t))] if v is not None}
    cap.result_tensors = [by_value[id(v)] for v in g.outputs]
    cap.breaks, cap.backward_graph = [], None  # (restored by the caller)
    if backward and STATE.grad_enabled and any(t.requires_grad for t in cap.result_tensors):
        cap.backward_graph = capture_backward(cap)
    return not cap.breaks


def capture_backward(cap: Capture) -> Graph | None:
    """The backward graph of a forward capture: ``autograd.grad`` of the outputs that
    require grad, with one gradient input per such output, for every graph input and
    extern that requires grad (``None`` where a gradient does not reach one), run under a
    recording mode sharing the forward's values -- so the backward graph's reads of
    forward values, saved outputs and aux arrays are Values of the forward graph.

    Returns None (with a break recorded) when backward reads something capture cannot
    name."""
    from .._tensor import _make
    from ..autograd import grad as autograd_grad

    g = cap.graph
    outs = [t for t in cap.result_tensors if t.requires_grad]
    wrt_values, wrt = [], []
    for v in g.all_inputs():
        t = _tensor_of(cap, v)
        if t is not None and t.requires_grad:
            wrt_values.append(v)
            wrt.append(t)
    bw = Capture()
    bw.by_tensor, bw.by_array, bw.keep = dict(cap.by_tensor), dict(cap.by_array), cap.keep
    bw._count = cap._count
    bw.graph.outputs = []
    grads = []
    for t in outs:
        gt = _make(np.zeros(t._data.shape, t._data.dtype))
        v = bw._new("grad", MetaArray.like(gt._data))
        bw.graph.grads.append(v)
        bw.bind(gt, v)
        grads.append(gt)
    bw.named = {id(t): (name, "unknown") for name, t in cap.extern_tensors.items()}
    with bw:
        result = autograd_grad(outs, wrt, grads, retain_graph=True, allow_unused=True)
    if bw.breaks:
        cap.breaks.extend(bw.breaks)
        return None
    if bw.graph.params:  # backward read a tensor that is no forward value: cannot name it
        name = next(iter(bw.graph.params))
        cap._break(f"backward reads a tensor capture cannot name ({name})")
        return None
    bw.graph.outputs = [None if r is None else bw.value_of(r) for r in result]
    bw.graph.out_spec = wrt_values  # which input each gradient is for
    bw.graph.grad_outputs = [i for i, t in enumerate(cap.result_tensors) if t.requires_grad]
    cap._count = bw._count
    return bw.graph


def _tensor_of(cap: Capture, v: Value) -> Tensor | None:
    if v.kind == "input":
        for t in cap.keep:
            if isinstance(t, Tensor) and cap.by_tensor.get(id(t)) is v:
                return t
        return None
    return cap.extern_tensors.get(v.target)
