"""ONNX export of quantized models (``ember/onnx/_quantized.py``), run in onnxruntime on
scikit-learn's digits and compared with ember's quantized model.

Tolerances:

- static int8 (QDQ): ember and onnxruntime both compute each layer's int32 sums exactly;
  they differ only in float rounding of the requantization (ember: float bias and a
  float32 multiply; onnxruntime's QLinearConv/QGemm: int32 bias, its own multiplier), so an
  output integer can land on the neighbouring one where the real value sits at a rounding
  tie. The model's output (the last layer's integers, dequantized) may therefore differ
  by one step of that layer's output scale, and by no more.
- dynamic int8: onnxruntime's ``DynamicQuantizeLinear`` rounds the activations to 8 bits,
  ember (fbgemm's ``reduce_range``) to 7; the weights are the same integers and the sums
  exact, so output ``j`` differs by at most ``sum_k |W_jk| * (s_ember + s_ort) / 2``.
- weight-only: the same dequantized weights on both sides; only float32 summation order
  differs (a relative ``1e-5`` bounds ``K <= 128`` terms at 2^-24 each).
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

import ember
from ember.ao.nn.quantized._packed import choose_qparams
from ember.ao.quantization.quant_api import (
    int4_weight_only,
    int8_dynamic_activation_int8_weight,
    int8_weight_only,
)
from tests.test_quant_dynamic import accuracy, digits, trained_mlp
from tests.test_quant_static import CNN, FUSE, MLP, _data, _train

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
aq = ember.ao.quantization


def _session(path, exact_matmul: bool = False, optimized: str | None = None,
             disable_optimizations: bool = False):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if disable_optimizations:  # run the graph's float ops between Q/DQ as written
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if exact_matmul:  # onnxruntime's DQ->MatMul rewrite would quantize activations to int8
        so.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "0")
    if optimized:
        so.optimized_model_filepath = optimized
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _run(path, x: ember.Tensor, **kw) -> np.ndarray:
    s = _session(path, **kw)
    return s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]


def _export(model, x, path) -> onnx.ModelProto:
    proto = ember.onnx.export(model, (x[:4],), str(path), input_names=["x"],
                              dynamic_axes={"x": [0]})
    onnx.checker.check_model(proto)
    return proto


def _ops(proto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


@pytest.fixture(scope="module", params=[MLP, CNN], ids=["mlp", "cnn"])
def static(request, tmp_path_factory):
    cls = request.param
    x, y, xt, yt = _data(cls)
    ember.manual_seed(0)
    model = _train(cls(), x, y, 60 if cls is MLP else 40)
    tmp = tmp_path_factory.mktemp(cls.__name__)
    _export(model, xt, tmp / "float.onnx")
    model.qconfig = aq.get_default_qconfig("x86")
    prepared = aq.prepare(aq.fuse_modules(model, FUSE[cls]))
    with ember.no_grad():
        prepared(x)  # calibration
    return cls, aq.convert(prepared), xt, yt, tmp


def test_static_int8_qdq_matches_ember_within_one_step(static):
    cls, q, xt, yt, tmp = static
    proto = _export(q, xt, tmp / "qdq.onnx")
    ops = _ops(proto)
    assert ops.count("QuantizeLinear") == ops.count("DequantizeLinear") - 6  # + weights, biases
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    weights = [k for k in inits if k.endswith(".weight")]
    assert len(weights) == 3 and all(inits[k].dtype == np.int8 for k in weights)
    assert all(inits[k + "_scale"].shape == (inits[k].shape[0],) for k in weights)  # per channel

    got = _run(tmp / "qdq.onnx", xt)
    with ember.no_grad():
        want = q(xt).numpy()
    step = (q.fc if cls is CNN else q.fc3).scale
    diff = np.abs(got - want)
    assert diff.max() <= step * (1 + 1e-5), (diff.max(), step)
    assert (diff > 1e-6).mean() < 0.02  # ties are rare
    ort_acc = float((got.argmax(1) == yt.numpy()).mean())
    assert abs(ort_acc - accuracy(q, xt, yt)) <= 0.005
    assert os.path.getsize(tmp / "qdq.onnx") < 0.6 * os.path.getsize(tmp / "float.onnx")
    assert type(q.fc3 if cls is MLP else q.fc).__name__.startswith("Linear")  # not swapped


def test_static_int8_is_fused_by_onnxruntime(static):
    cls, q, xt, yt, tmp = static
    _export(q, xt, tmp / "qdq.onnx")
    _session(tmp / "qdq.onnx", optimized=str(tmp / "opt.onnx"))
    ops = _ops(onnx.load(str(tmp / "opt.onnx")))
    assert ops.count("QGemm") == (3 if cls is MLP else 1), ops
    assert ops.count("QLinearConv") == (2 if cls is CNN else 0), ops
    assert "Conv" not in ops and "Gemm" not in ops


@pytest.fixture(scope="module")
def mlp():
    return trained_mlp()


def test_dynamic_linear_within_activation_rounding_bound(mlp, tmp_path):
    model, (xt, yt) = mlp
    layer = aq.quantize_dynamic(ember.nn.Sequential(copy.deepcopy(model[0])),
                                {ember.nn.Linear}, dtype=ember.qint8)
    _export(layer, xt, tmp_path / "layer.onnx")
    got = _run(tmp_path / "layer.onnx", xt)
    with ember.no_grad():
        want = layer(xt).numpy()
    x = xt.numpy()
    lo, hi = min(x.min(), 0), max(x.max(), 0)
    s_ember = choose_qparams(lo, hi, 0, 255, reduce_range=True)[0]
    s_ort = (hi - lo) / 255
    w = np.abs(layer[0].weight().dequantize().numpy())
    bound = w.sum(axis=1) * (s_ember + s_ort) / 2 + 1e-5
    assert np.all(np.abs(got - want) <= bound)
    assert np.abs(got - want).max() > 1e-4  # the two roundings do differ

    q = aq.quantize_dynamic(copy.deepcopy(model), {ember.nn.Linear}, dtype=ember.qint8)
    proto = _export(q, xt, tmp_path / "dyn.onnx")
    assert _ops(proto).count("MatMulInteger") == 3
    _session(tmp_path / "dyn.onnx", optimized=str(tmp_path / "opt.onnx"))
    assert _ops(onnx.load(str(tmp_path / "opt.onnx"))).count("DynamicQuantizeMatMul") == 3
    got = _run(tmp_path / "dyn.onnx", xt)
    assert abs(float((got.argmax(1) == yt.numpy()).mean()) - accuracy(q, xt, yt)) <= 0.005


@pytest.mark.parametrize("config,op", [(int8_weight_only(), "DequantizeLinear"),
                                       (int4_weight_only(32), "MatMulNBits"),
                                       (int4_weight_only(64), "MatMulNBits")],
                         ids=["int8", "int4-g32", "int4-g64"])
def test_weight_only_matches_ember(mlp, tmp_path, config, op):
    model, (xt, yt) = mlp
    _export(model, xt, tmp_path / "float.onnx")
    q = ember.ao.quantize_(copy.deepcopy(model), config)
    proto = _export(q, xt, tmp_path / "q.onnx")
    assert _ops(proto).count(op) == 3
    got = _run(tmp_path / "q.onnx", xt, exact_matmul=True)
    with ember.no_grad():
        want = q(xt).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    default = _run(tmp_path / "q.onnx", xt)  # onnxruntime's own speed/accuracy settings
    assert abs(float((default.argmax(1) == yt.numpy()).mean()) - accuracy(q, xt, yt)) <= 0.005
    assert os.path.getsize(tmp_path / "q.onnx") < 0.35 * os.path.getsize(tmp_path / "float.onnx")


class ResMLP(ember.nn.Module):
    """An MLP with quantized add, mul, add_relu and cat (``FloatFunctional``)."""

    def __init__(self):
        super().__init__()
        nn, functional = ember.nn, ember.ao.nn.quantized.FloatFunctional
        self.quant, self.dequant = aq.QuantStub(), aq.DeQuantStub()
        self.fc1, self.relu1 = nn.Linear(64, 64), nn.ReLU()
        self.fc2, self.relu2 = nn.Linear(64, 64), nn.ReLU()
        self.fc3 = nn.Linear(128, 10)
        self.add, self.mul, self.add_relu, self.cat = (functional() for _ in range(4))

    def forward(self, x):
        h1 = self.relu1(self.fc1(self.quant(x)))
        h2 = self.relu2(self.fc2(h1))
        s = self.add.add(h1, h2)
        r = self.add_relu.add_relu(s, self.mul.mul(s, h2))
        return self.dequant(self.fc3(self.cat.cat([s, r], dim=1)))


def test_qfunctional_qdq_matches_ember_and_is_fused(tmp_path):
    """Unfused (onnxruntime's float Add/Mul/Concat between Q/DQ), the graph repeats ember's
    arithmetic: outputs within one step of the last layer's scale, nearly all equal. Fused
    (QLinearAdd/QLinearMul/QLinearConcat, their own fixed-point rounding), the accuracy on
    digits stays ember's."""
    (x, y), (xt, yt) = digits()
    ember.manual_seed(0)
    model = _train(ResMLP(), x, y, 60)
    model.qconfig = aq.get_default_qconfig("x86")
    prepared = aq.prepare(aq.fuse_modules(model, FUSE[MLP]))
    with ember.no_grad():
        prepared(x)
    q = aq.convert(prepared)
    assert type(q.add).__name__ == "QFunctional"
    proto = _export(q, xt, tmp_path / "res.onnx")
    assert {"Add", "Mul", "Concat"} <= set(_ops(proto))
    with ember.no_grad():
        want = q(xt).numpy()
    s = _session(tmp_path / "res.onnx", disable_optimizations=True)
    got = s.run(None, {"x": xt.numpy()})[0]
    diff = np.abs(got - want)
    assert diff.max() <= q.fc3.scale * (1 + 1e-5), diff.max()
    assert (diff > 1e-6).mean() < 0.02
    _session(tmp_path / "res.onnx", optimized=str(tmp_path / "opt.onnx"))
    ops = _ops(onnx.load(str(tmp_path / "opt.onnx")))
    assert {"QLinearAdd", "QLinearMul", "QLinearConcat"} <= set(ops), ops
    fused = _run(tmp_path / "res.onnx", xt)
    ember_acc = accuracy(q, xt, yt)
    assert ember_acc > 0.9
    assert abs(float((fused.argmax(1) == yt.numpy()).mean()) - ember_acc) <= 0.01


def test_per_token_dynamic_linear_matches_ember(mlp, tmp_path):
    """``int8_dynamic_activation_int8_weight`` in standard ops repeats ember's arithmetic:
    the same int8 activations and int32 sums, float rounding apart."""
    model, (xt, yt) = mlp
    q = ember.ao.quantize_(copy.deepcopy(model), int8_dynamic_activation_int8_weight())
    proto = _export(q, xt, tmp_path / "tok.onnx")
    ops = _ops(proto)
    assert ops.count("MatMulInteger") == 3 and ops.count("ReduceMax") == 3
    got = _run(tmp_path / "tok.onnx", xt)
    with ember.no_grad():
        want = q(xt).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert abs(float((got.argmax(1) == yt.numpy()).mean()) - accuracy(q, xt, yt)) <= 0.005
    x3 = ember.randn(2, 5, 64)  # (batch, tokens, features): one scale per token
    layer = ember.nn.Sequential(q[0])
    _export(layer, x3, tmp_path / "tok3.onnx")
    with ember.no_grad():
        want = layer(x3).numpy()
    np.testing.assert_allclose(_run(tmp_path / "tok3.onnx", x3), want, rtol=1e-5,
                               atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("cls,kwargs", [("LSTM", dict(num_layers=2, bidirectional=True)),
                                        ("GRU", dict(batch_first=True, bidirectional=True))],
                         ids=["lstm", "gru"])
def test_dynamic_rnn_matches_ember(tmp_path, cls, kwargs):
    """Exact emulation: with ember's activations rounded to 8 bits as
    ``DynamicQuantizeLinear`` does (``reduce_range`` off), onnxruntime gives ember's outputs
    and final states up to float rounding, for any sequence length and batch; with
    ember's 7 bits they stay close (the activations' rounding, carried through the
    steps)."""
    ember.manual_seed(0)
    rnn = getattr(ember.nn, cls)(6, 8, **kwargs)
    q = aq.quantize_dynamic(ember.nn.Sequential(rnn), {type(rnn)}, dtype=ember.qint8)
    proto = ember.onnx.export(q, (ember.randn(3, 2, 6),), str(tmp_path / "rnn.onnx"),
                              input_names=["x"], dynamic_axes={"x": [0, 1]})
    onnx.checker.check_model(proto)
    cells = rnn.num_layers * 2
    assert _ops(proto).count("Scan") == cells and _ops(proto).count("MatMulInteger") == cells
    x = ember.randn(7, 4, 6)  # another length and batch
    s = _session(tmp_path / "rnn.onnx")
    got = s.run(None, {"x": x.numpy()})

    def ember_outputs():
        with ember.no_grad():
            out, state = q(x)
        return [out.numpy()] + [t.numpy() for t in (state if cls == "LSTM" else (state,))]
    close = ember_outputs()
    for g, w in zip(got, close, strict=True):
        assert g.shape == w.shape
        assert 1e-4 < np.abs(g - w).max() < 0.05  # 7 vs 8 bits: apart, but not far
    for cell in q[0]._all_weight_values:
        cell.param.reduce_range = False
    for g, w in zip(got, ember_outputs(), strict=True):
        np.testing.assert_allclose(g, w, atol=1e-6)


class RowLSTM(ember.nn.Module):
    """Digits read row by row: an 8-step sequence of 8 pixels, classified from the last
    step's output."""

    def __init__(self):
        super().__init__()
        self.lstm = ember.nn.LSTM(8, 32, batch_first=True)
        self.fc = ember.nn.Linear(32, 10)

    def forward(self, x):
        out, _ = self.lstm(x.reshape(-1, 8, 8))
        return self.fc(out[:, -1])


def test_dynamic_lstm_digits_accuracy_in_onnxruntime(tmp_path):
    (x, y), (xt, yt) = digits()
    ember.manual_seed(0)
    model = RowLSTM()
    opt = ember.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(40):
        opt.zero_grad()
        ember.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    q = aq.quantize_dynamic(model.eval(), {ember.nn.LSTM, ember.nn.Linear}, dtype=ember.qint8)
    ember_acc = accuracy(q, xt, yt)
    assert ember_acc > 0.85
    _export(q, xt, tmp_path / "rows.onnx")
    got = _run(tmp_path / "rows.onnx", xt)
    assert abs(float((got.argmax(1) == yt.numpy()).mean()) - ember_acc) <= 0.005


class _Scaled(ember.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = aq.QuantStub(), aq.DeQuantStub()
        self.f = ember.ao.nn.quantized.FloatFunctional()

    def forward(self, x):
        return self.dequant(self.f.add_scalar(self.quant(x), 0.5))


def test_quantized_ops_without_onnx_form_are_refused():
    model = _Scaled().eval()
    model.qconfig = aq.get_default_qconfig("x86")
    prepared = aq.prepare(model)
    prepared(ember.randn(4, 3))
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match="quantized::add_scalar"):
        ember.onnx.export(aq.convert(prepared), (ember.randn(4, 3),))
