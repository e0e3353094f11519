"""Per-op overhead: 10,000 tiny ops (``x = x * 1.0001 + 0.0001`` on 16 elements), without
grad and with grad (+ one backward), ember and torch interleaved in one process.

    python -m bench.op_overhead

The workloads live in ``bench/run.py`` (``op_overhead``, ``op_overhead_grad``) with the
rest of the suite; this entry point runs just those two.
"""

from bench.run import main

if __name__ == "__main__":
    main(["--only", "op_overhead", "op_overhead_grad"])
