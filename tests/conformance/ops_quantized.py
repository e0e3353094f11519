"""Conformance of the quantized ops (issue 13): quantize/dequantize/``int_repr`` per tensor and
per channel (the integers bit-exact), fake quantization and its learnable (LSQ) variant with
torch's straight-through gradients, and the weight-only int4/int8 and dynamic int8 products.

Fake quantization's gradient is a straight-through estimator, not the derivative of its
rounding steps, so it is compared with torch's (``test_grads``, float64 and float32) rather
than with finite differences (``gradcheck=False``). torch's learnable backward takes
float32 only; those gradients are checked by calling torch's backward ops directly.
Samples put values on rounding ties (``x / scale`` a half integer) and beyond the range.
"""

from __future__ import annotations

import numpy as np

from .harness import OpInfo, Sample, make

_QRANGE = {"quint8": (0, 255), "qint8": (-128, 127), "qint32": (-2**31, 2**31 - 1)}


def _lib_is_torch(lib) -> bool:
    return lib.__name__ == "torch"


def _with_ties(shape, dt, rng, scale: float):
    """Values on the grid's half steps (ties) mixed with random ones, some out of range."""
    x = make(shape, dt, rng, low=-40 * scale, high=40 * scale)
    ties = (rng.integers(-300, 300, size=shape) + 0.5) * scale
    return np.where(rng.random(shape) < 0.5, ties, x).astype(dt)


# ---- quantize / dequantize / int_repr --------------------------------------------------------

def _per_tensor(dt, rng):
    return [Sample((_with_ties((4, 7), dt, rng, 0.25), 0.25, 3, "quint8")),
            Sample((_with_ties((5, 6), dt, rng, 0.5), 0.5, -2, "qint8")),
            Sample((_with_ties((3, 4, 5), dt, rng, 0.0173), 0.0173, 0, "qint32")),
            Sample((make((2, 9), dt, rng, low=-3, high=3)[:, ::2], 0.031, 128, "quint8"),
                   name="noncontig"),
            Sample((make((0, 3), dt, rng), 0.1, 0, "qint8"), name="empty")]


def _per_channel(dt, rng):
    scales = np.array([0.25, 0.5, 0.0173], np.float64)
    return [Sample((_with_ties((3, 8), dt, rng, 0.25), scales, np.array([0, 3, -5]), 0,
                    "qint8")),
            Sample((_with_ties((4, 3, 2), dt, rng, 0.5), scales, np.array([10, 128, 0]), 1,
                    "quint8")),
            Sample((_with_ties((2, 3), dt, rng, 0.5), scales, np.array([0, 1, 2]), 2, "qint8"),
                   name="bad-axis")]


def _quantize(lib, x, scale, zp, dtype):
    return lib.quantize_per_tensor(x, scale, zp, getattr(lib, dtype))


def _quantize_channel(lib, x, scales, zps, axis, dtype):
    return lib.quantize_per_channel(x, scales, zps, axis, getattr(lib, dtype))


# ---- fake quantization -----------------------------------------------------------------------

def _fake_per_tensor(dt, rng):
    return [Sample((_with_ties((4, 6), dt, rng, 0.25), 0.25, 3, 0, 255)),
            Sample((_with_ties((3, 5), dt, rng, 0.1), 0.1, 0, -128, 127)),
            Sample((_with_ties((2, 3, 4), dt, rng, 0.05), 0.05, 10, 0, 15)),
            Sample((make((2, 3), dt, rng), 0.1, 300, 0, 255), name="zero-point-out-of-range"),
            Sample((make((2, 3), dt, rng), 0.1, 0, 10, 5), name="min-above-max")]


def _fake_per_channel(dt, rng):
    s3 = np.array([0.25, 0.1, 0.05], np.float32)
    return [Sample((_with_ties((3, 8), dt, rng, 0.1), s3, np.array([0, 3, 9], np.int32), 0,
                    0, 255)),
            Sample((_with_ties((4, 3, 2), dt, rng, 0.25), s3,
                    np.array([0.0, 2.5, -1.25], np.float32), 1, -128, 127), name="float-zp"),
            Sample((_with_ties((3, 40), dt, rng, 0.1), s3, np.array([0.5, 2.0, -1.0],
                                                                    np.float32), 0, -128, 127),
                   name="float-zp-inexact-ties"),
            Sample((_with_ties((2, 3), dt, rng, 0.25), s3.astype(np.float64),
                    np.array([0, 1, 2], np.int32), 1, 0, 255), name="double-scale"),
            Sample((_with_ties((2, 3), dt, rng, 0.25), s3, np.array([0, 1, 2], np.int64), 1,
                    0, 255), name="long-zp")]


def _learnable_per_tensor(dt, rng):
    return [Sample((_with_ties((4, 6), dt, rng, 0.25), np.array([0.25], np.float32),
                    np.array([3.4], np.float32), 0, 255, 1.0)),
            Sample((_with_ties((3, 5), dt, rng, 0.1), np.array([0.1], np.float32),
                    np.array([-0.5], np.float32), -128, 127, 0.5)),
            Sample((_with_ties((10,), dt, rng, 0.1), np.array([0.1], np.float32),
                    np.array([300.0], np.float32), 0, 255, 1.0), name="zp-clamped")]


def _learnable_per_channel(dt, rng):
    s3 = np.array([0.25, 0.1, 0.05], np.float32)
    return [Sample((_with_ties((3, 8), dt, rng, 0.1), s3, np.array([0.4, 2.6, -3.0],
                                                                   np.float32), 0, -128, 127,
                    1.0)),
            Sample((_with_ties((4, 3, 2), dt, rng, 0.25), s3,
                    np.array([0.0, 12.5, 254.7], np.float32), 1, 0, 255, 0.25))]


def _aten(lib, name: str):
    """torch's ``torch.ops.aten.<name>``, ember's public function in ``ember.ops.quantize``."""
    return getattr(lib.ops.aten if _lib_is_torch(lib) else lib.ops.quantize, name)


def _with_grad(samples_fn):
    """The learnable backward ops' samples: an upstream gradient before each sample."""
    def samples(dt, rng):
        out = []
        for s in samples_fn(dt, rng):
            g = make(s.args[0].shape, dt, rng)
            out.append(Sample((g, *s.args), name=s.name))
        return out
    return samples


# ---- weight-only and dynamic int8 products --------------------------------------------------

def _int8_mm(dt, rng):
    out = []
    for m, k, n, bias in [(1, 64, 9, True), (3, 96, 17, False), (9, 32, 70, True)]:
        w = rng.integers(-128, 128, (n, k)).astype(np.int8)
        scales = rng.uniform(0.001, 0.02, n).astype(np.float32)
        b = make((n,), dt, rng) if bias else None
        out.append(Sample((make((m, k), dt, rng), w, scales, b)))
    return out


def _int8_mm_fn(lib, x, w, scales, bias):
    if _lib_is_torch(lib):
        y = lib._weight_int8pack_mm(x, w, scales)
        return y if bias is None else y + bias
    return lib._weight_int8pack_mm(x, w, scales, bias)


def _int4_weights(rng, n: int, k: int, group: int):
    q = rng.integers(0, 16, (n, k)).astype(np.uint8)
    scales = rng.uniform(0.01, 0.1, (n, k // group)).astype(np.float32)
    zeros = rng.uniform(-1, 1, (n, k // group)).astype(np.float32)
    return q, scales, zeros


def _int4_mm(dt, rng):
    out = []
    for m, k, n, group in [(1, 64, 16, 32), (1, 256, 32, 64), (3, 128, 16, 64),
                           (9, 256, 48, 128)]:  # torch's packing takes N a multiple of 16
        out.append(Sample((make((m, k), dt, rng), *_int4_weights(rng, n, k, group), group,
                           make((n,), dt, rng))))
    return out


def _int4_mm_fn(lib, x, q, scales, zeros, group, bias):
    """torch: its CPU int4 product on its own packing, zero point ``zeros + 8 * scales``
    (it subtracts 8 from each nibble); ember: its op on ``pack_int4``'s layout."""
    if _lib_is_torch(lib):
        packed = lib._convert_weight_to_int4pack_for_cpu(q.int(), 1)
        qsz = lib.stack([scales, zeros + 8 * scales], -1).transpose(0, 1).contiguous()
        return lib._weight_int4pack_mm_for_cpu(x, packed, group, qsz) + bias
    from ember.ops import _kernels_quant as kq
    packed = lib.from_numpy(kq.pack_int4(q.numpy(), group))
    return lib.ops.quantized_mm.int4_weight_only_linear(x, packed, scales, zeros, group, bias)


def _embedding_samples(dt, rng):
    idx = np.array([[0, 5, 2], [5, 7, 1]])
    return [Sample((*_int4_weights(rng, 8, 64, 32), idx, 32)),
            Sample((*_int4_weights(rng, 8, 128, 128), idx[0], 128))]


def _int4_embedding_fn(lib, q, scales, zeros, idx, group):
    if _lib_is_torch(lib):
        n, k = q.shape
        w = (q.float().reshape(n, k // group, group) * scales[..., None] + zeros[..., None])
        return lib.nn.functional.embedding(idx, w.reshape(n, k))
    from ember.ops import _kernels_quant as kq
    packed = lib.from_numpy(kq.pack_int4(q.numpy(), group))
    return lib.ops.quantized_mm.int4_weight_only_embedding(packed, scales, zeros, idx, group)


def _int8_embedding_samples(dt, rng):
    w = rng.integers(-128, 128, (10, 24)).astype(np.int8)
    scale = rng.uniform(0.001, 0.02, 10).astype(np.float32)
    return [Sample((w, scale, np.array([[1, 9, 3], [3, 0, 0]]))),
            Sample((w, scale, np.array([4], np.int32)))]


def _int8_embedding_fn(lib, w, scale, idx):
    if _lib_is_torch(lib):
        return lib.nn.functional.embedding(idx.long(), w.float() * scale[:, None])
    return lib.ops.quantized_mm.int8_weight_only_embedding(w, scale, idx)


def _dynamic(dt, rng):
    out = []
    for shape, n, bias, rr in [((1, 64), 9, True, True), ((5, 32), 70, False, False),
                               ((2, 3, 48), 17, True, True)]:
        k = shape[-1]
        out.append(Sample((make(shape, dt, rng, low=-3, high=5), make((n, k), dt, rng),
                           make((n,), dt, rng) if bias else None, rr)))
    return out


def _dynamic_fn(lib, x, w, bias, reduce_range):
    """``quantized::linear_dynamic`` on a weight quantized per tensor (symmetric int8)."""
    scale = float(w.abs().max()) / 127.5
    qw = lib.quantize_per_tensor(w, scale, 0, lib.qint8)
    if _lib_is_torch(lib):
        packed = lib.ops.quantized.linear_prepack(qw, bias)
        return lib.ops.quantized.linear_dynamic(x, packed, reduce_range)
    from ember.ao.nn.quantized._packed import PackedLinear
    return PackedLinear(qw, bias).linear_dynamic(x, reduce_range)


def _per_token(dt, rng):
    return [Sample((make(shape, dt, rng, low=-3, high=5), make((n, shape[-1]), dt, rng),
                    make((n,), dt, rng) if bias else None))
            for shape, n, bias in [((1, 64), 9, True), ((5, 32), 70, False),
                                   ((2, 3, 48), 17, True)]]


def _per_token_fn(lib, x, w, bias):
    """torchao's ``int8_dynamic_activation_int8_weight`` Linear: weights symmetric int8 per
    output channel, each input row quantized symmetrically to [-127, 127] with its own
    scale (at least 1e-5). torch's side is that arithmetic in torch ops (the integer
    products exact in float64)."""
    w_scale = (w.abs().amax(1) / 127).clamp_min(1e-5)
    wq = (w / w_scale[:, None]).round().clamp(-127, 127)
    if _lib_is_torch(lib):
        x_scale = (x.abs().amax(-1, keepdim=True) / 127).clamp_min(1e-5)
        xq = (x / x_scale).round().clamp(-127, 127)
        out = (xq.double() @ wq.double().T).float() * w_scale * x_scale
        return out if bias is None else out + bias
    from ember.ao.nn.quantized.dynamic_per_token import Int8DynActInt8WeightLinear
    layer = Int8DynActInt8WeightLinear(w.shape[1], w.shape[0], bias is not None)
    layer._set_weight(wq.numpy().astype(np.int8), w_scale.numpy())
    if bias is not None:
        layer.bias = bias
    return layer(x)


def _static_samples(dt, rng):
    """quint8 inputs (``x``, its scale and zero point), a float weight quantized per
    tensor inside ``fn``, bias, the output's scale and zero point, relu."""
    return [Sample((make((3, 32), dt, rng, low=-2, high=3), 0.02, 100, make((9, 32), dt, rng),
                    make((9,), dt, rng), 0.05, 60, False)),
            Sample((make((2, 4, 16), dt, rng), 0.03, 70, make((5, 16), dt, rng), None, 0.04,
                    128, True))]


def _static_conv_samples(dt, rng):
    return [Sample((make((2, 3, 6, 5), dt, rng), 0.02, 100, make((4, 3, 3, 3), dt, rng),
                    make((4,), dt, rng), 0.08, 60, False, 1, 1)),
            Sample((make((1, 2, 7, 7), dt, rng), 0.03, 70, make((3, 2, 2, 3), dt, rng), None,
                    0.06, 128, True, 2, 0))]


def _quantized_operands(lib, x, x_scale, x_zp, w):
    qx = lib.quantize_per_tensor(x, x_scale, x_zp, lib.quint8)
    qw = lib.quantize_per_tensor(w, float(w.abs().max()) / 127.5, 0, lib.qint8)
    return qx, qw


def _static_linear_fn(lib, x, x_scale, x_zp, w, bias, scale, zp, relu):
    """torch's ``quantized::linear``/``linear_relu`` module on a quint8 input; the
    result's integers."""
    qx, qw = _quantized_operands(lib, x, x_scale, x_zp, w)
    if _lib_is_torch(lib):
        cls = lib.ao.nn.intrinsic.quantized.LinearReLU if relu else lib.ao.nn.quantized.Linear
    else:
        from ember.ao.nn.quantized import modules
        cls = modules.LinearReLU if relu else modules.Linear
    layer = cls(w.shape[1], w.shape[0])
    layer.set_weight_bias(qw, bias)
    layer.scale, layer.zero_point = scale, zp
    return layer(qx).int_repr()


def _static_conv_fn(lib, x, x_scale, x_zp, w, bias, scale, zp, relu, stride, padding):
    qx, qw = _quantized_operands(lib, x, x_scale, x_zp, w)
    if _lib_is_torch(lib):
        cls = lib.ao.nn.intrinsic.quantized.ConvReLU2d if relu else lib.ao.nn.quantized.Conv2d
    else:
        from ember.ao.nn.quantized import modules
        cls = modules.ConvReLU2d if relu else modules.Conv2d
    layer = cls(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=stride, padding=padding,
                bias=bias is not None)
    layer.set_weight_bias(qw, bias)
    layer.scale, layer.zero_point = scale, zp
    return layer(qx).int_repr()


_NO_GRAD = {"grad": False, "gradgrad": False}
F32 = ("float32",)

OPS = [
    # quantize / dequantize / int_repr (torch quantizes float32 only: float64 is its error)
    OpInfo("quantize_per_tensor_int_repr", lambda L, *a: _quantize(L, *a).int_repr(),
           _per_tensor, **_NO_GRAD),
    OpInfo("quantize_per_tensor_dequantize", lambda L, *a: _quantize(L, *a).dequantize(),
           _per_tensor, **_NO_GRAD, atol=0, rtol=0),
    OpInfo("quantize_per_channel_int_repr",
           lambda L, *a: _quantize_channel(L, *a).int_repr(), _per_channel, **_NO_GRAD),
    OpInfo("quantize_per_channel_dequantize",
           lambda L, *a: _quantize_channel(L, *a).dequantize(), _per_channel, **_NO_GRAD,
           atol=0, rtol=0),
    # fake quantization: values exact, straight-through gradients as torch's
    OpInfo("fake_quantize_per_tensor_affine",
           lambda L, *a: L.fake_quantize_per_tensor_affine(*a), _fake_per_tensor,
           gradcheck=False, atol=0, rtol=0),
    OpInfo("fake_quantize_per_channel_affine",
           lambda L, *a: L.fake_quantize_per_channel_affine(*a), _fake_per_channel,
           gradcheck=False, skip_grad_args=(1, 2), atol=0, rtol=0),
    OpInfo("_fake_quantize_learnable_per_tensor_affine",
           lambda L, *a: L._fake_quantize_learnable_per_tensor_affine(*a),
           _learnable_per_tensor, **_NO_GRAD, atol=0, rtol=0),
    OpInfo("_fake_quantize_learnable_per_channel_affine",
           lambda L, *a: L._fake_quantize_learnable_per_channel_affine(*a),
           _learnable_per_channel, **_NO_GRAD, atol=0, rtol=0),
    OpInfo("_fake_quantize_learnable_per_tensor_affine_backward",
           lambda L, *a: _aten(L, "_fake_quantize_learnable_per_tensor_affine_backward")(*a),
           _with_grad(_learnable_per_tensor), dtypes=("float32", "float64"), **_NO_GRAD,
           atol=1e-5, rtol=1e-5),
    OpInfo("_fake_quantize_learnable_per_channel_affine_backward",
           lambda L, *a: _aten(L, "_fake_quantize_learnable_per_channel_affine_backward")(*a),
           _with_grad(_learnable_per_channel), dtypes=("float32", "float64"), **_NO_GRAD,
           atol=1e-5, rtol=1e-5),
    # weight-only int4/int8 and dynamic int8 products (float32 kernels)
    OpInfo("_weight_int8pack_mm", _int8_mm_fn, _int8_mm, dtypes=F32, **_NO_GRAD, atol=1e-5,
           rtol=1e-4),
    OpInfo("int4_weight_only_linear", _int4_mm_fn, _int4_mm, dtypes=F32, **_NO_GRAD,
           atol=1e-4, rtol=1e-4),
    OpInfo("int4_weight_only_embedding", _int4_embedding_fn, _embedding_samples, dtypes=F32,
           **_NO_GRAD),
    OpInfo("int8_weight_only_embedding", _int8_embedding_fn, _int8_embedding_samples,
           dtypes=F32, **_NO_GRAD),
    OpInfo("linear_dynamic", _dynamic_fn, _dynamic, dtypes=F32, **_NO_GRAD, atol=1e-5,
           rtol=1e-5),
    OpInfo("linear_dynamic_per_token", _per_token_fn, _per_token, dtypes=F32, **_NO_GRAD,
           atol=1e-5, rtol=1e-5),
    # static (quint8 in and out): the output integers, one step apart at most where the
    # float accumulation lands on a rounding tie
    OpInfo("quantized_linear", _static_linear_fn, _static_samples, dtypes=F32, **_NO_GRAD,
           atol=1, rtol=0),
    OpInfo("quantized_conv2d", _static_conv_fn, _static_conv_samples, dtypes=F32, **_NO_GRAD,
           atol=1, rtol=0),
]
