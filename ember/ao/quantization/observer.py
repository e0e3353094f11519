"""Observers: modules that watch tensors flow by and turn their range into a scale and a
zero point (``torch.ao.quantization.observer``).

Every observer computes in float32 as torch's do (``_calculate_qparams``), so the scales
and zero points are bit-for-bit torch's on the same data. ``with_args`` makes the
factories that a ``QConfig`` holds.
"""

from __future__ import annotations

import functools
import warnings

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
           "HistogramObserver", "PlaceholderObserver", "NoopObserver",
           "default_observer", "default_weight_observer", "default_per_channel_weight_observer",
           "default_dynamic_quant_observer", "default_placeholder_observer",
           "default_histogram_observer",
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


def _histc(x: np.ndarray, bins: int, lo, hi) -> np.ndarray:
    """``torch.histc`` of float32 ``x`` over ``[lo, hi]`` (ember's op), as float32."""
    from ...ops.statistics import histc
    return histc(_make(x), bins, float(lo), float(hi))._data.astype(np.float32)


class HistogramObserver(UniformQuantizationObserverBase):
    """A running histogram of everything seen (``bins`` equal bins over the running
    range, re-binned when the range widens); ``calculate_qparams`` then searches the
    range whose uniform quantisation has the least L2 error, clipping outliers (torch's
    ``HistogramObserver``, after caffe2's norm minimisation), step for step in float32 so
    scales and zero points are torch's."""

    def __init__(self, bins: int = 2048, dtype=quint8, qscheme=per_tensor_affine,
                 reduce_range: bool = False, quant_min=None, quant_max=None,
                 factory_kwargs=None, eps: float = _EPS, is_dynamic: bool = False, **kwargs):
        if qscheme not in (per_tensor_affine, per_tensor_symmetric):
            raise NotImplementedError("HistogramObserver's qscheme only support "
                                      "torch.per_tensor_symmetric and torch.per_tensor_affine.")
        if is_dynamic:
            raise NotImplementedError("HistogramObserver doesn't support dynamic quantization")
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max, eps=eps,
                         is_dynamic=is_dynamic)
        self.bins = bins
        self.register_buffer("histogram", _make(np.zeros(bins, np.float32)))
        self.register_buffer("min_val", _make(np.array(np.inf, np.float32)))
        self.register_buffer("max_val", _make(np.array(-np.inf, np.float32)))
        self.dst_nbins = 2 ** 8 if dtype in (qint8, quint8) else 2 ** 32
        self.upsample_rate = 16  # the old histogram is spread over 16x finer bins to re-bin

    def forward(self, x_orig: Tensor) -> Tensor:
        if x_orig.numel() == 0:
            return x_orig
        x = _float_data(x_orig).ravel()
        if np.isinf(x).any():
            warnings.warn("torch.inf detected in input tensor, ignoring input", stacklevel=2)
            x = x[~np.isinf(x)]
            if x.size == 0:
                return x_orig
        x_min, x_max = np.float32(x.min()), np.float32(x.max())
        cur_min, cur_max = self.min_val._data, self.max_val._data
        if np.isinf(cur_min) or np.isinf(cur_max):
            self.min_val._data, self.max_val._data = np.array(x_min), np.array(x_max)
            self.histogram._data = _histc(x, self.bins, x_min, x_max)
            return x_orig
        new_min, new_max = np.minimum(cur_min, x_min), np.maximum(cur_max, x_max)
        update = _histc(x, self.bins, new_min, new_max)
        if new_min == cur_min and new_max == cur_max:
            self.histogram._data = self.histogram._data + update
            return x_orig
        self.histogram._data = update + self._rebin(cur_min, cur_max, new_min, new_max)
        self.min_val._data, self.max_val._data = np.array(new_min), np.array(new_max)
        return x_orig

    def _rebin(self, orig_min, orig_max, new_min, new_max) -> np.ndarray:
        """The histogram over ``[orig_min, orig_max]`` in the bins of the wider range."""
        hist = self.histogram._data
        if orig_min == orig_max:  # a single value: all of it lands in one new bin
            return _histc(np.atleast_1d(orig_min), self.bins, new_min, new_max) * hist.sum()
        fine = np.repeat(hist, self.upsample_rate) / np.float32(self.upsample_rate)
        n_fine = self.bins * self.upsample_rate
        size = (orig_max - orig_min) / np.float32(n_fine)
        mids = _linspace(orig_min, orig_max, n_fine + 1)[:-1] + np.float32(0.5) * size
        edges = _linspace(new_min, new_max, self.bins + 1)
        where = np.clip(np.searchsorted(edges, mids, side="right") - 1, 0, self.bins - 1)
        return np.bincount(where, weights=fine, minlength=self.bins).astype(np.float32)

    def _quantization_error(self, start: int, end: int) -> float:
        """L2 error of quantising the histogram with bins ``start..end`` as the range."""
        bin_width = (float(self.max_val._data) - float(self.min_val._data)) / self.bins
        dst_width = bin_width * (end - start + 1) / self.dst_nbins
        if dst_width == 0.0:
            return 0.0
        f32 = np.float32
        src = np.arange(self.bins)
        begin = ((src - start) * bin_width).astype(f32)
        end_ = (begin + f32(bin_width)).astype(f32)
        top = self.dst_nbins - 1
        dst_begin = np.clip(np.floor(begin / f32(dst_width)), 0, top).astype(f32)
        dst_end = np.clip(np.floor(end_ / f32(dst_width)), 0, top).astype(f32)
        density = (self.histogram._data / f32(bin_width)).astype(f32)

        def norm(lo, hi):
            return density * ((hi * hi * hi - lo * lo * lo) / f32(3))

        half = f32(dst_width / 2)
        total = norm(begin - (dst_begin + f32(0.5)) * f32(dst_width), half)
        total = total + (dst_end - dst_begin - 1) * norm(-half, half)
        total = total + norm(-half, end_ - (dst_end * f32(dst_width) + half))
        return float(total.astype(f32).sum(dtype=f32))

    def _non_linear_param_search(self) -> tuple[np.ndarray, np.ndarray]:
        """Narrow ``[min, max]`` from whichever side drops more of the histogram's mass
        per step while the quantisation error keeps falling."""
        bin_width = (self.max_val._data - self.min_val._data) / np.float32(self.bins)
        hist = self.histogram._data
        total = float(hist.sum(dtype=np.float32))
        csum = np.cumsum(hist, dtype=np.float32)
        step, alpha, beta = 1e-5, 0.0, 1.0
        start, end = 0, self.bins - 1
        norm_min = float("inf")
        while alpha < beta:
            next_alpha, next_beta = alpha + step, beta - step
            lo, hi = start, end
            while lo < end and csum[lo] < np.float32(next_alpha * total):
                lo += 1
            while hi > start and csum[hi] > np.float32(next_beta * total):
                hi -= 1
            next_start, next_end = start, end
            if lo - start > end - hi:
                next_start, alpha = lo, next_alpha
            else:
                next_end, beta = hi, next_beta
            if next_start == start and next_end == end:
                continue
            norm = self._quantization_error(next_start, next_end)
            if norm > norm_min:
                break
            norm_min, start, end = norm, next_start, next_end
        return (self.min_val._data + bin_width * np.float32(start),
                self.min_val._data + bin_width * np.float32(end + 1))

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        if np.isinf(self.min_val._data) and np.isinf(self.max_val._data):
            warnings.warn("must run observer before calling calculate_qparams. Returning "
                          "default scale and zero point ", stacklevel=2)
            return _make(np.array([1.0], np.float32)), _make(np.array([0], np.int64))
        if self.bins != len(self.histogram._data):
            raise AssertionError("The number of bins in histogram should be equal to the "
                                 "number of bins supplied while making this observer")
        scale, zero_point = self._calculate_qparams(*self._non_linear_param_search())
        return _make(scale), _make(zero_point)


def _linspace(lo, hi, steps: int) -> np.ndarray:
    """``torch.linspace`` in float32: from both ends towards the middle."""
    from ...ops.creation import linspace
    return linspace(float(lo), float(hi), steps)._data


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
default_histogram_observer = HistogramObserver.with_args(quant_min=0, quant_max=127)
