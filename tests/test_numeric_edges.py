"""Edge cases where a wrong number would be silent (issue 16): losses with every target
ignored, norms of half-precision inputs; against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

CASES = [
    ("cross_entropy", {}),
    ("cross_entropy", {"label_smoothing": 0.1}),
    ("nll_loss", {}),
]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_every_target_ignored_gives_nan_loss_and_zero_gradient(name, kwargs):
    """torch: the loss is 0/0 = NaN but the gradient is 0, so an optimizer step leaves
    the weights alone (ember's gradient used to be NaN, poisoning them)."""
    x = np.random.default_rng(0).standard_normal((3, 4))
    grads = []
    for lib in (torch, ember):
        xt = lib.tensor(x, requires_grad=True)
        loss = getattr(lib.nn.functional, name)(xt, lib.tensor([-100, -100, -100]), **kwargs)
        assert np.isnan(loss.item())
        (g,) = lib.autograd.grad(loss, xt, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), xt, allow_unused=True)  # None: nll is linear
        grads.append((g.detach().numpy(), np.zeros_like(x) if h is None else h.numpy()))
    for e, t in zip(grads[1], grads[0]):
        np.testing.assert_array_equal(e, t)


def test_zero_class_weights_still_give_torchs_nan_gradient():
    x = np.random.default_rng(1).standard_normal((3, 4))
    out = []
    for lib in (torch, ember):
        xt = lib.tensor(x, requires_grad=True)
        lib.nn.functional.nll_loss(xt, lib.tensor([1, 2, 3]), weight=lib.zeros(4, dtype=xt.dtype)
                                   ).backward()
        out.append(np.isnan(xt.grad.numpy()))
    np.testing.assert_array_equal(out[1], out[0])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("norm", ["layer_norm", "group_norm", "instance_norm"])
def test_half_precision_norms_take_statistics_in_float32(norm, dtype):
    """Values near 100 with unit spread: 16-bit statistics were off by up to 5 (torch 0.3
    in bfloat16, from the output's rounding only)."""
    x = (100 + np.random.default_rng(0).standard_normal((2, 4, 64))).astype(np.float32)
    args = {"layer_norm": ((64,),), "group_norm": (2,), "instance_norm": ()}[norm]
    ref = getattr(torch.nn.functional, norm)(torch.tensor(x, dtype=torch.float64), *args)
    errs = []
    for lib in (torch, ember):
        out = getattr(lib.nn.functional, norm)(lib.tensor(x).to(getattr(lib, dtype)), *args)
        assert str(out.dtype).endswith(dtype)
        errs.append(np.abs(out.double().numpy() - ref.numpy()).max())
    assert errs[1] <= errs[0] * 1.01 + 1e-3
