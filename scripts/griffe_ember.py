"""A griffe extension for ember's API reference (mkdocs.yml names it for mkdocstrings).

griffe, inspecting a module, makes an alias of every function whose ``__module__`` is
another module, pointing at ``__module__.__qualname__``. Many of ember's functions are
made by a factory in one module and bound in another (elementwise ops built from a
template, in-place variants, Tensor methods), so that target does not exist and the alias
cannot be resolved. Such functions are inspected where they are bound instead.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import griffe


def _found_at_home(obj: Any) -> bool:
    """Whether ``obj`` is reachable as ``obj.__module__`` + ``obj.__qualname__`` (decorated
    functions compared unwrapped, as griffe sees them)."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname:
        return False
    try:
        found = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return False
    return inspect.unwrap(found) is inspect.unwrap(obj)


class InlineDanglingAliases(griffe.Extension):
    """Replace an alias whose runtime object is not found at its declared home by the
    inspected object itself."""

    def on_alias_instance(self, *, alias: griffe.Alias, node: griffe.ObjectNode,
                          agent: griffe.Inspector, **kwargs: Any) -> None:
        child = next((c for c in node.children if c.name == alias.name), None)
        if child is not None and not child.is_module and not _found_at_home(child.obj):
            agent.inspect(child)
