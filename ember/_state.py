"""Process-wide switches the dispatcher reads on every op: grad mode and the mode stack.

Kept in one tiny object so the hot path pays one attribute load per switch. Unlike
torch, where grad mode is thread-local, these are per process: ember runs ops on one
thread and parallelises inside kernels.
"""

from __future__ import annotations


class _State:
    __slots__ = ("grad_enabled", "inference", "modes", "anomaly", "anomaly_check_nan")

    def __init__(self):
        self.grad_enabled = True
        self.inference = False
        self.modes: list = []          # dispatcher modes, innermost last
        self.anomaly = False           # detect_anomaly: keep forward tracebacks, check NaNs
        self.anomaly_check_nan = True


STATE = _State()
