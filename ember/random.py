"""Random number generation: the default generator, ``manual_seed``, ``Generator``."""

from __future__ import annotations

__all__: list[str] = []
