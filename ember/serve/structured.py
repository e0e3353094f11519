"""Grammar-constrained decoding: only tokens that keep the output valid for a JSON schema (or
any llguidance grammar) may be sampled.

The schema -> automaton step is ``llguidance`` (the library vLLM, SGLang and llama.cpp use):
it compiles the schema to a grammar, and an ``LLMatcher`` over the tokenizer's vocabulary
computes, after each consumed token, the bitmask of allowed next tokens (once the document
is complete only EOS is allowed). This module adapts that to the engine's per-request
logits-processor contract ``proc(generated_token_ids, logits) -> logits`` and to the
``transformers``-style ``(input_ids, scores)`` processors of ``ember.models.generation``.

JSON is generated compactly (no optional whitespace), so a schema whose strings, arrays
and numbers are bounded always ends in a bounded number of tokens.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

import llguidance as llg
import numpy as np
from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask

__all__ = ["ANY_JSON_OBJECT", "json_schema_grammar", "llg_tokenizer", "GrammarLogitsProcessor",
           "JSONSchemaLogitsProcessor", "response_format_processor"]

ANY_JSON_OBJECT: dict[str, Any] = {"type": "object"}
# llguidance compile options: compact JSON (no free whitespace, which a model could repeat
# forever); a schema's own "x-guidance" key can still override them.
_JSON_OPTIONS = {"whitespace_flexible": False}


def json_schema_grammar(schema: Any, field: str = "schema") -> str:
    """Compile a JSON schema (a dict) to an llguidance grammar string.

    Raises ``ValueError`` starting with ``field`` when the schema is not an object or
    llguidance rejects it (unknown type or format, bad regex, dangling ``$ref``,
    unsupported keyword...), so a server can answer 400 naming the request field.
    """
    if not isinstance(schema, dict):
        raise ValueError(f"{field} must be a JSON schema object, got {type(schema).__name__}")
    try:
        grammar = llg.LLMatcher.grammar_from_json_schema(schema, defaults=_JSON_OPTIONS)
    except ValueError as e:
        raise ValueError(f"{field} is not a valid JSON schema: {e}") from None
    is_error, messages = llg.LLMatcher.validate_grammar_with_warnings(grammar)
    if is_error:
        raise ValueError(f"{field} is not a valid JSON schema: {messages[0]}")
    return grammar


def llg_tokenizer(tokenizer: Any, eos_token_id: int | Sequence[int]) -> llg.LLTokenizer:
    """llguidance's view of a ``tokenizers.Tokenizer`` (its vocabulary as bytes plus a token
    trie), with ``eos_token_id`` as the token(s) that end a complete document.

    Building it walks the whole vocabulary (about a second for 150k tokens), so results
    are cached per tokenizer object; an ``LLTokenizer`` is returned as is.
    """
    if isinstance(tokenizer, llg.LLTokenizer):
        return tokenizer
    eos = (eos_token_id,) if isinstance(eos_token_id, int) else tuple(eos_token_id)
    if not eos:
        raise ValueError("eos_token_id must name at least one token")
    return _cached_llg_tokenizer(tokenizer, eos)


@functools.lru_cache(maxsize=8)
def _cached_llg_tokenizer(tokenizer: Any, eos: tuple[int, ...]) -> llg.LLTokenizer:
    if not hasattr(tokenizer, "to_str"):
        raise TypeError("tokenizer must be a tokenizers.Tokenizer or an llguidance.LLTokenizer, "
                        f"got {type(tokenizer).__name__}")
    return llg.LLTokenizer(tokenizer.to_str(), eos_token=list(eos))


class GrammarLogitsProcessor:
    """Masks the logits of one request to the tokens an llguidance grammar allows next.

    ``proc(generated_token_ids, logits)`` is called once per decoding step with every token
    generated so far; it feeds the grammar the ones it has not seen (rolling back first to
    the common prefix when the list does not extend what it saw, e.g. after a rejected
    speculative draft) and
    returns a copy of ``logits`` (vocab,) with every disallowed entry at ``-inf``. Logits
    past the tokenizer's vocabulary (padded embedding rows) are always disallowed.
    """

    def __init__(self, tokenizer: Any, grammar: str, *,
                 eos_token_id: int | Sequence[int]) -> None:
        self._tokenizer = llg_tokenizer(tokenizer, eos_token_id)
        self._matcher = llg.LLMatcher(self._tokenizer, grammar, log_level=0)
        if self._matcher.is_error():
            raise ValueError(f"invalid grammar: {self._matcher.get_error()}")
        self._vocab = self._tokenizer.vocab_size
        self._bitmask = allocate_token_bitmask(1, self._vocab)
        self._consumed: list[int] = []

    @property
    def is_done(self) -> bool:
        """The document is complete (only EOS may follow) or EOS was consumed."""
        return self._matcher.is_stopped()

    @property
    def is_accepting(self) -> bool:
        """The tokens consumed so far form a complete document."""
        return self._matcher.is_accepting()

    def allowed_mask(self, generated_token_ids: Sequence[int]) -> np.ndarray:
        """Bool (tokenizer vocab,): which tokens may follow ``generated_token_ids``."""
        self._sync(generated_token_ids)
        fill_next_token_bitmask(self._matcher, self._bitmask)
        if self._matcher.is_error():
            raise RuntimeError(f"grammar matcher failed: {self._matcher.get_error()}")
        bits = np.unpackbits(self._bitmask.view(np.uint8), count=self._vocab, bitorder="little")
        return bits.view(bool)

    def __call__(self, generated_token_ids: Sequence[int], logits: np.ndarray) -> np.ndarray:
        allowed = self.allowed_mask(generated_token_ids)
        n = min(self._vocab, logits.shape[-1])
        out = np.full_like(logits, -np.inf)
        out[:n] = np.where(allowed[:n], logits[:n], -np.inf)
        return out

    def as_transformers_processor(self) -> TransformersAdapter:
        """This processor as an ``(input_ids (1, S), scores (1, V))`` ember-tensor processor
        for ``ember.models.generation``."""
        return TransformersAdapter(self)

    def _sync(self, generated: Sequence[int]) -> None:
        """Advance (or roll back, then advance) the matcher to exactly ``generated``."""
        generated = list(generated)
        done = self._consumed
        k = len(done)
        if generated[:k] != done:
            k = next((i for i, (a, b) in enumerate(zip(done, generated)) if a != b),
                     min(k, len(generated)))
            self._matcher.rollback(len(done) - k)
            del done[k:]
        for token in generated[k:]:
            token = int(token)
            if not self._matcher.consume_token(token):
                raise RuntimeError(f"token {token} is not allowed by the grammar here: "
                                   f"{self._matcher.get_error()}")
            done.append(token)


class JSONSchemaLogitsProcessor(GrammarLogitsProcessor):
    """Constrains one request's output to a JSON document valid for ``schema`` (``None``:
    any JSON object, as for ``response_format={"type": "json_object"}``), then EOS."""

    def __init__(self, tokenizer: Any, schema: dict | None = None, *,
                 eos_token_id: int | Sequence[int]) -> None:
        self.schema = ANY_JSON_OBJECT if schema is None else schema
        super().__init__(tokenizer, json_schema_grammar(self.schema),
                         eos_token_id=eos_token_id)


class TransformersAdapter:
    """A ``GrammarLogitsProcessor`` in ``transformers``' processor shape. ``input_ids``
    holds prompt plus generated tokens; the prompt length is taken from the first call
    (which comes before any token is generated). Batch size 1 only: one grammar state."""

    def __init__(self, processor: GrammarLogitsProcessor) -> None:
        self.processor = processor
        self._prompt_len: int | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import ember

        ids = np.asarray(input_ids.numpy())
        if ids.shape[0] != 1 or scores.shape[0] != 1:
            raise ValueError(f"a grammar processor holds one request; got batch {ids.shape[0]}")
        if self._prompt_len is None:
            self._prompt_len = ids.shape[1]
        logits = np.asarray(scores.numpy())[0]
        return ember.tensor(self.processor(ids[0, self._prompt_len:].tolist(), logits)[None])


def response_format_processor(tokenizer: Any, response_format: Any, *,
                              eos_token_id: int | Sequence[int]
                              ) -> JSONSchemaLogitsProcessor | None:
    """The processor for an OpenAI ``response_format``: ``None`` for absent or
    ``{"type": "text"}``, any JSON object for ``{"type": "json_object"}``, the schema of
    ``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}``. Malformed
    values raise ``ValueError`` naming the field."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise ValueError("response_format must be an object")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return JSONSchemaLogitsProcessor(tokenizer, None, eos_token_id=eos_token_id)
    if kind != "json_schema":
        raise ValueError("response_format.type must be 'text', 'json_object' or 'json_schema', "
                         f"got {json.dumps(kind)}")
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict):
        raise ValueError("response_format.json_schema must be an object")
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ValueError("response_format.json_schema.name must be a non-empty string")
    schema = spec.get("schema", ANY_JSON_OBJECT)
    json_schema_grammar(schema, "response_format.json_schema.schema")  # names the field
    return JSONSchemaLogitsProcessor(tokenizer, schema, eos_token_id=eos_token_id)
