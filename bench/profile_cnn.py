"""Where a ``cnn_train`` step spends its time: ``python -m bench.profile_cnn [--threads N]``.

Times each layer op of the bench CNN alone (forward, and forward+backward), ember and
torch interleaved in one process on the same data, and prints min/median milliseconds
per op and the ratio of medians; then a cProfile of whole ember training steps, and the
first-step time (Numba compilation or cache loading included) of a fresh process.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import subprocess
import sys
import time

import numpy as np

from bench import run

FIRST_STEP = """
import time, numpy as np
s = time.perf_counter()
import ember
nn = ember.nn
m = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Linear(4096, 10))
x = ember.from_numpy(np.random.default_rng(0).standard_normal((64, 3, 32, 32), np.float32))
m(x).sum().backward()
print(time.perf_counter() - s)
"""


def _time(fn, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _cases(lib):
    """(name, forward-only, forward+backward) closures for each layer op of the CNN."""
    F = lib.nn.functional
    rng = np.random.default_rng(0)

    def arr(*shape, grad=False):
        t = lib.from_numpy(rng.standard_normal(shape).astype(np.float32))
        return t.requires_grad_() if grad else t

    x1, w1, b1 = arr(64, 3, 32, 32), arr(32, 3, 3, 3, grad=True), arr(32, grad=True)
    x2, w2, b2 = arr(64, 32, 16, 16, grad=True), arr(64, 32, 3, 3, grad=True), arr(64, grad=True)
    p1, p2 = arr(64, 32, 32, 32, grad=True), arr(64, 64, 16, 16, grad=True)

    def pair(f):
        return (lambda: f(), lambda: f().sum().backward())

    return {"conv1 3->32 @32x32": pair(lambda: F.conv2d(x1, w1, b1, padding=1)),
            "conv2 32->64 @16x16": pair(lambda: F.conv2d(x2, w2, b2, padding=1)),
            "maxpool 32x32": pair(lambda: F.max_pool2d(p1, 2)),
            "maxpool 16x16": pair(lambda: F.max_pool2d(p2, 2))}


def per_op(rounds: int) -> None:
    ember, torch = run._libs()
    cases = {lib.__name__: _cases(lib) for lib in (ember, torch)}
    print(f"{'op':22s} {'pass':5s} {'ember min/med ms':>17s} {'torch min/med ms':>17s} ratio")
    for name in cases["ember"]:
        for i, kind in enumerate(("f", "f+b")):
            times = {k: [] for k in cases}
            for k in cases:  # warm-up, Numba compilation
                cases[k][name][i]()
            for _ in range(rounds):
                for k in cases:
                    times[k] += _time(cases[k][name][i], 1)
            cell = {k: f"{min(v) * 1e3:7.2f}/{statistics.median(v) * 1e3:7.2f}"
                    for k, v in times.items()}
            ratio = statistics.median(times["ember"]) / statistics.median(times["torch"])
            print(f"{name:22s} {kind:5s} {cell['ember']:>17s} {cell['torch']:>17s} {ratio:5.2f}")


def profile_steps(steps: int) -> None:
    sides, _ = run.cnn_train()
    ember_side = sides["ember"]
    for _ in range(2):
        ember_side.step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        ember_side.step()
    profiler.disable()
    print(f"\ncProfile of {steps} ember steps (tottime includes the BLAS calls made inline):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def first_step() -> None:
    out = subprocess.run([sys.executable, "-c", FIRST_STEP], capture_output=True, text=True,
                         check=True).stdout
    print(f"first conv/pool step of a fresh process: {float(out) * 1e3:.0f} ms "
          "(import + compile or cache load + run)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    if args.threads:
        import ember
        ember.set_num_threads(args.threads)
    per_op(args.rounds)
    profile_steps(5)
    first_step()


if __name__ == "__main__":
    main()
