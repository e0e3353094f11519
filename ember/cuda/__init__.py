"""``ember.cuda``: what a CPU-only torch build's ``torch.cuda`` does.

``is_available()`` is False and ``device_count()`` 0; seeding, ``empty_cache`` and the
memory counters are harmless no-ops, so scripts that guard on ``is_available()`` run
unchanged; anything that needs a GPU raises torch's ``AssertionError``.
"""

from __future__ import annotations

from typing import NoReturn

from . import amp

__all__ = ["is_available", "device_count", "is_initialized", "init", "current_device",
           "set_device", "get_device_name", "get_device_properties", "get_device_capability",
           "synchronize", "empty_cache", "manual_seed", "manual_seed_all", "seed", "seed_all",
           "initial_seed", "get_rng_state", "set_rng_state", "is_bf16_supported",
           "memory_allocated", "max_memory_allocated", "memory_reserved",
           "max_memory_reserved", "reset_peak_memory_stats", "device", "Stream", "Event",
           "amp"]


def _not_compiled() -> NoReturn:
    raise AssertionError("ember not compiled with CUDA enabled (ember runs on the CPU only)")


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False


def init() -> None:
    _not_compiled()


def current_device() -> int:
    _not_compiled()


def set_device(device) -> None:
    _not_compiled()


def get_device_name(device=None) -> str:
    _not_compiled()


def get_device_properties(device=None):
    _not_compiled()


def get_device_capability(device=None) -> tuple[int, int]:
    _not_compiled()


def synchronize(device=None) -> None:
    _not_compiled()


def initial_seed() -> int:
    _not_compiled()


def get_rng_state(device="cuda"):
    _not_compiled()


def set_rng_state(new_state, device="cuda") -> None:
    _not_compiled()


def empty_cache() -> None:
    """No-op (there is no CUDA memory cache)."""


def manual_seed(seed: int) -> None:
    """No-op: there are no CUDA generators (torch defers it the same way)."""


def manual_seed_all(seed: int) -> None:
    """No-op: there are no CUDA generators."""


def seed() -> None:
    """No-op: there are no CUDA generators."""


def seed_all() -> None:
    """No-op: there are no CUDA generators."""


def memory_allocated(device=None) -> int:
    return 0


def max_memory_allocated(device=None) -> int:
    return 0


def memory_reserved(device=None) -> int:
    return 0


def max_memory_reserved(device=None) -> int:
    return 0


def reset_peak_memory_stats(device=None) -> None:
    _not_compiled()


class device:
    """Context manager selecting a CUDA device; entering it needs CUDA."""

    def __init__(self, device):
        self.idx = device

    def __enter__(self):
        _not_compiled()

    def __exit__(self, *exc):
        return False


class Stream:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("ember.cuda.Stream requires CUDA support")


class Event:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("ember.cuda.Event requires CUDA support")
