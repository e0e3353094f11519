"""The notebooks of tutorials/ run top to bottom without an error, and are committed
without outputs (the docs build and this test make them).

Each notebook runs in a fresh Jupyter kernel (nbclient), one thread per process as the
suite runs two workers on two cores; its run time is printed (``-s``), wall-clock and the
CPU time of the kernel and the processes it started, and shows in ``--durations``.
``EMBER_TUTORIALS_OUT=folder`` keeps the executed notebooks there to look at.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MKL_NUM_THREADS")


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the kernel, once shut down)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_tutorials_exist():
    assert len(NOTEBOOKS) >= 5, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped(path):
    """No outputs or execution counts in git: run scripts/strip_notebooks.py on it."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them with " \
                      f"scripts/strip_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    """Every cell runs without raising; the notebook's outputs include what it shows."""
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, **dict.fromkeys(THREAD_VARS, "1")}
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start, cpu = time.perf_counter(), _children_cpu()
    client.execute(env=env)
    print(f"\n{path.name}: executed in {time.perf_counter() - start:.1f} s "
          f"({_children_cpu() - cpu:.1f} s CPU)")
    if os.environ.get("EMBER_TUTORIALS_OUT"):
        os.makedirs(os.environ["EMBER_TUTORIALS_OUT"], exist_ok=True)
        nbformat.write(nb, os.path.join(os.environ["EMBER_TUTORIALS_OUT"], path.name))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.get("name") == "stdout" for o in outputs), "the notebook printed nothing"
    plots = sum("plt.show()" in c.source for c in nb.cells if c.cell_type == "code")
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    assert images == plots, f"{plots} cells show a plot, {images} images came out"
