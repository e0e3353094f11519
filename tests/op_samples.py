"""Op-level samples for every entry of ``OPS``, recorded from the conformance table.

The conformance entries (``tests/conformance/ops_*.py``) call ember's public functions,
which reach the ops through the dispatcher. Running every entry's samples forward and
backward under a recording mode gives, for each op, the exact arguments it was called
with: ``(op, args, kwargs)`` with tensors as they were (shape, dtype, strides). These are
the samples the table-driven tests (``tests/test_op_table.py``) run every op on -- so an
op is covered exactly when some public function reaches it on some sample.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

import ember
from ember._dispatch import DispatchMode
from ember._meta import MetaArray
from ember._tensor import Tensor
from tests.conformance.harness import TensorList


@dataclass
class OpCall:
    op: type
    args: tuple          # tensors replaced by ndarray copies (strides kept), lists of them
    kwargs: dict
    outputs: tuple       # the real outputs' MetaArrays (None for non-tensor outputs)
    source: str          # "<conformance entry>-<dtype>-<sample index>[-backward]"
    inplace: bool        # the call was the in-place variant (``op`` is the base op)


def _snapshot(x):
    if isinstance(x, Tensor):
        return _copy_keep_strides(x._data)
    if type(x) in (list, tuple) and x and all(isinstance(t, Tensor) for t in x):
        return [_copy_keep_strides(t._data) for t in x]
    return x


def _copy_keep_strides(arr: np.ndarray) -> np.ndarray:
    """A copy of ``arr`` with the same strides, on its own memory (NumPy's copy would
    make it contiguous)."""
    if arr.size == 0 or arr.flags.c_contiguous:
        return arr.copy()
    # lay out a buffer covering the strided extent, then view it with the same strides
    lo = sum(min(0, (n - 1) * s) for n, s in zip(arr.shape, arr.strides))
    hi = sum(max(0, (n - 1) * s) for n, s in zip(arr.shape, arr.strides)) + arr.itemsize
    buf = np.zeros(hi - lo, dtype=np.uint8)
    out = np.lib.stride_tricks.as_strided(buf[-lo:].view(arr.dtype) if lo == 0 else
                                          buf.view(np.uint8)[-lo:].view(arr.dtype),
                                          arr.shape, arr.strides)
    out[...] = arr
    return out


class _Recorder(DispatchMode):
    def __init__(self, calls: list, source: str):
        self.calls, self.source = calls, source

    def __ember_dispatch__(self, op, args, kwargs):
        snap = tuple(_snapshot(a) for a in args)
        out = op.apply(*args, **kwargs)
        outs = out if isinstance(out, tuple) else (out,)
        self.calls.append(OpCall(
            op.__mro__[1] if op.inplace else op, snap, dict(kwargs),
            tuple(MetaArray.like(o._data) if isinstance(o, Tensor) else None for o in outs),
            self.source, op.inplace))
        return out


def _to_ember(arg, requires_grad: bool):
    if isinstance(arg, TensorList):
        return [_to_ember(a, requires_grad) for a in arg.arrays]
    if not isinstance(arg, np.ndarray):
        return arg
    t = ember.from_numpy(arg.copy(order="K"))
    if requires_grad and (arg.dtype.kind in "fc" or arg.dtype.name == "bfloat16"):
        t.requires_grad_(True)
    return t


def _outputs(out) -> list:
    flat = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in flat if isinstance(o, Tensor) and o.requires_grad]


@functools.lru_cache(maxsize=1)
def record() -> dict[str, list[OpCall]]:
    """``{op name: [OpCall, ...]}`` over every conformance sample, forward in each of the
    entry's dtypes and backward in float64."""
    from tests.test_conformance import OPS as ENTRIES
    calls: list[OpCall] = []
    for entry in ENTRIES:
        for dt in entry.dtypes:
            rng = np.random.default_rng(0)
            try:
                samples = entry.samples(dt, rng)
            except Exception:  # noqa: BLE001 (a dtype the entry cannot make samples for)
                continue
            grad = entry.grad and dt == "float64"
            for i, s in enumerate(samples):
                args = [_to_ember(a, grad and j not in entry.skip_grad_args)
                        for j, a in enumerate(s.args)]
                source = f"{entry.name}-{dt}-{i}"
                try:
                    with _Recorder(calls, source):
                        out = entry.fn(ember, *args, **s.kwargs)
                except Exception:  # noqa: BLE001 (error-parity samples: torch rejects them too)
                    continue
                outs = _outputs(out) if grad else []
                if outs:
                    cots = [ember.ones_like(o) for o in outs]
                    try:
                        with _Recorder(calls, source + "-backward"):
                            ember.autograd.grad(outs, [a for a in _leaves(args)], cots,
                                                allow_unused=True)
                    except Exception:  # noqa: BLE001 (ops torch does not differentiate)
                        pass
    by_op: dict[str, list[OpCall]] = {}
    for c in calls:
        by_op.setdefault(c.op.name, []).append(c)
    return by_op


def _leaves(args) -> list:
    out = []
    for a in args:
        if isinstance(a, list):
            out.extend(t for t in a if isinstance(t, Tensor) and t.requires_grad)
        elif isinstance(a, Tensor) and a.requires_grad:
            out.append(a)
    return out
