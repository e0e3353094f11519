"""Per-op timing and memory, Chrome traces: ``ember.profiler`` mirrors ``torch.profiler``.

    with ember.profiler.profile(record_shapes=True) as prof:
        with ember.profiler.record_function("train_step"):
            loss = model(x).sum()
            loss.backward()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")
"""

from ._events import EventList, FunctionEvent, FunctionEventAvg
from .profiler import (ProfilerAction, ProfilerActivity, profile, record_function, schedule,
                       supported_activities, tensorboard_trace_handler)

__all__ = ["profile", "record_function", "schedule", "tensorboard_trace_handler",
           "ProfilerAction", "ProfilerActivity", "supported_activities", "EventList",
           "FunctionEvent", "FunctionEventAvg"]
