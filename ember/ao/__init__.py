"""Architecture optimisation (``torch.ao``): quantization (``ember.ao.quantization``),
quantized modules (``ember.ao.nn``)."""

from __future__ import annotations

from . import nn, quantization
from .quantization.quant_api import (int4_weight_only,  # noqa: F401
                                     int8_dynamic_activation_int8_weight, int8_weight_only,
                                     quantize_)
