"""``torch.export``: ``export(module, args, dynamic_shapes=...)`` captures the forward as
an ``ExportedProgram`` (graph, weights, input/output specs, the dims that may vary), and
``save``/``load`` keep it in one versioned file that loads in a process where the
model's source does not exist.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from ..compiler.program import GraphModule
from ..compiler.serialize import read_program, write_program
from ..compiler.trace import trace_graph

__all__ = ["export", "save", "load", "ExportedProgram", "Dim"]


@dataclass(frozen=True)
class Dim:
    """A named dynamic dim (``Dim("batch", min=2, max=1024)``)."""

    name: str
    min: int | None = None
    max: int | None = None


@dataclass
class ExportedProgram:
    """A captured program: ``graph``, ``state_dict`` (qualified name -> array) with the
    ``kinds`` of its entries, the inputs' and outputs' names, and ``dynamic_dims``
    ``{input index: [axis, ...]}``."""

    graph: object
    state_dict: dict
    kinds: dict
    input_specs: list
    output_specs: list
    dynamic_dims: dict = field(default_factory=dict)

    @property
    def range_constraints(self) -> dict:
        return {f"{self.input_specs[i]}.shape[{a}]": (2, None)
                for i, axes in self.dynamic_dims.items() for a in axes}

    def module(self) -> GraphModule:
        """The program as a callable module (checks input shapes against the specs)."""
        return GraphModule(self.graph, self.state_dict, self.kinds,
                           {int(i): set(a) for i, a in self.dynamic_dims.items()})

    def __call__(self, *args, **kwargs):
        return self.module()(*args, **kwargs)

    def __str__(self) -> str:
        return f"ExportedProgram:\n{self.graph}"


def export(mod, args: tuple, kwargs: dict | None = None, *, dynamic_shapes=None,
           strict: bool = False, preserve_module_call_signature: tuple = ()) -> ExportedProgram:
    """Capture ``mod(*args, **kwargs)``; ``dynamic_shapes`` as torch's: per forward
    argument (by name in a dict, or by position), ``{axis: Dim(...)}``."""
    args = args if isinstance(args, tuple) else (args,)
    names = _arg_names(mod, len(args))
    dynamic = _dynamic_dims(dynamic_shapes, names)
    graph, weights, kinds, dims = trace_graph(mod, args, kwargs, dynamic=dynamic,
                                              what="export")
    by_input: dict = {}
    for i, axis in dims:
        by_input.setdefault(i, []).append(axis)
    return ExportedProgram(graph, weights, kinds, names[:len(graph.inputs)],
                           [f"output_{i}" for i in range(len(graph.outputs))], by_input)


def _arg_names(mod, n: int) -> list[str]:
    fn = getattr(mod, "forward", mod)
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [p.name for p in params[:n]] + [f"arg{i}" for i in range(len(params), n)]


def _dynamic_dims(spec, names: list[str]) -> set:
    if spec is None:
        return set()
    items = spec.items() if isinstance(spec, dict) else enumerate(spec)
    out = set()
    for key, dims in items:
        index = names.index(key) if isinstance(key, str) else key
        if dims is None:
            continue
        axes = dims.keys() if isinstance(dims, dict) else \
            [a for a, d in enumerate(dims) if d is not None]
        out.update((index, a) for a in axes)
    return out


def save(ep: ExportedProgram, f) -> None:
    """Write ``ep`` to ``f`` (a path or binary file): one versioned file, no pickle."""
    write_program(f, ep.graph, ep.state_dict, extra={
        "kind": "export", "kinds": ep.kinds, "input_specs": ep.input_specs,
        "output_specs": ep.output_specs,
        "dynamic_dims": {str(k): v for k, v in ep.dynamic_dims.items()}})


def load(f) -> ExportedProgram:
    """An ``ExportedProgram`` from ``f``."""
    graph, weights, extra = read_program(f)
    return ExportedProgram(graph, weights, extra["kinds"], extra.get("input_specs", []),
                           extra.get("output_specs", []),
                           {int(k): v for k, v in extra.get("dynamic_dims", {}).items()})
