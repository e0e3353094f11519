"""The conformance table's building blocks: OpInfo entries and sample inputs.

An ``OpInfo`` names an op and gives ``fn(lib, *args, **kwargs)``, called once with
``lib=ember`` and once with ``lib=torch`` on the same samples. Sample arguments that
are NumPy arrays become tensors of each library (``requires_grad`` where they are
floating point and the op is differentiable); everything else is passed as is. A
``TensorList`` argument becomes a list of tensors (for ``cat``, ``stack``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

FLOAT_DTYPES = ("float32", "float64")
ALL_FLOAT = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int64", "int32", "uint8")


@dataclass
class TensorList:
    """A list-of-tensors argument."""
    arrays: list


@dataclass
class Sample:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    name: str = ""


@dataclass
class OpInfo:
    name: str
    fn: Callable                       # fn(lib, *args, **kwargs)
    samples: Callable                  # samples(np_dtype, rng) -> list[Sample]
    dtypes: tuple = FLOAT_DTYPES       # dtypes the values are checked in
    grad: bool = True                  # compare gradients and run gradcheck (float64)
    gradgrad: bool = True              # run gradgradcheck
    gradcheck: bool = True             # False for straight-through estimators (fake quantize)
    atol: float = 1e-5
    rtol: float = 1.3e-6
    grad_atol: float = 1e-5
    grad_rtol: float = 1e-4
    skip_grad_args: tuple = ()         # positional args that never require grad
    nondeterministic_values: bool = False  # e.g. random ops: only dtype/shape compared

    def __str__(self) -> str:
        return self.name


def make(shape, dtype="float64", rng=None, low=-2.0, high=2.0, noncontig=False,
         positive=False) -> np.ndarray:
    """A random array of ``shape``; non-contiguous (a transposed view) if asked."""
    rng = rng or np.random.default_rng(0)
    np_dtype = _np_dtype(dtype)
    if positive:
        low, high = 0.5, high
    if np.dtype(np_dtype).kind in "iu":
        arr = rng.integers(max(low, 0) if np.dtype(np_dtype).kind == "u" else low,
                           high + 1, size=shape)
    elif np.dtype(np_dtype).kind == "b":
        arr = rng.integers(0, 2, size=shape).astype(bool)
    else:
        arr = rng.uniform(low, high, size=shape)
    arr = np.asarray(arr).astype(np_dtype)
    if noncontig and arr.ndim >= 2:
        arr = np.ascontiguousarray(arr.swapaxes(-1, -2)).swapaxes(-1, -2)
    return arr


def _np_dtype(name: str):
    if name == "bfloat16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    return np.dtype(name)


def tolerance(dtype: str, op: OpInfo) -> tuple[float, float]:
    return {"float16": (1e-3, 1e-3), "bfloat16": (1e-2, 1.6e-2),
            "float32": (max(op.atol, 1e-5), max(op.rtol, 1.3e-6))}.get(dtype,
                                                                       (op.atol, op.rtol))
