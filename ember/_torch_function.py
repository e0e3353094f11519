"""``__torch_function__`` on Tensor subclasses (torch's "Subclassing torch.Tensor").

Where the hook lives, and why: ``dispatch`` sees every op but not the public function
(``torch.add`` vs ``Tensor.__add__`` vs ``F.relu`` composed of several ops), and the
protocol hands the public function to ``__torch_function__``. So the public functions
themselves are wrapped: those of ``ember``, ``ember.nn.functional`` and the methods and
operators of ``Tensor``. The wrapping is installed only when the first Tensor subclass
that takes part in the protocol is defined (``Tensor.__init_subclass__``): programs
without one run the unwrapped functions, so their op overhead is unchanged. ember's own
subclasses (``Parameter``, ``Buffer``...) get ``_disabled_torch_function_impl`` as torch
gives ``Parameter``, and do not activate it.

``func`` handed to ``__torch_function__`` is the wrapper, which is what ``ember.add`` and
``Tensor.__add__`` are from then on (``func is torch.add`` holds, ``func.__name__`` is
torch's); called inside the default ``__torch_function__`` it runs the original.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any

from ._tensor import _SUBCLASS_HOOKS, Tensor, _init

__all__ = ["DisableTorchFunctionSubclass", "DisableTorchFunction",
           "_disabled_torch_function_impl", "get_default_nowrap_functions"]


class _Flags(threading.local):
    """Per thread: whether subclass (``subclass``) or all (``all``) overrides are off."""

    subclass = False
    all = False


_FLAGS = _Flags()
_ACTIVE = [False]
_REPLACED: list = []  # (owner, name, original) of every wrapped function
# Tensor attributes left unwrapped: construction, the protocol itself, conversions
# Python calls implicitly, pickling and printing.
_SKIP = frozenset({
    "__new__", "__init__", "__init_subclass__", "__torch_function__", "__torch_dispatch__",
    "_make_wrapper_subclass", "_make_subclass", "as_subclass", "__repr__", "__str__",
    "__format__", "__deepcopy__", "__reduce_ex__", "__array__", "__hash__", "__bool__",
    "__index__", "__int__", "__float__", "__complex__", "__len__", "__iter__",
    "__contains__", "__reversed__"})


class DisableTorchFunctionSubclass:
    """Context manager: ``__torch_function__`` of Tensor subclasses is not consulted."""

    def __enter__(self):
        self._prev = _FLAGS.subclass
        _FLAGS.subclass = True
        return self

    def __exit__(self, *exc):
        _FLAGS.subclass = self._prev


class DisableTorchFunction:
    """Context manager: no ``__torch_function__`` is consulted (subclasses nor others)."""

    def __enter__(self):
        self._prev = _FLAGS.all
        _FLAGS.all = True
        return self

    def __exit__(self, *exc):
        _FLAGS.all = self._prev


def _disabled_torch_function_impl(func, types, args=(), kwargs=None):
    """The ``__torch_function__`` of classes that opt out (``Parameter``): run ``func``
    as is, results stay plain Tensors."""
    with DisableTorchFunctionSubclass():
        return func(*args, **(kwargs or {}))


def get_default_nowrap_functions() -> set:
    """Functions whose results the default ``__torch_function__`` leaves unconverted."""
    return {Tensor._base.__get__, Tensor.grad.__get__}


def _convert(ret: Any, cls: type) -> Any:
    """``ret`` with its Tensors re-typed as ``cls`` (in tuples and lists too)."""
    if cls is Tensor:
        return ret
    if isinstance(ret, Tensor) and not isinstance(ret, cls):
        return _retype(ret, cls)
    if isinstance(ret, (tuple, list)) and type(ret) in (tuple, list):
        return type(ret)(_convert(r, cls) for r in ret)
    return ret


def _retype(t: Tensor, cls: type) -> Tensor:
    """A ``cls`` object with ``t``'s state (data, version counter, graph position)."""
    new = object.__new__(cls)
    for slot in Tensor.__slots__:
        if slot != "__weakref__":
            object.__setattr__(new, slot, getattr(t, slot))
    return new


def _default_torch_function(cls, func, types, args=(), kwargs=None):
    """``Tensor.__torch_function__``: run ``func`` with subclass overrides off and
    convert Tensor results to ``cls``."""
    if not all(issubclass(cls, t) for t in types):
        return NotImplemented
    with DisableTorchFunctionSubclass():
        ret = func(*args, **(kwargs or {}))
    if func in get_default_nowrap_functions():
        return ret
    return _convert(ret, cls)


def as_subclass(self: Tensor, cls: type) -> Tensor:
    """A ``cls`` tensor sharing ``self``'s data and staying in its autograd graph."""
    with DisableTorchFunctionSubclass():
        alias = self.view_as(self) if self.requires_grad else self.detach()
    if not self.requires_grad:
        alias._vc = self._vc
    return _retype(alias, cls)


def _make_subclass(cls: type, data: Tensor, require_grad: bool = False, **kwargs) -> Tensor:
    """A leaf ``cls`` tensor sharing ``data``'s memory (torch's ``Tensor._make_subclass``)."""
    t = object.__new__(cls)
    _init(t, data._data, False)
    t._vc = data._vc
    t.requires_grad = require_grad
    return t


def _overriding(arg) -> bool:
    """Whether ``arg``'s type takes part in the protocol."""
    fn = getattr(type(arg), "__torch_function__", None)
    if fn is None:
        return False
    if isinstance(arg, Tensor):
        return not _FLAGS.subclass and type(arg) is not Tensor and \
            getattr(fn, "__func__", fn) is not _disabled_torch_function_impl
    return True


def _relevant(args: tuple, kwargs: dict) -> list:
    """The arguments (also inside lists and tuples) whose types override."""
    found = []
    for a in (*args, *kwargs.values()):
        if isinstance(a, (list, tuple)):
            found.extend(x for x in a if _overriding(x))
        elif _overriding(a):
            found.append(a)
    return found


_PLAIN = frozenset({Tensor, int, float, bool, type(None)})

# Operators whose override torch calls with the method they stand for (``x + 1`` hands
# ``Tensor.add`` to ``__torch_function__``; ``x.__radd__(1)`` too, with the same args).
_OPERATOR_METHODS = {
    "__add__": "add", "__radd__": "add", "__sub__": "sub", "__mul__": "mul", "__rmul__": "mul",
    "__truediv__": "div", "__matmul__": "matmul", "__mod__": "remainder", "__pow__": "pow",
    "__neg__": "neg", "__pos__": "positive", "__abs__": "abs", "__ge__": "ge", "__gt__": "gt",
    "__le__": "le", "__lt__": "lt", "__ne__": "ne", "__rand__": "bitwise_and",
    "__ror__": "bitwise_or", "__rxor__": "bitwise_xor"}


def _handle_builtin(func: Callable, relevant: list, *args, **kwargs) -> Any:
    """``handle_torch_function`` as torch's C++ functions (``torch.sum``, ``Tensor.add``)
    do it, with their error when every override returns ``NotImplemented``."""
    from .overrides import _overloaded_args
    overloaded = _overloaded_args(relevant)
    types = tuple(type(a) for a in overloaded)
    for arg in overloaded:
        result = type(arg).__torch_function__(func, types, args, kwargs)
        if result is not NotImplemented:
            return result
    listed = "".join(f"\n  - tensor subclass {t}" for t in types)
    raise TypeError(f"Multiple dispatch failed for 'torch.{func.__name__}'; all "
                    f"__torch_function__ handlers returned NotImplemented:\n{listed}")


def _wrap(fn: Callable, name: str, public: str | None = None,
          python_api: bool = False) -> Callable:
    """``fn`` calling the overrides when an argument has one, with itself (or the Tensor
    method named ``public``) as the function handed over; ``python_api``: raise as torch's
    Python functions (``nn.functional``) do when none applies."""
    from .overrides import handle_torch_function
    handle = handle_torch_function if python_api else _handle_builtin

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for a in args:  # the common case: plain tensors and numbers only
            if type(a) not in _PLAIN:
                break
        else:
            if not kwargs:
                return fn(*args)
        if not _FLAGS.all:
            relevant = _relevant(args, kwargs)
            if relevant:
                func = wrapper if public is None else getattr(Tensor, public)
                return handle(func, relevant, *args, **kwargs)
        return fn(*args, **kwargs)
    wrapper.__name__ = "__rdiv__" if name == "__rtruediv__" else name
    wrapper._ember_tf_wrapped = True
    return wrapper


def _wrap_namespace(ns, python_api: bool, wrappers: dict) -> None:
    """Wrap the public functions of ``ns``; ``wrappers``: id of original -> its wrapper,
    shared so that one function has one wrapper under all its names."""
    for name in list(vars(ns)):
        fn = vars(ns)[name]
        if name.startswith("_") or not callable(fn) or isinstance(fn, type) \
                or getattr(fn, "_ember_tf_wrapped", False) or type(fn).__name__ == "module":
            continue
        if id(fn) not in wrappers:
            wrappers[id(fn)] = _wrap(fn, name, python_api=python_api)
        _replace(ns, name, wrappers[id(fn)])


def _rebind_op_modules(wrappers: dict) -> None:
    """Point the op modules' names for public functions at the wrappers too: ``nn``
    modules call them there (``normalization.layer_norm``)."""
    for modname, module in list(sys.modules.items()):
        if modname.startswith("ember.ops.") and module is not None:
            for name, fn in list(vars(module).items()):
                if id(fn) in wrappers and wrappers[id(fn)].__wrapped__ is fn:
                    _replace(module, name, wrappers[id(fn)])


def activate() -> None:
    """Wrap the public functions (once): called when a protocol subclass appears."""
    if _ACTIVE[0]:
        return
    _ACTIVE[0] = True
    import ember
    from ember.nn import functional
    wrappers: dict = {}
    _wrap_namespace(ember, False, wrappers)
    _wrap_namespace(functional, True, wrappers)
    _rebind_op_modules(wrappers)
    for name, fn in list(vars(Tensor).items()):
        if name in _SKIP or (name.startswith("_") and not name.startswith("__")) \
                or isinstance(fn, (property, staticmethod, classmethod)) or not callable(fn):
            continue
        _replace(Tensor, name, _wrap(fn, name, _OPERATOR_METHODS.get(name)))


def _replace(owner, name: str, wrapper: Callable) -> None:
    _REPLACED.append((owner, name, vars(owner)[name]))
    setattr(owner, name, wrapper)


def deactivate() -> None:
    """Put the unwrapped functions back (for tests that must leave ember as they found
    it; instances of subclasses then behave as plain Tensors in ops)."""
    while _REPLACED:
        owner, name, original = _REPLACED.pop()
        setattr(owner, name, original)
    _ACTIVE[0] = False


def _subclass_defined(cls: type) -> None:
    """``Tensor.__init_subclass__``: ember's own subclasses opt out (as ``Parameter`` does
    in torch); other subclasses turn the protocol on, but for ``__torch_dispatch__``
    wrappers that inherit the default ``__torch_function__``."""
    if "__torch_function__" in cls.__dict__:
        activate()
    elif cls.__module__.startswith("ember."):
        cls.__torch_function__ = staticmethod(_disabled_torch_function_impl)
    elif cls.__torch_dispatch__ is None:
        # a __torch_dispatch__ wrapper gets its type back from every op already
        activate()


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


for _cls in _subclasses(Tensor):  # those defined before this module loaded
    _subclass_defined(_cls)
_SUBCLASS_HOOKS.append(_subclass_defined)

Tensor.__torch_function__ = classmethod(_default_torch_function)
Tensor.as_subclass = as_subclass
Tensor._make_subclass = staticmethod(_make_subclass)
