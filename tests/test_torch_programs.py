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


# What the program corpus (scripts/compat_corpus.py) stopped on, each checked against torch.
@pytest.mark.parametrize("code", [
    # mnist_forward_forward: a range as an index
    "x = lib.zeros(3, 4); x[range(3), lib.tensor([0, 2, 3])] = 5.0; out = x[range(1, 3)]",
    # mnist_rnn: dropout2d on a 2-D (N, C) input is deprecated in torch but still drops
    # whole entries of the (N, C) grid (and warns); p=1 makes the result deterministic
    "out = lib.nn.functional.dropout2d(lib.ones(4, 6), 1.0, True)",
    "out = lib.nn.functional.dropout2d(lib.ones(2, 3, 2, 2, 2), 0.0, True)",
    # mnist_forward_forward: randint(high, size=...)
    "out = lib.tensor(lib.randint(10, size=(5,)).shape)",
    # dcgan (LeakyReLU(inplace=True) after BatchNorm): in-place activations under autograd
    "out = []\n"
    "for f, kw in [('leaky_relu', {'negative_slope': 0.2}), ('elu', {}), ('selu', {}),\n"
    "              ('celu', {}), ('hardtanh', {}), ('relu6', {}), ('silu', {}),\n"
    "              ('hardswish', {}), ('hardsigmoid', {}), ('mish', {}), ('relu', {}),\n"
    "              ('threshold', {'threshold': 0.1, 'value': 0.0})]:\n"
    "    x = lib.linspace(-2, 2, 12, dtype=lib.float64).requires_grad_()\n"
    "    z = getattr(lib.nn.functional, f)(x * 1.5, inplace=True, **kw)\n"
    "    (z * z).sum().backward()\n"
    "    out.append(x.grad)\n"
    "out = lib.stack(out)",
    # dcgan: device predicates
    "t = lib.zeros(2); out = lib.tensor([t.is_cpu, t.is_cuda, t.is_xpu, t.is_mps])",
])
def test_corpus_regressions_match_torch(code):
    import warnings

    import torch

    import ember
    results = []
    for lib in (torch, ember):
        scope = {"lib": lib}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec(code, scope)
        results.append((scope["out"].numpy(), [type(w.message) for w in caught]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6, atol=0)
    assert results[1][1] == results[0][1]
