"""``nn.LPPool1d/2d/3d``: power-average pooling (torch's ``torch.nn.modules.pooling``)."""

from __future__ import annotations

from ..._tensor import Tensor
from .. import _functional_sampling as _fs
from .module import Module

__all__ = ["LPPool1d", "LPPool2d", "LPPool3d"]


class _LPPoolNd(Module):
    _fn = None

    def __init__(self, norm_type: float, kernel_size, stride=None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, float(self.norm_type), self.kernel_size, self.stride,
                              self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """``(sum over each window of x^p)^(1/p)`` over ``(N, C, L)``."""
    _fn = staticmethod(_fs.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """``(sum over each window of x^p)^(1/p)`` over ``(N, C, H, W)``."""
    _fn = staticmethod(_fs.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """``(sum over each window of x^p)^(1/p)`` over ``(N, C, D, H, W)``."""
    _fn = staticmethod(_fs.lp_pool3d)
