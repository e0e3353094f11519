"""``torch.jit``'s tracing front end: ``trace`` captures a module or function into a graph,
``save``/``load`` write it with its weights to one file that runs without the model's
Python source (see ``ember.compiler.serialize``).

``script`` cannot compile Python source as TorchScript does; it returns its argument
unchanged (eager semantics are TorchScript's semantics for the programs it accepts), so
programs decorated with ``@torch.jit.script`` run. Use ``trace`` for a saved program.
"""

from __future__ import annotations

import os
from typing import Final  # noqa: F401 -- ``torch.jit.Final`` (``x: jit.Final[int]``)

from .compiler.program import GraphModule
from .compiler.serialize import read_program, write_program
from .compiler.trace import trace_graph

__all__ = ["trace", "save", "load", "script", "ScriptModule", "ignore", "unused", "export",
           "is_scripting", "is_tracing", "annotate"]

ScriptModule = GraphModule
RecursiveScriptModule = TopLevelTracedModule = GraphModule
_TRACING = [False]


def trace(func, example_inputs=None, *, example_kwarg_inputs: dict | None = None,
          check_trace: bool = True, strict: bool = True, **_unused) -> GraphModule:
    """Run ``func`` (a Module or function) on the example inputs and return the program
    it ran as a module with ``.graph`` and ``.code``. Control flow on tensor data cannot
    be traced: it raises, naming the line. As torch's traced programs, it runs at other
    sizes of every input dim (of size 2 or more in the example) on which the program
    does not depend; the others must keep the example's size."""
    args = example_inputs if isinstance(example_inputs, tuple) else \
        (() if example_inputs is None else (example_inputs,))
    _TRACING[0] = True
    try:
        graph, weights, kinds, dims = trace_graph(func, args, example_kwarg_inputs,
                                                  dynamic="auto", what="jit.trace")
    finally:
        _TRACING[0] = False
    by_input: dict = {}
    for i, axis in dims:
        by_input.setdefault(i, set()).add(axis)
    return GraphModule(graph, weights, kinds, by_input)


def save(m: GraphModule, f, _extra_files=None) -> None:
    """Write a traced module (graph + weights) to ``f`` (a path or binary file)."""
    if not isinstance(m, GraphModule):
        raise RuntimeError("jit.save expects a traced module (ember.jit.trace); got "
                           f"{type(m).__name__}")
    weights = {name: m._tensor(name)._data for name in m.kinds}
    write_program(f, m.graph, weights, extra={
        "kind": "jit", "kinds": m.kinds,
        "dynamic_dims": {str(i): sorted(axes) for i, axes in m.dynamic_dims.items()}})


def load(f, map_location=None, _extra_files=None) -> GraphModule:
    """A traced module from ``f``: no pickle, no model source needed."""
    if isinstance(f, (str, os.PathLike)) and not os.path.exists(f):
        raise ValueError(f"The provided filename {f} does not exist")
    graph, weights, extra = read_program(f)
    return GraphModule(graph, weights, extra["kinds"],
                       {int(i): set(a) for i, a in extra.get("dynamic_dims", {}).items()})


def script(obj=None, optimize=None, _frames_up: int = 0, _rcb=None, example_inputs=None):
    """``obj`` itself (see the module docstring)."""
    return obj


def ignore(drop=False, **kwargs):
    return drop if callable(drop) else (lambda fn: fn)


def unused(fn):
    return fn


def export(fn):
    return fn


def is_scripting() -> bool:
    return False


def is_tracing() -> bool:
    return _TRACING[0]


def annotate(the_type, the_value):
    return the_value
