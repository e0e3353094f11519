"""The core's import layering, read from the source with ``ast`` (nothing is imported).

DESIGN.md: "The core is a DAG: ``_dtype``/``_state`` <- ``_tensor`` <- ``autograd/graph`` <-
``_dispatch`` <- ``ops``". This test builds ember's module import graph and checks

(a) no import cycle among the core modules, and
(b) no module imports a module of a higher layer (``LAYERS``, lowest first).

How an import counts (an edge ``importer -> imported module``):

- every ``import``/``from ... import`` statement anywhere in the file: at module level
  AND inside functions. A function-level (lazy) import that goes upward still makes the
  lower module depend on the higher one -- it only postpones the cycle to run time -- so it
  counts exactly as a module-level one. The only imports left out are those under
  ``if TYPE_CHECKING:``, which never run;
- ``importlib.import_module("<constant>")`` counts like an ``import`` of that module;
- ``from P import n`` imports the submodule ``P.n`` when there is a file for it (an edge
  to ``P.n``), and reads ``P``'s namespace otherwise (an edge to ``P``);
- relative imports are resolved against the importing module's package;
- importing ``a.b.c`` runs the ``__init__`` of ``a`` and ``a.b`` first; that is Python's
  package mechanism, not a dependency the module chose, so it is not an edge (an
  ``__init__`` is judged by what it imports itself).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ember"

# Lowest first. A module may import modules of its own layer or of lower layers only.
# Modules not named here are in the top layer ("the rest": nn, optim, amp, profiler...).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("ember._dtype", "ember._state", "ember._meta", "ember._schema", "ember._device",
              "ember._threads", "ember._numpy_errors", "ember._shared_memory")),
    # the Tensor, and its printing
    ("tensor", ("ember._tensor", "ember._formatting")),
    # the graph and engine, and the modes they read (grad mode, anomaly detection)
    ("autograd graph", ("ember.autograd.graph", "ember.autograd.grad_mode",
                        "ember.autograd.anomaly_mode")),
    ("dispatch", ("ember._dispatch",)),
    # every op: ember/ops/*, and the namespaces that define ops (torch.random, torch.linalg)
    ("ops", ("ember.ops", "ember.random", "ember.linalg")),
]
TOP = "rest"

# The core: the modules that must form a DAG among themselves.
CORE_PREFIXES = ("ember._dtype", "ember._state", "ember._meta", "ember._schema",
                 "ember._device", "ember._threads", "ember._tensor", "ember._formatting",
                 "ember.autograd", "ember._dispatch", "ember.ops", "ember.random",
                 "ember.linalg", "ember.amp", "ember")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _import_nodes(tree: ast.AST):
    """Every import statement and ``importlib.import_module`` call that can run, each with
    whether it sits in a function (runs when called, not at import)."""
    stack = [(tree, False)]
    while stack:
        node, lazy = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend((child, lazy) for child in node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, lazy
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node, lazy
        lazy = lazy or isinstance(node, _FUNCTIONS)
        stack.extend((child, lazy) for child in ast.iter_child_nodes(node))


def _resolve_from(name: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, tuple[int, bool]]:
    """The ember modules ``name`` imports, each with ``(line, lazy)``: the line of its first
    import, and whether every import of it is in a function."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: dict[str, tuple[int, bool]] = {}

    def add(target: str, line: int, lazy: bool) -> None:
        if target.split(".")[0] == "ember" and target != name:
            while target not in modules:       # `import ember.x.attr`: the module part
                target = target.rpartition(".")[0]
            old_line, old_lazy = found.get(target, (line, lazy))
            found[target] = (min(line, old_line), lazy and old_lazy)

    for node, lazy in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, lazy)
        elif isinstance(node, ast.Call):
            add(node.args[0].value, node.lineno, lazy)
        else:
            source = _resolve_from(name, is_package, node)
            reads_namespace = False
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:
                    add(sub, node.lineno, lazy)
                else:
                    reads_namespace = True
            if reads_namespace:
                add(source, node.lineno, lazy)
    return found


Graph = dict[str, dict[str, tuple[int, bool]]]


def import_graph() -> tuple[Graph, dict[str, Path]]:
    modules = all_modules()
    return {n: imports_of(n, p, modules) for n, p in modules.items()}, modules


def is_core(name: str) -> bool:
    return name == "ember" or any(name == p or name.startswith(p + ".")
                                  for p in CORE_PREFIXES if p != "ember")


def layer_of(name: str) -> int:
    for rank, (_, members) in enumerate(LAYERS):
        if any(name == m or name.startswith(m + ".") for m in members):
            return rank
    return len(LAYERS)


def layer_name(rank: int) -> str:
    return LAYERS[rank][0] if rank < len(LAYERS) else TOP


def cycles(graph: Graph, nodes: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in nodes:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(out)


def _shortest_path(graph: Graph, members: set[str], start: str, goal: str) -> list[str]:
    """Breadth-first, inside ``members``: the modules from ``start`` to ``goal``."""
    previous = {start: None}
    queue = [start]
    for v in queue:
        if v == goal:
            break
        for w in sorted(graph[v]):
            if w in members and w not in previous:
                previous[w] = v
                queue.append(w)
    path = [goal]
    while previous[path[-1]] is not None:
        path.append(previous[path[-1]])
    return path[::-1]


def elementary_cycles(graph: Graph, component: list[str]) -> list[list[str]]:
    """For each import inside a strongly connected component, the shortest cycle that
    import closes (deduplicated, shortest first): the imports to untangle, one by one."""
    members = set(component)
    found = set()
    for a in component:
        for b in graph[a]:
            if b in members:
                cycle = [a] + _shortest_path(graph, members, b, a)[:-1]
                i = cycle.index(min(cycle))
                found.add(tuple(cycle[i:] + cycle[:i]))
    return [list(c) for c in sorted(found, key=lambda c: (len(c), c))]


def _edge(graph: Graph, modules, a: str, b: str) -> str:
    path = modules[a].relative_to(ROOT)
    line, lazy = graph[a][b]
    return f"{a} -> {b}  ({path}:{line}{', in a function' if lazy else ''})"


def _ring(cycle: list[str]) -> list[tuple[str, str]]:
    return list(zip(cycle, cycle[1:] + cycle[:1]))


def imports_to_break(graph: Graph, nodes: set[str]) -> list[tuple[str, str, list[str]]]:
    """Imports whose removal leaves no cycle among ``nodes``, each with a cycle it closes.

    Chosen greedily: an upward import (by ``LAYERS``) first, then the import closing the
    most of the remaining shortest cycles, a function-level one on ties."""
    g = {a: {b: v for b, v in graph[a].items() if b in nodes} for a in nodes}
    chosen = []
    while True:
        found = [c for comp in cycles(g, nodes) for c in elementary_cycles(g, comp)]
        if not found:
            return chosen
        counts: dict[tuple[str, str], int] = {}
        for c in found:
            for e in _ring(c):
                counts[e] = counts.get(e, 0) + 1
        a, b = max(sorted(counts), key=lambda e: (layer_of(e[1]) > layer_of(e[0]), counts[e],
                                                  g[e[0]][e[1]][1]))
        chosen.append((a, b, next(c for c in found if (a, b) in _ring(c))))
        del g[a][b]


def test_core_has_no_import_cycle():
    graph, modules = import_graph()
    core = {n for n in graph if is_core(n)}
    report = []
    for a, b, cycle in imports_to_break(graph, core):
        i = cycle.index(a)
        ring = cycle[i:] + cycle[:i] + [a]
        report.append(f"{_edge(graph, modules, a, b)}\n      closes {' -> '.join(ring)}")
    assert not report, (
        "import cycles among the core modules (function-level imports count, see the module "
        f"docstring); these {len(report)} imports close them all:\n  " + "\n  ".join(report))


def test_lower_layers_never_import_higher_ones():
    graph, modules = import_graph()
    bad = [f"{_edge(graph, modules, a, b)}: {layer_name(layer_of(a))} imports "
           f"{layer_name(layer_of(b))}"
           for a in sorted(graph) for b in graph[a] if layer_of(b) > layer_of(a)]
    assert not bad, "upward imports:\n    " + "\n    ".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from . import _dtype\nfrom ._state import STATE\n", {"ember._dtype", "ember._state"}),
    ("def f():\n    from .ops.shape import view\n", {"ember.ops.shape"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .nn import Module\n",
     set()),
    ("import importlib\nimportlib.import_module('ember.random')\n", {"ember.random"}),
    ("from .ops import all_ops, shape\n", {"ember.ops", "ember.ops.shape"}),
])
def test_the_graph_reads_every_kind_of_import(tmp_path, source, expected):
    """The parser itself, on a module placed at ``ember/_probe.py``."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    modules = all_modules()
    assert set(imports_of("ember._probe", path, modules)) == expected


def test_a_cycle_is_found_with_its_edges():
    imp = (1, False)
    graph = {"a": {"b": imp, "d": imp}, "b": {"c": imp}, "c": {"a": imp}, "d": {"a": imp},
             "e": {"a": imp}}
    assert cycles(graph, set(graph)) == [["a", "b", "c", "d"]]
    assert elementary_cycles(graph, ["a", "b", "c", "d"]) == [["a", "d"], ["a", "b", "c"]]
    # a -> b closes both cycles of a -> b -> a and a -> b -> c -> a
    graph = {"a": {"b": imp}, "b": {"a": imp, "c": imp}, "c": {"a": imp}}
    assert imports_to_break(graph, set(graph)) == [("a", "b", ["a", "b"])]
