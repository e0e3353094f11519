"""ember vs torch, side by side: ``python -m bench [--only NAME ...] [--json PATH]``.

Each workload runs on both libraries in one process, interleaved (ember, torch, ember,
...) after warm-up, from identical initial weights and data. Printed per workload: the
median step time of each, the ratio ember/torch, model GFLOP per step and achieved
GFLOP/s for training workloads, and both final losses (so a speed-up cannot come from
doing different work). Model FLOPs per step are counted by ember's FlopCounterMode on
the first warm-up step (forward and backward matmuls, convolutions, attention). torch runs
with the same thread count as ember.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bench import models


@dataclass
class Side:
    step: Callable[[], float | None]   # one step; returns the loss if it has one
    last_loss: float | None = None


@dataclass
class Workload:
    name: str
    setup: Callable  # setup(lib, torch_model_or_None) -> (Side, model)
    rounds: int = 10
    flops: float = 0.0
    notes: str = ""
    results: dict = field(default_factory=dict)


def _libs():
    """ember and torch. Both end up on one OpenMP runtime (torch loads its libgomp into
    the global symbol scope and Numba's pool binds to it), with the wait policy of the one
    loaded first; both use OpenMP's default, so the order does not favour either
    (``python -m bench.separate`` runs each library in a process of its own)."""
    import torch

    import ember
    torch.set_num_threads(ember.get_num_threads() if hasattr(ember, "get_num_threads") else 2)
    return ember, torch


def _train_side(lib, model, batches, loss_fn, make_opt) -> Side:
    opt = make_opt(lib, model)
    data = [tuple(lib.from_numpy(a.copy()) for a in b) for b in batches]
    state = {"i": 0}

    def step():
        x, y = data[state["i"] % len(data)]
        state["i"] += 1
        opt.zero_grad()
        loss = loss_fn(lib, model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return Side(step)


def _pair(make_model, batches, loss_fn, make_opt):
    ember, torch = _libs()
    torch.manual_seed(0)
    t_model = make_model(torch)
    e_model = make_model(ember)
    models.copy_weights(t_model, e_model)
    return {"ember": _train_side(ember, e_model, batches, loss_fn, make_opt),
            "torch": _train_side(torch, t_model, batches, loss_fn, make_opt)}


def _xent(lib, logits, y):
    return lib.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def mlp_digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(8):
        idx = rng.choice(len(x), 128, replace=False)
        batches.append((x[idx], y[idx]))
    return _pair(models.mlp, batches, _xent,
                 lambda lib, m: lib.optim.Adam(m.parameters(), lr=1e-3)), True


def cnn_train():
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((64, 3, 32, 32)).astype(np.float32),
                rng.integers(0, 10, 64)) for _ in range(4)]
    return _pair(models.cnn, batches, _xent,
                 lambda lib, m: lib.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)), True


def gpt_train():
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(4):
        seq = rng.integers(0, 96, (16, 129))
        batches.append((seq[:, :-1].copy(), seq[:, 1:].copy()))
    return _pair(models.gpt, batches, _xent,
                 lambda lib, m: lib.optim.AdamW(m.parameters(), lr=3e-4)), True


def gpt_generate(tokens: int = 64):
    """Greedy generation of ``tokens`` tokens without a KV cache (the whole prefix is
    re-run for every new token)."""
    ember, torch = _libs()
    torch.manual_seed(0)
    t_model, e_model = models.gpt(torch), models.gpt(ember)
    models.copy_weights(t_model, e_model)
    return {"ember": generate_side(ember, e_model.eval(), tokens),
            "torch": generate_side(torch, t_model.eval(), tokens)}, True


def generate_side(lib, model, tokens: int) -> Side:
    """One step: greedy generation of ``tokens`` tokens from a single start token."""
    def step():
        with lib.no_grad():
            idx = lib.zeros(1, 1, dtype=lib.long)
            for _ in range(tokens):
                nxt = model(idx)[:, -1].argmax(-1, keepdim=True)
                idx = lib.cat([idx, nxt], dim=1)
        return float(idx.sum().item())
    return Side(step)


def matmul_fb():
    ember, torch = _libs()
    rng = np.random.default_rng(0)
    a0 = rng.standard_normal((1024, 1024)).astype(np.float32)
    b0 = rng.standard_normal((1024, 1024)).astype(np.float32)

    def side(lib):
        a = lib.from_numpy(a0.copy()).requires_grad_()
        b = lib.from_numpy(b0.copy()).requires_grad_()

        def step():
            a.grad = b.grad = None
            (a @ b).sum().backward()
            return None
        return Side(step)
    return {"ember": side(ember), "torch": side(torch)}, True


def _op_overhead(grad: bool):
    ember, torch = _libs()

    def side(lib):
        x0 = lib.from_numpy(np.linspace(0, 1, 16, dtype=np.float32)).requires_grad_(grad)

        def step():
            x = x0
            for _ in range(5000):
                x = x * 1.0001 + 0.0001
            if grad:
                x.sum().backward()
            return None
        return Side(step)
    return {"ember": side(ember), "torch": side(torch)}, False


WORKLOADS = {
    "op_overhead": lambda: _op_overhead(False),
    "op_overhead_grad": lambda: _op_overhead(True),
    "mlp_digits": mlp_digits,
    "cnn_train": cnn_train,
    "gpt_train": gpt_train,
    "gpt_generate": gpt_generate,
    "matmul_fb": matmul_fb,
}
ROUNDS = {"gpt_generate": 5, "gpt_train": 8, "op_overhead": 7, "op_overhead_grad": 7}

from bench import quant as _quant  # noqa: E402

WORKLOADS.update(_quant.WORKLOADS)
ROUNDS.update(_quant.ROUNDS)
from bench.compiled import WORKLOADS as _COMPILED_WORKLOADS  # noqa: E402

WORKLOADS.update(_COMPILED_WORKLOADS)
from bench import onnx as _onnx  # noqa: E402

WORKLOADS.update(_onnx.WORKLOADS)
ROUNDS.update(_onnx.ROUNDS)
from bench import llm_serving as _llm_serving  # noqa: E402

WORKLOADS.update(_llm_serving.WORKLOADS)
ROUNDS.update(_llm_serving.ROUNDS)
from bench import llm_speculative as _llm_speculative  # noqa: E402

WORKLOADS.update(_llm_speculative.WORKLOADS)
ROUNDS.update(_llm_speculative.ROUNDS)
from bench import forward_ad as _forward_ad  # noqa: E402

WORKLOADS.update(_forward_ad.WORKLOADS)
ROUNDS.update(_forward_ad.ROUNDS)


def run_workload(name: str) -> dict:
    from ember.utils.flop_counter import FlopCounterMode
    sides, count_flops = WORKLOADS[name]()
    flops = 0
    for lib, side in sides.items():  # warm-up (and Numba compilation)
        if lib == "ember" and count_flops:
            with FlopCounterMode(display=False) as counter:
                side.last_loss = side.step()
            flops = counter.get_total_flops()
        else:
            side.last_loss = side.step()
        side.last_loss = side.step()
    times = {k: [] for k in sides}
    for _ in range(ROUNDS.get(name, 10)):
        for k, side in sides.items():
            start = time.perf_counter()
            side.last_loss = side.step()
            times[k].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"median_s": med, "ratio": med["ember"] / med["torch"],
              "ratios": {k: t / med["torch"] for k, t in med.items() if k != "torch"},
              "loss": {k: s.last_loss for k, s in sides.items()}}
    if flops:
        result["gflop_per_step"] = flops / 1e9
        result["gflops"] = {k: flops / 1e9 / t for k, t in med.items()}
    if name.startswith("op_overhead"):
        result["us_per_op"] = {k: t / 10_000 * 1e6 for k, t in med.items()}
    return result


def import_time() -> dict:
    def once(mod: str) -> float:
        code = f"import time; s = time.perf_counter(); import {mod}; " \
               "print(time.perf_counter() - s)"
        return float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, check=True).stdout)
    times = {"ember": [], "torch": []}
    for _ in range(5):
        for mod in times:
            times[mod].append(once(mod))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"median_s": med, "ratio": med["ember"] / med["torch"]}


def _fmt(name: str, r: dict) -> str:
    med = r["median_s"]
    line = (f"{name:17s} ember {med['ember'] * 1e3:9.2f} ms  torch {med['torch'] * 1e3:9.2f} ms"
            f"  ratio {r['ratio']:5.2f}")
    if "us_per_op" in r:
        line += f"  ({r['us_per_op']['ember']:.2f} vs {r['us_per_op']['torch']:.2f} us/op)"
    if "gflops" in r:
        line += (f"  {r['gflop_per_step']:.2f} GFLOP/step, {r['gflops']['ember']:.1f} vs "
                 f"{r['gflops']['torch']:.1f} GFLOP/s")
    for side, ratio in r.get("ratios", {}).items():  # extra sides (compiled, float32 twins)
        if side != "ember":
            line += f"  {side} {med[side] * 1e3:9.2f} ms ({ratio:.2f})"
    loss = r.get("loss", {})
    if loss.get("ember") is not None:
        line += f"  loss {loss['ember']:.5f} vs {loss['torch']:.5f}"
    return line


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    names = args.only or [*WORKLOADS, "import"]
    results = {}
    for name in names:
        results[name] = import_time() if name == "import" else run_workload(name)
        print(_fmt(name, results[name]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
