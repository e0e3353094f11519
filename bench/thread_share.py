"""How well ember's step would use two cores, measured on a busy machine:
``python -m bench.thread_share [--family F ...] [--seconds S]``.

Wall-clock timings at two threads mean little while other processes keep the cores busy
(a parallel region waits for a thread the scheduler has not run), and there ember's
kernels take one thread anyway (``ops._parallel.threads_for``). This runs the ember side
of ``bench.sweep``'s cases with the busy test switched off and counts CPU time per
thread (``/proc/self/task/*/stat``, which waiting for a core does not inflate), OpenMP
threads sleeping while idle (``OMP_WAIT_POLICY=PASSIVE``): the main thread runs the
serial parts and its share of the parallel ones, so its CPU time per step estimates the
step's wall time on an idle machine, and total/main the speed-up the other threads give
(2.0 at best with two). A case near 1.0 has a serial phase worth finding. Linux only;
clock ticks are 10 ms, so each case runs for ``--seconds`` (default 1.5).
"""

from __future__ import annotations

import argparse
import os
import time

from bench import sweep

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_by_thread() -> dict[int, float]:
    """Seconds of CPU (user + system) each thread of this process has used."""
    used = {}
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:  # the thread ended meanwhile
            continue
        used[int(task)] = (int(fields[11]) + int(fields[12])) / _TICK
    return used


def share(step, seconds: float) -> tuple[float, float]:
    """CPU seconds per step in all threads and in the main thread, over ``seconds`` of
    this process's CPU time."""
    before, steps, start = _cpu_by_thread(), 0, time.process_time()
    while time.process_time() - start < seconds:
        step()
        steps += 1
    after = _cpu_by_thread()
    used = {t: after[t] - before.get(t, 0.0) for t in after}
    return sum(used.values()) / steps, used.get(os.getpid(), 0.0) / steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", nargs="*", choices=sweep.FAMILIES, default=["conv"])
    parser.add_argument("--seconds", type=float, default=1.5)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before Numba or torch start OpenMP
    import ember
    from ember.ops import _parallel
    _parallel._free_cores = lambda: float(ember.get_num_threads())  # busy test off
    print(f"ember, {ember.get_num_threads()} threads, busy test off, OMP_WAIT_POLICY "
          f"{os.environ['OMP_WAIT_POLICY']}; CPU ms per step")
    for family in args.family:
        print(f"\n{family}\n  {'case':46s} {'all':>8s} {'main':>8s} {'speed-up':>9s}")
        for case in sweep.CASES[family](False):
            step = case.make()["ember"].step
            for _ in range(3):  # warm-up (and Numba compilation)
                step()
            total, main_thread = share(step, args.seconds)
            print(f"  {case.label:46s} {total * 1e3:8.2f} {main_thread * 1e3:8.2f} "
                  f"{total / max(main_thread, 1e-9):9.2f}", flush=True)


if __name__ == "__main__":
    main()
