"""Printing tensors as torch does: ``tensor([1., 2.], requires_grad=True)``."""

from __future__ import annotations

import numpy as np

from . import _dtype


def type_name(t) -> str:
    """The legacy type string, e.g. ``torch.FloatTensor``."""
    return f"torch.{t.dtype.scalar_name}Tensor"


def tensor_repr(t) -> str:
    arr = t._data
    if arr.dtype == _dtype.bfloat16.np or arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    body = np.array2string(arr, separator=", ", prefix="tensor(")
    extras = []
    dt = t.dtype
    if dt not in (_dtype.get_default_dtype(), _dtype.int64, _dtype.bool):
        extras.append(f"dtype={dt!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + extras) + ")"
