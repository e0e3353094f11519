"""CPU autocast (``ember.autocast("cpu")``): its op lists name real ops of the op table, and
each listed op (and an unlisted one) returns the dtype and values torch's CPU autocast
returns, in bfloat16 and float16. (Constructors, warnings and the decorator are in
``test_devices.py``.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.amp.autocast_mode import FP32_OPS, LOWER_PRECISION_OPS
from ember.ops import all_ops

RNG = np.random.default_rng(0)


def test_every_listed_name_is_an_op_of_the_table():
    atens = {op.aten for op in all_ops().values()}
    assert LOWER_PRECISION_OPS <= atens, sorted(LOWER_PRECISION_OPS - atens)
    assert FP32_OPS <= atens, sorted(FP32_OPS - atens)
    assert not LOWER_PRECISION_OPS & FP32_OPS


def arrays(*shapes, dtype=np.float32):
    return [RNG.standard_normal(s).astype(dtype) for s in shapes]


def _target(lib):
    return lib.tensor([1, 0, 3])


# (name, function of (lib, *tensors), input shapes, input dtype)
CASES = [
    ("linear", lambda L, x, w, b: L.nn.functional.linear(x, w, b), [(3, 4), (5, 4), (5,)]),
    ("linear 3d", lambda L, x, w, b: L.nn.functional.linear(x, w, b), [(2, 3, 4), (5, 4), (5,)]),
    ("matmul", lambda L, a, b: a @ b, [(3, 4), (4, 5)]),
    ("bmm", lambda L, a, b: L.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    ("batched matmul", lambda L, a, b: L.matmul(a, b), [(2, 3, 4), (4, 5)]),
    ("addmm", lambda L, c, a, b: L.addmm(c, a, b), [(3, 5), (3, 4), (4, 5)]),
    ("einsum", lambda L, a, b: L.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)]),
    ("conv2d", lambda L, x, w, b: L.nn.functional.conv2d(x, w, b, padding=1),
     [(2, 3, 6, 6), (4, 3, 3, 3), (4,)]),
    ("conv1d", lambda L, x, w: L.nn.functional.conv1d(x, w), [(2, 3, 7), (4, 3, 3)]),
    ("conv_transpose2d", lambda L, x, w: L.nn.functional.conv_transpose2d(x, w, stride=2),
     [(2, 3, 4, 4), (3, 2, 3, 3)]),
    ("sdpa", lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(q, k, v),
     [(2, 2, 5, 4), (2, 2, 6, 4), (2, 2, 6, 4)]),
    # not listed: run in the inputs' dtype (float32 stays float32)
    ("softmax", lambda L, x: L.softmax(x, -1), [(3, 5)]),
    ("sum", lambda L, x: x.sum(1), [(3, 5)]),
    ("relu+add", lambda L, x, y: L.relu(x) + y, [(3, 5), (3, 5)]),
    # float32 list: lower-precision inputs are cast up
    ("mse_loss", lambda L, x, y: L.nn.functional.mse_loss(x.bfloat16(), y.bfloat16()),
     [(3, 5), (3, 5)]),
    ("cross_entropy", lambda L, x: L.nn.functional.cross_entropy(x.bfloat16(), _target(L)),
     [(3, 5)]),
    ("nll_loss", lambda L, x: L.nn.functional.nll_loss(x.half(), _target(L)), [(3, 5)]),
    ("prod", lambda L, x: x.bfloat16().prod(1), [(3, 5)]),
    # float64 inputs are not autocast
    ("matmul float64", lambda L, a, b: a.double() @ b.double(), [(3, 4), (4, 5)]),
]


def _run(lib, fn, inputs, dtype_name):
    tensors = [lib.tensor(a, requires_grad=True) for a in inputs]
    with lib.autocast("cpu", dtype=getattr(lib, dtype_name)):
        out = fn(lib, *tensors)
    out.float().sum().backward()
    return out, [t.grad for t in tensors]


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16"])
@pytest.mark.parametrize("name, fn, shapes", CASES, ids=[c[0] for c in CASES])
def test_autocast_matches_torch(name, fn, shapes, dtype_name):
    inputs = arrays(*shapes)
    out, grads = _run(ember, fn, inputs, dtype_name)
    tout, tgrads = _run(torch, fn, inputs, dtype_name)
    assert str(out.dtype).split(".")[-1] == str(tout.dtype).split(".")[-1]
    # both libraries round to the same low precision, at different points of the sums
    tol = dict(rtol=3e-2, atol=3e-2) if tout.dtype in (torch.bfloat16, torch.float16) or \
        name in ("mse_loss", "cross_entropy", "nll_loss", "prod") else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.float().detach().numpy(), tout.float().detach().numpy(),
                               **tol)
    for g, tg in zip(grads, tgrads):
        assert str(g.dtype).split(".")[-1] == str(tg.dtype).split(".")[-1]  # the leaves' dtype
        np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=5e-2, atol=5e-2)


def test_autocast_off_inside_and_after_the_region():
    a, b = (ember.tensor(x) for x in arrays((3, 4), (4, 5)))
    with ember.autocast("cpu"):
        assert (a @ b).dtype == ember.bfloat16
        with ember.autocast("cpu", enabled=False):
            assert (a @ b).dtype == ember.float32
    assert (a @ b).dtype == ember.float32


def _other_thread_sees(lib) -> tuple:
    """Inside an autocast region, what another thread gets: its own autocast state (off)."""
    import threading
    a, b = lib.ones(3, 4), lib.ones(4, 5)
    seen = []
    with lib.autocast("cpu"):
        t = threading.Thread(target=lambda: seen.append(
            (lib.is_autocast_enabled("cpu"), str((a @ b).dtype).split(".")[-1])))
        t.start()
        t.join()
        seen.append((lib.is_autocast_enabled("cpu"), str((a @ b).dtype).split(".")[-1]))
    return tuple(seen)


def test_autocast_state_is_per_thread_as_torch():
    assert _other_thread_sees(ember) == _other_thread_sees(torch) == (
        (False, "float32"), (True, "bfloat16"))
