"""GPT-2, module for module like ``transformers.GPT2LMHeadModel`` so checkpoint keys match.

``GPT2LMHeadModel.from_pretrained(dir)`` reads ``config.json`` and ``model.safetensors``
(or a sharded index); ``save_pretrained(dir)`` writes what ``transformers`` loads back.
GPT-2's projections are ``Conv1D`` layers whose weight is stored (in, out), so they are kept
in that layout here rather than transposed on load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import ember

from .. import nn
from ..nn import functional as F
from . import _hf
from .generation import KVCache, cached_attention, generate, keep_positions, positions

__all__ = ["GPT2Config", "GPT2LMHeadModel"]


@dataclass
class GPT2Config:
    """The ``config.json`` fields GPT-2 uses (GPT-2 small defaults)."""

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    layer_norm_epsilon: float = 1e-5
    activation_function: str = "gelu_new"
    bos_token_id: int = 50256
    eos_token_id: int = 50256


class Conv1D(nn.Module):
    """GPT-2's linear layer: ``x @ weight + bias`` with ``weight`` of shape (in, out)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(ember.randn(n_in, n_out) * 0.02)
        self.bias = nn.Parameter(ember.zeros(n_out))

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        return ember.matmul(x, self.weight) + self.bias

    def to_linear(self) -> nn.Linear:
        """The same layer as an ``nn.Linear`` (weight transposed): what quantization
        (``ember.ao.quantize_``) swaps for its quantized linear."""
        n_in, n_out = self.weight.shape
        linear = nn.Linear(n_in, n_out)
        with ember.no_grad():
            linear.weight.copy_(self.weight.t())
            linear.bias.copy_(self.bias)
        return linear


class GPT2Attention(nn.Module):
    """Causal multi-head self-attention with a fused query/key/value projection."""

    def __init__(self, config: GPT2Config, layer_idx: int = 0) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd {config.n_embd} is not a multiple of n_head {config.n_head}")
        self.n_head, self.layer_idx = config.n_head, layer_idx
        self.c_attn = Conv1D(config.n_embd, 3 * config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)

    def forward(self, x: ember.Tensor, cache: KVCache | None = None) -> ember.Tensor:
        b, s, h = x.shape
        q, k, v = (t.view(b, s, self.n_head, h // self.n_head).transpose(1, 2).contiguous()
                   for t in self.c_attn(x).split(h, dim=2))
        out = cached_attention(q, k, v, cache, self.layer_idx)
        return self.c_proj(out.transpose(1, 2).reshape(b, s, h))


class GPT2MLP(nn.Module):
    """Two ``Conv1D`` layers around a tanh-approximated GELU."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        if config.activation_function not in ("gelu_new", "gelu_pytorch_tanh"):
            raise NotImplementedError(f"activation {config.activation_function!r}")
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = Conv1D(config.n_embd, inner)
        self.c_proj = Conv1D(inner, config.n_embd)

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GPT2Block(nn.Module):
    """Pre-LayerNorm transformer block."""

    def __init__(self, config: GPT2Config, layer_idx: int = 0) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config)

    def forward(self, x: ember.Tensor, cache: KVCache | None = None) -> ember.Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    """Token and position embeddings, ``n_layer`` blocks, final LayerNorm."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.h = nn.ModuleList([GPT2Block(config, i) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids: ember.Tensor,
                past_key_values: KVCache | None = None) -> ember.Tensor:
        pos = ember.tensor(positions(past_key_values, input_ids.shape[1]))
        x = self.wte(input_ids) + self.wpe(pos)
        for block in self.h:
            x = block(x, past_key_values)
        if past_key_values is not None:
            past_key_values.advance(input_ids.shape[1])
        return self.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    """GPT-2 with its language-model head tied to the token embedding."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.config = config
        self.transformer = GPT2Model(config)

    def forward(self, input_ids: ember.Tensor, past_key_values: KVCache | None = None,
                logits_to_keep: int | np.ndarray = 0) -> ember.Tensor:
        """Logits (B, S, vocab) for token ids (B, S), placed after ``past_key_values``'
        positions (which it extends) when given; only at the positions ``logits_to_keep``
        selects (see ``generation.keep_positions``; 0: all)."""
        hidden = keep_positions(self.transformer(input_ids, past_key_values), logits_to_keep)
        return ember.matmul(hidden, self.transformer.wte.weight.t())

    generate = generate

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> GPT2LMHeadModel:
        """Load a Hugging Face GPT-2 directory, in eval mode."""
        model = cls(_hf.read_config(GPT2Config, os.path.join(path, "config.json")))
        state = {k: v for k, v in _hf.load_state(path).items()
                 if k != "lm_head.weight" and not k.endswith((".attn.bias", ".masked_bias"))}
        model.load_state_dict(state)
        return model.eval()

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors`` (lm_head tied, so not stored)."""
        _hf.save_pretrained(self, self.config, "gpt2", "GPT2LMHeadModel", path)
