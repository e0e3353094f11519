"""``import ember`` must not pull in torch (a test oracle only) or numba (loaded lazily)."""

from __future__ import annotations

import pathlib
import subprocess
import sys


def _modules_after_import() -> set[str]:
    code = "import sys, ember; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return set(out.split())


def test_import_ember_loads_neither_torch_nor_numba():
    mods = _modules_after_import()
    assert not {m for m in mods if m == "torch" or m.startswith("torch.")}
    assert not {m for m in mods if m == "numba" or m.startswith("numba.")}


def test_library_source_never_imports_torch():
    root = pathlib.Path(__file__).resolve().parents[1] / "ember"
    offenders = []
    for path in root.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("import torch", "from torch")):
                offenders.append(f"{path}:{n}: {stripped}")
    assert offenders == []
