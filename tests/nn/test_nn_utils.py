"""nn.utils against torch: gradient clipping and parameter vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember

rng = np.random.default_rng(0)
GRADS = [rng.standard_normal((3, 4)), rng.standard_normal(5), rng.standard_normal((2, 2))]


def _params(lib):
    ps = []
    for g in GRADS:
        p = lib.nn.Parameter(lib.zeros(g.shape, dtype=lib.float64))
        p.grad = lib.from_numpy(g.copy())
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm(norm_type, max_norm):
    pt, pe = _params(torch), _params(ember)
    nt = torch.nn.utils.clip_grad_norm_(pt, max_norm, norm_type)
    ne = ember.nn.utils.clip_grad_norm_(pe, max_norm, norm_type)
    np.testing.assert_allclose(ne.item(), nt.item(), rtol=1e-12)
    for a, b in zip(pe, pt):
        np.testing.assert_allclose(a.grad._data, b.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_and_nonfinite():
    pt, pe = _params(torch), _params(ember)
    torch.nn.utils.clip_grad_value_(pt, 0.3)
    ember.nn.utils.clip_grad_value_(pe, 0.3)
    for a, b in zip(pe, pt):
        np.testing.assert_array_equal(a.grad._data, b.grad.numpy())
    pe[0].grad._data[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        ember.nn.utils.clip_grad_norm_(pe, 1.0, error_if_nonfinite=True)


def test_total_norm_helpers():
    pt, pe = _params(torch), _params(ember)
    nt = torch.nn.utils.get_total_norm([p.grad for p in pt])
    ne = ember.nn.utils.get_total_norm([p.grad for p in pe])
    np.testing.assert_allclose(ne.item(), nt.item(), rtol=1e-12)
    torch.nn.utils.clip_grads_with_norm_(pt, 1.0, nt)
    ember.nn.utils.clip_grads_with_norm_(pe, 1.0, ne)
    for a, b in zip(pe, pt):
        np.testing.assert_allclose(a.grad._data, b.grad.numpy(), rtol=1e-12)


def test_parameters_vector_round_trip():
    m = ember.nn.Linear(3, 2)
    vec = ember.nn.utils.parameters_to_vector(m.parameters())
    expected = np.concatenate([m.weight._data.ravel(), m.bias._data])
    np.testing.assert_array_equal(vec.detach()._data, expected)
    ember.nn.utils.vector_to_parameters(ember.arange(8, dtype=ember.float32), m.parameters())
    np.testing.assert_array_equal(m.weight._data, np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(m.bias._data, [6, 7])
