"""Shared Hugging Face checkpoint I/O for the decoder models: ``config.json`` plus
``model.safetensors`` or a sharded ``model.safetensors.index.json``, read and written; and
the byte-level BPE tokenizer with ChatML special tokens that the models trained here use."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ember

from .. import nn


def read_config(cls: type, path: str | os.PathLike) -> Any:
    """Build dataclass ``cls`` from a ``config.json``, ignoring keys it has no field for."""
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    rope = raw.get("rope_parameters") or raw.get("rope_scaling") or {}
    if "rope_theta" not in raw and "rope_theta" in rope:
        raw["rope_theta"] = rope["rope_theta"]
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in raw.items() if k in names and v is not None})


def load_state(path: str | os.PathLike) -> dict[str, ember.Tensor]:
    """All tensors of a model directory, single-file or sharded (index.json)."""
    from ..utils.safetensors import load_file

    path = Path(path)
    if (path / "model.safetensors").exists():
        return load_file(path / "model.safetensors")
    index = path / "model.safetensors.index.json"
    if not index.exists():
        raise FileNotFoundError(f"no model.safetensors or model.safetensors.index.json in {path}")
    with open(index, encoding="utf-8") as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    state: dict[str, ember.Tensor] = {}
    for shard in shards:
        state.update(load_file(path / shard))
    return state


def save_pretrained(model: nn.Module, config: Any, model_type: str, architecture: str,
                    path: str | os.PathLike, skip: tuple[str, ...] = ()) -> None:
    """Write ``config.json`` and ``model.safetensors`` in the layout ``transformers`` reads."""
    from ..utils.safetensors import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    raw = dataclasses.asdict(config)
    raw.update(model_type=model_type, architectures=[architecture], torch_dtype="float32")
    with open(path / "config.json", "w", encoding="utf-8") as f:
        json.dump(raw, f, indent=2)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in skip}
    save_file(state, path / "model.safetensors", metadata={"format": "pt"})


def load_tokenizer(path: str | os.PathLike):
    """The ``tokenizers.Tokenizer`` of ``tokenizer.json`` in a model directory."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(path) / "tokenizer.json"))


# The chat conventions of the models written here (ChatML, as Qwen and SmolLM use): its
# special tokens, the template that renders a conversation, and the ``tokenizer_config.json``
# carrying both to ``transformers`` and ``ember.serve``.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts`` with ``SPECIAL_TOKENS``
    first (ids 0, 1, 2): every byte is a token, so any text can be encoded and generated."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_chat_tokenizer(tokenizer, path: str | os.PathLike, model_max_length: int) -> None:
    """Write ``tokenizer.json`` and a ChatML ``tokenizer_config.json`` (eos ``<|im_end|>``,
    pad ``<|endoftext|>``, no bos) that ``transformers.AutoTokenizer`` and ``ember.serve``
    read; decoding keeps spaces as they are (code is text)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path / "tokenizer.json"))
    with open(path / "tokenizer_config.json", "w", encoding="utf-8") as f:
        json.dump({"chat_template": CHATML_TEMPLATE, "eos_token": "<|im_end|>",
                   "bos_token": None, "pad_token": "<|endoftext|>",
                   "model_max_length": model_max_length,
                   "tokenizer_class": "PreTrainedTokenizerFast",
                   "clean_up_tokenization_spaces": False}, f, indent=2)
