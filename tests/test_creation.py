"""Factory functions against torch: values, dtypes, shapes, memory sharing, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember


def _same(e, t, exact=True):
    assert isinstance(e, ember.Tensor)
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    ev = e._data.astype(np.float64) if e.dtype is ember.bfloat16 else e._data
    tv = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
    if exact:
        np.testing.assert_array_equal(ev, tv)
    else:
        np.testing.assert_allclose(ev, tv, rtol=1e-6, atol=1e-7)


def _call_both(fn):
    """Run ``fn(lib)`` for torch and ember: same result, or the same exception type."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = fn(torch)
        except Exception as exc:  # torch rejects it: so must ember
            with pytest.raises(type(exc)):
                fn(ember)
            return None, None
        return fn(ember), expected


TENSOR_DATA = [
    [1, 2, 3], [1.0, 2], [True, False], [True, 1], [1 + 2j, 1], [[1, 2], [3, 4]], [],
    [[], []], 3, 2.5, True, [[1.5]], (1, 2), [(1, 2), (3, 4)], [np.float64(1), 1.0],
    [np.int32(1), np.uint8(2)], [np.int32(1), 2.5], [np.float16(1), 2], np.float32(2),
    np.bool_(True), np.array([[1, 2], [3, 4]], dtype=np.int16), np.arange(6.0).reshape(2, 3).T,
    [np.array([1, 2], dtype=np.int8), np.array([3, 4], dtype=np.int8)], range(4),
    [[1, 2, 3], [1, 2]], [[1, 2, 3], 1], [1, [1, 2]], [None], "a", 2 ** 63, [2 ** 64],
    [[[1.0, 2.0]], [[3.0, 4.0]]], [1e300, 1.0], [float("nan"), float("inf")],
]


@pytest.mark.parametrize("data", TENSOR_DATA, ids=lambda d: repr(d)[:40])
def test_tensor_inference(data):
    e, t = _call_both(lambda L: L.tensor(data))
    if t is not None:
        _same(e, t)


@pytest.mark.parametrize("data", [[1.7, -1.7], [1, 2], [True, False], [0.1, 1e-8],
                                  np.array([1.5, 2.5]), [float("nan")], [300, -1]])
@pytest.mark.parametrize("dtype", ["int32", "uint8", "float16", "bfloat16", "float64", "bool",
                                   "int64", "complex64"])
def test_tensor_with_dtype(data, dtype):
    e, t = _call_both(lambda L: L.tensor(data, dtype=getattr(L, dtype)))
    if t is not None:
        _same(e, t)


def test_tensor_of_zero_dim_tensors_and_tensor_copy():
    _same(ember.tensor([ember.tensor(1.0, dtype=ember.float64), 2]),
          torch.tensor([torch.tensor(1.0, dtype=torch.float64), 2]))
    src = ember.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match="detach"):
        copy = ember.tensor(src)
    assert not copy.requires_grad and copy._data is not src._data
    _same(ember.tensor([ember.tensor(1, dtype=ember.int32), 2]),
          torch.tensor([torch.tensor(1, dtype=torch.int32), 2]))
    with pytest.raises(ValueError, match="only one element tensors"):
        ember.tensor([ember.ones(2), ember.zeros(2)])


def test_ragged_message():
    with pytest.raises(ValueError, match=r"expected sequence of length 3 at dim 1 \(got 2\)"):
        ember.tensor([[1, 2, 3], [1, 2]])


def test_default_dtype_follows_setting():
    try:
        for lib in (torch, ember):
            lib.set_default_dtype(lib.float64)
        for fn in (lambda L: L.tensor([1.0]), lambda L: L.tensor([1j]), lambda L: L.arange(0.5, 2),
                   lambda L: L.zeros(2), lambda L: L.full((2,), 1.5), lambda L: L.linspace(0, 1, 3),
                   lambda L: L.tensor([1, 2]) * 1.5):
            e, t = _call_both(fn)
            _same(e, t)
    finally:
        torch.set_default_dtype(torch.float32)
        ember.set_default_dtype(ember.float32)


def test_requires_grad_flag():
    assert ember.tensor([1.0], requires_grad=True).requires_grad
    assert ember.zeros(2, requires_grad=True).is_leaf
    with pytest.raises(RuntimeError):
        ember.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError):
        ember.zeros(2, dtype=ember.int64, requires_grad=True)


def test_as_tensor_and_from_numpy_share_memory():
    arr = np.arange(4.0)
    for make in (ember.as_tensor, ember.from_numpy, ember.asarray):
        t = make(arr)
        arr[0] = 10.0
        assert t.tolist()[0] == 10.0
        arr[0] = 0.0
    t = ember.tensor([1.0, 2.0])
    assert ember.as_tensor(t) is t
    assert ember.asarray(t) is t
    assert ember.as_tensor(arr, dtype=ember.float32)._data is not arr
    assert ember.asarray(arr, copy=True)._data is not arr
    with pytest.raises(ValueError):
        ember.asarray(arr, dtype=ember.float32, copy=False)
    _same(ember.as_tensor([1, 2]), torch.as_tensor([1, 2]))
    _same(ember.asarray([1.5, 2]), torch.asarray([1.5, 2]))
    _same(ember.asarray(ember.ones(2), dtype=ember.int64),
          torch.asarray(torch.ones(2), dtype=torch.int64))


@pytest.mark.parametrize("arr", [np.array(["a"]), np.arange(3, dtype=">i4"), [1],
                                 np.arange(3, dtype=np.uint32)])
def test_from_numpy_errors(arr):
    with pytest.raises((TypeError, ValueError)) as exc:
        ember.from_numpy(arr)
    if not (isinstance(arr, np.ndarray) and arr.dtype == np.uint32):  # torch has uint32
        with pytest.raises(exc.type):
            torch.from_numpy(arr)


FILLED = [
    lambda L: L.zeros(2, 3), lambda L: L.zeros((2, 3)), lambda L: L.zeros([2, 3]),
    lambda L: L.zeros(L.Size([2, 3])), lambda L: L.ones(size=(2,)), lambda L: L.ones(()),
    lambda L: L.zeros(0, 3), lambda L: L.ones(2, dtype=L.int32), lambda L: L.zeros(np.int64(2)),
    lambda L: L.zeros(L.tensor(2)), lambda L: L.zeros(), lambda L: L.zeros(2, -1),
    lambda L: L.ones(2, -1), lambda L: L.zeros(2.5), lambda L: L.zeros(2, 3.0),
    lambda L: L.zeros("a"), lambda L: L.zeros((2,), 3), lambda L: L.empty(2, 3).shape,
    lambda L: L.full((2,), 1), lambda L: L.full((2,), True), lambda L: L.full((2,), 1.5),
    lambda L: L.full((2,), 1j), lambda L: L.full(2, 1.0), lambda L: L.full((), 3),
    lambda L: L.full([2], L.tensor(3)), lambda L: L.full([2], np.float64(3)),
    lambda L: L.full((2, 2), 2.7, dtype=L.int32), lambda L: L.full((2, -1), 1),
    lambda L: L.zeros_like(L.ones(2, 3, dtype=L.int32)), lambda L: L.ones_like(L.ones(2)),
    lambda L: L.ones_like(L.ones(2), dtype=L.int64), lambda L: L.full_like(
        L.ones(2, dtype=L.int32), 2.7), lambda L: L.full_like(L.ones(2), 7),
    lambda L: L.empty_like(L.ones(2, 3)).shape, lambda L: L.zeros_like(L.ones(2, 3).t()).stride(),
    lambda L: L.empty_like(L.ones(2, 3).t()).stride(),
    lambda L: L.zeros(2, dtype=L.float64, out=L.empty(2)),
    lambda L: L.zeros(3, out=L.empty(2, dtype=L.int32)),
    lambda L: L.eye(3), lambda L: L.eye(2, 3), lambda L: L.eye(-1), lambda L: L.eye(2, -1),
    lambda L: L.eye(2, dtype=L.bool), lambda L: L.eye(0),
    lambda L: L.empty_strided((2, 3), (1, 2)).stride(),
    lambda L: L.empty_strided((2, 3), (1, 2)).is_contiguous(),
    lambda L: L.empty_strided((2, 0), (1, 2)).shape,
    lambda L: L.scalar_tensor(3), lambda L: L.scalar_tensor(True),
    lambda L: L.scalar_tensor(2, dtype=L.int64),
]


@pytest.mark.parametrize("i", range(len(FILLED)))
def test_filled(i):
    e, t = _call_both(FILLED[i])
    if isinstance(t, torch.Tensor):
        _same(e, t)
    elif t is not None:
        assert tuple(e) == tuple(t) if isinstance(t, tuple) else e == t


RANGES = [
    lambda L: L.arange(5), lambda L: L.arange(0, 1, 0.1), lambda L: L.arange(1.0, 4),
    lambda L: L.arange(0, 10, 3), lambda L: L.arange(10, 0, -3), lambda L: L.arange(0, 1, 0),
    lambda L: L.arange(0, 10, -1), lambda L: L.arange(0.0, 0.3, 0.1),
    lambda L: L.arange(5, dtype=L.float64), lambda L: L.arange(0.5, 3, dtype=L.int64),
    lambda L: L.arange(L.tensor(3)), lambda L: L.arange(np.int32(4)), lambda L: L.arange(3, 1),
    lambda L: L.arange(float("inf")), lambda L: L.arange(0, 5, 1.5, dtype=L.int32),
    lambda L: L.arange(-3.7, 5.1, 0.3), lambda L: L.arange(-3.7, 5.1, 0.3, dtype=L.float64),
    lambda L: L.arange(1, 2.5, 0.25, dtype=L.float16), lambda L: L.arange(3, 3),
    lambda L: L.arange(0, 100, 7, dtype=L.uint8), lambda L: L.arange(10, out=L.empty(3)),
    lambda L: L.arange(2, 10, dtype=L.bfloat16),
    lambda L: L.linspace(0, 1, 5), lambda L: L.linspace(0, 10, 5, dtype=L.int64),
    lambda L: L.linspace(0, 1, 1), lambda L: L.linspace(0, 1, 0), lambda L: L.linspace(0, 1, -1),
    lambda L: L.linspace(L.tensor(0.0), L.tensor(1.0), 3),
    lambda L: L.linspace(0, 1, 3, dtype=L.int32), lambda L: L.linspace(-3.3, 7.9, 17),
    lambda L: L.linspace(-3.3, 7.9, 17, dtype=L.float64), lambda L: L.linspace(1, -1, 9),
    lambda L: L.linspace(0, 1, 7, dtype=L.float16), lambda L: L.linspace(-5, 12, 8, dtype=L.int16),
    lambda L: L.logspace(0, 2, 3), lambda L: L.logspace(0, 2, 3, base=2),
    lambda L: L.logspace(0, 3, 4, dtype=L.int64), lambda L: L.logspace(-2, 2, 9),
    lambda L: L.logspace(-1, 1, 5, dtype=L.float64, base=3.0),
]


@pytest.mark.parametrize("i", range(len(RANGES)))
def test_ranges(i):
    e, t = _call_both(RANGES[i])
    if t is not None:
        _same(e, t, exact=t.dtype not in (torch.float32, torch.float64))


def test_range_deprecated():
    with pytest.warns(UserWarning, match="deprecated"):
        e = ember.range(0, 1, 0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same(e, torch.range(0, 1, 0.25))
        _same(ember.range(0, 3), torch.range(0, 3))


NEW = [
    lambda L: L.ones(2, dtype=L.int32).new_tensor([1.0, 2.7]),
    lambda L: L.ones(2, dtype=L.int32).new_zeros(3), lambda L: L.ones(2).new_zeros((3, 2)),
    lambda L: L.ones(2, dtype=L.int32).new_full((2,), 1.7),
    lambda L: L.ones(2, dtype=L.int32).new_ones(2, 3), lambda L: L.ones(2).new_empty(0).shape,
    lambda L: L.ones(2).new_ones(2, dtype=L.float64),
    lambda L: L.ones(2, dtype=L.float64).new_empty_strided((2, 2), (1, 2)).stride(),
]


@pytest.mark.parametrize("i", range(len(NEW)))
def test_new_methods(i):
    e, t = _call_both(NEW[i])
    if isinstance(t, torch.Tensor):
        _same(e, t)
    else:
        assert tuple(e) == tuple(t)


def test_device_argument():
    assert ember.zeros(2, device="cpu").device == ember.device("cpu")
    assert ember.zeros(2, device=ember.device("cpu", 0)).shape == (2,)
    for lib, dev in ((torch, "cuda"), (ember, "cuda")):
        with pytest.raises(AssertionError):
            lib.zeros(2, device=dev)
    with pytest.raises(RuntimeError):
        ember.zeros(2, device="mps")


def test_out_argument_resizes():
    out = ember.empty(0)
    e = ember.arange(4.0, out=out)
    assert e is out
    _same(e, torch.arange(4.0, out=torch.empty(0)))


def test_factories_go_through_the_dispatcher():
    """Modes (profiler, tracer, FlopCounter) see factory calls, as torch's see aten::ones."""
    seen = []

    class Recorder(ember._dispatch.DispatchMode):
        def __ember_dispatch__(self, op, args, kwargs):
            seen.append(op.name)
            return op.apply(*args, **kwargs)

    with Recorder():
        ones, normal = ember.ones(2), ember.randn(3, requires_grad=True)
    assert seen == ["ones", "randn"]
    assert ones.tolist() == [1.0, 1.0] and normal.shape == (3,) and normal.requires_grad


def test_is_inference():
    x = ember.ones(2)
    with ember.inference_mode():
        y, z = ember.zeros(2), x * 2
    assert [t.is_inference() for t in (x, y, z)] == [False, True, True]
    with torch.inference_mode():
        assert torch.zeros(2).is_inference()


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 3), (3, 0), (1, 0, 1)])
def test_empty_tensors_have_torchs_contiguous_strides(shape):
    assert ember.zeros(*shape).stride() == torch.zeros(*shape).stride()
    assert ember.empty(*shape).is_contiguous()
