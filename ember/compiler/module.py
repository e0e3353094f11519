"""``compile(module)``: an ``OptimizedModule`` whose calls run the compiled forward.

As torch's, it is a Module holding the original as ``_orig_mod`` (so its ``state_dict``
keys carry the ``_orig_mod.`` prefix, and the original module's own ``state_dict`` does
not), and reaches the original's attributes.
"""

from __future__ import annotations

from ..nn.modules.module import Module
from .frontend import CompiledFunction

__all__ = ["OptimizedModule", "make_optimized_module"]


class OptimizedModule(Module):
    """A compiled ``nn.Module``: ``forward`` goes through ``ember.compile``."""

    def __init__(self, mod: Module, compiled: CompiledFunction):
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_compiled", compiled)

    def forward(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["_orig_mod"], name)

    def train(self, mode: bool = True) -> OptimizedModule:
        self._orig_mod.train(mode)
        return super().train(mode)


def make_optimized_module(mod: Module, **options) -> OptimizedModule:
    """``mod`` compiled: its ``__call__`` (hooks included) is what gets captured."""
    return OptimizedModule(mod, CompiledFunction(mod, module=mod, **options))
