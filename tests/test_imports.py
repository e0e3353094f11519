"""``import ember`` must not pull in torch (a test oracle only), numba or ml_dtypes (both
loaded on first use: ml_dtypes' import alone takes 0.1-1 s), and the lazily loaded
bfloat16/float8 types must behave as if they had been there from the start."""

from __future__ import annotations

import pathlib
import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout


def _modules_after_import() -> set[str]:
    return set(_run("import sys, ember; print('\\n'.join(sorted(sys.modules)))").split())


def test_import_ember_loads_neither_torch_nor_numba_nor_ml_dtypes():
    mods = _modules_after_import()
    for package in ("torch", "numba", "llvmlite", "ml_dtypes"):
        assert not {m for m in mods if m == package or m.startswith(package + ".")}, package


def test_bfloat16_and_float8_after_a_lazy_load():
    """In a fresh process: ints and floats do not load ml_dtypes; the first bfloat16 tensor
    does, and bfloat16/float8 values, dtypes and limits then match torch's."""
    out = _run("""
import sys, ember
x = ember.arange(6).reshape(2, 3)
y = (x.float() * 0.5).sum(1) + ember.randn(2)
y.argmax().item(), x.tolist(), ember.finfo(ember.float32).eps
print("ml_dtypes" in sys.modules)
b = ember.tensor([1.0, 2.0, 3.00390625], dtype=ember.bfloat16)
print("ml_dtypes" in sys.modules, b.dtype, b.tolist(), (b * 2.5).dtype, b.sum().item())
print(ember.finfo(ember.bfloat16).eps, ember.finfo(ember.float8_e4m3fn).max)
print(ember.tensor([500.0, -1e4, 1.0]).to(ember.float8_e4m3fn).float().tolist())
""").split("\n")
    assert out[0] == "False"
    assert out[1] == "True ember.bfloat16 [1.0, 2.0, 3.0] ember.bfloat16 6.0"
    assert out[2] == "0.0078125 448.0"
    assert out[3] == "[448.0, -448.0, 1.0]"


def test_numpy_bfloat16_array_made_before_ember_loads_ml_dtypes():
    """An array of ml_dtypes' bfloat16 made by the user's own ``import ml_dtypes`` converts
    although ember has not loaded the type yet."""
    out = _run("""
import ml_dtypes, numpy as np, ember
t = ember.from_numpy(np.array([1.5, 2.5], dtype=ml_dtypes.bfloat16))
print(t.dtype, t.is_floating_point(), (t + 1).tolist(), t.requires_grad_().dtype)
""")
    assert out.split() == ["ember.bfloat16", "True", "[2.5,", "3.5]", "ember.bfloat16"]


def test_library_source_never_imports_torch():
    root = pathlib.Path(__file__).resolve().parents[1] / "ember"
    offenders = []
    for path in root.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("import torch", "from torch")):
                offenders.append(f"{path}:{n}: {stripped}")
    assert offenders == []
