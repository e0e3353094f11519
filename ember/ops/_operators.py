"""Tensor methods and Python operators of the elementwise functions (``x.exp()``,
``x + y``, ``x += y``, ``~x``...).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, tensor_method
from ._pointwise import _is_float
from .arithmetic import Abs, Add, Div, FloorDivide, Mul, Neg, Pow, Remainder, Sub, positive, where
from .comparison import (
    BitwiseAnd,
    BitwiseLeftShift,
    BitwiseNot,
    BitwiseOr,
    BitwiseRightShift,
    BitwiseXor,
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
    Ne,
)

# functions torch has, but not as Tensor methods (``x.where`` is below)
_NOT_METHODS = {"where", "selu", "celu", "threshold", "rrelu", "selu_", "celu_", "threshold_",
                "rrelu_"}


def install_methods(functions: dict[str, Callable]) -> None:
    """Make ``functions`` (name: function) Tensor methods, except those torch has only as
    functions."""
    for name, fn in functions.items():
        if name not in _NOT_METHODS:
            tensor_method(name)(fn)


@tensor_method("where")
def _where_method(self, condition, y):
    """``x.where(condition, y)`` is ``where(condition, x, y)``."""
    return where(condition, self, y)


_NUMBER = (int, float, complex, np.generic)
_OPERANDS = (Tensor, *_NUMBER)


def _operator(op: type[Op], reflected: bool = False, inplace: bool = False):
    """A Python operator running ``op``; other operand types are left to Python. ``add``
    and ``sub`` get their ``alpha`` (1), so that they are always called alike."""
    if inplace:
        op = op.inplace_op()
    extra = (1,) if op.name in ("add", "sub", "add_", "sub_") else ()

    def operator(self, other):
        if not isinstance(other, _OPERANDS):
            return NotImplemented
        if reflected:
            return dispatch(op, other, self, *extra)
        return dispatch(op, self, other, *extra)
    return operator


for _names, _op in (
        (("add", "radd", "iadd"), Add), (("sub", "rsub", "isub"), Sub),
        (("mul", "rmul", "imul"), Mul), (("truediv", "rtruediv", "itruediv"), Div),
        (("floordiv", "rfloordiv", "ifloordiv"), FloorDivide),
        (("mod", "rmod", "imod"), Remainder), (("pow", "rpow", "ipow"), Pow),
        (("and", "rand", "iand"), BitwiseAnd), (("or", "ror", "ior"), BitwiseOr),
        (("xor", "rxor", "ixor"), BitwiseXor),
        (("lshift", "rlshift", "ilshift"), BitwiseLeftShift),
        (("rshift", "rrshift", "irshift"), BitwiseRightShift)):
    for _kind, _dunder in enumerate(_names):
        setattr(Tensor, f"__{_dunder}__", _operator(_op, reflected=_kind == 1,
                                                    inplace=_kind == 2))
for _dunder, _op in (("eq", Eq), ("ne", Ne), ("lt", Lt), ("le", Le), ("gt", Gt), ("ge", Ge)):
    setattr(Tensor, f"__{_dunder}__", _operator(_op))
Tensor.__neg__ = lambda self: dispatch(Neg, self)
Tensor.__pos__ = positive
Tensor.__abs__ = lambda self: dispatch(Abs, self)


def _invert(self):
    if _is_float(self._data):
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type "
                        "tensors")
    return dispatch(BitwiseNot, self)


Tensor.__invert__ = _invert
