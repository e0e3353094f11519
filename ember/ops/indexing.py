"""Indexing ops: getitem/setitem, gather/scatter, masked ops, sort/topk."""

from __future__ import annotations

__all__: list[str] = []
