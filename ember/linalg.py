"""``torch.linalg``'s norms (vector_norm, matrix_norm and norm, which picks between them),
svdvals, and multi_dot (defined with the other matrix products)."""

from __future__ import annotations

import math

import numpy as np

from ._dispatch import Op, dispatch
from ._tensor import Tensor
from .ops import _meta
from .ops._util import wrap_dim
from .ops.linalg import multi_dot
from .ops.reductions import _out, vector_norm

__all__ = ["vector_norm", "matrix_norm", "norm", "svdvals", "multi_dot"]


class _Svdvals(Op):
    """Singular values of the matrices in the last two dims, in descending order."""

    aten = "linalg_svdvals"
    signature = "_svdvals(Tensor a) -> Tensor"
    kind = "opaque"

    @staticmethod
    def meta(a):
        return _meta.new(a.shape[:-2] + (min(a.shape[-2:]),), a.dtype)

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.linalg.svd(_lapack(a), compute_uv=False).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return dispatch(_SvdvalsBackward, g, a)


class _SvdvalsBackward(Op):
    """``U diag(g) V^H``: the gradient of the singular values (distinct ones); torch's
    ``svd_backward`` with only the singular values' gradient."""

    aten = "svd_backward"
    signature = "_svdvalsbackward(Tensor g, Tensor a) -> Tensor"
    kind = "opaque"

    @staticmethod
    def meta(g, a):
        return _meta.new(a.shape, a.dtype)

    @staticmethod
    def forward(ctx, g, a):
        u, _, vh = np.linalg.svd(_lapack(a), full_matrices=False)
        return ((u * g[..., None, :]) @ vh).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, gg):
        raise RuntimeError("ember does not implement double backward through singular values "
                           "(svdvals, matrix_norm with ord 2, -2 or 'nuc') yet")


def _lapack(a: np.ndarray) -> np.ndarray:
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)


def svdvals(A: Tensor, *, driver=None, out=None) -> Tensor:
    return _out(dispatch(_Svdvals, A), out)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None,
                out=None) -> Tensor:
    """Frobenius, nuclear, 1, -1, 2, -2, inf and -inf norms of the matrices in ``dim``."""
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    if not A.is_floating_point():
        raise RuntimeError("linalg.matrix_norm: Expected a floating point or complex tensor as "
                           f"input. Got {A.dtype.scalar_name}")
    if dtype is not None:
        A = A.to(dtype)
    rows, cols = (wrap_dim(d, A.ndim) for d in dim)
    if rows == cols:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, "
                           f"{dim[1]})")
    if ord == "fro":
        return vector_norm(A, 2, (rows, cols), keepdim, out=out)
    if ord in ("nuc", 2, -2):
        perm = [d for d in range(A.ndim) if d not in (rows, cols)] + [rows, cols]
        s = svdvals(A.permute(perm))
        result = s.sum(-1) if ord == "nuc" else s.amax(-1) if ord == 2 else s.amin(-1)
        if keepdim:
            result = result.unsqueeze(min(rows, cols)).unsqueeze(max(rows, cols))
        return _out(result, out)
    if ord in (1, -1, math.inf, -math.inf):
        # 1: max over columns of the column sums of |A|; inf: the same for rows
        summed, picked = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = vector_norm(A, 1, summed, keepdim=True)
        result = sums.amax(picked, keepdim=True) if ord > 0 else sums.amin(picked, keepdim=True)
        return _out(result if keepdim else result.squeeze((rows, cols)), out)
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


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
