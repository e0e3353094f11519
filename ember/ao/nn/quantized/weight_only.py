"""Weight-only quantized Linear and Embedding layers (torchao's ``int4_weight_only`` and
``int8_weight_only``): the weight is stored in 4 or 8 bits and dequantised inside the
matrix product (or the lookup); activations and outputs stay float32.

- int4: asymmetric per group of ``group_size`` input features, round to nearest:
  ``q = clamp(round((w - min) / scale), 0, 15)``, ``scale = (max - min) / 15``,
  ``w ~ q * scale + min``; two values per byte. 4.5 (g=128) to 6 (g=32) bits per weight.
- int8: symmetric per output channel, ``scale = max|w| / 127.5`` (torchao's).

Batch-1 decoding reads each weight once as nibbles/bytes in a fused GEMV: it is bound
by memory, and moves 8x (int4) or 4x (int8) fewer bytes than float32. Batches dequantise
cache-sized tiles of rows on the threads and let BLAS multiply them.
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ...._tensor import Tensor, _make
from ....ops import quantized_mm as qmm

__all__ = ["Int4WeightOnlyLinear", "Int8WeightOnlyLinear", "Int4WeightOnlyEmbedding",
           "Int8WeightOnlyEmbedding", "quantize_int4_groupwise", "quantize_int8_per_channel"]


def quantize_int4_groupwise(w: np.ndarray, group_size: int):
    """``(q (N, K) uint8 in 0..15, scales (N, K/g), zeros (N, K/g))`` float32 with
    ``w ~ q * scales + zeros`` per group of ``group_size`` along K."""
    n, k = w.shape
    g = w.astype(np.float32).reshape(n, k // group_size, group_size)
    lo, hi = g.min(axis=2), g.max(axis=2)
    scales = np.maximum((hi - lo) / np.float32(15), np.float32(1e-6)).astype(np.float32)
    q = np.clip(np.rint((g - lo[..., None]) / scales[..., None]), 0, 15).astype(np.uint8)
    return q.reshape(n, k), scales, lo.astype(np.float32)


def quantize_int8_per_channel(w: np.ndarray):
    """``(q (N, K) int8, scale (N,) float32)``, symmetric: ``w ~ q * scale``."""
    amax = np.abs(w.astype(np.float32)).max(axis=1)
    scale = np.maximum(amax / np.float32(127.5), np.finfo(np.float32).eps).astype(np.float32)
    q = np.clip(np.rint(w / scale[:, None]), -128, 127).astype(np.int8)
    return q, scale


def _input_rows(x: np.ndarray, in_features: int, out_features: int) -> np.ndarray:
    """A linear layer's input as C-contiguous float32 rows of ``in_features``, or torch's
    error for an input whose last dim does not match."""
    qmm._linear_shape(x.shape, in_features, out_features)
    return np.ascontiguousarray(x.reshape(-1, in_features), np.float32)


class _WeightOnlyLinear(nn.Module):
    """Shared by the int4/int8 layers: the float bias. The product is one op
    (``ember/ops/quantized_mm.py``): a fused GEMV for one row, tiles dequantised in
    parallel into cache-sized buffers and multiplied by BLAS for more."""

    def __init__(self, in_features: int, out_features: int, bias: bool):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("bias", _make(np.zeros(out_features, np.float32)) if bias
                             else None)

    @classmethod
    def _from(cls, mod: nn.Linear, **kwargs):
        q = cls(mod.in_features, mod.out_features, mod.bias is not None, **kwargs)
        if mod.bias is not None:
            q.bias._data = np.array(mod.bias.detach()._data, np.float32)
        return q


class _Int4Weight:
    """int4 storage shared by the Linear and the Embedding: ``weight_packed (rows,
    cols/2)`` uint8 (two values a byte, ``pack_int4``'s layout), ``scales`` and ``zeros``
    ``(rows, cols/group)`` float32."""

    def _init_weight(self, rows: int, cols: int, group_size: int, cols_name: str) -> None:
        if cols % group_size or group_size % 2:
            raise ValueError(f"{cols_name} ({cols}) must be a multiple of the even "
                             f"group_size ({group_size})")
        self.group_size = group_size
        groups = cols // group_size
        self.register_buffer("weight_packed", _make(np.zeros((rows, cols // 2), np.uint8)))
        self.register_buffer("scales", _make(np.ones((rows, groups), np.float32)))
        self.register_buffer("zeros", _make(np.zeros((rows, groups), np.float32)))

    def _set_weight(self, w: np.ndarray) -> None:
        from ....ops import _kernels_quant as kq
        ints, scales, zeros = quantize_int4_groupwise(w, self.group_size)
        self.weight_packed._data = kq.pack_int4(ints, self.group_size)
        self.scales._data, self.zeros._data = scales, zeros

    def dequantize_weight(self) -> Tensor:
        from ....ops import _kernels_quant as kq
        packed = self.weight_packed._data
        out = np.empty((packed.shape[0], packed.shape[1] * 2), np.float32)
        kq.int4_dequantize_rows(packed, self.scales._data, self.zeros._data, self.group_size,
                                out)
        return _make(out)

    def _lookup(self, input: Tensor) -> Tensor:
        return qmm.Int4WeightOnlyEmbedding.apply(self.weight_packed, self.scales, self.zeros,
                                                 input, self.group_size)


class _Int8Weight:
    """int8 storage shared by the Linear and the Embedding: ``weight_int8 (rows, cols)``,
    ``scale (rows,)`` float32 (symmetric per row)."""

    def _init_weight(self, rows: int, cols: int) -> None:
        self.register_buffer("weight_int8", _make(np.zeros((rows, cols), np.int8)))
        self.register_buffer("scale", _make(np.ones(rows, np.float32)))

    def _set_weight(self, w: np.ndarray) -> None:
        self.weight_int8._data, self.scale._data = quantize_int8_per_channel(w)

    def dequantize_weight(self) -> Tensor:
        return _make(self.weight_int8._data.astype(np.float32) * self.scale._data[:, None])

    def _lookup(self, input: Tensor) -> Tensor:
        return qmm.Int8WeightOnlyEmbedding.apply(self.weight_int8, self.scale, input)


class Int4WeightOnlyLinear(_Int4Weight, _WeightOnlyLinear):
    """A Linear whose weight is int4, asymmetric per group (``int4_weight_only``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 group_size: int = 128):
        super().__init__(in_features, out_features, bias)
        self._init_weight(out_features, in_features, group_size, "in_features")

    def forward(self, input: Tensor) -> Tensor:
        return qmm.Int4WeightOnlyLinear.apply(input, self.weight_packed, self.scales,
                                              self.zeros, self.group_size, self.bias)

    @classmethod
    def from_float(cls, mod: nn.Linear, group_size: int = 128) -> Int4WeightOnlyLinear:
        q = cls._from(mod, group_size=group_size)
        q._set_weight(mod.weight.detach()._data)
        return q

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, group_size={self.group_size}")


class Int8WeightOnlyLinear(_Int8Weight, _WeightOnlyLinear):
    """A Linear whose weight is int8, symmetric per output channel (``int8_weight_only``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self._init_weight(out_features, in_features)

    def forward(self, input: Tensor) -> Tensor:
        return qmm.WeightInt8PackMM.apply(input, self.weight_int8, self.scale, self.bias)

    @classmethod
    def from_float(cls, mod: nn.Linear) -> Int8WeightOnlyLinear:
        q = cls._from(mod)
        q._set_weight(mod.weight.detach()._data)
        return q

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _WeightOnlyEmbedding(nn.Module):
    """Shared by the int4/int8 embeddings (``quantize_`` with a ``filter_fn`` that takes
    ``nn.Embedding``, as torchao): the lookup (an op) dequantises only the rows asked for.
    For inference: no gradient, and ``max_norm`` (which rewrites rows) is not supported."""

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx

    def forward(self, input: Tensor) -> Tensor:
        return self._lookup(input)

    @classmethod
    def _from(cls, mod: nn.Embedding, *args):
        if mod.max_norm is not None:
            raise ValueError("weight-only quantized embeddings do not support max_norm")
        q = cls(mod.num_embeddings, mod.embedding_dim, *args, padding_idx=mod.padding_idx)
        q._set_weight(mod.weight.detach()._data)
        return q

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Int4WeightOnlyEmbedding(_Int4Weight, _WeightOnlyEmbedding):
    """An Embedding whose table is int4, asymmetric per group along the embedding dim."""

    def __init__(self, num_embeddings: int, embedding_dim: int, group_size: int = 128,
                 padding_idx: int | None = None):
        super().__init__(num_embeddings, embedding_dim, padding_idx)
        self._init_weight(num_embeddings, embedding_dim, group_size, "embedding_dim")

    @classmethod
    def from_float(cls, mod: nn.Embedding, group_size: int = 128) -> Int4WeightOnlyEmbedding:
        return cls._from(mod, group_size)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, group_size={self.group_size}"


class Int8WeightOnlyEmbedding(_Int8Weight, _WeightOnlyEmbedding):
    """An Embedding whose table is int8, symmetric per row."""

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None):
        super().__init__(num_embeddings, embedding_dim, padding_idx)
        self._init_weight(num_embeddings, embedding_dim)

    @classmethod
    def from_float(cls, mod: nn.Embedding) -> Int8WeightOnlyEmbedding:
        return cls._from(mod)
