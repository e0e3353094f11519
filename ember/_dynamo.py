"""``torch._dynamo``'s address for the compiler's user-facing knobs: ``explain`` (graphs,
breaks and their reasons), ``reset`` (forget compiled programs) and ``config``."""

from .compiler import config, explain, reset

__all__ = ["config", "explain", "reset"]
