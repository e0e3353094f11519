"""Convolution modules: Conv1d/2d/3d and ConvTranspose1d/2d/3d (as torch.nn)."""

from __future__ import annotations

import math

from ... import _dtype
from ..._tensor import Tensor
from ...ops import conv as _conv
from ...ops.resample import pad
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _empty(shape, dtype, device=None) -> Parameter:
    import ember
    return Parameter(ember.empty(shape, dtype=dtype or _dtype.get_default_dtype(),
                                 device=device))


class _ConvNd(Module):
    """Shared state of the convolution modules (torch's ``_ConvNd``)."""

    _nd = 0
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 output_padding=0, device=None, dtype=None) -> None:
        super().__init__()
        nd = self._nd
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {list(_PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _conv.tuple_arg(kernel_size, nd, "kernel_size")
        self.stride = _conv.tuple_arg(stride, nd, "stride")
        self.dilation = _conv.tuple_arg(dilation, nd, "dilation")
        self.output_padding = _conv.tuple_arg(output_padding, nd, "output_padding")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 "{'valid', 'same'}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _conv.tuple_arg(padding, nd, "padding")
        pads = _conv._conv_pads(self.padding, self.kernel_size, self.stride, self.dilation)
        self._reversed_padding_repeated_twice = [p for lo_hi in reversed(pads) for p in lo_hi]
        shape = ((in_channels, out_channels // groups) if self.transposed else
                 (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = _empty(shape, dtype, device)
        self.register_parameter("bias", _empty((out_channels,), dtype, device) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's defaults: kaiming_uniform_(a=sqrt(5)) weights, U(±1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * self._nd:
            s += ", padding={padding}"
        if self.dilation != (1,) * self._nd:
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * self._nd:
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)


class _Conv(_ConvNd):
    _fn = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        fn = type(self)._fn
        if self.padding_mode != "zeros":
            input = pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return fn(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-D convolution over ``(N, C_in, L)``."""
    _nd, _fn = 1, staticmethod(_conv.conv1d)


class Conv2d(_Conv):
    """2-D convolution over ``(N, C_in, H, W)``."""
    _nd, _fn = 2, staticmethod(_conv.conv2d)


class Conv3d(_Conv):
    """3-D convolution over ``(N, C_in, D, H, W)``."""
    _nd, _fn = 3, staticmethod(_conv.conv3d)


class _ConvTranspose(_ConvNd):
    transposed = True
    _fn = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        """The output_padding that makes the output ``output_size`` (torch's rule)."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        output_size = tuple(output_size)[-nd:]
        if len(output_size) != nd:
            raise ValueError(f"ConvTranspose{nd}D: for {input.ndim}D input, output_size must "
                             f"have {nd} or {nd + 2} elements (got {len(output_size)})")
        result = []
        for i in range(nd):
            size = input.shape[input.ndim - nd + i]
            low = ((size - 1) * self.stride[i] - 2 * self.padding[i]
                   + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            high = low + self.stride[i] - 1
            if not low <= output_size[i] <= high:
                raise ValueError(f"requested an output size of {list(output_size)}, but valid "
                                 f"sizes range from {low} to {high} (for an input of "
                                 f"{list(input.shape[2:])})")
            result.append(output_size[i] - low)
        return tuple(result)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return type(self)._fn(input, self.weight, self.bias, self.stride, self.padding,
                              self._output_padding(input, output_size), self.groups,
                              self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution."""
    _nd, _fn = 1, staticmethod(_conv.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution."""
    _nd, _fn = 2, staticmethod(_conv.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution."""
    _nd, _fn = 3, staticmethod(_conv.conv_transpose3d)
