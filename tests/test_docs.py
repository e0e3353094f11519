"""The documentation site builds in strict mode, and its API reference has an entry for
every public name of ember (as ``scripts/gen_docs.py`` defines them).

The build here does not execute the tutorials (``EMBER_DOCS_EXECUTE=false``):
tests/test_tutorials.py runs them. ``make docs`` builds with them executed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

for plugin in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter",
               "mkdocs_gen_files", "mkdocs_literate_nav"):
    pytest.importorskip(plugin, reason="the docs extra: pip install -e '.[docs]'")

ROOT = Path(__file__).resolve().parent.parent


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built with ``mkdocs build --strict`` (tutorials not executed)."""
    out = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "EMBER_DOCS_EXECUTE": "false", "NO_MKDOCS_2_WARNING": "1",
           "DISABLE_MKDOCS_2_WARNING": "true"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    problems = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert result.returncode == 0 and not problems, "\n".join(problems) or log[-5000:]
    return out


def _heading_ids(html: str) -> set[str]:
    """The ids of mkdocstrings' entry headings in a page."""
    return set(re.findall(r'<h[1-6] id="([^"]+)" class="doc doc-heading"', html))


def test_every_public_name_has_a_reference_entry(site):
    gen = _gen_docs()
    ids = set()
    for page in (site / "reference").rglob("*.html"):
        ids |= _heading_ids(page.read_text())
    names = [(m.__name__, n) for m in gen.api_modules() for n in gen.public_names(m)]
    missing = [f"{m}.{n}" for m, n in names if gen.entry_id(m, n) not in ids]
    print(f"\npublic names: {len(names) - len(missing)} with a reference entry, "
          f"{len(missing)} without ({len(gen.api_modules())} modules)")
    assert len(names) > 900  # ember, nn, functional, optim, data, autograd, ...
    assert not missing, missing


def test_every_module_page_is_in_the_reference(site):
    gen = _gen_docs()
    overview = (site / "reference" / "index.html").read_text()
    for module in gen.api_modules():
        assert (site / "reference" / module.__name__ / "index.html").exists(), module
        assert f'href="{module.__name__}/"' in overview, module


def test_pages_of_the_site(site):
    """Getting started, design, op guide, compatibility, benchmarks (README's table) and
    one page per tutorial notebook."""
    for page in ("index.html", "design/index.html", "ops/index.html",
                 "compatibility/index.html", "tutorials/index.html"):
        assert (site / page).exists(), page
    benchmarks = (site / "benchmarks" / "index.html").read_text()
    assert "op_overhead" in benchmarks and "<table>" in benchmarks
    for notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
        rendered = site / "tutorials" / notebook.stem / "index.html"
        assert rendered.exists(), notebook.name
        assert "import ember" in rendered.read_text(), notebook.name
