"""Text side of generation: the engine's tokenizer (a ``tokenizers.Tokenizer`` plus the
``tokenizer_config.json`` facts a server needs) and incremental detokenization with stop
strings.

``tokenizers.Tokenizer`` is a Rust type that can be neither subclassed nor given new
attributes, so ``EngineTokenizer`` wraps one and forwards every other attribute to it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["EngineTokenizer", "IncrementalDetokenizer", "load_engine_tokenizer"]


class EngineTokenizer:
    """A ``tokenizers.Tokenizer`` (every method forwarded) with ``eos_token_id``,
    ``chat_template`` and ``model_id``."""

    def __init__(self, tokenizer, eos_token_id: int | None = None,
                 chat_template: str | None = None, model_id: str = "model") -> None:
        self._tokenizer = tokenizer
        self.eos_token_id = eos_token_id
        self.chat_template = chat_template
        self.model_id = model_id

    def __getattr__(self, name: str):
        if name == "_tokenizer":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._tokenizer, name)


def _token_text(value) -> str | None:
    """A special token of ``tokenizer_config.json``: a string or ``{"content": ...}``."""
    return value.get("content") if isinstance(value, dict) else value


def load_engine_tokenizer(path: str | os.PathLike,
                          eos_token_id: int | None = None) -> EngineTokenizer:
    """``tokenizer.json`` of a model directory, with ``tokenizer_config.json``'s chat template
    and eos token (falling back to ``eos_token_id``, e.g. the model config's)."""
    from tokenizers import Tokenizer

    path = Path(path)
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.exists() else {}
    eos_text = _token_text(config.get("eos_token"))
    if eos_text is not None and tok.token_to_id(eos_text) is not None:
        eos_token_id = tok.token_to_id(eos_text)
    return EngineTokenizer(tok, eos_token_id, config.get("chat_template"),
                           path.resolve().name)


class IncrementalDetokenizer:
    """Text of a growing list of token ids, handed out in increments.

    Each ``add`` decodes the whole completion (byte-level BPE needs the neighbours to form
    characters) and returns the text not yet handed out, holding back an unfinished UTF-8
    character (decoded as U+FFFD) and any tail that could still grow into a stop string.
    Once a stop string appears, the text before it is final and ``stopped`` is set.
    """

    def __init__(self, tokenizer, stop: list[str] | tuple[str, ...] = ()) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.ids: list[int] = []
        self.emitted = 0     # characters of the text handed out so far
        self.stopped = False

    def add(self, token_ids: list[int], final: bool = False) -> str:
        """Append ``token_ids``; return the newly releasable text (all of it if ``final``)."""
        self.ids.extend(token_ids)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        hits = [i for i in (text.find(s, max(0, self.emitted - len(s))) for s in self.stop)
                if i >= 0]
        if hits:
            self.stopped = True
            return self._release(text[:min(hits)])
        if final:
            return self._release(text)
        end = len(text)
        while end > self.emitted and text[end - 1] == "\ufffd":
            end -= 1
        # hold back the longest tail of the text that begins some stop string
        hold = max((n for s in self.stop for n in range(1, min(len(s), end - self.emitted + 1))
                    if s.startswith(text[end - n:end])), default=0)
        return self._release(text[:end - hold])

    def _release(self, text: str) -> str:
        new = text[self.emitted:]
        self.emitted = max(self.emitted, len(text))
        return new
