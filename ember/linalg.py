"""``torch.linalg``'s norms (vector_norm, matrix_norm and norm, which picks between them),
svdvals, and multi_dot (defined with the other matrix products)."""

from __future__ import annotations

import math

import numpy as np

from ._dispatch import Op, dispatch
from ._state import STATE
from ._tensor import Tensor
from .ops import _meta
from .ops._util import wrap_dim
from .ops.creation import eye
from .ops.linalg import multi_dot
from .ops.reductions import _out, vector_norm

__all__ = ["vector_norm", "matrix_norm", "norm", "svdvals", "multi_dot"]


class _Svdvals(Op):
    """Singular values of the matrices in the last two dims, in descending order, without
    the singular vectors: what ``svdvals`` runs when no gradient is recorded."""

    aten = "linalg_svdvals"
    signature = "_svdvals(Tensor a) -> Tensor"
    kind = "opaque"
    differentiable = False  # with a gradient to record, svdvals runs _Svd

    @staticmethod
    def meta(a):
        return _meta.new(a.shape[:-2] + (min(a.shape[-2:]),), a.dtype)

    @staticmethod
    def forward(ctx, a):
        return np.linalg.svd(_lapack(a), compute_uv=False).astype(a.dtype, copy=False)


class _Svd(Op):
    """The reduced SVD ``a = U diag(S) Vh`` of the (real) matrices in the last two dims,
    singular values descending (torch's ``_linalg_svd`` with ``full_matrices=False``).
    Its backward is torch's ``svd_backward`` written with ember ops, so svdvals and the
    spectral and nuclear norms differentiate to any order."""

    aten = "_linalg_svd"
    signature = "_svd(Tensor a) -> (Tensor U, Tensor S, Tensor Vh)"
    kind = "opaque"

    @staticmethod
    def meta(a):
        *batch, m, n = a.shape
        k = min(m, n)
        batch = tuple(batch)
        return (_meta.new(batch + (m, k), a.dtype), _meta.new(batch + (k,), a.dtype),
                _meta.new(batch + (k, n), a.dtype))

    @staticmethod
    def forward(ctx, a):
        u, s, vh = (x.astype(a.dtype, copy=False)
                    for x in np.linalg.svd(_lapack(a), full_matrices=False))
        ctx.save_for_backward(u, s, vh)
        ctx.set_materialize_grads(False)
        return u, s, vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        return _svd_backward(gU, gS, gVh, *ctx.saved_tensors)


def _svd_backward(gU, gS, gVh, U: Tensor, S: Tensor, Vh: Tensor) -> Tensor:
    """The gradient of ``a`` from those of its reduced SVD's factors (any may be None), for
    real matrices: torch's ``svd_backward``. With ``E_jk = S_k^2 - S_j^2`` (1 on the
    diagonal) and ``skew(X) = X - X^T``::

        gA = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gS)] V^T
             + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T)

    (the last two terms only for tall, respectively wide, matrices). Repeated singular
    values make the singular vectors' gradient undefined (inf/NaN), as in torch."""
    if gU is None and gVh is None:
        return (U * gS.unsqueeze(-2)) @ Vh
    m, n, k = U.shape[-2], Vh.shape[-1], S.shape[-1]
    eye_k = eye(k, dtype=S.dtype)
    S2 = S * S
    inner = 0
    if gU is not None:
        UtgU = U.mT @ gU
        inner = (UtgU - UtgU.mT) * S.unsqueeze(-2)
    if gVh is not None:
        VtgV = Vh @ gVh.mT
        inner = inner + S.unsqueeze(-1) * (VtgV - VtgV.mT)
    inner = inner / (S2.unsqueeze(-2) - S2.unsqueeze(-1) + eye_k)
    if gS is not None:
        inner = inner + eye_k * gS.unsqueeze(-1)
    if m > n and gU is not None:
        gU_Sinv = gU / S.unsqueeze(-2)
        return (U @ inner + gU_Sinv - U @ (U.mT @ gU_Sinv)) @ Vh
    if m < n and gVh is not None:
        Sinv_gVh = gVh / S.unsqueeze(-1)
        return U @ (inner @ Vh + Sinv_gVh - (Sinv_gVh @ Vh.mT) @ Vh)
    return U @ (inner @ Vh)


def _lapack(a: np.ndarray) -> np.ndarray:
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)


def svdvals(A: Tensor, *, driver=None, out=None) -> Tensor:
    """The singular values; through the full reduced SVD when a gradient is recorded (its
    backward needs the singular vectors), as torch."""
    if STATE.grad_enabled and A.requires_grad:
        return _out(dispatch(_Svd, A)[1], out)
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
