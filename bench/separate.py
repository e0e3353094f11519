"""ember and torch each in a process of its own: ``python -m bench.separate --only
gpt_train cnn_train`` (default: the training and generation workloads).

In one process (``python -m bench``) the two libraries share one OpenMP runtime, with
torch's spinning wait policy (``bench.run._libs``), which slows ember's kernels; here each
runs as it would in a program of its own. Processes alternate (ember, torch, ember, ...)
so that the machine's noise falls on both alike; each process times ``--steps`` steps
after two warm-up steps, and the medians of all steps are compared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

DEFAULT = ["mlp_digits", "cnn_train", "gpt_train", "gpt_generate"]


def child(name: str, side: str, steps: int) -> list[float]:
    """Step times of one side of workload ``name``, in this process."""
    if side == "ember":  # ember's Numba pool first, with its own wait policy
        import numba  # noqa: F401

        from ember._threads import sync_numba
        sync_numba()
    else:
        import torch  # noqa: F401
    from bench.run import WORKLOADS
    sides, _ = WORKLOADS[name]()
    step = sides[side].step
    step()
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def compare(name: str, rounds: int, steps: int) -> dict:
    """Median step time per side over ``rounds`` alternating processes per side."""
    times: dict[str, list[float]] = {"ember": [], "torch": []}
    for _ in range(rounds):
        for side in times:
            out = subprocess.run([sys.executable, "-m", "bench.separate", "--child", name,
                                  side, str(steps)], capture_output=True, text=True,
                                 check=True).stdout
            times[side] += json.loads(out.strip().splitlines()[-1])
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"median_s": med, "ratio": med["ember"] / med["torch"]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=DEFAULT)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, side, steps = args.child
        print(json.dumps(child(name, side, int(steps))))
        return {}
    results = {}
    for name in args.only:
        r = results[name] = compare(name, args.rounds, args.steps)
        med = r["median_s"]
        print(f"{name:17s} ember {med['ember'] * 1e3:9.2f} ms  torch {med['torch'] * 1e3:9.2f} "
              f"ms  ratio {r['ratio']:5.2f}  (separate processes)", flush=True)
    return results


if __name__ == "__main__":
    main()
