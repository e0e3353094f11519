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
from ember.ao.quantization.quant_api import int4_weight_only, int8_weight_only
from tests.test_quant_dynamic import accuracy, trained_mlp
from tests.test_quant_static import CNN, FUSE, MLP, _data, _train

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
aq = ember.ao.quantization


def _session(path, exact_matmul: bool = False, optimized: str | None = None):
    so = ort.SessionOptions()
    so.log_severity_level = 3
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


def test_quantized_module_without_onnx_form_is_refused():
    lstm = aq.quantize_dynamic(ember.nn.Sequential(ember.nn.LSTM(4, 8)), {ember.nn.LSTM},
                               dtype=ember.qint8)
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match="quantized module LSTM"):
        ember.onnx.export(lstm, (ember.randn(3, 2, 4),))
