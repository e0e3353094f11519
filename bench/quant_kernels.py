"""Weight-only int4/int8 kernels on GPT-2-small layer shapes: ``python -m bench.quant_kernels``.

For each shape (``K -> N``) and batch of rows: every int4 GEMV kernel this CPU runs
(``_kernels_quant.INT4_GEMV_KERNELS``: the portable one, and the AVX-512 ones where the CPU
has AVX-512VL) and the int8 GEMV for one row; the fused small-batch int4 kernel and the
dequantised tiles + BLAS for a few rows; torch's float32 ``F.linear`` on the same weights
as the reference. ``--copies`` distinct weight sets are cycled so that, with enough of
them, the weights come from memory rather than the caches. All sides run on ``--threads``
threads (default 1), interleaved round by round; the median time per call is reported,
with weights per second (G/s) and the ratio to torch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

SHAPES = ((768, 2304), (768, 3072), (3072, 768), (768, 50257))


def _sides(k: int, n: int, rows: int, group: int, copies: int) -> dict:
    """name -> a call over the ``copies`` weight sets of one ``k -> n`` layer."""
    import torch

    from ember.ao.nn.quantized import weight_only as wo
    from ember.ops import _kernels_quant as kq

    rng = np.random.default_rng(k + n)
    x = rng.standard_normal((rows, k)).astype(np.float32)
    bias = np.zeros(n, np.float32)
    floats, int4s, int8s = [], [], []
    for _ in range(copies):
        w = rng.standard_normal((n, k)).astype(np.float32)
        q, scales, zeros = wo.quantize_int4_groupwise(w, group)
        floats.append(torch.from_numpy(w))
        int4s.append((kq.pack_int4(q, group), scales, zeros))
        int8s.append(wo.quantize_int8_per_channel(w))
    xt = torch.from_numpy(x)
    sides = {"torch_f32": lambda: [torch.nn.functional.linear(xt, w) for w in floats]}
    if rows == 1:
        out = np.empty(n, np.float32)
        for name, (kernel, multiple) in kq.INT4_GEMV_KERNELS.items():
            if group % multiple == 0:
                sides[f"int4_{name}"] = lambda kernel=kernel: [
                    kq._run(kernel, p.nbytes, x[0], p, s, z, group, bias, out)
                    for p, s, z in int4s]
        sides["int8_gemv"] = lambda: [kq.int8_gemv(x[0], q, s, bias, out) for q, s in int8s]
    else:
        sides["int4_gemm"] = lambda: [kq.int4_gemm(x, p, s, z, group, bias) for p, s, z in int4s]
        sides["int4_tiles"] = lambda: [kq._gemm(kq._int4_gemm, p.nbytes, x, p, s, z, group, bias)
                                       for p, s, z in int4s]
        sides["int8_gemm"] = lambda: [kq.int8_gemm(x, q, s, bias) for q, s in int8s]
    return sides


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="1,4,8", help="batches (rows of x), comma-separated")
    p.add_argument("--group", type=int, default=128)
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import os

    import torch

    import ember
    torch.set_num_threads(args.threads)
    ember.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.1f}, {args.threads} thread(s), group "
          f"{args.group}, {args.copies} weight sets; us per call (G weights/s, torch/this)")
    for rows in (int(r) for r in args.rows.split(",")):
        for k, n in SHAPES:
            sides = _sides(k, n, rows, args.group, args.copies)
            times: dict[str, list[float]] = {name: [] for name in sides}
            for call in sides.values():
                call()  # warm-up (Numba compiles or loads)
            for _ in range(args.rounds):
                for name, call in sides.items():
                    t0 = time.perf_counter()
                    call()
                    times[name].append((time.perf_counter() - t0) / args.copies)
            med = {name: statistics.median(t) for name, t in times.items()}
            cells = [f"{name} {t * 1e6:.0f} ({k * n / t / 1e9:.1f}, "
                     f"{med['torch_f32'] / t:.2f}x)" for name, t in med.items()]
            print(f"rows {rows} {k}x{n}: " + " | ".join(cells))


if __name__ == "__main__":
    main()
