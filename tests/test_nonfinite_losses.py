"""Classification losses on non-finite logits give torch's values, NaN where torch's are
(issue 16: ``cross_entropy([[inf, 0, 1]], [1])`` must be NaN, not inf), for every
reduction and with label smoothing, and their gradients match torch's NaN pattern."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F

INF, NAN = math.inf, math.nan
LOGITS = [
    [[INF, 0.0, 1.0]],
    [[-INF, 0.0, 1.0]],
    [[INF, INF, 1.0]],
    [[-INF, -INF, -INF]],
    [[NAN, 0.0, 1.0]],
    [[INF, 0.0, 1.0], [0.5, -0.5, 2.0]],
]


@pytest.mark.parametrize("logits", LOGITS, ids=str)
@pytest.mark.parametrize("target", [0, 1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_on_non_finite_logits_matches_torch(logits, target, reduction, smoothing):
    targets = [target] * len(logits)
    x_t = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    x_e = ember.tensor(logits, dtype=ember.float64, requires_grad=True)
    want = TF.cross_entropy(x_t, torch.tensor(targets), reduction=reduction,
                            label_smoothing=smoothing)
    got = F.cross_entropy(x_e, ember.tensor(targets), reduction=reduction,
                          label_smoothing=smoothing)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), equal_nan=True)
    want.sum().backward()
    got.sum().backward()
    np.testing.assert_allclose(x_e.grad.numpy(), x_t.grad.numpy(), equal_nan=True, atol=1e-12)
