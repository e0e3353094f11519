"""``torch.sparse``: functions on sparse COO tensors (``ember/ops/sparse.py`` defines the
tensors and their ops)."""

from __future__ import annotations

from ._tensor import Tensor
from .ops.linalg import addmm as _addmm
from .ops.linalg import mm as _mm
from .ops.sparse import SparseTensor, sparse_coo_tensor, spmm

__all__ = ["mm", "addmm", "sum", "spmm", "sparse_coo_tensor"]


def mm(mat1: Tensor, mat2: Tensor, reduce: str | None = None) -> Tensor:
    """``mat1 @ mat2`` with a sparse ``mat1`` (COO) and a dense ``mat2``; differentiable in
    both (the sparse one's gradient keeps its pattern)."""
    if reduce not in (None, "sum"):
        raise NotImplementedError(f"sparse.mm: reduce={reduce!r} is not supported by ember")
    return _mm(mat1, mat2)


def addmm(mat: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1,
          alpha: float = 1) -> Tensor:
    """``beta * mat + alpha * (mat1 @ mat2)`` with a sparse ``mat1``."""
    return _addmm(mat, mat1, mat2, beta=beta, alpha=alpha)


def sum(input: Tensor, dim=None, dtype=None) -> Tensor:
    """The sum of all entries (a 0-d dense tensor); along ``dim``, a sparse tensor of the
    dims left, as torch gives."""
    if not isinstance(input, SparseTensor):
        raise RuntimeError("sparse.sum: expected a sparse tensor")
    if dim is None:
        return input._values().sum(dtype=dtype)
    return input.to_dense().sum(dim, dtype=dtype).to_sparse()
