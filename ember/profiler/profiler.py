"""``ember.profiler.profile``: per-op timing, memory and Chrome traces, as torch.profiler.

The profiler is a dispatcher mode (``ember/_dispatch.py``): while it records, every op
call reaches its ``__ember_dispatch__``, which times the call and notes what was asked
(input shapes, Python stack, FLOPs, bytes of new outputs). Nothing is patched, and with no
profiler recording the dispatcher pays its usual single check and ``record_function`` one
global read.

Events nest: an op inside a ``record_function`` range, a backward rule's ops inside that
backward node's event. The recorder is a node observer of the autograd engine
(``_nodes.py``), so every node whose backward runs while it records gets an event, whenever
its graph was recorded; a forward op and its node share a sequence number, which links them
in the trace (torch's ``fwdbwd`` flows).
"""

from __future__ import annotations

import enum
import functools
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from .._dispatch import DispatchMode
from .._tensor import Tensor
from ..autograd.graph import AccumulateGrad, Node, _node_observers
from ._events import (
    ANNOTATION,
    BACKWARD,
    OP,
    EventList,
    FunctionEvent,
    type_name,
    write_chrome_trace,
)
from ._nodes import grad_fn_of, new_nodes

__all__ = ["profile", "record_function", "ProfilerActivity", "ProfilerAction", "schedule",
           "tensorboard_trace_handler", "supported_activities"]


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 1
    XPU = 2
    MTIA = 3
    HPU = 4
    PrivateUse1 = 5


def supported_activities() -> set[ProfilerActivity]:
    return {ProfilerActivity.CPU}


class ProfilerAction(enum.Enum):
    """What the profiler does during a step (see ``schedule``)."""
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0,
             skip_first_wait: int = 0) -> Callable[[int], ProfilerAction]:
    """Skip ``skip_first`` steps, then cycle: ``wait`` idle steps, ``warmup`` steps, ``active``
    recorded steps (the trace is handed to ``on_trace_ready`` after the last), ``repeat``
    times (0: until the profiler stops). ``skip_first_wait`` drops the first cycle's wait."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError(
            f"Invalid profiler schedule arguments. Got wait={wait} (need >= 0), warmup={warmup}"
            f" (need >= 0), active={active} (need > 0), repeat={repeat} (need >= 0), "
            f"skip_first={skip_first} (need >= 0).")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results",
                      stacklevel=2)
    cycle = wait + warmup + active

    def schedule_fn(step: int) -> ProfilerAction:
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait:
            step += wait
        if repeat > 0 and step / cycle >= repeat:
            return ProfilerAction.NONE
        pos = step % cycle
        if pos < wait:
            return ProfilerAction.NONE
        if pos < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if pos < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return schedule_fn


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None,
                              use_gzip: bool = False) -> Callable[[profile], None]:
    """An ``on_trace_ready`` that writes each cycle's trace to
    ``dir_name/<worker>.<time_ns>.pt.trace.json`` (``.gz`` with ``use_gzip``)."""
    import socket

    def handler(prof: profile) -> None:
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        name = f"{worker}.{time.time_ns()}.pt.trace.json" + (".gz" if use_gzip else "")
        prof.export_chrome_trace(os.path.join(dir_name, name))

    return handler


# ---- recording ------------------------------------------------------------------------

_RECORDER: _Recorder | None = None   # the recording in progress, if any

_INTERNAL = tuple(os.path.join(os.path.dirname(os.path.dirname(__file__)), p)
                  for p in ("_dispatch.py", "_tensor.py", "ops" + os.sep, "profiler" + os.sep))


def _user_stack() -> list[str]:
    """The Python stack of the op call, innermost first, without ember's dispatch layers."""
    frames = []
    f = sys._getframe(2)
    while f is not None:
        code = f.f_code
        if not code.co_filename.startswith(_INTERNAL):
            frames.append(f"{code.co_filename}({f.f_lineno}): {code.co_name}")
        f = f.f_back
    return frames


def _matmul_kernel(da: int, db: int) -> str:
    """The kernel torch's ``matmul`` calls for operands of ``da`` and ``db`` dims: ``dot``,
    ``mv``, ``mm`` (a batched left operand with a matrix or vector on the right is folded
    into one matrix, as ember's ``Matmul`` does), else ``bmm``."""
    if da == 1 and db == 1:
        return "dot"
    if db == 1:
        return "mv"
    return "mm" if db == 2 else "bmm"


def _linear_kernels(x: Tensor, w: Tensor, b: Tensor | None = None) -> tuple[str, ...]:
    """torch's ``linear``: one ``addmm`` with a bias, ``matmul`` (and its kernel) without."""
    return ("addmm",) if b is not None else ("matmul", _matmul_kernel(x._data.ndim, 2))


# torch's composite ops (by aten name, as the op table declares them) whose calls torch
# records with the kernels they run nested inside: ember runs the op as one kernel, and
# reports those names around it, so that code filtering a profile by ``aten::mm`` or
# ``aten::addmm`` finds the same events as with torch.
TORCH_KERNELS: dict[str, Callable[..., tuple[str, ...]]] = {
    "matmul": lambda a, b: (_matmul_kernel(a._data.ndim, b._data.ndim),),
    "linear": _linear_kernels,
    # torch's linear backward: one mm per gradient of the input and the weight
    "linear_backward": lambda g, x, w, input_grad, weight_grad, bias_grad: (
        ("mm",) * (bool(input_grad) + bool(weight_grad))),
}


def _shape_of(a) -> list:
    if isinstance(a, Tensor):
        return list(a._data.shape)
    if isinstance(a, list | tuple) and a and isinstance(a[0], Tensor):
        return [list(t._data.shape) for t in a]
    return []


def _type_of(a) -> str:
    if isinstance(a, Tensor):
        return type_name(a._data.dtype)
    if isinstance(a, list | tuple) and a and isinstance(a[0], Tensor):
        return "TensorList"
    return "Scalar" if isinstance(a, int | float | complex | bool) else ""


def _new_bytes(out, args) -> int:
    """Bytes of the results that are new memory (a view or an in-place result is none)."""
    inputs = [a._data for a in args if isinstance(a, Tensor)]
    total = 0
    for t in out if isinstance(out, tuple | list) else (out,):
        if isinstance(t, Tensor):
            arr = t._data
            if not any(np.may_share_memory(arr, x) for x in inputs):
                total += arr.nbytes
    return total


class _Recorder(DispatchMode):
    """One recording (a profile, or one active cycle of a schedule): the events and the
    stack of those still open. It is the dispatcher mode while it records."""

    def __init__(self, prof: profile):
        self.record_shapes = prof.record_shapes
        self.profile_memory = prof.profile_memory
        self.with_stack = prof.with_stack
        self.count_flops = None
        if prof.with_flops:
            from ..utils.flop_counter import count_flops
            self.count_flops = count_flops
        self.events: list[FunctionEvent] = []
        self.open: list[FunctionEvent] = []
        self.backward: list[FunctionEvent] = []   # open backward node events
        self.module_ranges: list[tuple[str, int, int]] = []
        self._module_open: list[tuple[str, int]] = []
        self._module_ids: dict[int, str] = {}
        self._module_counts: dict[str, int] = {}
        self._handles: list = []
        self.recording = False
        self._with_modules = prof.with_modules

    # -- lifetime

    def start(self) -> None:
        global _RECORDER
        if _RECORDER is not None:
            raise RuntimeError("Can't profile: another ember profiler is already recording")
        _RECORDER = self
        self.recording = True
        if self._with_modules:
            from ..nn.modules.module import (
                register_module_forward_hook,
                register_module_forward_pre_hook,
            )
            self._handles = [register_module_forward_pre_hook(self._module_enter),
                             register_module_forward_hook(self._module_leave)]
        _node_observers.append(self)
        self.__enter__()

    def stop(self) -> None:
        global _RECORDER
        self.__exit__(None, None, None)
        _node_observers.remove(self)
        for h in self._handles:
            h.remove()
        now = time.perf_counter_ns()
        while self.open:
            self.open.pop().close(now)
        self.recording = False
        _RECORDER = None

    # -- events

    def begin(self, name: str, category: str) -> FunctionEvent:
        parent = self.open[-1] if self.open else None
        ev = FunctionEvent(len(self.events) + 1, name, category, parent,
                           time.perf_counter_ns())
        if parent is not None:
            parent.cpu_children.append(ev)
        self.events.append(ev)
        self.open.append(ev)
        return ev

    def end(self, ev: FunctionEvent, end_ns: int | None = None) -> None:
        """Close ``ev`` and whatever is still open inside it (left open by an exception)."""
        if ev.end_ns is not None or not any(ev is e for e in self.open):
            return
        end_ns = time.perf_counter_ns() if end_ns is None else end_ns
        while True:
            top = self.open.pop()
            top.close(end_ns)
            if top is ev:
                return

    def __ember_dispatch__(self, op, args, kwargs):
        ev = self.begin("aten::" + op.aten, OP)
        if self.record_shapes:
            ev.input_shapes = [_shape_of(a) for a in args]
            ev.input_types = [_type_of(a) for a in args]
        if self.with_stack:
            ev.stack = _user_stack()
        kernel = ev
        kernels = TORCH_KERNELS.get(op.aten)
        if kernels is not None:
            for name in kernels(*args, **kwargs):
                kernel = self.begin("aten::" + name, OP)
                kernel.stack = ev.stack
        old = grad_fn_of(args)
        try:
            out = op.apply(*args, **kwargs)
        except BaseException:
            self.end(ev)
            raise
        end_ns = time.perf_counter_ns()
        # the kernel that ran (the innermost event) allocated the memory and did the work
        if self.profile_memory:
            kernel.self_cpu_memory_usage = _new_bytes(out, args)
        if self.count_flops is not None:
            kernel.flops = self.count_flops(op, args, kwargs, out)
        self.end(ev, end_ns)
        nodes = new_nodes(out, old)
        if nodes:
            ev.sequence_nr = nodes[-1]._seq
        return out

    # -- backward nodes (the engine calls these around each node it runs) and modules

    def enter_backward(self, node: Node) -> None:
        ev = self.begin(node.name(), BACKWARD)
        # torch gives AccumulateGrad no sequence number: it has no forward op to link to
        ev.sequence_nr = -1 if type(node) is AccumulateGrad else node._seq
        self.backward.append(ev)

    def leave_backward(self, node: Node) -> None:
        if self.backward:   # none open: the recording started inside this node's backward
            self.end(self.backward.pop())

    def _module_enter(self, module, args) -> None:
        name = self._module_ids.get(id(module))
        if name is None:
            cls = type(module).__name__
            n = self._module_counts.get(cls, 0)
            self._module_counts[cls] = n + 1
            name = self._module_ids[id(module)] = f"nn.Module: {cls}_{n}"
        self._module_open.append((name, time.perf_counter_ns()))

    def _module_leave(self, module, args, output) -> None:
        if self._module_open:
            name, start = self._module_open.pop()
            self.module_ranges.append((name, start, time.perf_counter_ns()))


class record_function:
    """Label a range of code (``with record_function("name"):`` or as a decorator); the
    range shows as an event holding the ops run inside it. Free when nothing records."""

    def __init__(self, name: str, args: str | None = None):
        self.name = name
        self.args = args
        self._event: FunctionEvent | None = None
        self._recorder: _Recorder | None = None

    def __enter__(self) -> record_function:
        rec = _RECORDER
        if rec is not None:
            self._recorder = rec
            self._event = rec.begin(self.name, ANNOTATION)
        return self

    def __exit__(self, *exc) -> None:
        ev, rec = self._event, self._recorder
        if ev is not None:
            self._event = self._recorder = None
            if rec.recording:
                rec.end(ev)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if _RECORDER is None:
                return fn(*args, **kwargs)
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)
        return wrapper


# ---- the profiler --------------------------------------------------------------------

def _always_record(step: int) -> ProfilerAction:
    return ProfilerAction.RECORD


class profile:
    """Profile the ops run inside ``with profile(...) as prof:``; ``prof.key_averages()
    .table(...)``, ``prof.events()`` and ``prof.export_chrome_trace(path)`` read the result.

    ``activities`` other than CPU are accepted and ignored (with a warning): ember runs on
    the CPU. With a ``schedule``, call ``prof.step()`` once per training step; each active
    cycle ends by calling ``on_trace_ready(prof)``. WARMUP steps record nothing: unlike
    torch's tracer, ember's needs no warming up. ``with_modules`` adds module forwards
    (``nn.Module: Linear_0``) to the Chrome trace. ``experimental_config``,
    ``execution_trace_observer``, ``acc_events`` and ``custom_trace_id_callback`` are
    accepted for torch's signature and ignored.
    """

    def __init__(self, *, activities: Iterable[ProfilerActivity] | None = None,
                 schedule: Callable[[int], ProfilerAction] | None = None,
                 on_trace_ready: Callable[[profile], None] | None = None,
                 record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_flops: bool = False,
                 with_modules: bool = False, experimental_config=None,
                 execution_trace_observer=None, acc_events: bool = False,
                 use_cuda: bool | None = None, custom_trace_id_callback=None):
        acts = set(activities) if activities is not None else {ProfilerActivity.CPU}
        if use_cuda:
            acts.add(ProfilerActivity.CUDA)
        ignored = sorted(a.name for a in acts if a is not ProfilerActivity.CPU)
        if ignored:
            warnings.warn(f"ember profiles the CPU only; ignoring activities {ignored}",
                          stacklevel=2)
        self.activities = acts
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_flops = with_flops
        self.with_modules = with_modules
        self.schedule = schedule or _always_record
        self.record_steps = schedule is not None
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self.current_action = self.schedule(0)
        self._recorder: _Recorder | None = None
        self._result: _Recorder | None = None
        self._step_range: record_function | None = None

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._transit(ProfilerAction.NONE, self.current_action)
        self._open_step()

    def stop(self) -> None:
        self._close_step()
        self._transit(self.current_action, None)

    def step(self) -> None:
        """Mark the start of the next step: advances the schedule."""
        self._close_step()
        prev = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num)
        self._transit(prev, self.current_action)
        self._open_step()

    def _open_step(self) -> None:
        if self.record_steps and self._recorder is not None:
            self._step_range = record_function(f"ProfilerStep#{self.step_num}")
            self._step_range.__enter__()

    def _close_step(self) -> None:
        if self._step_range is not None:
            self._step_range.__exit__(None, None, None)
            self._step_range = None

    def _transit(self, prev: ProfilerAction, cur: ProfilerAction | None) -> None:
        """torch's state machine: recording starts on RECORD(_AND_SAVE) and the trace is
        handed over after RECORD_AND_SAVE (or when the profiler stops while recording)."""
        A = ProfilerAction
        recording = (A.RECORD, A.RECORD_AND_SAVE)
        if prev is A.RECORD and cur in (A.NONE, A.WARMUP) or prev is A.WARMUP and cur is A.NONE:
            warnings.warn(f"Incorrect schedule: {prev.name} followed by {cur.name}",
                          stacklevel=3)
        if prev is A.RECORD_AND_SAVE or prev is A.RECORD and cur not in recording:
            self._stop_trace()
            if prev is A.RECORD_AND_SAVE or cur is None:
                self._trace_ready()
        if cur in recording and self._recorder is None:
            self._recorder = _Recorder(self)
            self._recorder.start()

    def _stop_trace(self) -> None:
        if self._recorder is not None:
            self._recorder.stop()
            self._result, self._recorder = self._recorder, None

    def _trace_ready(self) -> None:
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    # -- results (of the last finished recording)

    def _finished(self) -> _Recorder:
        if self._result is None:
            raise RuntimeError("Profiler didn't finish running")
        return self._result

    def events(self) -> EventList:
        """Every recorded event, in order of start."""
        return EventList(self._finished().events, profile_memory=self.profile_memory,
                         with_flops=self.with_flops)

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0,
                     group_by_overload_name: bool = False) -> EventList:
        """The events averaged per name (and input shapes / top stack frames)."""
        return self.events().key_averages(group_by_input_shape, group_by_stack_n,
                                          group_by_overload_name)

    def export_chrome_trace(self, path: str) -> None:
        """Write the trace as Chrome Trace Event JSON (Perfetto, chrome://tracing)."""
        rec = self._finished()
        write_chrome_trace(path, rec.events, rec.module_ranges)
