"""The elementwise functions, gathered: arithmetic and math functions (``arithmetic``),
comparisons, logical and bitwise ops (``comparison``), activations (``activations``) and
in-place variants (``_inplace``); importing this module also installs them as Tensor
methods and operators (``_operators``). ``ember`` star-imports it.
"""

from __future__ import annotations

from . import _inplace, _operators, activations, arithmetic, comparison
from .activations import *  # noqa: F403
from .activations import (  # noqa: F401  (nn.functional's, not torch's top-level functions)
    celu_,
    elu,
    elu_,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    hardtanh_,
    leaky_relu,
    leaky_relu_,
    logsigmoid,
    mish,
    relu6,
    silu,
    softplus,
    softshrink,
    softsign,
    tanhshrink,
)
from .arithmetic import *  # noqa: F403
from .comparison import *  # noqa: F403

globals().update({name: _inplace.INPLACE[name] for name in _inplace.TOP_LEVEL})

__all__ = [*arithmetic.__all__, *comparison.__all__, *activations.__all__, *_inplace.TOP_LEVEL]

_operators.install_methods({**{name: globals()[name] for name in __all__}, **_inplace.INPLACE})
