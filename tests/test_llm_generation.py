"""KV-cached decoding and logits processors against Hugging Face ``transformers`` (on torch):
cached steps give the full forward's logits, cached greedy generation the same tokens as
uncached and as ``transformers``, each processor the scores of ``transformers``' own, and
sampling is reproducible from a seed."""

import numpy as np
import pytest

import ember
from ember.models import generation as G
from ember.models.gpt2 import GPT2LMHeadModel
from ember.models.llama import LlamaForCausalLM

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
hf_lp = pytest.importorskip("transformers.generation.logits_process")


def _gpt2():
    cfg = transformers.GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                  bos_token_id=96, eos_token_id=96)
    return transformers.GPT2LMHeadModel(cfg), GPT2LMHeadModel


def _llama():
    cfg = transformers.LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=56,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=64,
                                   rope_theta=500.0, bos_token_id=96, eos_token_id=96)
    return transformers.LlamaForCausalLM(cfg), LlamaForCausalLM


@pytest.fixture(scope="module", params=["gpt2", "llama_gqa"])
def pair(request, tmp_path_factory):
    torch.manual_seed(0)
    hf, cls = {"gpt2": _gpt2, "llama_gqa": _llama}[request.param]()
    hf = hf.float().eval()
    path = tmp_path_factory.mktemp(request.param)
    hf.save_pretrained(path, safe_serialization=True)
    return hf, cls.from_pretrained(path)


IDS = np.random.default_rng(0).integers(0, 97, size=(2, 9))


def _hf_generate(hf, **kw):
    with torch.no_grad():
        return hf.generate(torch.from_numpy(IDS), max_new_tokens=20, **kw).numpy()


def test_cached_steps_match_full_forward(pair):
    _, model = pair
    with ember.no_grad():
        full = model(ember.tensor(IDS)).numpy()
        cache = G.KVCache(IDS.shape[1])
        parts = [model(ember.tensor(IDS[:, :4]), past_key_values=cache),  # prompt
                 model(ember.tensor(IDS[:, 4:7]), past_key_values=cache),  # chunk after it
                 model(ember.tensor(IDS[:, 7:8]), past_key_values=cache),  # single steps
                 model(ember.tensor(IDS[:, 8:9]), past_key_values=cache)]
    assert cache.length == IDS.shape[1]
    np.testing.assert_allclose(np.concatenate([p.numpy() for p in parts], axis=1), full,
                               atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="max_len"), ember.no_grad():
        model(ember.tensor(IDS[:, :1]), past_key_values=cache)


def test_cached_greedy_equals_uncached_and_transformers(pair):
    hf, model = pair
    want = _hf_generate(hf, do_sample=False, min_new_tokens=20, pad_token_id=0)
    cached = model.generate(ember.tensor(IDS), 20).numpy()
    uncached = model.generate(ember.tensor(IDS), 20, use_cache=False).numpy()
    assert cached.shape == (2, 29)
    np.testing.assert_array_equal(cached, want)
    np.testing.assert_array_equal(uncached, want)


def test_eos_and_repetition_penalty_match_transformers(pair):
    hf, model = pair
    plain = model.generate(ember.tensor(IDS), 20).numpy()
    eos = int(plain[0, IDS.shape[1] + 4])  # row 0 stops there; row 1 pads after its own eos
    want = _hf_generate(hf, do_sample=False, eos_token_id=eos, pad_token_id=0)
    got = model.generate(ember.tensor(IDS), 20, eos_token_id=eos, pad_token_id=0).numpy()
    np.testing.assert_array_equal(got, want)
    want = _hf_generate(hf, do_sample=False, repetition_penalty=1.5, min_new_tokens=20,
                        pad_token_id=0)
    got = model.generate(ember.tensor(IDS), 20, repetition_penalty=1.5).numpy()
    np.testing.assert_array_equal(got, want)


PROCESSORS = {
    "temperature": lambda m: m.TemperatureLogitsWarper(0.7),
    "top_k": lambda m: m.TopKLogitsWarper(5),
    "top_k_min_keep": lambda m: m.TopKLogitsWarper(2, min_tokens_to_keep=4),
    "top_p": lambda m: m.TopPLogitsWarper(0.8),
    "top_p_min_keep": lambda m: m.TopPLogitsWarper(0.05, min_tokens_to_keep=3),
    "min_p": lambda m: m.MinPLogitsWarper(0.1),
    "min_p_min_keep": lambda m: m.MinPLogitsWarper(0.9, min_tokens_to_keep=2),
    "repetition": lambda m: m.RepetitionPenaltyLogitsProcessor(1.3),
    "repetition_reward": lambda m: m.RepetitionPenaltyLogitsProcessor(0.6),
}


@pytest.mark.parametrize("name", list(PROCESSORS))
def test_processor_matches_transformers(name):
    make = PROCESSORS[name]
    rng = np.random.default_rng(1)
    scores = (rng.standard_normal((3, 50)) * 3).astype(np.float32)
    ids = rng.integers(0, 50, size=(3, 12))  # with repeats
    want = make(hf_lp)(torch.from_numpy(ids), torch.from_numpy(scores.copy())).numpy()
    got = make(G)(ember.tensor(ids), ember.tensor(scores)).numpy()
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    assert np.isneginf(want).any() == (name not in ("temperature", "repetition",
                                                    "repetition_reward"))
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-6)


def test_processor_chain_matches_transformers():
    rng = np.random.default_rng(2)
    scores = (rng.standard_normal((2, 60)) * 2).astype(np.float32)
    ids = rng.integers(0, 60, size=(2, 7))
    chain = hf_lp.LogitsProcessorList([hf_lp.RepetitionPenaltyLogitsProcessor(1.2),
                                       hf_lp.TemperatureLogitsWarper(0.8),
                                       hf_lp.TopKLogitsWarper(20), hf_lp.TopPLogitsWarper(0.9),
                                       hf_lp.MinPLogitsWarper(0.05)])
    want = chain(torch.from_numpy(ids), torch.from_numpy(scores)).numpy()
    got = ember.tensor(scores)
    for proc in G.logits_processors(True, 0.8, 20, 0.9, 0.05, 1.2):
        got = proc(ember.tensor(ids), got)
    got = got.numpy()
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-6)


def test_bad_processor_settings_raise():
    for bad in (lambda: G.TemperatureLogitsWarper(0.0), lambda: G.TopKLogitsWarper(0),
                lambda: G.TopPLogitsWarper(1.5), lambda: G.MinPLogitsWarper(-0.1),
                lambda: G.RepetitionPenaltyLogitsProcessor(0.0)):
        with pytest.raises(ValueError):
            bad()


def test_sampling_reproducible_from_seed(pair):
    _, model = pair
    kw = dict(do_sample=True, temperature=1.3, top_p=0.95)

    def sample(seed):
        ember.manual_seed(seed)
        return model.generate(ember.tensor(IDS), 20, **kw).numpy()

    first, again, other = sample(0), sample(0), sample(1)
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()
    gen = model.generate(ember.tensor(IDS), 20, generator=ember.Generator().manual_seed(0), **kw)
    np.testing.assert_array_equal(gen.numpy(), first)  # same seed, explicit generator
    # top_k=1 leaves one token: sampling must give the greedy continuation
    greedy = model.generate(ember.tensor(IDS), 20).numpy()
    np.testing.assert_array_equal(
        model.generate(ember.tensor(IDS), 20, do_sample=True, top_k=1).numpy(), greedy)


def _left_padded():
    """Three prompts of 9, 5 and 2 tokens, left-padded with 0 to (3, 9), and their mask."""
    ids = np.random.default_rng(3).integers(1, 97, size=(3, 9))
    mask = np.ones_like(ids)
    mask[1, :4] = mask[2, :7] = 0
    ids[mask == 0] = 0
    return ids, mask


def test_left_padded_batch_matches_transformers(pair):
    """Prompts of different lengths in one batch: the tokens of ``transformers``' generate
    with the same attention_mask, and its logits at every step (cached and uncached)."""
    hf, model = pair
    ids, mask = _left_padded()
    with torch.no_grad():
        out = hf.generate(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                          max_new_tokens=12, min_new_tokens=12, do_sample=False, pad_token_id=0,
                          output_logits=True, return_dict_in_generate=True)
    want = out.sequences.numpy()
    for use_cache in (True, False):
        got = model.generate(ember.tensor(ids), 12, attention_mask=ember.tensor(mask),
                             use_cache=use_cache).numpy()
        np.testing.assert_array_equal(got, want)
    cache, logits = G.KVCache(want.shape[1], mask), []
    with ember.no_grad():
        step = want[:, :ids.shape[1]]
        for i in range(12):  # the prompt, then each generated token, as generate feeds them
            logits.append(model(ember.tensor(step), past_key_values=cache)[:, -1].numpy())
            step = want[:, ids.shape[1] + i:ids.shape[1] + i + 1]
    np.testing.assert_allclose(np.stack(logits, 1),
                               np.stack([t.numpy() for t in out.logits], 1), atol=1e-5, rtol=1e-5)
    # each row alone (unpadded) continues the same way
    for row in range(3):
        alone = model.generate(ember.tensor(ids[row:row + 1, mask[row] == 1]), 12).numpy()
        np.testing.assert_array_equal(alone[0, -12:], want[row, -12:])


def test_attention_mask_shape_checked(pair):
    _, model = pair
    with pytest.raises(ValueError, match="attention_mask"):
        model.generate(ember.tensor(IDS), 2, attention_mask=ember.ones(2, 3))


def test_extra_logits_processor_and_seed(pair):
    """A custom processor gives transformers' tokens; ``seed`` seeds a generator of its
    own."""
    hf, model = pair
    banned = np.zeros(97, dtype=bool)
    banned[np.unique(model.generate(ember.tensor(IDS), 20).numpy()[:, IDS.shape[1]:])[:5]] = True

    def ban_torch(ids, scores):
        return scores.masked_fill(torch.from_numpy(banned), -float("inf"))

    want = _hf_generate(hf, do_sample=False, min_new_tokens=20, pad_token_id=0,
                        logits_processor=hf_lp.LogitsProcessorList([ban_torch]))
    got = model.generate(ember.tensor(IDS), 20, logits_processor=[
        lambda ids, scores: scores.masked_fill(ember.tensor(banned), -float("inf"))]).numpy()
    np.testing.assert_array_equal(got, want)
    assert not banned[got[:, IDS.shape[1]:]].any()
    kw = dict(do_sample=True, temperature=1.5)
    seeded = model.generate(ember.tensor(IDS), 20, seed=7, **kw).numpy()
    np.testing.assert_array_equal(seeded, model.generate(
        ember.tensor(IDS), 20, generator=ember.Generator().manual_seed(7), **kw).numpy())
    assert (seeded != model.generate(ember.tensor(IDS), 20, seed=8, **kw).numpy()).any()
    with pytest.raises(ValueError, match="seed"):
        model.generate(ember.tensor(IDS), 2, seed=1, generator=ember.Generator())


def test_extra_processor_runs_before_the_warpers(pair):
    """transformers applies custom processors before temperature/top-k: a processor that
    allows only tokens outside the top-k must still be sampled from (applied after top-k it
    would leave no finite score). The sampled tokens are exactly the allowed ones."""
    _, model = pair
    scores = model(ember.tensor(IDS[:1])).detach().numpy()[0, -1]
    allowed = np.zeros(scores.shape[0], dtype=bool)
    allowed[np.argsort(scores)[:3]] = True  # the three least likely tokens

    def only_allowed(ids, s):
        return s.masked_fill(ember.tensor(~allowed), -float("inf"))

    out = model.generate(ember.tensor(IDS[:1]), 6, do_sample=True, top_k=2, seed=0,
                         logits_processor=[only_allowed]).numpy()[0, IDS.shape[1]:]
    assert allowed[out].all()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The fixture Llama with its real tokenizer, in ember and in ``transformers``."""
    from tests.llm_fixtures import make_tiny_llama

    path = make_tiny_llama(tmp_path_factory.mktemp("tiny"))
    hf = transformers.LlamaForCausalLM.from_pretrained(path).float().eval()
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"))
    return LlamaForCausalLM.from_pretrained(path), hf, hf_tok


def test_stop_strings_match_transformers(tiny):
    model, hf, hf_tok = tiny
    prompt = np.array([hf_tok.encode("def load(fp):\n    ")])
    full = model.generate(ember.tensor(prompt), 24).numpy()[0, prompt.shape[1]:]
    text = hf_tok.decode(full)
    stop = text[len(text) // 2:len(text) // 2 + 2]  # two characters from the middle
    with torch.no_grad():
        want = hf.generate(torch.from_numpy(prompt), max_new_tokens=24, do_sample=False,
                           stop_strings=[stop, "@@never@@"], tokenizer=hf_tok,
                           pad_token_id=0).numpy()
    got = model.generate(ember.tensor(prompt), 24, stop_strings=[stop, "@@never@@"],
                         tokenizer=hf_tok).numpy()
    np.testing.assert_array_equal(got, want)
    assert got.shape[1] < prompt.shape[1] + 24 and stop in hf_tok.decode(got[0, prompt.shape[1]:])
    with pytest.raises(ValueError, match="tokenizer"):
        model.generate(ember.tensor(prompt), 2, stop_strings="x")


def test_text_iterator_streamer(tiny):
    from ember.models.streamers import TextIteratorStreamer

    model, _, hf_tok = tiny
    prompt = ember.tensor([hf_tok.encode("class Encoder:\n")])
    streamer = TextIteratorStreamer(hf_tok, skip_prompt=True)
    out = model.generate(prompt, 30, streamer=streamer).numpy()  # the queue holds it all
    pieces = list(streamer)
    assert len(pieces) > 1
    assert "".join(pieces) == hf_tok.decode(out[0, prompt.shape[1]:])
    with pytest.raises(ValueError, match="batch size 1"):
        model.generate(ember.tensor(IDS), 1, streamer=TextIteratorStreamer(hf_tok))
