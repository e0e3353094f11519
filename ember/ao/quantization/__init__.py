"""Eager-mode quantization (``torch.ao.quantization``): observers, qconfigs, and the
dynamic, static and quantization-aware workflows."""

from __future__ import annotations

from ...ops.quantized import dequantize, quantize_per_channel, quantize_per_tensor
from .fake_quantize import *  # noqa: F403
from .fuse import *  # noqa: F403
from .observer import *  # noqa: F403
from .qconfig import *  # noqa: F403
from .quant_api import *  # noqa: F403
from .quantize import *  # noqa: F403
from .stubs import *  # noqa: F403
