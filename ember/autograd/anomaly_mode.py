"""Anomaly detection: remember where each op was called, and fail on NaN gradients.

Process-wide, as in torch (grad mode is per thread). Under ``detect_anomaly()`` every
recorded node keeps the Python stack of its forward
call; when a backward rule returns NaN the engine raises, naming the node, and warns
with that forward traceback, so the error points at the user's line that made the NaN.
"""

from __future__ import annotations

import warnings

from .._state import ACTIVE

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled"]


def is_anomaly_enabled() -> bool:
    return ACTIVE.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    return ACTIVE.anomaly_check_nan


class detect_anomaly:
    """Context manager (and decorator) that enables anomaly detection."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        self._prev = []
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        self._prev.append((ACTIVE.anomaly, ACTIVE.anomaly_check_nan))
        ACTIVE.anomaly, ACTIVE.anomaly_check_nan = True, self.check_nan
        return None

    def __exit__(self, *exc):
        ACTIVE.anomaly, ACTIVE.anomaly_check_nan = self._prev.pop()
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:  # reentrant: the modes to restore are a stack
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly(detect_anomaly):
    """Turn anomaly detection on or off; also usable as a context manager."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = [(ACTIVE.anomaly, ACTIVE.anomaly_check_nan)]
        self.mode, self.check_nan = mode, check_nan
        ACTIVE.anomaly, ACTIVE.anomaly_check_nan = mode, check_nan

    def __enter__(self):
        return None
