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


@pytest.mark.parametrize("line, missing", [
    ("torch.this_does_not_exist(1)", "torch.this_does_not_exist"),
    ("import torch.nn as nn\nnn.NoSuchLayer(3)", "torch.nn.NoSuchLayer"),
    ("import torch.no_such_module", "torch.no_such_module"),
    ("from torch import no_such_name", "no_such_name"),
])
def test_missing_torch_feature_names_attribute_and_version(tmp_path, line, missing):
    import ember
    script = tmp_path / "uses_missing.py"
    script.write_text(f"import torch\n{line}\n")
    out = subprocess.run([sys.executable, "-m", "ember.run", str(script)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    assert missing in out.stderr and f"ember {ember.__version__}" in out.stderr, out.stderr
    assert "uses_missing.py" in out.stderr  # raised at the program's line


def test_run_script_from_python_leaves_ember_and_torch_untouched(tmp_path):
    import torch

    import ember.nn
    from ember.run import run_script
    script = tmp_path / "prog.py"
    script.write_text("import sys\nimport torch.nn as nn\nimport torch\n"
                      "layer = nn.Linear(2, 3)\nnames = (nn.__name__, torch.nn.__name__)\n"
                      "argv = sys.argv[1:]\n")
    result = run_script(str(script), ["--x", "1"])
    assert isinstance(result["layer"], ember.nn.Linear)
    assert result["names"] == ("torch.nn", "torch.nn") and result["argv"] == ["--x", "1"]
    assert ember.nn.__name__ == "ember.nn"          # the alias did not leak into ember
    assert sys.modules["torch"] is torch            # the real torch is back
