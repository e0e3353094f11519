"""A quantized Linear weight packed for the int8 kernel, and the dynamic/static int8
linear computations on it (fbgemm's arithmetic, so the outputs follow torch's).

The weight is kept twice: as the quantized tensor the user sees (``weight()``, the
state dict) and as what the kernel reads -- the int8 weights packed once, here, in the
layout of the kernel this CPU runs (``_kernels_quant.pack_s8``: VNNI tiles, or rows
padded to a multiple of four), each row's sum (the activation zero point's correction)
and the per-output scale.
"""

from __future__ import annotations

import numpy as np

from ...._tensor import Tensor, _make
from ....ops.quantize import choose_qparams  # noqa: F401 (fbgemm's qparams, named here too)
from ....ops.quantized import QuantizedTensor, per_tensor_affine, qint8
from ....ops.quantized_mm import LinearDynamic, _kq, _qlinear


class PackedLinear:
    """A quantized (symmetric, int8) Linear weight and float bias, ready for the kernel;
    a convolution's weight ``(OC, C, KH, KW)`` packs as ``(OC, C*KH*KW)``."""

    def __init__(self, weight: QuantizedTensor, bias: Tensor | None):
        if weight.dtype is not qint8:
            raise RuntimeError(f"quantized linear: expected a qint8 weight, got {weight.dtype}")
        zps = weight._zero_point
        if np.any(zps != 0):
            raise RuntimeError("quantized linear: the int8 kernel takes symmetric weights "
                               "(zero points 0)")
        self.weight, self.bias = weight, bias
        wq = np.ascontiguousarray(weight._int).reshape(weight._int.shape[0], -1)  # conv: OC x CKK
        n = wq.shape[0]
        self.wq = _kq().pack_s8(wq)
        self.col_sum = wq.astype(np.int32).sum(axis=1, dtype=np.int32)
        scale = weight._scale
        self.w_scale = np.broadcast_to(np.asarray(scale, np.float32), (n,)).copy()
        self.bias_arr = np.zeros(n, np.float32) if bias is None else \
            np.ascontiguousarray(bias._data, np.float32)
        self.per_tensor = weight.qscheme() is per_tensor_affine
        # the kernel's operands as tensors, made once: the ``linear_dynamic`` op's arguments
        self._operands = tuple(_make(a) for a in (self.wq, self.col_sum, self.w_scale,
                                                   self.bias_arr))

    def linear_int8(self, xq: np.ndarray, a_scale, a_zp: int) -> np.ndarray:
        """float32 ``(M, N)`` from uint8 activations ``xq (M, K)``."""
        return _qlinear(xq, a_scale, a_zp, self.wq, self.col_sum, self.w_scale, self.bias_arr)

    def linear_dynamic(self, input: Tensor, reduce_range: bool = True) -> Tensor:
        """torch's ``quantized::linear_dynamic`` (the ``linear_dynamic`` op): the input
        quantized to uint8 with this batch's range (7 bits with ``reduce_range``, as
        fbgemm), int32 products, float output."""
        return LinearDynamic.apply(input, *self._operands, reduce_range)
