"""A Llama-style decoder (RMSNorm, rotary embeddings, SwiGLU, grouped-query attention),
module for module like ``transformers.LlamaForCausalLM`` so checkpoint keys match.

``LlamaForCausalLM.from_pretrained(dir)`` reads ``config.json`` and ``model.safetensors``
(or a sharded index); ``save_pretrained(dir)`` writes what ``transformers`` loads back.
Only the default rotary scheme (no rope scaling) is implemented.
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

__all__ = ["LlamaConfig", "LlamaForCausalLM"]


@dataclass
class LlamaConfig:
    """The ``config.json`` fields the decoder uses."""

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    hidden_act: str = "silu"
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2

    def __post_init__(self) -> None:
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.hidden_act != "silu":
            raise NotImplementedError(f"hidden_act {self.hidden_act!r}")


class LlamaRMSNorm(nn.Module):
    """``weight * x / sqrt(mean(x^2) + eps)`` over the last dimension."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(ember.ones(size))
        self.eps = eps

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        return self.weight * (x * ember.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotary_tables(config: LlamaConfig,
                  pos: np.ndarray) -> tuple[ember.Tensor, ember.Tensor]:
    """cos and sin tables of the default rotary embedding (HF half-split) for position ids
    ``pos``: (S, head_dim) for shared positions (S,), (B, 1, S, head_dim) for per-row
    positions (B, S), to broadcast over (B, heads, S, head_dim)."""
    d = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (np.arange(0, d, 2, dtype=np.int64) / d))
    freqs = np.asarray(pos, dtype=np.float32)[..., None] * inv_freq.astype(np.float32)
    emb = np.concatenate([freqs, freqs], axis=-1)
    if emb.ndim == 3:
        emb = emb[:, None]
    return (ember.tensor(np.cos(emb).astype(np.float32)),
            ember.tensor(np.sin(emb).astype(np.float32)))


def apply_rotary(x: ember.Tensor, cos: ember.Tensor, sin: ember.Tensor) -> ember.Tensor:
    """Rotate (B, heads, S, d) by the tables: ``x cos + rotate_half(x) sin``."""
    half = x.shape[-1] // 2
    rotated = ember.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class LlamaAttention(nn.Module):
    """Causal attention with rotary positions and ``num_key_value_heads`` shared K/V heads."""

    def __init__(self, config: LlamaConfig, layer_idx: int = 0) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.n_heads, self.n_kv, self.d = (config.num_attention_heads,
                                           config.num_key_value_heads, config.head_dim)
        h, bias = config.hidden_size, config.attention_bias
        self.q_proj = nn.Linear(h, self.n_heads * self.d, bias=bias)
        self.k_proj = nn.Linear(h, self.n_kv * self.d, bias=bias)
        self.v_proj = nn.Linear(h, self.n_kv * self.d, bias=bias)
        self.o_proj = nn.Linear(self.n_heads * self.d, h, bias=bias)

    def forward(self, x: ember.Tensor, cos: ember.Tensor, sin: ember.Tensor,
                cache: KVCache | None = None) -> ember.Tensor:
        b, s, _ = x.shape

        def heads(t: ember.Tensor, n: int) -> ember.Tensor:
            return t.view(b, s, n, self.d).transpose(1, 2).contiguous()

        q = apply_rotary(heads(self.q_proj(x), self.n_heads), cos, sin)
        k = apply_rotary(heads(self.k_proj(x), self.n_kv), cos, sin)
        v = heads(self.v_proj(x), self.n_kv)
        out = cached_attention(q, k, v, cache, self.layer_idx, self.n_heads // self.n_kv)
        return self.o_proj(out.transpose(1, 2).reshape(b, s, self.n_heads * self.d))


class LlamaMLP(nn.Module):
    """SwiGLU: ``down(silu(gate(x)) * up(x))``."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        h, i, bias = config.hidden_size, config.intermediate_size, config.mlp_bias
        self.gate_proj = nn.Linear(h, i, bias=bias)
        self.up_proj = nn.Linear(h, i, bias=bias)
        self.down_proj = nn.Linear(i, h, bias=bias)

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    """Pre-RMSNorm attention and MLP with residuals."""

    def __init__(self, config: LlamaConfig, layer_idx: int = 0) -> None:
        super().__init__()
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = LlamaAttention(config, layer_idx)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = LlamaMLP(config)

    def forward(self, x: ember.Tensor, cos: ember.Tensor, sin: ember.Tensor,
                cache: KVCache | None = None) -> ember.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """Token embedding, decoder layers, final RMSNorm."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([LlamaDecoderLayer(config, i)
                                     for i in range(config.num_hidden_layers)])
        self.norm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, input_ids: ember.Tensor,
                past_key_values: KVCache | None = None) -> ember.Tensor:
        cos, sin = rotary_tables(self.config, positions(past_key_values, input_ids.shape[1]))
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin, past_key_values)
        if past_key_values is not None:
            past_key_values.advance(input_ids.shape[1])
        return self.norm(x)


class LlamaForCausalLM(nn.Module):
    """The decoder plus its language-model head (tied to the embedding if configured)."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        self.model = LlamaModel(config)
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(self, input_ids: ember.Tensor, past_key_values: KVCache | None = None,
                logits_to_keep: int | np.ndarray = 0) -> ember.Tensor:
        """Logits (B, S, vocab) for token ids (B, S), placed after ``past_key_values``'
        positions (which it extends) when given; only at the positions ``logits_to_keep``
        selects (see ``generation.keep_positions``; 0: all)."""
        hidden = keep_positions(self.model(input_ids, past_key_values), logits_to_keep)
        if self.config.tie_word_embeddings:
            return ember.matmul(hidden, self.model.embed_tokens.weight.t())
        return self.lm_head(hidden)

    generate = generate

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> LlamaForCausalLM:
        """Load a Hugging Face Llama directory, in eval mode."""
        model = cls(_hf.read_config(LlamaConfig, os.path.join(path, "config.json")))
        state = _hf.load_state(path)
        if model.config.tie_word_embeddings:
            state.pop("lm_head.weight", None)
        model.load_state_dict(state)
        return model.eval()

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors``."""
        _hf.save_pretrained(self, self.config, "llama", "LlamaForCausalLM", path)
