"""DDP scaling on the ``gpt_train`` workload (bench/models.py's GPT, its default sizes):
1 process vs N ranks (default 2).

    python -m bench.ddp_bench [--nproc 2] [--steps 8] [--batch 16] [--seq 128] [--dim 128]

Weak scaling: every rank trains on its own batch of ``batch x seq`` tokens, so N ranks
should process N times the tokens per second; efficiency = tokens/s(N) / (N x tokens/s(1)).
"Hidden" is the fraction of gradient communication that overlaps backward, measured two
ways: by bucket, the share of gradient bytes whose all-reduce had completed when backward
produced its last gradient; by time, 1 - (step time
with DDP's all-reduces - step time of the same ranks under ``no_sync()``) / (time the same
all-reduces take when run blocking, with nothing to overlap). The script starts both runs
through the launcher. On a machine whose cores are busy with other work the ranks drift
apart and the numbers get noisy: compare runs on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import ember
import ember.nn.functional as F
from bench import models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gpt_loss(model, idx, targets):
    logits = model(idx)
    return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def worker(args) -> None:
    """One rank: time training steps; rank 0 prints a JSON line with the numbers."""
    import ember.distributed as dist
    from ember.distributed.distributed_c10d import _mpi
    from ember.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    ember.manual_seed(0)
    model = DDP(models.gpt(ember, args.vocab, args.dim, args.heads, args.layers, args.seq),
                bucket_cap_mb=args.bucket_cap_mb)
    opt = ember.optim.AdamW(model.parameters(), lr=3e-4)
    seq = ember.tensor(models.rng_batch(rank, (args.batch, args.seq + 1), args.vocab))
    batch = (seq[:, :-1].contiguous(), seq[:, 1:].contiguous())

    def step() -> float:
        dist.barrier()
        start = time.perf_counter()
        opt.zero_grad()
        gpt_loss(model, *batch).backward()
        opt.step()
        dist.barrier()  # a step lasts until the slowest rank is done, with or without comm
        return time.perf_counter() - start

    finished_early = []  # bytes of the buckets whose all-reduce ended before backward did
    finalize = model._finalize

    def instrumented_finalize() -> None:
        done = [req.Test() for req in model._requests[-len(model._buckets):]]
        finished_early.append(sum(b.buffer.nbytes for b, d in zip(model._buckets, done) if d))
        finalize()
    model._finalize = instrumented_finalize

    for _ in range(args.warmup):
        step()
    times, local = [], []
    for _ in range(args.steps):  # interleaved, so that both see the same machine load
        times.append(step())
        with model.no_sync():
            local.append(step())
    # the same all-reduces, blocking, with nothing to overlap them with
    comm = model._comm
    blocking = []
    for _ in range(args.steps):
        comm.Barrier()
        start = time.perf_counter()
        for bucket in model._buckets:
            comm.Allreduce(_mpi().IN_PLACE, bucket.buffer, _mpi().SUM)
        blocking.append(time.perf_counter() - start)
    step_s, local_s, comm_s = (float(np.median(x)) for x in (times, local, blocking))
    early = float(np.mean(finished_early[args.warmup:])) / sum(b.buffer.nbytes
                                                               for b in model._buckets)
    if rank == 0:
        params = sum(p.numel() for p in model.parameters())
        print(json.dumps({"world": world, "step_s": step_s, "local_s": local_s, "comm_s": comm_s,
                          "finished_early": early,
                          "tokens_per_s": world * args.batch * args.seq / step_s,
                          "params": params, "buckets": len(model._buckets)}), flush=True)
    dist.destroy_process_group()


def launch(nproc: int, argv: list[str]) -> dict:
    cmd = [sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", str(nproc),
           "-m", "bench.ddp_bench", "--worker", *argv]
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(out.stdout + out.stderr)
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=96)
    parser.add_argument("--bucket-cap-mb", type=float, default=1.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    one, many = launch(1, sys.argv[1:]), launch(args.nproc, sys.argv[1:])
    exposed = max(0.0, many["step_s"] - many["local_s"])
    hidden = 1.0 - exposed / many["comm_s"] if many["comm_s"] > 0 else float("nan")
    print(f"gpt_train model: {one['params']:,} parameters in {many['buckets']} buckets, "
          f"{args.batch}x{args.seq} tokens per rank per step, 1 thread per rank")
    print(f"{'ranks':>5} {'step ms':>9} {'tokens/s':>10}")
    for r in (one, many):
        print(f"{r['world']:>5} {1e3 * r['step_s']:>9.1f} {r['tokens_per_s']:>10.0f}   "
              f"(under no_sync: {1e3 * r['local_s']:.1f} ms)")
    print(f"scaling efficiency ({args.nproc} ranks): "
          f"{many['tokens_per_s'] / (args.nproc * one['tokens_per_s']):.1%}")
    print(f"gradient all-reduce: {1e3 * many['comm_s']:.1f} ms blocking, "
          f"{1e3 * exposed:.1f} ms added to the step -> {max(0.0, hidden):.0%} hidden behind "
          "backward (by time)")
    print(f"all-reduced bytes already complete when backward ended: "
          f"{many['finished_early']:.0%} (by bucket)")


if __name__ == "__main__":
    main()
