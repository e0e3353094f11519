"""``dynamic=True``: one program for every size of the inputs' dims, found by capturing
at a few sizes and fitting the integers that change.

Capture runs on concrete shapes, so a shape the program computes (``x.view(b * t, c)``,
``ones(t, t)``) is an integer in the graph. To make a program hold for other sizes, the
function is captured again with one input dim changed at a time (and pairs of them):
the graphs must be the same ops on the same values, and each integer that differs is
fitted as ``c0 + sum(c_d * d) + sum(c_de * d * e)`` over the dims -- enough for sizes,
products of sizes and offsets. A last capture at other sizes must match the fit. Dims of
size 0 or 1 stay fixed (as torch specializes them), as does any dim whose change makes
capture fail or changes the graph's structure (a weight's dim, a stride-2 size, control
flow on a size); if nothing fits, the program is static.

The extra captures run the function for real; module buffers (batch-norm statistics)
and the random generator are restored after them, so they leave no trace.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .._tensor import Tensor, _make
from .graph import Graph, Value, tree_leaves, tree_map

__all__ = ["Sym", "DimRef", "fit_dynamic", "apply_symbols"]


@dataclass(frozen=True)
class DimRef:
    """Dim ``axis`` of graph input ``value`` (a ``Value`` of kind ``input``)."""

    value: Value
    axis: int

    def source(self) -> str:
        return f"{self.value.name}.shape[{self.axis}]"


@dataclass(frozen=True)
class Sym:
    """An integer of the graph as a function of input dims: ``const`` plus
    ``coeff * prod(dims)`` for each term."""

    const: int
    terms: tuple[tuple[int, tuple[DimRef, ...]], ...]

    def source(self) -> str:
        parts = [str(self.const)] if self.const else []
        for coeff, dims in self.terms:
            factors = [d.source() for d in dims]
            parts.append("*".join(([str(coeff)] if coeff != 1 else []) + factors))
        return "(" + " + ".join(parts or ["0"]) + ")"

    def values(self) -> list[Value]:
        return [d.value for _, dims in self.terms for d in dims]


class _Mismatch(Exception):
    pass


def _shape_inputs(args, kwargs) -> list[Tensor]:
    return [t for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)]


def _resized(args, kwargs, changes: dict[tuple[int, int], int]):
    """The arguments with input ``i``'s dim ``axis`` resized by ``delta`` (``changes``),
    filled by repeating the real data along that dim (indices stay valid)."""
    tensors = _shape_inputs(args, kwargs)
    new = {}
    for i, t in enumerate(tensors):
        arr = t._data
        for (j, axis), delta in changes.items():
            if j == i:
                n = arr.shape[axis]
                arr = np.take(arr, np.arange(n + delta) % n, axis=axis)
        if arr is not t._data:
            r = _make(np.ascontiguousarray(arr))
            r.requires_grad_(t.requires_grad)
            new[id(t)] = r
    swap = lambda x: new.get(id(x), x) if isinstance(x, Tensor) else x  # noqa: E731
    return tree_map(swap, args), tree_map(swap, kwargs)


def _merge(base, others: list, where: list, diffs: list):
    """Walk ``base`` and ``others`` (same structure) together; record integer leaves that
    differ (``diffs``: (where, base value, other values)); raise on any other difference."""
    t = type(base)
    if t is Value:
        for o in others:
            if type(o) is not Value or o.name != base.name or o.kind != base.kind:
                raise _Mismatch
        return
    if t in (list, tuple):
        for o in others:
            if type(o) is not t or len(o) != len(base):
                raise _Mismatch
        for k, item in enumerate(base):
            _merge(item, [o[k] for o in others], where + [k], diffs)
        return
    if t is dict:
        for o in others:
            if type(o) is not dict or o.keys() != base.keys():
                raise _Mismatch
        for k in base:
            _merge(base[k], [o[k] for o in others], where + [k], diffs)
        return
    if t is int and all(type(o) is int for o in others):
        if any(o != base for o in others):
            diffs.append((list(where), base, [o for o in others]))
        return
    for o in others:
        if type(o) is not t:
            raise _Mismatch
        if isinstance(base, np.ndarray):
            if base.shape != o.shape or not np.array_equal(base, o):
                raise _Mismatch
        elif base != o and not (isinstance(base, float) and base != base and o != o):
            raise _Mismatch


def _graph_leaves(g: Graph) -> list:
    """Everything that must match across captures, in a fixed order."""
    nodes = [(n.op, n.multi, n.args, n.kwargs, [o.name for o in n.outputs]) for n in g.nodes]
    return [nodes, [None if v is None else v.name for v in g.outputs], g.out_spec]


def fit_dynamic(run_capture, args, kwargs, base) -> tuple[dict, list] | None:
    """Fit the integers of ``base`` (a ``Capture`` whose graphs ran at the real sizes) as
    functions of the input dims. ``run_capture(args, kwargs)`` captures at other sizes.

    Returns ``(symbols, dynamic dims)`` -- ``symbols`` maps ``(graph index, path)`` of each
    fitted leaf to its ``Sym`` -- or None when no dim can be dynamic."""
    tensors = _shape_inputs(args, kwargs)
    inputs = [base.by_tensor[id(t)] for t in tensors]
    dims = [(i, a) for i, t in enumerate(tensors) for a, n in enumerate(t.shape) if n >= 2]

    def graphs(cap):
        return [g for g in (cap.graph, cap.backward_graph) if g is not None]

    def leaves(cap):
        return [_graph_leaves(g) for g in graphs(cap)]

    base_leaves = leaves(base)

    def attempt(changes):
        try:
            cap = run_capture(*_resized(args, kwargs, changes))
        except Exception:  # noqa: BLE001 -- this size is not valid for the function
            return None
        if cap.breaks or len(graphs(cap)) != len(graphs(base)):
            return None
        diffs: list = []
        try:
            _merge(base_leaves, [leaves(cap)], [], diffs)
            if any(w[1] != 0 for w, _, _ in diffs):
                raise _Mismatch  # a size among the outputs: not a graph's integer
        except _Mismatch:
            return None
        return {tuple(w): o[0] for w, _, o in diffs}

    def delta(i, a, k=1):
        return -k if tensors[i].shape[a] > 2 * k else k

    single = {}
    for d in dims:
        got = attempt({d: delta(*d)})
        if got is not None:
            single[d] = got
    live = [d for d in single if single[d]]  # dims some integer depends on
    if not single:
        return None
    pairs = {}
    for d, e in itertools.combinations(live, 2):
        got = attempt({d: delta(*d), e: delta(*e)})
        if got is None:
            return None
        pairs[(d, e)] = got
    base_vals = _int_leaves(base_leaves)
    x = {d: tensors[d[0]].shape[d[1]] for d in single}
    symbols = {}
    for key, v0 in base_vals.items():
        if not any(key in single[d] for d in live):
            continue
        cross = {}
        for (d, e), got in pairs.items():
            vd = single[d].get(key, v0)
            ve = single[e].get(key, v0)
            vde = got.get(key, v0)
            num = vde - vd - ve + v0
            cross[(d, e)] = num // (delta(*d) * delta(*e))
        lin = {}
        for d in live:
            vd = single[d].get(key, v0)
            slope = vd - v0 - sum(c * delta(*d) * x[e if a == d else a]
                                  for (a, e), c in cross.items() if d in (a, e))
            lin[d] = slope // delta(*d)
        c0 = v0 - sum(c * x[d] for d, c in lin.items()) - sum(
            c * x[d] * x[e] for (d, e), c in cross.items())
        terms = tuple((c, (DimRef(inputs[d[0]], d[1]),)) for d, c in lin.items() if c) + tuple(
            (c, (DimRef(inputs[d[0]], d[1]), DimRef(inputs[e[0]], e[1])))
            for (d, e), c in cross.items() if c)
        symbols[key] = Sym(c0, terms)
    # verify at other sizes
    check = {d: delta(*d, 2) for d in single}
    got = attempt(check)
    if got is None:
        return None
    sizes = {d: x[d] + check[d] for d in single}
    for key, sym in symbols.items():
        value = sym.const + sum(c * int(np.prod([sizes[(_index(inputs, r.value), r.axis)]
                                                 for r in refs])) for c, refs in sym.terms)
        if got.get(key, base_vals[key]) != value:
            return None
    for key in got:
        if key not in symbols:
            return None
    return symbols, list(single)


def _index(inputs: list, v: Value) -> int:
    return next(i for i, u in enumerate(inputs) if u is v)


def _int_leaves(tree, where=()) -> dict:
    out = {}
    t = type(tree)
    if t in (list, tuple):
        for k, item in enumerate(tree):
            out.update(_int_leaves(item, where + (k,)))
    elif t is dict:
        for k, item in tree.items():
            out.update(_int_leaves(item, where + (k,)))
    elif t is int:
        out[where] = tree
    return out


def apply_symbols(cap, symbols: dict) -> None:
    """Put the fitted ``Sym``s into the capture's graphs, in place of their integers."""
    gs = [g for g in (cap.graph, cap.backward_graph) if g is not None]
    for key, sym in symbols.items():
        gi, _, node_index, field, *path = key  # (graph, nodes, node, field, path)
        node = gs[gi].nodes[node_index]
        if field == 2:  # the fields of _graph_leaves' node tuples: op, multi, args, kwargs
            node.args = _set(node.args, path, sym)
        else:
            node.kwargs = _set(node.kwargs, path, sym)


def _set(tree, path, value):
    if not path:
        return value
    head, *rest = path
    if type(tree) is dict:
        return {k: (_set(v, rest, value) if k == head else v) for k, v in tree.items()}
    items = [(_set(v, rest, value) if k == head else v) for k, v in enumerate(tree)]
    return type(tree)(items) if type(tree) is not list else items
