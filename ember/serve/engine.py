"""A synchronous continuous-batching engine, shaped like vLLM's ``LLMEngine``.

``add_request`` queues a prompt; every ``step`` runs one forward for all running requests
(new prompts are prefilled, the others decode one token) and returns what each produced.
Requests join and leave between steps; their keys and values live in fixed-size blocks of
one pool (``ember.serve.kv_cache``), freed as soon as a request finishes or is aborted, and
prompts sharing full leading blocks with an earlier prompt reuse them (prefix caching).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

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


class Engine:
    """Continuous batching over a paged KV cache for a decoder model and its tokenizer."""

    def __init__(self, model, tokenizer, *, max_batch: int = 8, block_size: int = 16,
                 num_blocks: int | None = None, max_queue: int = 64,
                 prefix_caching: bool = True) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.block_size, self.max_queue = max_batch, block_size, max_queue
        self.prefix_caching = prefix_caching
        self.num_blocks = num_blocks
        self.waiting: deque = deque()
        self.running: list = []

    @classmethod
    def from_pretrained(cls, path, *, quantize: str | None = None, **kw) -> Engine:
        """An engine for the Hugging Face-format model directory ``path`` (Llama or GPT-2),
        its linear layers optionally quantized (``"int8"`` or ``"int4"`` weight-only)."""
        raise NotImplementedError

    def add_request(self, request_id: str, prompt_token_ids: list[int],
                    params: SamplingParams) -> None:
        """Queue a request. Raises ``QueueFull`` when ``max_queue`` requests are waiting and
        ``ValueError`` for a prompt the model or the cache cannot hold."""
        raise NotImplementedError

    def abort_request(self, request_id: str) -> None:
        """Drop a request, waiting or running, freeing its slot and KV blocks at once."""
        raise NotImplementedError

    def step(self) -> list[RequestOutput]:
        """One forward for every running request; returns each request's output."""
        raise NotImplementedError

    def has_unfinished_requests(self) -> bool:
        return bool(self.waiting or self.running)

    def stats(self) -> dict:
        """running, waiting, kv_blocks_used, kv_blocks_total, prefix_cache_hits,
        generated_tokens."""
        raise NotImplementedError

