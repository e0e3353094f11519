"""Every ONNX lowering against onnxruntime on the op table's own samples: each op that
``ember.onnx.export`` lowers is exported alone on up to two of the op-level calls that
the conformance entries make (``tests/op_samples.py``), checked with ``full_check`` and
run in onnxruntime; outputs equal the op's eager result (1e-5). Ops without a lowering
are refused with ``UnsupportedOperatorError`` naming ``aten::<op>``."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import ember  # noqa: E402
from ember._dispatch import OPS, dispatch  # noqa: E402
from ember._schema import parse  # noqa: E402
from ember.onnx._export import LOWERINGS  # noqa: E402  (also registers the RNN lowerings)


def _one_op(call):
    """(fn(*tensors), tensors) calling the op as recorded, tensors as the inputs."""
    layout, tensors = [], []
    for a, spec in zip(call.args, parse(call.op.signature).arguments):
        if spec.is_tensor_list and isinstance(a, list):
            layout.append(("list", len(a)))
            tensors.extend(a)
        elif spec.is_tensor and isinstance(a, np.ndarray):
            layout.append(("t", None))
            tensors.append(a)
        else:
            layout.append(("v", a))

    def fn(*ts):
        it = iter(ts)
        args = [next(it) if k == "t" else [next(it) for _ in range(v)] if k == "list" else v
                for k, v in layout]
        return dispatch(call.op, *args, **call.kwargs)
    return fn, [np.ascontiguousarray(t) for t in tensors]


def _exportable(arrays) -> bool:
    return all(a.dtype.kind != "c" and a.dtype.name not in ("float16", "bfloat16")
               for a in arrays)


def test_every_lowering_matches_onnxruntime():
    from tests.op_samples import record
    calls = record()
    checked, failures = {}, []
    for name in sorted(set(LOWERINGS) & set(OPS)):
        for call in calls.get(name, []):
            if call.inplace or "backward" in call.source or checked.get(name, 0) >= 2:
                continue
            fn, arrays = _one_op(call)
            if not _exportable(arrays):
                continue
            inputs = tuple(ember.from_numpy(a.copy()) for a in arrays)
            try:
                with ember.no_grad():
                    want = fn(*inputs)
            except Exception:  # noqa: BLE001  (error-parity samples)
                continue
            want = [w.numpy() for w in (want if isinstance(want, tuple) else (want,))]
            if not _exportable(want):
                continue
            try:
                proto = ember.onnx.export(fn, inputs)
            except ember.onnx.UnsupportedOperatorError as e:  # refused, with the op's name
                assert f"aten::{call.op.aten}" in str(e)
                continue
            try:
                onnx.checker.check_model(proto, full_check=True)
                sess = ort.InferenceSession(proto.SerializeToString(),
                                            providers=["CPUExecutionProvider"])
                got = sess.run(None, {i.name: a for i, a in zip(sess.get_inputs(), arrays)})
                for g, w in zip(got, want):
                    assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape,
                                                                       w.dtype)
                    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
                checked[name] = checked.get(name, 0) + 1
            except Exception as e:  # noqa: BLE001  (collected, reported together)
                failures.append(f"{name} [{call.source}]: {type(e).__name__}: {str(e)[:200]}")
    assert not failures, "\n".join(failures)
    print(f"\nONNX lowerings checked in onnxruntime: {len(checked)} ops, "
          f"{sum(checked.values())} samples")
    assert len(checked) >= 120


def test_op_without_lowering_is_refused_by_name():
    x = ember.randn(4, 5)
    with pytest.raises(ember.onnx.UnsupportedOperatorError, match=r"aten::argsort.*test_onnx_ops"):
        ember.onnx.export(lambda t: t.argsort(dim=-1), (x,))
