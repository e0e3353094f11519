"""Decoding for the decoder models: a preallocated key/value cache, causal attention over it,
``transformers``-style logits processors, and ``generate`` (greedy or sampled; left-padded
batches, stop strings, streamers, seeds).

With a ``KVCache`` a model runs the prompt once and then one token per step, attending over
the cached keys and values (O(S) per token instead of re-running the whole sequence). The
paged cache of ``ember.serve.kv_cache`` implements the same interface for continuous
batching. The processors follow ``transformers.generation.logits_process`` op for op, so
the same scores come out, and are applied in ``transformers``' order: repetition penalty,
temperature, top-k, top-p, min-p.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import ember

from .. import nn
from ..nn import functional as F

__all__ = ["KVCache", "attention", "cached_attention", "positions", "keep_positions",
           "RepetitionPenaltyLogitsProcessor", "TemperatureLogitsWarper", "TopKLogitsWarper",
           "TopPLogitsWarper", "MinPLogitsWarper",
           "logits_processors", "generate"]

LogitsProcessor = Callable[[ember.Tensor, ember.Tensor], ember.Tensor]


class KVCache:
    """Keys and values of every layer, preallocated as (B, heads, max_len, head_dim).

    The interface a model calls (the paged cache of ``ember.serve.kv_cache`` implements it
    too): ``positions(s)`` gives the position ids of the next ``s`` tokens, ``attend``
    stores one layer's new keys and values and returns its attention output, and
    ``advance(s)`` marks the ``s`` tokens filled once every layer has attended.

    ``attention_mask`` (B, S0) of the prompt (1 = token, 0 = padding, as in
    ``transformers``) makes rows of left-padded prompts independent: each row's positions
    count its own tokens and padding is never attended to. Later tokens are unpadded.
    A layer's buffers are allocated on its first ``attend``; ``length`` slots are filled.
    """

    def __init__(self, max_len: int, attention_mask: np.ndarray | None = None) -> None:
        self.max_len = max_len
        self.length = 0
        self._keys: list[ember.Tensor] = []
        self._values: list[ember.Tensor] = []
        self._mask: np.ndarray | None = None  # (B, max_len) bool; None: nothing is padding
        if attention_mask is not None and not np.all(attention_mask):
            mask = np.asarray(attention_mask, dtype=bool)
            if mask.shape[1] > max_len:
                raise ValueError(f"KVCache of max_len {max_len} cannot hold {mask.shape[1]} "
                                 "positions")
            self._mask = np.ones((mask.shape[0], max_len), dtype=bool)
            self._mask[:, :mask.shape[1]] = mask

    def positions(self, s: int) -> np.ndarray:
        """Position ids of the next ``s`` tokens: (s,), or (B, s) when rows are padded
        (the number of real tokens before each, as ``transformers`` counts them)."""
        if self._mask is None:
            return np.arange(self.length, self.length + s)
        pos = np.cumsum(self._mask[:, :self.length + s], axis=1) - 1
        pos[~self._mask[:, :self.length + s]] = 1
        return pos[:, self.length:]

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

    def attend(self, layer: int, q: ember.Tensor, k: ember.Tensor, v: ember.Tensor,
               repeat_kv: int = 1) -> ember.Tensor:
        """Store ``k``, ``v`` and return causal attention of ``q`` over all cached ones."""
        past = self.length
        k, v = self.update(layer, k, v)
        s = q.shape[2]
        if self._mask is None:
            mask = np.tril(np.ones((s, past + s), dtype=bool), k=past) if past and s > 1 \
                else None
            return attention(q, k, v, mask, is_causal=not past and s > 1, repeat_kv=repeat_kv)
        end = past + s
        mask = np.tril(np.ones((s, end), dtype=bool), k=past) & self._mask[:, None, None, :end]
        mask[..., np.arange(s), np.arange(past, end)] = True  # padding sees itself: no NaN
        return attention(q, k, v, mask, repeat_kv=repeat_kv)

    def advance(self, s: int) -> None:
        """Mark ``s`` more positions as filled (after every layer has been updated)."""
        self.length += s

    def crop(self, length: int) -> None:
        """Forget the positions from ``length`` on (speculative decoding rolls back)."""
        self.length = min(self.length, length)


def attention(q: ember.Tensor, k: ember.Tensor, v: ember.Tensor,
              mask: np.ndarray | ember.Tensor | None, is_causal: bool = False,
              repeat_kv: int = 1) -> ember.Tensor:
    """Attention of ``q`` (B, H, S, d) over ``k``, ``v`` (B, H / repeat_kv, T, d) where the
    bool ``mask`` (broadcast to (B, 1, S, T)) allows it.

    K/V heads are repeated ``repeat_kv`` times (grouped-query attention); a single query
    per head instead attends in groups, without copying K/V.
    """
    b, h, s, d = q.shape
    attn_mask = mask if mask is None or isinstance(mask, ember.Tensor) else ember.tensor(mask)
    if repeat_kv > 1 and s == 1:  # one query per head sees every key: group the query heads
        grouped = q.view(b, h // repeat_kv, repeat_kv, d)  # by K/V head, K/V not repeated
        return F.scaled_dot_product_attention(grouped, k, v, attn_mask=attn_mask).view(b, h, 1, d)
    if repeat_kv > 1:
        k, v = (t.repeat_interleave(repeat_kv, dim=1) for t in (k, v))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)


def cached_attention(q: ember.Tensor, k: ember.Tensor, v: ember.Tensor, cache: KVCache | None,
                     layer: int, repeat_kv: int = 1) -> ember.Tensor:
    """Causal attention of ``q`` (B, H, S, d) over the cached and new ``k``, ``v``: the
    cache's ``attend`` when there is one, else over ``k``, ``v`` alone."""
    if cache is not None:
        return cache.attend(layer, q, k, v, repeat_kv)
    return attention(q, k, v, None, is_causal=q.shape[2] > 1, repeat_kv=repeat_kv)


def keep_positions(hidden: ember.Tensor, logits_to_keep: int | np.ndarray) -> ember.Tensor:
    """The positions of ``hidden`` (B, S, E) that need logits (``transformers``'
    ``logits_to_keep``): all for 0, the last ``n`` for an int ``n``, else those indices."""
    if isinstance(logits_to_keep, int):
        return hidden[:, -logits_to_keep:] if logits_to_keep else hidden
    return hidden.index_select(1, ember.tensor(np.asarray(logits_to_keep, dtype=np.int64)))


def positions(cache: KVCache | None, s: int) -> np.ndarray:
    """Position ids of ``s`` new tokens: the cache's, or ``0 .. s - 1`` without one."""
    return np.arange(s) if cache is None else cache.positions(s)


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


def _stop_string_hit(tokenizer, tokens: np.ndarray, stop_strings: list[str]) -> bool:
    """Whether a stop string ends within the last token of ``tokens`` (the rule of
    ``transformers``' ``StopStringCriteria``: the match must overlap the final token)."""
    window = [int(t) for t in tokens[-(max(map(len, stop_strings)) + 1):]]
    text, before = tokenizer.decode(window), tokenizer.decode(window[:-1])
    return any(text.find(stop, max(0, len(before) - len(stop) + 1)) >= 0
               for stop in stop_strings)


@ember.no_grad()
def generate(model: nn.Module, input_ids: ember.Tensor, max_new_tokens: int,
             eos_token_id: int | None = None, *, attention_mask: ember.Tensor | None = None,
             use_cache: bool = True, do_sample: bool = False, temperature: float | None = None,
             top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
             repetition_penalty: float | None = None, generator: ember.Generator | None = None,
             seed: int | None = None, pad_token_id: int | None = None,
             logits_processor: list[LogitsProcessor] | None = None,
             stop_strings: str | list[str] | None = None, tokenizer=None,
             streamer=None) -> ember.Tensor:
    """Continue ``input_ids`` (B, S) by up to ``max_new_tokens`` tokens.

    ``model(ids, past_key_values=cache)`` gives logits (B, S, vocab). With ``use_cache`` the
    prompt is run once and each later step feeds only the new token; without, the whole
    sequence is re-run each step (the exact, slow reference). ``attention_mask`` (B, S) marks
    left padding of prompts of different lengths with 0, as in ``transformers``.

    Greedy (argmax) unless ``do_sample``, which draws from the processed scores' softmax
    with ``generator`` (or a fresh one seeded with ``seed``; default: ember's default
    generator, so ``ember.manual_seed`` makes it reproducible). ``logits_processor`` are
    extra processors ``(ids, scores) -> scores``, applied where ``transformers`` puts them:
    after the repetition penalty, before the sampling warpers (temperature, top-k, ...), so
    a processor that masks tokens sees the raw scores.

    A sequence is done once it emits ``eos_token_id`` or (with ``tokenizer``, whose
    ``decode`` reads token ids) its text ends in one of ``stop_strings``, which stays in the
    output as in ``transformers``; done sequences continue with ``pad_token_id`` (default:
    eos), and generation stops once all are done. ``streamer.put(ids)`` receives the prompt
    (B, S) and then each step's new tokens (B,), as numpy arrays; ``streamer.end()`` follows.
    """
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be non-negative, got {max_new_tokens}")
    if seed is not None:
        if generator is not None:
            raise ValueError("pass either `generator` or `seed`, not both")
        generator = ember.Generator().manual_seed(seed)
    stops = [stop_strings] if isinstance(stop_strings, str) else list(stop_strings or [])
    if stops and tokenizer is None:
        raise ValueError("stop_strings need the `tokenizer` argument to decode the output")
    penalty = logits_processors(False, repetition_penalty=repetition_penalty)
    warpers = logits_processors(do_sample, temperature, top_k, top_p, min_p,
                                repetition_penalty)[len(penalty):]
    processors = penalty + list(logits_processor or []) + warpers
    ids = np.asarray(input_ids.numpy(), dtype=np.int64)
    prompt_mask = None
    if attention_mask is not None:
        prompt_mask = np.asarray(_as_numpy(attention_mask), dtype=bool)
        if prompt_mask.shape != ids.shape:
            raise ValueError(f"attention_mask of shape {prompt_mask.shape} does not match "
                             f"input_ids of shape {ids.shape}")
    valid = prompt_mask  # (B, length): which tokens are real, None when all are
    cache = KVCache(ids.shape[1] + max_new_tokens, prompt_mask) if use_cache else None
    pad = eos_token_id if pad_token_id is None else pad_token_id
    if pad is None and (eos_token_id is not None or stops):
        pad = 0
    finished = np.zeros(ids.shape[0], dtype=bool)
    if streamer is not None:
        streamer.put(ids.copy())
    step = ids
    for _ in range(max_new_tokens):
        if use_cache or prompt_mask is None:
            logits = model(ember.tensor(step), past_key_values=cache)
        else:  # the uncached reference with padding: a fresh cache each step
            logits = model(ember.tensor(ids), past_key_values=KVCache(ids.shape[1], valid))
        scores = logits[:, -1]
        for proc in processors:
            scores = proc(ember.tensor(ids), scores)
        if do_sample:
            nxt = ember.multinomial(scores.softmax(dim=-1), 1, generator=generator)
            nxt = nxt.numpy()[:, 0]
        else:
            nxt = scores.argmax(-1).numpy()
        nxt = np.where(finished, pad, nxt).astype(np.int64) if finished.any() else nxt
        ids = np.concatenate([ids, nxt[:, None].astype(np.int64)], axis=1)
        if valid is not None:
            valid = np.concatenate([valid, np.ones((len(ids), 1), dtype=bool)], axis=1)
        if streamer is not None:
            streamer.put(nxt.copy())
        if eos_token_id is not None:
            finished |= nxt == eos_token_id
        for row in np.flatnonzero(~finished) if stops else ():
            real = ids[row] if valid is None else ids[row, valid[row]]
            finished[row] = _stop_string_hit(tokenizer, real, stops)
        step = ids[:, -1:] if use_cache else ids
        if finished.all():
            break
    if streamer is not None:
        streamer.end()
    return ember.tensor(ids)


def _as_numpy(x) -> np.ndarray:
    """An ember tensor, array or nested list as a numpy array."""
    return x.numpy() if isinstance(x, ember.Tensor) else np.asarray(x)
