"""Speculative decoding: a small draft model proposes tokens, the target model checks them.

Each round the draft proposes ``k`` tokens one at a time (with its own KV cache); the
target scores the pending token and all ``k`` proposals in ONE forward, giving its
distribution ``p`` at each of the ``k + 1`` positions. Proposal ``x`` drawn from the
draft's ``q`` is accepted with probability ``min(1, p(x) / q(x))``; the first rejected one
is replaced by a draw from ``normalize(max(0, p - q))``, and when all ``k`` are accepted a
bonus token is drawn from the last ``p``. This is the scheme of Leviathan et al. (2023) and
Chen et al. (2023): every emitted token has exactly the target's distribution, whatever the
draft, so the output is distributed as ``generate`` on the target alone; a draft that
agrees with the target only makes it faster (up to ``k + 1`` tokens per target forward).
``p`` and ``q`` are the processed distributions (temperature, top-k, top-p, min-p applied
as ``ember.models.generation.logits_processors`` does). Greedy decoding accepts proposals
while they equal the target's argmax, so its output is token for token the target's.

After a rejection both caches are rolled back to the accepted prefix (``KVCache.crop``;
positions after it are overwritten by the next forward).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import ember

from ..models.generation import KVCache, logits_processors

__all__ = ["SpeculativeStats", "SpeculativeDecoder", "speculative_generate", "verify"]


@dataclass
class SpeculativeStats:
    """Counts of one generation: draft tokens proposed and accepted, forward calls."""

    proposed: int = 0
    accepted: int = 0
    rounds: int = 0
    target_calls: int = 0
    draft_calls: int = 0
    new_tokens: int = 0

    @property
    def acceptance_rate(self) -> float:
        """Accepted over proposed draft tokens (0 when none were proposed)."""
        return self.accepted / self.proposed if self.proposed else 0.0

    @property
    def tokens_per_round(self) -> float:
        """New tokens per round, i.e. per decoding forward of the target (plain decoding: 1)."""
        return self.new_tokens / self.rounds if self.rounds else 0.0


def _probs(scores: np.ndarray) -> np.ndarray:
    """Softmax of processed scores (rows; ``-inf`` entries get probability 0), float64."""
    s = scores.astype(np.float64)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _draw(probs: np.ndarray, u: float) -> int:
    """The token at which the cumulative ``probs`` first exceeds ``u`` times their total
    (inverse-CDF sampling; tokens of probability 0 are never drawn)."""
    cdf = np.cumsum(probs)
    return int(min(np.searchsorted(cdf, u * cdf[-1], side="right"), len(probs) - 1))


def verify(p: np.ndarray, q: np.ndarray | None, drafts: list[int],
           uniform: Callable[[], float]) -> tuple[int, int]:
    """The rejection step: ``(accepted, next_token)`` for ``drafts`` (k tokens) drawn from
    the draft's rows ``q`` (k, V), given the target's rows ``p`` (k + 1, V).

    ``q`` is None when ``drafts`` is empty; ``uniform()`` returns one U[0, 1) draw. Drafts
    are accepted in order with probability ``min(1, p/q)``; the first rejected one is
    replaced by a draw from ``normalize(max(0, p - q))``, or, if all are accepted, a bonus
    token comes from ``p[k]``.
    """
    if q is not None and q.shape[-1] != p.shape[-1]:
        raise ValueError(f"draft and target vocabularies differ: {q.shape[-1]} vs "
                         f"{p.shape[-1]} tokens")
    for i, x in enumerate(drafts):
        if uniform() * q[i, x] < p[i, x]:  # u < p/q without dividing (q[i, x] > 0)
            continue
        residual = np.maximum(p[i] - q[i], 0.0)
        if residual.sum() <= 0:  # p == q up to rounding: p itself is the residual
            residual = p[i]
        return i, _draw(residual, uniform())
    return len(drafts), _draw(p[len(drafts)], uniform())


class SpeculativeDecoder:
    """The state of one speculative generation (batch 1): token ids and both KV caches.

    Invariant between rounds: the target's cache holds every token but the last; the
    draft's holds a prefix of the tokens (it lags by one more after a fully accepted
    round, since the last proposal was never fed to it).
    """

    def __init__(self, target, draft, input_ids: ember.Tensor, max_len: int, *,
                 num_draft_tokens: int = 4, do_sample: bool = False,
                 temperature: float | None = None, top_k: int | None = None,
                 top_p: float | None = None, min_p: float | None = None,
                 generator: ember.Generator | None = None) -> None:
        ids = np.asarray(input_ids.numpy(), dtype=np.int64)
        if ids.ndim != 2 or ids.shape[0] != 1 or ids.shape[1] == 0:
            raise ValueError(f"speculative decoding takes input_ids of shape (1, S) with "
                             f"S > 0, got {tuple(ids.shape)}")
        if not isinstance(num_draft_tokens, int) or num_draft_tokens < 1:
            raise ValueError(f"num_draft_tokens must be a positive int, got {num_draft_tokens}")
        self.target, self.draft, self.k = target, draft, num_draft_tokens
        self.do_sample, self.generator = do_sample, generator
        self.processors = logits_processors(do_sample, temperature, top_k, top_p, min_p)
        self.ids = ids[0].tolist()
        # a round feeds the pending token and k proposals: room for k + 1 past the end
        self.target_cache = KVCache(max_len + num_draft_tokens + 1)
        self.draft_cache = KVCache(max_len + num_draft_tokens + 1)
        self.stats = SpeculativeStats()
        if len(self.ids) > 1:  # prefill: everything but the last token, which is pending
            self._forward(True, self.ids[:-1])
            self._forward(False, self.ids[:-1])

    def _forward(self, on_target: bool, tokens: list[int]) -> ember.Tensor:
        """Logits (S, V) of ``tokens`` fed to the target or the draft after its cache."""
        if on_target:
            self.stats.target_calls += 1
            model, cache = self.target, self.target_cache
        else:
            self.stats.draft_calls += 1
            model, cache = self.draft, self.draft_cache
        return model(ember.tensor([tokens]), past_key_values=cache)[0]

    def _scores(self, logits: ember.Tensor) -> np.ndarray:
        """The processors applied to each row of ``logits`` (rows are positions; the
        warpers look at scores only, so every row gets the same context)."""
        if self.processors:
            context = ember.tensor([self.ids])
            for proc in self.processors:
                logits = proc(context, logits)
        return logits.numpy()

    def _uniform(self) -> float:
        return float(ember.rand(1, generator=self.generator, dtype=ember.float64).item())

    def _propose(self, k: int) -> tuple[list[int], np.ndarray | None]:
        """``k`` draft tokens and, when sampling, the draft's distributions (k, V)."""
        tokens, rows = [], []
        for _ in range(k):
            pending = (self.ids + tokens)[self.draft_cache.length:]
            scores = self._scores(self._forward(False, pending)[-1:])
            if self.do_sample:
                rows.append(_probs(scores)[0])
                tokens.append(_draw(rows[-1], self._uniform()))
            else:
                tokens.append(int(scores[0].argmax()))
        return tokens, np.stack(rows) if rows else None

    def step(self, max_tokens: int) -> list[int]:
        """One round: up to ``max_tokens`` (>= 1) new tokens, appended to ``ids``."""
        k = min(self.k, max_tokens - 1)
        proposals, q = self._propose(k)
        start = len(self.ids) - 1
        scores = self._scores(self._forward(True, [self.ids[-1], *proposals]))
        if self.do_sample:
            accepted, nxt = verify(_probs(scores), q, proposals, self._uniform)
        else:
            target_choice = scores.argmax(axis=-1)
            accepted = 0
            while accepted < k and proposals[accepted] == target_choice[accepted]:
                accepted += 1
            nxt = int(target_choice[accepted])
        new = [*proposals[:accepted], nxt]
        self.ids.extend(new)
        self.target_cache.crop(start + accepted + 1)  # keeps at most that many positions
        self.draft_cache.crop(start + accepted + 1)
        self.stats.rounds += 1
        self.stats.proposed += k
        self.stats.accepted += accepted
        self.stats.new_tokens += len(new)
        return new


@ember.no_grad()
def speculative_generate(target, draft, input_ids: ember.Tensor, max_new_tokens: int, *,
                         num_draft_tokens: int = 4, eos_token_id: int | None = None,
                         do_sample: bool = False, temperature: float | None = None,
                         top_k: int | None = None, top_p: float | None = None,
                         min_p: float | None = None,
                         generator: ember.Generator | None = None,
                         ) -> tuple[ember.Tensor, SpeculativeStats]:
    """Continue ``input_ids`` (1, S) by up to ``max_new_tokens`` tokens of ``target``,
    ``num_draft_tokens`` at a time proposed by ``draft`` (same vocabulary).

    Returns the ids (1, S + new) and the counts. Greedy unless ``do_sample``; the output has
    the distribution of ``target.generate`` with the same settings (token for token equal
    when greedy). Stops after ``eos_token_id``, which is kept, as ``generate`` does.
    """
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be non-negative, got {max_new_tokens}")
    prompt = input_ids.shape[-1]
    if max_new_tokens == 0:
        return input_ids, SpeculativeStats()
    dec = SpeculativeDecoder(target, draft, input_ids, prompt + max_new_tokens,
                             num_draft_tokens=num_draft_tokens, do_sample=do_sample,
                             temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                             generator=generator)
    while len(dec.ids) - prompt < max_new_tokens:
        new = dec.step(max_new_tokens - (len(dec.ids) - prompt))
        if eos_token_id is not None and eos_token_id in new:
            del dec.ids[len(dec.ids) - len(new) + new.index(eos_token_id) + 1:]
            break
    dec.stats.new_tokens = len(dec.ids) - prompt
    return ember.tensor([dec.ids]), dec.stats
