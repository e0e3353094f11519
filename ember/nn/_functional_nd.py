"""Functional conv, pooling, normalization, resampling, padding and attention."""

from __future__ import annotations

__all__: list[str] = []
