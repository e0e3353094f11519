"""What each rank runs under the launcher: set torchrun's variables, run the script, and
turn an uncaught exception into ``MPI_Abort`` so that no other rank waits forever.

``python -m ember.distributed._bootstrap [--module] [--torch] target [args...]``
"""

from __future__ import annotations

import os
import runpy
import sys
import time
import traceback


def _set_env(world) -> None:
    """RANK, WORLD_SIZE, LOCAL_RANK, ... as torchrun sets them, read from MPI itself."""
    from mpi4py import MPI
    local = world.Split_type(MPI.COMM_TYPE_SHARED)
    hosts = world.allgather(MPI.Get_processor_name())
    nodes = list(dict.fromkeys(hosts))  # in order of each node's first rank
    local_size = local.Get_size()
    env = {"RANK": world.Get_rank(), "WORLD_SIZE": world.Get_size(),
           "LOCAL_RANK": local.Get_rank(), "LOCAL_WORLD_SIZE": local_size,
           "GROUP_RANK": nodes.index(hosts[world.Get_rank()]), "GROUP_WORLD_SIZE": len(nodes),
           "ROLE_RANK": world.Get_rank(), "ROLE_WORLD_SIZE": world.Get_size(),
           "ROLE_NAME": "default", "TORCHELASTIC_RUN_ID": "ember-mpi",
           "MASTER_ADDR": os.environ.get("MASTER_ADDR") or
           ("127.0.0.1" if len(nodes) == 1 else hosts[0]),
           "MASTER_PORT": os.environ.get("MASTER_PORT") or "29500"}
    local.Free()
    os.environ.update({k: str(v) for k, v in env.items()})


def main(argv: list[str]) -> None:
    module = torch_alias = False
    while argv and argv[0] in ("--module", "--torch"):
        module |= argv[0] == "--module"
        torch_alias |= argv[0] == "--torch"
        argv = argv[1:]
    from mpi4py import MPI
    world = MPI.COMM_WORLD
    _set_env(world)
    target, sys.argv = argv[0], list(argv)
    try:
        if torch_alias:
            from ember.run import install_torch_alias
            install_torch_alias()
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
            runpy.run_path(target, run_name="__main__")
    except SystemExit as e:
        if e.code in (None, 0):
            return
        if not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        _abort(world, e.code if isinstance(e.code, int) else 1, None)
    except BaseException:  # noqa: BLE001  (KeyboardInterrupt too: every rank must stop)
        _abort(world, 1, traceback.format_exc())


def _abort(world, code: int, trace: str | None) -> None:
    rank = world.Get_rank()
    if trace:
        sys.stderr.write(f"[rank {rank}] ember.distributed.run: uncaught exception, aborting "
                         f"the job:\n{trace}")
    else:
        sys.stderr.write(f"[rank {rank}] ember.distributed.run: exited with status {code}, "
                         "aborting the job\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # mpiexec forwards output asynchronously and MPI_Abort tears the job down at once: on
    # a loaded machine the job's output was lost entirely at times (as distributed_c10d)
    time.sleep(0.5)
    world.Abort(code)


if __name__ == "__main__":
    main(sys.argv[1:])
