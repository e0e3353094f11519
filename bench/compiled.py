"""Compiled beside eager: ember eager, ember compiled (``ember.compile``), torch eager and
torch.compile (Inductor), one process, interleaved, same weights and data.

``python -m bench --only compiled_gpt_train ...`` runs one; ``python -m bench.compiled``
runs them all and then the compile-time and peak-memory reports (``--no-inductor`` skips
torch.compile, which takes tens of seconds per model here; ``--cpu-time`` runs every side on
one thread and times it by process CPU time, minimum of rounds -- steady on a busy machine).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

from bench import models

INDUCTOR = os.environ.get("EMBER_BENCH_INDUCTOR", "1") != "0"


def _run():
    """``bench.run`` (imported on use: it registers this module's workloads)."""
    import bench.run
    return bench.run


def _four(make_model, batches, loss_fn, make_opt, *, inductor: bool = True) -> dict:
    """Four training sides from identical weights."""
    run = _run()
    ember, torch = run._libs()
    torch.manual_seed(0)
    t_eager, t_comp = make_model(torch), make_model(torch)
    t_comp.load_state_dict(t_eager.state_dict())
    e_eager, e_comp = make_model(ember), make_model(ember)
    models.copy_weights(t_eager, e_eager)
    models.copy_weights(t_eager, e_comp)
    sides = {"ember": run._train_side(ember, e_eager, batches, loss_fn, make_opt),
             "ember_compiled": run._train_side(ember, ember.compile(e_comp), batches, loss_fn,
                                               make_opt),
             "torch": run._train_side(torch, t_eager, batches, loss_fn, make_opt)}
    if inductor and INDUCTOR:
        sides["torch_compile"] = run._train_side(torch, torch.compile(t_comp), batches, loss_fn,
                                                 make_opt)
    return sides


def _digits_batches():
    from sklearn.datasets import load_digits
    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    return [(x[i], y[i]) for i in (rng.choice(len(x), 128, replace=False) for _ in range(8))]


def mlp_digits():
    return _four(models.mlp, _digits_batches(), _run()._xent,
                 lambda lib, m: lib.optim.Adam(m.parameters(), lr=1e-3)), False


def cnn_train():
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((64, 3, 32, 32)).astype(np.float32),
                rng.integers(0, 10, 64)) for _ in range(4)]
    return _four(models.cnn, batches, _run()._xent,
                 lambda lib, m: lib.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)), False


def gpt_batches():
    rng = np.random.default_rng(0)
    out = []
    for _ in range(4):
        seq = rng.integers(0, 96, (16, 129))
        out.append((seq[:, :-1].copy(), seq[:, 1:].copy()))
    return out


def gpt_train():
    return _four(models.gpt, gpt_batches(), _run()._xent,
                 lambda lib, m: lib.optim.AdamW(m.parameters(), lr=3e-4)), False


def gpt_generate_compiled(tokens: int = 64):
    """As ``bench.run.gpt_generate`` (greedy, no KV cache: the prefix grows each token, so
    a compiler sees a new shape per token -- ``dynamic=True`` is what makes it pay)."""
    run = _run()
    sides, _ = run.gpt_generate(tokens)
    ember, torch = run._libs()
    torch.manual_seed(0)
    t_model, e_model = models.gpt(torch), models.gpt(ember)
    models.copy_weights(t_model, e_model)
    compiled = ember.compile(e_model.eval(), dynamic=True)
    sides["ember_compiled"] = run.generate_side(ember, compiled, tokens)
    if INDUCTOR:
        compiled = torch.compile(t_model.eval(), dynamic=True)
        sides["torch_compile"] = run.generate_side(torch, compiled, tokens)
    return sides, False


def pointwise_chain():
    """A 20-op elementwise chain on 1M float32 values (a GELU-tanh-like activation, a
    normalisation and an optimizer-style update in one expression)."""
    ember, torch = _run()._libs()
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((1024, 1024)).astype(np.float32)
    y0 = rng.random((1024, 1024)).astype(np.float32)

    def chain(lib, x, y):
        a = x * 1.5 + y                        # 2
        b = lib.clamp(a * 0.5 - 0.25, -1, 1)   # 5
        c = lib.relu(b) * y + a * 0.1          # 9
        d = (c * c - x) / (1.0 + y * y)        # 14
        e = lib.maximum(d, x * 0.01) - 0.3     # 17
        return e * 2.0 - c * 0.5               # 20

    def side(lib, fn):
        x, y = lib.from_numpy(x0.copy()), lib.from_numpy(y0.copy())

        def step():
            fn(lib, x, y)
            return None
        return _run().Side(step)
    sides = {"ember": side(ember, chain), "ember_compiled": side(ember, ember.compile(chain)),
             "torch": side(torch, chain)}
    if INDUCTOR:
        sides["torch_compile"] = side(torch, torch.compile(chain))
    return sides, False


WORKLOADS = {"compiled_mlp_digits": mlp_digits, "compiled_cnn_train": cnn_train,
             "compiled_gpt_train": gpt_train, "compiled_gpt_generate": gpt_generate_compiled,
             "compiled_pointwise_chain": pointwise_chain}


# ---- compile time (cold and warm disk cache) and peak memory -------------------------------

_COMPILE_SCRIPT = """
import sys, time, numpy as np, ember
from bench import models
from bench.compiled import gpt_batches
ember.manual_seed(0)
model = models.gpt(ember)
model = model if sys.argv[1:] == ["eager"] else ember.compile(model)
x, y = (ember.from_numpy(a) for a in gpt_batches()[0])
times = []
for _ in range(2):
    start, cpu = time.perf_counter(), time.process_time()
    loss = ember.nn.functional.cross_entropy(model(x).reshape(-1, 96), y.reshape(-1))
    loss.backward()
    times += [time.perf_counter() - start, time.process_time() - cpu]
print(*times)
"""


def compile_times() -> dict:
    """First compiled gpt_train step (capture + passes + code generation + Numba) in a
    fresh process, beside the next step: wall-clock seconds and the process's CPU seconds
    (all threads; the steadier figure on a busy machine).

    - ``cold``: empty caches, ember's own Numba kernels included (capture runs them
      eagerly, so they compile first); ``warm``: again with those caches filled;
    - ``installed``: ember's kernels from their usual cache (filled by ``make setup``,
      ``python -m ember.utils._warmup``), the compiler's own cache empty -- a first
      compile after installing, what torch.compile's first call (its kernels prebuilt)
      compares with;
    - ``eager_cold``: the first eager step with empty caches: the part of ``cold`` that
      is Numba compiling ember's kernels."""
    out = {}
    runs = ((("eager_cold",), ["eager"], True), (("cold", "warm"), [], True),
            (("installed",), [], False))
    for labels, args, own_numba_cache in runs:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, EMBER_CACHE_DIR=cache)
            env.pop("NUMBA_CACHE_DIR", None)
            if own_numba_cache:
                env["NUMBA_CACHE_DIR"] = cache
            for label in labels:
                res = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT, *args], env=env,
                                     capture_output=True, text=True, check=True)
                first, first_cpu, second, second_cpu = map(float, res.stdout.split())
                out[label] = {"first_step_s": first, "first_step_cpu_s": first_cpu,
                              "next_step_s": second, "next_step_cpu_s": second_cpu}
    return out


def peak_memory(steps: int = 2) -> dict:
    """Peak NumPy memory (tracemalloc, MiB) of ``steps`` gpt_train forward+backward steps in
    a loop that keeps its last ``loss`` (``for ...: loss = ...; loss.backward()``), after an
    untraced first step (compiled: the capture), eager vs compiled."""
    ember, _ = _run()._libs()
    x, y = (ember.from_numpy(a) for a in gpt_batches()[0])
    out = {}
    for label in ("eager", "compiled"):
        ember.manual_seed(0)
        model = models.gpt(ember)
        fn = ember.compile(model) if label == "compiled" else model

        def step(fn=fn):
            loss = ember.nn.functional.cross_entropy(fn(x).reshape(-1, 96), y.reshape(-1))
            loss.backward()
            return loss
        loss = step()
        tracemalloc.start()
        for _ in range(steps):
            loss = step()
        out[label] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        del loss
    return out


def cpu_time(name: str, rounds: int = 7) -> dict:
    """Each side's step on one thread, timed by process CPU time (time slices other
    processes take do not count), interleaved; the minimum of ``rounds`` in ms."""
    ember, torch = _run()._libs()
    ember.set_num_threads(1)
    torch.set_num_threads(1)
    sides, _ = WORKLOADS[name]()
    for side in sides.values():  # warm-up: capture, compile, Numba
        side.step()
        side.step()
    best = {k: float("inf") for k in sides}
    for _ in range(rounds):
        for k, side in sides.items():
            start = time.process_time()
            side.step()
            best[k] = min(best[k], time.process_time() - start)
    return {k: t * 1e3 for k, t in best.items()}


def main(argv=None) -> None:
    global INDUCTOR
    from bench.run import _fmt, run_workload
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--no-inductor", action="store_true")
    parser.add_argument("--cpu-time", action="store_true")
    parser.add_argument("--no-reports", action="store_true",
                        help="skip the compile-time and peak-memory reports")
    args = parser.parse_args(argv)
    INDUCTOR = not args.no_inductor
    registered = sys.modules.get("bench.compiled")  # (this file run as __main__ is a copy)
    if registered is not None:
        registered.INDUCTOR = INDUCTOR
    if args.cpu_time:  # idle OpenMP threads must not spin: their CPU time would count
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for name in args.only or WORKLOADS:
        if args.cpu_time:
            ms = cpu_time(name)
            print(f"{name:26s} CPU ms, 1 thread, min: " + "  ".join(
                f"{k} {t:8.2f}" for k, t in ms.items()), flush=True)
        else:
            print(_fmt(name, run_workload(name)), flush=True)
    if args.no_reports:
        return
    start = time.perf_counter()
    print("gpt_train compile:", compile_times(), f"({time.perf_counter() - start:.0f} s)")
    print("gpt_train peak MiB:", peak_memory())


if __name__ == "__main__":
    main()
