"""The recurrent layers' two kernel paths against torch, in float32 within 1e-5.

``ember/ops/rnn.py`` runs a layer's time loop wholly inside a Numba kernel, each step's
GEMM done by the kernel's own loops (small layers) or by a CBLAS call from the kernel
(larger ones). Both paths are forced here on the same layers
(bidirectional, stacked, projected, packed) and compared with torch's modules given the
same weights: outputs, final states and every gradient. Also: 16-bit inputs run (in
float32), and double backward through the fused ops raises.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.nn.utils import rnn as trnn

import ember
import ember.ops.rnn as ops_rnn
from ember.nn.utils import rnn as ernn
from tests.nn._layers_compare import compare

CONFIGS = [("LSTM", dict(num_layers=2, bidirectional=True)),
           ("LSTM", dict(proj_size=4, bidirectional=True)),
           ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
           ("RNN", dict(nonlinearity="relu", bidirectional=True)),
           ("RNN", dict(bias=False))]


@pytest.fixture(params=["in-kernel", "blas-loop"])
def path(request, monkeypatch):
    """Force one of the two paths (the projection always runs in the kernel)."""
    monkeypatch.setattr(ops_rnn, "INNER_MAX", 1 << 40 if request.param == "in-kernel" else 0)
    return request.param


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("name,kw", CONFIGS, ids=lambda c: str(c))
def test_paths_match_torch_float32(path, name, kw, packed):
    tm = getattr(torch.nn, name)(6, 9, **kw)
    em = getattr(ember.nn, name)(6, 9, **kw)
    bf = kw.get("batch_first", False)
    x = np.random.default_rng(0).standard_normal((7, 5, 6) if not bf else (5, 7, 6))
    lengths = [7, 3, 1, 6, 7]

    def run(L, x):
        m = tm if L is torch else em
        if packed:
            utils = trnn if L is torch else ernn
            return m(utils.pack_padded_sequence(x, lengths, batch_first=bf,
                                                enforce_sorted=False))
        return m(x)
    compare(run, [x], dtype="float32", modules=(tm, em), atol=1e-5)


def test_cells_match_torch_float32(path):
    for name in ("LSTMCell", "GRUCell", "RNNCell"):
        tm, em = getattr(torch.nn, name)(5, 12), getattr(ember.nn, name)(5, 12)
        x = np.random.default_rng(1).standard_normal((8, 5))
        compare(lambda L, x, tm=tm, em=em: (tm if L is torch else em)(x), [x], dtype="float32",
                modules=(tm, em), atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_inputs_run_in_float32(dtype):
    half_dtype = getattr(ember, dtype)
    half = ember.nn.GRU(3, 4).to(half_dtype)
    ref = copy.deepcopy(half).float()
    x = ember.randn(5, 2, 3).to(half_dtype)
    out, h = half(x.requires_grad_())
    assert out.dtype == h.dtype == half_dtype
    expected, _ = ref(x.float())
    np.testing.assert_allclose(out.float().detach().numpy(), expected.detach().numpy(),
                               atol=3e-2)
    out.sum().backward()
    assert half.weight_ih_l0.grad.dtype == half_dtype


def test_double_backward_raises():
    m = ember.nn.LSTM(2, 3)
    x = ember.randn(4, 1, 2, requires_grad=True)
    (g,) = ember.autograd.grad(m(x)[0].sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        g.sum().backward()
