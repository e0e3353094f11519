"""``torch.overrides``: the ``__torch_function__`` protocol's helpers, for libraries that
write tensor-like classes and call ``handle_torch_function`` from their own functions.

ember's public functions consult ``__torch_function__`` of their arguments once a Tensor
subclass exists (``ember/_torch_function.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from ._tensor import Tensor
from ._torch_function import _overriding as _overrides
from ._torch_function import get_default_nowrap_functions

__all__ = ["has_torch_function", "handle_torch_function", "get_overridable_functions",
           "is_tensor_like", "is_tensor_method_or_property", "get_default_nowrap_functions"]


def has_torch_function(relevant_args: Iterable) -> bool:
    """Whether any of ``relevant_args`` is of a type that overrides ``__torch_function__``."""
    return any(_overrides(a) for a in relevant_args)


def _overloaded_args(relevant_args: Iterable) -> list:
    """The arguments whose types override, one per type, subclasses before their bases
    (torch's ``_get_overloaded_args``)."""
    args: list = []
    types: list = []
    for arg in relevant_args:
        t = type(arg)
        if t in types or not _overrides(arg):
            continue
        index = len(args)
        for i, existing in enumerate(types):
            if issubclass(t, existing):
                index = i
                break
        args.insert(index, arg)
        types.insert(index, t)
    return args


def handle_torch_function(public_api: Callable, relevant_args: Iterable, *args,
                          **kwargs) -> Any:
    """Call the ``__torch_function__`` overrides of ``relevant_args`` for ``public_api``
    in torch's order until one does not return ``NotImplemented``."""
    overloaded = _overloaded_args(relevant_args)
    types = tuple(type(a) for a in overloaded)
    for arg in overloaded:
        result = type(arg).__torch_function__(public_api, types, args, kwargs)
        if result is not NotImplemented:
            return result
    name = getattr(public_api, "__module__", "") + "." + getattr(public_api, "__name__", "")
    raise TypeError(f"no implementation found for '{name}' on types that implement "
                    f"__torch_function__: {list(types)}")


def is_tensor_like(inp) -> bool:
    """A Tensor, or an object whose type defines ``__torch_function__``."""
    return isinstance(inp, Tensor) or hasattr(type(inp), "__torch_function__")


def is_tensor_method_or_property(func: Callable) -> bool:
    """Whether ``func`` is a method or property of ``Tensor``."""
    return any(func is v or (isinstance(v, property) and func is v.fget)
               for v in vars(Tensor).values())


def get_overridable_functions() -> dict:
    """The public functions of ``ember``, ``ember.nn.functional``, ``ember.fft``,
    ``ember.special``, ``ember.linalg`` and the methods of ``Tensor``, by namespace."""
    import ember
    from ember import fft, linalg, special
    from ember.nn import functional
    out: dict = {}
    for namespace in (ember, functional, fft, special, linalg):
        names = getattr(namespace, "__all__", None) or dir(namespace)
        out[namespace] = [getattr(namespace, n) for n in names if not n.startswith("_")
                          and inspect.isfunction(getattr(namespace, n, None))]
    out[Tensor] = [v for n, v in vars(Tensor).items()
                   if not n.startswith("_") and callable(v)]
    return out
