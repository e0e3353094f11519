"""Concatenation of reshaped arrays written straight into the result.

``cat([reshape(x1, s1), reshape(x2, s2), ...], dim)`` copies each ``xi`` twice when its
reshape is not a view (a transposed array: the gradients of attention's q, k and v as
(B, T, H, E) views, reshaped to (B, T, C) and concatenated into the QKV projection's
gradient, 12 MiB of copies per gpt_train step): once into the reshaped array, once into
the result. A ``CatReshaped`` node copies each ``xi`` once, into its block of the result
seen with ``xi``'s shape (a view, since a block's dims only split the result's dims),
and the reshape nodes go. Each reshape must be read by the cat alone, and the sizes must
be plain integers (not a dynamic program's symbols).
"""

from __future__ import annotations

import math

import numpy as np

from .graph import Graph, Node, Value

__all__ = ["fuse_cat_of_reshapes", "CatReshaped"]


class CatReshaped:
    """``np.concatenate([x.reshape(s) for x, s in zip(xs, shapes)], dim)`` without the
    reshaped copies; a graph node's op (not an entry of ``OPS``)."""

    kind = "fused"
    inplace = False
    _mutated_others = ()
    aten = name = "fused_cat_reshaped"

    def __init__(self, shapes: list[tuple], dim: int, dtype: np.dtype):
        self.shapes, self.dim, self.dtype = shapes, dim, dtype

    def forward(self, ctx, *xs):
        d, first = self.dim, self.shapes[0]
        out = np.empty(first[:d] + (sum(s[d] for s in self.shapes),) + first[d + 1:],
                       self.dtype)
        lo = 0
        for x, shape in zip(xs, self.shapes):
            block = out[(slice(None),) * d + (slice(lo, lo + shape[d]),)]
            try:
                block = block.reshape(x.shape, copy=False)
            except (ValueError, TypeError):  # (TypeError: NumPy < 2.1)
                x = x.reshape(shape)
            np.copyto(block, x)
            lo += shape[d]
        return out

    def __repr__(self) -> str:
        return f"CatReshaped(dim={self.dim})"


def fuse_cat_of_reshapes(g: Graph, keep: list | None = None) -> int:
    """Replace such concatenations in ``g`` (``keep``: values read from outside it);
    returns how many."""
    escapes = {id(v) for v in [*g.outputs, *(keep or ())] if v is not None}
    users = g.users()
    drop, place = set(), {}
    for node in g.nodes:
        found = _match(node, users, escapes)
        if found is None:
            continue
        reshapes, dim = found
        new = Node(CatReshaped([tuple(r.args[1]) for r in reshapes], dim, node.outputs[0].dtype),
                   tuple(r.args[0] for r in reshapes), {}, outputs=node.outputs,
                   location=node.location)
        node.outputs[0].producer = new
        drop.update(id(r) for r in reshapes)
        place[id(node)] = new
    if place:
        g.nodes = [place.get(id(n), n) for n in g.nodes if id(n) not in drop]
    return len(place)


def _match(node: Node, users: dict, escapes: set):
    """``(reshape nodes, dim)`` of a concatenation of reshapes, or None."""
    if node.name != "cat" or node.multi or not node.args:
        return None
    parts = node.args[0]
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    out = node.outputs[0]
    if type(parts) not in (list, tuple) or len(parts) < 2 or type(dim) is not int or \
            set(node.kwargs) - {"dim"} or not all(type(v) is Value for v in parts):
        return None
    dim %= max(len(out.shape), 1)
    reshapes = []
    for v in parts:
        r = v.producer
        if v.kind != "node" or r is None or r.name not in ("reshape", "view") or \
                r.kwargs or len(r.args) != 2 or type(r.args[0]) is not Value or \
                id(v) in escapes or len(users.get(v, ())) != 1 or v.dtype != out.dtype:
            return None
        shape = r.args[1]
        if type(shape) not in (list, tuple) or not all(type(n) is int for n in shape) or \
                tuple(shape) != v.shape or not math.prod(shape) or \
                len(shape) != len(out.shape):
            return None
        reshapes.append(r)
    return reshapes, dim
