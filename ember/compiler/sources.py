"""Where the tensors a compiled program reads from outside come from, found again at
every call.

A program reads parameters, buffers, gradients and optimizer state that are not its
arguments ("externs"). Holding the capture's tensor objects would go stale: a
``zero_grad()`` makes new ``.grad`` tensors, an optimizer's state is made on its first
step, a parameter can be replaced. So each extern gets a *source*, a function returning
the live tensor -- ``module._parameters[name]``, ``group["params"][i].grad``,
``optimizer.state[p][key]`` -- as dynamo's guards name ``L['self'].weight``. A tensor
with no known source (a tensor in a closure) is its own source.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

__all__ = ["module_sources", "optimizer_sources", "optimizer_of", "optimizer_guard"]


def module_sources(module, prefix: str = "") -> dict[int, tuple[str, str, Callable]]:
    """``id(tensor) -> (qualified name, "param"|"buffer", source)`` for a module tree."""
    out: dict[int, tuple[str, str, Callable]] = {}
    for mod_name, mod in module.named_modules():
        for kind, table in (("param", mod._parameters), ("buffer", mod._buffers)):
            for name, t in table.items():
                if t is not None and id(t) not in out:
                    qual = f"{prefix}{mod_name}.{name}" if mod_name else prefix + name
                    out[id(t)] = (qual, kind, _item(table, name))
    return out


def optimizer_sources(opt) -> dict[int, tuple[str, str, Callable]]:
    """Parameters, their gradients and their state tensors, by group and index."""
    from .._tensor import Tensor
    out: dict[int, tuple[str, str, Callable]] = {}
    for gi, group in enumerate(opt.param_groups):
        params = group["params"]
        for pi, p in enumerate(params):
            base = f"param_groups[{gi}][{pi}]"
            out.setdefault(id(p), (base, "param", _item(params, pi)))
            if p.grad is not None:
                out.setdefault(id(p.grad), (base + ".grad", "grad", _grad(params, pi)))
            for key, s in opt.state.get(p, {}).items():
                if isinstance(s, Tensor):
                    out.setdefault(id(s), (f"state[{base}][{key!r}]", "state",
                                           _state(opt, params, pi, key)))
    return out


def optimizer_of(fn):
    """The optimizer whose bound method ``fn`` is (``opt.step``), or None."""
    from ..optim.optimizer import Optimizer
    # through wrappers: an LR scheduler replaces ``opt.step`` by a function holding a
    # weak reference to the optimizer
    owners = [getattr(fn, "__self__", None)]
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            obj = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        owners.append(obj() if isinstance(obj, weakref.ref) else obj)
    return next((o for o in owners if isinstance(o, Optimizer)), None)


def optimizer_guard(opt, runtime: set[tuple[int, str]] = frozenset()) -> tuple:
    """What a compiled step assumes of an optimizer: its hyperparameters and which
    parameters have gradients and state. Those in ``runtime`` (``(group, key)`` the
    program reads at each call, see ``hyper``) are guarded only on being zero or not
    (a step may branch on that), so a scheduler changing ``lr`` does not recompile."""
    parts = []
    for gi, group in enumerate(opt.param_groups):
        parts.append(tuple((k, _zeroness(v) if (gi, k) in runtime else _frozen(v))
                           for k, v in group.items() if k != "params"))
        parts.append(tuple((p.grad is not None, tuple(opt.state.get(p, {})))
                           for p in group["params"]))
    return tuple(parts)


def _zeroness(v):
    return ("runtime", tuple(x == 0 for x in v) if type(v) is tuple else v == 0)


def _frozen(v):
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)


def _item(table, key) -> Callable:
    return lambda: table[key]


def _grad(params, i) -> Callable:
    return lambda: params[i].grad


def _state(opt, params, i, key) -> Callable:
    return lambda: opt.state[params[i]][key]
