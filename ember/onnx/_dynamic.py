"""Dynamic axes from concrete captures.

Capture runs the model on real inputs, so every size in the IR is a number. To tell which
numbers follow a dynamic input dim, the exporter captures the model again with each
dynamic dim (all inputs' axes of one name together) one larger, and compares the graphs
node by node: an int argument that changed depends on the dims whose change moved it.
``fit`` explains it as ``k * product of dims`` or as ``sum of a_i * dim_i + c`` and
returns a ``SymInt``; a graph whose ops change with the size (a Python loop over the
sequence) cannot be exported with that axis dynamic, and the error says where.
"""

from __future__ import annotations

import math

import numpy as np

from ._builder import Dim, SymInt
from .errors import OnnxExporterError


def grow(arrays: list[np.ndarray], dims: list[Dim]) -> list[np.ndarray]:
    """The inputs with each of ``dims`` one longer (its last slice repeated, so ids stay
    in range and masks stay masks)."""
    out = list(arrays)
    for d in dims:
        a = out[d.input]
        out[d.input] = np.concatenate([a, np.take(a, [-1], axis=d.axis)], axis=d.axis)
    return out


def fit(base: int, moved: dict, sizes: dict) -> SymInt | None:
    """``base`` at the dims' ``sizes``; ``moved[dim]`` its value with that dim one larger
    (dims absent did not move it). None when it depends on no dim."""
    if not moved:
        return None
    dims = tuple(moved)
    size = math.prod(sizes[d] for d in dims)
    if size and base % size == 0:
        k = base // size
        if all(v == k * size // sizes[d] * (sizes[d] + 1) for d, v in moved.items()):
            return SymInt(base, coef=k, dims=dims)
    terms = tuple((d, v - base) for d, v in moved.items())
    offset = base - sum(a * sizes[d] for d, a in terms)
    return SymInt(base, terms=terms, offset=offset)


def symbolize(base_graph, grown: dict, sizes: dict):
    """Replace, in ``base_graph``'s node arguments, each int that differs in the graphs of
    ``grown`` (dim -> graph captured with that dim one larger) by its SymInt. Returns the
    symbolic arguments per node and a function giving output dims' SymInts."""
    nodes = base_graph.nodes
    for dim, g in grown.items():
        if len(g.nodes) != len(nodes) or any(a.op is not b.op for a, b in zip(nodes, g.nodes)):
            where = _first_difference(nodes, g.nodes)
            raise OnnxExporterError(
                f"the model runs different ops when dynamic axis {dim.name!r} changes size "
                f"(from {where}): that axis cannot be exported as dynamic")
    out = []
    for i, node in enumerate(nodes):
        others = {d: g.nodes[i] for d, g in grown.items()}
        args = _walk(node.args, {d: n.args for d, n in others.items()}, sizes, node)
        kwargs = _walk(node.kwargs, {d: n.kwargs for d, n in others.items()}, sizes, node)
        out.append((args, kwargs))
    return out


def _walk(x, others: dict, sizes: dict, node):
    t = type(x)
    if t in (tuple, list):
        items = [_walk(v, {d: o[j] for d, o in others.items()}, sizes, node)
                 for j, v in enumerate(x)]
        return t(items)
    if t is dict:
        return {k: _walk(v, {d: o[k] for d, o in others.items()}, sizes, node)
                for k, v in x.items()}
    if t is slice:
        parts = [_walk(getattr(x, f), {d: getattr(o, f) for d, o in others.items()}, sizes,
                       node) for f in ("start", "stop", "step")]
        return slice(*parts)
    if t is int or isinstance(x, np.integer):
        moved = {d: int(o) for d, o in others.items() if int(o) != int(x)}
        s = fit(int(x), moved, sizes)
        return x if s is None else s
    return x


def _first_difference(a, b) -> str:
    for x, y in zip(a, b):
        if x.op is not y.op:
            return x.location or "?"
    return (a[len(b)] if len(a) > len(b) else b[len(a)]).location or "?"


def output_dims(base_shape: tuple, grown_shapes: dict, sizes: dict) -> list:
    """An output's dims: ints, or the SymInt of those that move with the dynamic dims."""
    dims = []
    for i, n in enumerate(base_shape):
        moved = {d: s[i] for d, s in grown_shapes.items() if s[i] != n}
        s = fit(n, moved, sizes)
        dims.append(n if s is None else s)
    return dims


def dim_name(s) -> str | int:
    """The ONNX ``dim_param`` for an output dim: the input dim's name, or an expression."""
    if not isinstance(s, SymInt):
        return int(s)
    if s.dims and s.coef == 1 and len(s.dims) == 1 and not s.offset:
        return s.dims[0].name
    if s.dims:
        expr = "*".join([str(s.coef)] * (s.coef != 1) + [d.name for d in s.dims])
    else:
        expr = "+".join((f"{a}*{d.name}" if a != 1 else d.name) for d, a in s.terms)
    return expr + (f"+{s.offset}" if s.offset > 0 else f"{s.offset}" if s.offset else "")
