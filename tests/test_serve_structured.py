"""JSON-schema-constrained decoding and tool calling (ember.serve.structured / .tools).

A random tiny Llama samples (temperature 1, a different seed per sample) under the
constraint; every output must be complete (EOS within the token budget) and valid for the
schema by ``jsonschema``, an independent validator. The mask itself is checked token by
token against ``jsonschema``'s verdict on valid and invalid documents.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import ember
from ember.models.generation import KVCache
from ember.models.llama import LlamaForCausalLM
from tests.llm_fixtures import make_tiny_llama

llguidance = pytest.importorskip("llguidance")
jsonschema = pytest.importorskip("jsonschema")

from ember.serve import structured as S  # noqa: E402
from ember.serve import tools as T  # noqa: E402

N_SAMPLES = 100
# Every schema below bounds its compact document to under MAX_NEW bytes (174 for
# ORDER_SCHEMA with each string character as a 6-byte escape), and a token is at least a
# byte, so a sample that runs out of tokens means the grammar let something unbounded in.
MAX_NEW = 200

ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1, "maximum": 9999},
        "status": {"enum": ["open", "paid", "void"]},
        "customer": {
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": 6},
                           "vip": {"type": "boolean"}},
            "required": ["name", "vip"],
            "additionalProperties": False,
        },
        "items": {
            "type": "array", "maxItems": 3,
            "items": {"type": "object",
                      "properties": {"sku": {"enum": ["A1", "B2"]},
                                     "qty": {"type": "integer", "minimum": 1, "maximum": 99}},
                      "required": ["sku", "qty"], "additionalProperties": False},
        },
    },
    "required": ["id", "status", "customer", "items"],
    "additionalProperties": False,
}

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city.",
        "parameters": {"type": "object",
                       "properties": {"city": {"type": "string", "maxLength": 8},
                                      "unit": {"enum": ["celsius", "fahrenheit"]}},
                       "required": ["city", "unit"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "add", "description": "Add two integers.",
        "parameters": {"type": "object",
                       "properties": {"a": {"type": "integer", "minimum": -99, "maximum": 99},
                                      "b": {"type": "integer", "minimum": -99, "maximum": 99}},
                       "required": ["a", "b"], "additionalProperties": False}}},
]
PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="module")
def tiny(tiny_path):
    """(model, tokenizers.Tokenizer, eos id) of the shared tiny Llama directory."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_path / "tokenizer.json"))
    return LlamaForCausalLM.from_pretrained(tiny_path), tok, tok.token_to_id("<|im_end|>")


@ember.no_grad()
def sample(tiny, make_proc, prompt: str, n: int = N_SAMPLES, seed: int = 0) -> list[str]:
    """``n`` continuations of ``prompt`` sampled at temperature 1 in one batch (row ``i``
    uses seed ``seed + i``), each under its own processor through the engine's contract
    ``proc(generated, logits)``. Rows that have not emitted EOS by ``MAX_NEW`` fail."""
    model, tok, eos = tiny
    prompt_ids = tok.encode(prompt).ids
    procs = [make_proc() for _ in range(n)]
    rngs = [np.random.default_rng(seed + i) for i in range(n)]
    generated: list[list[int]] = [[] for _ in range(n)]
    live = list(range(n))
    cache = KVCache(len(prompt_ids) + MAX_NEW)
    step = np.tile(np.asarray(prompt_ids, dtype=np.int64), (n, 1))
    for _ in range(MAX_NEW):
        logits = model(ember.tensor(step), past_key_values=cache)[:, -1].numpy()
        nxt = np.full(n, eos, dtype=np.int64)
        for i in live:
            masked = procs[i](generated[i], logits[i])
            nxt[i] = np.argmax(masked + rngs[i].gumbel(size=masked.shape))  # exact sampling
            generated[i].append(int(nxt[i]))
        live = [i for i in live if nxt[i] != eos]
        if not live:
            break
        step = nxt[:, None]
    assert not live, f"{len(live)} samples did not finish within {MAX_NEW} tokens"
    assert all(g[-1] == eos for g in generated)
    return [tok.decode(g[:-1]) for g in generated]


def test_schema_constrained_sampling_validates_100_of_100(tiny):
    _, tok, eos = tiny
    texts = sample(tiny, lambda: S.JSONSchemaLogitsProcessor(tok, ORDER_SCHEMA,
                                                             eos_token_id=eos),
                   "Reply with the order as JSON:\n")
    for text in texts:
        jsonschema.validate(json.loads(text), ORDER_SCHEMA)
    assert len(set(texts)) > N_SAMPLES // 2, "samples should differ across seeds"


def test_tool_calls_validate_100_of_100(tiny):
    _, tok, eos = tiny
    schema = T.tool_call_schema(TOOLS, "required")
    texts = sample(tiny, lambda: S.JSONSchemaLogitsProcessor(tok, schema, eos_token_id=eos),
                   "What is 2 + 3?\n", seed=1000)  # a random model ignores the prompt
    names = set()
    for text in texts:
        calls = T.parse_tool_calls(text)
        assert len(calls) == 1, text
        fn = calls[0]["function"]
        assert calls[0]["type"] == "function" and calls[0]["id"].startswith("call_")
        jsonschema.validate(json.loads(fn["arguments"]), PARAMS[fn["name"]])
        names.add(fn["name"])
    assert names == set(PARAMS), "both tools should be chosen by some sample"


def test_forced_tool_choice(tiny):
    _, tok, eos = tiny
    schema = T.tool_call_schema(TOOLS, {"type": "function", "function": {"name": "add"}})
    texts = sample(tiny, lambda: S.JSONSchemaLogitsProcessor(tok, schema, eos_token_id=eos),
                   "Add 2 and 3.\n", n=20, seed=7)
    for text in texts:
        (call,) = T.parse_tool_calls(text)
        assert call["function"]["name"] == "add"
        jsonschema.validate(json.loads(call["function"]["arguments"]), PARAMS["add"])


def _docs():
    """(document, valid for ORDER_SCHEMA?) pairs in the form the grammar emits: compact,
    properties in the schema's order (llguidance fixes the order)."""
    good = {"id": 12, "status": "paid", "customer": {"name": "Ann", "vip": False},
            "items": [{"sku": "A1", "qty": 3}, {"sku": "B2", "qty": 99}]}
    variants = [good, {**good, "items": []},
                {**good, "status": "lost"},                       # not in the enum
                {**good, "id": 0},                                 # below minimum
                {**good, "customer": {"name": "Bartholomew", "vip": True}},  # too long
                {**good, "items": [{"sku": "A1", "qty": 1}] * 4},  # too many items
                {**good, "customer": {"name": "Ann", "vip": 1}},   # wrong type
                {**good, "extra": 1},                              # additional property
                {k: v for k, v in good.items() if k != "items"}]   # missing required
    return [(json.dumps(d, separators=(",", ":")), jsonschema.Draft202012Validator(
        ORDER_SCHEMA).is_valid(d)) for d in variants]


@pytest.mark.parametrize("doc,valid", _docs())
def test_mask_agrees_with_jsonschema(tiny, doc, valid):
    """Teacher-force a document's tokens: a valid one is allowed token by token and then
    only EOS is; an invalid one hits a disallowed token before EOS."""
    _, tok, eos = tiny
    proc = S.JSONSchemaLogitsProcessor(tok, ORDER_SCHEMA, eos_token_id=eos)
    ids = tok.encode(doc).ids
    for k, token in enumerate(ids + [eos]):
        allowed = proc.allowed_mask(ids[:k])
        if not allowed[token]:
            assert not valid, f"valid document rejected at {tok.decode(ids[:k])!r}"
            return
    assert valid, "invalid document accepted"
    assert np.flatnonzero(proc.allowed_mask(ids)).tolist() == [eos]
    assert proc.is_done


def test_processor_contract_rollback_and_padding(tiny):
    """Logits past the tokenizer's vocabulary are masked; a shorter or diverging token list
    rolls the matcher back to the same state as a fresh one."""
    _, tok, eos = tiny
    ids = tok.encode('{"id":12,"status":"paid"').ids
    proc = S.JSONSchemaLogitsProcessor(tok, ORDER_SCHEMA, eos_token_id=eos)
    logits = np.zeros(tok.get_vocab_size() + 5, dtype=np.float32)
    out = proc(ids, logits)
    assert out.shape == logits.shape and np.isneginf(out[-5:]).all()
    other = tok.encode('{"id":7,"status":"void"').ids  # same length and last token
    assert len(other) == len(ids) and other[-1] == ids[-1] and other != ids
    for prefix in (ids[:3], ids, other, ids[:-1]):
        fresh = S.JSONSchemaLogitsProcessor(tok, ORDER_SCHEMA, eos_token_id=eos)
        np.testing.assert_array_equal(proc(prefix, logits), fresh(prefix, logits))
    with pytest.raises(RuntimeError, match="not allowed"):
        proc(tok.encode("[").ids, logits)


def test_transformers_adapter_in_generate(tiny):
    """The ``(input_ids (1, S), scores (1, V))`` form in ``generate``, greedy and sampled."""
    model, tok, eos = tiny
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"},
                                               "n": {"type": "integer", "maximum": 9,
                                                     "minimum": 0}},
              "required": ["ok", "n"], "additionalProperties": False}
    prompt = ember.tensor([tok.encode("Answer:").ids])
    for seed in (None, 1, 2, 3):
        adapter = S.JSONSchemaLogitsProcessor(tok, schema, eos_token_id=eos) \
            .as_transformers_processor()
        out = model.generate(prompt, 40, eos, do_sample=seed is not None, seed=seed,
                             logits_processor=[adapter]).numpy()[0, prompt.shape[1]:]
        assert out[-1] == eos
        jsonschema.validate(json.loads(tok.decode(out[:-1].tolist())), schema)
    with pytest.raises(ValueError, match="batch"):
        adapter(ember.tensor(np.zeros((2, 3), dtype=np.int64)), ember.zeros(2, 8))


def test_engine_requests_follow_schema(tiny_path):
    """Through the continuous-batching engine (its ``SamplingParams.logits_processors``):
    concurrent sampled requests under the schema all stop with a valid document."""
    from ember.serve.engine import Engine, SamplingParams

    engine = Engine.from_pretrained(tiny_path, max_batch=8)
    tok = engine.tokenizer
    texts = {}
    for i in range(8):
        proc = S.JSONSchemaLogitsProcessor(tok, ORDER_SCHEMA, eos_token_id=engine.eos_token_id)
        engine.add_request(f"r{i}", tok.encode(f"Order {i}:").ids,
                           SamplingParams(max_tokens=MAX_NEW, seed=i, logits_processors=[proc]))
        texts[f"r{i}"] = ""
    reasons = {}
    while engine.has_unfinished_requests():
        for out in engine.step():
            texts[out.request_id] += out.new_text
            if out.finished:
                reasons[out.request_id] = out.finish_reason
    assert set(reasons.values()) == {"stop"}
    for text in texts.values():
        jsonschema.validate(json.loads(text), ORDER_SCHEMA)


@pytest.mark.parametrize("schema,match", [
    ({"type": "nope"}, "schema is not a valid JSON schema: Invalid type"),
    ({"type": "string", "maxLength": -1}, "maxLength"),
    ({"type": "string", "pattern": "("}, "regex"),
    ({"$ref": "#/missing"}, "missing"),
    ([1, 2], "schema must be a JSON schema object"),
])
def test_bad_schema_raises(tiny, schema, match):
    _, tok, eos = tiny
    with pytest.raises(ValueError, match=match):
        S.JSONSchemaLogitsProcessor(tok, schema, eos_token_id=eos)


def test_response_format(tiny):
    _, tok, eos = tiny
    assert S.response_format_processor(tok, None, eos_token_id=eos) is None
    assert S.response_format_processor(tok, {"type": "text"}, eos_token_id=eos) is None
    proc = S.response_format_processor(tok, {"type": "json_object"}, eos_token_id=eos)
    assert proc.schema == {"type": "object"}
    allowed = proc.allowed_mask([])
    assert allowed[tok.token_to_id("{")] and not allowed[tok.token_to_id("[")]
    rf = {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER_SCHEMA}}
    assert S.response_format_processor(tok, rf, eos_token_id=eos).schema is ORDER_SCHEMA
    for bad, match in [("json", "response_format must be an object"),
                       ({"type": "xml"}, "response_format.type"),
                       ({"type": "json_schema"}, "response_format.json_schema must"),
                       ({"type": "json_schema", "json_schema": {"schema": {}}},
                        "response_format.json_schema.name"),
                       ({"type": "json_schema", "json_schema": {"name": "x", "schema": {
                           "type": "nope"}}}, "response_format.json_schema.schema")]:
        with pytest.raises(ValueError, match=match):
            S.response_format_processor(tok, bad, eos_token_id=eos)


def _tool(name="f", **fn):
    return {"type": "function", "function": {"name": name, **fn}}


@pytest.mark.parametrize("tools,match", [
    ([], r"tools must be a non-empty list"),
    ({"type": "function"}, r"tools must be a non-empty list"),
    ([{"type": "retrieval"}], r"tools\[0\]\.type"),
    ([{"type": "function"}], r"tools\[0\]\.function must"),
    ([_tool("bad name!")], r"tools\[0\]\.function\.name"),
    ([_tool("f"), _tool("f")], r"tools\[1\]\.function\.name 'f'"),
    ([_tool(description=3)], r"tools\[0\]\.function\.description"),
    ([_tool(parameters={"type": "string"})], r"tools\[0\]\.function\.parameters must"),
    ([_tool(), _tool("g", parameters={"type": "object", "properties": {"x": {"type": "?"}}})],
     r"tools\[1\]\.function\.parameters is not a valid JSON schema"),
])
def test_bad_tools_raise(tools, match):
    with pytest.raises(ValueError, match=match):
        T.validate_tools(tools)


def test_tool_choice():
    assert T.validate_tool_choice(None, TOOLS) == "auto"
    assert T.validate_tool_choice("none", TOOLS) is None
    assert T.validate_tool_choice(None, None) is None
    assert T.validate_tool_choice({"type": "function", "function": {"name": "add"}},
                                  TOOLS) == "add"
    assert T.tool_call_schema(TOOLS, "auto") is None
    assert T.tool_call_schema(TOOLS, "none") is None
    assert len(T.tool_call_schema(TOOLS, "required")["anyOf"]) == 2
    for choice, match in [("sometimes", "tool_choice must be"),
                          ({"type": "function", "function": {"name": "mul"}},
                           r"tool_choice\.function\.name \"mul\" is not one of"),
                          ({"type": "function"}, r"tool_choice\.function\.name")]:
        with pytest.raises(ValueError, match=match):
            T.validate_tool_choice(choice, TOOLS)
    with pytest.raises(ValueError, match="tool_choice needs a non-empty tools"):
        T.validate_tool_choice("required", [])


def test_tools_prompt():
    text = T.tools_prompt(TOOLS)
    listed = text.split("<tools>\n")[1].split("\n</tools>")[0].splitlines()
    assert [json.loads(line) for line in listed] == TOOLS
    assert "<tool_call>" in text


def test_parse_tool_calls():
    text = ('Let me check.\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n'
            '</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": '
            '"{\\"city\\": \\"Oslo\\"}"}\n</tool_call>')
    content, calls = T.split_tool_calls(text)
    assert content == "Let me check."
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] \
        == [("add", {"a": 1, "b": 2}), ("get_weather", {"city": "Oslo"})]
    assert len({c["id"] for c in calls}) == 2
    # bare object or list (constrained output), an unterminated last block
    assert len(T.parse_tool_calls('{"name": "add", "arguments": {}}')) == 1
    assert len(T.parse_tool_calls('[{"name": "a", "arguments": {}}, '
                                  '{"name": "b", "parameters": {}}]')) == 2
    assert len(T.parse_tool_calls('<tool_call>{"name": "add", "arguments": {"a": 1}}')) == 1
    # not calls: plain text and malformed blocks stay content
    for text in ["Hello", '{"answer": 3}', "<tool_call>{oops</tool_call>", "[]",
                 '{"name": "add", "arguments": [1]}']:
        assert T.split_tool_calls(text) == (text, [])
    # rendering earlier calls back into the prompt round-trips
    assert [c["function"] for c in T.parse_tool_calls(T.render_tool_calls(calls))] \
        == [c["function"] for c in calls]
