"""The switches the dispatcher reads on every op: grad mode, inference mode, the
dispatch-mode stack and anomaly detection.

Grad mode, inference mode and the mode stack are thread-local (``STATE``), as in torch:
every thread starts with grad enabled, inference mode off and no modes, and ``no_grad()``
(or a profiler, a FLOP counter...) in one thread never affects another -- a server can
answer requests under ``no_grad`` while a trainer thread records graphs. Anomaly detection
is process-wide (``ACTIVE``), as torch's is: a debugging switch for every thread.

Reading an attribute of a ``threading.local`` costs ~25 ns more than a slot, and every op
would pay it for the mode stack and for inference mode. So ``ACTIVE`` also counts, over all
threads, the pushed modes and entered inference modes: the hot path tests the count (one
slot load) and reads the thread's own state only when it is non-zero. A count is never
below the number of threads that have the switch on (it is raised before the switch is set
and lowered after it is cleared), so the test only ever errs toward reading ``STATE``.
"""

from __future__ import annotations

import threading

__all__ = ["STATE", "ACTIVE", "push_mode", "remove_mode", "count_inference"]


class _ThreadState(threading.local):
    """One instance, with a separate set of attributes in each thread."""

    def __init__(self):
        self.grad_enabled = True
        self.inference = False
        self.modes: list = []          # dispatcher modes, innermost last


class _Active:
    """Process-wide: anomaly detection, and the counts of modes pushed and inference modes
    entered over all threads."""

    __slots__ = ("modes", "inference", "anomaly", "anomaly_check_nan")

    def __init__(self):
        self.modes = 0
        self.inference = 0
        self.anomaly = False           # detect_anomaly: keep forward tracebacks, check NaNs
        self.anomaly_check_nan = True


STATE = _ThreadState()
ACTIVE = _Active()
_LOCK = threading.Lock()  # ``+=`` on an attribute is not atomic across threads


def push_mode(mode) -> None:
    """Make ``mode`` the innermost dispatch mode of this thread."""
    with _LOCK:
        ACTIVE.modes += 1
    STATE.modes.append(mode)


def remove_mode(mode) -> None:
    """Take ``mode`` off this thread's mode stack."""
    STATE.modes.remove(mode)
    with _LOCK:
        ACTIVE.modes -= 1


def count_inference(delta: int) -> None:
    """Add ``delta`` (+1 on entering an inference mode, -1 on leaving it) to the count."""
    with _LOCK:
        ACTIVE.inference += delta
