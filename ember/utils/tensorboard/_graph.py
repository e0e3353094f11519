"""A module's op graph for TensorBoard's graph view, captured through the dispatcher.

The model runs once on the example input inside a ``DispatchMode`` that records every
op (named ``aten::<op.aten>`` from the op table, as torch's traced graph names it) with
its tensor inputs and output shapes; forward hooks keep track of which module is
running, so nodes are named by module scope as torch names them
(``Net/Sequential[features]/Conv2d[0]/convolution.3``) and TensorBoard folds them into boxes.
"""

from __future__ import annotations

from itertools import chain

from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.config_pb2 import RunMetadata
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.step_stats_pb2 import DeviceStepStats, StepStats
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.versions_pb2 import VersionDef

from ..._dispatch import DispatchMode
from ..._tensor import Tensor
from ...autograd import no_grad

__all__ = ["graph"]


def _node(name: str, op: str, inputs: list[str], shapes: list[tuple], attr: str = "") -> NodeDef:
    attrs = {"_output_shapes": AttrValue(list=AttrValue.ListValue(shape=[
        TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in s]) for s in shapes]))}
    if attr:
        attrs["attr"] = AttrValue(s=attr.encode("utf_8"))
    return NodeDef(name=name, op=op, input=inputs, attr=attrs)


def _flat_tensors(values) -> list[Tensor]:
    out = []
    for v in values:
        if isinstance(v, Tensor):
            out.append(v)
        elif isinstance(v, list | tuple):
            out.extend(_flat_tensors(v))
    return out


def _describe(args, kwargs) -> str:
    """The non-tensor arguments of an op call, shown in the node's info card."""
    parts = [repr(a) for a in args if not _flat_tensors([a])]
    parts += [f"{k}={v!r}" for k, v in kwargs.items() if not _flat_tensors([v])]
    return ", ".join(parts)


class _Recorder(DispatchMode):
    """Records each op call as a ``NodeDef`` whose inputs name the nodes that produced its
    tensor arguments (parameters and constants get nodes of their own on first use)."""

    def __init__(self, model) -> None:
        self.nodes: list[NodeDef] = []
        self.scope = [type(model).__name__]
        self.scopes: dict[int, str] = {}
        self.producer: dict[int, str] = {}
        self.keep: list[Tensor] = []  # keeps recorded tensors alive so their ids stay unique
        self.counter = 0
        self.params: dict[int, str] = {}
        paths: dict[str, str] = {}
        for name, module in model.named_modules():
            parent, _, attr = name.rpartition(".")
            paths[name] = f"{paths[parent]}/{type(module).__name__}[{attr}]" if name \
                else type(model).__name__
            self.scopes.setdefault(id(module), paths[name])
            for pname, p in chain(module.named_parameters(recurse=False),
                                  module.named_buffers(recurse=False)):
                self.params.setdefault(id(p), f"{paths[name]}/{pname}")

    def add(self, t: Tensor, name: str, op: str, inputs: list[str], attr: str = "") -> None:
        self.nodes.append(_node(name, op, inputs, [tuple(t.shape)], attr))
        self.producer[id(t)] = name
        self.keep.append(t)

    def name_of(self, t: Tensor) -> str:
        name = self.producer.get(id(t))
        if name is None:
            if id(t) in self.params:
                self.add(t, self.params[id(t)], "prim::GetAttr", [])
            else:
                self.counter += 1
                self.add(t, f"{self.scope[-1]}/constant.{self.counter}", "prim::Constant", [])
            name = self.producer[id(t)]
        return name

    def __ember_dispatch__(self, op, args, kwargs):
        inputs = [self.name_of(t) for t in _flat_tensors(args) + _flat_tensors(kwargs.values())]
        out = op.apply(*args, **kwargs)
        outs = _flat_tensors([out])
        self.counter += 1
        name = f"{self.scope[-1]}/{op.aten}.{self.counter}"
        self.nodes.append(_node(name, f"aten::{op.aten}", inputs,
                                [tuple(t.shape) for t in outs], _describe(args, kwargs)))
        for t in outs:
            self.producer[id(t)] = name
        self.keep.extend(outs)
        return out


def graph(model, args) -> tuple[GraphDef, RunMetadata]:
    """The ``GraphDef`` of ``model(*args)`` (run once in eval mode, without grad) and the
    CPU step stats torch writes beside it."""
    args = args if isinstance(args, tuple | list) else (args,)
    rec = _Recorder(model)
    for i, t in enumerate(_flat_tensors(args)):
        rec.add(t, f"input/input.{i}", "IO Node", [])

    def enter(module, _):
        rec.scope.append(rec.scopes.get(id(module), rec.scope[-1]))

    def leave(module, _, __):
        rec.scope.pop()

    handles = []
    for m in model.modules():
        handles.append(m.register_forward_pre_hook(enter))
        handles.append(m.register_forward_hook(leave))
    training = model.training
    model.train(False)
    try:
        with no_grad(), rec:
            out = model(*args)
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    for i, t in enumerate(_flat_tensors([out])):
        rec.nodes.append(_node(f"output/output.{i}", "IO Node", [rec.name_of(t)],
                               [tuple(t.shape)]))
    stats = RunMetadata(step_stats=StepStats(dev_stats=[DeviceStepStats(device="/device:CPU:0")]))
    return GraphDef(node=rec.nodes, versions=VersionDef(producer=22)), stats
