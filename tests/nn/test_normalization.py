"""Normalization ops and modules against torch (values, gradients, running statistics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.nn._layers_compare import compare, gradchecks

R = np.random.default_rng(0)
X3, X4 = R.standard_normal((3, 4, 5)), R.standard_normal((3, 4, 2, 3))
W5, W4 = R.standard_normal(5), R.standard_normal(4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layer_and_rms_norm(dtype):
    compare(lambda L, x, w, b: L.nn.functional.layer_norm(x, (5,), w, b), [X3, W5, W5 + 1],
            dtype=dtype)
    compare(lambda L, x, w: L.nn.functional.layer_norm(x, (4, 5), w, eps=1e-3),
            [X3, R.standard_normal((4, 5))], dtype=dtype)
    compare(lambda L, x: L.nn.functional.layer_norm(x.mT, (4,)), [X3], dtype=dtype)
    compare(lambda L, x, w: L.nn.functional.rms_norm(x, (5,), w), [X3, W5], dtype=dtype)
    compare(lambda L, x: L.nn.functional.rms_norm(x, (4, 5), eps=1e-3), [X3], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_group_and_instance_norm(dtype):
    compare(lambda L, x, w, b: L.nn.functional.group_norm(x, 2, w, b), [X3, W4, W4], dtype=dtype)
    compare(lambda L, x: L.nn.functional.group_norm(x, 4), [X4], dtype=dtype)
    compare(lambda L, x, w, b: L.nn.functional.instance_norm(x, weight=w, bias=b),
            [X4, W4, W4], dtype=dtype)
    compare(lambda L, x: L.nn.functional.local_response_norm(x, 3), [X4], dtype=dtype)
    compare(lambda L, x: L.nn.functional.local_response_norm(x, 2, 0.1, 0.5, 2.0), [X3],
            dtype=dtype)


@pytest.mark.parametrize("momentum", [0.3, None])
def test_batch_norm_functional_and_running_stats(momentum):
    stats = {lib: (lib.zeros(4, dtype=lib.float64), lib.ones(4, dtype=lib.float64))
             for lib in (torch, ember)}
    m = 0.3 if momentum is None else momentum
    compare(lambda L, x, w, b: L.nn.functional.batch_norm(x, *stats[L], w, b, True, m),
            [X4, W4, W4])
    compare(lambda L, x, w, b: L.nn.functional.batch_norm(x, *stats[L], w, b, False), [X3, W4, W4])
    for e, t in zip(stats[ember], stats[torch]):
        np.testing.assert_allclose(e._data, t.numpy(), rtol=1e-12)
    compare(lambda L, x: L.nn.functional.batch_norm(x, None, None, training=True), [X3[:, :, 0]])


@pytest.mark.parametrize("fn", [
    lambda L, x, w: L.nn.functional.layer_norm(x, (4,), w, w),
    lambda L, x, w: L.nn.functional.rms_norm(x, (4,), w),
    lambda L, x, w: L.nn.functional.batch_norm(x.transpose(1, 2), None, None, w, w, True),
    lambda L, x, w: L.nn.functional.group_norm(x.transpose(1, 2), 2, w, w),
])
def test_norm_gradcheck(fn):
    gradchecks(fn, [R.standard_normal((2, 3, 4)), R.standard_normal(4)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,args,kw,shape", [
    ("BatchNorm1d", (4,), dict(), (3, 4)),
    ("BatchNorm1d", (4,), dict(momentum=None), (3, 4, 5)),
    ("BatchNorm2d", (4,), dict(affine=False), (3, 4, 2, 3)),
    ("BatchNorm2d", (4,), dict(bias=False), (3, 4, 2, 3)),
    ("GroupNorm", (2, 4), dict(bias=False), (3, 4, 2, 3)),
    ("BatchNorm2d", (4,), dict(track_running_stats=False), (3, 4, 2, 3)),
    ("LayerNorm", ((2, 3),), dict(), (3, 4, 2, 3)),
    ("LayerNorm", (3,), dict(bias=False, eps=1e-3), (3, 4, 2, 3)),
    ("LayerNorm", (3,), dict(elementwise_affine=False), (3, 4, 2, 3)),
    ("GroupNorm", (2, 4), dict(), (3, 4, 2, 3)),
    ("RMSNorm", (3,), dict(), (3, 4, 2, 3)),
    ("InstanceNorm2d", (4,), dict(affine=True, track_running_stats=True), (3, 4, 2, 3)),
    ("InstanceNorm1d", (4,), dict(), (4, 5)),
    ("LocalResponseNorm", (3,), dict(), (3, 4, 2, 3)),
])
def test_modules_train_and_eval(name, args, kw, shape, dtype):
    tm = getattr(torch.nn, name)(*args, **kw).to(getattr(torch, dtype))
    em = getattr(ember.nn, name)(*args, **kw).to(getattr(ember, dtype))
    assert repr(em) == repr(tm)
    for _ in range(2):  # two training steps: running stats and num_batches_tracked
        compare(lambda L, x: (tm if L is torch else em)(x), [R.standard_normal(shape)],
                dtype=dtype, modules=(tm, em))
    for (n, t), (_, e) in zip(sorted(tm.named_buffers()), sorted(em.named_buffers())):
        np.testing.assert_allclose(e._data, t.numpy(), rtol=1e-5, err_msg=n)
    tm.eval()
    em.eval()
    compare(lambda L, x: (tm if L is torch else em)(x), [R.standard_normal(shape)], dtype=dtype,
            modules=(tm, em))


def test_errors():
    for call, exc in [
        (lambda L: L.nn.functional.layer_norm(L.zeros(2, 3), (4,)), RuntimeError),
        (lambda L: L.nn.functional.group_norm(L.zeros(2, 3, 4), 2), RuntimeError),
        (lambda L: L.nn.functional.batch_norm(L.zeros(1, 3), None, None, training=True),
         ValueError),
        (lambda L: L.nn.BatchNorm2d(3)(L.zeros(2, 3, 4)), ValueError),
    ]:
        with pytest.raises(exc):
            call(torch)
        with pytest.raises(exc):
            call(ember)
