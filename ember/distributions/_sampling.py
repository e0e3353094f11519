"""Draws for the gamma family and the counting distributions.

ember has no gamma/binomial sampling op, so these use NumPy's ``Generator`` that backs
ember's default generator (``ember.manual_seed`` makes them reproducible). Gamma draws are
reparameterized implicitly (as torch's ``_standard_gamma``): the gradient of a draw ``x`` with
respect to its concentration ``a`` is ``-(dP(a, x)/da) / pdf(x)``, ``P`` the gamma CDF, here
from ``P``'s power series (torch uses approximations; the two agree to about 1e-4).
"""
from __future__ import annotations

import numpy as np

import ember
from ember.random import _np_generator

__all__ = ["standard_gamma", "binomial"]


def _lgamma(a: np.ndarray) -> np.ndarray:
    return ember.lgamma(ember.tensor(a, dtype=ember.float64)).numpy()


def _digamma(a: np.ndarray) -> np.ndarray:
    return ember.digamma(ember.tensor(a, dtype=ember.float64)).numpy()


def standard_gamma_grad(alpha: np.ndarray, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """``dx/dalpha`` of Gamma(alpha, 1) draws ``x`` at a fixed CDF value.

    ``P(a, x) = sum_n x^(a+n) e^-x / Gamma(a+n+1)``; each term over ``pdf(x)`` is
    ``exp((n+1) log x - lgamma(a+n+1) + lgamma(a))`` and its ``a``-derivative brings the factor
    ``log x - digamma(a+n+1)``. ``x + 20 sqrt(x) + 40`` terms reach past the series' peak.
    """
    a_flat = np.asarray(alpha, dtype=np.float64).ravel()
    x_flat = np.asarray(x, dtype=np.float64).ravel()
    out = np.empty_like(x_flat)
    for start in range(0, x_flat.size, chunk):
        a = a_flat[start:start + chunk][None]
        xx = x_flat[start:start + chunk][None]
        n = np.arange(int(np.max(xx + 20 * np.sqrt(xx) + 40)))[:, None]
        log_x = np.log(xx)
        shifted = a + n + 1
        ratio = np.exp((n + 1) * log_x - _lgamma(shifted) + _lgamma(a))
        out[start:start + chunk] = -(ratio * (log_x - _digamma(shifted))).sum(0)
    return out.reshape(np.shape(x))


class _StandardGamma(ember.autograd.Function):
    """Gamma(alpha, 1) draws, at least ``finfo.tiny``; backward: ``grad * dx/dalpha``."""

    @staticmethod
    def forward(ctx, concentration):
        alpha = concentration.detach().numpy()
        draws = _np_generator().standard_gamma(alpha)
        draws = np.maximum(draws, ember.finfo(concentration.dtype).tiny)
        out = ember.tensor(draws, dtype=concentration.dtype)
        ctx.save_for_backward(concentration, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        concentration, draws = ctx.saved_tensors
        dx = standard_gamma_grad(concentration.detach().numpy(), draws.detach().numpy())
        return grad * ember.tensor(dx, dtype=grad.dtype)


def standard_gamma(concentration: ember.Tensor) -> ember.Tensor:
    """Gamma(concentration, 1) draws of ``concentration``'s shape, reparameterized."""
    return _StandardGamma.apply(concentration)


def binomial(total_count: ember.Tensor, probs: ember.Tensor) -> ember.Tensor:
    """Binomial(total_count, probs) counts (same shapes), in ``probs``' dtype."""
    n = total_count.detach().numpy().astype(np.int64)
    draws = _np_generator().binomial(n, probs.detach().numpy())
    return ember.tensor(draws, dtype=probs.dtype)
