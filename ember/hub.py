"""``torch.hub`` for local repositories: ``load(dir, model, source="local")``, ``list`` and
``help`` read the directory's ``hubconf.py`` (its ``dependencies`` list is checked, as
torch does). Fetching from GitHub needs the network, which ember does not use: ``source=
"github"`` raises, naming the local alternative."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

__all__ = ["load", "list", "help", "get_dir", "set_dir"]

_hub_dir: str | None = None


def get_dir() -> str:
    """The hub cache directory (``$TORCH_HOME/hub``, ``~/.cache/torch/hub`` by default)."""
    if _hub_dir is not None:
        return _hub_dir
    home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"),
                                                "torch"))
    return os.path.join(os.path.expanduser(home), "hub")


def set_dir(d: str) -> None:
    global _hub_dir
    _hub_dir = os.path.expanduser(d)


def _hubconf(repo_dir: str, source: str):
    if source not in ("github", "local"):
        raise ValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "github":
        raise RuntimeError("ember.hub cannot download repositories: clone it and use "
                           "source='local' with its directory")
    path = os.path.join(repo_dir, "hubconf.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file or directory: '{path}'")
    sys.path.insert(0, repo_dir)
    try:
        spec = importlib.util.spec_from_file_location("hubconf", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(repo_dir)
    missing = [d for d in getattr(module, "dependencies", [])
               if importlib.util.find_spec(d) is None]
    if missing:
        raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")
    return module


def _entry(module, model: str):
    if not isinstance(model, str):
        raise ValueError("Invalid input: model should be a string of function name")
    fn = getattr(module, model, None)
    if fn is None or not callable(fn):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return fn


def list(github: str, force_reload: bool = False, skip_validation: bool = False,  # noqa: A001
         trust_repo=None, verbose: bool = True, source: str = "github"):
    """The entry points (public callables) of the repository's ``hubconf.py``."""
    module = _hubconf(github, source)
    return [f for f in dir(module) if callable(getattr(module, f)) and not f.startswith("_")]


def help(github: str, model: str, force_reload: bool = False,  # noqa: A001
         skip_validation: bool = False, trust_repo=None, source: str = "github") -> str:
    """The docstring of the entry point ``model``."""
    return _entry(_hubconf(github, source), model).__doc__


def load(repo_or_dir: str, model: str, *args, source: str = "github", trust_repo=None,
         force_reload: bool = False, verbose: bool = True, skip_validation: bool = False,
         **kwargs) -> Any:
    """Call the entry point ``model`` of the repository's ``hubconf.py`` with the given
    arguments (``source="local"``: ``repo_or_dir`` is a directory)."""
    source = source.lower()
    return _entry(_hubconf(repo_or_dir, source), model)(*args, **kwargs)
