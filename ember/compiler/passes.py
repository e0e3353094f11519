"""Graph passes: dead-code elimination, common-subexpression elimination, constant folding
and (in ``fusion``) fusion of pointwise chains.

Each pass rewrites a ``Graph`` in place and keeps its meaning: ops with effects -- in-place
writes, ops that write another argument (``Tensor(a!)``), random ops (they advance the
generator) -- are never removed, merged or folded.
"""

from __future__ import annotations

import numpy as np

from .._dispatch import NULL_CTX
from .dynamic import Sym
from .graph import Graph, Node, Value, tree_leaves, tree_map

__all__ = ["optimize", "optimize_backward", "dce", "cse", "fold_constants", "mutated"]


def has_effects(node: Node) -> bool:
    op = node.op
    return bool(op.inplace or getattr(op, "_mutated_others", ()) or op.kind == "random")


def dce(g: Graph, keep: list | None = None) -> int:
    """Drop nodes none of whose outputs is used (or kept); returns how many."""
    live = {id(v) for v in g.outputs if v is not None}
    live |= {id(v) for v in keep or () if v is not None}
    aux_makers = {id(v.producer) for v in keep or () if v is not None and v.kind == "aux"}
    kept, removed = [], 0
    for node in reversed(g.nodes):
        if has_effects(node) or id(node) in aux_makers or any(
                id(o) in live for o in node.outputs):
            kept.append(node)
            live.update(id(v) for v in node.inputs)
        else:
            removed += 1
    g.nodes = kept[::-1]
    return removed


def _key(x):
    """A hashable stand-in for an argument (Values by identity)."""
    t = type(x)
    if t is Value:
        return ("v", id(x))
    if t in (list, tuple):
        return (t.__name__, tuple(_key(i) for i in x))
    if t is dict:
        return ("d", tuple((k, _key(v)) for k, v in x.items()))
    if isinstance(x, np.ndarray):
        return ("a", id(x))
    try:
        hash(x)
        return (t.__name__, x)
    except TypeError:
        return ("id", id(x))


def mutated(g: Graph) -> set[int]:
    """Ids of the values some node writes in place (an in-place op's target, an argument
    an op writes), and of every value those are views of: their memory changes after
    they are made."""
    out: set[int] = set()
    for node in g.nodes:
        if node.op.inplace and node.args and type(node.args[0]) is Value:
            out.add(id(node.args[0]))
        if getattr(node.op, "_mutated_others", ()):
            out.update(id(v) for v in node.inputs)
    for node in reversed(g.nodes):  # a view's write reaches its base
        if node.op.kind == "view" and any(id(o) in out for o in node.outputs):
            out.update(id(v) for v in node.inputs)
    return out


def cse(g: Graph) -> int:
    """Merge nodes that call the same op on the same arguments; returns how many. A node
    whose result is written in place later, or is returned, keeps its own array (merged,
    the write would reach the other value; returned, the caller could write into it);
    factories (``ones``, ``arange``: the causal mask of every layer) merge too."""
    seen: dict = {}
    replace: dict[int, Value] = {}
    kept, merged = [], 0
    written = mutated(g)
    returned = {id(v) for v in g.outputs if v is not None}
    for node in g.nodes:
        if replace:
            _substitute(node, replace)
        if has_effects(node) or hasattr(node, "needs_input_grad") or any(
                id(o) in written or id(o) in returned for o in node.outputs):
            kept.append(node)
            continue
        key = (node.op, _key(node.args), _key(node.kwargs))
        other = seen.get(key)
        if other is None:
            seen[key] = node
            kept.append(node)
            continue
        for a, b in zip(node.outputs, other.outputs):
            replace[id(a)] = b
        merged += 1
    g.nodes = kept
    if replace:
        g.outputs = [replace.get(id(v), v) if v is not None else None for v in g.outputs]
    g.replaced = {**getattr(g, "replaced", {}), **replace}
    return merged


def substitute(g: Graph, replace: dict) -> None:
    """Make ``g`` read ``replace[id(v)]`` wherever it read ``v`` (another graph's CSE)."""
    if replace:
        for node in g.nodes:
            _substitute(node, replace)
        g.outputs = [replace.get(id(v), v) if v is not None else None for v in g.outputs]


def _substitute(node: Node, replace: dict) -> None:
    def leaf(x):
        return replace.get(id(x), x) if type(x) is Value else x
    node.args = tree_map(leaf, node.args)
    node.kwargs = tree_map(leaf, node.kwargs)


def fold_constants(g: Graph) -> int:
    """Evaluate nodes whose inputs are all constants (a causal mask from ``ones``/
    ``tril``, an ``arange``) once, now; their outputs become constants."""
    folded = 0
    kept = []
    for node in g.nodes:
        if has_effects(node) or hasattr(node, "needs_input_grad") or \
                not all(v.kind == "const" for v in node.inputs) or any(
                    type(x) is Sym for x in tree_leaves((node.args, node.kwargs))):
            kept.append(node)
            continue
        args = tree_map(lambda x: x.data if type(x) is Value else x, node.args)
        kwargs = tree_map(lambda x: x.data if type(x) is Value else x, node.kwargs)
        out = node.op.forward(NULL_CTX, *args, **kwargs)
        outs = tuple(out) if node.multi else (out,)
        for v, arr in zip(node.outputs, outs):
            v.kind, v.data, v.producer = "const", np.asarray(arr), None
        folded += 1
    g.nodes = kept
    return folded


def optimize(g: Graph, keep: list | None = None) -> dict:
    """The forward pipeline; returns what each pass did."""
    stats = {"fold": fold_constants(g), "cse": cse(g)}
    stats["dce"] = dce(g, keep)
    return stats


def optimize_backward(g: Graph) -> dict:
    """The backward pipeline (its outputs are the gradients)."""
    stats = {"cse": cse(g)}
    stats["dce"] = dce(g)
    return stats
