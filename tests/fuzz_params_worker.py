"""One shard of the adversarial-parameter campaign (``tests/test_fuzz_params.py``).

For every conformance entry of the shard, hypothesis takes one of its samples and makes it
hostile in one place: an int parameter (or one element of an int tuple) becomes negative,
zero or huge; a float parameter NaN, infinite or huge; an index tensor gets an element far
out of range; a float tensor a NaN/inf, or becomes empty or 0-d. The entry runs in torch
and in ember, and the outcomes must agree: both raise (ember's exception an instance of the
builtin class torch's derives from), or both return the same shapes, dtypes and values.

It runs under ``python -X faulthandler``: a crash kills this process, and the last
``RUN`` line it printed names the case. The result is one ``RESULT {json}`` line.

``python tests/fuzz_params_worker.py SHARD N_SHARDS EXAMPLES_PER_OP``
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ember  # noqa: E402
from tests.conformance import harness  # noqa: E402
from tests.test_conformance import OPS, _convert, _dtype_name, _flat, _to_numpy  # noqa: E402

torch.set_num_threads(1)
warnings.simplefilter("ignore")

INTS = [-10**6, -2, -1, 0, 1, 2**62]
FLOATS = [-1.0, 0.0, 1e300, math.nan, math.inf, -math.inf]
BAD_INDEX = [-10**6, -1, 10**6, 2**40]


def _slots(sample) -> list:
    """Where a sample can be made hostile: ("arg", i) / ("kw", name) of ints, floats, int
    tuples and arrays."""
    out = []
    items = [(("arg", i), a) for i, a in enumerate(sample.args)] + \
        [(("kw", k), v) for k, v in sample.kwargs.items()]
    for where, v in items:
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float, np.ndarray)) or (
                isinstance(v, (tuple, list)) and v and all(
                    isinstance(e, int) and not isinstance(e, bool) for e in v)):
            out.append(where)
    return out


def _mutate(data, value):
    """``value`` made hostile, and a short description of how."""
    if isinstance(value, int):
        new = data.draw(st.sampled_from(INTS))
        return new, f"int {value}->{new}"
    if isinstance(value, float):
        new = data.draw(st.sampled_from(FLOATS))
        return new, f"float {value}->{new}"
    if isinstance(value, (tuple, list)):
        i = data.draw(st.integers(0, len(value) - 1))
        new = list(value)
        new[i] = data.draw(st.sampled_from(INTS))
        return type(value)(new), f"tuple {tuple(value)}->{tuple(new)}"
    arr = value
    kind = arr.dtype.kind
    choices = ["empty", "scalar"] if arr.ndim and arr.size else []
    if arr.size and kind in "iu":
        choices.append("index")
    if arr.size and (kind == "f" or arr.dtype.name == "bfloat16"):
        choices.append("nonfinite")
    if not choices:
        return arr, "unchanged"
    how = data.draw(st.sampled_from(choices))
    if how == "empty":
        return arr[:0], f"array {arr.shape}->empty"
    if how == "scalar":
        return arr.reshape(-1)[:1].reshape(()).copy(), f"array {arr.shape}->0-d"
    arr = arr.copy()
    pos = data.draw(st.integers(0, arr.size - 1))
    if how == "index":
        info = np.iinfo(arr.dtype)
        bad = [v for v in BAD_INDEX if info.min <= v <= info.max] or [int(info.max)]
        v = data.draw(st.sampled_from(bad))
    else:
        v = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    arr.reshape(-1)[pos] = v
    return arr, f"array {arr.shape}[{pos}]={v}"


def _run(op, lib, args, kwargs):
    try:
        return "ok", op.fn(lib, *[_convert(lib, a, False) for a in args], **kwargs)
    except Exception as exc:  # noqa: BLE001 -- the outcome is what is compared
        return "error", exc


def _builtin_base(exc: BaseException) -> type:
    for cls in type(exc).__mro__:
        if cls.__module__ == "builtins":
            return cls
    return Exception


def _disagreement(op, dt: str, theirs, ours) -> str | None:
    """None when ember's outcome matches torch's, else what differs."""
    if theirs[0] == "error" or ours[0] == "error":
        if theirs[0] != ours[0]:
            side = "torch" if theirs[0] == "error" else "ember"
            exc = theirs[1] if side == "torch" else ours[1]
            return f"only {side} raises {type(exc).__name__}: {str(exc)[:120]}"
        base = _builtin_base(theirs[1])
        if not isinstance(ours[1], base):
            return (f"torch raises {type(theirs[1]).__name__} ({str(theirs[1])[:80]}), ember "
                    f"{type(ours[1]).__name__} ({str(ours[1])[:80]})")
        return None
    exp, act = _flat(theirs[1]), _flat(ours[1])
    if len(exp) != len(act):
        return f"{len(act)} outputs, torch {len(exp)}"
    atol, rtol = harness.tolerance(dt, op)
    for e, a in zip(exp, act):
        if not isinstance(e, torch.Tensor):
            continue
        if not isinstance(a, ember.Tensor) or tuple(a.shape) != tuple(e.shape) or \
                _dtype_name(a) != _dtype_name(e):
            return f"result {getattr(a, 'shape', a)} {getattr(a, 'dtype', '')}, torch " \
                   f"{tuple(e.shape)} {e.dtype}"
        if op.nondeterministic_values:
            continue
        x, y = _to_numpy(a), _to_numpy(e)
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            close = np.allclose(x.astype(np.complex128), y.astype(np.complex128),
                                atol=max(atol, 1e-4), rtol=max(rtol, 1e-3), equal_nan=True)
        else:
            close = np.array_equal(x, y)
        if not close:
            return "values differ"
    return None


def _campaign(op, dt: str, samples: list, examples: int, record) -> None:
    """Run ``examples`` hostile variants of ``op``'s samples; ``record(case, why)`` each."""

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.data())
    def campaign(data):
        sample = samples[data.draw(st.integers(0, len(samples) - 1))]
        slots = _slots(sample)
        args, kwargs, how = list(sample.args), dict(sample.kwargs), "as is"
        if slots:
            kind, key = data.draw(st.sampled_from(slots))
            target = args if kind == "arg" else kwargs
            target[key], how = _mutate(data, target[key])
        case = f"{op.name} [{dt}] {how}"
        print("RUN", case, flush=True)
        theirs = _run(op, torch, args, kwargs)
        ours = _run(op, ember, args, kwargs)
        record(case, _disagreement(op, dt, theirs, ours))

    campaign()


def main(shard: int, n_shards: int, examples: int) -> None:
    ops = OPS[shard::n_shards]
    cases, mismatches = [], []

    def record(case: str, why: str | None) -> None:
        cases.append(case)
        if why is not None:
            mismatches.append({"case": case, "why": why})

    for op in ops:
        dt = "float32" if "float32" in op.dtypes else op.dtypes[0]
        try:
            samples = op.samples(dt, np.random.default_rng(0))
        except Exception:  # noqa: BLE001 -- an entry without samples in this dtype
            continue
        if samples:
            _campaign(op, dt, samples, examples, record)
    print("RESULT " + json.dumps({"ops": len(ops), "cases": len(cases),
                                  "mismatches": mismatches}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
