"""Quantized matrix products and lookups as ops: the weight-only int4/int8 Linear and
Embedding layers (``ember.ao.nn.quantized.weight_only``) and the dynamic int8 Linear.

Each is one op over the layer's storage (packed integers, scales, zeros, bias), so
``ember.compile`` captures a quantized model as one graph, the profiler and the FLOP
counter see the products, and the meta device gives their shapes. The kernels are the
Numba ones of ``_kernels_quant`` (imported on first use):

- ``_weight_int8pack_mm``: torch's op of that name, ``self @ (mat2 * scales[:, None]).T``
  with ``mat2 (N, K)`` int8, plus ember's optional fused ``bias``; ``self`` may have
  leading dimensions (torch's takes 2-D). float32 output.
- ``int4_weight_only_linear``: ``self @ W.T + bias`` with ``W[n, k] = q * scales[n, g] +
  zeros[n, g]`` (``g = k // group_size``) from ``packed (N, K/2)``, two 4-bit ``q`` a byte
  in ``_kernels_quant.pack_int4``'s layout. torch's ``_weight_int4pack_mm_for_cpu``
  computes the same product from its own packing (zero point ``zeros + 8 * scales``), so
  the name is ember's.
- ``int4_weight_only_embedding`` / ``int8_weight_only_embedding``: the rows of those
  weights at ``indices`` (torch's ``quantized::embedding_4bit``/``embedding_byte`` pack
  scales into the rows, so the names are ember's).
- ``linear_dynamic``: ``quantized::linear_dynamic``: the input quantized to uint8 with
  this batch's range, int8 x uint8 products in int32, float32 output (fbgemm's
  arithmetic); the weight given as ``_packed.PackedLinear`` keeps it.
- ``linear_dynamic_per_token``: torchao's ``int8_dynamic_activation_int8_weight``: int8
  activations quantized per row (symmetric), the same int8 kernel, float32 output.
- ``quantized_linear`` / ``quantized_conv2d``: ``quantized::linear``/``conv2d`` (static):
  quint8 integers in and out, the input's and the output's scale and zero point given.

None has a derivative (torch's neither): a backward through them raises.
"""

from __future__ import annotations

import functools
import math
import types

import numpy as np

from .._dispatch import Op
from .._tensor import Tensor
from . import _meta
from .quantize import choose_qparams, quantize_array

__all__ = ["_weight_int8pack_mm", "int4_weight_only_linear", "int4_weight_only_embedding",
           "int8_weight_only_embedding"]


@functools.cache
def _kq():
    """``_kernels_quant``, imported on the first product (Numba loads with it, never with
    ``import ember``); cached, since an import statement costs about 2 us a call."""
    from . import _kernels_quant
    return _kernels_quant


def _linear_shape(x_shape: tuple, k: int, n: int) -> tuple:
    """The output shape ``(*x_shape[:-1], n)`` of a Linear with ``k`` inputs, or torch's
    error when the last dim of ``x`` is not ``k``."""
    if not x_shape or x_shape[-1] != k:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({math.prod(x_shape[:-1])}x{x_shape[-1] if x_shape else 1} "
                           f"and {k}x{n})")
    return tuple(x_shape[:-1]) + (n,)


@functools.lru_cache(maxsize=64)
def _zeros(n: int) -> np.ndarray:
    """A read-only float32 zero bias of length ``n`` (what the kernels add without one)."""
    z = np.zeros(n, np.float32)
    z.flags.writeable = False
    return z


BLOCK_BYTES = 1 << 20  # float32 weights a block of the NumPy fallback dequantises at a time


def _blocked(x2: np.ndarray, n: int, dequantize_rows) -> np.ndarray:
    """Batches without CBLAS: ``BLOCK_BYTES`` of weight rows at a time dequantised into a
    float32 buffer that stays in cache (``dequantize_rows(rows, dst)``), multiplied by
    NumPy."""
    k = x2.shape[1]
    rows = max(4, min(n, BLOCK_BYTES // (4 * k)))
    buf = np.empty((rows, k), np.float32)
    out_t = np.empty((n, x2.shape[0]), np.float32)
    for n0 in range(0, n, rows):
        n1 = min(n, n0 + rows)
        dequantize_rows(slice(n0, n1), buf[:n1 - n0])
        np.matmul(buf[:n1 - n0], x2.T, out=out_t[n0:n1])
    return out_t.T


def _weight_only_linear(x: np.ndarray, n: int, bias, gemv, gemm, dequantize_rows):
    """``x (..., K) @ W.T + bias`` in float32: the fused GEMV for one row, the tiled
    kernels (``gemm``, None without CBLAS) for more, NumPy's blocked product last."""
    x2 = np.ascontiguousarray(x.reshape(-1, x.shape[-1]), np.float32)
    b = _zeros(n) if bias is None else np.ascontiguousarray(bias, np.float32)
    if x2.shape[0] == 1:
        out = np.empty(n, np.float32)
        gemv(x2[0], b, out)
    else:
        out = gemm(x2, b)
        if out is None:
            out = _blocked(x2, n, dequantize_rows) + b
    return out.reshape(x.shape[:-1] + (n,))


class WeightInt8PackMM(Op):
    """torch's ``_weight_int8pack_mm`` (+ ember's fused bias): int8 weights, symmetric
    per output row, converted to float as they stream through the product."""

    name = aten = "_weight_int8pack_mm"
    signature = ("_weight_int8pack_mm(Tensor self, Tensor mat2, Tensor scales, "
                 "Tensor? bias=None) -> Tensor")
    kind = "matmul"

    @staticmethod
    def meta(self, mat2, scales, bias=None):
        return _meta.new(_linear_shape(tuple(self.shape), mat2.shape[1], mat2.shape[0]),
                         np.float32)

    @staticmethod
    def forward(ctx, self, mat2, scales, bias=None):
        kq = _kq()
        n = mat2.shape[0]
        _linear_shape(self.shape, mat2.shape[1], n)
        return _weight_only_linear(
            self, n, bias,
            lambda x, b, out: kq.int8_gemv(x, mat2, scales, b, out),
            lambda x2, b: kq.int8_gemm(x2, mat2, scales, b),
            lambda rows, dst: kq.int8_dequantize_rows(mat2[rows], scales[rows], dst))


class Int4WeightOnlyLinear(Op):
    """``self @ W.T + bias`` with ``W`` int4, asymmetric per group of ``group_size`` input
    features (torchao's ``int4_weight_only``), dequantised inside the product."""

    name = aten = "int4_weight_only_linear"
    signature = ("int4_weight_only_linear(Tensor self, Tensor packed, Tensor scales, "
                 "Tensor zeros, int group_size, Tensor? bias=None) -> Tensor")
    kind = "matmul"

    @staticmethod
    def meta(self, packed, scales, zeros, group_size, bias=None):
        return _meta.new(_linear_shape(tuple(self.shape), packed.shape[1] * 2, packed.shape[0]),
                         np.float32)

    @staticmethod
    def forward(ctx, self, packed, scales, zeros, group_size, bias=None):
        kq = _kq()
        n = packed.shape[0]
        _linear_shape(self.shape, packed.shape[1] * 2, n)
        return _weight_only_linear(
            self, n, bias,
            lambda x, b, out: kq.int4_gemv(x, packed, scales, zeros, group_size, b, out),
            lambda x2, b: kq.int4_gemm(x2, packed, scales, zeros, group_size, b),
            lambda rows, dst: kq.int4_dequantize_rows(packed[rows], scales[rows], zeros[rows],
                                                      group_size, dst))


def _lookup_rows(indices: np.ndarray, num: int) -> np.ndarray:
    """``indices`` flattened to int64, or torch's embedding errors."""
    if indices.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the "
                           "following scalar types: Long, Int; but got "
                           f"{indices.dtype} instead (while checking arguments for embedding)")
    flat = indices.reshape(-1).astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= num):
        raise IndexError("index out of range in self")
    return flat


def _embedding(indices: np.ndarray, num: int, dim: int, dequantize_rows) -> np.ndarray:
    flat = _lookup_rows(indices, num)
    out = np.empty((flat.size, dim), np.float32)
    dequantize_rows(flat, out)
    return out.reshape(indices.shape + (dim,))


class Int4WeightOnlyEmbedding(Op):
    """The float32 rows at ``indices`` of an int4 table stored as
    ``int4_weight_only_linear``'s weight: only the rows asked for are dequantised."""

    name = aten = "int4_weight_only_embedding"
    signature = ("int4_weight_only_embedding(Tensor packed, Tensor scales, Tensor zeros, "
                 "Tensor indices, int group_size) -> Tensor")
    kind = "opaque"
    differentiable = False

    @staticmethod
    def meta(packed, scales, zeros, indices, group_size):
        return _meta.new(tuple(indices.shape) + (packed.shape[1] * 2,), np.float32)

    @staticmethod
    def forward(ctx, packed, scales, zeros, indices, group_size):
        kq = _kq()
        return _embedding(indices, packed.shape[0], packed.shape[1] * 2,
                          lambda rows, dst: kq.int4_dequantize_rows(
                              packed[rows], scales[rows], zeros[rows], group_size, dst))


class Int8WeightOnlyEmbedding(Op):
    """The float32 rows ``weight[indices] * scale[indices, None]`` of an int8 table."""

    name = aten = "int8_weight_only_embedding"
    signature = ("int8_weight_only_embedding(Tensor weight, Tensor scale, Tensor indices) "
                 "-> Tensor")
    kind = "opaque"
    differentiable = False

    @staticmethod
    def meta(weight, scale, indices):
        return _meta.new(tuple(indices.shape) + (weight.shape[1],), np.float32)

    @staticmethod
    def forward(ctx, weight, scale, indices):
        kq = _kq()
        return _embedding(indices, weight.shape[0], weight.shape[1],
                          lambda rows, dst: kq.int8_dequantize_rows(weight[rows], scale[rows],
                                                                    dst))


def _qlinear(xq: np.ndarray, a_scale, a_zp: int, weight, col_sum, w_scale, bias) -> np.ndarray:
    """float32 ``(M, N)`` from uint8 activations ``xq (M, K)`` with scale ``a_scale`` and
    zero point ``a_zp``: the int8 kernel (``_kernels_quant.qlinear``, fbgemm's order) on
    ``weight`` packed by ``_kernels_quant.pack_s8``."""
    kq = _kq()
    out = np.empty((xq.shape[0], w_scale.shape[0]), np.float32)
    kq.qlinear(np.ascontiguousarray(xq), np.float32(a_scale), np.int32(a_zp), weight,
               col_sum, w_scale, bias, out)
    return out


_QUINT8 = types.SimpleNamespace(np=np.uint8, qmin=0, qmax=255)  # quint8's storage and range


def _requantize(values: np.ndarray, scale: float, zero_point: int, relu: bool) -> np.ndarray:
    """quint8 integers of float ``values`` (a static quantized layer's output); ``relu``
    keeps them at least the zero point (a real 0)."""
    ints = quantize_array(values, scale, zero_point, _QUINT8)
    if relu:
        np.maximum(ints, np.uint8(min(max(zero_point, 0), 255)), out=ints)
    return ints


class LinearDynamic(Op):
    """``quantized::linear_dynamic``: ``weight`` the int8 weight as
    ``_kernels_quant.pack_s8`` lays it out for the kernel (``shape[1]`` is K), ``col_sum``
    its rows' sums, ``w_scale``/``bias`` float32 per output (N of them)."""

    name = aten = "linear_dynamic"
    signature = ("linear_dynamic(Tensor self, Tensor weight, Tensor col_sum, Tensor w_scale, "
                 "Tensor bias, bool reduce_range=False) -> Tensor")
    kind = "matmul"

    @staticmethod
    def _shape(x_shape: tuple, k: int, n: int) -> tuple:
        if len(x_shape) < 2:
            raise RuntimeError("The dimension of input tensor should be larger than or equal "
                               "to 2")
        return _linear_shape(x_shape, k, n)

    @staticmethod
    def meta(self, weight, col_sum, w_scale, bias, reduce_range=False):
        shape = LinearDynamic._shape(tuple(self.shape), weight.shape[1], w_scale.shape[0])
        return _meta.new(shape, np.float32)

    @staticmethod
    def forward(ctx, self, weight, col_sum, w_scale, bias, reduce_range=False):
        kq = _kq()
        k, n = weight.shape[1], w_scale.shape[0]
        shape = LinearDynamic._shape(self.shape, k, n)
        x2 = np.ascontiguousarray(self.reshape(-1, k), np.float32)
        lo, hi = kq.min_max(x2) if x2.size else (0.0, 0.0)
        scale, zp = choose_qparams(lo, hi, 0, 255, reduce_range)
        xq = np.empty(x2.shape, np.uint8)
        kq.quantize_rows(x2, np.float32(1.0) / scale, np.float32(zp), xq)
        return _qlinear(xq, scale, zp, weight, col_sum, w_scale, bias).reshape(shape)


class LinearDynamicPerToken(Op):
    """torchao's ``int8_dynamic_activation_int8_weight`` product: each row of ``self``
    quantized symmetrically to ``[-127, 127]`` with its own scale (``max|row| / 127``, at
    least ``1e-5``), int32 products with the int8 ``weight`` (``linear_dynamic``'s operands:
    packed weights, their rows' sums, per-output scales), each row scaled back, then ``bias``.
    The int8 activations shifted by 128 are the kernel's uint8 ones with zero point 128."""

    name = aten = "linear_dynamic_per_token"
    signature = ("linear_dynamic_per_token(Tensor self, Tensor weight, Tensor col_sum, "
                 "Tensor w_scale, Tensor? bias=None) -> Tensor")
    kind = "matmul"
    differentiable = False

    @staticmethod
    def meta(self, weight, col_sum, w_scale, bias=None):
        shape = _linear_shape(tuple(self.shape), weight.shape[1], w_scale.shape[0])
        return _meta.new(shape, np.float32)

    @staticmethod
    def forward(ctx, self, weight, col_sum, w_scale, bias=None):
        k, n = weight.shape[1], w_scale.shape[0]
        shape = _linear_shape(self.shape, k, n)
        x2 = np.ascontiguousarray(self.reshape(-1, k), np.float32)
        scale = np.maximum(np.abs(x2).max(axis=1, initial=0) / np.float32(127),
                           _TOKEN_SCALE_MIN).astype(np.float32)
        xq = (np.clip(np.rint(x2 / scale[:, None]), -127, 127) + 128).astype(np.uint8)
        out = _qlinear(xq, 1.0, 128, weight, col_sum, w_scale, _zeros(n))
        out *= scale[:, None]
        if bias is not None:
            out += bias
        return out.reshape(shape)


_TOKEN_SCALE_MIN = np.float32(1e-5)  # torchao's floor on a token's scale


class QuantizedLinear(Op):
    """``quantized::linear`` (and ``linear_relu``) on storage: the quint8 integers of the
    input (its ``self_scale``/``self_zero_point``) times the int8 weight (as
    ``linear_dynamic``'s), requantized to quint8 with the layer's ``scale``/``zero_point``."""

    name = aten = "quantized_linear"
    signature = ("quantized_linear(Tensor self, float self_scale, int self_zero_point, "
                 "Tensor weight, Tensor col_sum, Tensor w_scale, Tensor bias, float scale, "
                 "int zero_point, bool relu=False) -> Tensor")
    kind = "matmul"
    differentiable = False

    @staticmethod
    def meta(self, self_scale, self_zero_point, weight, col_sum, w_scale, bias, scale,
             zero_point, relu=False):
        shape = _linear_shape(tuple(self.shape), weight.shape[1], w_scale.shape[0])
        return _meta.new(shape, np.uint8)

    @staticmethod
    def forward(ctx, self, self_scale, self_zero_point, weight, col_sum, w_scale, bias, scale,
                zero_point, relu=False):
        k = weight.shape[1]
        shape = _linear_shape(self.shape, k, w_scale.shape[0])
        out = _qlinear(self.reshape(-1, k), self_scale, self_zero_point, weight, col_sum,
                       w_scale, bias)
        return _requantize(out.reshape(shape), scale, zero_point, relu)


def _im2col(x: np.ndarray, zero_point: int, kernel_size, stride, padding, dilation):
    """``(N*OH*OW, C*KH*KW)`` windows of the uint8 ``x (N, C, H, W)``, padded with its zero
    point (a real 0), and ``(N, OH, OW)``."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    padded = np.full((n, c, h + 2 * ph, w + 2 * pw), zero_point, np.uint8)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    win = np.lib.stride_tricks.sliding_window_view(padded, (span_h, span_w), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # (N, C, OH, OW, KH, KW)
    oh, ow = win.shape[2:4]
    cols = np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(
        n * oh * ow, c * kh * kw)  # (explicit: an empty batch has no -1 to infer)
    return cols, (n, oh, ow)


def _conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


class QuantizedConv2d(Op):
    """``quantized::conv2d`` (and ``conv2d_relu``, groups=1) on storage: the im2col of
    the quint8 input times the int8 weight ``(OC, C*KH*KW)``, requantized to quint8."""

    name = aten = "quantized_conv2d"
    signature = ("quantized_conv2d(Tensor self, float self_scale, int self_zero_point, "
                 "Tensor weight, Tensor col_sum, Tensor w_scale, Tensor bias, "
                 "int[2] kernel_size, int[2] stride, int[2] padding, int[2] dilation, "
                 "float scale, int zero_point, bool relu=False) -> Tensor")
    kind = "opaque"
    differentiable = False

    @staticmethod
    def meta(self, self_scale, self_zero_point, weight, col_sum, w_scale, bias, kernel_size,
             stride, padding, dilation, scale, zero_point, relu=False):
        n, _, h, w = self.shape
        sizes = [_conv_out(x, *a) for x, a in zip((h, w), zip(kernel_size, stride, padding,
                                                               dilation))]
        return _meta.new((n, w_scale.shape[0], *sizes), np.uint8)

    @staticmethod
    def forward(ctx, self, self_scale, self_zero_point, weight, col_sum, w_scale, bias,
                kernel_size, stride, padding, dilation, scale, zero_point, relu=False):
        cols, (n, oh, ow) = _im2col(self, self_zero_point, kernel_size, stride, padding,
                                    dilation)
        out = _qlinear(cols, self_scale, self_zero_point, weight, col_sum, w_scale, bias)
        out = np.ascontiguousarray(out.reshape(n, oh, ow, out.shape[1]).transpose(0, 3, 1, 2))
        return _requantize(out, scale, zero_point, relu)


# ---- the public functions ------------------------------------------------------------------

def _weight_int8pack_mm(input: Tensor, mat2: Tensor, scales: Tensor,
                        bias: Tensor | None = None) -> Tensor:
    """``torch._weight_int8pack_mm`` (``bias``: ember's, added in the kernel)."""
    return WeightInt8PackMM.apply(input, mat2, scales, bias)


def int4_weight_only_linear(input: Tensor, packed: Tensor, scales: Tensor, zeros: Tensor,
                            group_size: int, bias: Tensor | None = None) -> Tensor:
    """``input @ W.T + bias`` with ``W`` int4 in ``pack_int4``'s layout (the op above)."""
    return Int4WeightOnlyLinear.apply(input, packed, scales, zeros, group_size, bias)


def int4_weight_only_embedding(packed: Tensor, scales: Tensor, zeros: Tensor,
                               indices: Tensor, group_size: int) -> Tensor:
    """The rows at ``indices`` of an int4 table (float32)."""
    return Int4WeightOnlyEmbedding.apply(packed, scales, zeros, indices, group_size)


def int8_weight_only_embedding(weight: Tensor, scale: Tensor, indices: Tensor) -> Tensor:
    """The rows at ``indices`` of an int8 table with a scale per row (float32)."""
    return Int8WeightOnlyEmbedding.apply(weight, scale, indices)


def linear_dynamic_per_token(input: Tensor, weight: Tensor, col_sum: Tensor, w_scale: Tensor,
                             bias: Tensor | None = None) -> Tensor:
    """torchao's int8 dynamic-activation (per row) int8-weight product (the op above)."""
    return LinearDynamicPerToken.apply(input, weight, col_sum, w_scale, bias)
