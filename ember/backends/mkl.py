"""``ember.backends.mkl``: not used by ember (NumPy's own BLAS does the math)."""

from ._unavailable import is_available

__all__ = ["is_available"]
