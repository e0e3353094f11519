"""``torch.autograd.profiler.record_function``, for programs that import it from there."""

from ..profiler import record_function

__all__ = ["record_function"]
