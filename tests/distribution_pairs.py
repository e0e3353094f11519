"""Helpers of the distribution tests: the same float64 values as ember and torch tensors,
and their comparison."""

from __future__ import annotations

import numpy as np
import torch
import torch.distributions as td

import ember


def both(a: np.ndarray, grad: bool = False):
    """The same float64 array as an ember and a torch tensor."""
    return (ember.tensor(a, dtype=ember.float64, requires_grad=grad),
            torch.tensor(a, dtype=torch.float64, requires_grad=grad))


def close(e, t, tol: float = 1e-10) -> None:
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol)


def m_tensor(m, values):
    """A float64 tensor of the library whose distributions module ``m`` is."""
    lib = torch if m is td else ember
    return lib.tensor(values, dtype=lib.float64)
