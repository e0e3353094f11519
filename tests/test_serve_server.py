"""ember.serve's OpenAI-compatible server, driven over HTTP by the official ``openai`` client.

A real uvicorn server runs in a background thread on a free port, over the real engine and a
tiny random Llama (``tests/llm_fixtures.py``). Greedy answers are checked against
``ember.models.generation.generate`` on the prompt ``transformers``' ``apply_chat_template``
renders; tool calls and JSON-schema answers are sampled 100 times each and validated with
``jsonschema``; errors are checked for OpenAI's status codes and JSON shape.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")
openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
jsonschema = pytest.importorskip("jsonschema")

from ember.serve.chat import ChatTemplate, load_chat_template, prepare_messages  # noqa: E402
from ember.serve.engine import Engine  # noqa: E402
from ember.serve.server import create_app  # noqa: E402
from tests.llm_fixtures import make_tiny_llama  # noqa: E402

API_KEY = "sk-test-ember"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather of a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "enum": ["Paris", "Oslo", "Lima"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city", "days"], "additionalProperties": False}}}
PERSON = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 8},
    "age": {"type": "integer", "minimum": 0, "maximum": 120},
    "admin": {"type": "boolean"}},
    "required": ["name", "age", "admin"], "additionalProperties": False}


@contextlib.contextmanager
def serving(engine, **kw):
    """A uvicorn server for ``create_app(engine, **kw)`` on a free port (see ``serving_app``)."""
    with serving_app(create_app(engine, **kw)) as url:
        yield url


@contextlib.contextmanager
def serving_app(app):
    """A uvicorn server for ``app`` on a free port: yields its URL; on exit shuts it down and
    checks that its threads have ended."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    engine_thread = app.state.server.engine_loop.thread
    assert engine_thread.is_alive()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        assert not thread.is_alive() and not engine_thread.is_alive()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny Llama with a 2048-token context: the tool-calling system prompt alone is
    about 540 tokens of its small vocabulary."""
    path = make_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 2048}))
    return path


@pytest.fixture(scope="module")
def engine(model_dir):
    return Engine.from_pretrained(model_dir, max_batch=8)


@pytest.fixture(scope="module")
def base_url(engine, model_dir):
    with serving(engine, api_key=API_KEY, chat_template=load_chat_template(model_dir)) as url:
        yield url


@pytest.fixture(scope="module")
def model_name(model_dir):
    return model_dir.name


@pytest.fixture
def client(base_url):
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0,
                         timeout=60)


@pytest.fixture(scope="module")
def hf_tokenizer(model_dir):
    transformers = pytest.importorskip("transformers")
    return transformers.PreTrainedTokenizerFast.from_pretrained(model_dir)


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- chat templates ------------------------------------------------------------------

TOOL_TEMPLATE = (  # a tool-aware template in the style of Qwen's: tools and tool_calls
    "{% if tools %}<|im_start|>system\nTools:\n{% for t in tools %}{{ t | tojson }}\n"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.content is defined %}{{ m.content }}{% endif %}"
    "{% for c in m.tool_calls | default([]) %}<tool_call>{{ c.function | tojson }}</tool_call>"
    "{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}{{ eos_token }}")
CONVERSATION = [
    {"role": "system", "content": "Answer briefly, élève."},
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "content": None, "tool_calls": [{
        "id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "days": 1}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": -3}'},
]


@pytest.mark.parametrize("source", [None, TOOL_TEMPLATE], ids=["chatml", "tools"])
def test_chat_template_matches_transformers(model_dir, hf_tokenizer, source):
    template = load_chat_template(model_dir, source)
    messages = CONVERSATION if source else [m for m in CONVERSATION if m["content"]]
    for add in (True, False):
        ours = template.render(messages, tools=[WEATHER], add_generation_prompt=add)
        theirs = hf_tokenizer.apply_chat_template(messages, tools=[WEATHER], tokenize=False,
                                                  add_generation_prompt=add,
                                                  chat_template=source)
        assert ours == theirs
    assert template.handles_tools == (source is not None)


def test_prepare_messages_for_a_template_without_tools():
    template = ChatTemplate("{{ messages }}")
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    out = prepare_messages([{"role": "developer", "content": parts}] + CONVERSATION[1:],
                           template, tools_text="TOOLS",
                           tool_calls_text=lambda calls: "CALL" * len(calls))
    assert out[0] == {"role": "system", "content": "ab\n\nTOOLS"}
    assert out[2] == {"role": "assistant", "content": "CALL"}
    assert out[3]["role"] == "tool" and out[3]["content"] == '{"temp": -3}'
    out = prepare_messages(CONVERSATION[1:2], template, tools_text="TOOLS")
    assert out == [{"role": "system", "content": "TOOLS"}, CONVERSATION[1]]


# --- the server ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def greedy(model_dir, hf_tokenizer, engine):
    """``(messages, max_tokens) -> (prompt length, text)``: the greedy answer computed by
    ``generate`` on the prompt transformers renders and tokenizes."""
    import ember
    from ember.models.llama import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(model_dir)
    eos = engine.tokenizer.eos_token_id

    def answer(messages: list[dict], max_tokens: int) -> tuple[int, str]:
        ids = hf_tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                               tokenize=True, return_dict=False)
        out = model.generate(ember.tensor([ids]), max_tokens, eos_token_id=eos)
        new = [t for t in out[0].tolist()[len(ids):] if t != eos]
        return len(ids), engine.tokenizer.decode(new, skip_special_tokens=True)
    return answer


def ask(text: str) -> list[dict]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]


def test_models(client, model_name):
    assert [m.id for m in client.models.list().data] == [model_name]
    assert client.models.retrieve(model_name).id == model_name


def test_chat_greedy_matches_generate(client, model_name, greedy):
    messages = ask("What is JSON?")
    n_prompt, expected = greedy(messages, 12)
    reply = client.chat.completions.create(model=model_name, messages=messages,
                                           max_tokens=12, temperature=0)
    assert reply.object == "chat.completion" and len(reply.choices) == 1
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == expected
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens == n_prompt
    assert reply.usage.total_tokens == n_prompt + reply.usage.completion_tokens
    assert 1 <= reply.usage.completion_tokens <= 12


def test_chat_streaming(client, model_name, greedy):
    messages = ask("Stream, please.")
    n_prompt, expected = greedy(messages, 12)
    stream = client.chat.completions.create(model=model_name, messages=messages, max_tokens=12,
                                            temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert reasons[-1] in ("stop", "length") and not any(reasons[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == n_prompt
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2


def test_completions(client, model_name, engine):
    prompt = "def dumps(obj"
    ids = engine.tokenizer.encode(prompt).ids
    by_text = client.completions.create(model=model_name, prompt=prompt, max_tokens=8,
                                        temperature=0)
    by_ids = client.completions.create(model=model_name, prompt=ids, max_tokens=8,
                                       temperature=0)
    assert by_text.object == "text_completion" and by_text.choices[0].text
    assert by_ids.choices[0].text == by_text.choices[0].text
    assert by_text.usage.prompt_tokens == len(ids)
    stream = client.completions.create(model=model_name, prompt=prompt, max_tokens=8,
                                       temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in stream) == by_text.choices[0].text
    several = client.completions.create(model=model_name, prompt=[prompt, "import"], n=2,
                                        max_tokens=4, temperature=0.8, seed=3)
    assert sorted(c.index for c in several.choices) == [0, 1, 2, 3]
    assert several.choices[0].text == several.choices[1].text  # same seed, same prompt


def test_sampled_tool_calls_validate(client, model_name):
    def call(seed: int):
        return client.chat.completions.create(
            model=model_name, messages=ask("Weather in Oslo for 3 days?"), tools=[WEATHER],
            tool_choice="required", temperature=1.0, seed=seed, max_tokens=64)

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(call, range(100)))
    schema = WEATHER["function"]["parameters"]
    for reply in replies:
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls"
        (tool_call,) = choice.message.tool_calls
        assert tool_call.type == "function" and tool_call.id.startswith("call_")
        assert tool_call.function.name == "get_weather"
        jsonschema.validate(json.loads(tool_call.function.arguments), schema)
    assert len({r.choices[0].message.tool_calls[0].function.arguments for r in replies}) > 1


def test_tool_call_streamed_and_fed_back(client, model_name):
    forced = {"type": "function", "function": {"name": "get_weather"}}
    stream = client.chat.completions.create(
        model=model_name, messages=ask("Oslo?"), tools=[WEATHER], tool_choice=forced,
        temperature=0.7, seed=1, max_tokens=64, stream=True)
    chunks = list(stream)
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and chunks[-1].choices[0].finish_reason == "tool_calls"
    arguments = json.loads(calls[0].function.arguments)
    jsonschema.validate(arguments, WEATHER["function"]["parameters"])
    # the call and its result go back in as history (rendered through the ChatML template)
    history = ask("Oslo?") + [
        {"role": "assistant", "tool_calls": [{"id": calls[0].id, "type": "function",
                                              "function": calls[0].function.model_dump()}]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp": -3}'}]
    reply = client.chat.completions.create(model=model_name, messages=history, tools=[WEATHER],
                                           tool_choice="none", max_tokens=4)
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.choices[0].message.tool_calls is None


def test_json_schema_responses_validate(client, model_name):
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}

    def answer(seed: int) -> str:
        reply = client.chat.completions.create(
            model=model_name, messages=ask("A person as JSON."), response_format=fmt,
            temperature=1.0, seed=seed, max_tokens=128)  # bounds the longest valid answer
        assert reply.choices[0].finish_reason == "stop"
        return reply.choices[0].message.content

    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(answer, range(100)))
    for text in texts:
        jsonschema.validate(json.loads(text), PERSON)
    assert len(set(texts)) > 1
    for seed in range(4):  # these seeds close their object well within 200 tokens
        reply = client.chat.completions.create(
            model=model_name, messages=ask("Any JSON object."), max_tokens=200, seed=seed,
            response_format={"type": "json_object"})
        assert reply.choices[0].finish_reason == "stop"
        assert isinstance(json.loads(reply.choices[0].message.content), dict)


def error_of(base_url: str, path: str, body, key: str = API_KEY) -> tuple[int, dict]:
    response = httpx.post(base_url + path, json=body, headers={"Authorization": f"Bearer {key}"},
                          timeout=30)
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return response.status_code, error


@pytest.mark.parametrize("body, status, param", [
    ({"model": "M"}, 400, "messages"),
    ({"model": "M", "messages": []}, 400, "messages"),
    ({"model": "M", "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role"),
    ({"model": "M", "messages": ask("x"), "temperature": 5}, 400, "temperature"),
    ({"model": "M", "messages": ask("x"), "max_tokens": 0}, 400, "max_tokens"),
    ({"model": "M", "messages": ask("x"), "max_tokens": 100000}, 400, "max_tokens"),
    ({"model": "nope", "messages": ask("x")}, 404, "model"),
    ({"model": "M", "messages": ask("x"), "tools": [{"type": "function",
                                                    "function": {"name": "bad name!"}}]},
     400, "tools[0].function.name"),
    ({"model": "M", "messages": ask("x"), "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "nope"}}}}}]},
     400, "tools[0].function.parameters"),
    ({"model": "M", "messages": ask("x"), "tool_choice": "required"}, 400, "tool_choice"),
    ({"model": "M", "messages": ask("x"), "response_format": {"type": "xml"}}, 400,
     "response_format.type"),
    ({"model": "M", "messages": ask("x"), "logprobs": True}, 400, "logprobs"),
    ({"model": "M", "messages": ask("x") + [{"role": "assistant", "tool_calls": [{
        "id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]},
     400, "messages"),
], ids=["no-messages", "empty-messages", "bad-role", "temperature", "max-tokens-0",
        "max-tokens-too-many", "unknown-model", "bad-tool-name", "bad-tool-schema",
        "choice-without-tools", "bad-response-format", "logprobs", "bad-call-in-history"])
def test_malformed_chat_requests(base_url, model_name, body, status, param):
    body = {**body, "model": model_name if body["model"] == "M" else body["model"]}
    code, error = error_of(base_url, "/v1/chat/completions", body)
    assert (code, error["param"]) == (status, param)
    assert error["type"] == "invalid_request_error"


def test_malformed_requests_through_the_client(client, model_name, base_url):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model_name, messages=ask("x"), temperature=-1)
    assert info.value.status_code == 400 and info.value.body["param"] == "temperature"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=ask("x"))
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=model_name, prompt=[10**6], max_tokens=2)
    for text in (b"{not json", b"[1, 2]"):
        response = httpx.post(base_url + "/v1/completions", content=text, timeout=30,
                              headers={"Authorization": f"Bearer {API_KEY}",
                                       "Content-Type": "application/json"})
        assert response.status_code == 400 and "error" in response.json()
    assert httpx.get(base_url + "/v1/nothing", timeout=30).status_code == 404


def test_wrong_api_key(base_url, model_name):
    bad = openai.OpenAI(base_url=base_url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model=model_name, messages=ask("x"))
    assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
    status, error = error_of(base_url, "/v1/completions", {"prompt": "x"}, key="sk-no")
    assert status == 401
    assert httpx.get(base_url + "/health", timeout=30).status_code == 200


@pytest.mark.parametrize("stream", [True, False], ids=["mid-stream", "waiting"])
def test_disconnect_aborts_and_frees_the_kv_blocks(base_url, model_name, engine, stream):
    headers = {"Authorization": f"Bearer {API_KEY}"}

    def aborted() -> float:
        return httpx.get(base_url + "/metrics?format=json", headers=headers,
                         timeout=30).json()["aborted_requests_total"]

    assert wait_until(lambda: engine.stats()["running"] == 0)
    before = aborted()
    # a request that runs for hundreds of tokens whatever the model samples (the schema
    # allows no end of text before 1400 characters): hang up after a few chunks (or 1 s)
    long_text = {"type": "json_schema", "json_schema": {
        "name": "long", "schema": {"type": "string", "minLength": 1400, "maxLength": 1500}}}
    body = {"model": model_name, "messages": ask("Talk for a long time."), "stream": stream,
            "max_tokens": 1500, "temperature": 1.0, "seed": 0, "response_format": long_text}
    with httpx.Client(timeout=httpx.Timeout(30, read=None if stream else 1.0)) as http:
        if stream:
            with http.stream("POST", base_url + "/v1/chat/completions", json=body,
                             headers=headers) as response:
                assert response.status_code == 200
                data = []
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        data.append(json.loads(line[6:]))
                    if len(data) == 4:
                        break
                stats = engine.stats()
                assert stats["running"] == 1 and stats["kv_blocks_used"] > 0
        else:
            with pytest.raises(httpx.ReadTimeout):
                http.post(base_url + "/v1/chat/completions", json=body, headers=headers)
    # aborted (counted only for a request still unfinished), its slot and blocks free
    assert wait_until(lambda: engine.stats()["running"] == 0
                      and engine.stats()["kv_blocks_used"] == 0, 5)
    assert aborted() == before + 1


def test_eight_concurrent_clients(client, model_name, greedy, base_url):
    """Eight streams at once get what each would get alone, and share the forward steps
    (one at a time they would need 8 x 10)."""
    questions = [f"Question {'number ' * i}{i}?" for i in range(8)]  # lengths differ
    expected = [greedy(ask(q), 10)[1] for q in questions]

    def steps() -> float:
        return httpx.get(base_url + "/metrics?format=json", timeout=30,
                         headers={"Authorization": f"Bearer {API_KEY}"}).json()[
                             "engine_steps_total"]

    def chat(question: str) -> str:
        stream = client.chat.completions.create(model=model_name, messages=ask(question),
                                                max_tokens=10, temperature=0, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    before = steps()
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(chat, questions)) == expected
    assert steps() - before < 8 * 10 / 2


def test_metrics(base_url, client, model_name):
    client.completions.create(model=model_name, prompt="x", max_tokens=3)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    text = httpx.get(base_url + "/metrics", headers=headers, timeout=30).text
    values = dict(line.split() for line in text.splitlines() if not line.startswith("#"))
    for name in ("tokens_per_second", "queue_length", "running_requests", "kv_cache_usage",
                 "generation_tokens_total", "kv_blocks_capacity", "prefix_cache_hits_total"):
        assert f"ember_{name}" in values
    assert float(values["ember_tokens_per_second"]) > 0
    assert float(values["ember_generation_tokens_total"]) >= 3
    as_json = httpx.get(base_url + "/metrics?format=json", headers=headers, timeout=30).json()
    assert as_json["kv_cache_usage"] == 0 and as_json["queue_length"] == 0
    assert httpx.get(base_url + "/metrics", timeout=30).status_code == 401


def test_overload_answers_429(model_dir):
    small = Engine.from_pretrained(model_dir, max_batch=1, max_queue=1)
    with serving(small) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)

        def complete(i: int) -> str:
            try:
                client.completions.create(model=model_dir.name, prompt=f"x{i}", max_tokens=100,
                                          temperature=0)
            except openai.RateLimitError as exc:
                assert exc.status_code == 429 and exc.body["code"] == "rate_limit_exceeded"
                return "429"
            return "ok"

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(complete, range(6)))
        assert "429" in results and "ok" in results
        assert small.stats()["kv_blocks_used"] == 0


def test_command_line(model_dir, monkeypatch):
    """``python -m ember.serve PATH`` builds the engine and app and binds 127.0.0.1; the app
    it hands to uvicorn is then served here (a subprocess would spend ~10 s importing and
    compiling on a loaded machine)."""
    from ember.serve import __main__ as cli

    launched = {}
    monkeypatch.setattr(cli.Server, "run", lambda self: launched.update(config=self.config))
    monkeypatch.setenv("EMBER_API_KEY", "sk-env")
    assert cli.main([str(model_dir), "--port", "8123", "--max-batch", "2",
                     "--quantize", "int8"]) == 0
    config = launched["config"]
    assert (config.host, config.port) == ("127.0.0.1", 8123)
    engine = config.app.state.server.engine
    up_proj = engine.model.model.layers[0].mlp.up_proj
    assert engine.max_batch == 2 and type(up_proj).__name__ == "Int8WeightOnlyLinear"
    with serving_app(config.app) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="sk-env", max_retries=0)
        reply = client.chat.completions.create(model=model_dir.name, messages=ask("hi"),
                                               max_tokens=3)
        assert reply.usage.completion_tokens >= 1
    assert cli.main([str(model_dir / "nowhere")]) == 2


def test_shutdown_ends_open_streams(model_dir):
    """What Ctrl-C does first (``begin_shutdown``): an open stream gets an error event at
    once, new requests a 503, and every KV block is freed."""
    engine = Engine.from_pretrained(model_dir, max_batch=2)
    app = create_app(engine)
    endless = {"type": "json_schema", "json_schema": {"name": "long", "schema": {
        "type": "array", "items": {"type": "integer"}, "minItems": 1000}}}
    with serving_app(app) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
        stream = iter(client.chat.completions.create(
            model=model_dir.name, messages=ask("Count."), max_tokens=1900, stream=True,
            response_format=endless))
        next(stream), next(stream)
        assert engine.stats()["running"] == 1
        start = time.monotonic()
        app.state.server.engine_loop.begin_shutdown()
        with pytest.raises(openai.APIError, match="shutting down"):
            for _ in stream:
                pass
        assert time.monotonic() - start < 5
        with pytest.raises(openai.InternalServerError) as info:
            client.completions.create(model=model_dir.name, prompt="x", max_tokens=2)
        assert info.value.status_code == 503
    assert engine.stats()["running"] == 0 and engine.stats()["kv_blocks_used"] == 0
