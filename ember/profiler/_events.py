"""Profiler results: events, their per-name averages, torch's table and the Chrome trace.

Mirrors ``torch.autograd.profiler_util``: ``FunctionEvent`` (one op call, backward node or
``record_function`` range), ``FunctionEventAvg`` (the events of one key added up) and
``EventList`` (a list of either, with ``table``, ``key_averages`` and
``export_chrome_trace``). Times are in microseconds, memory in bytes, as in torch.
"""

from __future__ import annotations

import gzip
import json
import os
import threading

__all__ = ["FunctionEvent", "FunctionEventAvg", "EventList", "Interval"]

# Trace categories: what an event is.
OP, ANNOTATION, BACKWARD = "cpu_op", "user_annotation", "backward"


def _format_time(time_us: float) -> str:
    if time_us >= 1e6:
        return f"{time_us / 1e6:.3f}s"
    if time_us >= 1e3:
        return f"{time_us / 1e3:.3f}ms"
    return f"{time_us:.3f}us"


def _format_share(time_us: float, total_us: float) -> str:
    return "NaN" if total_us == 0 else f"{time_us * 100.0 / total_us:.2f}%"


def _format_memory(nbytes: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(nbytes) >= size:
            return f"{nbytes / size:.2f} {unit}"
    return f"{nbytes} B"


class Interval:
    """An event's start and end, in microseconds."""

    __slots__ = ("start", "end")

    def __init__(self, start: float, end: float):
        self.start, self.end = start, end

    def elapsed_us(self) -> float:
        return self.end - self.start


class _Formatted:
    """The ``*_str`` views of the times, as torch's ``FormattedTimesMixin``."""

    device_time_total = self_device_time_total = 0.0  # CPU only
    cuda_time_total = self_cuda_time_total = 0.0

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def cpu_time_str(self) -> str:
        return _format_time(self.cpu_time)

    @property
    def cpu_time_total_str(self) -> str:
        return _format_time(self.cpu_time_total)

    @property
    def self_cpu_time_total_str(self) -> str:
        return _format_time(self.self_cpu_time_total)


class FunctionEvent(_Formatted):
    """One recorded call: an op (``aten::<op.aten>``), a backward node (its ``grad_fn``
    name) or a ``record_function`` range. ``cpu_children`` are the events that ran inside
    it; self time and memory leave them out, total time and memory include them."""

    count = 1
    is_async = False
    device_type = "cpu"

    def __init__(self, id: int, name: str, category: str, parent: FunctionEvent | None,
                 start_ns: int):
        self.id = id
        self.trace_name = name
        # Steps share one table row, as torch's "ProfilerStep*"; the trace keeps the number.
        self.name = "ProfilerStep*" if name.startswith("ProfilerStep#") else name
        self.category = category
        self.cpu_parent = parent
        self.cpu_children: list[FunctionEvent] = []
        self.start_ns = start_ns
        self.end_ns: int | None = None
        self.thread = threading.get_ident()
        self.input_shapes: list = []
        self.input_types: list = []
        self.stack: list[str] = []
        self.sequence_nr = -1       # the graph node this op recorded / this backward ran
        self.flops = 0
        self.self_cpu_memory_usage = 0
        self._child_ns = 0
        self._child_mem = 0

    def close(self, end_ns: int) -> None:
        """End the event and hand its time and memory to the parent's children totals."""
        self.end_ns = end_ns
        parent = self.cpu_parent
        if parent is not None:
            parent._child_ns += end_ns - self.start_ns
            parent._child_mem += self.cpu_memory_usage

    @property
    def key(self) -> str:
        return self.name

    @property
    def is_user_annotation(self) -> bool:
        return self.category == ANNOTATION

    @property
    def time_range(self) -> Interval:
        return Interval(self.start_ns / 1e3, self.end_ns / 1e3)

    @property
    def cpu_time_total(self) -> float:
        return (self.end_ns - self.start_ns) / 1e3

    @property
    def self_cpu_time_total(self) -> float:
        return (self.end_ns - self.start_ns - self._child_ns) / 1e3

    @property
    def cpu_memory_usage(self) -> int:
        return self.self_cpu_memory_usage + self._child_mem

    def __repr__(self) -> str:
        return (f"<FunctionEvent id={self.id} name={self.name} cpu_time={self.cpu_time_str} "
                f"start_us={self.start_ns / 1e3:.3f} end_us={self.end_ns / 1e3:.3f} "
                f"cpu_children={[c.id for c in self.cpu_children]} "
                f"input_shapes={self.input_shapes} cpu_memory_usage={self.cpu_memory_usage} "
                f"seq_nr={self.sequence_nr}>")


class FunctionEventAvg(_Formatted):
    """The events sharing a key (name, and input shapes / stack when grouped), summed."""

    is_async = False
    device_type = "cpu"

    def __init__(self, key: str | None = None):
        self.key = key
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.flops = 0
        self.input_shapes: list | str = ""
        self.stack: list[str] = []
        self.is_user_annotation = False
        self.cpu_parent = None

    def add(self, other: FunctionEvent | FunctionEventAvg) -> FunctionEventAvg:
        if self.key is None:
            self.key = other.key
            self.is_user_annotation = other.is_user_annotation
        self.count += other.count
        self.cpu_time_total += other.cpu_time_total
        self.self_cpu_time_total += other.self_cpu_time_total
        self.cpu_memory_usage += other.cpu_memory_usage
        self.self_cpu_memory_usage += other.self_cpu_memory_usage
        self.flops += other.flops
        return self

    def __iadd__(self, other):
        return self.add(other)

    def __repr__(self) -> str:
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={self.self_cpu_time_total_str}"
                f" cpu_time={self.cpu_time_str} input_shapes={self.input_shapes} "
                f"cpu_memory_usage={self.cpu_memory_usage}>")


class EventList(list):
    """A list of events (or of their averages) that prints as torch's table."""

    def __init__(self, *args, use_device: str | None = None, profile_memory: bool = False,
                 with_flops: bool = False):
        super().__init__(*args)
        self._use_device = use_device
        self._profile_memory = profile_memory
        self._with_flops = with_flops

    @property
    def self_cpu_time_total(self) -> float:
        return sum(e.self_cpu_time_total for e in self)

    def _like(self, events) -> EventList:
        return EventList(events, use_device=self._use_device,
                         profile_memory=self._profile_memory, with_flops=self._with_flops)

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0,
                     group_by_overload_name: bool = False) -> EventList:
        """One ``FunctionEventAvg`` per name (and input shapes, and the first
        ``group_by_stack_n`` stack frames), in order of first appearance."""
        groups: dict[tuple, FunctionEventAvg] = {}
        for evt in self:
            key = (evt.key,
                   str(evt.input_shapes) if group_by_input_shape else None,
                   tuple(evt.stack[:group_by_stack_n]) if group_by_stack_n > 0 else None)
            avg = groups.get(key)
            if avg is None:
                avg = groups[key] = FunctionEventAvg()
                if group_by_input_shape:
                    avg.input_shapes = evt.input_shapes
                if group_by_stack_n > 0:
                    avg.stack = list(evt.stack[:group_by_stack_n])
            avg.add(evt)
        return self._like(groups.values())

    def total_average(self) -> FunctionEventAvg:
        total = FunctionEventAvg("Total")
        for evt in self:
            total.add(evt)
        total.key = "Total"
        return total

    def table(self, sort_by: str | None = None, row_limit: int = 100,
              max_src_column_width: int = 75, max_name_column_width: int = 55,
              max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False, time_unit: str | None = None) -> str:
        """torch's profiler table: one row per event, sorted by ``sort_by`` (an attribute:
        ``self_cpu_time_total``, ``cpu_time_total``, ``cpu_memory_usage``, ``count``...)."""
        return _build_table(self, sort_by, row_limit, max_src_column_width,
                            max_name_column_width, max_shapes_column_width, header,
                            top_level_events_only, time_unit)

    def __str__(self) -> str:
        return self.table()

    def export_chrome_trace(self, path: str) -> None:
        """Write the events as Trace Event JSON (open with Perfetto or chrome://tracing)."""
        write_chrome_trace(path, [e for e in self if isinstance(e, FunctionEvent)], [])


# ---- the table ------------------------------------------------------------------------

def _time_str(time_us: float, unit: str | None) -> str:
    scale = {"s": 1e6, "ms": 1e3, "us": 1.0}.get(unit)
    return _format_time(time_us) if scale is None else f"{time_us / scale:.3f}{unit}"


def _flops_scale(smallest: int) -> tuple[float, str]:
    import math
    names = ["FLOPs", "KFLOPs", "MFLOPs", "GFLOPs", "TFLOPs", "PFLOPs"]
    level = int(max(0, min(math.log10(smallest) / 3, len(names) - 1)))
    return 10.0 ** (-3 * level), names[level]


def _build_table(events: EventList, sort_by, row_limit, max_src_width, max_name_width,
                 max_shapes_width, header, top_level_only, time_unit) -> str:
    """torch's layout: right-aligned columns of width 12 separated by two spaces, the name
    column as wide as the longest name + 4 (at most 55), dashed rules, a footer."""
    if not events:
        return ""
    profile_memory, with_flops = events._profile_memory, events._with_flops
    if sort_by is not None:
        attr = sort_by.replace("cuda", "device").replace("xpu", "device")
        events = events._like(sorted(events, key=lambda e: getattr(e, attr), reverse=True))
    has_shapes = any(e.input_shapes for e in events)
    stacks = [e.stack for e in events if e.stack]
    name_width = min(max(len(e.key) for e in events) + 4, max_name_width)

    headers = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
    if profile_memory:
        headers += ["CPU Mem", "Self CPU Mem"]
    headers.append("# of Calls")
    widths = [name_width] + [12] * (len(headers) - 1)
    aligns = [">"] * len(headers)
    if has_shapes:
        headers.append("Input Shapes")
        widths.append(min(max(len(str(e.input_shapes)) for e in events) + 4, max_shapes_width))
        aligns.append(">")
    src_width = 0
    if stacks:
        src_width = min(max(len(f) for s in stacks for f in s) + 4, max_src_width)
        headers.append("Source Location")
        widths.append(src_width)
        aligns.append("<")
    raw_flops = [e.flops for e in events if e.flops > 0]
    if with_flops and raw_flops:
        scale, unit = _flops_scale(min(raw_flops))
        headers.append(f"Total {unit}")
        widths.append(12)
        aligns.append(">")
    else:
        with_flops = False

    row = "".join("{:" + a + str(w) + "}  " for a, w in zip(aligns, widths))
    rule = "".join("-" * w + "  " for w in widths)
    total = sum(e.self_cpu_time_total for e in events)
    lines = []
    if header is not None:
        lines += ["=" * (len(rule) - 2), header]
    if top_level_only:
        lines += ["=" * (len(rule) - 2), "This report only display top-level ops statistics"]
    lines += [rule, row.format(*headers), rule]

    shown = 0
    for e in events:
        if shown == row_limit:
            break
        if top_level_only and e.cpu_parent is not None:
            continue
        shown += 1
        name = e.key if len(e.key) < max_name_width - 3 else e.key[:max_name_width - 3] + "..."
        values = [name, _format_share(e.self_cpu_time_total, total),
                  _time_str(e.self_cpu_time_total, time_unit),
                  _format_share(e.cpu_time_total, total),
                  _time_str(e.cpu_time_total, time_unit), _time_str(e.cpu_time, time_unit)]
        if profile_memory:
            values += [_format_memory(e.cpu_memory_usage),
                       _format_memory(e.self_cpu_memory_usage)]
        values.append(e.count)
        if has_shapes:
            values.append(str(e.input_shapes)[:widths[len(values)]])
        if stacks:
            values.append(_trim_path(e.stack[0], src_width) if e.stack else "")
        if with_flops:
            values.append("--" if e.flops <= 0 else f"{e.flops * scale:8.3f}")
        lines.append(row.format(*values))
        if stacks:
            blank = [""] * (len(headers) - 1 - with_flops)
            for frame in e.stack[1:]:
                lines.append(row.format(*blank, _trim_path(frame, src_width),
                                        *([""] * with_flops)))
            lines.append(row.format(*([""] * len(headers))))
    lines += [rule, f"Self CPU time total: {_time_str(total, time_unit)}"]
    return "\n".join(lines) + "\n"


def _trim_path(path: str, width: int) -> str:
    if len(path) > width:
        path = path[len(path) - width:]
        if len(path) > 3:
            path = "..." + path[3:]
    return path


# ---- the Chrome trace ------------------------------------------------------------------

_TYPE_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int",
               "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
               "bool": "bool", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
               "complex64": "c10::complex<float>", "complex128": "c10::complex<double>"}


def type_name(dtype) -> str:
    """The C++ scalar type name torch's trace gives an input of this NumPy dtype."""
    return _TYPE_NAMES.get(str(dtype), str(dtype))


def write_chrome_trace(path: str, events: list[FunctionEvent], module_ranges: list) -> None:
    """Trace Event JSON: an ``X`` (complete) event per op/range/backward node, ``X`` events
    for module forwards (``python_function``), and a ``fwdbwd`` flow (``s`` at the forward
    op, ``f`` at the backward node it recorded) as torch draws them. A ``.gz`` path is
    gzipped."""
    pid, tid = os.getpid(), threading.get_ident() % (1 << 31)
    out = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "python"}},
           {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
            "args": {"name": f"thread {tid} (python)"}}]
    backward_of: dict[int, FunctionEvent] = {}
    for e in events:
        if e.category == BACKWARD and e.sequence_nr >= 0:
            backward_of.setdefault(e.sequence_nr, e)
    for e in events:
        args: dict = {"External id": e.id}
        if e.sequence_nr >= 0:
            args["Sequence number"] = e.sequence_nr
        if e.input_shapes:
            args["Input Dims"] = e.input_shapes
            args["Input type"] = e.input_types
        if e.stack:
            args["Call stack"] = ";".join(e.stack)
        if e.flops:
            args["flops"] = e.flops
        out.append({"ph": "X", "cat": OP if e.category == BACKWARD else e.category,
                    "name": e.trace_name, "pid": pid, "tid": tid, "ts": e.start_ns / 1e3,
                    "dur": (e.end_ns - e.start_ns) / 1e3, "args": args})
        bwd = backward_of.get(e.sequence_nr) if e.category == OP else None
        if bwd is not None:
            flow = {"id": e.sequence_nr, "pid": pid, "tid": tid, "cat": "fwdbwd",
                    "name": "fwdbwd"}
            out.append({"ph": "s", "ts": e.start_ns / 1e3, **flow})
            out.append({"ph": "f", "ts": bwd.start_ns / 1e3, "bp": "e", **flow})
    for name, start_ns, end_ns in module_ranges:
        out.append({"ph": "X", "cat": "python_function", "name": name, "pid": pid, "tid": tid,
                    "ts": start_ns / 1e3, "dur": (end_ns - start_ns) / 1e3, "args": {}})
    trace = {"schemaVersion": 1, "deviceProperties": [], "displayTimeUnit": "ms",
             "traceEvents": out, "traceName": path}
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt") as f:
        json.dump(trace, f)
