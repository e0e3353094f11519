"""Padding modules: zero, constant, reflection, replication and circular (1-D/2-D/3-D)."""

from __future__ import annotations

from ..._tensor import Tensor
from ...ops.conv import tuple_arg
from ...ops.resample import pad
from .module import Module

__all__ = ["ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d"]


class _PadNd(Module):
    _nd = 0
    _mode = "constant"

    def __init__(self, padding) -> None:
        super().__init__()
        self.padding = tuple_arg(padding, 2 * self._nd, "padding")

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


def _constant(nd: int):
    class ConstantPad(_ConstantPadNd):
        _nd = nd
    return ConstantPad


def _zero(nd: int):
    class ZeroPad(_ConstantPadNd):
        _nd = nd

        def __init__(self, padding) -> None:
            super().__init__(padding, 0.0)

        def extra_repr(self) -> str:
            return f"{self.padding}"
    return ZeroPad


def _mode(nd: int, mode: str):
    return type(f"_{mode}{nd}", (_PadNd,), {"_nd": nd, "_mode": mode})


def _named(cls, name: str):
    cls.__name__ = cls.__qualname__ = name
    cls.__module__ = __name__
    return cls


ConstantPad1d = _named(_constant(1), "ConstantPad1d")
ConstantPad2d = _named(_constant(2), "ConstantPad2d")
ConstantPad3d = _named(_constant(3), "ConstantPad3d")
ZeroPad1d = _named(_zero(1), "ZeroPad1d")
ZeroPad2d = _named(_zero(2), "ZeroPad2d")
ZeroPad3d = _named(_zero(3), "ZeroPad3d")
ReflectionPad1d = _named(_mode(1, "reflect"), "ReflectionPad1d")
ReflectionPad2d = _named(_mode(2, "reflect"), "ReflectionPad2d")
ReflectionPad3d = _named(_mode(3, "reflect"), "ReflectionPad3d")
ReplicationPad1d = _named(_mode(1, "replicate"), "ReplicationPad1d")
ReplicationPad2d = _named(_mode(2, "replicate"), "ReplicationPad2d")
ReplicationPad3d = _named(_mode(3, "replicate"), "ReplicationPad3d")
CircularPad1d = _named(_mode(1, "circular"), "CircularPad1d")
CircularPad2d = _named(_mode(2, "circular"), "CircularPad2d")
CircularPad3d = _named(_mode(3, "circular"), "CircularPad3d")
