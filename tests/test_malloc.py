"""``import ember`` tunes glibc's malloc (``ember/_malloc.py``) so that freed arrays are
reused instead of returned to the OS, unless ``EMBER_MALLOC_TUNING=0``.

Measured the way it matters: arrays of varying sizes (1-7 MiB) allocated, written and
freed over and over fault their pages in again every round without the tuning, and not
at all with it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_ROUNDS = """
import resource, sys
import numpy as np
import ember
sizes = [(1 << 20) * k for k in (3, 5, 2, 7, 4, 6)]
def once():
    arrays = [np.ones(n // 8) for n in sizes]
    del arrays
once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    once()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(**env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"} | env
    out = subprocess.run([sys.executable, "-c", _ROUNDS], env=environ, check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_arrays_are_reused_without_page_faults():
    untuned = _faults(EMBER_MALLOC_TUNING="0")
    tuned = _faults()
    # 10 rounds of 27 MiB: ~70,000 pages faulted in again without the tuning
    assert untuned > 5000
    assert tuned < untuned / 10, (tuned, untuned)


def test_opt_out_and_glibc_tunables_leave_malloc_alone(monkeypatch):
    from ember._malloc import tune_malloc
    monkeypatch.setenv("EMBER_MALLOC_TUNING", "0")
    assert tune_malloc() is False
    monkeypatch.delenv("EMBER_MALLOC_TUNING")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1048576")
    assert tune_malloc() is False


_ADVICE = """
import sys
import numpy as np
if sys.argv[1] == "ember":
    import ember
print(np._core.multiarray._set_madvise_hugepage(False))  # (returns the setting it found)
"""


def _advice(env: dict, importer: str) -> str:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("EMBER_MALLOC_TUNING", "NUMPY_MADVISE_HUGEPAGE")} | env
    return subprocess.run([sys.executable, "-c", _ADVICE, importer], env=environ, check=True,
                          capture_output=True, text=True).stdout.split()[-1]


@pytest.mark.parametrize("env", [{}, {"EMBER_MALLOC_TUNING": "0"},
                                 {"NUMPY_MADVISE_HUGEPAGE": "1"}])
def test_numpy_huge_page_advice_off_unless_asked_for(env):
    # NumPy advises huge pages by default on Linux 4.6 and later; ember turns that off
    # unless the user opted out of ember's tuning or set NumPy's own variable
    want = _advice(env, "numpy") if env else "False"
    assert _advice(env, "ember") == want
    if env.get("NUMPY_MADVISE_HUGEPAGE") == "1":
        assert want == "True"
