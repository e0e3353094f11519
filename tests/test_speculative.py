"""Speculative decoding (``ember.serve.speculative``): greedy output token for token equal to
the target's own ``generate``, sampled output distributed exactly as the target's (chi-square
against probabilities enumerated from the target, with a draft far from the target), and
both KV caches equal to a fresh forward after rejections."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

import ember
from ember.models.generation import logits_processors
from ember.models.gpt2 import GPT2Config, GPT2LMHeadModel
from ember.models.llama import LlamaConfig, LlamaForCausalLM
from ember.serve.speculative import SpeculativeDecoder, speculative_generate, verify
from tests.llm_fixtures import make_tiny_llama


def perturbed(model, scale: float, seed: int):
    """A copy of ``model`` with Gaussian noise of std ``scale`` added to every weight: a draft
    that agrees with it often but not always."""
    twin = type(model)(model.config)
    gen = ember.Generator().manual_seed(seed)
    with ember.no_grad():
        for (_, p), (_, src) in zip(twin.named_parameters(), model.named_parameters()):
            p.copy_(src + scale * ember.randn(p.shape, generator=gen))
    return twin.eval()


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return LlamaForCausalLM.from_pretrained(make_tiny_llama(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def gpt2():
    ember.manual_seed(0)
    config = GPT2Config(vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=4)
    model = GPT2LMHeadModel(config).eval()
    with ember.no_grad():  # smaller tied embeddings: less repetitive greedy continuations
        model.transformer.wte.weight.mul_(0.1)
    return model


PROMPT = [[5, 17, 42, 8, 3]]
NOISE = {"llama": 0.03, "gpt2": 0.02}  # draft = target + noise: accepts some proposals


PROMPT = [[5, 17, 42, 8, 3]]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("draft_kind", ["self", "perturbed", "random"])
def test_greedy_matches_target(arch, draft_kind, request):
    """23 new tokens (not a multiple of k + 1) with drafts that always, sometimes and never
    agree: the same tokens as ``target.generate``."""
    target = request.getfixturevalue(arch)
    draft = {"self": target, "perturbed": perturbed(target, NOISE[arch], seed=1),
             "random": perturbed(target, 1.0, seed=2)}[draft_kind]
    prompt = ember.tensor(PROMPT)
    ref = target.generate(prompt, 23).numpy()
    out, st = speculative_generate(target, draft, prompt, 23, num_draft_tokens=4)
    np.testing.assert_array_equal(out.numpy(), ref)
    assert st.new_tokens == 23 and st.accepted <= st.proposed
    assert st.target_calls == st.rounds + 1  # prefill, then one forward per round
    if draft_kind == "self":
        assert st.acceptance_rate == 1.0 and st.rounds == 5  # 4 rounds of 5 tokens, then 3
    elif draft_kind == "perturbed":
        assert 0 < st.accepted < st.proposed


def test_greedy_stops_at_eos_mid_round(llama):
    """EOS emitted inside a round of accepted proposals: the output stops right after it,
    as ``generate``'s does."""
    prompt = ember.tensor(PROMPT)
    ref = llama.generate(prompt, 20).numpy()[0, len(PROMPT[0]):].tolist()
    # a token that first appears inside a round (self-drafting rounds emit 5 tokens)
    pos = next(i for i in range(1, 20) if ref[i] not in ref[:i] and i % 5 != 4)
    eos = ref[pos]
    expected = llama.generate(prompt, 20, eos_token_id=eos).numpy()
    assert expected.shape[1] == len(PROMPT[0]) + pos + 1
    for draft in (llama, perturbed(llama, NOISE["llama"], seed=1)):
        out, st = speculative_generate(llama, draft, prompt, 20, eos_token_id=eos)
        np.testing.assert_array_equal(out.numpy(), expected)
        assert st.new_tokens == pos + 1


def test_caches_consistent_after_rejections(llama):
    """After sampled rounds that rejected the first, a middle and no proposal, feeding each
    cache its pending tokens gives the logits of a fresh forward over the whole sequence,
    for the target and the draft."""
    draft = perturbed(llama, NOISE["llama"], seed=1)
    dec = SpeculativeDecoder(llama, draft, ember.tensor(PROMPT), 100, num_draft_tokens=3,
                             do_sample=True, generator=ember.Generator().manual_seed(0))
    seen = set()
    with ember.no_grad():
        while len(seen) < 3 and dec.stats.rounds < 20:
            before = dec.stats.accepted
            dec.step(4)
            accepted = dec.stats.accepted - before
            seen.add("none" if accepted == 0 else "all" if accepted == 3 else "some")
        assert seen == {"none", "some", "all"}
        for model, cache in ((llama, dec.target_cache), (draft, dec.draft_cache)):
            assert cache.length < len(dec.ids)
            cached = model(ember.tensor([dec.ids[cache.length:]]), past_key_values=cache)
            fresh = model(ember.tensor([dec.ids]))
            np.testing.assert_allclose(cached[0, -1].numpy(), fresh[0, -1].numpy(),
                                       rtol=1e-4, atol=1e-4)


def test_verify_is_exact():
    """One rejection step with fixed rows p, q: the first emitted token has law p[0], the
    second (when emitted) p[1], and the first proposal is accepted with probability
    sum(min(p[0], q[0]))."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6), size=3)
    q = rng.dirichlet(np.full(6, 0.5), size=2)
    q[0, 1] = 0.0  # a token the draft never proposes
    q[0] /= q[0].sum()
    first, second, accepted_first, n = [], [], 0, 20000
    for _ in range(n):
        drafts = [int(rng.choice(6, p=row)) for row in q]
        accepted, nxt = verify(p, q, drafts, rng.random)
        out = [*drafts[:accepted], nxt]
        first.append(out[0])
        accepted_first += accepted > 0
        if len(out) > 1:
            second.append(out[1])
    for tokens, law in ((first, p[0]), (second, p[1])):
        counts = np.bincount(tokens, minlength=6)
        assert stats.chisquare(counts, law * len(tokens)).pvalue > 1e-3
    assert stats.chisquare(np.bincount(first, minlength=6), q[0] * n).pvalue < 1e-9
    rate = np.minimum(p[0], q[0]).sum()
    assert abs(accepted_first / n - rate) < 4 * np.sqrt(rate * (1 - rate) / n)


def _exact_joint(model, prompt: list[int], steps: int, vocab: int, processors) -> np.ndarray:
    """Probabilities of every continuation of ``steps`` tokens, enumerated by full forwards
    with the processed distributions (index: the tokens in base ``vocab``)."""
    joint = np.ones(1)
    with ember.no_grad():
        for t in range(steps):
            seqs = [prompt + list(c) for c in itertools.product(range(vocab), repeat=t)]
            scores = model(ember.tensor(seqs))[:, -1]
            for proc in processors:
                scores = proc(ember.tensor(seqs), scores)
            cond = scores.double().softmax(-1).numpy()
            joint = (joint[:, None] * cond).reshape(-1)
    return joint


def _chisquare_pvalue(counts: np.ndarray, probs: np.ndarray) -> float:
    """Chi-square p-value of ``counts`` against ``probs``, cells expected < 5 pooled."""
    expected = probs * counts.sum()
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    keep = exp > 0
    if (obs[~keep] > 0).any():
        return 0.0  # an impossible continuation was generated
    return float(stats.chisquare(obs[keep], exp[keep]).pvalue)


def test_sampled_distribution_is_the_targets():
    """1000 seeded runs of 3 tokens (vocab 4, k = 2, temperature and top-k on) with a draft
    far from the target (total variation > 0.5): the joint law of the 3 tokens is the
    target's, enumerated exactly from it."""
    vocab, steps, prompt, runs = 4, 3, [2], 1000
    ember.manual_seed(3)
    config = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=16, bos_token_id=None, eos_token_id=None)
    target = LlamaForCausalLM(config).eval()
    draft = perturbed(target, 0.3, seed=4)
    settings = dict(do_sample=True, temperature=0.8, top_k=3)
    procs = logits_processors(**settings)
    gen = ember.Generator().manual_seed(0)
    counts = np.zeros(vocab ** steps, dtype=np.int64)
    accepted = proposed = 0
    for _ in range(runs):
        out, st = speculative_generate(target, draft, ember.tensor([prompt]), steps,
                                       num_draft_tokens=2, generator=gen, **settings)
        counts[int(np.ravel_multi_index(out.numpy()[0, 1:], (vocab,) * steps))] += 1
        accepted, proposed = accepted + st.accepted, proposed + st.proposed
    p_target = _exact_joint(target, prompt, steps, vocab, procs)
    p_draft = _exact_joint(draft, prompt, steps, vocab, procs)
    assert _chisquare_pvalue(counts, p_target) > 1e-3
    # power: the draft's law is far from the target's (always accepting, resampling from p
    # instead of max(0, p - q), or accepting with probability p fail the line above)
    assert 0.5 * np.abs(p_target - p_draft).sum() > 0.5
    assert 0.2 < accepted / proposed < 0.9  # both acceptance and rejection paths taken


def test_bad_arguments(llama):
    prompt = ember.tensor(PROMPT)
    with pytest.raises(ValueError, match="shape"):
        speculative_generate(llama, llama, ember.tensor(PROMPT * 2), 4)
    with pytest.raises(ValueError, match="num_draft_tokens"):
        speculative_generate(llama, llama, prompt, 4, num_draft_tokens=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        speculative_generate(llama, llama, prompt, -1)
    other = GPT2LMHeadModel(GPT2Config(vocab_size=100, n_positions=32, n_embd=16, n_layer=1,
                                       n_head=2))
    with pytest.raises(ValueError, match="vocabularies differ"):
        speculative_generate(llama, other, prompt, 4, do_sample=True)
    out, st = speculative_generate(llama, llama, prompt, 0)
    assert out.shape == (1, len(PROMPT[0])) and st.target_calls == st.draft_calls == 0
