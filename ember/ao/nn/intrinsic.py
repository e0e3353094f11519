"""Fused float modules (``torch.ao.nn.intrinsic``): what ``fuse_modules`` produces, so
that ``convert`` makes one quantized module (with the ReLU folded into its output) of
a pair. ``quantized`` holds the quantized fused modules."""

from __future__ import annotations

from ... import nn
from .quantized import modules as _qmodules

__all__ = ["LinearReLU", "ConvReLU2d", "quantized"]


class _FusedModule(nn.Sequential):
    """A Sequential of the modules it fuses (torch's ``_FusedModule``)."""


class LinearReLU(_FusedModule):
    def __init__(self, linear: nn.Linear, relu: nn.ReLU):
        super().__init__(linear, relu)


class ConvReLU2d(_FusedModule):
    def __init__(self, conv: nn.Conv2d, relu: nn.ReLU):
        super().__init__(conv, relu)


class quantized:  # noqa: N801  (torch's module path ember.ao.nn.intrinsic.quantized)
    LinearReLU = _qmodules.LinearReLU
    ConvReLU2d = _qmodules.ConvReLU2d
