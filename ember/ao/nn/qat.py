"""Quantization-aware training modules (``torch.ao.nn.qat``): float layers whose weight
passes through a fake-quantizer in every forward, so training sees the int8 rounding."""

from __future__ import annotations

from ... import nn
from ...nn import functional as F

__all__ = ["Linear", "Conv2d", "LinearReLU", "ConvReLU2d"]


class Linear(nn.Linear):
    """``nn.Linear`` with ``weight_fake_quant`` applied to the weight."""

    _relu = False

    def __init__(self, in_features: int, out_features: int, bias: bool = True, qconfig=None):
        super().__init__(in_features, out_features, bias)
        if qconfig is None:
            raise AssertionError("qconfig must be provided for QAT module")
        self.qconfig = qconfig
        self.weight_fake_quant = qconfig.weight()

    def forward(self, x):
        y = F.linear(x, self.weight_fake_quant(self.weight), self.bias)
        return F.relu(y) if self._relu else y

    @classmethod
    def from_float(cls, mod: nn.Module, use_precomputed_fake_quant: bool = False):
        linear = mod[0] if isinstance(mod, nn.Sequential) else mod  # a fused LinearReLU
        qat = cls(linear.in_features, linear.out_features, linear.bias is not None,
                  qconfig=mod.qconfig)
        qat.weight, qat.bias = linear.weight, linear.bias
        return qat


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` with ``weight_fake_quant`` applied to the weight."""

    _relu = False

    def __init__(self, *args, qconfig=None, **kwargs):
        super().__init__(*args, **kwargs)
        if qconfig is None:
            raise AssertionError("qconfig must be provided for QAT module")
        self.qconfig = qconfig
        self.weight_fake_quant = qconfig.weight()

    def forward(self, x):
        y = F.conv2d(x, self.weight_fake_quant(self.weight), self.bias, self.stride,
                     self.padding, self.dilation, self.groups)
        return F.relu(y) if self._relu else y

    @classmethod
    def from_float(cls, mod: nn.Module, use_precomputed_fake_quant: bool = False):
        conv = mod[0] if isinstance(mod, nn.Sequential) else mod  # a fused ConvReLU2d
        qat = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                  padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                  bias=conv.bias is not None, qconfig=mod.qconfig)
        qat.weight, qat.bias = conv.weight, conv.bias
        return qat


class LinearReLU(Linear):
    _relu = True


class ConvReLU2d(Conv2d):
    _relu = True
