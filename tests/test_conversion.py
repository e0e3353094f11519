"""Leaving the tensor world and moving between devices, against torch: ``item``, ``tolist``,
``numpy``, the Python number protocols, ``cpu``/``to(device)`` and the device-selection
idioms of PyTorch scripts, ``detach_``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int8", "uint8",
          "bool"]
VALUES = [[[1.5, -2.0, 0.0], [3.25, 7.0, -0.5]], [[1.0]], 2.5, []]


def _pair(value, dtype):
    if dtype == "uint8":  # torch refuses negative numbers for uint8
        value = np.abs(np.array(value)).tolist()
    return (ember.tensor(value, dtype=getattr(ember, dtype)),
            torch.tensor(value, dtype=getattr(torch, dtype)))


def _typed(obj):
    """A nested list/number with each number's Python type kept, for exact comparison."""
    if isinstance(obj, list):
        return [_typed(o) for o in obj]
    return (type(obj).__name__, obj)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", VALUES, ids=["2-d", "1x1", "0-d", "empty"])
def test_tolist_and_item_match_torch(value, dtype):
    e, t = _pair(value, dtype)
    assert _typed(e.tolist()) == _typed(t.tolist())
    if t.numel() == 1:
        assert _typed(e.item()) == _typed(t.item())
        for convert in (float, int, bool):
            assert convert(e) == convert(t)
    else:
        for x in (e, t):
            with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
                x.item()


def test_numpy_shares_memory_and_refuses_tensors_that_require_grad():
    for lib in (ember, torch):
        x = lib.zeros(3)
        arr = x.numpy()
        arr[1] = 5.0
        x.add_(1.0)
        np.testing.assert_array_equal(arr, [1.0, 6.0, 1.0])
        w = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires "
                                               "grad"):
            w.numpy()
        view = w.detach().numpy()
        view[0] = 3.0
        assert w[0].item() == 3.0
        np.testing.assert_array_equal(w.numpy(force=True), [3.0, 1.0])


def test_cpu_and_to_cpu_return_the_tensor_itself():
    for lib in (ember, torch):
        x = lib.ones(2, requires_grad=True)
        assert x.cpu() is x
        assert x.to("cpu") is x and x.to(lib.device("cpu")) is x and x.to(x.device) is x
        assert x.to("cpu", copy=True) is not x
        y = x.to("cpu", lib.float64)
        assert y.dtype == lib.float64 and y.device.type == "cpu" and y.grad_fn is not None


def test_to_another_device_raises_like_torch():
    for lib in (ember, torch):
        with pytest.raises((AssertionError, RuntimeError)) as info:
            lib.ones(2).to("cuda")
        assert type(info.value) is AssertionError  # torch's CPU build: "not compiled with CUDA"
    with pytest.raises(AssertionError, match="CPU"):
        ember.ones(2).to("cuda:0")


def test_device_selection_idioms_of_pytorch_scripts_run():
    def script(lib):
        device = lib.device("cuda" if lib.cuda.is_available() else "cpu")
        if lib.backends.mps.is_available():
            device = lib.device("mps")
        if lib.accelerator.is_available():
            device = lib.accelerator.current_accelerator()
        x = lib.arange(6.0).reshape(2, 3).to(device)
        w = lib.ones(3, 1, device=device, requires_grad=True)
        loss = (x @ w).sum()
        loss.backward()
        return str(device), loss.item(), w.grad.cpu().numpy().ravel().tolist(), x.device.type
    assert script(ember) == script(torch)


def test_detach_inplace_on_leaf_and_non_leaf():
    for lib in (ember, torch):
        x = lib.ones(2, requires_grad=True)
        y = x * 2
        assert y.detach_() is y
        assert not y.requires_grad and y.grad_fn is None and y.is_leaf
        v = (x * 2)[:1]  # a view of a tensor that requires grad
        with pytest.raises(RuntimeError, match="Can't detach views in-place"):
            v.detach_()


def test_contains_and_reversed_like_torch():
    def run(lib):
        t = lib.tensor([[1, 2], [3, 4]])
        return (3 in t, 7 in t, lib.tensor(2) in t, 2.0 in t,
                reversed(lib.arange(3)).tolist(), reversed(lib.tensor(5)).tolist(),
                [r.tolist() for r in reversed(t)])
    assert run(ember) == run(torch)
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match="only supports Tensor or scalar"):
            _ = "a" in lib.ones(2)
