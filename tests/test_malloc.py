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
