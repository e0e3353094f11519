"""GPT-2 and Llama decoders against Hugging Face ``transformers`` (on torch): random tiny
models written by ``save_pretrained`` load into ember with equal logits and identical greedy
continuations, and ember's ``save_pretrained`` loads back into ``transformers``."""

import numpy as np
import pytest

import ember
from ember.models.gpt2 import GPT2LMHeadModel
from ember.models.llama import LlamaForCausalLM

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _gpt2():
    cfg = transformers.GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                  bos_token_id=96, eos_token_id=96)
    return transformers.GPT2LMHeadModel(cfg), GPT2LMHeadModel


def _llama(tie: bool = False):
    cfg = transformers.LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=56,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=64,
                                   rope_theta=500.0, tie_word_embeddings=tie,
                                   bos_token_id=96, eos_token_id=96)
    return transformers.LlamaForCausalLM(cfg), LlamaForCausalLM


CASES = {"gpt2": _gpt2, "llama_gqa": _llama, "llama_tied": lambda: _llama(tie=True)}


@pytest.fixture(params=list(CASES))
def pair(request, tmp_path):
    torch.manual_seed(0)
    hf, cls = CASES[request.param]()
    hf = hf.float().eval()
    hf.save_pretrained(tmp_path, safe_serialization=True)
    return hf, cls.from_pretrained(tmp_path), tmp_path


IDS = np.random.default_rng(0).integers(0, 97, size=(2, 9))


def test_logits_match_transformers(pair):
    hf, model, _ = pair
    with torch.no_grad():
        want = hf(torch.from_numpy(IDS)).logits.numpy()
    with ember.no_grad():
        got = model(ember.tensor(IDS)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_greedy_matches_transformers(pair):
    hf, model, _ = pair
    with torch.no_grad():
        want = hf.generate(torch.from_numpy(IDS), max_new_tokens=20, do_sample=False,
                           min_new_tokens=20, pad_token_id=0).numpy()
    got = model.generate(ember.tensor(IDS), max_new_tokens=20).numpy()
    np.testing.assert_array_equal(got, want)


def test_save_pretrained_loads_in_transformers(pair, tmp_path):
    hf, model, _ = pair
    out = tmp_path / "ember_saved"
    model.save_pretrained(out)
    back = type(hf).from_pretrained(out).float().eval()
    with torch.no_grad():
        want = hf(torch.from_numpy(IDS)).logits.numpy()
        got = back(torch.from_numpy(IDS)).logits.numpy()
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6)


def test_sharded_checkpoint_loads(pair, tmp_path):
    hf, model, _ = pair
    out = tmp_path / "sharded"
    hf.save_pretrained(out, max_shard_size="20KB")
    assert (out / "model.safetensors.index.json").exists()
    again = type(model).from_pretrained(out)
    with ember.no_grad():
        np.testing.assert_array_equal(again(ember.tensor(IDS)).numpy(),
                                      model(ember.tensor(IDS)).numpy())


def test_tokenizer_json_loads(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from ember.models._hf import load_tokenizer

    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    tok.train_from_iterator(["def f(x):\n    return x + 1\n"] * 20,
                            tokenizers.trainers.BpeTrainer(
        vocab_size=300, show_progress=False,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(tmp_path / "tokenizer.json"))
    loaded = load_tokenizer(tmp_path)
    text = "def g(y):\n    return y"
    assert loaded.encode(text).ids == tok.encode(text).ids
    assert loaded.decode(loaded.encode(text).ids) == text
