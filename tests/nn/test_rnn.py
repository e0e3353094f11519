"""RNN/LSTM/GRU (and cells) against torch with copied state dicts; packing utilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils import rnn as trnn

import ember
from ember.nn.utils import rnn as ernn
from tests.nn._layers_compare import compare

R = np.random.default_rng(0)

CONFIGS = [("RNN", {}), ("RNN", dict(nonlinearity="relu", num_layers=2, bidirectional=True)),
           ("LSTM", dict(num_layers=2, bidirectional=True, batch_first=True)),
           ("LSTM", dict(proj_size=3)), ("GRU", dict(num_layers=2, bidirectional=True)),
           ("GRU", dict(bias=False, batch_first=True))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kw", CONFIGS)
@pytest.mark.parametrize("case", ["plain", "h0", "unbatched", "packed"])
def test_recurrent(name, kw, case, dtype):
    tm = getattr(torch.nn, name)(4, 5, dtype=getattr(torch, dtype), **kw)
    em = getattr(ember.nn, name)(4, 5, dtype=getattr(ember, dtype), **kw)
    assert repr(em) == repr(tm)
    bf = kw.get("batch_first", False)
    x = R.standard_normal((3, 6, 4))
    n_h = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    batch = 3 if bf else 6
    h = R.standard_normal((n_h, batch, kw.get("proj_size") or 5))
    c = R.standard_normal((n_h, batch, 5))
    lengths = [2, 3, 1] if bf else [3, 1, 2, 3, 2, 1]

    def run(L, x, h, c):
        m = tm if L is torch else em
        state = (h, c) if name == "LSTM" else h
        if case == "plain":
            return m(x)
        if case == "h0":
            return m(x, state)
        if case == "unbatched":
            return m(x[0], (h[:, 0], c[:, 0]) if name == "LSTM" else h[:, 0])
        utils = trnn if L is torch else ernn
        return m(utils.pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=False),
                 state)
    compare(run, [x, h, c], dtype=dtype, modules=(tm, em))


def test_dropout_between_layers_and_eval():
    em = ember.nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = ember.randn(5, 2, 3)
    em.eval()
    out1, _ = em(x)
    out2, _ = em(x)
    np.testing.assert_array_equal(out1._data, out2._data)  # no dropout in eval
    tm = torch.nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    tm.eval()
    compare(lambda L, x: (tm if L is torch else em)(x), [x._data.astype("float32")],
            dtype="float32", modules=(tm, em))


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells(name):
    tm = getattr(torch.nn, name)(4, 5).double()
    em = getattr(ember.nn, name)(4, 5).double()
    x, h = R.standard_normal((3, 4)), R.standard_normal((3, 5))

    def run(L, x, h):
        m = tm if L is torch else em
        return m(x, (h, h * 0.5) if name == "LSTMCell" else h)
    compare(run, [x, h], modules=(tm, em))
    compare(lambda L, x: (tm if L is torch else em)(x), [x[0]], modules=(tm, em))


def test_init_and_errors():
    m = ember.nn.GRU(3, 16, num_layers=2)
    assert all(np.abs(p._data).max() <= 0.25 for p in m.parameters())
    assert [n for n, _ in m.named_parameters()] == \
        [n for n, _ in torch.nn.GRU(3, 16, num_layers=2).named_parameters()]
    for call, exc in [(lambda L: L.nn.LSTM(3, 4, proj_size=4), ValueError),
                      (lambda L: L.nn.RNN(3, 4)(L.zeros(1, 2, 3, 3)), ValueError),
                      (lambda L: L.nn.RNN(3, 4)(L.zeros(2, 2, 3), L.zeros(1, 3, 4)),
                       RuntimeError)]:
        with pytest.raises(exc):
            call(torch)
        with pytest.raises(exc):
            call(ember)


@pytest.mark.parametrize("batch_first", [False, True])
def test_packing_utilities(batch_first):
    seqs = [R.standard_normal((n, 2)) for n in (3, 1, 4)]
    for side in ("left", "right"):
        compare(lambda L, a, b, c, side=side: (trnn if L is torch else ernn).pad_sequence(
            [a, b, c], batch_first, 1.5, side), seqs)

    def roundtrip(L, a, b, c):
        utils = trnn if L is torch else ernn
        packed = utils.pack_sequence([a, b, c], enforce_sorted=False)
        padded, lengths = utils.pad_packed_sequence(packed, batch_first, -1.0, total_length=5)
        return packed.data, packed.batch_sizes, packed.sorted_indices, padded, lengths
    compare(roundtrip, seqs)
    packed = ernn.pack_sequence([ember.from_numpy(s) for s in seqs], enforce_sorted=False)
    for a, b in zip(ernn.unpack_sequence(packed), seqs):
        np.testing.assert_array_equal(a._data, b)
    with pytest.raises(RuntimeError):
        ernn.pack_sequence([ember.from_numpy(s) for s in seqs])
