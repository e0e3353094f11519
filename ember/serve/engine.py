"""A synchronous continuous-batching engine, shaped like vLLM's ``LLMEngine``.

``add_request`` queues a prompt; every ``step`` runs one forward for all running requests
(new prompts are prefilled, the others decode one token) and returns what each produced.
Requests join and leave between steps; their keys and values live in fixed-size blocks of
one pool (``ember.serve.kv_cache``), freed as soon as a request finishes or is aborted, and
prompts sharing full leading blocks with an earlier prompt reuse them (prefix caching).
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import ember

from ..models.generation import logits_processors
from .detokenize import EngineTokenizer, IncrementalDetokenizer, load_engine_tokenizer
from .kv_cache import PagedKVCache

__all__ = ["SamplingParams", "RequestOutput", "QueueFull", "Engine"]


@dataclass
class SamplingParams:
    """How one request is decoded (vLLM's names and meanings)."""

    max_tokens: int = 16
    temperature: float = 1.0          # 0 means greedy
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)          # stop strings, not in the text
    stop_token_ids: list[int] = field(default_factory=list)  # plus the tokenizer's eos
    # each: callable(generated_token_ids: list[int], logits: np.ndarray float32 (vocab,))
    # -> np.ndarray; called once per step per request, in order, before the samplers
    logits_processors: list = field(default_factory=list)


@dataclass
class RequestOutput:
    """What one request produced in one step."""

    request_id: str
    new_token_ids: list[int]      # produced by this step
    new_text: str                 # incremental text (held back while it may start a stop)
    finished: bool
    finish_reason: str | None     # "stop" | "length" | "abort"
    prompt_tokens: int
    completion_tokens: int


class QueueFull(RuntimeError):
    """The waiting queue already holds ``max_queue`` requests (a server answers 429)."""


@dataclass
class _Request:
    """A request's state inside the engine."""

    request_id: str
    prompt: list[int]
    params: SamplingParams
    max_len: int                       # prompt plus the most tokens it may produce
    detok: IncrementalDetokenizer
    processors: list
    generator: ember.Generator | None
    output: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)  # tokens the next forward feeds


class Engine:
    """Continuous batching over a paged KV cache for a decoder model and its tokenizer.

    ``model(ids, past_key_values=cache, logits_to_keep=idx)`` is an ``ember.models`` decoder
    (Llama or GPT-2); ``tokenizer`` has ``decode(ids, skip_special_tokens=...)`` and
    optionally ``eos_token_id`` (else the model config's is used); one without
    ``chat_template`` (a bare ``tokenizers.Tokenizer``) is wrapped in an
    ``EngineTokenizer``. Up to ``max_batch``
    requests run at once; a waiting request is admitted when a batch slot and KV blocks for
    its prompt plus ``max_tokens`` are free (default pool: room for ``max_batch`` requests
    of the model's full context).
    """

    def __init__(self, model, tokenizer, *, max_batch: int = 8, block_size: int = 16,
                 num_blocks: int | None = None, max_queue: int = 64,
                 prefix_caching: bool = True) -> None:
        config = model.config
        eos = getattr(tokenizer, "eos_token_id", None)
        self.eos_token_id = config.eos_token_id if eos is None else eos
        if not hasattr(tokenizer, "chat_template"):  # e.g. a bare tokenizers.Tokenizer
            tokenizer = EngineTokenizer(tokenizer, self.eos_token_id)
        self.model, self.tokenizer = model, tokenizer
        self.max_model_len = getattr(config, "max_position_embeddings", None) or \
            config.n_positions
        if num_blocks is None:
            num_blocks = max_batch * -(-self.max_model_len // block_size)
        self.max_batch, self.block_size, self.max_queue = max_batch, block_size, max_queue
        self.cache = PagedKVCache(num_blocks, block_size, prefix_caching)
        self.waiting: deque[_Request] = deque()
        self.running: list[_Request] = []
        self._aborted: list[RequestOutput] = []
        self.generated_tokens = 0

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, quantize: str | None = None,
                        **kw) -> Engine:
        """An engine for the Hugging Face-format model directory ``path`` (Llama or GPT-2),
        its linear layers optionally quantized (``"int8"`` or ``"int4"`` weight-only)."""
        from ..ao.quantization import int4_weight_only, int8_weight_only, quantize_
        from ..models.gpt2 import GPT2LMHeadModel
        from ..models.llama import LlamaForCausalLM

        configs = {None: None, "int8": int8_weight_only, "int4": int4_weight_only}
        if quantize not in configs:
            raise ValueError(f"quantize must be None, 'int8' or 'int4', got {quantize!r}")
        model_type = json.loads((Path(path) / "config.json").read_text())["model_type"]
        classes = {"llama": LlamaForCausalLM, "gpt2": GPT2LMHeadModel}
        if model_type not in classes:
            raise ValueError(f"unsupported model_type {model_type!r}; expected llama or gpt2")
        model = classes[model_type].from_pretrained(path)
        if quantize is not None:
            quantize_(model, configs[quantize]())
        return cls(model, load_engine_tokenizer(path, model.config.eos_token_id), **kw)

    def add_request(self, request_id: str, prompt_token_ids: list[int],
                    params: SamplingParams) -> None:
        """Queue a request. Raises ``QueueFull`` when ``max_queue`` requests are waiting and
        ``ValueError`` for a prompt the model or the cache cannot hold."""
        prompt = [int(t) for t in prompt_token_ids]
        if not prompt:
            raise ValueError("the prompt must have at least one token")
        if params.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {params.max_tokens}")
        if len(prompt) >= self.max_model_len:
            raise ValueError(f"prompt of {len(prompt)} tokens does not fit the model's "
                             f"context of {self.max_model_len} tokens")
        max_len = min(len(prompt) + params.max_tokens, self.max_model_len)
        if self.cache.blocks_for(max_len) > self.cache.pool.num_blocks:
            raise ValueError(f"prompt plus max_tokens ({max_len} tokens) does not fit the KV "
                             f"cache of {self.cache.pool.num_blocks * self.block_size} tokens")
        if any(r.request_id == request_id for r in (*self.waiting, *self.running)):
            raise ValueError(f"request {request_id!r} already exists")
        if len(self.waiting) >= self.max_queue:
            raise QueueFull(f"{len(self.waiting)} requests are waiting (max_queue)")
        greedy = params.temperature == 0
        processors = logits_processors(not greedy, None if greedy else params.temperature,
                                       params.top_k, params.top_p, params.min_p,
                                       params.repetition_penalty)
        generator = None if params.seed is None else ember.Generator().manual_seed(params.seed)
        self.waiting.append(_Request(request_id, prompt, params, max_len,
                                     IncrementalDetokenizer(self.tokenizer, params.stop),
                                     processors, generator))

    def abort_request(self, request_id: str) -> None:
        """Drop a request, waiting or running, freeing its slot and KV blocks at once; the
        next ``step`` reports it finished with reason ``"abort"``. Unknown ids are ignored
        (the request may have just finished)."""
        for queue in (self.waiting, self.running):
            for req in list(queue):
                if req.request_id == request_id:
                    queue.remove(req)
                    if request_id in self.cache.seqs:
                        self.cache.free_sequence(request_id)
                    self._aborted.append(RequestOutput(request_id, [], "", True, "abort",
                                                       len(req.prompt), len(req.output)))

    def _admit(self) -> None:
        """Move waiting requests (first come, first served) into free batch slots while the
        cache has blocks for them."""
        while self.waiting and len(self.running) < self.max_batch:
            req = self.waiting[0]
            cached = self.cache.add_sequence(req.request_id, req.prompt, req.max_len)
            if cached is None:
                return
            self.waiting.popleft()
            req.pending = req.prompt[cached:]
            self.running.append(req)

    def step(self) -> list[RequestOutput]:
        """One forward for every running request (admitting waiting ones first: their
        prompts, less any cached prefix, are prefilled); returns each request's output."""
        outputs, self._aborted = self._aborted, []
        self._admit()
        if not self.running:
            return outputs
        self.cache.schedule([(r.request_id, r.pending) for r in self.running])
        ids = ember.tensor(np.concatenate([r.pending for r in self.running])[None])
        with ember.no_grad():
            logits = self.model(ids, past_key_values=self.cache,
                                logits_to_keep=self.cache.last_token_index)[0].numpy()
        for req, row in zip(list(self.running), logits):
            outputs.append(self._advance(req, self._sample(req, row)))
        return outputs

    def _sample(self, req: _Request, logits: np.ndarray) -> int:
        """The next token of ``req`` from its last position's ``logits`` (vocab,)."""
        for proc in req.params.logits_processors:
            logits = np.asarray(proc(list(req.output), logits), dtype=np.float32)
        if req.params.temperature == 0 and not req.processors:
            return int(np.argmax(logits))  # the first maximum, as ember's argmax
        scores = ember.tensor(logits[None])
        if req.processors:
            context = ember.tensor(np.array([req.prompt + req.output], dtype=np.int64))
            for proc in req.processors:
                scores = proc(context, scores)
        if req.params.temperature == 0:
            return int(scores.argmax(-1).item())
        return int(ember.multinomial(scores.softmax(dim=-1), 1, generator=req.generator).item())

    def _advance(self, req: _Request, token: int) -> RequestOutput:
        """Append ``token`` to ``req``, decide whether it is finished, and report it."""
        req.output.append(token)
        req.pending = [token]
        self.generated_tokens += 1
        text = req.detok.add([token])
        reason = None
        if req.detok.stopped or token == self.eos_token_id \
                or token in req.params.stop_token_ids:
            reason = "stop"
        elif len(req.prompt) + len(req.output) >= req.max_len:
            reason = "length"
        if reason is not None:
            if not req.detok.stopped:
                text += req.detok.add([], final=True)
            self.running.remove(req)
            self.cache.free_sequence(req.request_id)
        return RequestOutput(req.request_id, [token], text, reason is not None, reason,
                             len(req.prompt), len(req.output))

    def has_unfinished_requests(self) -> bool:
        """Whether a request is waiting or running, or an abort is still to be reported."""
        return bool(self.waiting or self.running or self._aborted)

    def stats(self) -> dict:
        """running, waiting, kv_blocks_used (referenced by running requests),
        kv_blocks_total, prefix_cache_hits (prompt blocks taken from the prefix cache),
        generated_tokens (since the engine started)."""
        return {"running": len(self.running), "waiting": len(self.waiting),
                "kv_blocks_used": self.cache.pool.num_used(),
                "kv_blocks_total": self.cache.pool.num_blocks,
                "prefix_cache_hits": self.cache.prefix_cache_hits,
                "generated_tokens": self.generated_tokens}
