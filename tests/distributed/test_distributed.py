"""ember.distributed with real MPI ranks: each test starts a script under the launcher
(``python -m ember.distributed.run``); the scripts check themselves against NumPy or a
one-process reference and fail the job (non-zero exit, traceback) on any mismatch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mpi4py")

import ember  # noqa: E402
from ember.distributed import run  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MKL_NUM_THREADS")

try:
    run.find_mpiexec()
except RuntimeError:
    pytest.skip("no mpiexec (pip install 'ember[distributed]')", allow_module_level=True)


def launch(nproc: int, script: str, *args: str, env: dict | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    environ["PYTHONPATH"] = str(ROOT) + os.pathsep + environ.get("PYTHONPATH", "")
    environ.update(env or {})
    cmd = [sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", str(nproc),
           str(HERE / script), *args]
    return subprocess.run(cmd, env=environ, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def assert_ok(result: subprocess.CompletedProcess, nproc: int, marker: str) -> None:
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for rank in range(nproc):
        assert f"rank {rank}: {marker} ok" in out, out


@pytest.mark.parametrize("nproc", [2, 3])
def test_collectives_match_numpy(nproc):
    assert_ok(launch(nproc, "collectives_script.py"), nproc, "collectives")


def test_ddp_matches_single_process():
    assert_ok(launch(2, "ddp_script.py"), 2, "ddp")


def test_zero_matches_adamw_with_sharded_state():
    assert_ok(launch(2, "zero_script.py"), 2, "zero")


def test_nanogpt_ddp_recipe_with_ember_as_torch(tmp_path):
    """nanoGPT's DDP training loop on 2 ranks writes the checkpoint one process writes."""
    single, multi = tmp_path / "single", tmp_path / "ddp"
    single.mkdir()
    multi.mkdir()
    one = subprocess.run([sys.executable, str(HERE / "nanogpt_script.py"), str(single)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr
    two = launch(2, "nanogpt_script.py", str(multi))
    assert two.returncode == 0, two.stdout + two.stderr
    reports = [json.loads(r.stdout.strip().splitlines()[-1]) for r in (one, two)]
    assert [r["world_size"] for r in reports] == [1, 2]
    assert abs(reports[0]["val_loss"] - reports[1]["val_loss"]) < 1e-9
    want, got = (ember.load(d / "ckpt.pt")["model"] for d in (single, multi))
    assert want.keys() == got.keys()
    for k in want:
        assert (want[k] - got[k]).abs().max().item() < 1e-9, k


def test_failing_rank_ends_the_job_with_its_traceback():
    # the other ranks wait in an all_reduce that can never complete: without the abort
    # they would hang until the subprocess timeout fails the test
    result = launch(3, "fault_script.py", "fail", timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" in out and "ValueError: boom from rank 2" in out, out
    assert "should not get here" not in out


def test_mismatched_shapes_raise_with_debug_detail():
    result = launch(2, "fault_script.py", "mismatch", env={"TORCH_DISTRIBUTED_DEBUG": "DETAIL"},
                    timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Detected mismatch between collectives on ranks" in out, out
    assert "TensorShape=[3]" in out and "TensorShape=[4]" in out, out


def test_launcher_command_line(tmp_path, monkeypatch):
    for var in THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # a user's setting is kept
    hostfile = tmp_path / "hosts"
    hostfile.write_text("node-a:2\n# comment\nnode-b\n")
    args = run.get_args_parser().parse_args(
        ["--nproc_per_node", "2", "--hostfile", str(hostfile), "--master-port", "1234",
         "train.py", "--lr", "3"])
    cmd, env = run.build_command(args)
    assert cmd[1:5] == ["-n", "4", "-ppn", "2"]
    assert cmd[cmd.index("-f") + 1] == str(hostfile)
    assert cmd[-3:] == ["train.py", "--lr", "3"]
    assert env["MASTER_PORT"] == "1234"
    assert [env[v] for v in THREAD_VARS] == ["7", "1", "1", "1"]
    args = run.get_args_parser().parse_args(["-m", "pkg.train"])
    cmd, env = run.build_command(args)
    assert cmd[1:5] == ["-n", "1", "-ppn", "1"] and "-f" not in cmd
    assert cmd[-2:] == ["--module", "pkg.train"] and "NUMBA_NUM_THREADS" not in env
