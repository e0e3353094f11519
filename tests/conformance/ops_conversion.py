"""Conformance entries for dtype conversions and copies (ember/ops/conversion.py): ``to``,
the ``float()``/``double()``/``half()``/``bfloat16()``/``long()``... casts, ``type``,
``type_as``, ``clone``, ``contiguous``. Values and dtypes in every source dtype; gradients
flow back through float casts in the source dtype, and integer results are not
differentiable."""

from __future__ import annotations

import numpy as np

from tests.conformance.harness import OpInfo, Sample, make

SOURCES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool")


def _samples(dt, rng):
    low = 0.0 if dt == "uint8" else -3.0  # negative floats to uint8 are undefined in C
    return [
        Sample((make((3, 4), dt, rng, low=low, high=3.0),)),
        Sample((make((4, 3), dt, rng, low=low, high=3.0, noncontig=True),), name="noncontig"),
        Sample((make((), dt, rng, low=low, high=3.0),), name="0-d"),
        Sample((make((0, 2), dt, rng),), name="empty"),
    ]


def _cast(name, fn, grad=True, **kw):
    return OpInfo(name, fn, _samples, dtypes=SOURCES, grad=grad, **kw)


def _down_cast(name, fn, **kw):
    """A cast that can lose precision: finite differences through it are rounding noise, so
    its gradient is covered by the up-casts (the same backward rule) instead."""
    return _cast(name, fn, grad=False, **kw)


OPS = [
    _cast("to_float64", lambda L, a: a.to(L.float64)),
    _down_cast("to_float16_positional", lambda L, a: a.to("cpu", L.float16)),
    _cast("to_dtype_kw_copy", lambda L, a: a.to(dtype=a.dtype, copy=True)),
    _cast("to_other", lambda L, a: a.to(L.zeros(1, dtype=L.float64))),
    _down_cast("float", lambda L, a: a.float()), _cast("double", lambda L, a: a.double()),
    _down_cast("half", lambda L, a: a.half(), atol=1e-3, rtol=1e-3),
    _down_cast("bfloat16", lambda L, a: a.bfloat16(), atol=1e-2, rtol=1e-2),
    _cast("long", lambda L, a: a.long()), _cast("int", lambda L, a: a.int()),
    _cast("short", lambda L, a: a.short()), _cast("char", lambda L, a: a.char()),
    _cast("byte", lambda L, a: a.abs().byte() if a.dtype != L.bool else a.byte()),
    _cast("bool", lambda L, a: a.bool()),
    _cast("type_string", lambda L, a: a.type(f"{L.__name__.replace('ember', 'torch')}"
                                             ".DoubleTensor")),
    _down_cast("type_as", lambda L, a: a.type_as(L.ones(1, dtype=L.float16))),
    _cast("clone", lambda L, a: a.clone()),
    _cast("contiguous", lambda L, a: a.mT.contiguous() if a.ndim == 2 else a.contiguous()),
    OpInfo("to_truncates_toward_zero", lambda L, a: a.to(L.int32),
           lambda dt, rng: [Sample((np.array([-2.7, -0.5, 0.5, 2.7, 1e3], dtype=dt),))],
           grad=False),
]
