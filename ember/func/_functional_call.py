"""``functional_call`` and ``stack_module_state``: a module as a function of its state.

``functional_call`` swaps the given tensors into the module's ``_parameters`` /
``_buffers`` dicts (or plain attributes), calls it, and swaps the originals back, so
gradients reach the substitutes and the module is unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from .._tensor import Tensor

__all__ = ["functional_call", "stack_module_state"]

_MISSING = object()


def _untie(module, given: dict) -> dict:
    """``given`` plus, for every name of a tied tensor it sets, the tensor's other names."""
    names: dict[int, set] = {}
    for name, t in [*module.named_parameters(remove_duplicate=False),
                    *module.named_buffers(remove_duplicate=False)]:
        names.setdefault(id(t), set()).add(name)
    tied = {n: group for group in names.values() if len(group) > 1 for n in group}
    out = dict(given)
    for name in given:
        group = tied.get(name)
        if group is None:
            continue
        if len({id(given[n]) for n in group if n in given}) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(group)}, "
                             f"which are tied. Consider using tie_weights=False")
        out.update({n: given[name] for n in group})
    return out


def _swap(module, path: str, value):
    """Put ``value`` at ``path`` (``_MISSING`` removes it); returns what was there."""
    *parents, name = path.split(".")
    for p in parents:
        module = getattr(module, p)
    for store in (module._parameters, module._buffers):
        if name in store:
            old = store[name]
            if value is _MISSING:
                del store[name]
            else:
                store[name] = value
            return old
    old = getattr(module, name, _MISSING)
    if value is not _MISSING:
        object.__setattr__(module, name, value)
    elif old is not _MISSING:
        object.__delattr__(module, name)
    return old


def _check_strict(module, given: dict) -> None:
    expected = {n for n, _ in module.named_parameters(remove_duplicate=False)}
    expected |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
    msgs = []
    unexpected = [k for k in given if k not in expected]
    missing = [k for k in sorted(expected) if k not in given]
    if unexpected:
        msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
    if missing:
        msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
    if msgs:
        raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(
            type(module).__name__, "\n\t".join(msgs)))


@contextmanager
def _reparametrized(module, given: dict, tie_weights: bool, strict: bool):
    if tie_weights:
        given = _untie(module, given)
    if strict:
        _check_strict(module, given)
    originals: dict = {}
    try:
        for path, value in given.items():
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{value} is not an instance of torch.Tensor")
            originals[path] = _swap(module, path, value)
        yield
    finally:
        for path, old in reversed(originals.items()):
            _swap(module, path, old)


def functional_call(module, parameter_and_buffer_dicts: dict | Sequence[dict],
                    args: Any = None, kwargs: dict | None = None, *,
                    tie_weights: bool = True, strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with its parameters and buffers replaced by the dict's
    tensors (names as in ``named_parameters``), as ``torch.func.functional_call``."""
    if isinstance(parameter_and_buffer_dicts, dict):
        given = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be "
                             "dictionaries")
        keys = [k for d in parameter_and_buffer_dicts for k in d]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of "
                             f"functional call is ambiguous")
        given = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple "
                         f"of dicts, but got {type(parameter_and_buffer_dicts)}")
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    with _reparametrized(module, given, tie_weights, strict):
        return module(*args, **(kwargs or {}))


def stack_module_state(models) -> tuple[dict, dict]:
    """``(params, buffers)``: each model's tensors stacked along a new leading dim, for
    ``vmap`` over ``functional_call`` (model ensembling). The stacked parameters are new
    leaves that require grad where the originals do."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not all(m.training for m in models) and any(m.training for m in models):
        raise RuntimeError("stack_module_state: Expected all models to have the same "
                           "training/eval mode.")
    first = type(models[0])
    if not all(type(m) is first for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    from ..ops.shape import stack

    def stacked(kind: str) -> dict:
        dicts = [dict(getattr(m, kind)()) for m in models]
        return {name: stack([d[name].detach() for d in dicts]).requires_grad_(t.requires_grad)
                for name, t in dicts[0].items()}

    params = stacked("named_parameters")
    buffers = stacked("named_buffers")
    return params, buffers
