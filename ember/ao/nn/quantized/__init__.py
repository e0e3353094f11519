"""Quantized modules (``torch.ao.nn.quantized``); ``dynamic`` holds the dynamically
quantized ones."""

from __future__ import annotations

from . import dynamic, weight_only
from .modules import *  # noqa: F403
