"""The graph IR: what capture records and what the passes, the code generator, ``jit``,
``export`` and the ONNX exporter read.

A ``Graph`` is a list of ``Node``s in execution order over SSA ``Value``s:

- a ``Value`` is one array: a graph input (``kind`` ``"input"``: a tensor argument of
  the captured function; ``"param"``/``"buffer"``: a module's parameter or buffer, by
  qualified name; ``"grad"``: an output gradient the backward graph takes), a node's
  output (``"node"``), a constant (``"const"``, the array in ``data``), or something a
  forward kernel kept for backward (``"aux"``: a saved array or a ctx attribute of the
  forward node ``producer``, found by ``aux``). ``meta`` is its ``MetaArray`` (shape,
  NumPy dtype, strides);
- a ``Node`` is one call of an op of ``OPS`` (``op``, its in-place variant, or a fused
  kernel made by the passes) on ``args``/``kwargs``, whose leaves are ``Value``s or plain
  Python values, with the user's ``file:line`` that called it in ``location``.

``outputs`` is a flat list of Values; ``out_spec`` says how the function's result is
rebuilt from them (a pytree whose tensor leaves are ``_Slot`` indices into ``outputs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._meta import MetaArray

__all__ = ["Value", "Node", "Graph", "Slot", "tree_map", "tree_leaves"]


class Value:
    """One array of the graph (see the module docstring for ``kind``)."""

    __slots__ = ("name", "kind", "meta", "producer", "data", "target", "aux", "index")

    def __init__(self, name: str, kind: str, meta: MetaArray, producer: Node | None = None,
                 data: Any = None, target: str | None = None, aux: tuple | None = None,
                 index: int = 0):
        self.name, self.kind, self.meta, self.producer = name, kind, meta, producer
        self.data, self.target, self.aux, self.index = data, target, aux, index

    @property
    def shape(self) -> tuple:
        return self.meta.shape

    @property
    def dtype(self) -> np.dtype:
        return self.meta.dtype

    def __repr__(self) -> str:
        return f"%{self.name}"


@dataclass(eq=False)
class Node:
    """One op call: ``op.forward(ctx, *args, **kwargs)`` with Values as array inputs."""

    op: Any
    args: tuple
    kwargs: dict
    outputs: tuple = ()
    location: str = ""
    multi: bool = False        # the op returns a tuple (even of one array)

    @property
    def inputs(self) -> list[Value]:
        """The Values this node reads, in argument order."""
        return [v for v in tree_leaves((self.args, self.kwargs)) if type(v) is Value]

    @property
    def name(self) -> str:
        return getattr(self.op, "name", type(self.op).__name__)

    def __repr__(self) -> str:
        outs = ", ".join(map(repr, self.outputs)) or "()"
        args = ", ".join(_fmt(a) for a in self.args)
        kw = "".join(f", {k}={_fmt(v)}" for k, v in self.kwargs.items())
        loc = f"  # {self.location}" if self.location else ""
        return f"{outs} = {self.name}({args}{kw}){loc}"


def _fmt(x) -> str:
    if type(x) is Value:
        return repr(x)
    if isinstance(x, np.ndarray):
        return f"array(shape={list(x.shape)}, dtype={x.dtype})"
    if type(x) in (list, tuple):
        inner = ", ".join(_fmt(i) for i in x)
        return f"[{inner}]" if type(x) is list else f"({inner}{',' if len(x) == 1 else ''})"
    return repr(x)


@dataclass(frozen=True)
class Slot:
    """A tensor leaf of ``Graph.out_spec``: the ``index``-th graph output."""

    index: int


@dataclass(eq=False)
class Graph:
    """Inputs, nodes in execution order, outputs (see the module docstring)."""

    inputs: list[Value] = field(default_factory=list)
    params: dict[str, Value] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    out_spec: Any = None
    grads: list[Value] = field(default_factory=list)  # backward graphs: gradient inputs
    grad_outputs: list[int] = field(default_factory=list)  # ...of these forward outputs

    def all_inputs(self) -> list[Value]:
        """What the generated function takes, in order: inputs, parameters/buffers, grads."""
        return [*self.inputs, *self.params.values(), *self.grads]

    def users(self) -> dict[Value, list[Node]]:
        """Each value's reading nodes (values read by none are absent)."""
        out: dict[Value, list[Node]] = {}
        for node in self.nodes:
            for v in node.inputs:
                out.setdefault(v, []).append(node)
        return out

    def __str__(self) -> str:
        lines = [f"graph({', '.join(f'{v!r}: {_meta_str(v.meta)}' for v in self.all_inputs())}):"]
        lines += [f"    {n!r}" for n in self.nodes]
        lines.append(f"    return {self.outputs!r}")
        return "\n".join(lines)

    def print_tabular(self) -> None:
        """Print one line per node: name, op, inputs, output shapes, location."""
        print(f"{'output':<12}{'op':<28}{'inputs':<40}{'shape':<20}location")
        for n in self.nodes:
            ins = ", ".join(map(repr, n.inputs))
            shapes = ", ".join(str(list(o.shape)) for o in n.outputs)
            outs = ", ".join(map(repr, n.outputs))
            print(f"{outs:<12}{n.name:<28}{ins:<40}{shapes:<20}{n.location}")


def _meta_str(meta: MetaArray) -> str:
    return f"{meta.dtype}{list(meta.shape)}"


def tree_leaves(tree) -> list:
    """The leaves of nested tuples, lists and dicts (dict values in key order)."""
    out: list = []
    _leaves(tree, out)
    return out


def _leaves(tree, out: list) -> None:
    t = type(tree)
    if t is tuple or t is list or isinstance(tree, tuple):
        for x in tree:
            _leaves(x, out)
    elif t is dict:
        for x in tree.values():
            _leaves(x, out)
    else:
        out.append(tree)


def tree_map(fn, tree):
    """``tree`` with every leaf ``x`` replaced by ``fn(x)`` (tuples, lists, dicts; named
    tuples and other tuple subclasses keep their type)."""
    t = type(tree)
    if t is list:
        return [tree_map(fn, x) for x in tree]
    if t is tuple:
        return tuple(tree_map(fn, x) for x in tree)
    if t is dict:
        return {k: tree_map(fn, x) for k, x in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return t(*(tree_map(fn, x) for x in tree))
    if isinstance(tree, tuple) and t.__module__.startswith("ember"):  # return types
        return t(tuple(tree_map(fn, x) for x in tree))
    return fn(tree)
