"""The quantization primitives as ops: quantize, dequantize, ``int_repr`` and fake
quantization (QAT's straight-through estimator), with torch's aten names and arithmetic.

A quantized tensor (``ember.ops.quantized.QuantizedTensor``) is integer storage plus its
quantization parameters, so these ops work on that storage: ``quantize_per_tensor`` and
``quantize_per_channel`` map floats to the integers (the quantized tensor wraps them),
``dequantize`` maps integers and parameters back to float32, ``int_repr`` copies the
integers out. Being ops, they pass the dispatcher: the compiler captures them, the
profiler names them, the meta device runs them.

Fake quantization rounds to the grid and back in one op, as torch's kernels do
(``x * (1 / scale)`` in float32 rounded half to even, the zero point added, clamped), and
its backward lets the gradient through where the rounded value was inside
``[quant_min, quant_max]``. The learnable variants (LSQ) also give gradients for the
scale and the zero point; their backward is an op of its own, as in torch, which works
in float32 only (torch's check) and has no derivative.
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor
from . import _meta

__all__ = ["quantize_array", "dequantize_array", "choose_qparams",
           "fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine",
           "_fake_quantize_learnable_per_tensor_affine",
           "_fake_quantize_learnable_per_channel_affine",
           "_fake_quantize_learnable_per_tensor_affine_backward",
           "_fake_quantize_learnable_per_channel_affine_backward"]


# ---- the integer maps (NumPy) ---------------------------------------------------------------

def quantize_array(x: np.ndarray, scale, zero_point, qdtype) -> np.ndarray:
    """``clamp(round(x * (1 / scale) + zero_point), qmin, qmax)`` in torch's float32
    arithmetic (C-contiguous); ``scale``/``zero_point`` are numbers or arrays broadcast
    against ``x``; ``qdtype`` a quantized dtype (its ``np``, ``qmin``, ``qmax``)."""
    inv = (np.float32(1.0) / np.asarray(scale, dtype=np.float32)).astype(np.float32)
    r = np.ascontiguousarray(x, np.float32) * inv + np.asarray(zero_point, dtype=np.float32)
    q = np.rint(r).astype(np.int64)  # fbgemm adds the zero point in float32, then rounds
    return np.clip(q, qdtype.qmin, qdtype.qmax).astype(qdtype.np)


def dequantize_array(q: np.ndarray, scale, zero_point) -> np.ndarray:
    """``(q - zero_point) * scale`` as float32: per-tensor ``scale`` (a number or 0-d
    array) multiplies in float32, per-channel ones (an array) in float64, as torch's two
    kernels do."""
    diff = q.astype(np.int64) - np.asarray(zero_point, dtype=np.int64)
    if np.ndim(scale):
        return (diff * np.asarray(scale, dtype=np.float64)).astype(np.float32)
    return diff.astype(np.float32) * np.float32(scale)


def _channel_shape(ndim: int, axis: int) -> list:
    shape = [1] * ndim
    shape[axis] = -1
    return shape


def _check_float(x: np.ndarray, what: str) -> None:
    if x.dtype.kind != "f" and x.dtype.name != "bfloat16":
        raise RuntimeError(f"{what}: expected a floating point input tensor, got {x.dtype}")


_SCALAR_NAMES = {"float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
                 "float32": "Float", "int64": "Long", "int32": "Int", "int16": "Short",
                 "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _scalar_name(dt) -> str:
    return _SCALAR_NAMES.get(np.dtype(dt).name, str(dt))


def _check_quantize_input(x) -> None:
    if x.dtype != np.float32:
        raise RuntimeError(f"Quantize only works on Float Tensor, got {_scalar_name(x.dtype)}")


def _check_axis(x, axis: int) -> None:
    if not 0 <= axis < x.ndim:  # torch takes no negative axis here
        raise RuntimeError(f"Channel axis out of range in per channel affine quantization. "
                           f"Got: {axis}Expected: [0, {x.ndim})")


class QuantizePerTensor(Op):
    """The integers of ``torch.quantize_per_tensor`` (the quantized tensor's storage)."""

    name = aten = "quantize_per_tensor"
    signature = ("quantize_per_tensor(Tensor self, float scale, int zero_point, "
                 "ScalarType dtype) -> Tensor")
    kind = "pointwise"
    differentiable = False

    @staticmethod
    def meta(self, scale, zero_point, dtype):
        _check_quantize_input(self)
        return _meta.new(self.shape, dtype.np)

    @staticmethod
    def forward(ctx, self, scale, zero_point, dtype):
        _check_quantize_input(self)
        return quantize_array(self, float(scale), int(zero_point), dtype)


class QuantizePerChannel(Op):
    """The integers of ``torch.quantize_per_channel``: a scale and zero point per slice
    along ``axis``."""

    name = aten = "quantize_per_channel"
    signature = ("quantize_per_channel(Tensor self, Tensor scales, Tensor zero_points, "
                 "int axis, ScalarType dtype) -> Tensor")
    kind = "pointwise"
    differentiable = False

    @staticmethod
    def _check(self, scales, zero_points, axis):
        _check_quantize_input(self)
        _check_axis(self, axis)
        n = self.shape[axis]
        if tuple(scales.shape) != (n,) or tuple(zero_points.shape) != (n,):
            raise RuntimeError(f"length of scales must equal to channel, expected {n} got, "
                               f"{scales.size}")

    @staticmethod
    def meta(self, scales, zero_points, axis, dtype):
        QuantizePerChannel._check(self, scales, zero_points, axis)
        return _meta.new(self.shape, dtype.np)

    @staticmethod
    def forward(ctx, self, scales, zero_points, axis, dtype):
        QuantizePerChannel._check(self, scales, zero_points, axis)
        shape = _channel_shape(self.ndim, axis)
        return quantize_array(self, scales.astype(np.float64).reshape(shape),
                              zero_points.astype(np.int64).reshape(shape), dtype)


class Dequantize(Op):
    """``torch.dequantize`` of a quantized tensor, on its storage: float32
    ``(q - zero_point) * scale``, with 0-d ``scale``/``zero_point`` (per tensor,
    ``axis=None``) or one per slice along ``axis``."""

    name = aten = "dequantize"
    signature = ("dequantize(Tensor self, Tensor scale, Tensor zero_point, int? axis=None) "
                 "-> Tensor")
    kind = "pointwise"
    differentiable = False

    @staticmethod
    def meta(self, scale, zero_point, axis=None):
        return _meta.new(self.shape, np.float32)

    @staticmethod
    def forward(ctx, self, scale, zero_point, axis=None):
        if axis is None:
            return np.ascontiguousarray(dequantize_array(self, scale[()], zero_point[()]))
        shape = _channel_shape(self.ndim, axis)
        return np.ascontiguousarray(dequantize_array(self, scale.reshape(shape),
                                                     zero_point.reshape(shape)))


class IntRepr(Op):
    """``Tensor.int_repr()``: a copy of a quantized tensor's integers."""

    name = aten = "int_repr"
    signature = "int_repr(Tensor self) -> Tensor"
    kind = "pointwise"
    differentiable = False

    @staticmethod
    def meta(self):
        return _meta.new(self.shape, self.dtype)

    @staticmethod
    def forward(ctx, self):
        return np.array(self, order="C")


# ---- quantization parameters ----------------------------------------------------------

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


# ---- fake quantization ------------------------------------------------------------------

def _check_range(quant_min: int, quant_max: int, zero_point=None) -> None:
    if quant_min > quant_max:
        raise RuntimeError("`quant_min` should be less than or equal to `quant_max`.")
    if zero_point is not None and np.any((zero_point < quant_min) | (zero_point > quant_max)):
        raise RuntimeError("`zero_point` must be between `quant_min` and `quant_max`.")


def _rounded(x: np.ndarray, inv_scale, zero_point) -> np.ndarray:
    """``zero_point + nearbyint(x * inv_scale)`` in ``x``'s precision (float32 for the
    16-bit floats), ``inv_scale`` float32 as in torch's kernels."""
    xf = x if x.dtype == np.float64 else x.astype(np.float32)
    return np.rint(xf * np.asarray(inv_scale, np.float32).astype(xf.dtype)) + zero_point


def _fake(x: np.ndarray, q: np.ndarray, scale, zero_point, quant_min: int, quant_max: int,
          per_channel: bool = False):
    """``((clamp(q) - zero_point) * scale`` in ``x``'s dtype, and the mask of ``q`` inside
    the range. A NaN ``q`` clamps to ``quant_min``, as torch's integer cast leaves it.

    torch's per-tensor kernel multiplies the integer by the float32 scale in float32 (also
    for a float64 ``x``), its per-channel one in ``x``'s precision."""
    mask = (q >= quant_min) & (q <= quant_max)
    clamped = np.where(mask, q, np.where(q > quant_max, quant_max, quant_min)) - zero_point
    sc = np.asarray(scale, np.float32)
    if per_channel:
        out = clamped * sc.astype(np.float64)
    else:
        out = clamped.astype(np.float32) * sc
    return out.astype(x.dtype), mask


class FakeQuantizePerTensorAffine(Op):
    """``torch.fake_quantize_per_tensor_affine``: quantize and dequantize in one step;
    the gradient passes where the value was inside the range (straight through)."""

    name = aten = "fake_quantize_per_tensor_affine"
    signature = ("fake_quantize_per_tensor_affine(Tensor self, float scale, int zero_point, "
                 "int quant_min, int quant_max) -> Tensor")
    kind = "pointwise"

    @staticmethod
    def meta(self, scale, zero_point, quant_min, quant_max):
        return _meta.like(self)

    @staticmethod
    def forward(ctx, self, scale, zero_point, quant_min, quant_max):
        _check_float(self, "fake_quantize_per_tensor_affine")
        _check_range(quant_min, quant_max, zero_point)
        inv = np.float32(1.0) / np.float32(scale)
        q = _rounded(self, inv, zero_point)
        out, mask = _fake(self, q, scale, zero_point, quant_min, quant_max)
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None, None, None


def _channel_params(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int):
    """Per-channel scale (float32), zero point and the float32 reciprocal of the scale,
    shaped to broadcast along ``axis`` of ``x``."""
    _check_axis(x, axis)
    if scale.dtype != np.float32 and scale.dtype.name != "bfloat16":
        raise RuntimeError(f"Scale must be Float or BFloat16, found {_scalar_name(scale.dtype)}")
    if zero_point.dtype.name not in ("int32", "float32", "float16"):
        raise RuntimeError(f"Zero-point must be Int32, Float or Half, found "
                           f"{_scalar_name(zero_point.dtype)}")
    n = x.shape[axis]
    if scale.shape != (n,) or zero_point.shape != (n,):
        raise RuntimeError(f"dimensions of scale and zero-point are not consistent with input "
                           f"tensor: expected {n} values along axis {axis}")
    shape = _channel_shape(x.ndim, axis)
    sc = scale.astype(np.float32).reshape(shape)
    return sc, zero_point.reshape(shape), (np.float32(1.0) / sc).astype(np.float32)


class FakeQuantizePerChannelAffine(Op):
    """``torch.fake_quantize_per_channel_affine``: per-slice ``scale``/``zero_point``
    along ``axis``; an integer zero point is added after rounding, a floating one before
    (torch's two kernels)."""

    name = aten = "fake_quantize_per_channel_affine"
    signature = ("fake_quantize_per_channel_affine(Tensor self, Tensor scale, "
                 "Tensor zero_point, int axis, int quant_min, int quant_max) -> Tensor")
    kind = "pointwise"

    @staticmethod
    def meta(self, scale, zero_point, axis, quant_min, quant_max):
        return _meta.like(self)

    @staticmethod
    def forward(ctx, self, scale, zero_point, axis, quant_min, quant_max):
        _check_float(self, "fake_quantize_per_channel_affine")
        _check_range(quant_min, quant_max, zero_point)
        sc, zp, inv = _channel_params(self, scale, zero_point, axis)
        if zp.dtype.kind == "f":
            xf = self if self.dtype == np.float64 else self.astype(np.float32)
            q = np.rint(xf * inv.astype(xf.dtype) + zp.astype(xf.dtype))
        else:
            q = _rounded(self, inv, zp)
        out, mask = _fake(self, q, sc, zp, quant_min, quant_max, per_channel=True)
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None, None, None, None


# ---- learnable fake quantization (LSQ) ---------------------------------------------------

def _lsq_grads(x, g, scale, inv, zero_point, quant_min, quant_max, grad_factor):
    """Per element: the gradients of x, scale and zero point of torch's learnable fake
    quantization (float32): straight through inside the range; outside it, the scale
    gets ``g * (quant_min|quant_max - zero_point)`` and the zero point ``-g * scale``.
    ``zero_point + x * inv`` is one fused multiply-add in torch's kernel (rounded once, to
    float32), which decides ties such as ``x = -19.65, scale = 0.1``."""
    exact = np.float64(zero_point) + x.astype(np.float64) * np.float64(inv)
    q = np.rint(exact.astype(np.float32))
    inside = (q >= quant_min) & (q <= quant_max)
    dx = (g * inside).astype(np.float32)
    fq = ((np.clip(q, quant_min, quant_max) - zero_point) * scale).astype(np.float32)
    edge = np.where(q < quant_min, np.float32(quant_min) - zero_point,
                    np.float32(quant_max) - zero_point).astype(np.float32)
    gf = np.float32(grad_factor)
    dscale = np.where(inside, g * (fq - x) * inv * gf, g * edge * gf).astype(np.float32)
    dzero = np.where(inside, np.float32(0), -g * scale * gf).astype(np.float32)
    return dx, dscale, dzero


def _check_float32(*arrays) -> None:
    for a in arrays:
        if a.dtype != np.float32:
            raise RuntimeError("Expected dY_.scalar_type() == ScalarType::Float to be true, but "
                               "got false.")


class FakeQuantizeLearnablePerTensorAffine(Op):
    """``torch._fake_quantize_learnable_per_tensor_affine``: the forward of
    ``fake_quantize_per_tensor_affine`` with ``scale[0]`` and the zero point rounded and
    clamped; gradients for input, scale and zero point (LSQ, times ``grad_factor``)."""

    name = aten = "_fake_quantize_learnable_per_tensor_affine"
    signature = ("_fake_quantize_learnable_per_tensor_affine(Tensor self, Tensor scale, "
                 "Tensor zero_point, int quant_min, int quant_max, float grad_factor=1.) "
                 "-> Tensor")
    kind = "pointwise"

    @staticmethod
    def meta(self, scale, zero_point, quant_min, quant_max, grad_factor=1.0):
        return _meta.like(self)

    @staticmethod
    def forward(ctx, self, scale, zero_point, quant_min, quant_max, grad_factor=1.0):
        _check_float(self, "_fake_quantize_learnable_per_tensor_affine")
        _check_range(quant_min, quant_max)
        sc = np.float32(scale.reshape(-1)[0])
        zp = int(np.clip(np.rint(np.float32(zero_point.reshape(-1)[0])), quant_min, quant_max))
        q = _rounded(self, np.float32(1.0) / sc, zp)
        ctx.save_for_backward(self, scale, zero_point)
        ctx.args = (quant_min, quant_max, grad_factor)
        return _fake(self, q, sc, zp, quant_min, quant_max)[0]

    @staticmethod
    def backward(ctx, g):
        x, scale, zero_point = ctx.saved_tensors
        dx, ds, dz = dispatch(FakeQuantizeLearnablePerTensorAffineBackward, g, x, scale,
                              zero_point, *ctx.args)
        return dx, ds.reshape(scale.shape), dz.reshape(zero_point.shape), None, None, None


class FakeQuantizeLearnablePerTensorAffineBackward(Op):
    """The gradients of ``_fake_quantize_learnable_per_tensor_affine``: ``(dX, dScale,
    dZeroPoint)``, the last two summed to shape ``(1,)`` (torch's op of that name)."""

    name = aten = "_fake_quantize_learnable_per_tensor_affine_backward"
    signature = ("_fake_quantize_learnable_per_tensor_affine_backward(Tensor grad, Tensor self, "
                 "Tensor scale, Tensor zero_point, int quant_min, int quant_max, "
                 "float grad_factor=1.) -> (Tensor, Tensor, Tensor)")
    kind = "opaque"
    differentiable = False

    @staticmethod
    def meta(grad, self, scale, zero_point, quant_min, quant_max, grad_factor=1.0):
        return _meta.like(self), _meta.new((1,), np.float32), _meta.new((1,), np.float32)

    @staticmethod
    def forward(ctx, grad, self, scale, zero_point, quant_min, quant_max, grad_factor=1.0):
        _check_float32(grad, self, scale, zero_point)
        sc = np.float32(scale.reshape(-1)[0])
        # the backward rounds the zero point by adding 0.5 and truncating (torch's kernel)
        zp = int(np.clip(np.float32(zero_point.reshape(-1)[0]) + np.float32(0.5), quant_min,
                         quant_max))
        dx, ds, dz = _lsq_grads(self, grad, sc, np.float32(1.0) / sc, np.float32(zp),
                                quant_min, quant_max, grad_factor)
        return dx, ds.sum(dtype=np.float32).reshape(1), dz.sum(dtype=np.float32).reshape(1)


class FakeQuantizeLearnablePerChannelAffine(Op):
    """``torch._fake_quantize_learnable_per_channel_affine``: per-channel fake
    quantization with the zero points rounded and clamped; LSQ gradients per channel."""

    name = aten = "_fake_quantize_learnable_per_channel_affine"
    signature = ("_fake_quantize_learnable_per_channel_affine(Tensor self, Tensor scale, "
                 "Tensor zero_point, int axis, int quant_min, int quant_max, "
                 "float grad_factor=1.) -> Tensor")
    kind = "pointwise"

    @staticmethod
    def meta(self, scale, zero_point, axis, quant_min, quant_max, grad_factor=1.0):
        return _meta.like(self)

    @staticmethod
    def forward(ctx, self, scale, zero_point, axis, quant_min, quant_max, grad_factor=1.0):
        _check_float(self, "_fake_quantize_learnable_per_channel_affine")
        _check_range(quant_min, quant_max)
        zp_int = np.clip(np.rint(zero_point), quant_min, quant_max).astype(np.int32)
        sc, zp, inv = _channel_params(self, scale, zp_int, axis)
        ctx.save_for_backward(self, scale, zero_point)
        ctx.args = (axis, quant_min, quant_max, grad_factor)
        return _fake(self, _rounded(self, inv, zp), sc, zp, quant_min, quant_max,
                     per_channel=True)[0]

    @staticmethod
    def backward(ctx, g):
        x, scale, zero_point = ctx.saved_tensors
        dx, ds, dz = dispatch(FakeQuantizeLearnablePerChannelAffineBackward, g, x, scale,
                              zero_point, *ctx.args)
        return dx, ds, dz, None, None, None, None


class FakeQuantizeLearnablePerChannelAffineBackward(Op):
    """The gradients of ``_fake_quantize_learnable_per_channel_affine``: ``(dX, dScale,
    dZeroPoint)``, the last two summed over all dims but ``axis``."""

    name = aten = "_fake_quantize_learnable_per_channel_affine_backward"
    signature = ("_fake_quantize_learnable_per_channel_affine_backward(Tensor grad, "
                 "Tensor self, Tensor scale, Tensor zero_point, int axis, int quant_min, "
                 "int quant_max, float grad_factor=1.) -> (Tensor, Tensor, Tensor)")
    kind = "opaque"
    differentiable = False

    @staticmethod
    def meta(grad, self, scale, zero_point, axis, quant_min, quant_max, grad_factor=1.0):
        return _meta.like(self), _meta.like(scale), _meta.like(zero_point)

    @staticmethod
    def forward(ctx, grad, self, scale, zero_point, axis, quant_min, quant_max,
                grad_factor=1.0):
        _check_float32(grad, self, scale, zero_point)
        zp_round = np.clip(np.rint(zero_point), quant_min, quant_max).astype(np.float32)
        sc, zp, inv = _channel_params(self, scale, zp_round, axis)
        dx, ds, dz = _lsq_grads(self, grad, sc, inv, zp, quant_min, quant_max, grad_factor)
        dims = tuple(d for d in range(self.ndim) if d != axis)
        return dx, ds.sum(axis=dims, dtype=np.float32), dz.sum(axis=dims, dtype=np.float32)


def fake_quantize_per_tensor_affine(input: Tensor, scale, zero_point, quant_min: int,
                                    quant_max: int) -> Tensor:
    """``torch.fake_quantize_per_tensor_affine``; ``scale``/``zero_point`` may be numbers
    or one-element tensors (torch's ``tensor_qparams`` overload)."""
    scale = float(scale.item() if isinstance(scale, Tensor) else scale)
    zero_point = int(zero_point.item() if isinstance(zero_point, Tensor) else zero_point)
    return FakeQuantizePerTensorAffine.apply(input, scale, zero_point, quant_min, quant_max)


def fake_quantize_per_channel_affine(input: Tensor, scale: Tensor, zero_point: Tensor,
                                     axis: int, quant_min: int, quant_max: int) -> Tensor:
    """``torch.fake_quantize_per_channel_affine``."""
    return FakeQuantizePerChannelAffine.apply(input, scale, zero_point, axis, quant_min,
                  quant_max)


def _fake_quantize_learnable_per_tensor_affine(input: Tensor, scale: Tensor,
                                               zero_point: Tensor, quant_min: int,
                                               quant_max: int,
                                               grad_factor: float = 1.0) -> Tensor:
    """``torch._fake_quantize_learnable_per_tensor_affine``."""
    return FakeQuantizeLearnablePerTensorAffine.apply(input, scale, zero_point, quant_min,
                  quant_max, grad_factor)


def _fake_quantize_learnable_per_channel_affine(input: Tensor, scale: Tensor,
                                                zero_point: Tensor, axis: int,
                                                quant_min: int, quant_max: int,
                                                grad_factor: float = 1.0) -> Tensor:
    """``torch._fake_quantize_learnable_per_channel_affine``."""
    return FakeQuantizeLearnablePerChannelAffine.apply(input, scale, zero_point, axis,
                  quant_min, quant_max, grad_factor)


def _fake_quantize_learnable_per_tensor_affine_backward(grad, input, scale, zero_point,
                                                        quant_min: int, quant_max: int,
                                                        grad_factor: float = 1.0):
    """``torch._fake_quantize_learnable_per_tensor_affine_backward``."""
    return FakeQuantizeLearnablePerTensorAffineBackward.apply(grad, input, scale,
                  zero_point, quant_min, quant_max, grad_factor)


def _fake_quantize_learnable_per_channel_affine_backward(grad, input, scale, zero_point,
                                                         axis: int, quant_min: int,
                                                         quant_max: int,
                                                         grad_factor: float = 1.0):
    """``torch._fake_quantize_learnable_per_channel_affine_backward``."""
    return FakeQuantizeLearnablePerChannelAffineBackward.apply(grad, input, scale,
                  zero_point, axis, quant_min, quant_max, grad_factor)


