"""A tiny Hugging Face-format model directory for the generation, structured-output and
server tests: a byte-level BPE tokenizer trained here on a few standard-library sources
(``tokenizer.json``, plus ``tokenizer_config.json`` with a ChatML chat template and the
special tokens) and a randomly initialised small Llama (``config.json``,
``model.safetensors``) written by ``ember.models.llama``.

Building one takes well under a second; tests call ``make_tiny_llama(tmp_path)`` (or the
session-scoped fixture of their own conftest) rather than shipping binary files.
"""

from __future__ import annotations

import inspect
import json
import json.decoder
import json.encoder
from pathlib import Path

from ember.models._hf import (
    CHATML_TEMPLATE,
    SPECIAL_TOKENS,
    save_chat_tokenizer,
    train_byte_level_bpe,
)

__all__ = ["CHATML_TEMPLATE", "SPECIAL_TOKENS", "make_tiny_llama", "train_tokenizer"]


def train_tokenizer(vocab_size: int = 512):
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on the ``json`` package's source:
    every byte is a token, so any text (JSON included) can be encoded and generated."""
    sources = [inspect.getsource(m) for m in (json, json.decoder, json.encoder)]
    return train_byte_level_bpe(sources, vocab_size)


def make_tiny_llama(path: str | Path, *, hidden_size: int = 64, num_hidden_layers: int = 2,
                    seed: int = 0) -> Path:
    """Write a tokenizer and a random Llama (4 heads, 2 K/V heads) to ``path``; return it."""
    import ember
    from ember.models.llama import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer()
    save_chat_tokenizer(tok, path, model_max_length=512)
    eos = tok.token_to_id("<|im_end|>")
    ember.manual_seed(seed)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden_size,
                         intermediate_size=hidden_size * 8 // 3,
                         num_hidden_layers=num_hidden_layers, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=None, eos_token_id=eos)
    LlamaForCausalLM(config).save_pretrained(path)
    return path
