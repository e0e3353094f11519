"""Matrix factorisations and solvers of ``torch.linalg``: cholesky, solve_triangular, solve,
inv, det, slogdet, eigh, svd and qr, plus what torch composes from them (cholesky_solve,
cholesky_inverse, pinv, matrix_power, matrix_rank, logdet, the legacy ``torch.svd`` /
``torch.qr`` / ``torch.inverse``...).

Each factorisation is an op: LAPACK through NumPy forward, and torch's backward formula
written with ember ops (the solves in them are these ops again), so gradients of any
order work. Real float32/float64 matrices, batched over leading dims (batch dims of two
operands broadcast); complex and half-precision inputs get torch's errors or a clear
``NotImplementedError``. Failures (a singular matrix, one not positive-definite) raise
``linalg.LinAlgError`` (a ``RuntimeError``) with torch's message.
"""

from __future__ import annotations

import builtins
import math
import warnings

import numpy as np

from .._dispatch import Op, dispatch
from .._dtype import is_bfloat16, is_half
from .._tensor import Tensor, _make, tensor_method
from . import _meta
from ._return_types import return_type
from ._util import dtype_name
from .creation import eye

# torch's top-level names; ``ember.linalg`` takes the ``torch.linalg`` ones from here too
__all__ = ["cholesky", "cholesky_solve", "cholesky_inverse", "inverse", "det", "logdet",
           "slogdet", "svd", "qr", "pinverse", "matrix_power", "triangular_solve"]


class LinAlgError(RuntimeError):
    """A factorisation or solve failed on its input (``torch.linalg.LinAlgError``)."""


LinAlgError.__module__ = "ember.linalg"


# ---- checks -------------------------------------------------------------------------------

def _check_float(name: str, *arrays, kernel: str | None = None) -> None:
    """torch's dtype errors: floating point only, not half precision (an unimplemented
    LAPACK ``kernel`` where torch names one); ember's LAPACK path takes real ones."""
    for a in arrays:
        if not (a.dtype.kind in "fc" or is_bfloat16(a.dtype)):
            raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. "
                               f"Got {dtype_name(a)}")
        if is_half(a.dtype):
            if kernel:
                raise NotImplementedError(f'"{kernel}" not implemented for \'{dtype_name(a)}\'')
            raise RuntimeError(f"{name}: Low precision dtypes not supported. Got "
                               f"{dtype_name(a)}")
        if a.dtype.kind == "c":
            raise NotImplementedError(f"{name}: complex inputs are not supported by ember")
    if len(arrays) == 2 and arrays[0].dtype != arrays[1].dtype:
        raise RuntimeError(f"{name}: Expected A and B to have the same dtype, but found A of "
                           f"type {dtype_name(arrays[0])} and B of type "
                           f"{dtype_name(arrays[1])} instead")


def _check_square(name: str, a, what: str = "A") -> None:
    if a.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {what} must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{name}: {what} must be batches of square matrices, but they are "
                           f"{a.shape[-2]} by {a.shape[-1]} matrices")


def _batch(a_shape, b_shape) -> tuple:
    return tuple(np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2])))


def _check_system(name: str, a, b, left: bool) -> tuple:
    """Shapes of ``A X = B`` (``X A = B`` unless ``left``): the result's shape."""
    _check_square(name, a)
    if b.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    n = a.shape[-1]
    rows = b.shape[-2] if left else b.shape[-1]
    if rows != n:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({a.shape[-2]}x{n} and "
                           f"{b.shape[-2]}x{b.shape[-1]})")
    try:
        batch = _batch(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"{name}: The batch dimensions of A {tuple(a.shape[:-2])} and B "
                           f"{tuple(b.shape[:-2])} cannot be broadcast") from None
    return batch + tuple(b.shape[-2:])


def _batch_prefix(index: tuple, batched: bool) -> str:
    return f"(Batch element {index[0] if len(index) == 1 else index}): " if batched else ""


def _first_bad(a: np.ndarray, test) -> tuple | None:
    """The index of the first matrix of the batch ``a`` for which ``test(matrix)`` fails."""
    for index in np.ndindex(*a.shape[:-2]):
        if not test(a[index]):
            return index
    return None


# ---- triangular solve -----------------------------------------------------------------------

def _trsolve(a: np.ndarray, b: np.ndarray, upper: bool, unit: bool) -> np.ndarray:
    """``A^{-1} B`` for triangular ``A`` (the other triangle ignored; unit diagonal with
    ``unit``); a zero on the diagonal gives inf/nan as LAPACK's trsm does, no error."""
    t = np.triu(a, 1 if unit else 0) if upper else np.tril(a, -1 if unit else 0)
    if unit:
        t = t + np.eye(a.shape[-1], dtype=a.dtype)
    try:
        with np.errstate(all="ignore"):
            return np.linalg.solve(t, b).astype(b.dtype, copy=False)
    except np.linalg.LinAlgError:
        return _substitute(t, b, upper)


def _substitute(t: np.ndarray, b: np.ndarray, upper: bool) -> np.ndarray:
    """Forward (back) substitution, batched: what trsm computes, zero pivots included."""
    batch = _batch(t.shape, b.shape)
    t = np.broadcast_to(t, batch + t.shape[-2:])
    x = np.array(np.broadcast_to(b, batch + b.shape[-2:]), dtype=b.dtype)
    n = t.shape[-1]
    rows = range(n - 1, -1, -1) if upper else range(n)
    with np.errstate(all="ignore"):
        for i in rows:
            done = slice(i + 1, n) if upper else slice(0, i)
            x[..., i, :] -= np.einsum("...j,...jk->...k", t[..., i, done], x[..., done, :])
            x[..., i, :] /= t[..., i, i, None]
    return x


class SolveTriangular(Op):
    """``X`` with ``A X = B`` (``X A = B`` unless ``left``) for triangular ``A``."""

    aten = "linalg_solve_triangular"
    signature = ("linalg_solve_triangular(Tensor a, Tensor b, bool upper, bool left, "
                 "bool unitriangular) -> Tensor")

    @staticmethod
    def meta(a, b, upper, left, unitriangular):
        _check_float("linalg.solve_triangular", a, b, kernel="triangular_solve_cpu")
        return _meta.new(_check_system("linalg.solve_triangular", a, b, left), b.dtype)

    @staticmethod
    def forward(ctx, a, b, upper, left, unitriangular):
        SolveTriangular.meta(a, b, upper, left, unitriangular)
        if left:
            x = _trsolve(a, b, upper, unitriangular)
        else:  # X A = B  <=>  A^T X^T = B^T
            x = _trsolve(np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2), not upper,
                         unitriangular).swapaxes(-1, -2)
        x = np.ascontiguousarray(x)  # the output itself is saved: double backward sees it
        ctx.save_for_backward(a, x)
        ctx.flags = (upper, left, unitriangular)
        return x

    @staticmethod
    def backward(ctx, gx):
        a, x = ctx.saved_tensors
        upper, left, unit = ctx.flags
        need_a, need_b = ctx.needs_input_grad[:2]
        gb = dispatch(SolveTriangular, a.mT, gx, not upper, left, unit) \
            if need_a or need_b else None
        ga = None
        if need_a:
            ga = -(gb @ x.mT) if left else -(x.mT @ gb)
            diagonal = 1 if unit else 0
            ga = ga.triu(diagonal) if upper else ga.tril(-diagonal)
        return ga, gb if need_b else None, None, None, None


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,
                     unitriangular: bool = False, out: Tensor | None = None) -> Tensor:
    """``torch.linalg.solve_triangular``: ``A X = B`` (or ``X A = B``) for triangular
    ``A``; only ``A``'s ``upper`` (or lower) triangle is read."""
    x = dispatch(SolveTriangular, A, B, bool(upper), bool(left), bool(unitriangular))
    return x if out is None else out.copy_(x)


def triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False):
    """The legacy ``torch.triangular_solve``: ``(solution, cloned_coefficient)``."""
    _deprecated("torch.triangular_solve is deprecated in favor of "
                "torch.linalg.solve_triangularand will be removed in a future PyTorch release.")
    coeff = A.mT if transpose else A
    x = solve_triangular(coeff, b, upper=upper != transpose, unitriangular=unitriangular)
    return return_type("triangular_solve", ("solution", "cloned_coefficient"))(x, A.clone())


# ---- cholesky -------------------------------------------------------------------------------

def _unblocked_cholesky(a: np.ndarray) -> tuple[np.ndarray, int]:
    """The lower factor as far as it goes and the order of the first leading minor that is
    not positive-definite (0 when the factorisation completes): LAPACK's ``info``."""
    n = a.shape[-1]
    low = np.zeros_like(a)
    for j in range(n):
        d = a[j, j] - low[j, :j] @ low[j, :j]
        if not d > 0:
            return low, j + 1
        low[j, j] = np.sqrt(d)
        low[j + 1:, j] = (a[j + 1:, j] - low[j + 1:, :j] @ low[j, :j]) / low[j, j]
    return low, 0


def _cholesky(a: np.ndarray, name: str, check: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The lower Cholesky factors of the batch ``a`` and LAPACK's ``info`` per matrix; with
    ``check``, torch's error for the first matrix that is not positive-definite."""
    try:
        low = np.linalg.cholesky(a)
        return low, np.zeros(a.shape[:-2], np.int32)
    except np.linalg.LinAlgError:
        pass
    low = np.zeros_like(a)
    info = np.zeros(a.shape[:-2], np.int32)
    for index in np.ndindex(*a.shape[:-2]):
        low[index], info[index] = _unblocked_cholesky(np.asarray(a[index], np.float64))
        if check and info[index]:
            raise LinAlgError(f"{name}: {_batch_prefix(index, a.ndim > 2)}The factorization "
                              "could not be completed because the input is not positive-"
                              f"definite (the leading minor of order {info[index]} is not "
                              "positive-definite).")
    return low, info


class Cholesky(Op):
    """The Cholesky factor: lower ``L`` with ``A = L L^T`` (upper ``U = L^T`` with
    ``upper``); only the lower triangle of ``A`` is read."""

    aten = "linalg_cholesky"
    signature = "linalg_cholesky(Tensor a, bool upper) -> Tensor"

    @staticmethod
    def meta(a, upper):
        _check_float("linalg.cholesky", a, kernel="cholesky_cpu")
        _check_square("linalg.cholesky", a)
        return _meta.new(a.shape, a.dtype)

    @staticmethod
    def forward(ctx, a, upper):
        Cholesky.meta(a, upper)
        low, _ = _cholesky(a, "linalg.cholesky")
        out = np.ascontiguousarray(np.swapaxes(low, -1, -2) if upper else low)
        ctx.save_for_backward(out)
        ctx.upper = upper
        return out

    @staticmethod
    def backward(ctx, g):
        (factor,) = ctx.saved_tensors
        low, g = (factor.mT, g.mT) if ctx.upper else (factor, g)
        # torch's cholesky_backward: gA = L^{-T} Phi(L^T gL) L^{-1}, Phi = tril, diagonal
        # halved, written to be symmetric
        phi = (low.mT @ g).tril()
        phi = 0.5 * (phi + phi.tril(-1).mT)
        ga = dispatch(SolveTriangular, low.mT, phi, True, True, False)
        return dispatch(SolveTriangular, low, ga, False, False, False), None


def linalg_cholesky(A: Tensor, *, upper: bool = False, out: Tensor | None = None) -> Tensor:
    """``torch.linalg.cholesky``."""
    low = dispatch(Cholesky, A, bool(upper))
    return low if out is None else out.copy_(low)


def cholesky(input: Tensor, upper: bool = False, *, out: Tensor | None = None) -> Tensor:
    """The legacy ``torch.cholesky`` (deprecated in torch, with its warning)."""
    _deprecated("torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be "
                "removed in a future PyTorch release.")
    return linalg_cholesky(input, upper=upper, out=out)


def _deprecated(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=3)


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False, out=None):
    """``torch.linalg.cholesky_ex``: ``(L, info)``, ``info`` the order of the first leading
    minor that is not positive-definite (0: success) per matrix; raises only with
    ``check_errors``."""
    a = A._data
    _check_float("linalg.cholesky_ex", a)
    _check_square("linalg.cholesky_ex", a)
    _, info = _cholesky(a, "linalg.cholesky_ex", check=check_errors)
    result = return_type("linalg_cholesky_ex", ("L", "info"))
    if info.any():
        low, _ = _cholesky(a, "linalg.cholesky_ex", check=False)
        low = _make(np.ascontiguousarray(np.swapaxes(low, -1, -2) if upper else low)
                    .astype(a.dtype))
        return result(low, _make(info))
    return result(linalg_cholesky(A, upper=upper), _make(info))


def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False, *,
                   out: Tensor | None = None) -> Tensor:
    """``torch.cholesky_solve``: ``A^{-1} B`` from the Cholesky factor of ``A``."""
    low = L.mT if upper else L
    y = solve_triangular(low, B, upper=False)
    x = solve_triangular(low.mT, y, upper=True)
    return x if out is None else out.copy_(x)


def cholesky_inverse(L: Tensor, upper: bool = False, *, out: Tensor | None = None) -> Tensor:
    """``torch.cholesky_inverse``: ``A^{-1}`` from the Cholesky factor of ``A``."""
    ident = eye(L.shape[-1], dtype=L.dtype).expand(L.shape)
    x = cholesky_solve(ident, L, upper)
    return x if out is None else out.copy_(x)


# ---- general solve, inverse, determinants -----------------------------------------------------

def _singular_error(name: str, a: np.ndarray) -> LinAlgError:
    """torch's message for a singular matrix: LU's first zero pivot (1-based)."""
    index = _first_bad(a, lambda m: _zero_pivot(m) == 0) or ()
    pivot = _zero_pivot(np.asarray(a[index])) if index or a.ndim == 2 else 0
    prefix = _batch_prefix(index, a.ndim > 2)
    if name == "linalg.solve":
        return LinAlgError(f"torch.{name}: {prefix}The solver failed because the input matrix is "
                           "singular.")
    return LinAlgError(f"{name}: {prefix}The diagonal element {pivot} is zero, the inversion "
                       "could not be completed because the input matrix is singular.")


def _zero_pivot(m: np.ndarray) -> int:
    """The 1-based column of the first zero pivot of LU with partial pivoting (0: none)."""
    u = np.array(m, dtype=np.float64)
    n = u.shape[0]
    for j in range(n):
        p = j + int(np.argmax(np.abs(u[j:, j])))
        if u[p, j] == 0:
            return j + 1
        u[[j, p]] = u[[p, j]]
        u[j + 1:] -= np.outer(u[j + 1:, j] / u[j, j], u[j])
    return 0


class Solve(Op):
    """``X`` with ``A X = B`` (``X A = B`` unless ``left``), ``B`` a batch of matrices."""

    aten = "linalg_solve"
    signature = "linalg_solve(Tensor a, Tensor b, bool left) -> Tensor"

    @staticmethod
    def meta(a, b, left):
        _check_float("linalg.solve", a, b, kernel="lu_cpu")
        return _meta.new(_check_system("linalg.solve", a, b, left), b.dtype)

    @staticmethod
    def forward(ctx, a, b, left):
        Solve.meta(a, b, left)
        try:
            x = np.linalg.solve(a, b) if left else \
                np.linalg.solve(np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2)).swapaxes(-1, -2)
        except np.linalg.LinAlgError:
            raise _singular_error("linalg.solve", a) from None
        x = np.ascontiguousarray(x, dtype=b.dtype)  # saved as the output itself
        ctx.save_for_backward(a, x)
        ctx.left = left
        return x

    @staticmethod
    def backward(ctx, gx):
        a, x = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        gb = dispatch(Solve, a.mT, gx, ctx.left)
        ga = (-(gb @ x.mT) if ctx.left else -(x.mT @ gb)) if need_a else None
        return ga, gb if need_b else None, None


def _as_matrix_rhs(A: Tensor, B: Tensor, left: bool) -> bool:
    """torch's rule: ``B`` is a (batch of) vector(s) when it is 1-D or has ``A``'s batch
    shape plus one dim (only for ``left``)."""
    return left and (B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1]))


def solve(A: Tensor, B: Tensor, *, left: bool = True, out: Tensor | None = None) -> Tensor:
    """``torch.linalg.solve``: ``A X = B`` (``X A = B`` unless ``left``) for square ``A``."""
    if _as_matrix_rhs(A, B, left):
        x = dispatch(Solve, A, B.unsqueeze(-1), True).squeeze(-1)
    else:
        x = dispatch(Solve, A, B, bool(left))
    return x if out is None else out.copy_(x)


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False,
             out=None):
    """``torch.linalg.solve_ex``: ``(result, info)``; ``info`` 0 where solved."""
    return _ex("linalg_solve_ex", ("result", "info"), lambda m: solve(m, B, left=left), A,
               check_errors, vector=_as_matrix_rhs(A, B, left))


def _ex(name: str, fields: tuple, run, A: Tensor, check_errors: bool, vector: bool = False):
    """An ``*_ex`` variant: ``run(A)`` and ``info``, LU's first zero pivot per matrix (0:
    solved). Without ``check_errors`` a singular matrix does not raise: the others are
    solved and its result is NaN (LAPACK leaves garbage there)."""
    result = return_type(name, fields)
    a = A._data
    try:
        return result(run(A), _make(np.zeros(a.shape[:-2], np.int32)))
    except LinAlgError:
        if check_errors:
            raise
    info = np.zeros(a.shape[:-2], np.int32)
    for index in np.ndindex(*a.shape[:-2]):
        info[index] = _zero_pivot(a[index])
    bad = _make(info != 0)
    ident = eye(a.shape[-1], dtype=A.dtype)
    solved = run(ident.where(bad[..., None, None], A))  # singular ones swapped for I
    mask = bad[..., None] if vector else bad[..., None, None]
    return result(solved.masked_fill(mask, math.nan), _make(info))


class Inv(Op):
    """The inverse of each square matrix."""

    aten = "linalg_inv"
    signature = "linalg_inv(Tensor a) -> Tensor"

    @staticmethod
    def meta(a):
        _check_float("linalg.inv", a)
        _check_square("linalg.inv", a)
        return _meta.new(a.shape, a.dtype)

    @staticmethod
    def forward(ctx, a):
        Inv.meta(a)
        try:
            x = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise _singular_error("linalg.inv", a) from None
        x = np.ascontiguousarray(x, dtype=a.dtype)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -(x.mT @ g @ x.mT)


def inv(A: Tensor, *, out: Tensor | None = None) -> Tensor:
    """``torch.linalg.inv`` (and ``torch.inverse``)."""
    x = dispatch(Inv, A)
    return x if out is None else out.copy_(x)


inverse = inv


def inv_ex(A: Tensor, *, check_errors: bool = False, out=None):
    """``torch.linalg.inv_ex``: ``(inverse, info)``."""
    return _ex("linalg_inv_ex", ("inverse", "info"), inv, A, check_errors)


def _cofactor_t(a: Tensor) -> Tensor:
    """``d det(A) / dA`` (the transposed cofactor matrix) for any square ``A``, singular
    included, through the SVD: ``det(U) det(V^T) U diag(prod_{j != i} s_j) V^T``."""
    from .reductions import _Svd
    u, s, vh = dispatch(_Svd, a)
    n = s.shape[-1]
    others = s.unsqueeze(-2).expand(*s.shape[:-1], n, n)
    mask = eye(n, dtype=s.dtype).bool()
    prods = others.masked_fill(mask, 1.0).prod(-1)  # prod over j != i
    sign = dispatch(Det, u.detach()) * dispatch(Det, vh.detach())
    return sign[..., None, None] * ((u * prods.unsqueeze(-2)) @ vh)


class Det(Op):
    """The determinant of each square matrix."""

    aten = "linalg_det"
    signature = "linalg_det(Tensor a) -> Tensor"

    @staticmethod
    def meta(a):
        _check_float("linalg.det", a, kernel="lu_cpu")
        _check_square("linalg.det", a)
        return _meta.new(a.shape[:-2], a.dtype)

    @staticmethod
    def forward(ctx, a):
        Det.meta(a)
        d = np.asarray(np.linalg.det(a), dtype=a.dtype)
        ctx.save_for_backward(a, d)
        return d

    @staticmethod
    def backward(ctx, g):
        a, d = ctx.saved_tensors
        if bool((d.detach() != 0).all()):  # invertible: g det(A) A^{-T}
            return (g * d)[..., None, None] * dispatch(Inv, a).mT
        return g[..., None, None] * _cofactor_t(a)


def det(A: Tensor, *, out: Tensor | None = None) -> Tensor:
    """``torch.linalg.det`` (and ``torch.det``)."""
    d = dispatch(Det, A)
    return d if out is None else out.copy_(d)


class Slogdet(Op):
    """``(sign, log|det|)`` of each square matrix."""

    aten = "linalg_slogdet"
    signature = "linalg_slogdet(Tensor a) -> (Tensor sign, Tensor logabsdet)"

    @staticmethod
    def meta(a):
        _check_float("linalg.slogdet", a)
        _check_square("linalg.slogdet", a)
        return _meta.new(a.shape[:-2], a.dtype), _meta.new(a.shape[:-2], a.dtype)

    @staticmethod
    def forward(ctx, a):
        Slogdet.meta(a)
        sign, logabs = np.linalg.slogdet(a)
        sign, logabs = np.asarray(sign, a.dtype), np.asarray(logabs, a.dtype)
        ctx.save_for_backward(a)
        ctx.set_materialize_grads(False)
        return sign, logabs  # sign requires grad as in torch; its gradient is 0 (real A)

    @staticmethod
    def backward(ctx, gsign, glogabs):
        (a,) = ctx.saved_tensors
        if glogabs is None:
            from .creation import zeros_like
            return zeros_like(a)
        return glogabs[..., None, None] * dispatch(Inv, a).mT


def slogdet(A: Tensor, *, out=None):
    """``torch.linalg.slogdet``: ``(sign, logabsdet)``."""
    sign, logabs = dispatch(Slogdet, A)
    return return_type("linalg_slogdet", ("sign", "logabsdet"))(sign, logabs)


def logdet(A: Tensor) -> Tensor:
    """``torch.logdet``: ``log det(A)``, nan for a negative determinant."""
    sign, logabs = dispatch(Slogdet, A)
    return logabs + (sign.detach() < 0).to(logabs.dtype).masked_fill(sign.detach() < 0,
                                                                      math.nan)


# ---- symmetric eigendecomposition ------------------------------------------------------------

class Eigh(Op):
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric matrices, read
    from the ``UPLO`` triangle."""

    aten = "linalg_eigh"
    signature = "linalg_eigh(Tensor a, str uplo) -> (Tensor eigenvalues, Tensor eigenvectors)"

    @staticmethod
    def meta(a, uplo):
        _check_float("linalg.eigh", a, kernel="linalg_eigh_cpu")
        _check_square("linalg.eigh", a)
        if uplo not in ("L", "U"):
            raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {uplo}")
        return _meta.new(a.shape[:-1], a.dtype), _meta.new(a.shape, a.dtype)

    @staticmethod
    def forward(ctx, a, uplo):
        Eigh.meta(a, uplo)
        w, v = np.linalg.eigh(a, UPLO=uplo)
        w, v = np.ascontiguousarray(w, a.dtype), np.ascontiguousarray(v, a.dtype)
        ctx.save_for_backward(w, v)
        ctx.set_materialize_grads(False)
        return w, v

    @staticmethod
    def backward(ctx, gw, gv):
        w, v = ctx.saved_tensors
        # torch's linalg_eig_backward (hermitian): gA = V (skew(V^T gV) / E + diag(gw)) V^T,
        # E_ij = w_j - w_i (1 on the diagonal)
        n = w.shape[-1]
        ident = eye(n, dtype=w.dtype)
        inner = 0
        if gv is not None:
            vtgv = v.mT @ gv
            gap = w.unsqueeze(-2) - w.unsqueeze(-1) + ident
            inner = (0.5 * (vtgv - vtgv.mT)) / gap * (1 - ident)
        if gw is not None:
            inner = inner + ident * gw.unsqueeze(-1)
        return v @ (inner @ v.mT), None


def eigh(A: Tensor, UPLO: str = "L", *, out=None):  # noqa: N803 (torch's name)
    """``torch.linalg.eigh``: ``(eigenvalues, eigenvectors)``, eigenvalues ascending."""
    w, v = dispatch(Eigh, A, UPLO)
    return return_type("linalg_eigh", ("eigenvalues", "eigenvectors"))(w, v)


def eigvalsh(A: Tensor, UPLO: str = "L", *, out=None) -> Tensor:  # noqa: N803
    """``torch.linalg.eigvalsh``: the eigenvalues of symmetric matrices, ascending."""
    w = dispatch(Eigh, A, UPLO)[0]
    return w if out is None else out.copy_(w)


# ---- SVD and QR -------------------------------------------------------------------------------

def linalg_svd(A: Tensor, full_matrices: bool = True, *, driver=None, out=None):
    """``torch.linalg.svd``: ``(U, S, Vh)``. With ``full_matrices`` the extra columns of
    ``U`` (rows of ``Vh``) complete an orthonormal basis; gradients flowing into them are
    ignored, as in torch."""
    from .reductions import _check_svd, _Svd
    _check_svd(A._data)
    u, s, vh = dispatch(_Svd, A)
    m, n = A.shape[-2:]
    if full_matrices and m != n:
        from .shape import cat
        full_u, _, full_vh = np.linalg.svd(A.detach()._data, full_matrices=True)
        k = builtins.min(m, n)
        if m > n:
            u = cat([u, _make(np.ascontiguousarray(full_u[..., k:]))], -1)
        else:
            vh = cat([vh, _make(np.ascontiguousarray(full_vh[..., k:, :]))], -2)
    return return_type("linalg_svd", ("U", "S", "Vh"))(u, s, vh)


def svd(input: Tensor, some: bool = True, compute_uv: bool = True, *, out=None):
    """The legacy ``torch.svd``: ``(U, S, V)`` (``V``, not ``Vh``); reduced unless
    ``some=False``; zero ``U``/``V`` without ``compute_uv``."""
    u, s, vh = linalg_svd(input, full_matrices=not some)
    if not compute_uv:
        from .creation import zeros_like
        u, vh = zeros_like(u), zeros_like(vh)
    return return_type("svd", ("U", "S", "V"))(u, s, vh.mT)


class Qr(Op):
    """The reduced QR factorisation ``A = Q R`` (``Q`` with orthonormal columns, ``R``
    upper triangular), or ``R`` alone (``mode="r"``) or the complete one."""

    aten = "linalg_qr"
    signature = "linalg_qr(Tensor a, str mode) -> (Tensor Q, Tensor R)"

    @staticmethod
    def meta(a, mode):
        _check_float("linalg.qr", a, kernel="geqrf_cpu")
        if a.ndim < 2:
            raise RuntimeError("linalg.qr: The input tensor A must have at least 2 dimensions.")
        if mode not in ("reduced", "complete", "r"):
            raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                               "'reduced' (default), 'r', or 'complete'")
        *batch, m, n = a.shape
        k = builtins.min(m, n)
        batch = tuple(batch)
        q_cols, r_rows = (m, m) if mode == "complete" else (k, k)
        q = _meta.new(batch + (m, q_cols) if mode != "r" else (0,), a.dtype)
        return q, _meta.new(batch + (r_rows, n), a.dtype)

    @staticmethod
    def forward(ctx, a, mode):
        Qr.meta(a, mode)
        q, r = np.linalg.qr(a, mode="complete" if mode == "complete" else "reduced")
        q, r = np.ascontiguousarray(q, a.dtype), np.ascontiguousarray(r, a.dtype)
        if mode == "r":
            q = np.zeros((0,), a.dtype)
        ctx.save_for_backward(q, r)
        ctx.mode = mode
        ctx.set_materialize_grads(False)
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        q, r = ctx.saved_tensors
        m, n = q.shape[-2], r.shape[-1]
        if ctx.mode == "r" or (ctx.mode == "complete" and m > n):
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed "
                               "when mode='r'. Please use linalg.qr(A, mode='reduced') if you "
                               "are going to differentiate through linalg.qr."
                               if ctx.mode == "r" else
                               "The QR decomposition is not differentiable when mode='complete' "
                               "and nrows > ncols.")
        return _qr_backward(gq, gr, q, r), None


def _qr_backward(gq, gr, q: Tensor, r: Tensor) -> Tensor:
    """The gradient of ``A = Q R`` (reduced): for ``m >= n``,
    ``gA = (gQ + Q copyltu(M)) R^{-T}`` with ``M = R gR^T - gQ^T Q`` and ``copyltu`` the
    lower triangle mirrored up; a wide ``A = [X | Y]`` splits ``R = [U | V]`` and treats
    ``X = Q U`` as square with ``gQ + Y gV^T``."""
    m, n = q.shape[-2], r.shape[-1]
    if gq is None:
        from .creation import zeros_like
        gq = zeros_like(q)
    if gr is None:
        from .creation import zeros_like
        gr = zeros_like(r)
    if m >= n:
        return _qr_backward_tall(gq, gr, q, r)
    from .shape import cat
    u, v = r[..., :, :m], r[..., :, m:]
    gu, gv = gr[..., :, :m], gr[..., :, m:]
    y = q @ v
    gx = _qr_backward_tall(gq + y @ gv.mT, gu, q, u)
    return cat([gx, q @ gv], -1)


def _qr_backward_tall(gq: Tensor, gr: Tensor, q: Tensor, r: Tensor) -> Tensor:
    m = r @ gr.mT - gq.mT @ q
    low = m.tril(-1)
    sym = low + low.mT + m.diagonal(0, -2, -1).diag_embed()
    b = gq + q @ sym
    return dispatch(SolveTriangular, r.mT, b, False, False, False)  # b R^{-T}


def linalg_qr(A: Tensor, mode: str = "reduced", *, out=None):
    """``torch.linalg.qr``: ``(Q, R)``; ``mode`` reduced, complete or r (``Q`` empty)."""
    q, r = dispatch(Qr, A, mode)
    return return_type("linalg_qr", ("Q", "R"))(q, r)


def qr(input: Tensor, some: bool = True, *, out=None):
    """The legacy ``torch.qr``: reduced unless ``some=False``."""
    _deprecated("torch.qr is deprecated in favor of torch.linalg.qr and will be removed in a "
                "future PyTorch release.")
    q, r = dispatch(Qr, input, "reduced" if some else "complete")
    return return_type("qr", ("Q", "R"))(q, r)


# ---- composites -------------------------------------------------------------------------------

def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False, out=None) -> Tensor:
    """``torch.linalg.pinv``: the pseudo-inverse through the SVD, singular values below
    ``max(atol, rtol * s_max)`` dropped (``rtol`` defaults to ``eps * max(m, n)`` when
    neither is given)."""
    u, s, vh = linalg_svd(A, full_matrices=False)
    keep = s.detach() > _cutoff(s.detach(), A, atol, rtol)
    s_inv = (1 / s.masked_fill(~keep, 1.0)).masked_fill(~keep, 0.0)
    x = (vh.mT * s_inv.unsqueeze(-2)) @ u.mT
    return x if out is None else out.copy_(x)


def _cutoff(s: Tensor, A: Tensor, atol, rtol) -> Tensor:
    """torch's singular-value cutoff of pinv and matrix_rank, per matrix (keepdim):
    ``max(atol, rtol * s_max)``, ``rtol`` defaulting to ``eps * max(m, n)`` when neither
    is given."""
    if atol is None and rtol is None:
        rtol = float(np.finfo(A._data.dtype).eps) * builtins.max(A.shape[-2:])
    smax = s.amax(-1, keepdim=True) if s.shape[-1] else s
    cutoff = smax * (0.0 if rtol is None else float(rtol))
    return cutoff if atol is None else cutoff.clamp(min=float(atol))


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse``: ``linalg.pinv`` with relative cutoff ``rcond``."""
    return pinv(input, rtol=rcond)


def matrix_power(A: Tensor, n: int, *, out=None) -> Tensor:
    """``torch.linalg.matrix_power``: ``A^n`` by repeated squaring (``n < 0``: of the
    inverse; ``n == 0``: the identity)."""
    _check_square("linalg.matrix_power", A._data)
    if n == 0:  # A's copy overwritten, as torch: the identity, with A's (zero) gradient
        result = A.clone().copy_(eye(A.shape[-1], dtype=A.dtype).expand(A.shape))
    else:
        base = inv(A) if n < 0 else A
        n = abs(n)
        result = None
        while n:
            if n & 1:
                result = base if result is None else result @ base
            n >>= 1
            if n:
                base = base @ base
    return result if out is None else out.copy_(result)


def matrix_rank(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False, tol=None,
                out=None) -> Tensor:
    """``torch.linalg.matrix_rank``: singular values above the cutoff of ``pinv``."""
    from .reductions import svdvals
    s = svdvals(A.detach())
    if tol is not None:
        atol, rtol = tol, 0.0
    rank = (s > _cutoff(s, A, atol, rtol)).sum(-1)
    return rank if out is None else out.copy_(rank)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1, out=None) -> Tensor:
    """``torch.linalg.vecdot``: ``sum(x * y, dim)`` (real inputs)."""
    r = (x * y).sum(dim)
    return r if out is None else out.copy_(r)


for _fn in (cholesky, cholesky_solve, cholesky_inverse, inverse, det, logdet, slogdet, svd, qr,
            pinverse, matrix_power, triangular_solve):
    tensor_method(_fn.__name__)(_fn)
