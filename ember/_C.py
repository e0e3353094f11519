"""The few ``torch._C`` names that Python programs use directly: the switches of the
``__torch_function__`` protocol (``ember/_torch_function.py``)."""

from ._torch_function import (
           DisableTorchFunction,
           DisableTorchFunctionSubclass,
           _disabled_torch_function_impl,
)

__all__ = ["DisableTorchFunction", "DisableTorchFunctionSubclass",
           "_disabled_torch_function_impl"]
