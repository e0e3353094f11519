"""scaled_dot_product_attention, MultiheadAttention and the Transformer modules vs torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.nn._layers_compare import compare, gradchecks

R = np.random.default_rng(0)
Q, K, V = (R.standard_normal(s) for s in [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", [dict(), dict(is_causal=True, scale=0.3)])
def test_sdpa(kw, dtype):
    compare(lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(q, k, v, **kw),
            [Q, K, V], dtype=dtype)


def test_sdpa_masks_gqa_unbatched():
    sdpa = "scaled_dot_product_attention"
    compare(lambda L, q, k, v, m: getattr(L.nn.functional, sdpa)(q, k, v, m),
            [Q, K, V, R.standard_normal((4, 6))])  # float mask (with gradient)
    mask = R.random((2, 1, 4, 6)) > 0.3
    mask[0, 0, 1] = False  # a fully masked row gives zeros, as torch's safe softmax
    compare(lambda L, q, k, v, m: getattr(L.nn.functional, sdpa)(q, k, v, m), [Q, K, V, mask])
    compare(lambda L, q, k, v: getattr(L.nn.functional, sdpa)(q, k, v, enable_gqa=True),
            [Q, K[:, :1], V[:, :1]])
    compare(lambda L, q, k, v: getattr(L.nn.functional, sdpa)(q, k, v), [Q[0, 0], K[0, 0],
                                                                         V[0, 0]])
    gradchecks(lambda L, q, k, v: getattr(L.nn.functional, sdpa)(q, k, v, is_causal=True),
               [R.standard_normal((2, 3, 4)), R.standard_normal((2, 3, 4)),
                R.standard_normal((2, 3, 2))])


def test_sdpa_dropout_statistics():
    q = ember.zeros(1, 1, 200, 4)
    v = ember.ones(1, 1, 50, 3)
    out = ember.nn.functional.scaled_dot_product_attention(q, ember.zeros(1, 1, 50, 4), v,
                                                           dropout_p=0.5)
    kept = out._data[..., 0] * 50 / 2  # uniform attention: each kept key adds 2/50
    assert np.allclose(kept, np.round(kept))
    assert 0.4 < out._data.mean() < 0.6 * 2


E = 8
MHA = [dict(), dict(bias=False), dict(add_bias_kv=True), dict(add_zero_attn=True),
       dict(kdim=5, vdim=3), dict(batch_first=True)]
AM = R.random((4, 5)) > 0.3
AM[:, 0] = False
KPM = np.zeros((2, 5), bool)
KPM[1, 3:] = True
MASKS = [lambda L: {}, lambda L: dict(attn_mask=L.from_numpy(AM)),
         lambda L: dict(key_padding_mask=L.from_numpy(KPM), average_attn_weights=False),
         lambda L: dict(attn_mask=L.from_numpy(AM * -1.5), need_weights=False),
         lambda L: dict(attn_mask=L.from_numpy(AM), key_padding_mask=L.from_numpy(KPM))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", MHA)
@pytest.mark.parametrize("masks", MASKS)
def test_multihead_attention(kw, masks, dtype):
    tdt, edt = getattr(torch, dtype), getattr(ember, dtype)
    tm = torch.nn.MultiheadAttention(E, 2, dtype=tdt, **kw)
    em = ember.nn.MultiheadAttention(E, 2, dtype=edt, **kw)
    bf = kw.get("batch_first", False)
    q = R.standard_normal((2, 4, E) if bf else (4, 2, E))
    k = R.standard_normal((2, 5, kw.get("kdim", E)) if bf else (5, 2, kw.get("kdim", E)))
    v = R.standard_normal(k.shape[:2] + (kw.get("vdim", E),))

    def run(L, q, k, v):
        m = masks(L)
        if L is torch and m.get("attn_mask") is not None and m["attn_mask"].dtype.is_floating_point:
            m["attn_mask"] = m["attn_mask"].to(tdt)
        if L is ember and m.get("attn_mask") is not None and m["attn_mask"].is_floating_point():
            m["attn_mask"] = m["attn_mask"].to(edt)
        return (tm if L is torch else em)(q, k, v, **m)
    compare(run, [q, k, v], dtype=dtype, modules=(tm, em))


def test_multihead_attention_unbatched():
    tm, em = torch.nn.MultiheadAttention(E, 4).double(), ember.nn.MultiheadAttention(E, 4).double()
    compare(lambda L, q: (tm if L is torch else em)(q, q, q), [R.standard_normal((3, E))],
            modules=(tm, em))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", [dict(), dict(norm_first=True, activation="gelu", batch_first=True),
                                dict(bias=False)])
def test_transformer(kw, dtype):
    tdt, edt = getattr(torch, dtype), getattr(ember, dtype)
    tm = torch.nn.Transformer(8, 2, 2, 2, 16, dropout=0.0, dtype=tdt, **kw)
    em = ember.nn.Transformer(8, 2, 2, 2, 16, dropout=0.0, dtype=edt, **kw)
    s, t = R.standard_normal((5, 2, 8)), R.standard_normal((3, 2, 8))
    if kw.get("batch_first"):
        s, t = s.transpose(1, 0, 2).copy(), t.transpose(1, 0, 2).copy()
    pad = np.zeros((2, 5), bool)
    pad[0, 4:] = True

    def masked(L, s, t):
        m = (tm if L is torch else em)
        return m(s, t, tgt_mask=type(m).generate_square_subsequent_mask(3, dtype=getattr(L, dtype)),
                 src_key_padding_mask=L.from_numpy(pad), memory_key_padding_mask=L.from_numpy(pad))
    compare(masked, [s, t], dtype=dtype, modules=(tm, em))
    tm.eval()
    em.eval()
    compare(lambda L, s, t: (tm if L is torch else em)(s, t), [s, t], dtype=dtype,
            modules=(tm, em))


def test_encoder_decoder_layers_and_mask():
    enc_t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0), 2,
                                        enable_nested_tensor=False).double()
    enc_e = ember.nn.TransformerEncoder(ember.nn.TransformerEncoderLayer(8, 2, 16, 0.0), 2).double()
    causal = {L: L.nn.Transformer.generate_square_subsequent_mask(4, dtype=L.float64)
              for L in (torch, ember)}
    compare(lambda L, x: (enc_t if L is torch else enc_e)(x, mask=causal[L], is_causal=True),
            [R.standard_normal((4, 2, 8))], modules=(enc_t, enc_e))
    dec_t = torch.nn.TransformerDecoderLayer(8, 2, 16, 0.0, activation=torch.nn.functional.gelu)
    dec_e = ember.nn.TransformerDecoderLayer(8, 2, 16, 0.0, activation=ember.nn.functional.gelu)
    dec_t, dec_e = dec_t.double(), dec_e.double()
    compare(lambda L, x, m: (dec_t if L is torch else dec_e)(x, m), [R.standard_normal((3, 8)),
                                                                  R.standard_normal((4, 8))],
            modules=(dec_t, dec_e))
    np.testing.assert_array_equal(ember.nn.Transformer.generate_square_subsequent_mask(4)._data,
                                  torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
