"""Architecture optimisation (``torch.ao``): quantization (``ember.ao.quantization``),
quantized modules (``ember.ao.nn``)."""

from __future__ import annotations

from . import nn, quantization
