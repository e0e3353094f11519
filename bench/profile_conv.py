"""Where a convolution's step spends its time, pass by pass:
``python -m bench.profile_conv [--set sweep|resnet|cnn] [--threads N] [--cpu-time]``.

For each shape (the ``bench.sweep`` conv rows, or the convolutions of the sweep's
ResNet-18 or CIFAR CNN) times forward, input gradient, weight gradient and bias gradient
separately, ember's array kernels (``ember.ops.conv``) and torch's ATen calls
(``convolution`` and ``convolution_backward`` with one output masked in) interleaved in
one process, and prints milliseconds and the ratio ember/torch per pass. ``--cpu-time``
(one thread, process CPU time, minimum of rounds) is steady on a busy machine.
``--model`` instead prints both profilers' per-op totals of whole training steps of the
sweep's ResNet-18 (or CIFAR CNN).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import sweep

# (batch, in channels, spatial, out channels, kernel, stride, groups, bias)
RESNET = [(16, 3, 32, 64, 3, 1, 1, False), (16, 64, 32, 64, 3, 1, 1, False),
          (16, 64, 32, 128, 3, 2, 1, False), (16, 128, 16, 128, 3, 1, 1, False),
          (16, 64, 32, 128, 1, 2, 1, False), (16, 128, 16, 256, 3, 2, 1, False),
          (16, 256, 8, 256, 3, 1, 1, False), (16, 128, 16, 256, 1, 2, 1, False),
          (16, 256, 8, 512, 3, 2, 1, False), (16, 512, 4, 512, 3, 1, 1, False),
          (16, 256, 8, 512, 1, 2, 1, False)]
CNN = [(64, 3, 32, 32, 3, 1, 1, True), (64, 32, 16, 64, 3, 1, 1, True)]
SWEEP = [(64, 3, 32, 32, 3, 1, 1), (64, 32, 16, 64, 3, 1, 1), (128, 3, 32, 16, 3, 1, 1),
         (128, 16, 16, 32, 3, 1, 1), (1, 3, 64, 16, 7, 2, 1), (16, 3, 64, 64, 7, 2, 1),
         (32, 64, 16, 64, 3, 1, 1), (32, 128, 8, 128, 3, 1, 1), (8, 256, 7, 256, 3, 1, 1),
         (1, 64, 56, 64, 3, 1, 1), (16, 64, 32, 128, 3, 2, 1), (8, 64, 16, 64, 5, 1, 1),
         (8, 16, 64, 32, 5, 2, 1), (32, 64, 16, 128, 1, 1, 1), (32, 256, 7, 64, 1, 1, 1),
         (32, 128, 16, 256, 1, 2, 1), (32, 32, 32, 32, 3, 1, 32), (16, 128, 16, 128, 3, 2, 128),
         (4, 32, 64, 32, 7, 1, 32), (32, 64, 16, 64, 3, 1, 4)]
SETS = {"resnet": RESNET, "cnn": CNN, "sweep": [s + (True,) for s in SWEEP]}


def _passes(shape):
    """{pass: (ember closure, torch closure)} for one convolution shape."""
    import torch

    from ember.ops import conv as C
    n, cin, hw, cout, k, s, g, has_bias = shape
    p = k // 2
    x = sweep._randn(2, n, cin, hw, hw)
    w = sweep._randn(3, cout, cin // g, k, k, scale=(cin // g * k * k) ** -0.5)
    b = sweep._randn(4, cout, scale=0.1) if has_bias else None
    pads, st, dil = ((p, p), (p, p)), (s, s), (1, 1)
    out = C.out_size((hw, hw), (k, k), st, pads, dil)
    gy = sweep._randn(1, n, cout, *out)
    tx, tw, tg = (torch.from_numpy(a) for a in (x, w, gy))
    tb = None if b is None else torch.from_numpy(b)
    aten = torch.ops.aten

    def tback(mask):
        return lambda: aten.convolution_backward(tg, tx, tw, [cout], list(st), [p, p], [1, 1],
                                                 False, [0, 0], g, mask)
    passes = {
        "fwd": (lambda: C.conv_forward(x, w, b, st, pads, dil, g),
                lambda: aten.convolution(tx, tw, tb, list(st), [p, p], [1, 1], False, [0, 0],
                                         g)),
        "dx": (lambda: C.conv_input_grad(gy, w, x.shape, st, pads, dil, g),
               tback([True, False, False])),
        "dw": (lambda: C.conv_weight_grad(x, gy, w.shape, st, pads, dil, g),
               tback([False, True, False]))}
    if has_bias:
        import ember
        eg = ember.from_numpy(gy)
        passes["db"] = (lambda: C._bias_grad(eg, 2), tback([False, False, True]))
    return passes


def _time(fn, clock, repeat: int) -> float:
    start = clock()
    for _ in range(repeat):
        fn()
    return (clock() - start) / repeat


def per_pass(shapes, rounds: int, cpu_time: bool) -> None:
    clock, pick = (time.process_time, min) if cpu_time else (time.perf_counter,
                                                             statistics.median)
    print(f"{'shape':34s} {'pass':4s} {'ember ms':>9s} {'torch ms':>9s} ratio")
    totals = {"ember": 0.0, "torch": 0.0}
    for shape in shapes:
        n, cin, hw, cout, k, s, g, _ = shape
        label = f"N{n} {cin}->{cout} {hw}x{hw} k{k} s{s} g{g}"
        for name, (fe, ft) in _passes(shape).items():
            fe(), ft()
            first = min(_time(fe, time.perf_counter, 1), _time(ft, time.perf_counter, 1))
            repeat = max(1, min(50, int(0.02 / max(first, 1e-6))))
            te, tt = [], []
            for _ in range(rounds):
                te.append(_time(fe, clock, repeat))
                tt.append(_time(ft, clock, repeat))
            e, t = pick(te), pick(tt)
            totals["ember"] += e
            totals["torch"] += t
            print(f"{label:34s} {name:4s} {e * 1e3:9.3f} {t * 1e3:9.3f} {e / t:5.2f}",
                  flush=True)
    print(f"{'total':34s} {'':4s} {totals['ember'] * 1e3:9.3f} {totals['torch'] * 1e3:9.3f} "
          f"{totals['ember'] / totals['torch']:5.2f}")


def by_op(model: str, steps: int) -> None:
    """Both profilers' self CPU time per op over ``steps`` training steps."""
    from bench import models, models_zoo, run
    make = models_zoo.resnet18 if model == "resnet" else models.cnn
    n = 16 if model == "resnet" else 64
    sides = run._pair(make, sweep._images(n, (3, 32, 32))(), run._xent,
                      lambda lib, m: lib.optim.SGD(m.parameters(), lr=0.01, momentum=0.9))
    ember, torch = run._libs()
    for name, lib in (("ember", ember), ("torch", torch)):
        side = sides[name]
        for _ in range(3):
            side.step()
        start = time.perf_counter()
        with lib.profiler.profile() as prof:
            for _ in range(steps):
                side.step()
        wall = (time.perf_counter() - start) / steps
        print(f"\n{name}: {wall * 1e3:.1f} ms per step (profiled)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", choices=tuple(SETS), default="resnet")
    parser.add_argument("--only", default=None, help="shapes whose label contains this")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cpu-time", action="store_true")
    parser.add_argument("--model", choices=("resnet", "cnn"), default=None)
    args = parser.parse_args(argv)
    if args.cpu_time:  # as bench.sweep's: idle OpenMP threads that spin count as CPU time
        sweep._omp_wait_policy("passive")
    from bench import run
    ember, torch = run._libs()
    threads = 1 if args.cpu_time else args.threads
    if threads:
        ember.set_num_threads(threads)
        torch.set_num_threads(threads)
    if args.model:
        by_op(args.model, 5)
        return
    shapes = SETS[args.set]
    if args.only:
        shapes = [s for s in shapes
                  if args.only in f"N{s[0]} {s[1]}->{s[3]} {s[2]}x{s[2]} k{s[4]} s{s[5]} g{s[6]}"]
    per_pass(shapes, args.rounds, args.cpu_time)


if __name__ == "__main__":
    main()
