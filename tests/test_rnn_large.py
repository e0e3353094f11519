"""Recurrent layers large enough that each step's recurrent GEMM is a CBLAS call from inside
the time-loop kernel (``ember.ops.rnn``), checked against torch: outputs, final states and
every gradient, LSTM and GRU, both directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_outer_step_loop_matches_torch(kind):
    torch.manual_seed(0)
    t_rnn = getattr(torch.nn, kind)(48, 160, num_layers=2, batch_first=True,
                                    bidirectional=True)
    e_rnn = getattr(ember.nn, kind)(48, 160, num_layers=2, batch_first=True,
                                    bidirectional=True)
    e_rnn.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy())
                           for k, v in t_rnn.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((12, 9, 48)).astype(np.float32)
    tx, ex = torch.from_numpy(x).requires_grad_(), ember.from_numpy(x).requires_grad_()
    t_out, t_state = t_rnn(tx)
    e_out, e_state = e_rnn(ex)
    t_h = t_state[0] if kind == "LSTM" else t_state
    e_h = e_state[0] if kind == "LSTM" else e_state
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), atol=2e-5)
    np.testing.assert_allclose(e_h.detach().numpy(), t_h.detach().numpy(), atol=2e-5)
    (t_out.square().sum() + t_h.sum()).backward()
    (e_out.square().sum() + e_h.sum()).backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    for (name, tp), ep in zip(t_rnn.named_parameters(), e_rnn.parameters()):
        np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=name)
