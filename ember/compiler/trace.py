"""Capture for ``jit.trace`` and ``export``: one forward graph, optimized, with its
weights by qualified name, and -- for ``export``'s ``dynamic_shapes`` -- the dims fitted
as sizes (``dynamic``)."""

from __future__ import annotations

from ..autograd import no_grad
from . import passes
from .capture import capture
from .dynamic import apply_symbols, fit_dynamic
from .sources import module_sources

__all__ = ["trace_graph"]


def trace_graph(fn, args: tuple, kwargs: dict | None = None, dynamic: set | str | None = None,
                what: str = "trace"):
    """``(graph, weights, kinds, dynamic dims)``: ``fn`` captured on ``args`` with grad mode
    off; ``weights`` holds every parameter and buffer of a module (used or not) and the
    other tensors the graph reads, ``kinds`` says which is which.
    ``dynamic``: ``{(input index, axis)}`` that must be free sizes, or ``"auto"``: every
    dim that fits (``jit.trace``: torch's traced programs run at other batch sizes). A graph
    break is an error (a traced program cannot replay Python's decisions on data)."""
    from ..nn.modules.module import Module
    kwargs = kwargs or {}
    sources = module_sources(fn) if isinstance(fn, Module) else {}
    externs = {k: v[:2] for k, v in sources.items()}

    def run(a, k):
        with no_grad():
            cap, _ = capture(fn, a, k, externs=externs)
        return cap
    cap = run(args, kwargs)
    if cap.breaks:
        b = cap.breaks[0]
        raise RuntimeError(f"{what}: cannot capture {b.reason} at {b.location}")
    dims: list = []
    if dynamic == "auto":
        fitted = fit_dynamic(run, args, kwargs, cap)
        if fitted:
            apply_symbols(cap, fitted[0])
            dims = sorted(fitted[1])
    elif dynamic:
        fitted = fit_dynamic(run, args, kwargs, cap)
        free = set(fitted[1]) if fitted else set()
        missing = sorted(dynamic - free)
        if missing:
            raise RuntimeError(f"{what}: dims {missing} ((input, axis) pairs) cannot be "
                               "dynamic: the program is not the same for other sizes of them "
                               "(they are specialized, as torch's 'Constraints violated' says)")
        apply_symbols(cap, fitted[0])
        dims = sorted(dynamic)
    g = cap.graph
    passes.optimize(g)
    weights = {name: source()._data for name, _, source in sources.values()}
    kinds = {name: kind for name, kind, _ in sources.values()}
    for name in g.params:
        weights.setdefault(name, cap.extern_tensors[name]._data)
        kinds.setdefault(name, "extern")
    return g, weights, kinds, dims
