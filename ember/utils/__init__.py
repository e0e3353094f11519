"""Utilities: data loading, checkpoints, tensorboard, ..."""

from . import data

_LAZY_SUBMODULES = {"checkpoint", "hooks"}  # torch.utils.checkpoint/hooks, loaded on first use


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
