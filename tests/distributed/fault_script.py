"""Run under the launcher: ``fail`` makes the last rank raise while the others wait in a
collective; ``mismatch`` calls all_reduce with a different shape on each rank (to be run
with TORCH_DISTRIBUTED_DEBUG=DETAIL)."""

import sys

import ember
import ember.distributed as dist


def main(mode):
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    if mode == "fail":
        if rank == world - 1:
            raise ValueError(f"boom from rank {rank}")
        dist.all_reduce(ember.ones(4))  # never completes: the failing rank aborts the job
    elif mode == "mismatch":
        dist.all_reduce(ember.ones(3 + rank))
    print(f"rank {rank}: should not get here", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
