"""Quantized models in ONNX: ember's int8 and int4 modules written in the forms onnxruntime
runs.

Before capture, ``for_export(model)`` gives a copy of the module tree (the model itself is
not touched) in which each quantized module is replaced by its *export twin*: a module
whose forward is one call of the export-only op ``_Layer``, which carries the twin. Capture
records that call like any op (its eager result is the float value the ONNX graph
computes) and its lowering asks the twin to write the ONNX nodes. Between static int8
layers the graph carries float tensors that lie exactly on the previous layer's int8 grid
(a ``DequantizeLinear`` output); the ops ember runs on quantized tensors (max pooling,
reshapes, ReLU, ``dequantize``) keep that grid and are exported as the float ops they are.

The forms:

- **static int8** (``convert``): QDQ. A ``QuantStub`` becomes ``QuantizeLinear`` ->
  ``DequantizeLinear``; a quantized ``Conv2d``/``Linear`` (ReLU fused or not) becomes
  ``DequantizeLinear`` of its int8 weight (per-channel ``axis=0`` scales), its bias as int32
  at scale ``input scale * weight scale`` through ``DequantizeLinear``, a float
  ``Conv``/``Gemm``, ``Relu``, and ``QuantizeLinear`` -> ``DequantizeLinear`` at the
  module's output scale and zero point. Where a layer's input does not come straight from
  a ``DequantizeLinear`` (after ``MaxPool``/``Flatten``), a ``QuantizeLinear`` ->
  ``DequantizeLinear`` pair with the upstream grid's parameters is put in front (exact: the
  values are on that grid), so onnxruntime's QDQ fusion finds its pattern and runs
  ``QLinearConv``/``QGemm``.
- **dynamic int8 Linear** (``quantize_dynamic``): ``DynamicQuantizeLinear`` ->
  ``MatMulInteger`` (int8 weight initializer) -> ``Cast`` -> ``Mul`` by input scale *
  weight scale (-> ``Add`` bias): onnxruntime's own dynamic form, which it fuses into
  ``DynamicQuantizeMatMul``. Unlike ember (fbgemm's ``reduce_range``: 7-bit activations,
  ``0..127``), ``DynamicQuantizeLinear`` uses the full ``0..255``: outputs differ by the
  activations' rounding, at most half a step of each per input feature.
- **int8 weight-only**: ``DequantizeLinear`` of the int8 weight (per output channel) ->
  ``MatMul`` (-> ``Add`` bias). onnxruntime may rewrite that pair into ``MatMulNBits``
  with int8 activations (its ``session.qdq_matmulnbits_accuracy_level`` defaults to 4);
  set that entry to ``"0"`` to run the exported float arithmetic exactly.
- **int4 weight-only**: onnxruntime's ``MatMulNBits`` (``com.microsoft``; ``bits=4``,
  ``block_size`` = the group size), with float zero points ``-min / scale`` so its
  ``(q - zero_point) * scale`` is ember's ``q * scale + min``.

- **QFunctional** (``add``, ``add_relu``, ``mul``, ``cat``): QDQ around ``Add``/``Mul``/
  ``Concat`` (``add_scalar``/``mul_scalar``, which requantize to their input's own grid, are
  refused).
- **per-token dynamic int8** (``int8_dynamic_activation_int8_weight``): standard ops that
  repeat ember's arithmetic (``ReduceMax(Abs)`` per row -> scale -> ``Round``/``Clip`` ->
  ``MatMulInteger``), so onnxruntime's outputs are ember's up to float rounding.
- **dynamic int8 LSTM/GRU**: per layer and direction, the input projection of the whole
  sequence (``DynamicQuantizeLinear`` -> ``MatMulInteger``) and a ``Scan`` over the steps
  whose body projects the hidden state the same way and applies the cell; as for the
  dynamic Linear, activations are rounded to 8 bits instead of ember's 7.

Other quantized modules are refused with ``UnsupportedOperatorError`` before capture.
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import nn
from .._dispatch import Op
from .._tensor import _make
from ..nn.modules.rnn import RNNBase
from ..ops.quantized import dequantize_array, quantize_array, quint8
from ._lowerings import lowers
from .errors import UnsupportedOperatorError

__all__ = ["for_export"]

# ONNX ops whose output is on its input's int8 grid (exported from the ops ember runs on
# quantized tensors): a layer's input is traced back through them to its DequantizeLinear
_GRID_KEEPING = {"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                 "Identity", "Relu", "Slice", "Gather"}


class _Layer(Op):
    """The export-only op: ``_Layer.apply(twin, *inputs)`` computes ``twin.compute`` and is
    lowered by ``twin.lower``. Not a torch op, so it is kept out of ``OPS`` (``abstract``)
    and has no conformance entry; capture records it like any op."""

    name = "quantized_export_layer"
    abstract = True
    differentiable = False

    @staticmethod
    def forward(ctx, twin, *arrays):
        return twin.compute(*arrays)


@lowers(_Layer.name)
def _lower_layer(cx, node, twin, *inputs):
    out = twin.lower(cx, *inputs)
    return out if isinstance(out, list) else [out]


# ---- the twins ----------------------------------------------------------------------------

class _Twin(nn.Module):
    """A quantized module's export twin; ``prefix`` (its qualified name) names its ONNX
    initializers."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix or "model"

    def forward(self, *inputs):
        return _Layer.apply(self, *inputs)

    def compute(self, *arrays) -> np.ndarray:
        raise NotImplementedError

    def lower(self, cx, *inputs) -> str:
        raise NotImplementedError

    def init(self, b, suffix: str, arr) -> str:
        """A named initializer ``<prefix>.<suffix>`` (added once per export). Named, not a
        ``/const``, so the exporter's constant folding leaves Q/DQ parameters in place."""
        name = f"{self.prefix}.{suffix}"
        if all(i.name != name for i in b.initializers):
            b.add_initializer(name, np.asarray(arr))
        return name


def _fake_quant(y: np.ndarray, scale: float, zero_point: int, qdtype=quint8) -> np.ndarray:
    return dequantize_array(quantize_array(y, scale, zero_point, qdtype), scale, zero_point)


class _QDQ(_Twin):
    """``QuantStub`` after ``convert``: ``QuantizeLinear`` -> ``DequantizeLinear``."""

    def __init__(self, mod, prefix: str):
        super().__init__(prefix)
        self.scale, self.zero_point = mod.scale, mod.zero_point
        self.qdtype = getattr(mod, "dtype", quint8)  # layers' outputs are quint8

    def compute(self, x):
        return _fake_quant(x, self.scale, self.zero_point, self.qdtype)

    def lower(self, cx, x) -> str:
        return self.qdq(cx.b, cx.t(x))

    def qdq(self, b, name: str) -> str:
        s = self.init(b, "scale", np.float32(self.scale))
        z = self.init(b, "zero_point", np.asarray(self.zero_point, self.qdtype.np))
        return b.one("DequantizeLinear", [b.one("QuantizeLinear", [name, s, z]), s, z])


class _StaticLayer(_QDQ):
    """A quantized ``Linear``/``Conv2d`` (``LinearReLU``/``ConvReLU2d``) in QDQ form."""

    def __init__(self, mod, prefix: str):
        super().__init__(mod, prefix)
        weight = mod.weight()
        self.relu, self.conv = mod._relu, hasattr(mod, "kernel_size")
        self.w_int = np.asarray(weight._int)
        scale = np.asarray(weight._scale, np.float64)
        self.w_scale = scale.astype(np.float32)
        self.w_float = weight.dequantize()._data
        self.bias = None if mod.bias() is None else np.asarray(mod.bias()._data, np.float32)
        if self.conv:
            self.stride, self.padding = mod.stride, mod.padding
            self.dilation = mod.dilation

    def compute(self, x):
        if self.conv:
            from ..nn import functional as F
            bias = None if self.bias is None else _make(self.bias)
            y = F.conv2d(_make(x), _make(self.w_float), bias, self.stride, self.padding,
                         self.dilation)._data
        else:
            y = x @ self.w_float.T + (0 if self.bias is None else self.bias)
        if self.relu:
            y = np.maximum(y, 0)
        return super().compute(y.astype(np.float32))

    def lower(self, cx, x) -> str:
        b = cx.b
        xn, x_scale = _on_grid(self, b, cx.t(x))
        axis = 0 if self.w_scale.ndim else None
        w = b.one("DequantizeLinear", [self.init(b, "weight", self.w_int),
                                       self.init(b, "weight_scale", self.w_scale),
                                       self.init(b, "weight_zero_point",
                                                 np.zeros_like(self.w_scale, np.int8))],
                  axis=axis)
        bias = ""
        if self.bias is not None:  # int32 at the accumulator's scale, as QLinearConv takes
            b_scale = (np.float32(x_scale) * self.w_scale).astype(np.float32)
            b_int = np.rint(self.bias / b_scale).astype(np.int32)
            bias = b.one("DequantizeLinear", [self.init(b, "bias_int32", b_int),
                                              self.init(b, "bias_scale", b_scale)], axis=axis)
        if self.conv:
            (ph, pw) = self.padding
            y = b.one("Conv", [xn, w] + ([bias] if bias else []), strides=list(self.stride),
                      pads=[ph, pw, ph, pw], dilations=list(self.dilation),
                      kernel_shape=list(self.w_int.shape[2:]))
        elif len(x.shape) == 2:
            y = b.one("Gemm", [xn, w] + ([bias] if bias else []), transB=1)
        else:
            y = b.one("MatMul", [xn, b.one("Transpose", [w], perm=[1, 0])])
            y = b.one("Add", [y, bias]) if bias else y
        if self.relu:
            y = b.one("Relu", [y])
        return self.qdq(b, y)


def _on_grid(twin: _Twin, b, name: str) -> tuple[str, float]:
    """``name`` as the output of a ``DequantizeLinear`` (one is added with the parameters of
    the grid it lies on, traced back through grid-keeping ops) and that grid's scale."""
    producers = {o: n for n in b.nodes for o in n.output}
    node, cur = producers.get(name), name
    while node is not None and node.op_type != "DequantizeLinear":
        if node.op_type not in _GRID_KEEPING:
            raise NotImplementedError(f"{twin.prefix}: its input is not on an int8 grid (it "
                                      f"comes from {node.op_type})")
        cur = node.input[0]
        node = producers.get(cur)
    if node is None:
        raise NotImplementedError(f"{twin.prefix}: its input is not quantized (insert a "
                                  f"QuantStub before it)")
    s, z = node.input[1], node.input[2]
    scale = next(numpy_helper.to_array(i) for i in b.initializers if i.name == s)
    if cur != name:
        name = b.one("DequantizeLinear", [b.one("QuantizeLinear", [name, s, z]), s, z])
    return name, float(scale)


class _DynamicLinear(_Twin):
    """``quantize_dynamic``'s Linear: DynamicQuantizeLinear -> MatMulInteger -> scale."""

    def __init__(self, mod, prefix: str):
        super().__init__(prefix)
        packed = mod._packed_params.packed
        self.w_t = np.ascontiguousarray(np.asarray(packed.weight._int).T)  # (K, N) int8
        self.w_scale = packed.w_scale.astype(np.float32)
        self.bias = None if packed.bias is None else packed.bias_arr

    def compute(self, x):
        lo, hi = min(float(x.min(initial=0)), 0.0), max(float(x.max(initial=0)), 0.0)
        scale = np.float32((hi - lo) / 255) or np.float32(1)  # DynamicQuantizeLinear's
        zp = np.clip(np.rint(-lo / scale), 0, 255)
        q = np.clip(np.rint(x / scale) + zp, 0, 255).astype(np.int32) - int(zp)
        y = (q @ self.w_t.astype(np.int32)).astype(np.float32) * (scale * self.w_scale)
        return y if self.bias is None else y + self.bias

    def lower(self, cx, x) -> str:
        b = cx.b
        xq, xs, xz = b.node("DynamicQuantizeLinear", [cx.t(x)], 3)
        acc = b.one("MatMulInteger", [xq, self.init(b, "weight_t", self.w_t), xz,
                                      self.init(b, "weight_zero_point", np.int8(0))])
        scale = b.one("Mul", [xs, self.init(b, "weight_scale", self.w_scale)])
        y = b.one("Mul", [b.one("Cast", [acc], to=1), scale])  # 1: float
        return y if self.bias is None else b.one("Add", [y, self.init(b, "bias", self.bias)])


class _Functional(_QDQ):
    """``QFunctional`` (quantized add/mul/cat): the float op on its inputs' int8 grid
    values, ``Relu`` for ``add_relu``, then ``QuantizeLinear`` -> ``DequantizeLinear`` at
    the module's scale and zero point; onnxruntime fuses ``DQ -> Add/Mul/Concat -> Q``
    into ``QLinearAdd``/``QLinearMul``/``QLinearConcat``."""

    def add(self, x, y):
        return _Layer.apply(_FunctionalCall(self, "Add"), x, y)

    def add_relu(self, x, y):
        return _Layer.apply(_FunctionalCall(self, "Add", relu=True), x, y)

    def mul(self, x, y):
        return _Layer.apply(_FunctionalCall(self, "Mul"), x, y)

    def cat(self, xs, dim: int = 0):
        return _Layer.apply(_FunctionalCall(self, "Concat", dim=dim), *xs)

    def add_scalar(self, x, y):  # requantized to x's own grid, which capture cannot see
        raise UnsupportedOperatorError("quantized::add_scalar", self.opset, location=self.prefix)

    def mul_scalar(self, x, y):
        raise UnsupportedOperatorError("quantized::mul_scalar", self.opset, location=self.prefix)


class _FunctionalCall:
    """One call of a ``QFunctional`` twin: what ``_Layer`` computes and lowers."""

    _NP = {"Add": np.add, "Mul": np.multiply}

    def __init__(self, owner: _Functional, op: str, relu: bool = False, dim: int = 0):
        self.owner, self.op, self.relu, self.dim = owner, op, relu, dim

    def compute(self, *xs):
        y = np.concatenate(xs, axis=self.dim) if self.op == "Concat" else self._NP[self.op](*xs)
        if self.relu:
            y = np.maximum(y, 0)
        return self.owner.compute(y.astype(np.float32))

    def lower(self, cx, *xs) -> str:
        b = cx.b
        names = [_on_grid(self.owner, b, cx.t(x))[0] for x in xs]
        y = b.one(self.op, names, **({"axis": self.dim} if self.op == "Concat" else {}))
        return self.owner.qdq(b, b.one("Relu", [y]) if self.relu else y)


class _PerTokenLinear(_Twin):
    """``int8_dynamic_activation_int8_weight``'s Linear in standard ops, ember's arithmetic
    step by step: each row's scale ``max(max|x| / 127, 1e-5)`` (``ReduceMax`` of ``Abs``),
    ``Round(x / scale)`` clipped to ``[-127, 127]``, shifted by 128 to uint8 for
    ``MatMulInteger`` (zero point 128) with the int8 weight, then the int32 sums times the
    weight's per-channel scales and the row's scale (+ bias)."""

    def __init__(self, mod, prefix: str):
        super().__init__(prefix)
        self.mod = mod
        packed = mod.packed
        self.w_t = np.ascontiguousarray(np.asarray(packed.weight._int).T)  # (K, N) int8
        self.w_scale = packed.w_scale.astype(np.float32)
        self.bias = None if mod.bias is None else mod.bias._data

    def compute(self, x):
        return self.mod(_make(x))._data

    def lower(self, cx, x) -> str:
        from ..ops.quantized_mm import _TOKEN_SCALE_MIN
        b = cx.b
        xn = cx.t(x)
        absx = b.one("Abs", [xn])
        amax = b.one("ReduceMax", [absx, b.ints([-1])], keepdims=1) if b.opset >= 18 else \
            b.one("ReduceMax", [absx], axes=[-1], keepdims=1)
        scale = b.one("Max", [b.one("Div", [amax, b.const(np.float32(127))]),
                              b.const(_TOKEN_SCALE_MIN)])
        q = b.one("Clip", [b.one("Round", [b.one("Div", [xn, scale])]),
                           b.const(np.float32(-127)), b.const(np.float32(127))])
        qu = b.one("Cast", [b.one("Add", [q, b.const(np.float32(128))])], to=2)  # 2: uint8
        acc = b.one("MatMulInteger", [qu, self.init(b, "weight_t", self.w_t),
                                      self.init(b, "input_zero_point", np.uint8(128)),
                                      self.init(b, "weight_zero_point", np.int8(0))])
        y = b.one("Mul", [b.one("Mul", [b.one("Cast", [acc], to=1),
                                        self.init(b, "weight_scale", self.w_scale)]), scale])
        return y if self.bias is None else b.one("Add", [y, self.init(b, "bias", self.bias)])


class _DynamicRNN(_Twin):
    """A dynamically quantized LSTM/GRU: the float module's forward (hidden states, layers,
    directions), each layer and direction one ``_Layer`` call (``_RnnDirection``)."""

    forward = RNNBase.forward
    _check_hidden = RNNBase._check_hidden

    def __init__(self, mod, prefix: str):
        super().__init__(prefix)
        self.mod = mod
        for name in ("mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first",
                     "dropout", "bidirectional", "proj_size"):
            setattr(self, name, getattr(mod, name))
        self.eval()

    def _weights(self, layer: int, direction: int):
        return layer * (2 if self.bidirectional else 1) + direction

    def _run_direction(self, x, index: int, h, c, reverse: bool, lengths):
        if lengths is not None:
            raise UnsupportedOperatorError(f"quantized::{self.mode.lower()} (packed sequences)",
                                           self.opset, location=self.prefix)
        call = _RnnDirection(self, index, reverse)
        if c is None:
            y, h = _Layer.apply(call, x, h)
            return y, h, None
        return _Layer.apply(call, x, h, c)


class _RnnDirection:
    """One layer and direction of a dynamic LSTM/GRU in standard ops, ember's (and torch's)
    arithmetic: the input projection of the whole sequence quantized at once
    (``DynamicQuantizeLinear`` -> ``MatMulInteger`` -> scales -> bias), then a ``Scan`` over
    the steps whose body quantizes the hidden state the same way for the hidden projection
    and applies the cell. ``DynamicQuantizeLinear`` rounds activations to 8 bits where ember
    (fbgemm's ``reduce_range``) uses 7; with 8 bits (``CellParams.reduce_range = False``)
    ember's results are onnxruntime's up to float rounding. (onnxruntime's own
    ``DynamicQuantizeLSTM`` quantizes its activations differently: ~1e-3 apart even then.)"""

    def __init__(self, rnn: _DynamicRNN, index: int, reverse: bool):
        self.rnn, self.reverse = rnn, reverse
        self.cell = rnn.mod._all_weight_values[index].param
        self.prefix = f"{rnn.prefix}.cell{index}"

    def compute(self, x, h, c=None):
        out = self.rnn.mod._run_direction(_make(x), self.cell, _make(h),
                                          None if c is None else _make(c), self.reverse, None)
        return tuple(t._data for t in out if t is not None)

    def init(self, b, suffix: str, arr) -> str:
        return _Twin.init(self, b, suffix, arr)

    @staticmethod
    def _weight(packed) -> tuple:
        """``(int8 weight (F, G*H), its scale(s), float bias)``."""
        scale = packed.w_scale[:1] if packed.per_tensor else packed.w_scale
        return (np.ascontiguousarray(np.asarray(packed.weight._int).T),
                scale.astype(np.float32), packed.bias_arr)

    def lower(self, cx, x, h, c=None) -> list[str]:
        b = cx.b
        w, ws, wb = self._weight(self.cell.ih)
        xq, xs, xz = b.node("DynamicQuantizeLinear", [cx.t(x)], 3)
        acc = b.one("MatMulInteger", [xq, self.init(b, "W", w), xz,
                                      self.init(b, "W_zero_point", np.int8(0))])
        xw = b.one("Add", [b.one("Mul", [b.one("Cast", [acc], to=TensorProto.FLOAT),
                                         b.one("Mul", [xs, self.init(b, "W_scale", ws)])]),
                           self.init(b, "B_ih", wb)])
        states = [cx.t(h)] + ([] if c is None else [cx.t(c)])
        direction = [1 if self.reverse else 0]
        outs = b.node("Scan", states + [xw], len(states) + 1, body=self._step(),
                      num_scan_inputs=1, scan_input_directions=direction,
                      scan_output_directions=direction)
        return [outs[-1]] + outs[:-1]  # (y, h, c) as compute

    def _step(self) -> onnx.GraphProto:
        """The Scan body: ``(h[, c], x @ W_ih.T + b_ih at this step) -> (h'[, c'], h')``,
        the hidden projection quantized dynamically, then torch's LSTM or GRU cell."""
        r, rs, rb = self._weight(self.cell.hh)
        hidden, lstm = self.rnn.hidden_size, self.rnn.mode == "LSTM"
        p = f"{self.prefix}.step."
        consts = {"R": r, "R_scale": rs, "B_hh": rb, "zero": np.int8(0),
                  "split": np.array([hidden] * (4 if lstm else 3), np.int64)}
        nodes: list = []

        def node(op, ins, n_out=1, tag="", **attrs):  # names unique by op and tag
            outs = [f"{p}{op}{tag}_{i}" for i in range(n_out)]
            nodes.append(helper.make_node(op, ins, outs, name=f"{p}{op}{tag}", **attrs))
            return outs if n_out > 1 else outs[0]
        h, c, xw = p + "h", p + "c", p + "xw"
        hq, hs, hz = node("DynamicQuantizeLinear", [h], 3)
        acc = node("Cast", [node("MatMulInteger", [hq, p + "R", hz, p + "zero"])],
                   to=TensorProto.FLOAT)
        hw = node("Add", [node("Mul", [acc, node("Mul", [hs, p + "R_scale"], tag="s")],
                               tag="hw"), p + "B_hh"], tag="hw")
        if lstm:  # gates i, f, g, o
            i, f, g, o = node("Split", [node("Add", [xw, hw], tag="x"), p + "split"], 4,
                              axis=-1)
            c_new = node("Add", [node("Mul", [node("Sigmoid", [f], tag="f"), c], tag="f"),
                                 node("Mul", [node("Sigmoid", [i], tag="i"),
                                              node("Tanh", [g], tag="g")], tag="i")], tag="c")
            new = node("Mul", [node("Sigmoid", [o], tag="o"), node("Tanh", [c_new], tag="c")],
                       tag="h")
            states = [h, c]
        else:  # gates r, z, n; h' = n + z * (h - n)
            xr, xz, xn = node("Split", [xw, p + "split"], 3, tag="x", axis=-1)
            hr, hz_, hn = node("Split", [hw, p + "split"], 3, tag="h", axis=-1)
            rg = node("Sigmoid", [node("Add", [xr, hr], tag="r")], tag="r")
            zg = node("Sigmoid", [node("Add", [xz, hz_], tag="z")], tag="z")
            ng = node("Tanh", [node("Add", [xn, node("Mul", [rg, hn], tag="rn")], tag="n")])
            new = node("Add", [ng, node("Mul", [zg, node("Sub", [h, ng])], tag="z")],
                       tag="h")
            c_new, states = None, [h]
        outputs = [new] + ([c_new] if lstm else []) + [node("Identity", [new])]
        f32 = TensorProto.FLOAT
        return helper.make_graph(
            nodes, p + "body", [helper.make_tensor_value_info(v, f32, None)
                                for v in states + [xw]],
            [helper.make_tensor_value_info(v, f32, None) for v in outputs],
            [numpy_helper.from_array(np.asarray(v), p + k) for k, v in consts.items()])


class _Int8WeightOnly(_Twin):
    """``int8_weight_only``: DequantizeLinear (per output channel) -> MatMul."""

    def __init__(self, mod, prefix: str):
        super().__init__(prefix)
        self.w_int, self.w_scale = mod.weight_int8._data, mod.scale._data
        self.w_float = mod.dequantize_weight()._data
        self.bias = None if mod.bias is None else mod.bias._data

    def compute(self, x):
        y = x @ self.w_float.T
        return y if self.bias is None else y + self.bias

    def lower(self, cx, x) -> str:
        b = cx.b
        w = b.one("DequantizeLinear", [self.init(b, "weight_t", np.ascontiguousarray(
            self.w_int.T)), self.init(b, "weight_scale", self.w_scale), self.init(
            b, "weight_zero_point", np.zeros(self.w_scale.shape, np.int8))], axis=1)
        y = b.one("MatMul", [cx.t(x), w])
        return y if self.bias is None else b.one("Add", [y, self.init(b, "bias", self.bias)])


class _Int4WeightOnly(_Int8WeightOnly):
    """``int4_weight_only``: onnxruntime's ``MatMulNBits`` (4 bits, a block per group)."""

    def __init__(self, mod, prefix: str):
        _Twin.__init__(self, prefix)
        from ..ops import _kernels_quant as kq
        self.group = mod.group_size
        q = kq.unpack_int4(mod.weight_packed._data, self.group)  # (N, K) in 0..15
        n, k = q.shape
        pairs = q.reshape(n, k // self.group, self.group // 2, 2)
        self.blob = (pairs[..., 0] | (pairs[..., 1] << 4)).astype(np.uint8)  # low nibble first
        self.scales = mod.scales._data.astype(np.float32)
        self.zero_points = (-mod.zeros._data / self.scales).astype(np.float32)
        self.w_float = mod.dequantize_weight()._data
        self.bias = None if mod.bias is None else mod.bias._data

    def lower(self, cx, x) -> str:
        b = cx.b
        n, k = self.w_float.shape
        ins = [cx.t(x), self.init(b, "weight_nbits", self.blob),
               self.init(b, "scales", self.scales), self.init(b, "zero_points",
                                                              self.zero_points)]
        y = b.one("MatMulNBits", ins, domain="com.microsoft", K=k, N=n, bits=4,
                  block_size=self.group)
        return y if self.bias is None else b.one("Add", [y, self.init(b, "bias", self.bias)])


# ---- the module tree ----------------------------------------------------------------------

def _twins() -> dict:
    from ..ao.nn import quantized as nnq
    from ..ao.nn.quantized import dynamic as nnqd
    from ..ao.nn.quantized import weight_only as wo
    from ..ao.nn.quantized.dynamic_per_token import Int8DynActInt8WeightLinear
    return {nnq.Quantize: _QDQ, nnq.Linear: _StaticLayer, nnq.LinearReLU: _StaticLayer,
            nnq.Conv2d: _StaticLayer, nnq.ConvReLU2d: _StaticLayer,
            nnq.QFunctional: _Functional, nnqd.Linear: _DynamicLinear,
            nnqd.LSTM: _DynamicRNN, nnqd.GRU: _DynamicRNN,
            Int8DynActInt8WeightLinear: _PerTokenLinear,
            wo.Int8WeightOnlyLinear: _Int8WeightOnly, wo.Int4WeightOnlyLinear: _Int4WeightOnly}


def _float_safe() -> tuple:
    """Quantized modules whose forward is right on the float grid values as it is."""
    from ..ao.nn import quantized as nnq
    return nnq.DeQuantize, nnq.ReLU


def for_export(model, opset: int, prefix: str = "", twins: dict | None = None):
    """``model``, or a copy of its module tree whose quantized modules are export twins
    (modules shared with ``model`` elsewhere; ``model`` itself unchanged). A quantized
    module without a twin raises ``UnsupportedOperatorError``."""
    if not isinstance(model, nn.Module):
        return model
    twins = twins if twins is not None else _twins()
    make = twins.get(type(model))
    if make is not None:
        twin = make(model, prefix)
        twin.opset = opset
        return twin
    if type(model).__module__.startswith("ember.ao.nn.quantized") and \
            not isinstance(model, _float_safe()):
        raise UnsupportedOperatorError(f"quantized module {type(model).__name__}", opset,
                                       location=prefix or "the model")
    changed = {}
    for name, child in model._modules.items():
        new = for_export(child, opset, f"{prefix}.{name}" if prefix else name, twins)
        if new is not child:
            changed[name] = new
    if not changed:
        return model
    clone = copy.copy(model)
    object.__setattr__(clone, "_modules", {**model._modules, **changed})
    return clone


