"""``ember.backends.cudnn``: flags stored with torch's defaults; cuDNN is never available."""

from __future__ import annotations

import contextlib
import sys

from ._unavailable import is_available

__all__ = ["is_available", "version", "flags", "enabled", "benchmark", "deterministic",
           "allow_tf32", "benchmark_limit"]

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True
benchmark_limit = 10


def version() -> None:
    return None


@contextlib.contextmanager
def flags(enabled: bool = False, benchmark: bool = False, benchmark_limit: int = 10,
          deterministic: bool = False, allow_tf32: bool = True):
    """Set the flags for the duration of a ``with`` block."""
    module = sys.modules[__name__]
    names = ("enabled", "benchmark", "benchmark_limit", "deterministic", "allow_tf32")
    old = {n: getattr(module, n) for n in names}
    new = (enabled, benchmark, benchmark_limit, deterministic, allow_tf32)
    for n, v in zip(names, new):
        setattr(module, n, v)
    try:
        yield
    finally:
        for n, v in old.items():
            setattr(module, n, v)
