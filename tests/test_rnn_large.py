"""Recurrent layers large enough that each step's recurrent GEMM is a CBLAS call from inside
the time-loop kernel (``ember.ops.rnn``), checked against torch: outputs, final states and
every gradient, LSTM and GRU, both directions. Hidden size 200 on a batch of 9: the GEMMs
of a step go in tiles (``_kernels_rnn.gemm``), the forward's (9 x 200 @ 200 x 800) in
blocks of columns, the backward's (9 x 800 @ 800 x 200) in blocks of depth too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_tiled_step_gemms_match_torch(kind):
    torch.manual_seed(0)
    t_rnn = getattr(torch.nn, kind)(48, 200, num_layers=2, batch_first=True,
                                    bidirectional=True)
    e_rnn = getattr(ember.nn, kind)(48, 200, num_layers=2, batch_first=True,
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


@pytest.mark.parametrize("kind,kw", [("LSTM", dict(proj_size=24)), ("GRU", {}),
                                     ("RNN", dict(nonlinearity="relu"))])
def test_float64_through_dgemm_matches_torch(kind, kw):
    """float64 layers take CBLAS ``dgemm`` in the time loop: equal to torch to 1e-10,
    packed sequences of unequal lengths included."""
    torch.manual_seed(0)
    t_rnn = getattr(torch.nn, kind)(20, 40, **kw).double()
    e_rnn = getattr(ember.nn, kind)(20, 40, **kw).double()
    e_rnn.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy())
                           for k, v in t_rnn.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((7, 6, 20))
    lengths = [7, 2, 5, 7, 1, 4]
    outs = []
    for lib, rnn in ((torch, t_rnn), (ember, e_rnn)):
        xt = lib.from_numpy(x.copy()).requires_grad_()
        packed = lib.nn.utils.rnn.pack_padded_sequence(xt, lengths, enforce_sorted=False)
        out, _ = lib.nn.utils.rnn.pad_packed_sequence(rnn(packed)[0])
        out.square().sum().backward()
        outs.append([out.detach().numpy(), xt.grad.numpy(),
                     *(p.grad.numpy() for p in rnn.parameters())])
    for t_val, e_val in zip(*outs, strict=True):
        np.testing.assert_allclose(e_val, t_val, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("kind, proj", [("LSTM", 0), ("LSTM", 7), ("GRU", 0)])
def test_batch_blocks_on_threads_match_torch(monkeypatch, parts, kind, proj):
    """With several threads a layer's time loop runs in blocks of the batch side by side
    (``_kernels_rnn``'s ``lstm_forward_batches``, ``gru_backward_batches``...): outputs,
    final states and all gradients equal torch's, both directions, packed sequences of
    unequal lengths, an uneven last block (9 sequences in 3), the LSTM with and without a
    projection; the input side's GEMMs side by side too (``_blas.linear_grads``)."""
    from ember.ops import _blas, _kernels_rnn, rnn
    monkeypatch.setattr(rnn, "threads_for", lambda work, threshold: parts)
    monkeypatch.setattr(_blas, "threads_for", lambda work, threshold: parts)  # (GEMMs too)
    monkeypatch.setattr(rnn, "MIN_BLOCK", 2)
    used = []
    for name in (f"{kind.lower()}_forward_batches", f"{kind.lower()}_backward_batches"):
        real = getattr(_kernels_rnn, name)
        monkeypatch.setattr(_kernels_rnn, name,
                            lambda *a, real=real: used.append(a[-1]) or real(*a))
    torch.manual_seed(0)
    kw = {"proj_size": proj} if proj else {}
    t_rnn = getattr(torch.nn, kind)(12, 40, num_layers=2, bidirectional=True, **kw)
    e_rnn = getattr(ember.nn, kind)(12, 40, num_layers=2, bidirectional=True, **kw)
    e_rnn.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy())
                           for k, v in t_rnn.state_dict().items()})
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 9, 12)).astype(np.float32)
    h0 = rng.standard_normal((4, 9, proj or 40)).astype(np.float32)
    c0 = rng.standard_normal((4, 9, 40)).astype(np.float32)
    lengths = [8, 3, 6, 8, 1, 5, 2, 8, 7]
    outs = []
    for lib, mod in ((torch, t_rnn), (ember, e_rnn)):
        xt, ht, ct = (lib.from_numpy(a.copy()).requires_grad_() for a in (x, h0, c0))
        packed = lib.nn.utils.rnn.pack_padded_sequence(xt, lengths, enforce_sorted=False)
        out, state = mod(packed, (ht, ct) if kind == "LSTM" else ht)
        states = state if kind == "LSTM" else (state,)
        out = lib.nn.utils.rnn.pad_packed_sequence(out)[0]
        (out.square().sum() + sum((s * s).sum() for s in states)).backward()
        outs.append([out.detach().numpy(), *(s.detach().numpy() for s in states),
                     xt.grad.numpy(), ht.grad.numpy(),
                     *(p.grad.numpy() for p in mod.parameters())])
        if kind == "LSTM":
            outs[-1].append(ct.grad.numpy())
    assert len(used) == 8 and set(used) == {parts}  # 2 layers x 2 directions x fwd/bwd
    for t_val, e_val in zip(*outs, strict=True):
        np.testing.assert_allclose(e_val, t_val, rtol=2e-5, atol=2e-5)
