"""A captured graph as an ``nn.Module``: what ``ember.jit.trace``/``jit.load`` and
``ExportedProgram.module()`` return.

Its parameters and buffers carry the original module's qualified names (so its
``state_dict`` has the same keys); ``forward`` checks the inputs against the graph's
(rank, dtype, and every dim not declared dynamic) and runs the generated code.
"""

from __future__ import annotations

import numpy as np

from .._dtype import from_numpy_dtype
from .._tensor import Tensor, _make
from ..nn.modules.module import Module
from ..nn.parameter import Parameter
from . import fusion
from .codegen import generate, rebuild
from .graph import Graph, tree_leaves

__all__ = ["GraphModule"]


class GraphModule(Module):
    """``graph`` run as a module. ``weights`` maps qualified names to arrays, ``kinds``
    says which are parameters, buffers or other tensors the graph reads ("extern": kept
    as non-persistent buffers). ``dynamic_dims``: ``{input index: {axis, ...}}`` that may
    take any size."""

    def __init__(self, graph: Graph, weights: dict, kinds: dict,
                 dynamic_dims: dict | None = None):
        super().__init__()
        object.__setattr__(self, "graph", graph)
        object.__setattr__(self, "dynamic_dims", dynamic_dims or {})
        object.__setattr__(self, "kinds", dict(kinds))
        for name, arr in weights.items():
            owner, leaf = self._owner(name)
            t = _make(np.array(arr))
            if kinds[name] == "param":
                owner.register_parameter(leaf, Parameter(t))
            else:
                owner.register_buffer(leaf, t, persistent=kinds[name] == "buffer")
        run = Graph(inputs=graph.inputs, params=graph.params, nodes=list(graph.nodes),
                    outputs=graph.outputs, out_spec=graph.out_spec)
        fusion.fuse(run)
        object.__setattr__(self, "_fn", generate(run, "forward"))

    def _owner(self, qualified: str) -> tuple[Module, str]:
        """The submodule holding ``a.b.weight`` (made as plain Modules on the way)."""
        *path, leaf = qualified.split(".")
        mod: Module = self
        for part in path:
            child = mod._modules.get(part)
            if child is None:
                child = Module()
                mod.add_module(part, child)
            mod = child
        return mod, leaf

    @property
    def code(self) -> str:
        """The generated Python source that ``forward`` runs."""
        return self._fn.__source__

    def _tensor(self, qualified: str) -> Tensor:
        owner, leaf = self._owner(qualified)
        t = owner._parameters.get(leaf)
        return t if t is not None else owner._buffers[leaf]

    def forward(self, *args, **kwargs):
        tensors = [x for x in tree_leaves((args, kwargs)) if isinstance(x, Tensor)]
        if len(tensors) != len(self.graph.inputs):
            raise TypeError(f"forward() expected {len(self.graph.inputs)} tensor inputs, got "
                            f"{len(tensors)}")
        for i, (t, v) in enumerate(zip(tensors, self.graph.inputs)):
            _check_input(i, t, v, self.dynamic_dims.get(i, ()))
        arrays = [t._data for t in tensors]
        arrays += [self._tensor(name)._data for name in self.graph.params]
        return rebuild(self.graph.out_spec, [_make(a) for a in self._fn(*arrays)])


def _check_input(i: int, t: Tensor, v, dynamic) -> None:
    shape = t._data.shape
    if t._data.dtype != v.dtype:
        raise RuntimeError(f"Expected input at *args[{i}] to have dtype "
                           f"{from_numpy_dtype(v.dtype)}, but got {t.dtype}")
    if len(shape) != len(v.shape):
        raise RuntimeError(f"Expected input at *args[{i}] to have {len(v.shape)} dims, but got "
                           f"{len(shape)}")
    for axis, (n, m) in enumerate(zip(shape, v.shape)):
        if axis in dynamic:
            if n < 2:
                raise RuntimeError(f"Expected input at *args[{i}].shape[{axis}] to be >= 2 (a "
                                   f"dynamic dim), but got {n}")
        elif n != m:
            raise RuntimeError(f"Expected input at *args[{i}].shape[{axis}] to be equal to {m}, "
                               f"but got {n}")
