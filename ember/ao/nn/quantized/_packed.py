"""A quantized Linear weight packed for the int8 kernel, and the dynamic/static int8
linear computations on it (fbgemm's arithmetic, so the outputs follow torch's).

The weight is kept twice: as the quantized tensor the user sees (``weight()``, the
state dict) and as what the kernel reads -- int8 rows padded to a multiple of four,
each row's sum (the activation zero point's correction) and the per-output scale.
"""

from __future__ import annotations

import math

import numpy as np

from ...._tensor import Tensor, _make
from ....ops.quantized import QuantizedTensor, per_tensor_affine, qint8

_SMALL_SCALE = np.float32(6.1e-5)


def choose_qparams(lo: float, hi: float, qmin: int, qmax: int,
                   reduce_range: bool = False) -> tuple[np.float32, int]:
    """fbgemm's ``ChooseQuantizationParams`` (no sparsity, no power-of-two scale): the
    scale and zero point that map ``[min(lo, 0), max(hi, 0)]`` onto ``[qmin, qmax]``."""
    if reduce_range:
        qmin, qmax = qmin // 2, qmax // 2
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / (qmax - qmin)
    if np.float32(scale) == 0 or math.isinf(np.float32(1.0) / np.float32(scale)):
        scale = 0.1
    if scale < _SMALL_SCALE:
        org = scale
        scale = float(_SMALL_SCALE)
        if lo == 0.0:
            hi = scale * (qmax - qmin)
        elif hi == 0.0:
            lo = -scale * (qmax - qmin)
        else:
            amp = float(np.float32(_SMALL_SCALE / np.float32(org)))
            lo, hi = float(np.float32(lo * amp)), float(np.float32(hi * amp))
    from_min, from_max = qmin - lo / scale, qmax - hi / scale
    err_min, err_max = abs(qmin) + abs(lo / scale), abs(qmax) + abs(hi / scale)
    initial = from_min if err_min < err_max else from_max
    zero_point = qmin if initial < qmin else qmax if initial > qmax else int(np.rint(initial))
    return np.float32(scale), zero_point


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
        n, k = wq.shape
        self.wq = np.zeros((-(-n // 4) * 4, k), np.int8)
        self.wq[:n] = wq
        self.col_sum = wq.astype(np.int32).sum(axis=1, dtype=np.int32)
        scale = weight._scale
        self.w_scale = np.broadcast_to(np.asarray(scale, np.float32), (n,)).copy()
        self.bias_arr = np.zeros(n, np.float32) if bias is None else \
            np.ascontiguousarray(bias._data, np.float32)
        self.per_tensor = weight.qscheme() is per_tensor_affine

    def linear_int8(self, xq: np.ndarray, a_scale, a_zp: int) -> np.ndarray:
        """float32 ``(M, N)`` from uint8 activations ``xq (M, K)``."""
        from ....ops import _kernels_quant as kq
        out = np.empty((xq.shape[0], self.w_scale.shape[0]), np.float32)
        kq.qlinear_s8(xq, np.float32(a_scale), np.int32(a_zp), self.wq, self.col_sum,
                      self.w_scale, self.bias_arr, out)
        return out

    def linear_dynamic(self, input: Tensor, reduce_range: bool = True) -> Tensor:
        """torch's ``quantized::linear_dynamic``: the input quantized to uint8 with this
        batch's range (7 bits with ``reduce_range``, as fbgemm), int32 products, float
        output."""
        from ....ops import _kernels_quant as kq
        x = input._data
        if x.ndim < 2:
            raise RuntimeError("The dimension of input tensor should be larger than or equal "
                               "to 2")
        k = x.shape[-1]
        if k != self.wq.shape[1]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                               f"({math.prod(x.shape[:-1])}x{k} and "
                               f"{self.wq.shape[1]}x{self.w_scale.shape[0]})")
        x2 = np.ascontiguousarray(x.reshape(-1, k), np.float32)
        if x2.size:
            lo, hi = kq.min_max(x2)
        else:
            lo = hi = 0.0
        scale, zp = choose_qparams(lo, hi, 0, 255, reduce_range)
        xq = np.empty(x2.shape, np.uint8)
        kq.quantize_u8(x2, np.float32(1.0) / scale, np.float32(zp), xq)
        out = self.linear_int8(xq, scale, zp)
        return _make(out.reshape(x.shape[:-1] + (out.shape[1],)))
