"""Shape sweep, ember vs torch: ``python -m bench.sweep [--family F ...] [--quick]
[--json PATH]``.

Speed judged on shapes nobody tuned for: per family (convolution, pooling, normalisation,
attention, GEMM, RNN, elementwise) a sample of common shapes run forward and backward
(backward from a fixed random upstream gradient into every input and weight), and whole
models, one optimizer step each, plus GPT generation. As in ``bench.run``, both libraries
run in one process, interleaved (ember, torch, ember, ...) after warm-up, from identical
inputs and weights, torch with ember's thread count. Each timing sample repeats the step
enough times to last ~20 ms (the same count for both libraries); reported is the median
sample of several rounds and the ratio ember/torch (above 1: ember is slower). The last
step's outputs and gradients (for models: the loss) are compared, so a speed-up cannot come
from doing different work: ``err`` is the largest difference relative to torch's largest
magnitude. Per family the summary gives the geometric mean and the worst ratio.

On a loaded machine (1-minute load average above the core count) torch's OpenMP threads,
which spin while waiting by default, lose most of their time to the other processes (a
2-thread convolution measured 2.5x slower than with one thread); unless told otherwise
(``--omp-wait``, or ``OMP_WAIT_POLICY`` already set) the sweep then sets
``OMP_WAIT_POLICY=PASSIVE`` before torch is imported, so that torch is not handicapped.
NumPy's BLAS threads (ember's GEMMs) have no such switch: under load a 2-thread GEMM can
wait a scheduler quantum (~10 ms) for its second thread, so small GEMMs measure
bimodally; ``--threads 1`` compares the kernels without thread wake-ups.

``--cpu-time`` is for a machine other work keeps busy: both libraries on one thread, each
sample timed by the process's CPU time (``time.process_time``), which time slices given to
other processes do not inflate, and the minimum of the rounds reported instead of the
median. It compares the single-thread kernels and per-op overhead, not how either library
uses a second core.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from bench import models, models_zoo, run

FAMILIES = ("conv", "pool", "norm", "attention", "gemm", "rnn", "elementwise", "models")
TARGET_S = 0.02        # a timing sample repeats the step to last about this long
MAX_REPEAT = 100
ERR_TOL = 1e-2         # outputs/gradients/losses further apart than this are flagged
# (for whole models after their first step: float32 training drifts chaotically over the
# later steps, torch from its own float64 run as much as ember from torch -- ResNet-18:
# 1e-7 after one step, 2e-2 to 9e-2 after ten, both ways)


@dataclass
class Case:
    family: str
    label: str
    make: Callable[[], dict]     # -> {"ember": run.Side, "torch": run.Side}
    rounds: int = 5
    tokens: int = 0              # tokens generated per step (generation: report tokens/s)


def _randn(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(shape) * scale
    return np.asarray(values, dtype=np.float32)  # an array also for shape ()


def _side(lib, forward: Callable, arrays: list[np.ndarray], params=()) -> run.Side:
    """One forward+backward step of ``forward(*inputs)``: float arrays become inputs that
    require grad, the others (indices, targets) plain tensors; the step returns the output
    and every gradient, for the comparison with the other library."""
    inputs = [lib.from_numpy(a.copy()).requires_grad_(a.dtype.kind == "f") for a in arrays]
    leaves = [t for t in inputs if t.requires_grad] + list(params)
    shape = tuple(forward(*inputs).shape)
    upstream = lib.from_numpy(_randn(1, *shape))

    def step():
        for t in leaves:
            t.grad = None
        out = forward(*inputs)
        out.backward(upstream)
        return [out, *(t.grad for t in leaves)]
    return run.Side(step)


def _op(family: str, label: str, fn: Callable, inputs: Callable[[], list[np.ndarray]],
        rounds: int = 5) -> Case:
    """A case timing ``fn(lib, *tensors)`` forward and backward on both libraries."""
    def make():
        ember, torch = run._libs()
        arrays = inputs()
        return {name: _side(lib, functools.partial(fn, lib), arrays)
                for name, lib in (("ember", ember), ("torch", torch))}
    return Case(family, label, make, rounds)


def _module(family: str, label: str, build: Callable, inputs: Callable[[], list[np.ndarray]],
            rounds: int = 5) -> Case:
    """A case timing a module (``build(lib)``, torch's initial weights copied into ember's)
    whose first output is backpropagated into its input and parameters."""
    def make():
        ember, torch = run._libs()
        torch.manual_seed(0)
        mods = {"torch": build(torch), "ember": build(ember)}
        models.copy_weights(mods["torch"], mods["ember"])
        arrays = inputs()
        return {name: _side(lib, lambda x, m=m: m(x)[0], arrays, m.parameters())
                for name, lib, m in (("ember", ember, mods["ember"]),
                                     ("torch", torch, mods["torch"]))}
    return Case(family, label, make, rounds)


# ---- the families -------------------------------------------------------------------------

def conv_cases(quick: bool) -> Iterator[Case]:
    # (batch, in channels, spatial, out channels, kernel, stride, groups)
    shapes = [(2, 3, 8, 4, 3, 1, 1), (2, 4, 7, 4, 3, 2, 4)] if quick else [
        (64, 3, 32, 32, 3, 1, 1),      # the CIFAR CNN's layers
        (64, 32, 16, 64, 3, 1, 1),
        (128, 3, 32, 16, 3, 1, 1),
        (128, 16, 16, 32, 3, 1, 1),
        (1, 3, 64, 16, 7, 2, 1),       # stems
        (16, 3, 64, 64, 7, 2, 1),
        (32, 64, 16, 64, 3, 1, 1),     # ResNet stages
        (32, 128, 8, 128, 3, 1, 1),
        (8, 256, 7, 256, 3, 1, 1),
        (1, 64, 56, 64, 3, 1, 1),
        (16, 64, 32, 128, 3, 2, 1),
        (8, 64, 16, 64, 5, 1, 1),
        (8, 16, 64, 32, 5, 2, 1),
        (32, 64, 16, 128, 1, 1, 1),    # pointwise
        (32, 256, 7, 64, 1, 1, 1),
        (32, 128, 16, 256, 1, 2, 1),
        (32, 32, 32, 32, 3, 1, 32),    # depthwise
        (16, 128, 16, 128, 3, 2, 128),
        (4, 32, 64, 32, 7, 1, 32),
        (32, 64, 16, 64, 3, 1, 4),     # grouped
    ]
    for n, cin, hw, cout, k, s, g in shapes:
        fan_in = cin // g * k * k
        yield _op("conv", f"N{n} {cin}->{cout} {hw}x{hw} k{k} s{s} g{g}",
                  lambda lib, x, w, b, s=s, k=k, g=g: lib.nn.functional.conv2d(
                      x, w, b, stride=s, padding=k // 2, groups=g),
                  lambda n=n, cin=cin, hw=hw, cout=cout, k=k, g=g, f=fan_in: [
                      _randn(2, n, cin, hw, hw), _randn(3, cout, cin // g, k, k,
                                                        scale=f ** -0.5),
                      _randn(4, cout, scale=0.1)])


def pool_cases(quick: bool) -> Iterator[Case]:
    # (kind, shape, kernel, stride, padding)
    shapes = [("max", (2, 3, 8, 8), 2, 2, 0), ("avg", (2, 3, 8, 8), 3, 1, 1)] if quick else [
        ("max", (64, 32, 32, 32), 2, 2, 0),
        ("max", (32, 64, 32, 32), 3, 2, 1),
        ("max", (128, 64, 16, 16), 2, 2, 0),
        ("max", (8, 16, 64, 64), 3, 1, 1),
        ("avg", (64, 32, 32, 32), 2, 2, 0),
        ("avg", (16, 128, 16, 16), 3, 1, 1),
        ("avg", (32, 256, 8, 8), 2, 2, 0),
        ("adaptive_avg", (32, 512, 4, 4), 1, 1, 0),
    ]
    for kind, shape, k, s, p in shapes:
        def fn(lib, x, kind=kind, k=k, s=s, p=p):
            F = lib.nn.functional
            if kind == "adaptive_avg":
                return F.adaptive_avg_pool2d(x, k)
            return getattr(F, f"{kind}_pool2d")(x, k, s, p)
        yield _op("pool", f"{kind} {'x'.join(map(str, shape))} k{k} s{s} p{p}", fn,
                  lambda shape=shape: [_randn(2, *shape)])


def norm_cases(quick: bool) -> Iterator[Case]:
    def layer_norm(lib, x, w, b):
        return lib.nn.functional.layer_norm(x, w.shape, w, b)

    def batch_norm(lib, x, w, b):
        return lib.nn.functional.batch_norm(x, None, None, w, b, training=True)

    def group_norm(groups):
        return lambda lib, x, w, b: lib.nn.functional.group_norm(x, groups, w, b)

    # (name, fn, input shape, channel axis of the affine parameters)
    shapes = [("layer_norm", layer_norm, (2, 5, 8), -1),
              ("batch_norm", batch_norm, (4, 3, 5, 5), 1)] if quick else [
        ("layer_norm", layer_norm, (16, 128, 128), -1),
        ("layer_norm", layer_norm, (8, 512, 768), -1),
        ("layer_norm", layer_norm, (256, 1024), -1),
        ("batch_norm", batch_norm, (64, 32, 32, 32), 1),
        ("batch_norm", batch_norm, (32, 128, 8, 8), 1),
        ("batch_norm", batch_norm, (128, 256), 1),
        ("group_norm g8", group_norm(8), (32, 64, 16, 16), 1),
        ("group_norm g32", group_norm(32), (8, 256, 16, 16), 1),
    ]
    for name, fn, shape, axis in shapes:
        c = shape[axis]
        yield _op("norm", f"{name} {'x'.join(map(str, shape))}", fn,
                  lambda shape=shape, c=c: [_randn(2, *shape), 1 + _randn(3, c, scale=0.1),
                                            _randn(4, c, scale=0.1)])


def _manual_attention(lib, q, k, v, causal: bool):
    """softmax(Q K^T / sqrt(d)) V written out, as the bench GPT does."""
    t = q.shape[-2]
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        mask = lib.ones(t, t, dtype=lib.bool).tril()
        att = att.masked_fill(~mask, float("-inf"))
    return lib.nn.functional.softmax(att, dim=-1) @ v


def _sdpa(lib, q, k, v, causal: bool):
    return lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)


def attention_cases(quick: bool) -> Iterator[Case]:
    # (form, (batch, heads, sequence, head dim), causal)
    shapes = [("sdpa", (2, 2, 8, 4), True), ("manual", (2, 2, 8, 4), True)] if quick else [
        ("sdpa", (16, 4, 128, 32), True),     # the bench GPT's attention
        ("sdpa", (8, 8, 256, 64), False),
        ("sdpa", (1, 8, 1024, 64), True),
        ("sdpa", (32, 1, 64, 128), False),
        ("sdpa", (2, 16, 512, 64), True),
        ("sdpa", (64, 2, 32, 32), False),
        ("manual", (16, 4, 128, 32), True),
        ("manual", (8, 8, 256, 64), False),
        ("manual", (1, 8, 1024, 64), True),
    ]
    for form, shape, causal in shapes:
        fn = _sdpa if form == "sdpa" else _manual_attention
        yield _op("attention", f"{form} B{shape[0]} H{shape[1]} T{shape[2]} D{shape[3]}"
                  f"{' causal' if causal else ''}",
                  functools.partial(fn, causal=causal),
                  lambda shape=shape: [_randn(s, *shape) for s in (2, 3, 4)])


def gemm_cases(quick: bool) -> Iterator[Case]:
    # (rows, in features, out features): linear layers of transformers and MLPs
    shapes = [(8, 16, 12), (1, 32, 32)] if quick else [
        (2048, 128, 384),    # bench GPT: qkv, MLP in/out, head (batch 16 x context 128)
        (2048, 128, 512),
        (2048, 512, 128),
        (2048, 128, 96),
        (512, 768, 3072),    # BERT-base MLP
        (512, 3072, 768),
        (256, 1024, 1024),
        (128, 64, 256),      # digits MLP
        (64, 4096, 10),      # CIFAR CNN head
        (1, 4096, 4096),     # batch-1 inference (GEMV)
    ]
    for m, k, n in shapes:
        yield _op("gemm", f"linear {m}x{k} -> {n}",
                  lambda lib, x, w, b: lib.nn.functional.linear(x, w, b),
                  lambda m=m, k=k, n=n: [_randn(2, m, k), _randn(3, n, k, scale=k ** -0.5),
                                         _randn(4, n, scale=0.1)])
    bmm = (4, 16, 8, 16) if quick else (64, 128, 64, 128)
    yield _op("gemm", "bmm {0}x{1}x{2} @ {0}x{2}x{3}".format(*bmm), lambda lib, a, b: a @ b,
              lambda: [_randn(2, *bmm[:3]), _randn(3, bmm[0], bmm[2], bmm[3])])


def rnn_cases(quick: bool) -> Iterator[Case]:
    # (cell, input size, hidden size, layers, batch, sequence)
    shapes = [("LSTM", 4, 8, 1, 2, 5), ("GRU", 4, 8, 1, 2, 5)] if quick else [
        ("LSTM", 32, 128, 1, 16, 64),
        ("LSTM", 256, 256, 2, 16, 32),
        ("LSTM", 64, 64, 1, 1, 128),
        ("GRU", 64, 128, 1, 16, 64),
        ("GRU", 128, 256, 1, 32, 32),
    ]
    for cell, i, h, layers, b, t in shapes:
        yield _module("rnn", f"{cell} {i}->{h} x{layers} batch {b} seq {t}",
                      lambda lib, cell=cell, i=i, h=h, n=layers: getattr(lib.nn, cell)(
                          i, h, n, batch_first=True),
                      lambda b=b, t=t, i=i: [_randn(2, b, t, i)])


def elementwise_cases(quick: bool) -> Iterator[Case]:
    F = lambda lib: lib.nn.functional  # noqa: E731
    act = (2, 3, 5) if quick else (16, 128, 512)
    logits, classes = ((6, 5), 5) if quick else ((2048, 96), 96)
    table, idx = ((10, 4), (2, 3)) if quick else ((10000, 256), (32, 64))
    cases = [
        ("gelu", act, lambda lib, x: F(lib).gelu(x)),
        ("silu", act, lambda lib, x: F(lib).silu(x)),
        ("relu", act, lambda lib, x: F(lib).relu(x)),
        ("softmax", act, lambda lib, x: F(lib).softmax(x, dim=-1)),
        ("pow 2.5", act, lambda lib, x: x.abs().add(0.1).pow(2.5)),
    ]
    for name, shape, fn in cases:
        yield _op("elementwise", f"{name} {'x'.join(map(str, shape))}", fn,
                  lambda shape=shape: [_randn(2, *shape)])
    n = logits[0]
    yield _op("elementwise", f"cross_entropy {logits[0]}x{logits[1]}",
              lambda lib, x, y: F(lib).cross_entropy(x, y),
              lambda: [_randn(2, *logits), np.random.default_rng(3).integers(0, classes, n)])
    if not quick:
        yield _op("elementwise", "cross_entropy 256x1000",
                  lambda lib, x, y: F(lib).cross_entropy(x, y),
                  lambda: [_randn(2, 256, 1000), np.random.default_rng(3).integers(0, 1000, 256)])
    yield _op("elementwise", f"embedding {table[0]}x{table[1]}[{idx[0]}x{idx[1]}]",
              lambda lib, i, w: F(lib).embedding(i, w),
              lambda: [np.random.default_rng(3).integers(0, table[0], idx), _randn(2, *table)])


# ---- whole models -------------------------------------------------------------------------

def _train(label: str, make_model: Callable, batches: Callable, optimizer: Callable,
           rounds: int) -> Case:
    """One training step (zero_grad, cross-entropy, backward, optimizer step) per sample."""
    return Case("models", label,
                lambda: run._pair(make_model, batches(), run._xent, optimizer), rounds)


def _images(n: int, shape: tuple, classes: int = 10) -> Callable:
    rng = np.random.default_rng(0)
    return lambda: [(rng.standard_normal((n, *shape)).astype(np.float32),
                     rng.integers(0, classes, n)) for _ in range(4)]


def _tokens(n: int, t: int, vocab: int) -> Callable:
    def batches():
        rng = np.random.default_rng(0)
        seqs = [rng.integers(0, vocab, (n, t + 1)) for _ in range(4)]
        return [(s[:, :-1].copy(), s[:, 1:].copy()) for s in seqs]
    return batches


def model_cases(quick: bool) -> Iterator[Case]:
    sgd = lambda lib, m: lib.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)  # noqa: E731
    adamw = lambda lib, m: lib.optim.AdamW(m.parameters(), lr=3e-4)  # noqa: E731
    adam = lambda lib, m: lib.optim.Adam(m.parameters(), lr=1e-3)  # noqa: E731
    cnn, res, gpt, lm = (2, 2, (2, 16), (2, 8)) if quick else (64, 16, (16, 128), (16, 64))
    rounds = 2 if quick else 3
    yield _train(f"CIFAR CNN batch {cnn} SGD", models.cnn, _images(cnn, (3, 32, 32)), sgd,
                 rounds + 2)
    yield _train(f"ResNet-18 3x32x32 batch {res} SGD", models_zoo.resnet18,
                 _images(res, (3, 32, 32)), sgd, rounds)
    yield _train(f"GPT 4x128 batch {gpt[0]} ctx {gpt[1]} AdamW", models.gpt,
                 _tokens(*gpt, 96), adamw, rounds)
    yield _train(f"LSTM LM 2x256 batch {lm[0]} seq {lm[1]} Adam", models_zoo.lstm_lm,
                 _tokens(*lm, 256), adam, rounds)
    yield Case("models", "digits MLP batch 128 Adam", lambda: run.mlp_digits()[0], rounds + 2)
    tokens = 4 if quick else 64
    yield Case("models", f"GPT generate {tokens} tokens (no KV cache)",
               lambda: run.gpt_generate(tokens)[0], rounds, tokens=tokens)


CASES = {"conv": conv_cases, "pool": pool_cases, "norm": norm_cases,
         "attention": attention_cases, "gemm": gemm_cases, "rnn": rnn_cases,
         "elementwise": elementwise_cases, "models": model_cases}


# ---- measuring ----------------------------------------------------------------------------

def _numpy(value) -> list[np.ndarray]:
    values = value if isinstance(value, list) else [value]
    return [np.asarray(v.detach().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
            for v in values]


def _error(a, b) -> float:
    """Largest difference between the two sides' results, relative to torch's largest
    magnitude (0 when identical)."""
    err = 0.0
    for x, y in zip(_numpy(a), _numpy(b), strict=True):
        if x.shape != y.shape:
            return math.inf
        if x.size:
            err = max(err, float(np.max(np.abs(x - y))) / max(float(np.max(np.abs(y))), 1e-6))
    return err


CLOCK = {"clock": time.perf_counter, "pick": statistics.median}  # --cpu-time changes them


def _timed(step: Callable, repeat: int) -> tuple[float, object]:
    clock = CLOCK["clock"]
    start = clock()
    for _ in range(repeat):
        value = step()
    return (clock() - start) / repeat, value


def measure(case: Case, quick: bool) -> dict:
    """Warm up both sides, pick a repeat count, then time interleaved rounds."""
    sides = case.make()
    first, initial = {}, {}
    for name, side in sides.items():   # warm-up (and Numba compilation)
        initial[name] = side.step()
        first[name], _ = _timed(side.step, 1)
    repeat = 1 if quick else max(1, min(MAX_REPEAT, math.ceil(TARGET_S / min(first.values()))))
    times = {name: [] for name in sides}
    last = {}
    for _ in range(2 if quick else case.rounds):
        for name, side in sides.items():
            t, last[name] = _timed(side.step, repeat)
            times[name].append(t)
    med = {name: CLOCK["pick"](v) for name, v in times.items()}
    compared = initial if case.family == "models" else last
    result = {"family": case.family, "case": case.label, "ember_ms": med["ember"] * 1e3,
              "torch_ms": med["torch"] * 1e3, "ratio": med["ember"] / med["torch"],
              "err": _error(compared["ember"], compared["torch"]), "repeat": repeat}
    if case.tokens:
        result["tokens_per_s"] = {name: case.tokens / t for name, t in med.items()}
    return result


def summarize(results: list[dict]) -> dict:
    """Per family: the number of cases, geometric mean and worst ratio, failures."""
    summary = {}
    for family in dict.fromkeys(r["family"] for r in results):
        ok = [r for r in results if r["family"] == family and "ratio" in r]
        entry = {"cases": len(ok),
                 "failed": [r["case"] for r in results if r["family"] == family and "error" in r]}
        if ok:
            worst = max(ok, key=lambda r: r["ratio"])
            entry.update(geomean=math.exp(statistics.fmean(math.log(r["ratio"]) for r in ok)),
                         worst=worst["ratio"], worst_case=worst["case"])
        summary[family] = entry
    return summary


def _row(r: dict) -> str:
    if "error" in r:
        return f"  {r['case']:46s} FAILED: {r['error']}"
    flag = "  MISMATCH" if not r["err"] <= ERR_TOL else ""
    line = (f"  {r['case']:46s} {r['ember_ms']:10.3f} {r['torch_ms']:10.3f} {r['ratio']:7.2f}"
            f"  {r['err']:.1e}{flag}")
    if "tokens_per_s" in r:
        tps = r["tokens_per_s"]
        line += f"  ({tps['ember']:.1f} vs {tps['torch']:.1f} tokens/s)"
    return line


def _omp_wait_policy(choice: str) -> str:
    """Set OMP_WAIT_POLICY (before torch is imported) as ``--omp-wait`` asks; returns the
    policy in force."""
    if choice == "auto":
        if "OMP_WAIT_POLICY" in os.environ:
            return os.environ["OMP_WAIT_POLICY"]
        choice = "passive" if os.getloadavg()[0] > (os.cpu_count() or 1) else "default"
    if choice == "default":
        os.environ.pop("OMP_WAIT_POLICY", None)
    else:
        os.environ["OMP_WAIT_POLICY"] = choice.upper()
    return choice.upper()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", nargs="*", choices=FAMILIES, default=None,
                        help="families to run (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny shapes, two rounds, no repeats: checks the harness runs")
    parser.add_argument("--json", default=None, help="write every result and the summary here")
    parser.add_argument("--omp-wait", choices=("auto", "passive", "active", "default"),
                        default="auto", help="OMP_WAIT_POLICY for torch (and Numba's OpenMP "
                        "layer); auto: passive when the machine is loaded")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both libraries (default: ember's, usually the "
                        "core count); 1 takes thread wake-ups out of the comparison")
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread each, timed by process CPU time, minimum of rounds: "
                        "steady on a busy machine")
    args = parser.parse_args(argv)
    if args.cpu_time:
        args.threads = 1
        CLOCK.update(clock=time.process_time, pick=min)
    policy = _omp_wait_policy(args.omp_wait)
    ember, torch = run._libs()
    if args.threads:
        ember.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    print(f"ember vs torch, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f}, OMP_WAIT_POLICY {policy}{', quick' if args.quick else ''}"
          f"{', CPU time (min of rounds)' if args.cpu_time else ''};"
          " times in ms per step (forward+backward), ratio = ember/torch", flush=True)
    results = []
    start = time.perf_counter()
    for family in args.family or FAMILIES:
        print(f"\n{family}\n  {'case':46s} {'ember ms':>10s} {'torch ms':>10s} {'ratio':>7s}"
              "  err", flush=True)
        for case in CASES[family](args.quick):
            try:
                result = measure(case, args.quick)
            except Exception as exc:  # a failing op must not end the sweep: report it
                result = {"family": family, "case": case.label,
                          "error": f"{type(exc).__name__}: {exc}"}
            results.append(result)
            print(_row(result), flush=True)
    summary = summarize(results)
    print(f"\nsummary (ember/torch; {time.perf_counter() - start:.0f} s)\n"
          f"  {'family':12s} {'cases':>5s} {'geomean':>8s} {'worst':>7s}  worst case")
    for family, s in summary.items():
        if s["cases"]:
            print(f"  {family:12s} {s['cases']:5d} {s['geomean']:8.2f} {s['worst']:7.2f}  "
                  f"{s['worst_case']}")
        if s["failed"]:
            print(f"  {family:12s} failed: {', '.join(s['failed'])}")
    out = {"meta": {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                    "threads": torch.get_num_threads(), "quick": args.quick,
                    "omp_wait_policy": policy, "cpu_time": args.cpu_time,
                    "load_average": os.getloadavg()[0]},
           "results": results, "summary": summary}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
