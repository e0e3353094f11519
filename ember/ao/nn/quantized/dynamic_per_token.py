"""torchao's ``int8_dynamic_activation_int8_weight``: int8 weights (symmetric per output
channel) and int8 activations quantized per token (per row, symmetric, ``[-127, 127]``)
on every call, int32 products, float outputs.

Per-token scales follow each row's own range, so one token with large values (BERT's
feed-forward outputs) no longer coarsens every other row's steps as a per-batch scale
(``quantize_dynamic``) does. The product is the ``linear_dynamic_per_token`` op
(``ember/ops/quantized_mm.py``), on the int8 kernel of ``quantize_dynamic``.
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ...._tensor import Tensor, _make
from ....ops import quantized_mm as qmm
from ....ops.quantized import qint8, quantize_per_channel
from ._packed import PackedLinear
from .weight_only import quantize_int8_per_channel

__all__ = ["Int8DynActInt8WeightLinear"]

class Int8DynActInt8WeightLinear(nn.Module):
    """A Linear with int8 weights and per-token dynamically quantized int8 activations."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("bias", _make(np.zeros(out_features, np.float32)) if bias
                             else None)
        self._set_weight(np.zeros((out_features, in_features), np.int8),
                         np.ones(out_features, np.float32))

    def _set_weight(self, ints: np.ndarray, scale: np.ndarray) -> None:
        w = _make((ints.astype(np.float32) * scale[:, None]).astype(np.float32))
        q = quantize_per_channel(w, scale.astype(np.float64), np.zeros(len(scale), np.int64),
                                 0, qint8)
        self.packed = PackedLinear(q, None)

    def forward(self, input: Tensor) -> Tensor:
        wq, col_sum, w_scale, _ = self.packed._operands
        return qmm.linear_dynamic_per_token(input, wq, col_sum, w_scale, self.bias)

    @classmethod
    def from_float(cls, mod: nn.Linear) -> Int8DynActInt8WeightLinear:
        q = cls(mod.in_features, mod.out_features, mod.bias is not None)
        if mod.bias is not None:
            q.bias._data = np.array(mod.bias.detach()._data, np.float32)
        q._set_weight(*quantize_int8_per_channel(mod.weight.detach()._data))
        return q

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
