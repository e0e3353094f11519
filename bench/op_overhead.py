"""Per-op overhead: 10,000 tiny ops (``x = x * 1.0001 + 0.0001`` on 16 elements).

Runs ember and torch interleaved in one process and prints the median µs/op of each and
the ratio, without grad and with grad (+ one backward). Run: ``python bench/op_overhead.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

N_OPS = 10_000
REPEATS = 7


def _run(lib, requires_grad: bool) -> float:
    x0 = lib.tensor(np.linspace(0, 1, 16, dtype=np.float32), requires_grad=requires_grad)
    start = time.perf_counter()
    x = x0
    for _ in range(N_OPS // 2):
        x = x * 1.0001 + 0.0001
    if requires_grad:
        x.sum().backward()
    return (time.perf_counter() - start) / N_OPS * 1e6


def main() -> dict:
    import ember
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    libs = {"ember": ember} | ({"torch": torch} if torch else {})
    results = {}
    for grad in (False, True):
        times = {name: [] for name in libs}
        for lib in libs.values():
            _run(lib, grad)  # warm-up
        for _ in range(REPEATS):
            for name, lib in libs.items():
                times[name].append(_run(lib, grad))
        label = "with grad + backward" if grad else "no grad"
        med = {name: statistics.median(v) for name, v in times.items()}
        results[label] = med
        line = f"op_overhead ({label}): " + ", ".join(f"{n} {m:.2f} us/op" for n, m in med.items())
        if "torch" in med:
            line += f", ratio ember/torch {med['ember'] / med['torch']:.2f}"
        print(line)
    return results


if __name__ == "__main__":
    main()
