"""``ember.onnx.load``: an ONNX model as an ``nn.Module`` that runs its graph with ember ops.

Initializers become the module's state: floating-point ones are ``Parameter``s (the model
can be fine-tuned), others buffers, registered under their ONNX names (``fc1.weight``
lands in a submodule ``fc1``, so a state dict of the model that was exported loads into
it). Nodes run in the graph's order through the implementations of ``_onnx_ops``; a node
whose operator has none is refused when the model is loaded, with the node's name.
"""

from __future__ import annotations

import inspect
import keyword
import os
from typing import IO

import numpy as np
import onnx
from onnx import numpy_helper

import ember
from ember import Tensor, nn

from . import _onnx_ops
from .errors import UnsupportedOperatorError

_SPECIAL = ("opset", "op_type", "n_outputs")


class _Node:
    """One ONNX node, ready to run: its implementation and its attributes as keywords."""

    __slots__ = ("name", "op_type", "inputs", "outputs", "fn", "attrs")

    def __init__(self, node: onnx.NodeProto, opsets: dict[str, int]):
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        self.name = node.name or f"{node.op_type}({', '.join(node.output)})"
        self.op_type = node.op_type
        self.inputs = list(node.input)
        self.outputs = list(node.output)
        fn = _onnx_ops.OPS.get((domain, node.op_type))
        opset = opsets.get(domain, opsets.get("", 1))
        if fn is None:
            where = f"{domain}." if domain else ""
            raise UnsupportedOperatorError.onnx_node(f"{where}{node.op_type}", opset, self.name)
        self.fn = fn
        self.attrs = _attributes(node, domain, opset, fn)
        params = inspect.signature(fn).parameters
        for name, value in (("opset", opset), ("op_type", node.op_type),
                            ("n_outputs", len(node.output))):
            if name in params:
                self.attrs[name] = value

    def run(self, values: dict):
        args = [values[name] if name else None for name in self.inputs]
        while args and args[-1] is None:
            args.pop()
        try:
            out = self.fn(*args, **self.attrs)
        except Exception as e:
            raise type(e)(f"ONNX node {self.name!r} ({self.op_type}): {e}") from e
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for name, value in zip(self.outputs, outs):
            if name:
                values[name] = value


def _attributes(node: onnx.NodeProto, domain: str, opset: int, fn) -> dict:
    """The node's attributes as Python values, ONNX's defaults first; tensors as NumPy
    arrays; an attribute named like one of ``fn``'s inputs as ``<name>_attr``."""
    attrs = {}
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, domain)
    except onnx.defs.SchemaError:
        schema = None
    if schema is not None:
        for name, spec in schema.attributes.items():
            if spec.default_value.name:
                attrs[name] = _value(spec.default_value)
    for attr in node.attribute:
        attrs[attr.name] = _value(attr)
    params = inspect.signature(fn).parameters
    positional = {n for n, p in params.items()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return {f"{k}_attr" if k in positional else k: v for k, v in attrs.items()}


def _value(attr: onnx.AttributeProto):
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    return value


class OnnxModule(nn.Module):
    """An ONNX graph run by ember. ``forward(*inputs)`` takes the graph's inputs in order
    (Tensors or arrays) and returns its output, or a tuple of them; ``input_names`` and
    ``output_names`` tell which is which."""

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        graph = model.graph
        opsets = {("" if o.domain in ("", "ai.onnx") else o.domain): o.version
                  for o in model.opset_import}
        init_names = set()
        self._state_names: dict[str, str] = {}  # ONNX name -> attribute path
        for tensor in graph.initializer:
            init_names.add(tensor.name)
            self._register_state(tensor.name, numpy_helper.to_array(tensor))
        self.input_names = [i.name for i in graph.input if i.name not in init_names]
        self.output_names = [o.name for o in graph.output]
        self._nodes = [_Node(n, opsets) for n in graph.node]

    def _register_state(self, name: str, array: np.ndarray) -> None:
        """``name`` as a dotted path of submodules when its parts are identifiers (the
        state-dict keys of the model that was exported), else as one flat name."""
        parts = name.split(".")
        if not all((p.isidentifier() or p.isdigit()) and not keyword.iskeyword(p)
                   and not hasattr(nn.Module, p) for p in parts):
            parts = ["".join(c if c.isalnum() else "_" for c in name)]
            if not parts[0][:1].isalpha():
                parts[0] = "t_" + parts[0]
        owner = self
        for part in parts[:-1]:
            child = owner._modules.get(part)
            if child is None:
                child = nn.Module()
                owner.add_module(part, child)
            owner = child
        tensor = ember.from_numpy(np.array(array))
        if tensor.dtype.is_floating_point:
            owner.register_parameter(parts[-1], nn.Parameter(tensor))
        else:
            owner.register_buffer(parts[-1], tensor)
        self._state_names[name] = ".".join(parts)

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"the ONNX model takes {len(self.input_names)} inputs "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        values = {name: self.get_parameter(path) if _is_param(self, path)
                  else self.get_buffer(path)
                  for name, path in self._state_names.items()}
        for name, x in zip(self.input_names, inputs):
            values[name] = x if isinstance(x, Tensor) else ember.from_numpy(np.asarray(x))
        for node in self._nodes:
            node.run(values)
        outs = tuple(values[name] for name in self.output_names)
        return outs[0] if len(outs) == 1 else outs


def _is_param(module: nn.Module, path: str) -> bool:
    owner, _, leaf = path.rpartition(".")
    return leaf in (module.get_submodule(owner) if owner else module)._parameters


def load(f: str | os.PathLike | IO[bytes] | onnx.ModelProto) -> OnnxModule:
    """An ONNX model (a path, a file object, or a ``ModelProto``) as an ``nn.Module`` that
    runs it with ember ops."""
    model = f if isinstance(f, onnx.ModelProto) else onnx.load(f)
    return OnnxModule(model)
