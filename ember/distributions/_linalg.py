"""Batched Cholesky factor and lower-triangular solve with autograd, for the matrix
distributions (ember has no ``linalg.cholesky``/``solve_triangular`` op yet).

Both are ``autograd.Function``s: NumPy forward, and torch's backward formulas (first order
only: the backward is not itself differentiable).
"""
from __future__ import annotations

import numpy as np

import ember

__all__ = ["cholesky", "solve_tril", "cholesky_info"]


def _mT(a: np.ndarray) -> np.ndarray:  # noqa: N802 (torch's name)
    return np.swapaxes(a, -1, -2)


def _solve_lower(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a^{-1} b`` for lower-triangular ``a`` (batched, same batch shape)."""
    return np.linalg.solve(a, b)


def _to_tensor(a: np.ndarray, like: ember.Tensor) -> ember.Tensor:
    return ember.tensor(np.ascontiguousarray(a), dtype=like.dtype)


class _Cholesky(ember.autograd.Function):
    """``L`` with ``A = L L^T``; backward: ``L^{-T} Phi(L^T gL) L^{-1}`` (torch's formula)."""

    @staticmethod
    def forward(ctx, a):
        try:
            low = np.linalg.cholesky(a.detach().numpy())
        except np.linalg.LinAlgError as err:
            raise RuntimeError("linalg.cholesky: The factorization could not be completed "
                               "because the input is not positive-definite.") from err
        out = _to_tensor(low, a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (low_t,) = ctx.saved_tensors
        low, g = low_t.detach().numpy(), grad.numpy()
        phi = np.tril(_mT(low) @ g)
        phi = 0.5 * (phi + _mT(np.tril(phi, -1)))
        low_t_inv_phi = np.linalg.solve(_mT(low), phi)
        ga = _mT(np.linalg.solve(_mT(low), _mT(low_t_inv_phi)))  # L^{-T} phi L^{-1}
        return _to_tensor(ga, grad)


class _SolveTril(ember.autograd.Function):
    """``X = A^{-1} B`` for lower-triangular ``A``; ``gB = A^{-T} gX``, ``gA = -tril(gB X^T)``."""

    @staticmethod
    def forward(ctx, a, b):
        x = _solve_lower(np.tril(a.detach().numpy()), b.detach().numpy())
        out = _to_tensor(x, b)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a_t, x_t = ctx.saved_tensors
        a = np.tril(a_t.detach().numpy())
        gb = np.linalg.solve(_mT(a), grad.numpy())
        ga = -np.tril(gb @ _mT(x_t.detach().numpy()))
        return _to_tensor(ga, grad), _to_tensor(gb, grad)


def cholesky(a: ember.Tensor) -> ember.Tensor:
    """The lower Cholesky factor of each symmetric positive-definite matrix in ``a``."""
    return _Cholesky.apply(a)


def solve_tril(a: ember.Tensor, b: ember.Tensor) -> ember.Tensor:
    """``a^{-1} b`` for lower-triangular ``a`` (``..., n, n``) and ``b`` (``..., n, k``),
    batch dims broadcast."""
    batch = ember.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = a.expand(tuple(batch) + tuple(a.shape[-2:]))
    b = b.expand(tuple(batch) + tuple(b.shape[-2:]))
    return _SolveTril.apply(a, b)


def cholesky_info(a: ember.Tensor) -> ember.Tensor:
    """A boolean tensor over the batch: whether each matrix has a Cholesky factor."""
    arr = a.detach().numpy()
    flat = arr.reshape((-1,) + arr.shape[-2:])
    ok = np.empty(len(flat), dtype=bool)
    for i, m in enumerate(flat):
        try:
            np.linalg.cholesky(m)
            ok[i] = True
        except np.linalg.LinAlgError:
            ok[i] = False
    return ember.tensor(ok.reshape(arr.shape[:-2]))
