"""Where the time of the transformer workloads goes: ``python -m bench.profile_gpt
[--workload gpt_train|gpt_generate|mlp_digits] [--steps N] [--top K]``.

Runs the bench's workload on ember and torch interleaved (median step times), then one
more ember step under cProfile and prints the functions with the most own time, so the
split between Python overhead (dispatch, autograd) and kernels (NumPy, Numba) is visible.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

from bench import run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", default="gpt_train", choices=list(run.WORKLOADS))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    sides, _ = run.WORKLOADS[args.workload]()
    for name, side in sides.items():
        start = time.perf_counter()
        side.step()
        print(f"{name} first step {time.perf_counter() - start:.3f} s", flush=True)
    times = {k: [] for k in sides}
    for _ in range(args.steps):
        for k, side in sides.items():
            start = time.perf_counter()
            side.step()
            times[k].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print("median: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in med.items())
          + f", ratio {med['ember'] / med['torch']:.2f}", flush=True)
    prof = cProfile.Profile()
    prof.runcall(sides["ember"].step)
    pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
