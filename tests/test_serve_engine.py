"""The continuous-batching engine (``ember.serve.engine``) on the tiny fixture Llama and a
tiny GPT-2: concurrent requests joining at different steps give exactly the tokens of
``generate`` on each prompt alone, seeded sampling does not depend on the batch, and the
paged cache's blocks are freed, reused and shared (prefix caching) as they should be."""

import numpy as np
import pytest

import ember
from ember.models.gpt2 import GPT2Config, GPT2LMHeadModel
from ember.serve.engine import Engine, QueueFull, RequestOutput, SamplingParams
from ember.serve.kv_cache import PagedKVCache
from tests.llm_fixtures import make_tiny_llama

TEXTS = ["def dumps(obj):\n", "import re\n", "x", "class JSONDecoder(object):\n    def",
         "    return _default_decoder.decode(s)\n\n", "if"]


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="module")
def llama_engine_parts(llama_dir):
    engine = Engine.from_pretrained(llama_dir)
    return engine.model, engine.tokenizer


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def parts(request, llama_engine_parts):
    model, tok = llama_engine_parts
    if request.param == "gpt2":
        ember.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=128,
                                           n_embd=32, n_layer=2, n_head=4,
                                           eos_token_id=tok.eos_token_id)).eval()
    return model, tok


def _prompts(tok):
    return [tok.encode(t).ids for t in TEXTS]


def _alone(model, prompt, n, **kw):
    """What ``generate`` gives for ``prompt`` alone: its ``n`` new tokens."""
    return model.generate(ember.tensor([prompt]), n, **kw).numpy()[0, len(prompt):].tolist()


def _drain(engine, collected=None, steps=None):
    """Step until done (or ``steps`` times); gather outputs per request."""
    collected = {} if collected is None else collected
    while engine.has_unfinished_requests() and (steps is None or steps > 0):
        for out in engine.step():
            collected.setdefault(out.request_id, []).append(out)
        steps = None if steps is None else steps - 1
    return collected


def _tokens(outs: list[RequestOutput]) -> list[int]:
    return [t for o in outs for t in o.new_token_ids]


def test_concurrent_greedy_equals_generate_alone(parts):
    """Six prompts of 1..15 tokens join at different steps (three at once, then one each
    step, more than max_batch so some wait): each gets its solo greedy continuation."""
    model, tok = parts
    prompts = _prompts(tok)
    engine = Engine(model, tok, max_batch=4, block_size=4, prefix_caching=False)
    greedy = SamplingParams(max_tokens=12, temperature=0)
    got: dict = {}
    for i in range(3):
        engine.add_request(f"r{i}", prompts[i], greedy)
    for i in range(3, len(prompts)):
        _drain(engine, got, steps=1)
        engine.add_request(f"r{i}", prompts[i], greedy)
        assert engine.stats()["running"] <= 4
    _drain(engine, got)
    for i, prompt in enumerate(prompts):
        outs = got[f"r{i}"]
        assert _tokens(outs) == _alone(model, prompt, 12), i
        assert [o.finished for o in outs] == [False] * 11 + [True]
        assert outs[-1].finish_reason == "length" and outs[-1].completion_tokens == 12
        assert outs[-1].prompt_tokens == len(prompt)
        assert "".join(o.new_text for o in outs) == tok.decode(_tokens(outs))
    assert engine.stats()["kv_blocks_used"] == 0 and engine.stats()["generated_tokens"] == 72


def test_seeded_sampling_independent_of_batch(parts):
    """A seeded request samples the same tokens alone, in a crowd, and in ``generate``
    with the same seed and settings."""
    model, tok = parts
    prompts = _prompts(tok)
    params = SamplingParams(max_tokens=10, temperature=1.3, top_p=0.9, top_k=50, seed=11)

    def run(crowd: int) -> list[int]:
        engine = Engine(model, tok, max_batch=8, block_size=4)
        for i in range(crowd):
            engine.add_request(f"o{i}", prompts[i + 1], SamplingParams(max_tokens=10))
        engine.add_request("seeded", prompts[0], params)
        return _tokens(_drain(engine)["seeded"])

    alone = run(0)
    assert run(4) == alone and len(alone) == 10
    assert alone == _alone(model, prompts[0], 10, do_sample=True, temperature=1.3,
                           top_p=0.9, top_k=50, seed=11)
    other = SamplingParams(max_tokens=10, temperature=1.3, top_p=0.9, top_k=50, seed=12)
    engine = Engine(model, tok)
    engine.add_request("other", prompts[0], other)
    assert _tokens(_drain(engine)["other"]) != alone


def test_abort_frees_slot_and_blocks(llama_engine_parts):
    model, tok = llama_engine_parts
    prompts = _prompts(tok)
    engine = Engine(model, tok, max_batch=2, block_size=4, num_blocks=64)
    for i in range(3):
        engine.add_request(f"r{i}", prompts[3], SamplingParams(max_tokens=20, temperature=0))
    engine.step()
    before = engine.stats()
    assert (before["running"], before["waiting"]) == (2, 1) and before["kv_blocks_used"] > 0
    engine.abort_request("r0")
    after = engine.stats()
    assert after["running"] == 1
    assert after["kv_blocks_used"] == before["kv_blocks_used"] - len(prompts[3]) // 4 - 1
    outs = engine.step()  # the abort is reported; r2 takes the freed slot
    aborted = [o for o in outs if o.request_id == "r0"]
    assert len(aborted) == 1 and aborted[0].finished and aborted[0].finish_reason == "abort"
    assert engine.stats()["running"] == 2
    engine.abort_request("r2")  # a running request that has been prefilled only
    engine.abort_request("r1")
    engine.abort_request("nonexistent")
    assert engine.stats()["kv_blocks_used"] == 0 and engine.stats()["running"] == 0
    assert {o.finish_reason for outs in _drain(engine).values() for o in outs} == {"abort"}
    assert not engine.has_unfinished_requests()


def test_queue_full_and_bad_requests(llama_engine_parts):
    model, tok = llama_engine_parts
    engine = Engine(model, tok, max_batch=1, max_queue=2, block_size=4, num_blocks=8)
    for i in range(2):
        engine.add_request(f"r{i}", [5, 6, 7], SamplingParams(max_tokens=4))
    with pytest.raises(QueueFull):
        engine.add_request("r2", [5, 6, 7], SamplingParams(max_tokens=4))
    with pytest.raises(ValueError, match="already exists"):
        engine.add_request("r0", [5], SamplingParams())
    with pytest.raises(ValueError, match="context"):
        engine.add_request("long", [5] * 512, SamplingParams())
    with pytest.raises(ValueError, match="KV cache"):  # 40 tokens > 8 blocks of 4
        engine.add_request("big", [5] * 30, SamplingParams(max_tokens=10))
    with pytest.raises(ValueError, match="at least one"):
        engine.add_request("empty", [], SamplingParams())
    engine.step()  # r0 admitted: the queue has room again
    engine.add_request("r2", [5, 6, 7], SamplingParams(max_tokens=4))


def test_waits_for_blocks_when_the_pool_is_short(llama_engine_parts):
    """With blocks for one request only, the second waits until the first is done."""
    model, tok = llama_engine_parts
    engine = Engine(model, tok, max_batch=4, block_size=4, num_blocks=4)
    for i in range(2):
        engine.add_request(f"r{i}", [5, 6, 7], SamplingParams(max_tokens=10, temperature=0))
    got = _drain(engine, steps=1)
    assert engine.stats()["running"] == 1 and engine.stats()["waiting"] == 1
    _drain(engine, got)
    assert _tokens(got["r0"]) == _tokens(got["r1"]) == _alone(model, [5, 6, 7], 10)


def test_prefix_cache_hits_reuse_blocks(llama_engine_parts):
    model, tok = llama_engine_parts
    shared = tok.encode(TEXTS[3] + TEXTS[4]).ids  # 11 tokens: 2 full blocks of 4
    engine = Engine(model, tok, block_size=4)
    greedy = SamplingParams(max_tokens=6, temperature=0)
    engine.add_request("first", shared, greedy)
    first = _tokens(_drain(engine)["first"])
    assert engine.stats()["prefix_cache_hits"] == 0
    longer = shared + tok.encode("x = 1").ids
    engine.add_request("again", shared, greedy)
    engine.add_request("longer", longer, greedy)
    got = _drain(engine)
    # "again" takes the 2 full blocks before its last token; "longer" those plus the
    # blocks "first" filled with its generated tokens only where they match (none here)
    assert engine.stats()["prefix_cache_hits"] >= 4
    assert _tokens(got["again"]) == first == _alone(model, shared, 6)
    assert _tokens(got["longer"]) == _alone(model, longer, 6)
    off = Engine(model, tok, block_size=4, prefix_caching=False)
    off.add_request("a", shared, greedy)
    off.add_request("b", shared, greedy)
    _drain(off)
    assert off.stats()["prefix_cache_hits"] == 0


def test_evicts_cached_blocks_when_needed():
    """Cached blocks nobody uses are evicted, least recently used first, for new ones."""
    cache = PagedKVCache(num_blocks=4, block_size=2)
    assert cache.add_sequence("a", [1, 2, 3, 4, 5], 6) == 0
    cache.schedule([("a", [1, 2, 3, 4, 5])])
    cache.advance(5)
    cache.free_sequence("a")
    assert cache.pool.num_used() == 0 and len(cache.pool.cached) == 2
    assert cache.add_sequence("b", [1, 2, 3, 4, 9], 5) == 4  # both full blocks shared
    cache.free_sequence("b")
    assert cache.add_sequence("c", [7] * 7, 8) == 0  # reserves all 4 blocks
    assert len(cache.pool.cached) == 2  # still cached until the blocks are taken
    cache.schedule([("c", [7] * 7)])
    assert len(cache.pool.cached) == 0 and cache.pool.num_used() == 4
    assert cache.add_sequence("d", [1], 1) is None  # no room left


def test_stop_strings_and_stop_tokens(llama_engine_parts):
    model, tok = llama_engine_parts
    prompt = tok.encode(TEXTS[0]).ids
    full = _alone(model, prompt, 16)
    text = tok.decode(full)
    stop = text[5:8]
    engine = Engine(model, tok)
    engine.add_request("s", prompt, SamplingParams(max_tokens=16, temperature=0,
                                                   stop=["@@nope@@", stop]))
    engine.add_request("t", prompt, SamplingParams(max_tokens=16, temperature=0,
                                                   stop_token_ids=[full[3]]))
    got = _drain(engine)
    outs = got["s"]
    assert outs[-1].finish_reason == "stop" and len(outs) < 16
    assert "".join(o.new_text for o in outs) == text[:text.index(stop)]
    assert _tokens(outs) == full[:len(outs)]
    t = got["t"]
    assert _tokens(t) == full[:full.index(full[3]) + 1] and t[-1].finish_reason == "stop"


def test_logits_processors_run_before_sampling(llama_engine_parts):
    """A request's processors see its generated ids and can force tokens."""
    model, tok = llama_engine_parts
    seen = []

    def force(ids: list[int], logits: np.ndarray) -> np.ndarray:
        seen.append(list(ids))
        out = np.full_like(logits, -np.inf)
        out[40 + len(ids)] = 0.0
        return out

    engine = Engine(model, tok)
    engine.add_request("f", [5, 6], SamplingParams(max_tokens=4, logits_processors=[force]))
    assert _tokens(_drain(engine)["f"]) == [40, 41, 42, 43]
    assert seen == [[], [40], [40, 41], [40, 41, 42]]


def test_from_pretrained_tokenizer_and_quantized(llama_dir):
    engine = Engine.from_pretrained(llama_dir, quantize="int8", max_batch=2)
    tok = engine.tokenizer
    assert tok.eos_token_id == tok.token_to_id("<|im_end|>")
    assert "im_start" in tok.chat_template and tok.model_id == llama_dir.name
    bare = Engine(engine.model, tok._tokenizer)  # a tokenizers.Tokenizer gets wrapped
    assert bare.tokenizer.chat_template is None
    assert bare.tokenizer.eos_token_id == bare.eos_token_id == tok.eos_token_id
    prompt = tok.encode(TEXTS[1]).ids
    engine.add_request("q", prompt, SamplingParams(max_tokens=5, temperature=0))
    assert _tokens(_drain(engine)["q"]) == _alone(engine.model, prompt, 5)
    with pytest.raises(ValueError, match="quantize"):
        Engine.from_pretrained(llama_dir, quantize="int3")


def test_incremental_detokenizer_holds_back_partial_text(llama_engine_parts):
    """Fed one token at a time, the pieces never split a UTF-8 character or release the
    start of a stop string that later completes, and they add up to the text before it."""
    from ember.serve.detokenize import IncrementalDetokenizer

    _, tok = llama_engine_parts
    text = "naïve café → done; end€ here"
    ids = tok.encode(text).ids
    assert len(ids) > len(text.split())  # multi-byte characters span byte tokens
    for stop, want in (("end€", text[:text.index("end€")]), ("@@", text)):
        detok = IncrementalDetokenizer(tok, [stop])
        pieces = [detok.add([t]) for t in ids]
        if not detok.stopped:
            pieces.append(detok.add([], final=True))
        assert "".join(pieces) == want and detok.stopped == (stop != "@@")
        assert not any("\ufffd" in p for p in pieces)
        if detok.stopped:  # "end" waited to see whether "€" follows
            assert not any(p.endswith(("e", "en", "end")) for p in pieces)
