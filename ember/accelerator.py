"""``ember.accelerator``: ember has no accelerator, so the CPU answers everything."""

from __future__ import annotations

from typing import NoReturn

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "set_device_index", "synchronize"]


def _none() -> NoReturn:
    raise RuntimeError("Cannot access accelerator device when none is available.")


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False) -> None:
    return None


def device_count() -> int:
    return 0


def current_device_index() -> int:
    _none()


def set_device_index(device) -> None:
    _none()


def synchronize(device=None) -> None:
    _none()
