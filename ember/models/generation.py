"""Decoding for the decoder models: a preallocated key/value cache, causal attention over it,
``transformers``-style logits processors, and ``generate`` (greedy or sampled).

With a ``KVCache`` a model runs the prompt once and then one token per step, attending over
the cached keys and values (O(S) per token instead of re-running the whole sequence). The
processors follow ``transformers.generation.logits_process`` op for op, so the same scores
come out, and are applied in ``transformers``' order: repetition penalty, temperature,
top-k, top-p, min-p.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import ember

from .. import nn
from ..nn import functional as F

__all__ = ["KVCache", "cached_attention", "RepetitionPenaltyLogitsProcessor",
           "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper",
           "logits_processors", "generate"]

LogitsProcessor = Callable[[ember.Tensor, ember.Tensor], ember.Tensor]


class KVCache:
    """Keys and values of every layer, preallocated as (B, heads, max_len, head_dim).

    A layer's buffers are allocated on its first ``update``; ``length`` positions are filled.
    A model's forward calls ``update`` once per layer, then ``advance`` by the new length.
    """

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        self.length = 0
        self._keys: list[ember.Tensor] = []
        self._values: list[ember.Tensor] = []

    def update(self, layer: int, k: ember.Tensor,
               v: ember.Tensor) -> tuple[ember.Tensor, ember.Tensor]:
        """Store ``k``, ``v`` (B, heads, S, d) after the cached positions; return all of them."""
        b, n, s, d = k.shape
        end = self.length + s
        if end > self.max_len:
            raise ValueError(f"KVCache of max_len {self.max_len} cannot hold {end} positions")
        if layer == len(self._keys):
            self._keys.append(ember.empty(b, n, self.max_len, d, dtype=k.dtype))
            self._values.append(ember.empty(b, n, self.max_len, d, dtype=v.dtype))
        keys, values = self._keys[layer], self._values[layer]
        keys[:, :, self.length:end] = k
        values[:, :, self.length:end] = v
        return keys[:, :, :end], values[:, :, :end]

    def advance(self, s: int) -> None:
        """Mark ``s`` more positions as filled (after every layer has been updated)."""
        self.length += s


def cached_attention(q: ember.Tensor, k: ember.Tensor, v: ember.Tensor, cache: KVCache | None,
                     layer: int, repeat_kv: int = 1) -> ember.Tensor:
    """Causal attention of ``q`` (B, H, S, d) over the cached and new ``k``, ``v``.

    Query ``i`` sits at position ``cache.length + i`` and sees keys up to it. K/V heads are
    cached unrepeated and repeated ``repeat_kv`` times afterwards (grouped-query attention;
    a single query per head instead attends in groups, without copying K/V).
    """
    past = 0
    if cache is not None:
        past = cache.length
        k, v = cache.update(layer, k, v)
    b, h, s, d = q.shape
    if repeat_kv > 1 and s == 1:  # one query per head sees every key: group the query heads
        grouped = q.view(b, h // repeat_kv, repeat_kv, d)  # by K/V head, K/V not repeated
        return F.scaled_dot_product_attention(grouped, k, v).view(b, h, 1, d)
    if repeat_kv > 1:
        k, v = (t.repeat_interleave(repeat_kv, dim=1) for t in (k, v))
    mask = None
    if past and s > 1:
        mask = ember.tensor(np.tril(np.ones((s, past + s), dtype=bool), k=past))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=not past and s > 1)


class RepetitionPenaltyLogitsProcessor:
    """Scores of tokens already in ``input_ids`` divided by ``penalty`` (multiplied if < 0)."""

    def __init__(self, penalty: float) -> None:
        if not penalty > 0:
            raise ValueError(f"`penalty` has to be a strictly positive float, but is {penalty}")
        self.penalty = penalty

    def __call__(self, input_ids: ember.Tensor, scores: ember.Tensor) -> ember.Tensor:
        score = ember.gather(scores, 1, input_ids)
        score = ember.where(score < 0, score * self.penalty, score / self.penalty)
        return scores.scatter(1, input_ids, score)


class TemperatureLogitsWarper:
    """Scores divided by ``temperature``."""

    def __init__(self, temperature: float) -> None:
        if not temperature > 0:
            raise ValueError(f"`temperature` has to be a strictly positive float, "
                             f"but is {temperature}")
        self.temperature = temperature

    def __call__(self, input_ids: ember.Tensor, scores: ember.Tensor) -> ember.Tensor:
        return scores / self.temperature


class TopKLogitsWarper:
    """Scores below the ``top_k``-th largest set to ``filter_value``."""

    def __init__(self, top_k: int, filter_value: float = -float("inf"),
                 min_tokens_to_keep: int = 1) -> None:
        if not isinstance(top_k, int) or top_k <= 0:
            raise ValueError(f"`top_k` has to be a strictly positive integer, but is {top_k}")
        self.top_k = max(top_k, min_tokens_to_keep)
        self.filter_value = filter_value

    def __call__(self, input_ids: ember.Tensor, scores: ember.Tensor) -> ember.Tensor:
        k = min(self.top_k, scores.shape[-1])
        kth = ember.topk(scores, k)[0][..., -1:]
        return scores.masked_fill(scores < kth, self.filter_value)


class TopPLogitsWarper:
    """Keep the most likely tokens whose cumulative probability reaches ``top_p``."""

    def __init__(self, top_p: float, filter_value: float = -float("inf"),
                 min_tokens_to_keep: int = 1) -> None:
        top_p = float(top_p)
        if not 0 <= top_p <= 1:
            raise ValueError(f"`top_p` has to be a float > 0 and < 1, but is {top_p}")
        self.top_p, self.filter_value, self.min_keep = top_p, filter_value, min_tokens_to_keep

    def __call__(self, input_ids: ember.Tensor, scores: ember.Tensor) -> ember.Tensor:
        sorted_logits, sorted_indices = ember.sort(scores, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - self.top_p)
        remove[..., -self.min_keep:] = False
        return scores.masked_fill(remove.scatter(1, sorted_indices, remove), self.filter_value)


class MinPLogitsWarper:
    """Drop tokens whose probability is below ``min_p`` times the top token's."""

    def __init__(self, min_p: float, filter_value: float = -float("inf"),
                 min_tokens_to_keep: int = 1) -> None:
        if not 0 <= min_p <= 1:
            raise ValueError(f"`min_p` has to be a float in the [0, 1] interval, but is {min_p}")
        self.min_p, self.filter_value, self.min_keep = min_p, filter_value, min_tokens_to_keep

    def __call__(self, input_ids: ember.Tensor, scores: ember.Tensor) -> ember.Tensor:
        probs = scores.softmax(dim=-1)
        remove = probs < self.min_p * probs.amax(dim=-1, keepdim=True)
        keep = ember.topk(probs, min(self.min_keep, probs.shape[-1]), dim=-1)[1]
        remove.scatter_(-1, keep, False)
        return scores.masked_fill(remove, self.filter_value)


def logits_processors(do_sample: bool = False, temperature: float | None = None,
                      top_k: int | None = None, top_p: float | None = None,
                      min_p: float | None = None,
                      repetition_penalty: float | None = None) -> list[LogitsProcessor]:
    """The processors ``transformers`` builds for these settings, in its order (the warpers
    only when sampling; no-op settings such as ``temperature=1`` are left out)."""
    procs: list[LogitsProcessor] = []
    if repetition_penalty is not None and repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(repetition_penalty))
    if not do_sample:
        return procs
    if temperature is not None and temperature != 1.0:
        procs.append(TemperatureLogitsWarper(temperature))
    if top_k is not None and top_k != 0:
        procs.append(TopKLogitsWarper(top_k))
    if top_p is not None and top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p))
    if min_p is not None:
        procs.append(MinPLogitsWarper(min_p))
    return procs


@ember.no_grad()
def generate(model: nn.Module, input_ids: ember.Tensor, max_new_tokens: int,
             eos_token_id: int | None = None, *, use_cache: bool = True,
             do_sample: bool = False, temperature: float | None = None,
             top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
             repetition_penalty: float | None = None, generator: ember.Generator | None = None,
             pad_token_id: int | None = None) -> ember.Tensor:
    """Continue ``input_ids`` (B, S) by up to ``max_new_tokens`` tokens.

    ``model(ids, past_key_values=cache)`` gives logits (B, S, vocab). With ``use_cache`` the
    prompt is run once and each later step feeds only the new token; without, the whole
    sequence is re-run each step (the exact, slow reference). Greedy (argmax) unless
    ``do_sample``, which draws from the processed scores' softmax with ``generator``
    (default: ember's default generator, so ``ember.manual_seed`` makes it reproducible).
    Sequences that emitted ``eos_token_id`` continue with ``pad_token_id`` (default: eos);
    generation stops early once all have.
    """
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be non-negative, got {max_new_tokens}")
    processors = logits_processors(do_sample, temperature, top_k, top_p, min_p,
                                   repetition_penalty)
    ids = np.asarray(input_ids.numpy(), dtype=np.int64)
    cache = KVCache(ids.shape[1] + max_new_tokens) if use_cache else None
    pad = eos_token_id if pad_token_id is None else pad_token_id
    finished = np.zeros(ids.shape[0], dtype=bool)
    step = ids
    for _ in range(max_new_tokens):
        scores = model(ember.tensor(step), past_key_values=cache)[:, -1]
        for proc in processors:
            scores = proc(ember.tensor(ids), scores)
        if do_sample:
            nxt = ember.multinomial(scores.softmax(dim=-1), 1, generator=generator)
            nxt = nxt.numpy()[:, 0]
        else:
            nxt = scores.argmax(-1).numpy()
        if eos_token_id is not None:
            nxt = np.where(finished, pad, nxt)
            finished |= nxt == eos_token_id
        ids = np.concatenate([ids, nxt[:, None].astype(np.int64)], axis=1)
        step = ids[:, -1:] if use_cache else ids
        if finished.all():
            break
    return ember.tensor(ids)
