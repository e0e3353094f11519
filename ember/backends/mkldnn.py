"""``ember.backends.mkldnn``: not used by ember (NumPy's own BLAS does the math)."""

from ._unavailable import is_available

__all__ = ["is_available"]

enabled = True  # torch's default; the flag is stored only
