"""Parameters: tensors that are module state."""

from __future__ import annotations

__all__: list[str] = []
