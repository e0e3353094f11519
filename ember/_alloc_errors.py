"""NumPy's allocation failures in torch's terms.

NumPy reports an allocation it cannot make as ``MemoryError`` and a size whose byte count
overflows as ``ValueError``; torch raises ``RuntimeError`` for both, naming the size
(``DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes``,
``Storage size calculation overflowed``). The dispatcher maps them here, so code written
for torch (``except RuntimeError``) sees the error it expects.
"""

from __future__ import annotations

__all__ = ["OutOfMemoryError", "allocation_error"]

# NumPy's messages for sizes whose byte count (or a single dim) does not fit in an intp
_OVERFLOW_MESSAGES = ("array is too big", "Maximum allowed dimension exceeded")


class OutOfMemoryError(RuntimeError, MemoryError):
    """An allocation that failed: torch's ``RuntimeError``, and still a ``MemoryError``
    for code that catches Python's own."""


def allocation_error(exc: BaseException) -> RuntimeError | None:
    """torch's error for NumPy's allocation failure ``exc``; None for any other error."""
    if isinstance(exc, RuntimeError):
        return None  # already translated by an inner dispatch
    if isinstance(exc, MemoryError):
        nbytes = getattr(exc, "_total_size", None)  # numpy's _ArrayMemoryError knows it
        size = f"you tried to allocate {nbytes} bytes" if nbytes is not None else str(exc)
        return OutOfMemoryError(f"DefaultCPUAllocator: can't allocate memory: {size}. "
                                "Error code 12 (Cannot allocate memory)")
    if isinstance(exc, ValueError) and str(exc).startswith(_OVERFLOW_MESSAGES):
        return RuntimeError(f"Storage size calculation overflowed ({exc})")
    return None
