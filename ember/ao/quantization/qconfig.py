"""``QConfig``: which observers (or fake-quantizers) watch a module's activations and
weights, and the default configurations torch ships (``torch.ao.quantization.qconfig``)."""

from __future__ import annotations

from typing import NamedTuple

from .fake_quantize import (
    FakeQuantize,
    default_fake_quant,
    default_per_channel_weight_fake_quant,
    default_weight_fake_quant,
)
from .observer import (
    HistogramObserver,
    MovingAverageMinMaxObserver,
    default_dynamic_quant_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_weight_observer,
)

__all__ = ["QConfig", "QConfigDynamic", "default_qconfig", "default_dynamic_qconfig",
           "per_channel_dynamic_qconfig", "default_per_channel_qconfig", "default_qat_qconfig",
           "get_default_qconfig", "get_default_qat_qconfig"]


class QConfig(NamedTuple):
    """Factories (``Observer.with_args(...)``) for the activation and the weight."""

    activation: object
    weight: object


QConfigDynamic = QConfig  # torch's deprecated alias

default_qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
default_per_channel_qconfig = QConfig(activation=default_observer,
                                      weight=default_per_channel_weight_observer)
default_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                  weight=default_weight_observer)
per_channel_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                      weight=default_per_channel_weight_observer)
default_qat_qconfig = QConfig(activation=default_fake_quant, weight=default_weight_fake_quant)


def get_default_qconfig(backend: str = "x86", version: int = 0) -> QConfig:
    """Per-channel int8 weights; activations observed by a ``HistogramObserver`` (7-bit on
    x86/fbgemm), as torch's."""
    if backend not in ("x86", "fbgemm", "qnnpack", "onednn"):
        raise AssertionError(f"backend: {backend} not supported.")
    return QConfig(activation=HistogramObserver.with_args(
        reduce_range=backend in ("x86", "fbgemm")),
                   weight=default_per_channel_weight_observer)


def get_default_qat_qconfig(backend: str = "x86", version: int = 1) -> QConfig:
    """Fake-quantized 7-bit activations (moving-average ranges) and per-channel weights."""
    if backend not in ("x86", "fbgemm", "qnnpack", "onednn"):
        raise AssertionError(f"backend: {backend} not supported.")
    return QConfig(activation=FakeQuantize.with_args(
        observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255,
        reduce_range=backend != "qnnpack"), weight=default_per_channel_weight_fake_quant)
