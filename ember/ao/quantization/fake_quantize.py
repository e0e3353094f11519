"""Fake quantization for quantization-aware training (``torch.ao.quantization.fake_quantize``):
the forward pass rounds to the quantized grid and back, the backward pass lets the
gradient through where the value was inside the grid's range (straight-through
estimator). ``FakeQuantize`` keeps an observer that updates the scale while training;
``LearnableFakeQuantize`` makes scale and zero point parameters trained by gradient
(LSQ), the rounding's gradient again passed straight through. Both run the op table's
fake-quantize ops (``ember/ops/quantize.py``), torch's kernels' arithmetic."""

from __future__ import annotations

import numpy as np

from ... import nn
from ..._tensor import Tensor, _make
from ...ops.quantized import (
    _fake_quantize_learnable_per_channel_affine,
    _fake_quantize_learnable_per_tensor_affine,
    fake_quantize_per_channel_affine,
    fake_quantize_per_tensor_affine,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_symmetric,
    qint8,
    quint8,
)
from .observer import MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, _with_args

__all__ = ["FakeQuantize", "LearnableFakeQuantize", "fake_quantize_per_tensor_affine",
           "fake_quantize_per_channel_affine", "default_fake_quant",
           "default_weight_fake_quant", "default_per_channel_weight_fake_quant",
           "disable_observer", "enable_observer", "disable_fake_quant", "enable_fake_quant"]


class FakeQuantize(nn.Module):
    """An observer plus fake quantization with its current scale and zero point."""

    with_args = classmethod(_with_args)

    def __init__(self, observer=MovingAverageMinMaxObserver, quant_min: int | None = None,
                 quant_max: int | None = None, is_dynamic: bool = False, **observer_kwargs):
        super().__init__()
        if quant_min is not None and quant_max is not None:
            observer_kwargs.update(quant_min=quant_min, quant_max=quant_max)
        self.activation_post_process = observer(**observer_kwargs)
        obs = self.activation_post_process
        self.quant_min, self.quant_max = obs.quant_min, obs.quant_max
        self.dtype, self.qscheme = obs.dtype, obs.qscheme
        self.ch_axis = getattr(obs, "ch_axis", -1)
        self.is_per_channel = obs.qscheme in (per_channel_affine, per_channel_symmetric)
        self.register_buffer("fake_quant_enabled", _make(np.array([1], np.uint8)))
        self.register_buffer("observer_enabled", _make(np.array([1], np.uint8)))
        self.register_buffer("scale", _make(np.array([1.0], np.float32)))
        self.register_buffer("zero_point", _make(np.array([0], np.int32)))

    def calculate_qparams(self):
        return self.activation_post_process.calculate_qparams()

    def forward(self, x: Tensor) -> Tensor:
        if self.observer_enabled._data[0]:
            self.activation_post_process(x.detach())
            scale, zero_point = self.calculate_qparams()
            self.scale, self.zero_point = scale, zero_point.int()
        if not self.fake_quant_enabled._data[0]:
            return x
        if self.is_per_channel:
            return fake_quantize_per_channel_affine(x, self.scale, self.zero_point, self.ch_axis,
                                                    self.quant_min, self.quant_max)
        return fake_quantize_per_tensor_affine(x, self.scale.reshape(()),
                                               self.zero_point.reshape(()), self.quant_min,
                                               self.quant_max)

    def extra_repr(self) -> str:
        return (f"fake_quant_enabled={self.fake_quant_enabled}, observer_enabled="
                f"{self.observer_enabled}, quant_min={self.quant_min}, quant_max="
                f"{self.quant_max}, dtype={self.dtype}, qscheme={self.qscheme}, "
                f"ch_axis={self.ch_axis}, scale={self.scale}, zero_point={self.zero_point}")


class LearnableFakeQuantize(FakeQuantize):
    """Fake quantization with ``scale`` and ``zero_point`` as trained parameters (torch's
    ``_LearnableFakeQuantize``): the observer only initialises them (while
    ``observer_enabled``); afterwards the loss's gradient moves them."""

    def __init__(self, observer=MovingAverageMinMaxObserver, quant_min: int = 0,
                 quant_max: int = 255, scale: float = 1.0, zero_point: float = 0.0,
                 channel_len: int = -1, use_grad_scaling: bool = False, **observer_kwargs):
        super().__init__(observer, quant_min, quant_max, **observer_kwargs)
        n = max(channel_len, 1)
        del self._buffers["scale"], self._buffers["zero_point"]
        self.scale = nn.Parameter(_make(np.full(n, scale, np.float32)))
        self.zero_point = nn.Parameter(_make(np.full(n, zero_point, np.float32)))
        self.use_grad_scaling = use_grad_scaling

    def forward(self, x: Tensor) -> Tensor:
        """torch's ``_LearnableFakeQuantize.forward``: the observer sets scale and zero
        point while enabled, else the scale is kept at least ``eps``; symmetric schemes
        hold the zero point at 0; LSQ's gradient scale ``1 / sqrt(numel * quant_max)``
        with ``use_grad_scaling``."""
        if self.observer_enabled._data[0]:
            self.activation_post_process(x.detach())
            scale, zero_point = self.activation_post_process.calculate_qparams()
            self.scale.data = scale.float().reshape(self.scale.shape)
            self.zero_point.data = zero_point.float().reshape(self.zero_point.shape)
        else:
            self.scale.data = self.scale.detach().clamp(min=_EPS)
        if not self.fake_quant_enabled._data[0]:
            return x
        if self.qscheme in (per_channel_symmetric, per_tensor_symmetric):
            self.zero_point.data = self.zero_point.detach() * 0
        grad_factor = 1.0 / float(np.sqrt(x.numel() * self.quant_max)) \
            if self.use_grad_scaling else 1.0
        if self.is_per_channel:
            return _fake_quantize_learnable_per_channel_affine(
                x, self.scale, self.zero_point, self.ch_axis, self.quant_min, self.quant_max,
                grad_factor)
        return _fake_quantize_learnable_per_tensor_affine(
            x, self.scale, self.zero_point, self.quant_min, self.quant_max, grad_factor)

    def calculate_qparams(self):
        """The scale (at least ``eps``) and the zero point rounded and clamped (torch's)."""
        self.scale.data = self.scale.detach().clamp(min=_EPS)
        return self.scale.detach(), self.zero_point.detach().round().clamp(
            self.quant_min, self.quant_max).long()


_EPS = float(np.finfo(np.float32).eps)


def _set_flag(name: str, value: int):
    def apply(mod: nn.Module) -> None:
        if isinstance(mod, FakeQuantize):
            getattr(mod, name)._data[0] = value
    return apply


disable_observer = _set_flag("observer_enabled", 0)
enable_observer = _set_flag("observer_enabled", 1)
disable_fake_quant = _set_flag("fake_quant_enabled", 0)
enable_fake_quant = _set_flag("fake_quant_enabled", 1)

default_fake_quant = FakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=quint8,
    reduce_range=True)
default_weight_fake_quant = FakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=qint8,
    qscheme=per_tensor_symmetric)
default_per_channel_weight_fake_quant = FakeQuantize.with_args(
    observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
    dtype=qint8, qscheme=per_channel_symmetric)
