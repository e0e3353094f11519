"""Observers: modules that watch tensors flow by and turn their range into a scale and a
zero point (``torch.ao.quantization.observer``).

Every observer computes in float32 as torch's do (``_calculate_qparams``), so the scales
and zero points are bit-for-bit torch's on the same data. ``with_args`` makes the
factories that a ``QConfig`` holds.
"""

from __future__ import annotations

import functools

import numpy as np

from ... import nn
from ..._tensor import Tensor, _make
from ...ops.quantized import (
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    qint32,
    quint8,
)

__all__ = ["ObserverBase", "MinMaxObserver", "MovingAverageMinMaxObserver",
           "PerChannelMinMaxObserver", "MovingAveragePerChannelMinMaxObserver",
           "PlaceholderObserver", "NoopObserver",
           "default_observer", "default_weight_observer", "default_per_channel_weight_observer",
           "default_dynamic_quant_observer", "default_placeholder_observer",
           "calculate_qmin_qmax"]

_EPS = np.finfo(np.float32).eps


class _PartialWrapper:
    """``Observer.with_args(...)``: a factory with preset arguments (torch's
    ``_PartialWrapper``); calling it builds a fresh observer."""

    def __init__(self, p: functools.partial):
        self.p = p

    def __call__(self, *args, **kwargs):
        return self.p(*args, **kwargs)

    def with_args(self, **kwargs) -> _PartialWrapper:
        return _PartialWrapper(functools.partial(self.p, **kwargs))

    def __repr__(self) -> str:
        return self.p.__repr__()


def _with_args(cls_or_self, **kwargs) -> _PartialWrapper:
    return _PartialWrapper(functools.partial(cls_or_self, **kwargs))


def calculate_qmin_qmax(quant_min, quant_max, has_customized_qrange: bool, dtype,
                        reduce_range: bool) -> tuple[int, int]:
    """The integer range: the dtype's (halved with ``reduce_range``) unless given."""
    if has_customized_qrange:
        return (quant_min // 2, quant_max // 2) if reduce_range else (quant_min, quant_max)
    if dtype is qint8:
        return (-64, 63) if reduce_range else (-128, 127)
    if dtype is quint8:
        return (0, 127) if reduce_range else (0, 255)
    if dtype is qint32:
        return -(2 ** 31), 2 ** 31 - 1
    return 0, 15


class ObserverBase(nn.Module):
    """Base of the observers: ``forward`` records and returns its input unchanged."""

    with_args = classmethod(_with_args)

    def __init__(self, dtype=quint8, is_dynamic: bool = False):
        super().__init__()
        self.dtype = dtype
        self.is_dynamic = is_dynamic


class UniformQuantizationObserverBase(ObserverBase):
    """Observers with an affine (or symmetric) map: quant range, scheme, eps."""

    def __init__(self, dtype=quint8, qscheme=per_tensor_affine, reduce_range: bool = False,
                 quant_min: int | None = None, quant_max: int | None = None,
                 factory_kwargs=None, eps: float = _EPS, is_dynamic: bool = False, **kwargs):
        super().__init__(dtype=dtype, is_dynamic=is_dynamic)
        self.qscheme = qscheme
        self.reduce_range = reduce_range
        self.register_buffer("eps", _make(np.array([eps], np.float32)))
        self.has_customized_qrange = quant_min is not None and quant_max is not None
        if self.has_customized_qrange and not quant_min <= 0 <= quant_max:
            raise AssertionError("Used-specified quantization range must include 0.")
        self.quant_min, self.quant_max = calculate_qmin_qmax(
            quant_min, quant_max, self.has_customized_qrange, dtype, reduce_range)

    def _calculate_qparams(self, min_val: np.ndarray, max_val: np.ndarray):
        """torch's ``_calculate_qparams`` in float32: (scale float32, zero_point int64),
        1-element arrays for per-tensor ranges."""
        min_val = np.asarray(min_val, np.float32)
        max_val = np.asarray(max_val, np.float32)
        if min_val.ndim == 0 and (np.isinf(min_val) or np.isinf(max_val)):
            return np.array([1.0], np.float32), np.array([0], np.int64)
        qmin, qmax = self.quant_min, self.quant_max
        zero = np.float32(0)
        min_neg = np.minimum(min_val, zero)
        max_pos = np.maximum(max_val, zero)
        eps = self.eps._data[0]
        zero_point = np.zeros(min_neg.shape, np.int64)
        if self.qscheme in (per_tensor_symmetric, per_channel_symmetric):
            max_pos = np.maximum(-min_neg, max_pos)
            scale = np.maximum((max_pos / np.float32((qmax - qmin) / 2)).astype(np.float32), eps)
            if self.dtype is quint8:
                zero_point[...] = (qmin + qmax) // 2 if self.has_customized_qrange else 128
        else:
            scale = np.maximum(((max_pos - min_neg) / np.float32(qmax - qmin)).astype(np.float32),
                               eps)
            zero_point = qmin - np.rint(min_neg / scale).astype(np.int64)
            zero_point = np.clip(zero_point, qmin, qmax)
        return np.atleast_1d(scale).astype(np.float32), np.atleast_1d(zero_point)

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        scale, zero_point = self._calculate_qparams(self.min_val._data, self.max_val._data)
        return _make(scale), _make(zero_point)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


def _float_data(x: Tensor) -> np.ndarray:
    return np.asarray(x.detach()._data, dtype=np.float32)


class MinMaxObserver(UniformQuantizationObserverBase):
    """The running minimum and maximum of everything seen."""

    def __init__(self, dtype=quint8, qscheme=per_tensor_affine, reduce_range: bool = False,
                 quant_min=None, quant_max=None, factory_kwargs=None, eps: float = _EPS,
                 is_dynamic: bool = False, **kwargs):
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max, eps=eps,
                         is_dynamic=is_dynamic)
        self.register_buffer("min_val", _make(np.array(np.inf, np.float32)))
        self.register_buffer("max_val", _make(np.array(-np.inf, np.float32)))
        if qscheme is per_tensor_symmetric and reduce_range and dtype is quint8:
            raise NotImplementedError("Cannot reduce range for symmetric quantization for "
                                      "quint8")

    def forward(self, x_orig: Tensor) -> Tensor:
        if x_orig.numel() == 0:
            return x_orig
        x = _float_data(x_orig)
        self._update(np.float32(x.min()), np.float32(x.max()))
        return x_orig

    def _update(self, lo, hi) -> None:
        self.min_val._data = np.minimum(self.min_val._data, lo).astype(np.float32)
        self.max_val._data = np.maximum(self.max_val._data, hi).astype(np.float32)

    def reset_min_max_vals(self) -> None:
        self.min_val._data = np.array(np.inf, np.float32)
        self.max_val._data = np.array(-np.inf, np.float32)


class MovingAverageMinMaxObserver(MinMaxObserver):
    """An exponential moving average of each batch's minimum and maximum."""

    def __init__(self, averaging_constant: float = 0.01, dtype=quint8,
                 qscheme=per_tensor_affine, reduce_range: bool = False, quant_min=None,
                 quant_max=None, eps: float = _EPS, is_dynamic: bool = False, **kwargs):
        self.averaging_constant = averaging_constant
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max, eps=eps,
                         is_dynamic=is_dynamic)

    def _update(self, lo, hi) -> None:
        old_lo, old_hi = self.min_val._data, self.max_val._data
        if np.isinf(old_lo) and np.isinf(old_hi):
            self.min_val._data = np.array(lo, np.float32)
            self.max_val._data = np.array(hi, np.float32)
            return
        c = np.float32(self.averaging_constant)
        self.min_val._data = np.array(old_lo + c * (lo - old_lo), np.float32)
        self.max_val._data = np.array(old_hi + c * (hi - old_hi), np.float32)


class PerChannelMinMaxObserver(UniformQuantizationObserverBase):
    """Minimum and maximum per slice along ``ch_axis`` (weights: one per output channel)."""

    def __init__(self, ch_axis: int = 0, dtype=quint8, qscheme=per_channel_affine,
                 reduce_range: bool = False, quant_min=None, quant_max=None,
                 factory_kwargs=None, eps: float = _EPS, is_dynamic: bool = False, **kwargs):
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max, eps=eps,
                         is_dynamic=is_dynamic)
        self.ch_axis = ch_axis
        self.register_buffer("min_val", _make(np.zeros(0, np.float32)))
        self.register_buffer("max_val", _make(np.zeros(0, np.float32)))

    def forward(self, x_orig: Tensor) -> Tensor:
        if x_orig.numel() == 0:
            return x_orig
        x = np.moveaxis(_float_data(x_orig), self.ch_axis, 0).reshape(x_orig.shape[self.ch_axis],
                                                                       -1)
        self._update(x.min(axis=1), x.max(axis=1))
        return x_orig

    def _update(self, lo, hi) -> None:
        if self.min_val._data.size == 0:
            self.min_val._data, self.max_val._data = lo.astype(np.float32), hi.astype(np.float32)
        else:
            self.min_val._data = np.minimum(self.min_val._data, lo).astype(np.float32)
            self.max_val._data = np.maximum(self.max_val._data, hi).astype(np.float32)

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        scale, zero_point = self._calculate_qparams(self.min_val._data, self.max_val._data)
        return _make(scale), _make(zero_point)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        for name in ("min_val", "max_val"):  # per-channel ranges have the data's length
            if prefix + name in state_dict:
                getattr(self, name)._data = np.array(state_dict[prefix + name]._data, np.float32)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


class MovingAveragePerChannelMinMaxObserver(PerChannelMinMaxObserver):
    """Per-channel ranges averaged over batches (as ``MovingAverageMinMaxObserver``)."""

    def __init__(self, averaging_constant: float = 0.01, ch_axis: int = 0, dtype=quint8,
                 qscheme=per_channel_affine, reduce_range: bool = False, quant_min=None,
                 quant_max=None, eps: float = _EPS, is_dynamic: bool = False, **kwargs):
        super().__init__(ch_axis=ch_axis, dtype=dtype, qscheme=qscheme,
                         reduce_range=reduce_range, quant_min=quant_min, quant_max=quant_max,
                         eps=eps, is_dynamic=is_dynamic)
        self.averaging_constant = averaging_constant

    def _update(self, lo, hi) -> None:
        if self.min_val._data.size == 0:
            super()._update(lo, hi)
            return
        c = np.float32(self.averaging_constant)
        old_lo, old_hi = self.min_val._data, self.max_val._data
        self.min_val._data = (old_lo + c * (lo - old_lo)).astype(np.float32)
        self.max_val._data = (old_hi + c * (hi - old_hi)).astype(np.float32)


class PlaceholderObserver(ObserverBase):
    """Records nothing: carries the dtype (and dynamic flag) to ``convert``."""

    def __init__(self, dtype=np.float32, custom_op_name: str = "", compute_dtype=None,
                 quant_min=None, quant_max=None, qscheme=None, eps=None,
                 is_dynamic: bool = False):
        super().__init__(dtype=dtype, is_dynamic=is_dynamic)
        self.quant_min, self.quant_max = quant_min, quant_max
        self.qscheme = per_tensor_affine if qscheme is None else qscheme

    def forward(self, x: Tensor) -> Tensor:
        return x

    def calculate_qparams(self):
        raise Exception("calculate_qparams should not be called for PlaceholderObserver")


class NoopObserver(PlaceholderObserver):
    """A placeholder for float16 weights."""


default_observer = MinMaxObserver.with_args(quant_min=0, quant_max=127)
default_weight_observer = MinMaxObserver.with_args(dtype=qint8, qscheme=per_tensor_symmetric)
default_per_channel_weight_observer = PerChannelMinMaxObserver.with_args(
    dtype=qint8, qscheme=per_channel_symmetric)
default_dynamic_quant_observer = PlaceholderObserver.with_args(
    dtype=quint8, quant_min=0, quant_max=255, is_dynamic=True)
default_placeholder_observer = PlaceholderObserver
