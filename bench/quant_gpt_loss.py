"""Validation loss of the bench GPT (``bench.models.gpt``, character level) in float32
and quantized: dynamic int8 (``quantize_dynamic``), per-token int8
(``int8_dynamic_activation_int8_weight``), int8 weight-only and int4 weight-only with
groups of 32, 64 and 128.

The model is trained here briefly (AdamW) on ember's own Python sources as text (printable
ASCII, 96 symbols); the last tenth of the text is held out. Run::

    .venv/bin/python -m bench.quant_gpt_loss [--steps 1000]
"""

from __future__ import annotations

import argparse
import copy
import pathlib
import time

import numpy as np

import ember
from bench import models
from ember.ao import (
    int4_weight_only,
    int8_dynamic_activation_int8_weight,
    int8_weight_only,
    quantize_,
)
from ember.ao.quantization import quantize_dynamic

CONTEXT, BATCH = 128, 16


def corpus() -> np.ndarray:
    """ember's sources as symbols 0..95 (printable ASCII from space; newline -> 95)."""
    root = pathlib.Path(ember.__file__).parent
    text = "".join(p.read_text() for p in sorted(root.rglob("*.py")))
    codes = np.frombuffer(text.encode("ascii", "replace"), np.uint8).astype(np.int64)
    codes = np.where(codes == 10, 127, codes)
    return np.clip(codes - 32, 0, 95)


def batches(data: np.ndarray, rng: np.random.Generator, n: int):
    starts = rng.integers(0, len(data) - CONTEXT - 1, n)
    x = np.stack([data[s:s + CONTEXT] for s in starts])
    y = np.stack([data[s + 1:s + CONTEXT + 1] for s in starts])
    return ember.from_numpy(x), ember.from_numpy(y)


def val_loss(model, data: np.ndarray, windows: int = 64) -> float:
    """Mean cross-entropy over ``windows`` fixed held-out windows (same for every model)."""
    x, y = batches(data, np.random.default_rng(1), windows)
    with ember.no_grad():
        losses = [ember.nn.functional.cross_entropy(model(x[i:i + 16]).reshape(-1, 96),
                                                    y[i:i + 16].reshape(-1)).item()
                  for i in range(0, windows, 16)]
    return float(np.mean(losses))


def train(steps: int, data: np.ndarray):
    ember.manual_seed(0)
    model = models.gpt(ember, context=CONTEXT)
    opt = ember.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    rng = np.random.default_rng(0)
    for step in range(steps):
        x, y = batches(data, rng, BATCH)
        loss = ember.nn.functional.cross_entropy(model(x).reshape(-1, 96), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step}: train loss {loss.item():.3f}", flush=True)
    return model.eval()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args(argv)
    data = corpus()
    split = len(data) * 9 // 10
    t0 = time.perf_counter()
    model = train(args.steps, data[:split])
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.0f} s")
    held_out = data[split:]
    base = val_loss(model, held_out)
    variants = {
        "quantize_dynamic int8": lambda m: quantize_dynamic(m, {ember.nn.Linear},
                                                            dtype=ember.qint8),
        "int8 dyn act per token": lambda m: quantize_(m, int8_dynamic_activation_int8_weight()),
        "int8 weight-only": lambda m: quantize_(m, int8_weight_only()),
        **{f"int4 weight-only g={g}": (lambda m, g=g: quantize_(m, int4_weight_only(g)))
           for g in (32, 64, 128)},
    }
    print(f"{'float32':26s} val loss {base:.4f}")
    for name, quantize in variants.items():
        loss = val_loss(quantize(copy.deepcopy(model)), held_out)
        print(f"{name:26s} val loss {loss:.4f}  delta {loss - base:+.4f}")


if __name__ == "__main__":
    main()
