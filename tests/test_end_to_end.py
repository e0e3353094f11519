"""End-to-end training with fixed seeds: the demo's CNN on scikit-learn's digits, an LSTM
on a sequence task, a Transformer encoder on a toy task. Each asserts the accuracy or
loss it reaches (thresholds set well inside what the runs achieve)."""

from __future__ import annotations

import importlib.util
import math
import pathlib

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _demo():
    spec = importlib.util.spec_from_file_location("digits_demo",
                                                  ROOT / "examples" / "digits_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cnn_on_digits_reaches_97_percent():
    demo = _demo()
    ember.manual_seed(0)
    train_set, test_set = demo.load_data(seed=0)
    train = ember.utils.data.DataLoader(train_set, batch_size=32, shuffle=True)
    test = ember.utils.data.DataLoader(test_set, batch_size=256)
    accuracy = demo.fit(demo.DigitsCNN(), train, test, epochs=12, log=lambda line: None)
    assert accuracy >= 0.97


def test_demo_compiles_and_exports_its_cnn_for_onnxruntime(tmp_path, capsys):
    """The demo's last step: the model compiled and exported to ONNX agrees with eager ember
    (``deploy`` raises SystemExit otherwise); onnxruntime runs the file it wrote."""
    demo = _demo()
    ember.manual_seed(0)
    train_set, test_set = demo.load_data(seed=0)
    model = demo.DigitsCNN()
    test = ember.utils.data.DataLoader(test_set, batch_size=256)
    _, preds = demo.evaluate(model, test)
    demo.deploy(model, test, preds, str(tmp_path))
    assert (tmp_path / "digits_cnn.onnx").stat().st_size > 30_000  # the weights are inside
    assert "same predictions: True" in capsys.readouterr().out


def test_lstm_learns_to_predict_a_sine_wave():
    ember.manual_seed(0)
    rng = np.random.default_rng(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(1, 24, num_layers=1, batch_first=True)
            self.head = nn.Linear(24, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    model = Net()
    opt = ember.optim.Adam(model.parameters(), lr=1e-2)

    def batch(n=32, length=20):
        phase = rng.uniform(0, 2 * math.pi, (n, 1))
        freq = rng.uniform(0.2, 0.4, (n, 1))
        t = np.arange(length + 1)[None, :]
        wave = np.sin(phase + freq * t).astype(np.float32)
        return ember.from_numpy(wave[:, :-1, None].copy()), ember.from_numpy(wave[:, -1:].copy())

    for _ in range(250):
        x, y = batch()
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    with ember.no_grad():
        x, y = batch(256)
        final = F.mse_loss(model(x), y).item()
    assert final < 5e-3, final  # predicting 0 would give ~0.5


def test_transformer_encoder_learns_to_reverse_sequences():
    ember.manual_seed(0)
    rng = np.random.default_rng(0)
    vocab, length, width = 8, 6, 32

    class Reverser(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab, width)
            self.pos = nn.Parameter(ember.randn(length, width) * 0.1)
            layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=64, dropout=0.0,
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=2)
            self.head = nn.Linear(width, vocab)

        def forward(self, idx):
            return self.head(self.encoder(self.tok(idx) + self.pos))

    model = Reverser()
    opt = ember.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        seq = ember.from_numpy(rng.integers(0, vocab, (64, length)))
        target = seq.flip(1)
        opt.zero_grad()
        loss = F.cross_entropy(model(seq).reshape(-1, vocab), target.reshape(-1))
        loss.backward()
        opt.step()
    model.eval()
    with ember.no_grad():
        seq = ember.from_numpy(rng.integers(0, vocab, (512, length)))
        accuracy = (model(seq).argmax(-1) == seq.flip(1)).float().mean().item()
    assert accuracy > 0.95, accuracy  # chance is 1/8
