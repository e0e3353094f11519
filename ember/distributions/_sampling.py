"""Non-reparameterized draws for the gamma family and the counting distributions.

ember has no gamma/binomial sampling op, so these use NumPy's ``Generator`` that backs
ember's default generator (``ember.manual_seed`` makes them reproducible). The draws carry
no gradient: ``Gamma``, ``Beta`` and ``Dirichlet`` offer ``sample`` but not ``rsample``.
"""
from __future__ import annotations

import numpy as np

import ember
from ember.random import _np_generator

__all__ = ["standard_gamma", "binomial"]


def standard_gamma(concentration: ember.Tensor) -> ember.Tensor:
    """Gamma(concentration, 1) draws of ``concentration``'s shape, at least ``finfo.tiny``."""
    alpha = concentration.detach().numpy()
    draws = _np_generator().standard_gamma(alpha)
    tiny = ember.finfo(concentration.dtype).tiny
    return ember.tensor(np.maximum(draws, tiny), dtype=concentration.dtype)


def binomial(total_count: ember.Tensor, probs: ember.Tensor) -> ember.Tensor:
    """Binomial(total_count, probs) counts (same shapes), in ``probs``' dtype."""
    n = total_count.detach().numpy().astype(np.int64)
    draws = _np_generator().binomial(n, probs.detach().numpy())
    return ember.tensor(draws, dtype=probs.dtype)
