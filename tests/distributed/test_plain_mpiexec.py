"""A script started by plain ``mpiexec -n N python script.py`` (no ember launcher): an
uncaught exception in one rank must abort the whole job (MPI_Abort after the traceback),
not leave the other ranks waiting forever in their next collective."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mpi4py")

from ember.distributed import run  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parent.parent

try:
    MPIEXEC = run.find_mpiexec()
except RuntimeError:
    pytest.skip("no mpiexec (pip install 'ember[distributed]')", allow_module_level=True)


def test_failing_rank_aborts_a_plain_mpiexec_job():
    # before: the waiting ranks hung in all_reduce until mpiexec was killed
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([MPIEXEC, "-n", "3", sys.executable, str(HERE / "fault_script.py"),
                             "fail"], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "Traceback" in out and "ValueError: boom from rank 2" in out, out
    assert "MPI_Abort" in out, out
    assert "should not get here" not in out
