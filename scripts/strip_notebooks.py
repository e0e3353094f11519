"""Strip notebooks for git: no outputs, no execution counts, no per-run metadata.

    .venv/bin/python scripts/strip_notebooks.py tutorials/*.ipynb

The tutorials are committed stripped (tests/test_tutorials.py checks it): the outputs are
made when the test suite and the documentation build execute them.
"""

from __future__ import annotations

import sys

import nbformat

# Notebook metadata worth keeping: which kernel and language the notebook is for.
KEEP = ("kernelspec", "language_info")


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` without outputs, execution counts or cell metadata (in place)."""
    nb.metadata = nbformat.NotebookNode({k: nb.metadata[k] for k in KEEP if k in nb.metadata})
    for cell in nb.cells:
        cell.metadata = nbformat.NotebookNode()
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def is_stripped(nb: nbformat.NotebookNode) -> bool:
    return all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in nb.cells if cell.cell_type == "code")


def main(paths: list[str]) -> None:
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.write(strip(nb), path)


if __name__ == "__main__":
    main(sys.argv[1:])
