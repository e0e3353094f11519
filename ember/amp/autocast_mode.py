"""Automatic mixed precision: ``ember.autocast("cpu", dtype=ember.bfloat16)``.

On the CPU, autocast is a dispatcher mode: inside the region, the floating-point inputs
(float64 excepted, as in torch) of the ops in ``LOWER_PRECISION_OPS`` (matmul-like ops:
matrix products, linear, convolutions, attention) are cast to the autocast dtype, so those
ops run and return in bfloat16 or float16, and those of the ops in ``FP32_OPS`` (losses,
products, SVD) run in float32. Other ops run in the dtype of their inputs. The lists are
torch's CPU autocast lists, naming the ops of the op table by their ``aten`` name (where one
ember op covers several torch ops, the comment says which). The casts are ordinary
recorded ops, so gradients flow back to float32 parameters in float32.

Autocast for CUDA (or any other device type) warns and disables itself, as in a
CPU-only torch build.
"""

from __future__ import annotations

import functools
import threading
import warnings

from .. import _dtype
from .._device import device as _device
from .._dispatch import DispatchMode
from .._state import STATE, push_mode, remove_mode
from .._tensor import Tensor

__all__ = ["autocast", "is_autocast_available", "is_autocast_enabled", "get_autocast_dtype",
           "custom_fwd", "custom_bwd"]

# Ops (by ``op.aten``) whose floating inputs are cast to the autocast dtype: torch's CPU
# "lower_precision_fp" list.
LOWER_PRECISION_OPS = frozenset((
    "matmul",                               # matmul, mm, bmm (and mv, dot: float32 in torch)
    "linear",
    "add_scaled",                           # addmm, baddbmm, addbmm (and addmv)
    "einsum",                               # torch's runs bmm
    "convolution",                          # conv1d, conv2d, conv3d
    "conv_transpose",                       # conv_transpose1d/2d/3d
    "_scaled_dot_product_attention_math",   # scaled_dot_product_attention
))

# Ops (by ``op.aten``) whose lower-precision floating inputs are cast to float32: torch's
# CPU "fp32" list.
FP32_OPS = frozenset((
    "prod",
    "linalg_svdvals",
    "_linalg_svd",      # svdvals and the spectral norms when a gradient is recorded
    "nll_loss",
    "cross_entropy_loss",
    "_ctc_loss",
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "soft_margin_loss", "kl_div", "poisson_nll_loss",
    "hinge_embedding_loss",
))

_DEFAULT_DTYPES = {"cpu": _dtype.bfloat16, "cuda": _dtype.float16}


class _CpuState(threading.local):
    """Whether CPU autocast is on, and its dtype: per thread, as torch's."""

    def __init__(self):
        self.enabled = False
        self.dtype = _dtype.bfloat16


_CPU = _CpuState()


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast can be enabled for ``device_type`` (the CPU only)."""
    return device_type == "cpu"


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether autocast is on for ``device_type`` (default "cuda", as in torch)."""
    return device_type == "cpu" and _CPU.enabled


def get_autocast_dtype(device_type: str) -> _dtype.dtype:
    """The dtype autocast casts to on ``device_type``."""
    if device_type == "cpu":
        return _CPU.dtype
    return _DEFAULT_DTYPES.get(device_type, _dtype.float16)


class _AutocastMode(DispatchMode):
    """Casts the floating inputs of the listed ops while CPU autocast is enabled."""

    def __ember_dispatch__(self, op, args, kwargs):
        if _CPU.enabled:
            if op.aten in LOWER_PRECISION_OPS:
                args = tuple(_cast(a, _CPU.dtype) for a in args)
            elif op.aten in FP32_OPS:
                args = tuple(_cast(a, _dtype.float32) for a in args)
        return op.apply(*args, **kwargs)


def _cast(x, dtype: _dtype.dtype):
    """``x`` in ``dtype`` if it is a floating tensor other than float64 (torch's "eligible"
    tensors), or a list of them (``einsum``'s operands); anything else unchanged."""
    if isinstance(x, Tensor):
        if x.is_floating_point() and x.dtype is not dtype and x.dtype is not _dtype.float64:
            return x.to(dtype)
        return x
    if type(x) is list:
        return [_cast(t, dtype) for t in x]
    return x


_MODE = _AutocastMode()


class autocast:
    """Run a region (``with``) or a function (decorator) in mixed precision.

    ``device_type`` is "cpu" (dtype bfloat16 by default, or float16) or another device
    type, for which autocast warns and is disabled as in a CPU-only torch build.
    """

    def __init__(self, device_type: str, dtype: _dtype.dtype | None = None,
                 enabled: bool = True, cache_enabled: bool | None = None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        _device(device_type)  # torch's error for an unknown device type
        self.device = device_type
        self.fast_dtype = dtype or get_autocast_dtype(device_type)
        self._enabled = enabled
        self._prev = None
        if not enabled:
            return
        if device_type != "cpu":
            name = device_type.upper()
            warnings.warn(f"{name} is not available or torch_xla is imported. Disabling "
                          "autocast.", UserWarning, stacklevel=2)
            self._enabled = False
        elif self.fast_dtype not in (_dtype.bfloat16, _dtype.float16):
            warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling "
                          "autocast.\nCPU Autocast only supports dtypes of ember.bfloat16, "
                          "ember.float16 currently.", UserWarning, stacklevel=2)
            self._enabled = False

    def __enter__(self):
        if self.device != "cpu":
            return self
        self._prev = (_CPU.enabled, _CPU.dtype)
        _CPU.enabled = self._enabled
        if self._enabled:
            _CPU.dtype = self.fast_dtype
        if self._enabled and _MODE not in STATE.modes:
            push_mode(_MODE)
        return self

    def __exit__(self, *exc) -> None:
        if self.device != "cpu":
            return
        _CPU.enabled, _CPU.dtype = self._prev
        if not _CPU.enabled and _MODE in STATE.modes:
            remove_mode(_MODE)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device, dtype=self.fast_dtype, enabled=self._enabled):
                return fn(*args, **kwargs)
        return wrapper


def custom_fwd(fwd=None, *, device_type: str, cast_inputs: _dtype.dtype | None = None):
    """Decorate an ``autograd.Function.forward``: with ``cast_inputs``, inside an autocast
    region its floating tensor arguments are cast to that dtype and it runs with
    autocast disabled."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        if cast_inputs is None or not is_autocast_enabled(device_type):
            return fwd(*args, **kwargs)
        args = [_cast(a, cast_inputs) for a in args]
        kwargs = {k: _cast(v, cast_inputs) for k, v in kwargs.items()}
        with autocast(device_type, enabled=False):
            return fwd(*args, **kwargs)
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type: str):
    """Decorate an ``autograd.Function.backward``; ember runs it unchanged."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    return bwd
