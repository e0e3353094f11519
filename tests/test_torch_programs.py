"""Realistic PyTorch programs run unmodified under real torch and under
``python -m ember.run``; their losses must agree step by step."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

PROGRAMS = pathlib.Path(__file__).parent / "programs"


def _run(*cmd: str) -> dict:
    out = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("script", ["cnn_digits.py", "char_lm.py", "gan_2d.py"])
def test_program_matches_torch_step_by_step(script):
    path = str(PROGRAMS / script)
    theirs = _run(path)
    ours = _run("-m", "ember.run", path)
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=2e-4, atol=1e-5)
    for key in set(theirs) - {"losses"}:
        assert ours[key] == pytest.approx(theirs[key]) if isinstance(theirs[key], float) \
            else ours[key] == theirs[key]


def test_missing_torch_feature_names_attribute_and_version(tmp_path):
    script = tmp_path / "uses_missing.py"
    script.write_text("import torch\ntorch.this_does_not_exist(1)\n")
    out = subprocess.run([sys.executable, "-m", "ember.run", str(script)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    assert "torch.this_does_not_exist" in out.stderr and "ember 0." in out.stderr
    assert "uses_missing.py" in out.stderr  # raised at the program's line
