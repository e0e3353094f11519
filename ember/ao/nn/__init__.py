"""Quantized module namespaces (``torch.ao.nn``)."""

from __future__ import annotations

from . import intrinsic, qat, quantized
