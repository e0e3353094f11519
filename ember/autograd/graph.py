"""The autograd graph: nodes (``grad_fn``), saved tensors, and the backward engine.

A ``Node`` is created by the dispatcher for each recorded op. It is also the ``ctx`` that
the op's forward and backward see (as torch's ``BackwardCFunction`` is for custom
Functions): ``save_for_backward`` stores what backward needs, plus whatever plain
attributes the op sets. ``next_functions`` point at the nodes that produced the op's
inputs, or at an ``AccumulateGrad`` for leaves.

The engine walks the graph from the roots in reverse creation order, once every
gradient for a node has arrived, and either accumulates into leaves' ``.grad``
(``backward``) or returns the gradients of chosen tensors (``autograd.grad``).
"""

from __future__ import annotations

import heapq
import itertools
import re
import sys
import traceback
import warnings
import weakref

import numpy as np

from .._state import ACTIVE, STATE
from .._tensor import Tensor, _make, _RemovableHandle

_seq = itertools.count()

# Objects with ``enter_backward(node)`` and ``leave_backward(node)``, called around each
# node's backward (and each leaf's gradient accumulation) the engine runs: how the profiler
# and the FLOP counter see whose backward is running. Empty, it costs one check per node;
# observers append and remove themselves (the list is never rebound).
_node_observers: list = []

# ``Node._saved`` once backward has released what the node saved.
_FREED = object()

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward.")


class _SavedOutput:
    """A saved output of the node itself; unpacked as a tensor whose grad_fn is the node
    (holding the tensor directly would make a node -> tensor -> node cycle)."""

    __slots__ = ("array", "output_nr", "vc", "version")

    def __init__(self, array, output_nr, vc, version):
        self.array, self.output_nr, self.vc, self.version = array, output_nr, vc, version


class Node:
    """A recorded operation: what backward needs, and the edges to the inputs' nodes.

    Only the fields every node needs are slots set at construction (a node is made per
    recorded op, on the hot path); rarely used ones (hooks, anomaly traceback, ...) are
    class defaults that an instance overrides in its ``__dict__`` when it needs them.
    """

    __slots__ = ("op", "next_functions", "_saved", "_saved_versions", "_to_save", "_layout",
                 "_positions", "_in_meta", "_out_meta", "_seq", "needs_input_grad", "__dict__",
                 "__weakref__")

    _tensor_pre_hooks = None
    _pre_hooks = None
    _hooks = None
    _trace = None
    _dirty = None
    _non_diff = None
    materialize_grads = True

    def __init__(self, op):
        self.op = op
        self._saved = None
        self._to_save = None
        self._out_meta = ()
        self._seq = next(_seq)
        if ACTIVE.anomaly:
            self._trace = traceback.format_stack()[:-3]

    # ---- what forward calls -------------------------------------------------------------

    def save_for_backward(self, *items) -> None:
        """Keep ``items`` (the op's input or output arrays/tensors) for backward."""
        self._to_save = items

    def mark_dirty(self, *tensors: Tensor) -> None:
        self._dirty = tensors

    def mark_non_differentiable(self, *outputs) -> None:
        self._non_diff = outputs

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value

    # ---- what backward calls ------------------------------------------------------------

    @property
    def saved_tensors(self) -> tuple:
        saved = self._saved
        if saved is None:
            return ()
        if saved is _FREED:
            raise RuntimeError(_FREED_MSG)
        # The usual case, checked first: saved inputs (versions to check) and plain values.
        # A saved output of the node itself must be unpacked into a new tensor.
        for item, version in zip(saved, self._saved_versions):
            if version is not None:  # a Tensor
                if item._vc[0] != version:
                    _raise_modified(item, self, version)
            elif type(item) is _SavedOutput:
                return self._unpack_saved()
        return saved

    saved_variables = saved_tensors

    def _unpack_saved(self) -> tuple:
        """``saved_tensors`` when an output of this node is among them."""
        out = []
        for item, version in zip(self._saved, self._saved_versions):
            if isinstance(item, Tensor):
                if item._vc[0] != version:
                    _raise_modified(item, self, version)
            elif isinstance(item, _SavedOutput):
                if item.vc[0] != item.version:
                    t = _make(item.array)
                    t._vc = item.vc
                    _raise_modified(t, self, item.version, output_nr=item.output_nr)
                t = _make(item.array, True)
                t.grad_fn = self
                t._output_nr = item.output_nr
                t._vc = item.vc
                item = t
            out.append(item)
        return tuple(out)

    def name(self) -> str:
        return self.op._backward_name

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    @property
    def metadata(self) -> dict:
        return self.__dict__.setdefault("_metadata", {})

    # ---- hooks --------------------------------------------------------------------------

    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs)`` after this node's backward; may return new
        grad_inputs."""
        if self._hooks is None:
            self._hooks = {}
        return _RemovableHandle(self._hooks, fn)

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` before this node's backward; may return new grad_outputs."""
        if self._pre_hooks is None:
            self._pre_hooks = {}
        return _RemovableHandle(self._pre_hooks, fn)

    def _register_tensor_prehook(self, output_nr: int, fn, retains_grad: bool = False):
        if self._tensor_pre_hooks is None:
            self._tensor_pre_hooks = {}
        hooks = self._tensor_pre_hooks.setdefault(output_nr, {})
        if retains_grad:
            hooks[0] = fn  # torch runs retain_grad after the other tensor hooks
            return None
        return _RemovableHandle(hooks, fn)



# Added to an AccumulateGrad's sequence number: the engine runs the ready node with the
# highest number first, so a leaf's gradient is accumulated as soon as it is complete, as in
# torch (whose AccumulateGrad has sequence number UINT64_MAX). The order then does not
# depend on when the leaf's node was made (it lives as long as any graph using the leaf).
_ACCUMULATE_FIRST = 1 << 62


class AccumulateGrad(Node):
    """The sink for a leaf tensor: adds arriving gradients into ``variable.grad``."""

    __slots__ = ("variable",)
    _backward_name = "AccumulateGrad"

    def __init__(self, variable: Tensor):
        super().__init__(AccumulateGrad)
        self._seq += _ACCUMULATE_FIRST
        self.next_functions = ()
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"


def accumulate_node(t: Tensor) -> AccumulateGrad:
    """The leaf's AccumulateGrad, shared by every graph that uses the leaf while it lives."""
    node = t._acc() if t._acc is not None else None
    if node is None:
        node = AccumulateGrad(t)
        t._acc = weakref.ref(node)
    return node


def gradient_edge(t: Tensor):
    if t.grad_fn is not None:
        return (t.grad_fn, t._output_nr)
    if t._requires_grad:
        return (accumulate_node(t), 0)
    return (None, 0)


_BACKWARD_SUFFIX = re.compile(r"Backward\d*$")


def _raise_modified(t: Tensor, node: Node, expected: int, output_nr: int | None = None):
    """torch's error for a saved tensor overwritten in place. It names the node that made
    the tensor: ``node`` for a saved output, else the tensor's current ``grad_fn``."""
    from .._formatting import type_name
    producer = node if output_nr is not None else t.grad_fn
    nr = output_nr if output_nr is not None else t._output_nr
    where = "" if producer is None else \
        f", which is output {nr} of {_BACKWARD_SUFFIX.sub('', producer.name())},"
    hint = ("the backtrace further above shows the operation that failed to compute its "
            "gradient. The variable in question was changed in there or anywhere later. Good "
            "luck!") if ACTIVE.anomaly else (
        "enable anomaly detection to find the operation that failed to compute its "
        "gradient, with ember.autograd.set_detect_anomaly(True, check_nan=False).")
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{type_name(t)} [{', '.join(map(str, t._data.shape))}]]{where} is at "
        f"version {t._vc[0]}; expected version {expected} instead. Hint: {hint}")


# ---- the engine ---------------------------------------------------------------------------

def _sum_to(grad: Tensor, shape: tuple, node: Node, index: int) -> Tensor:
    """Reduce a broadcast gradient back to an input's shape."""
    gshape = grad._data.shape
    lead = len(gshape) - len(shape)
    if lead < 0:
        raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index "
                           f"{index} - got {list(gshape)} but expected shape compatible with "
                           f"{list(shape)}")
    dims = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1)
    for i, s in enumerate(shape):
        if s != 1 and gshape[i + lead] != s:
            raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index "
                               f"{index} - got {list(gshape)} but expected shape compatible "
                               f"with {list(shape)}")
    if dims:
        grad = grad.sum(dims, keepdim=True)
    return grad.reshape(shape) if lead else grad


def _graph_order(roots: list[Node]) -> dict[Node, int]:
    """Number of incoming edges of every node reachable from the roots."""
    deps: dict[Node, int] = {}
    get = deps.get
    root_set = set(roots)
    stack = list(roots)
    while stack:
        for nxt, _ in stack.pop().next_functions:
            if nxt is None:
                continue
            count = get(nxt)
            if count is None:  # the first edge into nxt: visit it
                deps[nxt] = 1
                if nxt not in root_set:
                    stack.append(nxt)
            else:
                deps[nxt] = count + 1
    return deps


def _needed_nodes(roots: list[Node], targets: set[Node]) -> set[Node]:
    """Nodes with a target strictly below them: only these run when inputs are given."""
    memo: dict[Node, bool] = {}
    for root in roots:
        if root in memo:
            continue
        memo[root] = False
        stack = [(root, iter(root.next_functions))]
        while stack:
            node, children = stack[-1]
            for child, _ in children:
                if child is None:
                    continue
                if child not in memo:
                    memo[child] = False
                    stack.append((child, iter(child.next_functions)))
                    break
                if child in targets or memo[child]:
                    memo[node] = True
            else:
                stack.pop()
                if stack and (node in targets or memo[node]):
                    memo[stack[-1][0]] = True
    return {n for n, needed in memo.items() if needed}


def run_backward(roots: list[tuple[Node, int, Tensor]], keep_graph: bool, create_graph: bool,
                 inputs: list[Tensor] | None = None, accumulate: bool = True,
                 allow_unused: bool = True) -> list[Tensor | None] | None:
    """Propagate gradients from ``roots`` ((node, output_nr, grad) triples).

    With ``accumulate`` the leaves' ``.grad`` receive the gradients (``backward``); without,
    the gradients of ``inputs`` are returned (``autograd.grad``).
    """
    root_nodes = []
    buffers: dict[Node, list] = {}
    for node, nr, grad in roots:
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * (len(node._out_meta) or 1)
            root_nodes.append(node)
        buf[nr] = grad if buf[nr] is None else buf[nr] + grad

    captures: dict[tuple[Node, int], list[int]] = {}
    results: list[Tensor | None] = []
    needed = None
    if inputs is not None:
        results = [None] * len(inputs)
        for i, t in enumerate(inputs):
            node, nr = gradient_edge(t)
            if node is None:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            captures.setdefault((node, nr), []).append(i)
        needed = _needed_nodes(root_nodes, {n for n, _ in captures})

    deps = _graph_order(root_nodes)
    ready = [(-n._seq, id(n), n) for n in root_nodes if deps.get(n, 0) == 0]
    heapq.heapify(ready)
    heappop, heappush = heapq.heappop, heapq.heappush
    observers = _node_observers
    prev_grad, STATE.grad_enabled = STATE.grad_enabled, create_graph
    node = None  # the next node to run when it is the only one ready (a chain): no heap
    try:
        while node is not None or ready:
            if node is None:
                node = heappop(ready)[2]
            grads = buffers.pop(node)
            if type(node) is AccumulateGrad:
                grads = _call_pre_hooks(node, grads)
                if captures:
                    _capture(captures, results, node, grads)
                if accumulate and (needed is None or (node, 0) in captures):
                    # (``grads`` is the gradient's only holder here unless someone kept it)
                    owned = not create_graph and grads[0] is not None and \
                        _holders(grads) == _SOLE
                    if observers:
                        _observed(observers, node, _accumulate, node.variable, grads[0],
                                  create_graph, owned)
                    else:
                        _accumulate(node.variable, grads[0], create_graph, owned)
                node = None
                continue
            if node._tensor_pre_hooks or node._pre_hooks:
                grads = _call_pre_hooks(node, grads)
            if captures:
                _capture(captures, results, node, grads)
            if needed is not None:
                if node not in needed:
                    node = None
                    continue
                # autograd.grad(inputs=...): skip gradients nobody needs
                full, node.needs_input_grad = (node.needs_input_grad,
                                               _needs_within(node, needed, captures))
            try:
                if observers:
                    grad_inputs = _observed(observers, node, _apply, node, grads)
                else:
                    grad_inputs = _apply(node, grads)
            finally:
                if needed is not None:
                    node.needs_input_grad = full
                if not keep_graph and node._saved is not None:
                    node._saved = _FREED  # as torch's engine, right after the node ran
            node_edges = node.next_functions
            node = None
            for (nxt, nr), g in zip(node_edges, grad_inputs):
                if nxt is None:
                    continue
                if g is not None:
                    buf = buffers.get(nxt)
                    if buf is None:
                        buffers[nxt] = buf = [None] * (len(nxt._out_meta) or 1)
                        buf[nr] = g
                    else:
                        old = buf[nr]
                        buf[nr] = g if old is None else old + g
                count = deps[nxt] - 1
                deps[nxt] = count
                if count == 0:
                    if nxt not in buffers:
                        _release_branch(nxt, deps, buffers, ready)
                    elif node is None and not ready:
                        node = nxt  # the only ready node: it runs next
                    else:
                        heappush(ready, (-nxt._seq, id(nxt), nxt))
            if node is not None and ready:  # others became ready after it: the heap decides
                heappush(ready, (-node._seq, id(node), node))
                node = None
            grad_inputs = g = buf = old = None  # the buffers alone hold the gradients (_holders)
    finally:
        STATE.grad_enabled = prev_grad

    if inputs is None:
        return None
    if accumulate:
        for t, g in zip(inputs, results):
            if t.grad_fn is not None:
                _accumulate(t, g, create_graph)
        return None
    if not allow_unused and any(r is None for r in results):
        raise RuntimeError(
            "One of the differentiated Tensors appears to not have been used in the "
            "graph. Set allow_unused=True if this is the desired behavior.")
    return results


def _capture(captures: dict, results: list, node: Node, grads: list) -> None:
    """``autograd.grad``: keep the gradients arriving at a requested input."""
    for nr, g in enumerate(grads):
        for i in captures.get((node, nr), ()):
            results[i] = g


def _needs_within(node: Node, needed: set, captures: dict) -> tuple:
    """``needs_input_grad`` restricted to the edges that lead to a requested input."""
    needs, k = [], 0
    for kind in node._layout:
        if kind is None:
            needs.append(False)
            continue
        count = 1 if kind == -1 else kind
        edges = node.next_functions[k:k + count]
        k += count
        needs.append(any(n is not None and (n in needed or (n, nr) in captures)
                         for n, nr in edges))
    return tuple(needs)


def _observed(observers: list, node: Node, fn, *args):
    """``fn(*args)``, the work of ``node``, between the observers' enter and leave calls."""
    for o in observers:
        o.enter_backward(node)
    try:
        return fn(*args)
    finally:
        for o in reversed(observers):
            o.leave_backward(node)


def _release_branch(node, deps, buffers, ready):
    """A node whose every input edge delivered no gradient: its branch gets none either."""
    stack = [node]
    while stack:
        n = stack.pop()
        for nxt, _ in n.next_functions:
            if nxt is None:
                continue
            deps[nxt] -= 1
            if deps[nxt] == 0:
                if nxt in buffers:
                    heapq.heappush(ready, (-nxt._seq, id(nxt), nxt))
                else:
                    stack.append(nxt)


def _call_pre_hooks(node: Node, grads: list) -> list:
    if node._tensor_pre_hooks:
        for nr, hooks in node._tensor_pre_hooks.items():
            if grads[nr] is None:
                continue
            for key in sorted(hooks, key=lambda k: k == 0):  # retain_grad (key 0) last
                new = hooks[key](grads[nr])
                if new is not None:
                    grads[nr] = new
    if type(node) is AccumulateGrad:
        t = node.variable
        if t._hooks and grads[0] is not None:
            for hook in list(t._hooks.values()):
                new = hook(grads[0])
                if new is not None:
                    grads[0] = new
    if node._pre_hooks:
        for hook in list(node._pre_hooks.values()):
            new = hook(tuple(grads))
            if new is not None:
                grads = list(new)
    return grads


def _holders(grads: list) -> tuple[int, int]:
    """Reference counts of the gradient ``grads[0]`` and of its array, as seen from here.
    Equal to ``_SOLE`` (the counts of a gradient held by nothing but such a list), nobody
    else -- user code, a hook, another node's buffer, a view of the array -- can reach it."""
    g = grads[0]
    data = g._data
    return sys.getrefcount(g), sys.getrefcount(data)


_SOLE = _holders([_make(np.empty(1))])


def _base_holders(data: np.ndarray) -> int:
    return sys.getrefcount(data.base)


_SOLE_BASE = _base_holders(np.empty(2).reshape(1, 2))


def _sole_memory(data: np.ndarray) -> bool:
    """Whether nothing but the (solely held) array ``data`` reaches its memory: it owns it,
    or it is a view of all of an array that only this view references (a backward rule's
    ``reshape`` of the array it made), which a leaf may then keep without a copy."""
    if data.base is None:
        return True
    return _base_holders(data) == _SOLE_BASE and type(data.base) is np.ndarray and \
        data.base.nbytes == data.nbytes  # (no local name for the base: it would count)


def _accumulate(t: Tensor, grad: Tensor | None, create_graph: bool,
                owned: bool = False) -> None:
    """Add ``grad`` into ``t.grad`` with ember ops, as torch's AccumulateGrad.

    The first gradient is taken as it is when the engine found it ``owned`` (nothing else
    holds it) and nothing else reaches its array's memory (``_sole_memory``) in ``t``'s dtype
    and strides, as torch steals a gradient nobody else references; otherwise it is copied
    (``clone``, so ``.grad`` never aliases a gradient that flows on or that the user holds;
    under ``create_graph`` the clone is recorded, as torch's). Later ones are added in
    place (``add_``), or out of place when the result must carry a graph."""
    if grad is None:
        return
    old = t.grad
    if old is None:
        data, mine = grad._data, t._data
        if owned and type(grad) is Tensor and type(data) is np.ndarray and _sole_memory(data) \
                and data.dtype == mine.dtype and data.strides == mine.strides:
            t.grad = _make(data)  # (a fresh tensor: no history, as torch's detach())
        elif data.dtype == mine.dtype:
            t.grad = grad.clone()
        else:
            t.grad = grad.to(_np_to_dtype(mine.dtype))
    elif create_graph or old._requires_grad:
        t.grad = old + grad
    else:
        old.add_(grad)
    if t._post_acc_hooks:
        for hook in list(t._post_acc_hooks.values()):
            hook(t)


def _apply(node: Node, grads: list) -> list:
    """Run one node's backward rule; returns one gradient per edge in next_functions."""
    if node.materialize_grads:
        for g in grads:  # (not ``None in grads``: that calls Tensor.__eq__)
            if g is None:
                grads = _materialize(grads, node._out_meta)
                break
    result = node.op.backward(node, *grads)
    if type(result) is not tuple:
        result = (result,)
    positions = node._positions
    n = len(result)
    if positions is not None and n <= len(node._layout) and (
            not positions or positions[-1] < n):  # no list argument: in short
        flat = [result[positions[0]]] if len(positions) == 1 else [result[p] for p in positions]
    else:
        flat = _flatten_grads(node, result)
    edges = node.next_functions
    for i, g in enumerate(flat):
        if g is None:
            continue
        if edges[i][0] is None:  # that input needs no gradient
            flat[i] = None
            continue
        if type(g) is not Tensor and not isinstance(g, Tensor):
            raise TypeError(f"{node.name()} returned a gradient of type {type(g).__name__} at "
                            f"index {i}; expected a Tensor or None")
        data = g._data
        shape, dtype = node._in_meta[i]
        if data.shape != shape:
            flat[i] = g = _sum_to(g, shape, node, i)
        if data.dtype != dtype:
            flat[i] = g.to(_np_to_dtype(dtype))
    if node._hooks:
        for hook in list(node._hooks.values()):
            new = hook(tuple(flat), tuple(grads))
            if new is not None:
                flat = list(new)
    if ACTIVE.anomaly and ACTIVE.anomaly_check_nan:
        _check_nan(node, flat)
    return flat


def _flatten_grads(node: Node, result: tuple) -> list:
    """One gradient per graph edge from backward's one-per-argument result."""
    layout = node._layout
    if len(result) > len(layout) and any(r is not None for r in result[len(layout):]):
        raise RuntimeError(f"function {node.name()} returned an incorrect number of gradients "
                           f"(expected {len(layout)}, got {len(result)})")
    positions = node._positions
    n = len(result)
    if positions is not None:
        return [result[p] if p < n else None for p in positions]
    flat = []
    for pos, kind in enumerate(layout):
        if kind is None:
            continue
        g = result[pos] if pos < n else None
        if kind == -1:
            flat.append(g)
        else:
            flat.extend(g if g is not None else (None,) * kind)
    return flat


def _check_nan(node: Node, grads: list) -> None:
    """detect_anomaly: fail on a NaN gradient, naming the node and its forward traceback."""
    for i, g in enumerate(grads):
        if g is not None and g._data.dtype.kind in "fc" and np.isnan(g._data).any():
            if node._trace:
                warnings.warn("Error detected in " + node.name() + ". Traceback of forward "
                              "call that caused the error:\n" + "".join(node._trace),
                              stacklevel=3)
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th "
                               "output.")


def _materialize(grads: list, out_meta: tuple) -> list:
    """Zeros (``new_zeros``, a dispatched op) for the outputs that received no gradient.
    A node runs once some output has one (only a node pre-hook can drop them all)."""
    ref = next((g for g in grads if g is not None), None)
    if ref is None:
        return grads
    return [g if g is not None else ref.new_zeros(shape, dtype=_np_to_dtype(dtype))
            for g, (shape, dtype) in zip(grads, out_meta)]


def _np_to_dtype(np_dtype):
    from .._dtype import from_numpy_dtype
    return from_numpy_dtype(np_dtype)

