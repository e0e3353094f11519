"""Shared Hugging Face checkpoint I/O for the decoder models: ``config.json`` plus
``model.safetensors`` or a sharded ``model.safetensors.index.json``, read and written."""

from __future__ import annotations

import dataclasses
import json
import os
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

