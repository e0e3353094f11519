"""The OpenAI-compatible HTTP server: a FastAPI app over a synchronous engine.

One background thread (``EngineLoop``) owns the engine: it adds and aborts requests between
steps and runs ``engine.step()`` while any request is unfinished, so all clients share each
forward. Each step's outputs go to the asyncio queue of the HTTP request that owns them
(``loop.call_soon_threadsafe``); a handler only encodes the prompt, hands it over and reads
its queue. A request that ends early (a client gone mid-stream or mid-wait, an error) is
aborted, which frees its batch slot and KV blocks at once.

Endpoints: ``/v1/models``, ``/v1/completions``, ``/v1/chat/completions`` (non-streaming
and server-sent events, tools, ``response_format``), ``/metrics`` (Prometheus text, or JSON
with ``?format=json``) and ``/health``. Every error is OpenAI's JSON error body: 400 for a
bad request, 401 for a wrong API key, 404 for an unknown model, 429 when the engine's queue
is full.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from . import protocol as api
from .chat import CHATML_TEMPLATE, ChatTemplate, prepare_messages
from .engine import QueueFull, RequestOutput, SamplingParams

__all__ = ["EngineLoop", "create_app"]

log = logging.getLogger("ember.serve")

Sink = Callable[[RequestOutput | BaseException], None]


class ShuttingDown(RuntimeError):
    """The server stops: requests in flight end, new ones are refused (503)."""


class Metrics:
    """Counters of the server and the generated tokens of the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self.requests = self.rejected = self.aborted = self.steps = 0
        self.prompt_tokens = self.completion_tokens = 0
        self.step_seconds = 0.0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._lock = threading.Lock()

    def record_step(self, outputs: list[RequestOutput], seconds: float) -> None:
        tokens = sum(len(out.new_token_ids) for out in outputs)
        now = time.monotonic()
        with self._lock:
            self.steps += 1
            self.step_seconds += seconds
            self.completion_tokens += tokens
            self.prompt_tokens += sum(out.prompt_tokens for out in outputs
                                      if out.finished and out.finish_reason != "abort")
            self._recent.append((now, tokens))
            while self._recent and self._recent[0][0] < now - self.window_s:
                self._recent.popleft()

    def tokens_per_second(self) -> float:
        """Generated tokens per second over the window (0 when idle for a whole window)."""
        now = time.monotonic()
        with self._lock:
            recent = [n for t, n in self._recent if t >= now - self.window_s]
        return sum(recent) / self.window_s


class EngineLoop:
    """The thread that drives ``engine``: the only one to call its methods.

    ``submit`` and ``abort`` queue commands from any thread; the loop runs them between
    steps and hands every ``RequestOutput`` to its request's sink (an exception instead if
    a step fails, which ends every request in flight).
    """

    def __init__(self, engine) -> None:
        self.engine = engine
        self.metrics = Metrics()
        self.stats: dict[str, Any] = {}  # the engine's stats after its latest step
        self._commands: collections.deque = collections.deque()
        self._lock = threading.Lock()  # orders commands against the thread's exit
        self._wake = threading.Event()
        self._sinks: dict[str, Sink] = {}
        self._stopping = self._closed = False
        self.thread: threading.Thread | None = None  # while started

    def start(self) -> None:
        self._stopping = self._closed = False
        self.stats = self.engine.stats()
        self.thread = threading.Thread(target=self._run, name="ember-engine", daemon=True)
        self.thread.start()

    def begin_shutdown(self) -> None:
        """End the requests in flight (they get ``ShuttingDown``: a 503, or an error event
        that closes a stream) and refuse new ones; the thread exits after its current step.
        Takes no lock, so a signal handler may call it."""
        self._stopping = True
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """``begin_shutdown`` and wait for the thread to end."""
        self.begin_shutdown()
        if self.thread is not None:
            self.thread.join(timeout)
            self.thread = None

    def submit(self, request_id: str, prompt: list[int], params: SamplingParams,
               sink: Sink) -> concurrent.futures.Future:
        """Add a request; the future fails with the engine's ``QueueFull``/``ValueError``
        (``ShuttingDown`` once the loop stops)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._command(self._add, future, request_id, prompt, params, sink)
        return future

    def abort(self, request_id: str) -> None:
        self._command(self._abort, None, request_id)

    def _command(self, fn: Callable, future: concurrent.futures.Future | None, *args) -> None:
        with self._lock:
            if not self._closed:
                self._commands.append((fn, future, args))
                self._wake.set()
                return
        if future is not None:
            future.set_exception(ShuttingDown("the server is shutting down"))

    def _run(self) -> None:
        while not self._stopping:
            self._run_commands()
            if self.engine.has_unfinished_requests():
                self._step()
            else:
                self._wake.wait()
                self._wake.clear()
        with self._lock:
            self._closed = True
        self._run_commands()
        self._fail_all(ShuttingDown("the server is shutting down"))

    def _run_commands(self) -> None:
        while self._commands:
            fn, future, args = self._commands.popleft()
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting request
                if future is None:
                    log.exception("engine command failed")
                else:
                    future.set_exception(exc)
            else:
                if future is not None:
                    future.set_result(None)

    def _add(self, request_id: str, prompt: list[int], params: SamplingParams,
             sink: Sink) -> None:
        if self._stopping:
            raise ShuttingDown("the server is shutting down")
        self.engine.add_request(request_id, prompt, params)
        self._sinks[request_id] = sink
        self.metrics.requests += 1

    def _abort(self, request_id: str) -> None:
        if self._sinks.pop(request_id, None) is not None:  # finished ones are gone already
            self.engine.abort_request(request_id)
            self.metrics.aborted += 1
        self.stats = self.engine.stats()

    def _step(self) -> None:
        start = time.perf_counter()
        try:
            outputs = self.engine.step()
        except Exception as exc:  # noqa: BLE001 - every request in flight gets it
            log.exception("engine step failed")
            self._fail_all(exc)
            return
        self.metrics.record_step(outputs, time.perf_counter() - start)
        for out in outputs:
            # aborted requests are gone already
            sink = (self._sinks.pop if out.finished else self._sinks.get)(out.request_id, None)
            if sink is not None:
                sink(out)
        self.stats = self.engine.stats()

    def _fail_all(self, exc: BaseException) -> None:
        for request_id, sink in list(self._sinks.items()):
            try:
                self.engine.abort_request(request_id)
            except Exception:  # noqa: BLE001 - the engine may be broken already
                log.exception("abort of %s failed", request_id)
            sink(exc)
        self._sinks.clear()


class Generation:
    """The sub-requests (prompts × ``n``) of one HTTP request, read as one stream."""

    def __init__(self, engine_loop: EngineLoop, base_id: str, count: int) -> None:
        self._engine_loop = engine_loop
        self.ids = [f"{base_id}-{i}" for i in range(count)]
        self._queue: asyncio.Queue = asyncio.Queue()
        self._pending: set[int] = set()

    async def start(self, prompts: list[list[int]], params: list[SamplingParams]) -> None:
        """Add every sub-request (in one batch of commands); if any fails, abort the others
        and raise the API error: 429 for a full queue, 400 for what the engine rejects."""
        loop = asyncio.get_running_loop()
        futures = [self._engine_loop.submit(self.ids[i], prompt, sp, self._sink(loop, i))
                   for i, (prompt, sp) in enumerate(zip(prompts, params))]
        self._pending = set(range(len(futures)))
        try:
            results = await asyncio.gather(*map(asyncio.wrap_future, futures),
                                           return_exceptions=True)
        except BaseException:  # cancelled: the client went away
            self.abort()
            raise
        error = next((r for r in results if isinstance(r, BaseException)), None)
        if error is None:
            return
        self.abort()
        if isinstance(error, QueueFull):
            self._engine_loop.metrics.rejected += 1
            raise api.APIError(429, f"The server is overloaded: {error}",
                               type="rate_limit_error", code="rate_limit_exceeded") from error
        if isinstance(error, ValueError):
            raise api.APIError(400, str(error)) from error
        raise _server_error(error)

    def _sink(self, loop: asyncio.AbstractEventLoop, index: int) -> Sink:
        def sink(out: RequestOutput | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(self._queue.put_nowait, (index, out))
            except RuntimeError:  # the event loop is closed: nobody waits for it
                pass
        return sink

    async def outputs(self) -> AsyncIterator[tuple[int, RequestOutput]]:
        """(sub-request index, output) until every sub-request has finished."""
        while self._pending:
            index, out = await self._queue.get()
            if isinstance(out, BaseException):
                self._pending.clear()
                raise _server_error(out)
            if out.finished:
                self._pending.discard(index)
            yield index, out

    async def collect(self, request: Request) -> dict[int, list[RequestOutput]] | None:
        """Every output by sub-request, or None if the client went away first (aborted)."""
        async def gather() -> dict[int, list[RequestOutput]]:
            results: dict[int, list[RequestOutput]] = collections.defaultdict(list)
            async for index, out in self.outputs():
                results[index].append(out)
            return results

        gathering = asyncio.ensure_future(gather())
        watching = asyncio.ensure_future(_disconnected(request))
        try:
            done, _ = await asyncio.wait({gathering, watching},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            watching.cancel()
            if not gathering.done():
                gathering.cancel()
                self.abort()
        return gathering.result() if gathering in done else None

    def abort(self) -> None:
        """Abort the sub-requests still running (a no-op for finished ones)."""
        for index in self._pending:
            self._engine_loop.abort(self.ids[index])
        self._pending.clear()


async def _disconnected(request: Request) -> None:
    """Return when the client closes the connection (the request body is read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _server_error(exc: BaseException) -> api.APIError:
    if isinstance(exc, ShuttingDown):
        return api.APIError(503, str(exc), type="server_error")
    return api.APIError(500, f"Generation failed: {exc}", type="server_error")


def _sse(payload: api.BaseModel | str) -> str:
    data = payload if isinstance(payload, str) else payload.model_dump_json()
    return f"data: {data}\n\n"


def _finish_reason(out: RequestOutput) -> str:
    return "length" if out.finish_reason == "length" else "stop"


def _context_length(engine) -> int | None:
    config = getattr(engine.model, "config", None)
    return (getattr(engine, "max_model_len", None)
            or getattr(config, "max_position_embeddings", None)
            or getattr(config, "n_positions", None))


def _field(message: str) -> str:
    """The request field an ``ember.serve.tools``/``structured`` error begins with."""
    return re.match(r"[\w.\[\]]*", message).group() or "body"


class OpenAIServer:
    """The endpoints' logic, over one ``EngineLoop``."""

    def __init__(self, engine, model_name: str, template: ChatTemplate) -> None:
        self.engine = engine
        self.engine_loop = EngineLoop(engine)
        self.tokenizer = engine.tokenizer
        self.model_name = model_name
        self.template = template
        self.context_length = _context_length(engine)
        self.created = int(time.time())

    # --- shared ---------------------------------------------------------------------

    def check_model(self, model: str) -> None:
        if model != self.model_name:
            raise api.APIError(404, f"The model `{model}` does not exist.", param="model",
                               code="model_not_found")

    def sampling_params(self, req: api.ChatCompletionRequest | api.CompletionRequest,
                        max_tokens: int | None, prompt_len: int, prompt_param: str,
                        processors: list) -> SamplingParams:
        """The engine's parameters for one sub-request of ``req``."""
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(req, name):
                raise api.APIError(400, f"{name} is not supported; use repetition_penalty",
                                   param=name)
        if self.context_length is not None:
            room = self.context_length - prompt_len
            if room < 1 or (max_tokens is not None and max_tokens > room):
                asked = f" and max_tokens asks for {max_tokens} more" if room >= 1 else ""
                raise api.APIError(
                    400, f"This model's maximum context length is {self.context_length} tokens; "
                    f"the prompt has {prompt_len}{asked}.",
                    param="max_tokens" if room >= 1 else prompt_param,
                    code="context_length_exceeded")
            max_tokens = room if max_tokens is None else max_tokens
        stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        return SamplingParams(
            max_tokens=max_tokens or 16,
            temperature=1.0 if req.temperature is None else req.temperature,
            top_k=req.top_k if req.top_k and req.top_k > 0 else None, top_p=req.top_p,
            min_p=req.min_p, repetition_penalty=req.repetition_penalty, seed=req.seed,
            stop=stop, stop_token_ids=list(req.stop_token_ids or []),
            logits_processors=processors)

    def encode(self, text: str, add_special_tokens: bool) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    async def start(self, prompts: list[list[int]],
                    params: list[SamplingParams], prefix: str) -> Generation:
        generation = Generation(self.engine_loop, f"{prefix}-{uuid.uuid4().hex}", len(prompts))
        await generation.start(prompts, params)
        return generation

    @staticmethod
    def usage(prompt_tokens: int, outputs: list[RequestOutput]) -> api.Usage:
        completion = sum(out.completion_tokens for out in outputs if out.finished)
        return api.Usage(prompt_tokens=prompt_tokens, completion_tokens=completion,
                         total_tokens=prompt_tokens + completion)

    def stream(self, generation: Generation, req: api.ChatCompletionRequest | api.CompletionRequest,
               events: Callable[[list[RequestOutput]], AsyncIterator[str]],
               usage_event: Callable[[api.Usage], str], prompt_tokens: int) -> StreamingResponse:
        """A streamed answer: ``events(finals)`` (which appends every finished output to
        ``finals``), the usage chunk if ``stream_options.include_usage`` asks for it, then
        ``[DONE]``. However the stream ends (finished, failed, the client gone), the
        generation is aborted, which frees whatever the engine still holds for it."""
        async def body() -> AsyncIterator[str]:
            finals: list[RequestOutput] = []
            try:
                async for event in events(finals):
                    yield event
                if req.stream_options and req.stream_options.include_usage:
                    yield usage_event(self.usage(prompt_tokens, finals))
                yield _sse("[DONE]")
            finally:
                generation.abort()
        return _event_stream(body())

    # --- /v1/completions ------------------------------------------------------------

    def _completion_prompts(self, prompt: Any) -> list[list[int]]:
        if isinstance(prompt, str):
            return [self.encode(prompt, True)]
        if all(isinstance(p, int) for p in prompt):
            prompt = [prompt]
        prompts = [self.encode(p, True) if isinstance(p, str) else list(p) for p in prompt]
        vocab = self.tokenizer.get_vocab_size()
        if any(not 0 <= t < vocab for p in prompts for t in p):
            raise api.APIError(400, f"prompt token ids must lie in [0, {vocab})", param="prompt")
        if any(not p for p in prompts):
            raise api.APIError(400, "prompt must not be empty", param="prompt")
        return prompts

    async def completions(self, req: api.CompletionRequest, request: Request) -> Response:
        self.check_model(req.model)
        for name, unsupported in (("echo", req.echo), ("logprobs", req.logprobs is not None),
                                  ("suffix", req.suffix), ("best_of", (req.best_of or 1) > 1)):
            if unsupported:
                raise api.APIError(400, f"{name} is not supported", param=name)
        encoded = self._completion_prompts(req.prompt)
        prompts = [p for p in encoded for _ in range(req.n)]
        max_tokens = 16 if req.max_tokens is None else req.max_tokens  # OpenAI's default
        params = [self.sampling_params(req, max_tokens, len(p), "prompt", []) for p in prompts]
        generation = await self.start(prompts, params, "cmpl")
        created, rid = int(time.time()), generation.ids[0].rsplit("-", 1)[0]
        prompt_tokens = sum(len(p) for p in encoded)

        def completion(choices: list[api.CompletionChoice],
                       usage: api.Usage | None = None) -> api.Completion:
            return api.Completion(id=rid, created=created, model=self.model_name,
                                  choices=choices, usage=usage)

        if req.stream:
            async def events(finals: list[RequestOutput]) -> AsyncIterator[str]:
                async for i, out in generation.outputs():
                    if out.new_text or out.finished:
                        reason = _finish_reason(out) if out.finished else None
                        yield _sse(completion([api.CompletionChoice(
                            index=i, text=out.new_text, finish_reason=reason)]))
                    if out.finished:
                        finals.append(out)
            return self.stream(generation, req, events,
                               lambda usage: _sse(completion([], usage)), prompt_tokens)

        results = await generation.collect(request)
        if results is None:
            return Response(status_code=499)
        choices = [api.CompletionChoice(index=i, text="".join(o.new_text for o in outs),
                                        finish_reason=_finish_reason(outs[-1]))
                   for i, outs in sorted(results.items())]
        finals = [outs[-1] for outs in results.values()]
        return JSONResponse(completion(choices, self.usage(prompt_tokens, finals)).model_dump())

    # --- /v1/chat/completions -------------------------------------------------------

    def _chat_processors(self, req: api.ChatCompletionRequest) -> tuple[bool, list[list]]:
        """(whether the answer is parsed for tool calls, each choice's logits processors).

        A required or forced tool call constrains the output to the call's JSON schema;
        ``"auto"`` leaves the model free and parses whatever calls it writes. Without a
        possible tool call, ``response_format`` constrains the output. Building the
        processors compiles the schema, so a bad one is answered 400 here.
        """
        from .structured import JSONSchemaLogitsProcessor, response_format_processor
        from .tools import tool_call_schema, validate_tool_choice

        eos = self.tokenizer.eos_token_id
        try:
            choice = validate_tool_choice(req.tool_choice, req.tools)
            schema = None if choice is None else tool_call_schema(req.tools, req.tool_choice)
            if schema is not None:
                processors = [JSONSchemaLogitsProcessor(self.tokenizer, schema,
                                                        eos_token_id=eos)
                              for _ in range(req.n)]
            elif choice is None:
                processors = [response_format_processor(self.tokenizer, req.response_format,
                                                        eos_token_id=eos)
                              for _ in range(req.n)]
            else:
                processors = [None] * req.n
        except ValueError as exc:
            raise api.APIError(400, str(exc), param=_field(str(exc))) from exc
        return choice is not None, [[p] if p is not None else [] for p in processors]

    def _chat_prompt(self, req: api.ChatCompletionRequest) -> str:
        """The prompt text; ``req.tools`` are valid here (``_chat_processors`` checked)."""
        from jinja2 import TemplateError

        from .tools import render_tool_calls, tools_prompt

        messages = [m.model_dump(exclude_none=True) for m in req.messages]
        try:
            messages = prepare_messages(
                messages, self.template, tools_text=tools_prompt(req.tools) if req.tools else None,
                tool_calls_text=render_tool_calls)
            return self.template.render(messages, tools=req.tools)
        except (ValueError, TemplateError) as exc:  # e.g. tool call arguments that are no JSON
            raise api.APIError(400, f"Cannot build the prompt from the messages: {exc}",
                               param="messages") from exc

    @staticmethod
    def _parse_answer(text: str, parse_tools: bool
                      ) -> tuple[str | None, list[api.ToolCall] | None]:
        """(content, tool calls) of a finished answer."""
        if parse_tools:
            from .tools import split_tool_calls

            content, calls = split_tool_calls(text)
            if calls:
                return content, [api.ToolCall.model_validate(call) for call in calls]
        return text, None

    async def chat_completions(self, req: api.ChatCompletionRequest,
                               request: Request) -> Response:
        self.check_model(req.model)
        if req.logprobs:
            raise api.APIError(400, "logprobs are not supported", param="logprobs")
        parse_tools, processors = self._chat_processors(req)
        prompt = self.encode(self._chat_prompt(req), False)
        max_tokens = req.max_completion_tokens or req.max_tokens
        params = [self.sampling_params(req, max_tokens, len(prompt), "messages", procs)
                  for procs in processors]
        generation = await self.start([prompt] * req.n, params, "chatcmpl")
        created, rid = int(time.time()), generation.ids[0].rsplit("-", 1)[0]

        def chunk(choices: list[api.ChatChunkChoice],
                  usage: api.Usage | None = None) -> api.ChatCompletionChunk:
            return api.ChatCompletionChunk(id=rid, created=created, model=self.model_name,
                                           choices=choices, usage=usage)

        if req.stream:
            async def events(finals: list[RequestOutput]) -> AsyncIterator[str]:
                texts: dict[int, list[str]] = collections.defaultdict(list)
                yield _sse(chunk([api.ChatChunkChoice(
                    index=i, delta=api.ChatDelta(role="assistant", content=""))
                    for i in range(req.n)]))
                async for i, out in generation.outputs():
                    if parse_tools:  # a tool call is sent whole, once its JSON is complete
                        texts[i].append(out.new_text)
                    elif out.new_text:
                        yield _sse(chunk([api.ChatChunkChoice(
                            index=i, delta=api.ChatDelta(content=out.new_text))]))
                    if not out.finished:
                        continue
                    finals.append(out)
                    reason, delta = _finish_reason(out), api.ChatDelta()
                    if parse_tools:
                        content, calls = self._parse_answer("".join(texts[i]), True)
                        if calls:
                            reason = "tool_calls"
                            delta = api.ChatDelta(tool_calls=[
                                api.ToolCallDelta(index=k, **call.model_dump())
                                for k, call in enumerate(calls)])
                        else:
                            delta = api.ChatDelta(content=content)
                    yield _sse(chunk([api.ChatChunkChoice(index=i, delta=delta,
                                                          finish_reason=reason)]))
            return self.stream(generation, req, events,
                               lambda usage: _sse(chunk([], usage)), len(prompt))

        results = await generation.collect(request)
        if results is None:
            return Response(status_code=499)
        choices = []
        for i, outs in sorted(results.items()):
            content, calls = self._parse_answer("".join(o.new_text for o in outs), parse_tools)
            reason = "tool_calls" if calls else _finish_reason(outs[-1])
            message = api.AssistantMessage(content=content, tool_calls=calls)
            choices.append(api.ChatChoice(index=i, finish_reason=reason, message=message))
        body = api.ChatCompletion(id=rid, created=created, model=self.model_name,
                                  choices=choices,
                                  usage=self.usage(len(prompt), [o[-1] for o in results.values()]))
        return JSONResponse(body.model_dump())

    # --- /metrics -------------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """Name → value; names ending in ``_total`` are counters, the others gauges."""
        m, stats = self.engine_loop.metrics, self.engine_loop.stats
        used, blocks = stats.get("kv_blocks_used", 0), stats.get("kv_blocks_total", 0)
        return {
            "tokens_per_second": m.tokens_per_second(),
            "requests_total": m.requests, "rejected_requests_total": m.rejected,
            "aborted_requests_total": m.aborted,
            "prompt_tokens_total": m.prompt_tokens,
            "generation_tokens_total": m.completion_tokens,
            "engine_steps_total": m.steps, "engine_step_seconds_total": m.step_seconds,
            "queue_length": stats.get("waiting", 0), "running_requests": stats.get("running", 0),
            "kv_blocks_used": used, "kv_blocks_capacity": blocks,
            "kv_cache_usage": used / blocks if blocks else 0.0,
            "prefix_cache_hits_total": stats.get("prefix_cache_hits", 0),
        }


_METRIC_HELP = {
    "tokens_per_second": "Generated tokens per second over the last 10 s",
    "queue_length": "Requests waiting for a batch slot",
    "running_requests": "Requests in the running batch",
    "kv_cache_usage": "Fraction of the KV cache blocks in use",
    "prefix_cache_hits_total": "Prompt blocks taken from the prefix cache",
    "aborted_requests_total": "Requests ended early (client gone, error, shutdown)",
}


def _prometheus(values: dict[str, float]) -> str:
    lines = []
    for name, value in values.items():
        kind = "counter" if name.endswith("_total") else "gauge"
        if name in _METRIC_HELP:
            lines.append(f"# HELP ember_{name} {_METRIC_HELP[name]}")
        lines += [f"# TYPE ember_{name} {kind}", f"ember_{name} {value}"]
    return "\n".join(lines) + "\n"


def _event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    """Server-sent events; an error after the response has begun (the engine failed, the
    server stops) is sent as OpenAI's error event, then ``[DONE]``, which the ``openai``
    client raises as an ``APIError``."""
    async def guarded() -> AsyncIterator[str]:
        try:
            async for event in events:
                yield event
        except api.APIError as exc:
            yield _sse(json.dumps(exc.body()))
            yield _sse("[DONE]")

    return StreamingResponse(guarded(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def _api_error_response(exc: api.APIError) -> JSONResponse:
    headers = {"Retry-After": "1"} if exc.status == 429 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _validation_error_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    def where(error: dict) -> str:
        return ".".join(str(p) for p in error.get("loc", ()) if p != "body")
    message = "; ".join(f"{where(e) or 'body'}: {e.get('msg')}" for e in errors[:3])
    param = where(errors[0]) if errors else None
    return JSONResponse(api.error_body(f"Invalid request: {message}", "invalid_request_error",
                                       param or None), status_code=400)


def create_app(engine, *, api_key: str | None = None, model_name: str | None = None,
               chat_template: ChatTemplate | None = None) -> FastAPI:
    """The FastAPI app serving ``engine`` (an ``ember.serve.engine.Engine``) as
    ``model_name`` (default: the tokenizer's ``model_id``), requiring ``Authorization:
    Bearer api_key`` on ``/v1`` and ``/metrics`` if ``api_key`` is set. The chat template
    defaults to the tokenizer's (ChatML if it has none); the app's lifespan starts and stops
    the engine's thread."""
    tokenizer = engine.tokenizer
    if chat_template is None:
        eos = tokenizer.eos_token_id
        chat_template = ChatTemplate(
            getattr(tokenizer, "chat_template", None) or CHATML_TEMPLATE,
            {"eos_token": tokenizer.id_to_token(eos) if eos is not None else None})
    server = OpenAIServer(engine, model_name or getattr(tokenizer, "model_id", None) or "ember",
                          chat_template)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        server.engine_loop.start()
        try:
            yield
        finally:
            server.engine_loop.stop()

    def check_key(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise api.APIError(401, "Incorrect API key provided.", code="invalid_api_key")

    app = FastAPI(title="ember", lifespan=lifespan)
    app.state.server = server
    app.add_exception_handler(api.APIError, lambda r, e: _api_error_response(e))
    app.add_exception_handler(RequestValidationError, lambda r, e: _validation_error_response(e))
    app.add_exception_handler(HTTPException, lambda r, e: JSONResponse(
        api.error_body(str(e.detail), "invalid_request_error"), status_code=e.status_code))
    app.add_exception_handler(Exception, lambda r, e: JSONResponse(
        api.error_body(f"Internal error: {e}", "server_error"), status_code=500))

    router = APIRouter(dependencies=[Depends(check_key)])

    @router.get("/v1/models")
    async def list_models() -> dict:
        card = api.ModelCard(id=server.model_name, created=server.created)
        return api.ModelList(data=[card]).model_dump()

    @router.get("/v1/models/{model:path}")
    async def get_model(model: str) -> dict:
        server.check_model(model)
        return api.ModelCard(id=server.model_name, created=server.created).model_dump()

    @router.post("/v1/completions")
    async def completions(req: api.CompletionRequest, request: Request) -> Response:
        return await server.completions(req, request)

    @router.post("/v1/chat/completions")
    async def chat_completions(req: api.ChatCompletionRequest, request: Request) -> Response:
        return await server.chat_completions(req, request)

    @router.get("/metrics")
    async def metrics(format: str = "prometheus") -> Response:
        values = server.metrics()
        if format == "json":
            return JSONResponse(values)
        return PlainTextResponse(_prometheus(values))

    app.include_router(router)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app
