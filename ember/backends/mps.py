"""``ember.backends.mps``: Apple's Metal backend, never available in ember."""

from ._unavailable import is_available

__all__ = ["is_available", "is_built"]


def is_built() -> bool:
    return False
