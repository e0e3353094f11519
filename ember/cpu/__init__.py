"""``ember.cpu``: the CPU device module, as ``torch.cpu``."""

from __future__ import annotations

from . import amp

__all__ = ["is_available", "device_count", "current_device", "synchronize", "amp"]


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def synchronize(device=None) -> None:
    """No-op: CPU ops are synchronous."""
