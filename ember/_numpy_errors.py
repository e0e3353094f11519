"""NumPy's errors in torch's terms.

The kernels are NumPy, so a bad size surfaces as NumPy's exception: ``MemoryError`` for an
allocation it cannot make, ``ValueError`` for a byte count that overflows or for shapes
that do not broadcast. torch raises ``RuntimeError`` for all of these, naming the sizes
(``DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes``,
``Storage size calculation overflowed``, ``The size of tensor a (3) must match the size of
tensor b (4) at non-singleton dimension 1``). The dispatcher maps them here, so code
written for torch (``except RuntimeError``) sees the error it expects.
"""

from __future__ import annotations

import re

__all__ = ["OutOfMemoryError", "torch_error"]

# NumPy's messages for sizes whose byte count (or a single dim) does not fit in an intp
_OVERFLOW_MESSAGES = ("array is too big", "Maximum allowed dimension exceeded")
_BROADCAST_MESSAGES = ("operands could not be broadcast", "shape mismatch: objects cannot be "
                       "broadcast")
_SHAPE = re.compile(r"\(([\d,\s]*)\)")


class OutOfMemoryError(RuntimeError, MemoryError):
    """An allocation that failed: torch's ``RuntimeError``, and still a ``MemoryError``
    for code that catches Python's own."""


def torch_error(exc: BaseException) -> RuntimeError | None:
    """torch's error for NumPy's allocation or broadcasting failure ``exc``; None for any
    other error (which then propagates unchanged)."""
    if isinstance(exc, RuntimeError):
        return None  # already translated by an inner dispatch
    if isinstance(exc, MemoryError):
        nbytes = getattr(exc, "_total_size", None)  # numpy's _ArrayMemoryError knows it
        size = f"you tried to allocate {nbytes} bytes" if nbytes is not None else str(exc)
        return OutOfMemoryError(f"DefaultCPUAllocator: can't allocate memory: {size}. "
                                "Error code 12 (Cannot allocate memory)")
    if not isinstance(exc, ValueError):
        return None
    message = str(exc)
    if message.startswith(_OVERFLOW_MESSAGES):
        return RuntimeError(f"Storage size calculation overflowed ({message})")
    if message.startswith(_BROADCAST_MESSAGES):
        return RuntimeError(_broadcast_message(message))
    return None


def _broadcast_message(message: str) -> str:
    """torch's wording for the first two shapes NumPy names that do not broadcast."""
    shapes = [tuple(int(n) for n in s.split(",") if n.strip())
              for s in _SHAPE.findall(message)]
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            ndim = max(len(a), len(b))
            pa, pb = (1,) * (ndim - len(a)) + a, (1,) * (ndim - len(b)) + b
            for dim, (m, n) in enumerate(zip(pa, pb)):
                if m != n and 1 not in (m, n):
                    return (f"The size of tensor a ({m}) must match the size of tensor b ({n}) "
                            f"at non-singleton dimension {dim}")
    return f"The sizes of the tensors must match at non-singleton dimensions ({message})"
