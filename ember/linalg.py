"""``torch.linalg``: norm (which picks a vector or a matrix norm), and the functions defined
with their families -- vector_norm, matrix_norm and svdvals with the reductions, multi_dot,
matmul and cross with the matrix products, the factorisations and solvers
(``ops/decompositions.py``)."""

from __future__ import annotations

from ._tensor import Tensor
from .ops.decompositions import (
    LinAlgError,
    cholesky_ex,
    det,
    eigh,
    eigvalsh,
    inv,
    inv_ex,
    matrix_power,
    matrix_rank,
    pinv,
    slogdet,
    solve,
    solve_ex,
    solve_triangular,
    vecdot,
)
from .ops.decompositions import linalg_cholesky as cholesky
from .ops.decompositions import linalg_qr as qr
from .ops.decompositions import linalg_svd as svd
from .ops.linalg import matmul, multi_dot
from .ops.reductions import matrix_norm, svdvals, vector_norm

__all__ = ["vector_norm", "matrix_norm", "norm", "svdvals", "multi_dot", "matmul",
           "LinAlgError", "cholesky", "cholesky_ex", "solve_triangular", "solve", "solve_ex",
           "inv", "inv_ex", "det", "slogdet", "eigh", "eigvalsh", "svd", "qr", "pinv",
           "matrix_power", "matrix_rank", "vecdot"]


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, out=None,
         dtype=None) -> Tensor:
    """A vector norm over one dim (or all of them when ``ord`` and ``dim`` are None) and a
    matrix norm over two dims (or a 2-D input when only ``ord`` is given)."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None and ord is not None:
        if A.ndim not in (1, 2):
            raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must "
                               f"be 1D or 2D. Got {A.ndim}D.")
        dim = tuple(range(A.ndim))
    if isinstance(ord, str) or (dim is not None and len(dim) == 2):
        return matrix_norm(A, "fro" if ord is None else ord, (-2, -1) if dim is None else dim,
                           keepdim, dtype=dtype, out=out)
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype, out=out)
