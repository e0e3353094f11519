"""What a new user waits for: ``python -m bench.cold_start [--json PATH]``.

- The first training step (forward, backward, optimizer step) of the digits demo's CNN and
  of the bench GPT, each in a fresh process whose ``NUMBA_CACHE_DIR`` is an empty
  temporary directory (cold: every kernel compiles), then again in a second fresh process
  on the same directory (warm: kernels load from Numba's cache), and in a process whose
  cache was filled only by ``python -m ember.utils._warmup`` (what ``make setup`` runs:
  after_warmup, the first step a new user sees). The third step's time is
  shown for scale. Wall and CPU seconds of the process are both reported: on a shared
  machine the wall time includes waiting for a core.
- ``import ember`` in a fresh process (median of several), with Python's bytecode cache
  (as an installed package has it: a private ``PYTHONPYCACHEPREFIX``, filled by one import
  first) and without it (``PYTHONDONTWRITEBYTECODE``: every module compiled from source);
  which heavy modules it loads (from ``sys.modules``), and the external packages that take
  the most import time (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter

import numpy as np

HEAVY = ("numba", "llvmlite", "ml_dtypes", "scipy", "sklearn", "threadpoolctl", "torch",
         "pandas", "matplotlib")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _digits_cnn_step(ember):
    """One Adam step of the digits demo's CNN on a batch of 64 1x8x8 images."""
    from bench import models_zoo
    rng = np.random.default_rng(0)
    model = models_zoo.digits_cnn(ember)
    opt = ember.optim.Adam(model.parameters(), lr=3e-3)
    x = ember.from_numpy(rng.random((64, 1, 8, 8), dtype=np.float32))
    y = ember.from_numpy(rng.integers(0, 10, 64))

    def step():
        opt.zero_grad()
        ember.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def _gpt_step(ember):
    """One AdamW step of the bench GPT (4 layers, d=128, context 128) on a batch of 16."""
    from bench import models
    seq = np.random.default_rng(0).integers(0, 96, (16, 129))
    model = models.gpt(ember)
    opt = ember.optim.AdamW(model.parameters(), lr=3e-4)
    x, y = ember.from_numpy(seq[:, :-1].copy()), ember.from_numpy(seq[:, 1:].copy())

    def step():
        opt.zero_grad()
        logits = model(x)
        ember.nn.functional.cross_entropy(logits.reshape(-1, 96), y.reshape(-1)).backward()
        opt.step()
    return step


MODELS = {"digits_cnn": _digits_cnn_step, "gpt": _gpt_step}


def _compiles(buffer) -> dict:
    """Numba's compile events (cache misses only: loads from the cache fire none): how many
    top-level compilations, their wall seconds, and the kernels compiled most often."""
    depth, start, seconds, names = 0, 0.0, 0.0, Counter()
    for stamp, ev in buffer:
        if ev.is_start:
            if depth == 0:
                start = stamp
                func = ev.data["dispatcher"].py_func
                names[f"{func.__module__}.{func.__qualname__}"] += 1
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                seconds += stamp - start
    return {"count": sum(names.values()), "seconds": seconds,
            "most": dict(names.most_common(5))}


def child(name: str) -> dict:
    """Run in the fresh process: import ember, build the model, time three steps, in wall
    and CPU seconds (on a shared machine the CPU time is the steadier of the two), and
    record the Numba compilations of each step (a later step compiles a kernel variant
    the first did not take when one is chosen by machine load, as the threaded ones are;
    Numba's import, which ember defers to the first kernel, stays inside the first step's
    time)."""
    start, cpu = time.perf_counter(), time.process_time()
    import ember
    result = {"import_s": time.perf_counter() - start,
              "import_cpu_s": time.process_time() - cpu}
    step = MODELS[name](ember)
    for i in ("first", "second", "third"):
        start, cpu = time.perf_counter(), time.process_time()
        from numba.core import event
        with event.install_recorder("numba:compile") as recorder:
            step()
        result[f"{i}_step_s"] = time.perf_counter() - start
        result[f"{i}_step_cpu_s"] = time.process_time() - cpu
        result[f"{i}_step_compiles"] = _compiles(recorder.buffer)
    return result


def _env(pycache: str | None, **extra: str) -> dict:
    """The child's environment: bytecode cached under ``pycache`` (as an installed package
    has its .pyc files), or, with None, never written (every module compiled from source)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env.update({"PYTHONPYCACHEPREFIX": pycache} if pycache else {"PYTHONDONTWRITEBYTECODE": "1"})
    return {**env, **extra}


def _run_child(name: str, cache_dir: str, pycache: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.cold_start", "--child", name],
                         cwd=ROOT, env=_env(pycache, NUMBA_CACHE_DIR=cache_dir),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def first_steps(name: str, pycache: str) -> dict:
    """Cold (empty Numba cache) and warm (same cache, second process) first steps, and the
    first step after ``make setup``'s warm-up (a cache filled by ``ember.utils._warmup``
    only)."""
    with tempfile.TemporaryDirectory(prefix="ember-numba-cache-") as cache_dir:
        result = {"cold": _run_child(name, cache_dir, pycache),
                  "warm": _run_child(name, cache_dir, pycache)}
    with tempfile.TemporaryDirectory(prefix="ember-numba-cache-") as cache_dir:
        subprocess.run([sys.executable, "-m", "ember.utils._warmup"], cwd=ROOT, check=True,
                       env=_env(pycache, NUMBA_CACHE_DIR=cache_dir), capture_output=True)
        result["after_warmup"] = _run_child(name, cache_dir, pycache)
    return result


def _python(code: str, *flags: str, pycache: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *flags, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, env=_env(pycache))


def import_report(runs: int, pycache: str) -> dict:
    """``import ember`` time (median of ``runs`` fresh processes, with and without the
    bytecode cache), the heavy modules it loads, and the slowest external packages in
    ``-X importtime``."""
    code = ("import sys, time; s, c = time.perf_counter(), time.process_time(); import ember; "
            "t, c = time.perf_counter() - s, time.process_time() - c; "
            f"print(t, c, *[m for m in {HEAVY!r} if m in sys.modules], len(sys.modules))")
    _python("import ember", pycache=pycache)  # fills the bytecode cache
    times, cpu, loaded, no_pyc = [], [], [], []
    for _ in range(runs):
        fields = _python(code, pycache=pycache).stdout.split()
        times.append(float(fields[0]))
        cpu.append(float(fields[1]))
        loaded, n_modules = fields[2:-1], int(fields[-1])
        no_pyc.append(float(_python(code).stdout.split()[0]))
    packages = {}   # package -> cumulative microseconds, from -X importtime
    for line in _python("import ember", "-X", "importtime", pycache=pycache).stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        if "." not in name and name != "ember":
            packages[name] = max(packages.get(name, 0), int(parts[1]))
    slowest = sorted(packages.items(), key=lambda kv: -kv[1])[:8]
    versions = _python("import importlib.metadata as m\nfor p in ('numpy', 'numba', 'ml_dtypes'):"
                       "\n    try: print(p, m.version(p))\n    except Exception: print(p, '-')")
    return {"median_s": statistics.median(times), "median_cpu_s": statistics.median(cpu),
            "runs_s": times, "no_bytecode_cache_median_s": statistics.median(no_pyc),
            "heavy_loaded": loaded,
            "modules": n_modules,
            "slowest_packages_ms": {k: v / 1e3 for k, v in slowest},
            "versions": dict(line.split() for line in versions.stdout.splitlines())}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--import-runs", type=int, default=5)
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", choices=list(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return {}
    print(f"load average {os.getloadavg()[0]:.1f}")
    pycache = tempfile.mkdtemp(prefix="ember-pycache-")
    results = {"import": import_report(args.import_runs, pycache)}
    imp = results["import"]
    print(f"import ember: {imp['median_s'] * 1e3:.0f} ms wall, {imp['median_cpu_s'] * 1e3:.0f} ms"
          f" CPU (medians of {len(imp['runs_s'])}; without .pyc files "
          f"{imp['no_bytecode_cache_median_s'] * 1e3:.0f} ms), "
          f"{imp['modules']} modules; heavy modules loaded: "
          f"{', '.join(imp['heavy_loaded']) or 'none'}")
    print("  slowest packages (cumulative ms): " + ", ".join(
        f"{k} {v:.0f}" for k, v in imp["slowest_packages_ms"].items()))
    print("  versions: " + ", ".join(f"{k} {v}" for k, v in imp["versions"].items()))
    for name in args.models:
        r = results[name] = first_steps(name, pycache)
        print(f"{name:10s} " + "; ".join(
            f"{kind}: first step {r[kind]['first_step_s']:.2f} s ({r[kind]['first_step_cpu_s']:.2f}"
            f" s CPU), second {r[kind]['second_step_s']:.2f} s, third "
            f"{r[kind]['third_step_s']:.3f} s, import {r[kind]['import_s']:.2f} s"
            for kind in ("cold", "warm", "after_warmup")), flush=True)
        for kind in ("cold", "warm", "after_warmup"):
            c = r[kind]["first_step_compiles"]
            later = [r[kind][f"{i}_step_compiles"] for i in ("second", "third")]
            print(f"  {kind} first step: {c['count']} Numba compilations, {c['seconds']:.2f} s; "
                  "most: " + ", ".join(f"{k} x{v}" for k, v in c["most"].items())
                  + "; second and third steps: " + ", ".join(
                      f"{d['count']} ({d['seconds']:.2f} s)" for d in later))
    shutil.rmtree(pycache, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
