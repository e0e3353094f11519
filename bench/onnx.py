"""Inference latency of exported models: ember eager, ember compiled (``ember.compile``),
onnxruntime (the file ``ember.onnx.export`` wrote, CPUExecutionProvider) and torch eager,
one process, interleaved, same weights and inputs (``python -m bench --only onnx_gpt ...``;
all of them with ``python -m bench.onnx``).

Each step is one forward pass without autograd; the printed "loss" is the sum of the
output, so all sides are seen to compute the same thing. onnxruntime runs with ember's
thread count.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile

import numpy as np

from bench import models, models_zoo
from bench.run import Side, _libs


def _encoder(lib):
    nn = lib.nn
    layer = nn.TransformerEncoderLayer(128, 4, 256, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


# name -> (model maker, input maker)
MODELS = {
    "mlp": (models.mlp, lambda r: [r.standard_normal((128, 64)).astype(np.float32)]),
    "digits_cnn": (models_zoo.digits_cnn,
                   lambda r: [r.standard_normal((64, 1, 8, 8)).astype(np.float32)]),
    "resnet18": (models_zoo.resnet18,
                 lambda r: [r.standard_normal((8, 3, 32, 32)).astype(np.float32)]),
    "lstm_lm": (models_zoo.lstm_lm, lambda r: [r.integers(0, 256, (8, 32))]),
    "gru_lm": (lambda lib: models_zoo.lstm_lm(lib, cell="GRU"),
               lambda r: [r.integers(0, 256, (8, 32))]),
    "transformer_encoder": (_encoder,
                            lambda r: [r.standard_normal((8, 64, 128)).astype(np.float32)]),
    "gpt": (models.gpt, lambda r: [r.integers(0, 96, (4, 64))]),
    "minilm_shaped": (models_zoo.minilm_shaped, lambda r: [r.integers(1000, 20000, (8, 32))]),
}


def _cached_gpt(lib, heads: int = 4):
    """The bench GPT run on new tokens after cached keys/values (the decoding step of
    generation): ``forward(idx, past_k, past_v) -> (logits, keys, values)``, caches of shape
    (layers, batch, heads, past, head dim)."""
    nn, F = lib.nn, lib.nn.functional

    class CachedGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.gpt = models.gpt(lib)

        def forward(self, idx, past_k, past_v):
            g, (b, t), p = self.gpt, idx.shape, past_k.shape[3]
            x = g.tok(idx) + g.pos(lib.arange(p, p + t))
            keys, values = [], []
            for i, blk in enumerate(g.blocks):
                c = x.shape[2]
                q, k, v = blk.qkv(blk.ln1(x)).split(c, dim=2)
                q, k, v = (z.view(b, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
                k, v = lib.cat([past_k[i], k], dim=2), lib.cat([past_v[i], v], dim=2)
                keys.append(k)
                values.append(v)
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // heads))
                mask = lib.ones(t, p + t, dtype=lib.bool).tril(p)
                att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
                x = x + blk.proj((att @ v).transpose(1, 2).reshape(b, t, c))
                x = x + blk.out(F.gelu(blk.fc(blk.ln2(x))))
            return g.head(g.ln(x)), lib.stack(keys), lib.stack(values)

    return CachedGPT()


def _past(r, batch: int = 4, past: int = 63):
    """One new token per sequence after ``past`` cached positions (4 layers, 4 heads of 32)."""
    cache = (4, batch, 4, past, 32)
    return [r.integers(0, 96, (batch, 1)), r.standard_normal(cache).astype(np.float32),
            r.standard_normal(cache).astype(np.float32)]


MODELS["gpt_past"] = (_cached_gpt, _past)


def inference(name: str):
    """The four sides for one model."""
    import onnxruntime as ort
    ember, torch = _libs()
    make, inputs = MODELS[name]
    torch.manual_seed(0)
    t_model, e_model = make(torch).eval(), make(ember).eval()
    models.copy_weights(t_model, e_model)
    arrays = inputs(np.random.default_rng(0))
    e_in = [ember.from_numpy(a) for a in arrays]
    t_in = [torch.from_numpy(a) for a in arrays]
    path = os.path.join(tempfile.mkdtemp(), f"{name}.onnx")
    ember.onnx.export(e_model, tuple(e_in), path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = ember.get_num_threads()
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), arrays)}
    compiled = ember.compile(e_model)

    def side(lib, fn, x):
        def step():
            with lib.no_grad():
                out = fn(*x)
                return float((out[0] if isinstance(out, tuple) else out).sum())
        return Side(step)
    return {"ember": side(ember, e_model, e_in),
            "ember_compiled": side(ember, compiled, e_in),
            "onnxruntime": Side(lambda: float(session.run(None, feeds)[0].sum())),
            "torch": side(torch, t_model, t_in)}, False


WORKLOADS = {f"onnx_{name}": (lambda name=name: inference(name)) for name in MODELS}
ROUNDS = {"onnx_resnet18": 5}


def main(argv=None) -> None:
    from bench.run import main as run_main
    run_main(["--only", *WORKLOADS, *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    main()
