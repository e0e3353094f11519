"""Inference latency of exported models: ember eager, ember compiled (``ember.compile``),
onnxruntime (the file ``ember.onnx.export`` wrote, CPUExecutionProvider) and torch eager,
one process, interleaved, same weights and inputs (``python -m bench --only onnx_gpt ...``;
all of them with ``python -m bench.onnx``).

Each step is one forward pass without autograd; the printed "loss" is the sum of the
output, so all sides are seen to compute the same thing. onnxruntime runs with ember's
thread count.
"""

from __future__ import annotations

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
                return float(fn(*x).sum())
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
