"""The fused SGD kernel (``ops/_kernels_optim.sgd``) against its NumPy reference
(``ops.optim._sgd``) and, through ``ember.optim.SGD``, against torch.

The kernel rounds each product in the arrays' dtype as NumPy does, so its updates equal the
reference's bit for bit; against torch (whose CPU ``add_(alpha=)`` may fuse the multiply and
add) the parameters agree to float32 rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [
    dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False),
    dict(momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False),
    dict(momentum=0.9, dampening=0.3, weight_decay=0.01, nesterov=False, maximize=True),
    dict(momentum=0.8, dampening=0.0, weight_decay=0.1, nesterov=True, maximize=False)])
def test_sgd_kernel_equals_numpy_update(dtype, options):
    from ember.ops import _kernels_optim as kernels
    from ember.ops.optim import _sgd
    rng = np.random.default_rng(7)
    param = rng.standard_normal(257).astype(dtype)
    with_buf = options["momentum"] != 0
    runs = [[param.copy(), np.zeros_like(param) if with_buf else None] for _ in range(2)]
    for step in range(4):
        grad = rng.standard_normal(257).astype(dtype)
        for fn, (p, buf) in zip((kernels.sgd, _sgd), runs):
            fn(p, grad, buf, step == 0, lr=0.05, **options)
    (p_kernel, buf_kernel), (p_ref, buf_ref) = runs
    np.testing.assert_array_equal(p_kernel, p_ref)
    if with_buf:
        np.testing.assert_array_equal(buf_kernel, buf_ref)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_matches_torch(order, nesterov):
    """Gradients in either layout (a matmul's weight gradient arrives F-ordered; the
    kernel reads it through a contiguous copy)."""
    rng = np.random.default_rng(8)
    w = rng.standard_normal((6, 5)).astype(np.float32)
    e = ember.from_numpy(w.copy()).requires_grad_()
    t = torch.from_numpy(w.copy()).requires_grad_()
    kwargs = dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=nesterov)
    e_opt, t_opt = ember.optim.SGD([e], **kwargs), torch.optim.SGD([t], **kwargs)
    for _ in range(4):
        g = np.asarray(rng.standard_normal((6, 5)), dtype=np.float32, order=order)
        e.grad, t.grad = ember.from_numpy(g), torch.from_numpy(np.ascontiguousarray(g))
        e_opt.step()
        t_opt.step()
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(e_opt.state[e]["momentum_buffer"].numpy(),
                               t_opt.state[t]["momentum_buffer"].numpy(), rtol=1e-6, atol=1e-7)
