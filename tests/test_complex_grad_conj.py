"""Complex gradients of mul and div follow torch's convention (grad = g * conj(other))."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

A = np.array([1 + 2j, -0.5 + 1j, 3 - 1j], dtype=np.complex128)
B = np.array([2 - 1j, 0.5 + 0.25j, -1 + 4j], dtype=np.complex128)
G = np.array([1 - 1j, 2 + 0.5j, -1j], dtype=np.complex128)


@pytest.mark.parametrize("op", ["mul", "div"])
def test_complex_grads_match_torch(op: str) -> None:
    grads = []
    for lib in (torch, ember):
        a = lib.tensor(A, requires_grad=True)
        b = lib.tensor(B, requires_grad=True)
        getattr(lib, op)(a, b).backward(lib.tensor(G))
        grads.append((np.asarray(a.grad.detach().numpy()), np.asarray(b.grad.detach().numpy())))
    (ta, tb), (ea, eb) = grads
    np.testing.assert_allclose(ea, ta, rtol=1e-12)
    np.testing.assert_allclose(eb, tb, rtol=1e-12)


@pytest.mark.parametrize("op", ["mul", "div"])
def test_complex_scalar_operand_matches_torch(op: str) -> None:
    grads = []
    for lib in (torch, ember):
        a = lib.tensor(A, requires_grad=True)
        getattr(lib, op)(a, 2 - 1.5j).backward(lib.tensor(G))
        grads.append(np.asarray(a.grad.detach().numpy()))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)
