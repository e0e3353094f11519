"""``MultivariateNormal(loc, covariance_matrix | precision_matrix | scale_tril)``.

Everything is computed from the lower Cholesky factor ``scale_tril`` as in torch:
``rsample = loc + L eps``, ``log_prob`` via a triangular solve, entropy from ``log diag L``.
"""
from __future__ import annotations

import math

import ember

from . import constraints
from .distribution import Distribution
from .utils import lazy_property

__all__ = ["MultivariateNormal", "positive_definite", "lower_cholesky"]


class _LowerCholesky(constraints.Constraint):
    """Lower-triangular matrices with a positive diagonal."""

    event_dim = 2

    def check(self, value):
        lower = (value.tril() == value).reshape(tuple(value.shape[:-2]) + (-1,)).all(-1)
        positive_diagonal = (value.diagonal(dim1=-2, dim2=-1) > 0).all(-1)
        return lower & positive_diagonal


class _PositiveDefinite(constraints.Constraint):
    """Symmetric matrices with a Cholesky factor."""

    event_dim = 2

    def check(self, value):
        symmetric = ember.isclose(value, value.mT, atol=1e-6).all(-2).all(-1)
        if not bool(symmetric.all()):
            return symmetric
        return ember.linalg.cholesky_ex(value).info.eq(0)


lower_cholesky = _LowerCholesky()
positive_definite = _PositiveDefinite()


def _solve_lower(low, b):
    """``low^{-1} b`` for lower-triangular ``low`` (batch dims broadcast)."""
    return ember.linalg.solve_triangular(low, b, upper=False)


def _batch_mv(mat, vec):
    """Matrix-vector products over broadcast batch dims."""
    return ember.matmul(mat, vec.unsqueeze(-1)).squeeze(-1)


def _precision_to_scale_tril(precision):
    """torch's route: Cholesky of the flipped precision, then a triangular inverse."""
    lf = ember.linalg.cholesky(ember.flip(precision, (-2, -1)))
    l_inv = ember.flip(lf, (-2, -1)).mT
    eye = ember.eye(precision.shape[-1], dtype=precision.dtype)
    return _solve_lower(l_inv, eye)


class MultivariateNormal(Distribution):
    """Gaussian over vectors of size ``loc.shape[-1]``."""

    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": positive_definite,
                       "precision_matrix": positive_definite, "scale_tril": lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [(n, m) for n, m in (("scale_tril", scale_tril),
                                     ("covariance_matrix", covariance_matrix),
                                     ("precision_matrix", precision_matrix)) if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        name, matrix = given[0]
        if matrix.dim() < 2:
            label = "scale_tril matrix" if name == "scale_tril" else name
            raise ValueError(f"{label} must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        batch_shape = ember.broadcast_shapes(matrix.shape[:-2], loc.shape[:-1])
        setattr(self, name, matrix.expand(tuple(batch_shape) + (-1, -1)))
        self.loc = loc.expand(tuple(batch_shape) + (-1,))
        super().__init__(batch_shape, self.loc.shape[-1:], validate_args=validate_args)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = ember.linalg.cholesky(matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(matrix)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = ember.Size(batch_shape)
        loc_shape = batch_shape + self.event_shape
        cov_shape = batch_shape + self.event_shape + self.event_shape
        new.loc = self.loc.expand(loc_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, getattr(self, name).expand(cov_shape))
        return self._finish_expand(new, batch_shape)

    def _matrix_shape(self):
        return tuple(self._batch_shape + self._event_shape + self._event_shape)

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        low = self._unbroadcasted_scale_tril
        return ember.matmul(low, low.mT).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self):
        low_inv = _solve_lower(self._unbroadcasted_scale_tril,
                             ember.eye(self._event_shape[0], dtype=self.loc.dtype))
        return ember.matmul(low_inv.mT, low_inv).expand(self._matrix_shape())

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return (self._unbroadcasted_scale_tril.pow(2).sum(-1)
                .expand(tuple(self._batch_shape + self._event_shape)))

    def rsample(self, sample_shape=()):
        eps = ember.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.loc + _batch_mv(self._unbroadcasted_scale_tril, eps)

    def _half_log_det(self):
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        solved = _solve_lower(self._unbroadcasted_scale_tril, diff.unsqueeze(-1)).squeeze(-1)
        maha = solved.pow(2).sum(-1)
        return (-0.5 * (self._event_shape[0] * math.log(2 * math.pi) + maha)
                - self._half_log_det())

    def entropy(self):
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h if len(self._batch_shape) == 0 else h.expand(self._batch_shape)
