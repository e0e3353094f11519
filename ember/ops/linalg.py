"""Matrix products: matmul (with torch's 1-D and batched broadcasting rules), mm, bmm, ..."""

from __future__ import annotations

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, tensor_method
from ._util import dtype_name

__all__ = ["matmul"]


def _check_matmul(a, b) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_long(a)} != {_long(b)}")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if k_a != k_b:
        if a.ndim == 1 and b.ndim == 1:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and "
                               f"src [{b.shape[0]}] to have the same number of elements, but "
                               "got different")
        sa = "x".join(map(str, (int(np.prod(a.shape[:-1])), a.shape[-1]))) if a.ndim > 1 \
            else f"1x{a.shape[0]}"
        sb = "x".join(map(str, b.shape[-2:])) if b.ndim > 1 else f"{b.shape[0]}x1"
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")


_C_NAMES = {"Float": "float", "Double": "double", "Half": "c10::Half",
            "BFloat16": "c10::BFloat16", "Long": "long int", "Int": "int"}


def _long(a) -> str:
    """The C type name torch's dtype-mismatch message uses."""
    name = dtype_name(a)
    return _C_NAMES.get(name, name)


class Matmul(Op):
    @staticmethod
    def forward(ctx, a, b):
        _check_matmul(a, b)
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            return g * b, g * a
        if ctx.needs_input_grad[0]:
            if b.ndim == 1:
                ga = g.unsqueeze(-1) * b
            elif a.ndim == 1:
                ga = (g.unsqueeze(-2) @ b.mT).squeeze(-2)
            else:
                ga = g @ b.mT
        if ctx.needs_input_grad[1]:
            if a.ndim == 1:
                gb = a.unsqueeze(-1) * g.unsqueeze(-2)
            elif b.ndim == 1:
                gb = (a.mT @ g.unsqueeze(-1)).squeeze(-1)
            else:
                gb = a.mT @ g
        return ga, gb


def matmul(input, other, *, out=None) -> Tensor:
    return dispatch(Matmul, input, other)


tensor_method()(matmul)
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: dispatch(Matmul, other, self)
