"""Run a PyTorch program on ember: ``python -m ember.run script.py [args...]``.

Inside the program ``import torch`` (and ``torch.nn``, ``torch.nn.functional``,
``torch.optim.lr_scheduler``, ``torch.utils.data``, ...) resolve to ember. What ember
does not provide fails with an error naming the missing attribute or module and the
ember version, at the line that asked for it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import operator
import os
import runpy
import sys
import types
from collections.abc import Sequence

__all__ = ["install_torch_alias", "uninstall_torch_alias", "run_script"]


_MISSING = object()


def _not_implemented(what: str) -> str:
    from . import __version__
    return f"ember {__version__} does not implement {what} yet"


class _TorchAlias(types.ModuleType):
    """``torch.X`` seen through ember's ``ember.X``, with clear errors for what's missing."""

    def __init__(self, target: types.ModuleType, torch_name: str):
        super().__init__(torch_name, target.__doc__)
        object.__setattr__(self, "_ember_target", target)
        object.__setattr__(self, "__path__", [])
        object.__setattr__(self, "__file__", getattr(target, "__file__", None))

    def __getattr__(self, name: str):
        target = object.__getattribute__(self, "_ember_target")
        value = getattr(target, name, _MISSING)
        if isinstance(value, types.ModuleType) and value.__name__ == f"{target.__name__}.{name}":
            return _alias_for(f"{self.__name__}.{name}")  # torch.nn stays an alias
        if value is not _MISSING:
            return value
        from ._torch_names import relocated
        value = relocated(self.__name__, name)  # torch keeps it elsewhere than ember
        if value is not None:
            return value
        try:  # a submodule not imported yet (torch.nn.utils.rnn ...)
            importlib.import_module(f"{target.__name__}.{name}")
            return _alias_for(f"{self.__name__}.{name}")
        except ModuleNotFoundError:
            pass
        raise AttributeError(f"module '{self.__name__}' has no attribute '{name}': "
                             f"{_not_implemented(f'{self.__name__}.{name}')}")

    def __setattr__(self, name, value):
        # The import system binds submodule aliases and writes the alias's own import
        # metadata (``__spec__``, ``__loader__``, ``__package__``...): those belong to the
        # alias. Passing them through would rename ember's module, and its relative imports
        # would then resolve inside ``torch``. Everything else (``torch.backends.cudnn.
        # benchmark = True``, a monkeypatch) is the program talking to ember.
        if isinstance(value, _TorchAlias) or (name.startswith("__") and name.endswith("__")):
            object.__setattr__(self, name, value)
        else:
            setattr(object.__getattribute__(self, "_ember_target"), name, value)

    def __call__(self, *args, **kwargs):
        """A callable ember module (``ember.compile`` is a package one calls) stays
        callable as ``torch.compile``."""
        return object.__getattribute__(self, "_ember_target")(*args, **kwargs)

    def __dir__(self):
        return dir(object.__getattribute__(self, "_ember_target"))


def _alias_for(torch_name: str) -> types.ModuleType:
    if torch_name in sys.modules:
        return sys.modules[torch_name]
    ember_name = "ember" + torch_name[len("torch"):]
    try:
        target = importlib.import_module(ember_name)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == ember_name or ember_name.startswith(exc.name + ".")):
            raise ModuleNotFoundError(
                f"No module named '{torch_name}': {_not_implemented(torch_name)}",
                name=torch_name) from None
        raise
    alias = _TorchAlias(target, torch_name)
    sys.modules[torch_name] = alias
    return alias


class _TorchFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of ``torch`` and ``torch.*`` with ember's modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torch" or fullname.startswith("torch."):
            try:  # a package exactly when ember's module is one (__package__ follows)
                found = importlib.util.find_spec("ember" + fullname[len("torch"):])
            except ModuleNotFoundError:
                found = None  # create_module names what is missing
            is_package = found is None or found.submodule_search_locations is not None
            return importlib.machinery.ModuleSpec(fullname, self, is_package=is_package)
        return None

    def create_module(self, spec):
        return _alias_for(spec.name)

    def exec_module(self, module):
        pass


_FINDER = _TorchFinder()
_SAVED: dict[str, types.ModuleType] = {}


class _AliasInChild:
    """Rides in the preparation data multiprocessing sends a spawned (or forkserver)
    child, which the child unpickles before it imports the parent's ``__main__``:
    unpickling it installs the alias there too, so ``import torch`` in the child (the
    program's own module, a DataLoader worker) is ember as in the parent."""

    def __reduce__(self):
        # by module name: under `python -m ember.run` this module is __main__
        return (operator.methodcaller("install_torch_alias"), (_ThisModule(),))


class _ThisModule:
    def __reduce__(self):
        return (importlib.import_module, ("ember.run",))


def _preparation_data_with_alias(name: str) -> dict:
    data = _PREPARATION[0](name)
    data["ember_torch_alias"] = _AliasInChild()
    return data


_PREPARATION: list = []  # multiprocessing's own get_preparation_data while patched


def install_torch_alias() -> None:
    """Make ``import torch`` (and its submodules) give ember from now on, in this process
    and in the processes it spawns."""
    if _FINDER in sys.meta_path:
        return
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        _SAVED[name] = sys.modules.pop(name)
    sys.meta_path.insert(0, _FINDER)
    import multiprocessing.spawn as spawn
    if not _PREPARATION:
        _PREPARATION.append(spawn.get_preparation_data)
        spawn.get_preparation_data = _preparation_data_with_alias


def uninstall_torch_alias() -> None:
    """Undo ``install_torch_alias`` (restoring a real torch that was imported before)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    if _PREPARATION:
        import multiprocessing.spawn as spawn
        spawn.get_preparation_data = _PREPARATION.pop()
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        if isinstance(sys.modules[name], _TorchAlias):
            del sys.modules[name]
    sys.modules.update(_SAVED)
    _SAVED.clear()


def run_script(path: str, argv: Sequence[str] = ()) -> dict:
    """Run the PyTorch program at ``path`` as ``__main__`` with ember as torch; returns its
    globals. The script's folder comes first on ``sys.path`` while it runs, as with
    ``python path``, so the program's own modules import."""
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    install_torch_alias()
    try:
        return runpy.run_path(path, run_name="__main__")
    except ImportError as exc:  # `from torch import X`: Python words this error itself
        if exc.name and exc.name.split(".")[0] == "torch" and "ember" not in str(exc).split("(")[0]:
            from . import __version__
            exc.add_note(f"torch is ember {__version__} here, which does not provide this yet")
        raise
    finally:
        sys.argv = old_argv
        sys.path[:] = old_path
        uninstall_torch_alias()


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m ember.run script.py [args...]")
        raise SystemExit(0 if args else 2)
    run_script(args[0], args[1:])


if __name__ == "__main__":
    main()
