"""torchao's ``int8_dynamic_activation_int8_weight``: int8 weights (symmetric per output
channel) and int8 activations quantized per token (per row, symmetric, ``[-127, 127]``)
on every call, int32 products, float outputs.

Per-token scales follow each row's own range, so one token with large values (BERT's
feed-forward outputs) no longer coarsens every other row's steps as a per-batch scale
(``quantize_dynamic``) does. The product runs in the int8 kernel of ``quantize_dynamic``:
the int8 activations shifted by 128 are its uint8 ones with zero point 128.
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ...._tensor import Tensor, _make
from ....ops.quantized import qint8, quantize_per_channel
from ._packed import PackedLinear
from .weight_only import _input_rows, quantize_int8_per_channel

__all__ = ["Int8DynActInt8WeightLinear"]

_ACT_EPS = np.float32(1e-5)  # torchao's floor on a token's scale


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
        x = input._data
        x2 = _input_rows(x, self.in_features, self.out_features)
        scale = np.maximum(np.abs(x2).max(axis=1, initial=0) / np.float32(127),
                           _ACT_EPS).astype(np.float32)
        xq = (np.clip(np.rint(x2 / scale[:, None]), -127, 127) + 128).astype(np.uint8)
        out = self.packed.linear_int8(xq, 1.0, 128) * scale[:, None]
        if self.bias is not None:
            out += self.bias._data
        return _make(out.reshape(x.shape[:-1] + (self.out_features,)))

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
