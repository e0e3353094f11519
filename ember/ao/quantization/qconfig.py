"""``QConfig``: which observers (or fake-quantizers) watch a module's activations and
weights, and the default configurations torch ships (``torch.ao.quantization.qconfig``)."""

from __future__ import annotations

from typing import NamedTuple

from .observer import (
    default_dynamic_quant_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_weight_observer,
)

__all__ = ["QConfig", "QConfigDynamic", "default_qconfig", "default_dynamic_qconfig",
           "per_channel_dynamic_qconfig", "default_per_channel_qconfig"]


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
