"""Recurrent layers, ember vs torch, in CPU time: ``python -m bench.profile_rnn [--reps N]
[--threads N] [--wall] [--no-phases]``.

The shapes of ``bench.sweep``'s rnn family and the LSTM language model of its models family
(``bench.models_zoo.lstm_lm``: the 2-layer LSTM alone, and one whole Adam training step).
Each case runs forward (with grad recorded, as in training) and forward+backward (into
the input and every parameter, from a fixed upstream gradient), ember and torch
interleaved in one process on the same data and weights.

The machine these numbers come from is shared and loaded, so wall-clock time is noisy;
the primary metric is the process's CPU time (``time.process_time``) per call, min over
``--reps`` repetitions, with both libraries on ``--threads`` threads (default 1: the CPU
time then is the kernel's work, not the scheduler's). ``--wall`` reports wall-clock medians
instead (as a sanity check with two threads; OpenMP's wait policy set as ``bench.sweep``
does on a busy machine).

Then, for ember, the per-phase breakdown of one layer (``ember.ops.rnn``'s pieces called
directly): the input projection GEMM, the forward time loop, the backward time loop, and
the input/weight-gradient GEMMs over all steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from bench import models, models_zoo, run

# (cell, input size, hidden size, layers, batch, sequence): bench.sweep's rnn family, then
# the LSTM language model's recurrent part
SHAPES = [("LSTM", 32, 128, 1, 16, 64), ("LSTM", 256, 256, 2, 16, 32),
          ("LSTM", 64, 64, 1, 1, 128), ("GRU", 64, 128, 1, 16, 64),
          ("GRU", 128, 256, 1, 32, 32), ("LSTM", 256, 256, 2, 16, 64)]
LM = (16, 64, 256)   # batch, sequence, vocabulary of the sweep's LSTM LM


def _label(cell, i, h, layers, b, t) -> str:
    return f"{cell} {i}->{h} x{layers} b{b} t{t}"


def _module_steps(lib, shape) -> tuple:
    """A batch-first recurrent module of ``shape`` and its (forward, forward+backward)
    closures on fixed data."""
    cell, i, h, layers, b, t = shape
    m = getattr(lib.nn, cell)(i, h, layers, batch_first=True)
    rng = np.random.default_rng(0)
    x = lib.from_numpy(rng.standard_normal((b, t, i)).astype(np.float32)).requires_grad_()
    up = lib.from_numpy(rng.standard_normal((b, t, h)).astype(np.float32))

    def fb():
        for p in (x, *m.parameters()):
            p.grad = None
        m(x)[0].backward(up)
    return m, (lambda: m(x)), fb


def _pairs(ember, torch, shape) -> dict:
    """{"fwd"/"fwd+bwd": {"ember": fn, "torch": fn}}, torch's weights copied into ember."""
    e_mod, e_f, e_fb = _module_steps(ember, shape)
    t_mod, t_f, t_fb = _module_steps(torch, shape)
    models.copy_weights(t_mod, e_mod)
    return {"fwd": {"ember": e_f, "torch": t_f}, "fwd+bwd": {"ember": e_fb, "torch": t_fb}}


def _lm_pair() -> dict:
    from bench import sweep
    sides = run._pair(models_zoo.lstm_lm, sweep._tokens(*LM)(), run._xent,
                      lambda lib, m: lib.optim.Adam(m.parameters(), lr=1e-3))
    return {"train step": {k: v.step for k, v in sides.items()}}


def _clock(wall: bool) -> Callable[[], float]:
    return time.perf_counter if wall else time.process_time


def measure(fns: dict, reps: int, wall: bool) -> dict:
    """Per library the min (CPU) or median (wall) seconds of one call, interleaved."""
    clock = _clock(wall)
    for fn in fns.values():          # warm-up, Numba compilation
        fn()
        fn()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            start = clock()
            fn()
            times[k].append(clock() - start)
    pick = statistics.median if wall else min
    return {k: pick(v) for k, v in times.items()}


def whole(reps: int, wall: bool) -> None:
    ember, torch = run._libs()
    print(f"{'case':32s} {'pass':10s} {'ember ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    ratios = []
    cases = [(_label(*s), lambda s=s: _pairs(ember, torch, s)) for s in SHAPES]
    cases.append((f"LSTM LM 2x256 b{LM[0]} t{LM[1]} Adam", _lm_pair))
    for label, make in cases:
        for phase, fns in make().items():
            r = measure(fns, reps, wall)
            ratio = r["ember"] / r["torch"]
            ratios.append(ratio)
            print(f"{label:32s} {phase:10s} {r['ember'] * 1e3:9.3f} {r['torch'] * 1e3:9.3f} "
                  f"{ratio:6.2f}", flush=True)
    geo = float(np.exp(np.mean(np.log(ratios))))
    print(f"geometric mean {geo:.2f}, worst {max(ratios):.2f}")


def _phase_fns(torch, shape) -> dict:
    """{phase: {"ember": fn[, "torch": fn]}} for the first layer of ``shape``, ember's
    pieces (``ember.ops.rnn``) called directly on NumPy arrays; torch's GEMMs of the same
    shapes where a phase is a GEMM."""
    from ember.ops import rnn
    cell, features, hidden, _, batch, steps = shape
    gates = {"LSTM": 4, "GRU": 3}[cell] * hidden
    rng = np.random.default_rng(0)

    def arr(*dims):
        return rng.standard_normal(dims).astype(np.float32) * 0.1
    x, wi, wh = arr(steps, batch, features), arr(gates, features), arr(gates, hidden)
    bi, bh, h0, go = arr(gates), arr(gates), arr(batch, hidden), arr(steps, batch, hidden)
    c0 = arr(batch, hidden) if cell == "LSTM" else None
    lens = np.full(batch, steps, np.int64)
    xw = rnn.project(x, wi)
    buf = np.empty_like(xw)

    def forward():
        np.copyto(buf, xw)
        return rnn._FORWARD[cell](buf, h0, c0, wh, bi, bh, None, lens, False)
    _, workspace = forward()
    workspace = [w.copy() for w in workspace]

    def backward():
        dh, dc = np.zeros_like(h0), (np.zeros_like(c0) if c0 is not None else None)
        return rnn._BACKWARD[cell](go, wh, None, dh, dc, workspace, lens, False)
    dgx, dgh, _, hs, _ = backward()
    tx, twi, tdg = torch.from_numpy(x.reshape(steps * batch, -1)), torch.from_numpy(wi), \
        torch.from_numpy(dgx.reshape(steps * batch, -1))
    ths = torch.from_numpy(hs[:steps].reshape(steps * batch, -1))
    return {"input projection GEMM": {"ember": lambda: rnn.project(x, wi),
                                      "torch": lambda: tx @ twi.T},
            "forward time loop": {"ember": forward},
            "backward time loop": {"ember": backward},
            "input+weight grad GEMMs": {
                "ember": lambda: rnn.input_weight_grads(dgx, dgh, x, wi, hs, False),
                "torch": lambda: (tdg @ twi, tdg.T @ tx, tdg.T @ ths, tdg.sum(0))}}


def phases(reps: int, wall: bool) -> None:
    """Per-phase times of one layer (the first) of each shape."""
    _, torch = run._libs()
    print(f"\n{'first layer of':32s} {'phase':24s} {'ember ms':>9s} {'torch ms':>9s}")
    for shape in dict.fromkeys(s[:3] + (1,) + s[4:] for s in SHAPES):
        for phase, fns in _phase_fns(torch, shape).items():
            r = measure(fns, reps, wall)
            t = f"{r['torch'] * 1e3:9.3f}" if "torch" in r else f"{'-':>9s}"
            print(f"{_label(*shape):32s} {phase:24s} {r['ember'] * 1e3:9.3f} {t}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--wall", action="store_true", help="wall-clock medians")
    parser.add_argument("--no-phases", action="store_true")
    args = parser.parse_args(argv)
    from bench import sweep
    policy = sweep._omp_wait_policy("auto")   # as the sweep: torch's threads on a busy machine
    import ember
    ember.set_num_threads(args.threads)
    ember_, torch = run._libs()
    torch.set_num_threads(args.threads)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"threads {args.threads}, {'wall median' if args.wall else 'CPU min'} of "
          f"{args.reps}, load average {load}, OMP_WAIT_POLICY {policy}")
    whole(args.reps, args.wall)
    if not args.no_phases:
        phases(args.reps, args.wall)


if __name__ == "__main__":
    main()
