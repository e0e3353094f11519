"""nn.init: statistics against the formulas, exact results for the deterministic ones,
calculate_gain against torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember
from ember.nn import init


def test_calculate_gain_matches_torch():
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                        ("selu", None)]:
        assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)
    with pytest.raises(ValueError):
        init.calculate_gain("swish")
    with pytest.raises(ValueError):
        init.calculate_gain("leaky_relu", True)


def _t(*shape):
    return ember.empty(*shape, dtype=ember.float64)


def test_uniform_family_bounds():
    w = _t(200, 300)
    fan_in, fan_out = 300, 200
    bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + 5)) / math.sqrt(fan_in)
    data = init.kaiming_uniform_(w, a=math.sqrt(5))._data
    assert np.abs(data).max() <= bound and np.abs(data).max() > 0.99 * bound
    assert abs(data.std() - bound / math.sqrt(3)) < 0.01 * bound
    a = math.sqrt(6.0 / (fan_in + fan_out))
    data = init.xavier_uniform_(w, gain=2.0)._data
    assert np.abs(data).max() <= 2 * a and abs(data.std() - 2 * a / math.sqrt(3)) < 0.02 * a
    data = init.uniform_(w, -0.5, 2.0)._data
    assert data.min() >= -0.5 and data.max() <= 2.0 and abs(data.mean() - 0.75) < 0.01


def test_normal_family_std():
    w = _t(200, 300)
    data = init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")._data
    assert abs(data.std() - math.sqrt(2.0 / 200)) < 0.02 * math.sqrt(2.0 / 200)
    data = init.xavier_normal_(w)._data
    assert abs(data.std() - math.sqrt(2.0 / 500)) < 0.02 * math.sqrt(2.0 / 500)
    data = init.normal_(w, 1.0, 0.5)._data
    assert abs(data.mean() - 1.0) < 0.01 and abs(data.std() - 0.5) < 0.01
    data = init.trunc_normal_(w, 0.0, 1.0, -1.0, 1.5)._data
    assert data.min() >= -1.0 and data.max() <= 1.5
    # the truncated normal's mean: (phi(a) - phi(b)) / (Phi(b) - Phi(a))
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: (1 + math.erf(z / math.sqrt(2))) / 2  # noqa: E731
    assert abs(data.mean() - (pdf(-1.0) - pdf(1.5)) / (cdf(1.5) - cdf(-1.0))) < 0.01
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(w, mode="fan_avg")


def test_deterministic_inits_match_torch():
    for name, shape, args in [("eye_", (3, 5), ()), ("dirac_", (4, 2, 3, 3), ()),
                              ("dirac_", (6, 3, 3), (2,)), ("constant_", (2, 3), (0.7,)),
                              ("ones_", (2,), ()), ("zeros_", (2, 2), ())]:
        e = getattr(init, name)(_t(*shape), *args)
        t = getattr(torch.nn.init, name)(torch.empty(shape, dtype=torch.float64), *args)
        np.testing.assert_array_equal(e._data, t.numpy())
    with pytest.raises(ValueError):
        init.eye_(_t(2, 2, 2))


def test_orthogonal_and_sparse():
    for shape in [(6, 4), (3, 8), (4, 2, 3)]:
        q = init.orthogonal_(_t(*shape), gain=1.5)._data.reshape(shape[0], -1)
        small = q @ q.T if shape[0] <= q.shape[1] else q.T @ q
        np.testing.assert_allclose(small, 2.25 * np.eye(small.shape[0]), atol=1e-12)
    s = init.sparse_(_t(10, 6), sparsity=0.3)._data
    assert ((s == 0).sum(0) >= 3).all()


def test_inits_do_not_record_and_work_on_parameters():
    p = ember.nn.Parameter(ember.empty(3, 3))
    init.xavier_uniform_(p)
    assert p.grad_fn is None and p.requires_grad
