"""``ember.onnx.export``: capture the model's forward into the compiler's graph IR, lower each
node to ONNX (``_lowerings``), and write the model with the ``onnx`` package.

The capture runs the model once on the example inputs (in eval mode, without autograd, with
``is_in_onnx_export()`` true); for dynamic axes it runs again per dynamic dim
(``_dynamic``). Parameters and buffers become initializers named by their state-dict keys
(or graph inputs with ``export_params=False``); tensors the model builds from Python data
become constants.
"""

from __future__ import annotations

import inspect
import io
import os
from typing import Any

import numpy as np
import onnx
from onnx import helper

from .._tensor import Tensor
from ..compiler.capture import capture
from ..compiler.graph import tree_leaves
from . import _dynamic, _quantized, _recurrent  # noqa: F401  (lowerings register themselves)
from ._builder import Builder, Dim, value_info
from ._lowerings import LOWERINGS, Ctx
from ._state import exporting
from .errors import OnnxExporterError, UnsupportedOperatorError

DEFAULT_OPSET = 18
MAX_OPSET = 23
_PROTOBUF_LIMIT = 2 ** 31


def export(model, args=(), f=None, *, kwargs: dict | None = None,
           input_names=None, output_names=None, dynamic_axes=None, dynamic_shapes=None,
           opset_version: int | None = None, export_params: bool = True,
           do_constant_folding: bool = True, external_data: bool = False,
           **ignored: Any) -> onnx.ModelProto:
    opset = opset_version or DEFAULT_OPSET
    if not 17 <= opset <= MAX_OPSET:
        raise ValueError(f"opset_version {opset} is not supported: ember exports opsets 17 "
                         f"to {MAX_OPSET}")
    args = args if isinstance(args, tuple) else (args,)
    kwargs = kwargs or {}
    model = _quantized.for_export(model, opset)  # quantized modules as their ONNX forms
    leaves = [t for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)]
    in_names = _input_names(model, args, kwargs, leaves, input_names)
    dims = _dynamic_dims(in_names, leaves, args, dynamic_axes, dynamic_shapes)

    graphs, base, result = _capture_all(model, args, kwargs, leaves, dims)
    groups = _groups(dims)
    sizes = {d: leaves[d.input].shape[d.axis] for d in groups}
    sym_args = _dynamic.symbolize(base.graph, {d: g.graph for d, g in graphs.items()}, sizes)

    g = base.graph
    b = Builder(opset)
    for i, (v, name) in enumerate(zip(g.inputs, in_names)):
        b.names[v] = name
        b.inputs_by_index[i] = name
    graph_inputs = [_input_info(i, name, leaves[i], dims) for i, name in enumerate(in_names)]
    for name, v in g.params.items():
        b.names[v] = name
        data = base.extern_tensors[name]._data
        if export_params or v.kind == "extern":
            b.add_initializer(name, np.asarray(data))
        else:
            graph_inputs.append(value_info(name, data.dtype, data.shape))
    _lower_nodes(b, g, sym_args, opset)

    out_names = _output_names(g, output_names)
    outputs = []
    for i, (v, name) in enumerate(zip(g.outputs, out_names)):
        b.node("Identity", [_name_of(b, v)], outputs=[name])
        shapes = {d: gg.graph.outputs[i].shape for d, gg in graphs.items()}
        shape = [_dynamic.dim_name(s) for s in _dynamic.output_dims(v.shape, shapes, sizes)]
        for axis, label in _named_output_axes(name, dynamic_axes).items():
            shape[axis] = label
        outputs.append(helper.make_tensor_value_info(name, _onnx_type(v.dtype), shape))

    graph = helper.make_graph(b.nodes, type(model).__name__, graph_inputs, outputs,
                              initializer=b.initializers)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1)
                                                 for d in sorted(b.domains)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="ember",
                              ir_version=_ir_version(opset))
    if do_constant_folding:
        proto = _fold_constants(proto)
    if f is not None:
        _save(proto, f, external_data)
    return proto


# ---- inputs, dynamic axes -----------------------------------------------------------------

def _input_names(model, args, kwargs, leaves, given) -> list[str]:
    if given:
        names = list(given)
        return names + [f"input_{i}" for i in range(len(names), len(leaves))]
    params = []
    try:
        params = list(inspect.signature(model.forward if hasattr(model, "forward") else model)
                      .parameters)
    except (TypeError, ValueError):
        pass
    simple = all(isinstance(a, Tensor) for a in args) and \
        all(isinstance(v, Tensor) for v in kwargs.values())
    if simple and len(params) >= len(args):
        names = params[:len(args)] + list(kwargs)
        if len(set(names)) == len(leaves):
            return names
    return [f"input_{i}" for i in range(len(leaves))]


def _dynamic_dims(names, leaves, args, dynamic_axes, dynamic_shapes) -> list[Dim]:
    """Every dynamic (input, axis), named; ``dynamic_axes`` as torch's ({name: {axis:
    label}} or {name: [axes]}), ``dynamic_shapes`` per argument ({axis: Dim or name})."""
    spec: dict[str, dict[int, str]] = {}
    for name, axes in (dynamic_axes or {}).items():
        if name in names:
            spec[name] = dict(axes) if isinstance(axes, dict) else \
                {a: f"{name}_dim_{a}" for a in axes}
    if dynamic_shapes is not None:
        per_arg = dynamic_shapes.values() if isinstance(dynamic_shapes, dict) else dynamic_shapes
        for name, axes in zip(names, per_arg):
            for axis, label in (axes or {}).items():
                if label is not None:
                    spec.setdefault(name, {})[axis] = getattr(label, "__name__", str(label))
    dims = []
    for i, name in enumerate(names):
        for axis, label in spec.get(name, {}).items():
            axis = axis + leaves[i].ndim if axis < 0 else axis
            dims.append(Dim(i, axis, str(label)))
    return dims


def _groups(dims: list[Dim]) -> list[Dim]:
    """One representative per dim name (the first input that has it)."""
    seen, out = set(), []
    for d in dims:
        if d.name not in seen:
            seen.add(d.name)
            out.append(d)
    return out


def _input_info(index: int, name: str, t: Tensor, dims: list[Dim]):
    shape: list = list(t.shape)
    for d in dims:
        if d.input == index:
            shape[d.axis] = d.name
    return value_info(name, t._data.dtype, shape)


def _capture_all(model, args, kwargs, leaves, dims):
    """The capture at the given sizes, and one per dynamic dim name at that dim + 1."""
    from ..autograd import no_grad
    from ..compiler.frontend import _module_tensors
    from ..nn.modules.module import Module

    externs = {}
    if isinstance(model, Module):
        externs = {id(t): (n, k) for n, (t, k) in _module_tensors(model, kinds=True).items()}
    was_training = getattr(model, "training", False)
    if isinstance(model, Module):
        model.eval()

    def run(inputs):
        call_args, call_kwargs = _replace_leaves((args, kwargs), inputs)
        with exporting(), no_grad():
            cap, result = capture(model, call_args, call_kwargs, externs=externs)
        if cap.breaks:
            brk = cap.breaks[0]
            raise OnnxExporterError(f"cannot export: {brk.reason} (at {brk.location})")
        return cap, result

    try:
        base, result = run(leaves)
        grown = {}
        arrays = [np.asarray(t._data) for t in leaves]
        for rep in _groups(dims):
            same = [d for d in dims if d.name == rep.name]
            bigger = _dynamic.grow(arrays, same)
            grown[rep], _ = run([_tensor(a) for a in bigger])
    finally:
        if isinstance(model, Module):
            model.train(was_training)
    return grown, base, result


def _tensor(a: np.ndarray) -> Tensor:
    from .._tensor import _make
    return _make(np.ascontiguousarray(a))


def _replace_leaves(tree, new: list):
    it = iter(new)

    def walk(x):
        if isinstance(x, Tensor):
            return next(it)
        if type(x) in (list, tuple):
            return type(x)(walk(v) for v in x)
        if type(x) is dict:
            return {k: walk(v) for k, v in x.items()}
        return x
    return walk(tree)


# ---- lowering -----------------------------------------------------------------------------

def _name_of(b: Builder, v) -> str:
    if v not in b.names:
        if v.kind == "const":
            b.names[v] = b.const(np.asarray(v.data), name=b.fresh("const"))
        else:
            raise OnnxExporterError(f"value {v!r} ({v.kind}) has no ONNX name")
    return b.names[v]


def _lower_nodes(b: Builder, g, sym_args, opset: int) -> None:
    cx = Ctx(b)
    cx.used = set(g.outputs)
    for node in g.nodes:
        cx.used.update(node.inputs)
    for node, (args, kwargs) in zip(g.nodes, sym_args):
        for v in node.inputs:
            _name_of(b, v)
        lower = LOWERINGS.get(node.name)
        if lower is None:
            raise UnsupportedOperatorError(f"aten::{node.op.aten}", opset,
                                           location=node.location)
        try:
            outs = lower(cx, node, *args, **kwargs)
        except NotImplementedError as e:
            err = UnsupportedOperatorError(f"aten::{node.op.aten}", opset,
                                           location=node.location)
            raise type(err)(f"aten::{node.op.aten}", opset, location=f"{node.location}: "
                            f"{e}") from e
        for v, name in zip(node.outputs, outs):
            if name:
                b.names[v] = name


def _output_names(g, given) -> list[str]:
    names = list(given or [])
    return names + [f"output_{i}" for i in range(len(names), len(g.outputs))]


def _named_output_axes(name: str, dynamic_axes) -> dict:
    axes = (dynamic_axes or {}).get(name)
    if axes is None:
        return {}
    return dict(axes) if isinstance(axes, dict) else {a: f"{name}_dim_{a}" for a in axes}


def _onnx_type(dt) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dt))


def _ir_version(opset: int) -> int:
    """The lowest IR version of ``opset`` (onnxruntime reads older IRs than onnx writes)."""
    table = {17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11}
    return table[opset]


def _fold_constants(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Nodes whose inputs are all constants made by the exporter (not parameters) are
    evaluated once with ONNX's reference runtime and become initializers."""
    from onnx.reference import ReferenceEvaluator
    graph = proto.graph
    params = {i.name for i in graph.initializer if not i.name.startswith("/")}
    known = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer
             if i.name not in params}
    keep = []
    for node in graph.node:
        if node.domain in ("", "ai.onnx") and node.input and \
                all(n in known for n in node.input if n) and node.op_type != "Identity":
            sub = helper.make_model(
                helper.make_graph([node], "fold", [], [helper.make_value_info(o, onnx.TypeProto())
                                                       for o in node.output]),
                opset_imports=proto.opset_import)
            try:
                values = ReferenceEvaluator(sub).run(None, {})
            except Exception:  # noqa: BLE001  (left to the runtime)
                keep.append(node)
                continue
            for name, value in zip(node.output, values):
                known[name] = np.asarray(value)
                graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(value), name))
            continue
        keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    used = {n for node in graph.node for n in node.input} | {o.name for o in graph.output}
    inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    return proto


def _save(proto: onnx.ModelProto, f, external_data: bool) -> None:
    big = proto.ByteSize() >= _PROTOBUF_LIMIT if not external_data else True
    if isinstance(f, (str, os.PathLike)):
        if big:
            location = os.path.basename(os.fspath(f)) + ".data"
            onnx.save_model(proto, os.fspath(f), save_as_external_data=True,
                            all_tensors_to_one_file=True, location=location,
                            size_threshold=1024)
        else:
            onnx.save_model(proto, os.fspath(f))
        return
    if big:
        raise OnnxExporterError("a model saved with external data needs a path, not a file "
                                "object")
    if isinstance(f, io.IOBase) or hasattr(f, "write"):
        f.write(proto.SerializeToString())
        return
    raise TypeError(f"f must be a path or a binary file object, not {type(f).__name__}")

