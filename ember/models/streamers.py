"""Streamers for ``generate(..., streamer=...)``, like ``transformers``' ``TextStreamer`` and
``TextIteratorStreamer``: ``generate`` calls ``put(token_ids)`` with the prompt and then
with each step's new token, and ``end()`` when it is done.

Text is released a word at a time (up to the last space, or everything at a newline or
when it ends in a complete word), never in the middle of a UTF-8 character, so the pieces
concatenate to the decoded completion.
"""

from __future__ import annotations

import queue

import numpy as np

__all__ = ["TextStreamer", "TextIteratorStreamer"]


class TextStreamer:
    """Decodes the streamed tokens of one sequence and prints finished words to stdout.

    ``tokenizer.decode(ids, **decode_kwargs)`` turns ids into text (a ``tokenizers``
    tokenizer or a ``transformers`` one); ``skip_prompt`` leaves out the prompt.
    """

    def __init__(self, tokenizer, skip_prompt: bool = False, **decode_kwargs) -> None:
        self.tokenizer, self.skip_prompt, self.decode_kwargs = tokenizer, skip_prompt, decode_kwargs
        self.token_cache: list[int] = []
        self.print_len = 0
        self.next_tokens_are_prompt = True

    def put(self, value) -> None:
        """Receive token ids ((1, S) prompt or (1,) step), release what is printable."""
        value = np.asarray(value)
        if value.ndim > 1 and value.shape[0] > 1:
            raise ValueError("TextStreamer only supports batch size 1")
        value = value.reshape(-1)
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.next_tokens_are_prompt = False
        self.token_cache.extend(int(t) for t in value)
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        if text.endswith("\ufffd"):  # an unfinished UTF-8 character: wait for its bytes
            return
        if text.endswith("\n") or text[self.print_len:].strip().isalnum():
            printable = text[self.print_len:]
        else:
            printable = text[self.print_len:text.rfind(" ") + 1]
        self.print_len += len(printable)
        if printable:
            self.on_finalized_text(printable)

    def end(self) -> None:
        """Release the rest of the text and reset for the next ``generate``."""
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        printable = text[self.print_len:]
        self.token_cache, self.print_len, self.next_tokens_are_prompt = [], 0, True
        self.on_finalized_text(printable, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        """Print ``text`` (a newline after the last piece)."""
        print(text, flush=True, end=None if stream_end else "")


class TextIteratorStreamer(TextStreamer):
    """A streamer to iterate over from another thread: ``generate`` runs in a thread with
    ``streamer=s`` while ``for text in s:`` receives the pieces (``timeout`` seconds each,
    ``queue.Empty`` after that)."""

    def __init__(self, tokenizer, skip_prompt: bool = False, timeout: float | None = None,
                 **decode_kwargs) -> None:
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue: queue.Queue = queue.Queue()
        self.stop_signal = None
        self.timeout = timeout

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.text_queue.put(text, timeout=self.timeout)
        if stream_end:
            self.text_queue.put(self.stop_signal, timeout=self.timeout)

    def __iter__(self) -> TextIteratorStreamer:
        return self

    def __next__(self) -> str:
        value = self.text_queue.get(timeout=self.timeout)
        if value is self.stop_signal:
            raise StopIteration()
        return value
