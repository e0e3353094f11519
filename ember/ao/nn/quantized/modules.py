"""Statically quantized modules (``torch.ao.nn.quantized``): they take and return quint8
quantized tensors whose output scale and zero point were calibrated by an observer.

Linear and Conv2d multiply uint8 activations by int8 weights with int32 sums in the
int8 kernel (a convolution as an im2col of the integer input, padded with the input's
zero point, so padding stays a real 0), then requantize the float result with the
module's own ``scale``/``zero_point``: one op each (``quantized_linear``,
``quantized_conv2d`` in ``ember/ops/quantized_mm.py``), so the compiler captures them.
``QFunctional`` gives quantized ``add``/``cat``/``mul`` (dequantise, compute, requantize,
all ops), ``FloatFunctional`` is its float twin that observers watch during calibration.
"""

from __future__ import annotations

import numpy as np

from .... import nn
from ...._tensor import Tensor, _make
from ....ops import quantized_mm as qmm
from ....ops.quantized import (
    QuantizedTensor,
    per_tensor_affine,
    qint8,
    quantize_per_tensor,
    quint8,
)
from ._packed import PackedLinear
from .dynamic import LinearPackedParams, quantize_weight

__all__ = ["Quantize", "DeQuantize", "Linear", "Conv2d", "ReLU", "LinearReLU",
           "ConvReLU2d", "FloatFunctional", "QFunctional"]


def _requantize(values: Tensor, scale: float, zero_point: int,
                relu: bool = False) -> QuantizedTensor:
    """float ``values`` quantized to quint8 (ops: the compiler sees them)."""
    q = quantize_per_tensor(values, scale, zero_point, quint8)
    return q.relu() if relu else q


def _quantized_output(ints: Tensor, scale: float, zero_point: int) -> QuantizedTensor:
    """The quint8 tensor of a layer's output integers (an op's result)."""
    return QuantizedTensor._wrap(ints, quint8, per_tensor_affine, np.float64(scale),
                                 np.int64(zero_point))


def _check_input(x, what: str) -> QuantizedTensor:
    if not isinstance(x, QuantizedTensor) or x.dtype is not quint8 or x._axis is not None:
        raise RuntimeError(f"{what}: expected a quint8 per-tensor quantized input (insert a "
                           f"QuantStub before it), got {getattr(x, 'dtype', type(x))}")
    return x


def _qparams(observer) -> tuple[float, int]:
    scale, zero_point = observer.calculate_qparams()
    return float(scale._data.reshape(-1)[0]), int(zero_point._data.reshape(-1)[0])


def _weight_observer(mod: nn.Module, inner: nn.Module):
    """An observer that has seen ``inner``'s weight: the QAT module's fake-quantizer, or a
    fresh one from ``mod``'s qconfig (``mod`` is ``inner`` or the fused pair around it)."""
    observer = getattr(inner, "weight_fake_quant", None)
    if observer is None:
        observer = mod.qconfig.weight()
        observer(inner.weight)
    return observer


class _WithOutputQParams(nn.Module):
    """Modules that requantize their output with their own scale and zero point."""

    _relu = False
    _qparams_shape: tuple = ()  # of the state dict's scale/zero_point (torch's layout)

    def _init_qparams(self) -> None:
        self.scale, self.zero_point = 1.0, 0

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        shape = self._qparams_shape
        destination[prefix + "scale"] = _make(np.full(shape, self.scale, np.float32))
        destination[prefix + "zero_point"] = _make(np.full(shape, self.zero_point, np.int64))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        own = (prefix + "scale", prefix + "zero_point")
        if own[0] in state_dict:
            self.scale = float(state_dict[own[0]].item())
            self.zero_point = int(state_dict[own[1]].item())
        super()._load_from_state_dict({k: v for k, v in state_dict.items() if k not in own},
                                      prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


class Quantize(_WithOutputQParams):
    """``QuantStub`` after ``convert``: float in, quantized out (fixed scale/zero point,
    in the state dict as torch's one-element buffers)."""

    _qparams_shape = (1,)

    def __init__(self, scale: float, zero_point: int, dtype=quint8):
        super().__init__()
        self.scale, self.zero_point, self.dtype = float(scale), int(zero_point), dtype

    def forward(self, x: Tensor) -> QuantizedTensor:
        return quantize_per_tensor(x, self.scale, self.zero_point, self.dtype)

    @classmethod
    def from_float(cls, mod: nn.Module) -> Quantize:
        scale, zero_point = _qparams(mod.activation_post_process)
        return cls(scale, zero_point, mod.activation_post_process.dtype)

    def extra_repr(self) -> str:
        return f"scale=tensor([{self.scale:.4f}]), zero_point=tensor([{self.zero_point}]), " \
               f"dtype={self.dtype}"

    def _get_name(self) -> str:
        return "Quantize"


class DeQuantize(nn.Module):
    """``DeQuantStub`` after ``convert``: quantized in, float out."""

    def forward(self, x):
        return x.dequantize()

    @classmethod
    def from_float(cls, mod: nn.Module) -> DeQuantize:
        return cls()


class Linear(_WithOutputQParams):
    """``torch.ao.nn.quantized.Linear``: quint8 in, int8 weight, quint8 out."""

    _version = 3  # torch's: its loader reads the state dict's version metadata

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype=qint8):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._packed_params = LinearPackedParams(dtype)
        weight = quantize_per_tensor(_make(np.zeros((out_features, in_features), np.float32)),
                                     1.0, 0, qint8)
        self._packed_params.set_weight_bias(
            weight, _make(np.zeros(out_features, np.float32)) if bias_ else None)
        self._init_qparams()

    def forward(self, x: QuantizedTensor) -> QuantizedTensor:
        x = _check_input(x, type(self).__name__)
        ints = qmm.QuantizedLinear.apply(
            x._int_tensor(), float(x._scale), int(x._zero_point),
            *self._packed_params.packed._operands, self.scale, self.zero_point, self._relu)
        return _quantized_output(ints, self.scale, self.zero_point)

    def weight(self) -> QuantizedTensor:
        return self._packed_params.packed.weight

    def set_weight_bias(self, w: QuantizedTensor, b: Tensor | None) -> None:
        self._packed_params.set_weight_bias(w, b)

    def bias(self) -> Tensor | None:
        return self._packed_params.packed.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"scale={self.scale}, zero_point={self.zero_point}, "
                f"qscheme={self.weight().qscheme()}")

    def __repr__(self) -> str:
        return f"{self._get_name()}({self.extra_repr()})"

    def _get_name(self) -> str:
        return "QuantizedLinearReLU" if self._relu else "QuantizedLinear"

    @classmethod
    def from_float(cls, mod: nn.Module, use_precomputed_fake_quant: bool = False) -> Linear:
        linear = mod[0] if isinstance(mod, nn.Sequential) else mod  # a fused LinearReLU
        weight_post = _weight_observer(mod, linear)
        q = cls(linear.in_features, linear.out_features, linear.bias is not None)
        q._packed_params.set_weight_bias(
            quantize_weight(linear.weight, weight_post),
            None if linear.bias is None else linear.bias.detach())
        q.scale, q.zero_point = _qparams(mod.activation_post_process)
        return q


class Conv2d(_WithOutputQParams):
    """``torch.ao.nn.quantized.Conv2d`` (groups=1): im2col of the uint8 input, int8 GEMM,
    requantized output. Its state dict holds ``weight`` (quantized) and ``bias`` as
    torch's does."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros"):
        super().__init__()
        pair = lambda v: tuple(v) if isinstance(v, tuple | list) else (v, v)  # noqa: E731
        if groups != 1 or padding_mode != "zeros" or isinstance(padding, str):
            raise NotImplementedError("quantized Conv2d: groups=1, numeric zero padding only")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = pair(kernel_size), pair(stride)
        self.padding, self.dilation, self.groups = pair(padding), pair(dilation), groups
        kh, kw = self.kernel_size
        weight = quantize_per_tensor(
            _make(np.zeros((out_channels, in_channels, kh, kw), np.float32)), 1.0, 0, qint8)
        self.set_weight_bias(weight, _make(np.zeros(out_channels, np.float32)) if bias else None)
        self._init_qparams()

    def set_weight_bias(self, weight: QuantizedTensor, bias: Tensor | None) -> None:
        self._packed = PackedLinear(weight, bias)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        destination[prefix + "weight"], destination[prefix + "bias"] = self.weight(), self.bias()
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        own = (prefix + "weight", prefix + "bias")
        if own[0] in state_dict:
            self.set_weight_bias(state_dict[own[0]], state_dict.get(own[1]))
        elif strict:
            missing_keys.append(own[0])
        super()._load_from_state_dict({k: v for k, v in state_dict.items() if k not in own},
                                      prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x: QuantizedTensor) -> QuantizedTensor:
        x = _check_input(x, type(self).__name__)
        ints = qmm.QuantizedConv2d.apply(
            x._int_tensor(), float(x._scale), int(x._zero_point), *self._packed._operands,
            self.kernel_size, self.stride, self.padding, self.dilation, self.scale,
            self.zero_point, self._relu)
        return _quantized_output(ints, self.scale, self.zero_point)

    def weight(self) -> QuantizedTensor:
        return self._packed.weight

    def bias(self) -> Tensor | None:
        return self._packed.bias

    def _get_name(self) -> str:
        return "QuantizedConvReLU2d" if self._relu else "QuantizedConv2d"

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, scale={self.scale}, zero_point={self.zero_point}, "
                f"padding={self.padding}")

    def __repr__(self) -> str:
        return f"{self._get_name()}({self.extra_repr()})"

    @classmethod
    def from_float(cls, mod: nn.Module, use_precomputed_fake_quant: bool = False) -> Conv2d:
        conv = mod[0] if isinstance(mod, nn.Sequential) else mod  # a fused ConvReLU2d
        weight_post = _weight_observer(mod, conv)
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                conv.padding, conv.dilation, conv.groups, conv.bias is not None,
                conv.padding_mode)
        q.set_weight_bias(quantize_weight(conv.weight, weight_post),
                          None if conv.bias is None else conv.bias.detach())
        q.scale, q.zero_point = _qparams(mod.activation_post_process)
        return q


class LinearReLU(Linear):
    """``torch.ao.nn.intrinsic.quantized.LinearReLU``: Linear with ReLU on its output."""

    _relu = True


class ConvReLU2d(Conv2d):
    """``torch.ao.nn.intrinsic.quantized.ConvReLU2d``."""

    _relu = True


class ReLU(nn.Module):
    """Quantized ReLU: ``max(q, zero_point)``, the input's scale and zero point."""

    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, x: QuantizedTensor) -> QuantizedTensor:
        return x.relu()

    @classmethod
    def from_float(cls, mod: nn.Module) -> ReLU:
        return cls()

    def _get_name(self) -> str:
        return "QuantizedReLU"


class FloatFunctional(nn.Module):
    """Float ``add``/``cat``/``mul`` as a module, so an observer can watch their output
    (``torch.ao.nn.quantized.FloatFunctional``)."""

    def __init__(self):
        super().__init__()
        self.activation_post_process = nn.Identity()

    def forward(self, x):
        raise RuntimeError("FloatFunctional is not intended to use the 'forward'. Please use "
                           "the underlying operation")

    def add(self, x: Tensor, y: Tensor) -> Tensor:
        return self.activation_post_process(x + y)

    def add_scalar(self, x: Tensor, y: float) -> Tensor:
        return x + y

    def mul(self, x: Tensor, y: Tensor) -> Tensor:
        return self.activation_post_process(x * y)

    def mul_scalar(self, x: Tensor, y: float) -> Tensor:
        return x * y

    def cat(self, x: list, dim: int = 0) -> Tensor:
        import ember
        return self.activation_post_process(ember.cat(x, dim=dim))

    def add_relu(self, x: Tensor, y: Tensor) -> Tensor:
        return self.activation_post_process((x + y).relu())


class QFunctional(_WithOutputQParams):
    """The quantized ``FloatFunctional``: the float result requantized with this module's
    scale and zero point (calibrated on the float twin)."""

    def __init__(self):
        super().__init__()
        self._init_qparams()

    def _out(self, values: Tensor, relu: bool = False) -> QuantizedTensor:
        return _requantize(values, self.scale, self.zero_point, relu)

    def add(self, x: QuantizedTensor, y: QuantizedTensor) -> QuantizedTensor:
        return self._out(x.dequantize() + y.dequantize())

    def add_relu(self, x: QuantizedTensor, y: QuantizedTensor) -> QuantizedTensor:
        return self._out(x.dequantize() + y.dequantize(), relu=True)

    def mul(self, x: QuantizedTensor, y: QuantizedTensor) -> QuantizedTensor:
        return self._out(x.dequantize() * y.dequantize())

    def cat(self, x: list, dim: int = 0) -> QuantizedTensor:
        import ember
        return self._out(ember.cat([t.dequantize() for t in x], dim=dim))

    def add_scalar(self, x: QuantizedTensor, y: float) -> QuantizedTensor:
        return _requantize(x.dequantize() + float(y), float(x._scale), int(x._zero_point))

    def mul_scalar(self, x: QuantizedTensor, y: float) -> QuantizedTensor:
        return _requantize(x.dequantize() * float(y), float(x._scale), int(x._zero_point))

    def _get_name(self) -> str:
        return "QFunctional"

    def extra_repr(self) -> str:
        return f"scale={self.scale}, zero_point={self.zero_point}"

    @classmethod
    def from_float(cls, mod: FloatFunctional) -> QFunctional:
        q = cls()
        q.scale, q.zero_point = _qparams(mod.activation_post_process)
        return q
