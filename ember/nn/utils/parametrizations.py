"""``torch.nn.utils.parametrizations``: ``weight_norm``, ``spectral_norm`` and
``orthogonal`` as parametrizations (``nn.utils.parametrize``), as torch's.

- ``weight_norm``: ``weight = g * v / ||v||`` (norm over all dims but ``dim``), stored as
  ``original0`` (g) and ``original1`` (v); old checkpoints with ``weight_g``/``weight_v``
  load through a state-dict hook.
- ``spectral_norm``: ``weight / sigma``, sigma estimated by power iteration on buffers
  ``_u``/``_v`` that advance once per forward in training mode.
- ``orthogonal``: an orthogonal (unitary) matrix from an unconstrained one, by the matrix
  exponential or Cayley map of a skew-symmetric matrix, or a product of Householder
  reflections; with ``use_trivialization`` the map is applied around a ``base`` that
  ``right_inverse`` sets. The matrix exponential is a scaling-and-squaring Taylor series in
  ember ops (differentiable); the Cayley map needs a linear solve and the Householder map
  an orthogonal factor, both written with ember ops here.
"""

from __future__ import annotations

import math
from enum import Enum, auto

import numpy as np

from ..._tensor import Tensor, _make
from ...autograd import no_grad
from ...ops.creation import eye, zeros_like
from ...ops.shape import cat
from .. import functional as F
from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..modules.module import Module
from . import parametrize

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:  # noqa: A002
    """The ``pow``-norm of ``v`` over every dim but ``dim``, shaped to broadcast against
    ``v`` (``dim=-1``: over all dims), as ``torch.norm_except_dim``."""
    if dim == -1:
        return v.norm(pow)
    dims = [d for d in range(v.ndim) if d != dim % v.ndim]
    return v.abs().pow(pow).sum(dims, keepdim=True).pow(1.0 / pow) if pow != 2 else \
        (v * v).sum(dims, keepdim=True).sqrt()


def _weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    return v * (g / norm_except_dim(v, 2, dim))


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrize ``module.<name>`` as magnitude times direction (``g * v / ||v||``)."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def compat_hook(state_dict, prefix, local_metadata, strict, missing_keys,
                    unexpected_keys, error_msgs):
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module._register_load_state_dict_pre_hook(compat_hook)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError("Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            u = weight_mat.new_empty(h).normal_(0, 1)
            v = weight_mat.new_empty(w).normal_(0, 1)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        with no_grad():
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(weight_mat.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(weight_mat.mH.mv(self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = u.conj().dot(weight_mat.mv(v)) if u.is_complex() else u.dot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Divide ``module.<name>`` by its spectral norm (largest singular value), estimated by
    ``n_power_iterations`` power iterations per training forward."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) \
            else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ---- orthogonal ------------------------------------------------------------------------------

class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


def _matrix_exp(a: Tensor) -> Tensor:
    """``exp(a)`` for a batch of square matrices: scale by 2^-s so that the norm is below
    1/2, sum 18 terms of the Taylor series (error < 1e-16 relative), square s times. Built
    from matmuls, so autograd differentiates it."""
    n = a.shape[-1]
    norm = float(np.abs(a.detach()._data).sum(-2).max()) if a.numel() else 0.0
    s = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0
    a = a / (2 ** s)
    result = eye(n, dtype=a.dtype) + a
    term = a
    for k in range(2, 19):
        term = term.matmul(a) / k
        result = result + term
    for _ in range(s):
        result = result.matmul(result)
    return result


def _solve(a: Tensor, b: Tensor) -> Tensor:
    """``a^-1 b`` by Gauss-Jordan elimination with partial pivoting, in ember ops (so it is
    differentiable); pivots are chosen on the values, which carry no gradient."""
    n = a.shape[-1]
    m = cat([a, b], -1)
    for col in range(n):
        piv = np.abs(m.detach()._data[..., col:, col]).argmax(-1) + col  # (batch...)
        perm = np.broadcast_to(np.arange(n), m.shape[:-1]).copy()
        idx = np.indices(piv.shape) if piv.ndim else ()
        rows = perm[(*idx, col)] if piv.ndim else perm[col]
        if piv.ndim:
            perm[(*idx, col)] = perm[(*idx, piv)]
            perm[(*idx, piv)] = rows
        else:
            perm[col], perm[piv] = perm[piv], rows
        m = m.gather(-2, _make(np.broadcast_to(perm[..., None], m.shape).copy()))
        pivot_row = m[..., col:col + 1, :] / m[..., col:col + 1, col:col + 1]
        factors = m[..., :, col:col + 1]
        mask = _make((np.arange(n) == col)[:, None].astype(m._data.dtype))
        m = m - factors * pivot_row * (1 - mask) + (pivot_row - m) * mask
    return m[..., n:]


def _householder_product(a: Tensor, tau: Tensor) -> Tensor:
    """The first ``k`` columns of ``H_1 ... H_k``, ``H_i = I - tau_i v_i v_i^H`` with
    ``v_i`` the i-th column of ``a`` below the diagonal and 1 on it (LAPACK's ``orgqr``), as
    ``torch.linalg.householder_product``; in ember ops."""
    n, k = a.shape[-2], a.shape[-1]
    q = eye(n, dtype=a.dtype).expand(*a.shape[:-2], n, n)
    rows = np.arange(n)
    for i in reversed(range(k)):
        below = _make((rows > i).astype(a._data.dtype)[:, None])
        unit = _make((rows == i).astype(a._data.dtype)[:, None])
        v = a[..., :, i:i + 1] * below + unit  # (..., n, 1)
        q = q - tau[..., i:i + 1, None] * v.matmul(v.mH.matmul(q))
    return q[..., :k]


def _make_orthogonal(a: Tensor) -> Tensor:
    """The Q factor of ``a``'s QR decomposition with R's diagonal made positive."""
    q, r = np.linalg.qr(a.detach()._data)
    d = np.diagonal(r, axis1=-2, axis2=-1)
    sign = np.where(d == 0, 1, d / np.abs(np.where(d == 0, 1, d)))
    return _make((q * sign[..., None, :]).astype(a._data.dtype))


def _is_orthogonal(q: Tensor) -> bool:
    n, k = q.shape[-2], q.shape[-1]
    eps = 10.0 * n * float(np.finfo(q._data.dtype).eps)
    prod = (q.mH.matmul(q)).detach()._data
    return bool(np.allclose(prod, np.eye(k), atol=eps, rtol=0))


def _geqrf(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LAPACK's ``geqrf`` (Householder vectors below the diagonal, R on and above it, and the
    reflectors' ``tau``), from NumPy's ``qr(mode="raw")``."""
    batch = q.shape[:-2]
    flat = q.reshape((-1,) + q.shape[-2:])
    outs, taus = [], []
    for m in flat:
        h, tau = np.linalg.qr(m, mode="raw")
        outs.append(h.T)
        taus.append(tau)
    return (np.stack(outs).reshape(q.shape).astype(q.dtype),
            np.stack(taus).reshape(batch + (taus[0].shape[-1],)).astype(q.dtype))


class _Orthogonal(Module):
    def __init__(self, weight: Tensor, orthogonal_map: _OrthMaps, *,
                 use_trivialization: bool = True) -> None:
        super().__init__()
        if weight.is_complex() and orthogonal_map == _OrthMaps.householder:
            raise ValueError("The householder parametrization does not support complex "
                             "tensors.")
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        if transposed:
            x = x.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            x = x.tril()
            if n != k:
                x = cat([x, x.new_zeros(n, n - k).expand(*x.shape[:-2], -1, -1)], -1)
            a = x - x.mH
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                q = _matrix_exp(a)
            else:
                identity = eye(n, dtype=a.dtype)
                q = _solve(identity - a * 0.5, identity + a * 0.5)
            if n != k:
                q = q[..., :k]
        else:
            a = x.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (a * a).sum(-2))
            q = _householder_product(a, tau)
            q = q * x.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        if "base" in self._buffers:
            q = self.base.matmul(q)
        if transposed:
            q = q.mT
        return q

    def right_inverse(self, q: Tensor) -> Tensor:
        with no_grad():
            if q.shape != self.shape:
                raise ValueError(f"Expected a matrix or batch of matrices of shape "
                                 f"{self.shape}. Got a tensor of shape {q.shape}.")
            q_init = q
            n, k = q.shape[-2], q.shape[-1]
            transpose = n < k
            if transpose:
                q = q.mT
                n, k = k, n
            if "base" not in self._buffers:
                if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                    raise NotImplementedError("It is not possible to assign to the matrix "
                                              "exponential or the Cayley parametrizations "
                                              "when use_trivialization=False.")
                h, tau = _geqrf(q.detach()._data)
                diag = np.diagonal(h, axis1=-2, axis2=-1)
                sign = np.sign(diag)
                sign[tau == 0] *= -1
                idx = np.arange(min(n, k))
                h[..., idx, idx] = sign
                a = _make(h)
                return a.mT if transpose else a
            if n == k:
                q = _make_orthogonal(q) if not _is_orthogonal(q) else q.clone()
            else:
                from ...random import randn
                noise = randn(*(tuple(q.shape[:-2]) + (n, n - k)), dtype=q.dtype)
                q = _make_orthogonal(cat([q, noise], -1))
            self.base = q
            neg_id = zeros_like(q_init)
            neg_id.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
            return neg_id


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> Module:
    """Constrain ``module.<name>`` (a matrix or batch of matrices) to be orthogonal (or
    unitary): ``Q^H Q = I``. ``orthogonal_map``: "matrix_exp", "cayley" or "householder"
    (default: matrix_exp for square or complex matrices, householder otherwise)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError("Expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] or \
            weight.is_complex() else "householder"
    orth_enum = getattr(_OrthMaps, orthogonal_map, None)
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", '
                         f'"householder". Got: {orthogonal_map}')
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
