"""Shared pieces of the backends ember never has."""

from __future__ import annotations


def is_available() -> bool:
    """False: ember does not use this backend."""
    return False
