"""Generate the documentation site's pages (run by mkdocs-gen-files, see mkdocs.yml).

- ``tutorials/``: the notebooks of ``tutorials/`` (mkdocs-jupyter executes and renders
  them), an index and the section's navigation, titles read from the notebooks.
- ``benchmarks.md``: the README's "Speed" section, so the table lives in one place.
- ``reference/``: the API reference. One page per public module, with a summary table and
  an entry (mkdocstrings, from the docstring and signature of the live object) for every
  public name; ``Tensor`` and ``nn.Module`` get pages of their own.

Which modules and names count as public is decided here once (``api_modules``,
``public_names``) and read by ``tests/test_docs.py`` too, which checks that the built site
has an entry for each.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Internal packages: ember.ops holds the op implementations that ember, ember.nn.functional
# and Tensor re-export (docs/ops.md describes how they are written).
INTERNAL = {"ember.ops"}
# Names that a module without ``__all__`` imports for its own use rather than exports.
NOT_API = {"ember.nn.functional": {"Tensor", "no_grad", "is_grad_enabled"},
           "ember.autograd.graph": {"Tensor"}}
# Classes documented on a page of their own (they have hundreds of members).
OWN_PAGE = ("ember.Tensor", "ember.nn.Module")


def _is_api(obj: object) -> bool:
    """A name bound to one of ember's own objects, not to a module or a plain import."""
    if isinstance(obj, types.ModuleType):
        return False
    home = getattr(obj, "__module__", None) if isinstance(obj, type | types.FunctionType) \
        else type(obj).__module__
    return isinstance(home, str) and (home == "ember" or home.startswith("ember."))


def public_names(module: types.ModuleType) -> list[str]:
    """The names in ``__all__``, or else every name without a leading underscore bound to
    an ember object (imported helpers and ``NOT_API`` left out); submodules are not
    counted (they have pages of their own)."""
    names = getattr(module, "__all__", None)
    if names is None:
        skip = NOT_API.get(module.__name__, set())
        names = [n for n in dir(module) if not n.startswith("_") and n not in skip
                 and _is_api(getattr(module, n))]
    return sorted(n for n in names if not isinstance(getattr(module, n), types.ModuleType))


def _walk(name: str):
    """``name`` and its public submodules (no ``_`` in the path, not INTERNAL)."""
    module = importlib.import_module(name)
    if module.__name__ != name:  # an alias (``ember.quantization``): documented at its home
        return
    yield module
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        full = f"{name}.{info.name}"
        if not info.name.startswith("_") and full not in INTERNAL:
            yield from _walk(full)


def _shadowed(module_name: str, name: str) -> types.ModuleType | None:
    """The submodule that ``module.name`` shadows, if the attribute is not that module
    (``ember.autograd.gradcheck`` is a function, and a module defining it)."""
    sub = sys.modules.get(f"{module_name}.{name}")
    return sub if sub is not None and getattr(sys.modules[module_name], name) is not sub \
        else None


def entry_id(module_name: str, name: str) -> str:
    """The identifier of the reference entry of ``module.name``, which is also its anchor:
    ``module.name``, or for a name that shadows a submodule, its entry in that module."""
    sub = _shadowed(module_name, name)
    return f"{module_name}.{name}.{name}" if sub is not None else f"{module_name}.{name}"


def api_modules() -> list[types.ModuleType]:
    """The public modules with a reference page: every public module of ember except those
    whose public names all are re-exported, as the same objects, by their parent package
    (``ember.nn.modules.linear`` is documented as ``ember.nn``), unless the parent's name
    for one of them shadows the module."""
    found = {m.__name__: m for m in _walk("ember")}
    pages = []
    for name, module in found.items():
        names = public_names(module)
        parent_name, _, last = name.rpartition(".")
        parent = found.get(parent_name)
        if parent is not None and _shadowed(parent_name, last) is None:
            exported = {id(getattr(parent, n)) for n in public_names(parent)}
            if all(id(getattr(module, n)) in exported for n in names):
                continue
        if names:
            pages.append(module)
    return pages


def _summary(obj: object) -> str:
    """The first paragraph of the docstring of a module, class or function (an instance's
    ``__doc__`` is its class's), fit for a table cell."""
    own = callable(obj) or isinstance(obj, types.ModuleType)
    doc = getattr(obj, "__doc__", None) if own else None
    return " ".join((doc or "").strip().split("\n\n")[0].split()).replace("|", "\\|")


def _kind(obj: object) -> str:
    if isinstance(obj, type):
        return "Classes"
    return "Functions" if callable(obj) else "Objects"


def reference_page(module: types.ModuleType) -> str:
    """A module's page: its docstring, then its classes, functions and other objects, each
    group a table of the names (alphabetical) followed by an entry per name (a name that
    shadows a submodule links to its entry on the submodule's page)."""
    name = module.__name__
    lines = [f"# {name}", "", f"::: {name}", "    options:", "      members: false",
             "      show_root_heading: false", ""]
    groups: dict[str, list[str]] = {"Classes": [], "Functions": [], "Objects": []}
    for n in public_names(module):
        groups[_kind(getattr(module, n))].append(n)
    for kind, names in groups.items():
        if not names:
            continue
        lines += [f"## {kind}", "", "| name | summary |", "| --- | --- |"]
        lines += [f"| [`{n}`][{entry_id(name, n)}] | {_summary(getattr(module, n))} |"
                  for n in names]
        lines.append("")
        for n in names:
            if entry_id(name, n) == f"{name}.{n}" and f"{name}.{n}" not in OWN_PAGE:
                lines += [f"::: {name}.{n}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines)


def _notebook_title(path: Path) -> tuple[str, str]:
    """The first heading of a notebook and the paragraph after it."""
    cells = json.loads(path.read_text())["cells"]
    text = "".join(cells[0]["source"]).strip().split("\n\n")
    return text[0].lstrip("# ").strip(), (text[1].replace("\n", " ") if len(text) > 1 else "")


def readme_section(title: str) -> str:
    """A ``## title`` section of README.md, up to the next ``## `` heading."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return body.strip() + "\n"


def main() -> None:
    import mkdocs_gen_files

    notebooks = sorted((ROOT / "tutorials").glob("*.ipynb"))
    index = ["# Tutorials", "",
             "Jupyter notebooks, shown here as they ran when this site was built. Each runs "
             "top to bottom on a laptop CPU in a minute or two, on data that ships with "
             "Python packages; download one from the `tutorials/` folder of the repository "
             "and run it with `jupyter lab`.", ""]
    summary = ["* [Overview](index.md)"]
    for nb in notebooks:
        title, blurb = _notebook_title(nb)
        with mkdocs_gen_files.open(f"tutorials/{nb.name}", "w") as f:
            f.write(nb.read_text())
        mkdocs_gen_files.set_edit_path(f"tutorials/{nb.name}", f"../tutorials/{nb.name}")
        index += [f"- [{title}]({nb.name}): {blurb}", ""]
        summary.append(f"* [{title}]({nb.name})")
    with mkdocs_gen_files.open("tutorials/index.md", "w") as f:
        f.write("\n".join(index))
    with mkdocs_gen_files.open("tutorials/SUMMARY.md", "w") as f:
        f.write("\n".join(summary) + "\n")

    with mkdocs_gen_files.open("benchmarks.md", "w") as f:
        f.write("# Benchmarks\n\n" + readme_section("Speed"))

    modules = api_modules()
    summary = ["* [Overview](index.md)"]
    overview = ["# API reference", "",
                "Every public module of ember, with an entry for each public name, generated "
                "from the docstrings and signatures. The names and their behaviour follow "
                "PyTorch's, whose documentation is the specification.", "",
                "| module | names | summary |", "| --- | --- | --- |"]
    for module in modules:
        name = module.__name__
        with mkdocs_gen_files.open(f"reference/{name}.md", "w") as f:
            f.write(reference_page(module))
        summary.append(f"* [{name}]({name}.md)")
        overview.append(f"| [`{name}`]({name}.md) | {len(public_names(module))} | "
                        f"{_summary(module)} |")
    for path in OWN_PAGE:
        with mkdocs_gen_files.open(f"reference/{path}.md", "w") as f:
            f.write(f"::: {path}\n    options:\n      heading_level: 1\n")
        summary.append(f"* [{path}]({path}.md)")
    with mkdocs_gen_files.open("reference/index.md", "w") as f:
        f.write("\n".join(overview) + "\n")
    with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as f:
        f.write("\n".join(summary) + "\n")


if __name__ in ("__main__", "<run_path>"):  # mkdocs-gen-files runs it with runpy.run_path
    main()
