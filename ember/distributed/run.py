"""Start a data-parallel job: ``python -m ember.distributed.run --nproc-per-node N script.py``.

torchrun's interface on MPI: the ranks are started by the ``mpiexec`` that ships with the
``mpich`` wheel (or ``$EMBER_MPIEXEC``), each through a small bootstrap that sets torchrun's
variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``, ...) from MPI and aborts the whole job, with the failing
rank's traceback, when the script raises. Several machines: ``--hostfile`` names them (one
host per line, as mpiexec reads it) and the job starts from this one machine; ``--nnodes``
defaults to the number of hosts in it. When ranks share a machine each gets one thread
(``OMP_NUM_THREADS``, ``NUMBA_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``)
unless the variable is already set, as torchrun does.

torchrun options that concern elastic rendezvous (``--rdzv-*``, ``--max-restarts``,
``--node-rank``, ``--standalone``) are accepted and have no effect: MPI starts all ranks at
once and a failed job is not restarted (see ``distributed_c10d`` on failures).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import sysconfig
from collections.abc import Sequence

_THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS")


def find_mpiexec() -> str:
    """The mpiexec to use: ``$EMBER_MPIEXEC``, the mpich wheel's, or one on ``PATH``."""
    explicit = os.environ.get("EMBER_MPIEXEC")
    if explicit:
        return explicit
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = os.path.join(folder, "mpiexec")
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("mpiexec")
    if found is None:
        raise RuntimeError("no mpiexec found: pip install 'ember[distributed]' (the mpich "
                           "wheel ships one) or set EMBER_MPIEXEC")
    return found


def _both(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
    """An option spelled with dashes and with underscores, as torchrun accepts both."""
    parser.add_argument(f"--{name}", f"--{name.replace('-', '_')}", **kwargs)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Start a data-parallel ember job on MPI "
                                     "(torchrun's interface).", allow_abbrev=False)
    _both(parser, "nproc-per-node", default="1",
          help="ranks per machine: a number, or 'auto'/'cpu' for one per core")
    parser.add_argument("--nnodes", default=None,
                        help="number of machines (default: hosts in --hostfile, else 1)")
    parser.add_argument("--hostfile", "--host-file", "-f", default=None,
                        help="file naming the machines, one per line (mpiexec's format)")
    _both(parser, "master-addr", default=None, help="exported as MASTER_ADDR")
    _both(parser, "master-port", default=None, help="exported as MASTER_PORT")
    _both(parser, "node-rank", default=None, help=argparse.SUPPRESS)
    _both(parser, "max-restarts", default=None, help=argparse.SUPPRESS)
    _both(parser, "rdzv-backend", default=None, help=argparse.SUPPRESS)
    _both(parser, "rdzv-endpoint", default=None, help=argparse.SUPPRESS)
    _both(parser, "rdzv-id", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--standalone", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-m", "--module", action="store_true",
                        help="run the target as a module (python -m)")
    _both(parser, "no-python", action="store_true",
          help="run the target as an executable, without the bootstrap")
    parser.add_argument("--torch", action="store_true",
                        help="make `import torch` resolve to ember in the script")
    parser.add_argument("training_script", help="the script (or module) each rank runs")
    parser.add_argument("training_script_args", nargs=argparse.REMAINDER)
    return parser


def _hosts(hostfile: str) -> list[str]:
    with open(hostfile) as f:
        lines = (line.split("#")[0].strip() for line in f)
        return [line.split(":")[0].split()[0] for line in lines if line]


def build_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The mpiexec command line and environment for parsed launcher arguments."""
    per_node = (os.cpu_count() or 1) if args.nproc_per_node in ("auto", "cpu") else \
        int(args.nproc_per_node)
    nnodes = int(args.nnodes) if args.nnodes else \
        (len(_hosts(args.hostfile)) if args.hostfile else 1)
    cmd = [find_mpiexec(), "-n", str(per_node * nnodes), "-ppn", str(per_node)]
    if args.hostfile:
        cmd += ["-f", args.hostfile]
    if args.no_python:
        cmd += [args.training_script]
    else:
        cmd += [sys.executable, "-u", "-m", "ember.distributed._bootstrap"]
        cmd += ["--module"] * args.module + ["--torch"] * args.torch + [args.training_script]
    cmd += list(args.training_script_args)
    env = dict(os.environ)
    if per_node > 1:
        for var in _THREAD_VARS:
            env.setdefault(var, "1")
    for var, value in (("MASTER_ADDR", args.master_addr), ("MASTER_PORT", args.master_port)):
        if value is not None:
            env[var] = str(value)
    return cmd, env


def main(argv: Sequence[str] | None = None) -> None:
    args = get_args_parser().parse_args(argv)
    cmd, env = build_command(args)
    sys.stdout.flush()
    os.execve(cmd[0], cmd, env)  # mpiexec's exit status becomes ours


if __name__ == "__main__":
    main()
