"""``__torch_function__`` on Tensor subclasses and tensor-like types, against torch: the
same class definitions run on both libraries and must log the same functions, keep the
same result types and give the same gradients."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
from ember import _torch_function


@pytest.fixture(autouse=True, scope="module")
def _unwrap_afterwards():
    """The protocol stays on once a subclass exists; later test modules get ember back
    as a program without subclasses sees it."""
    yield
    _torch_function.deactivate()


def _logging_class(lib):
    """torch docs' LoggingTensor, defined on ``lib``; returns (class, log)."""
    log = []

    class LoggingTensor(lib.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            log.append(func.__name__)
            return super().__torch_function__(func, types, args, kwargs or {})

    return LoggingTensor, log


def _calls(lib, x, y):
    F = lib.nn.functional
    return [x + 1, lib.add(x, 1), x.sum(), F.relu(x), lib.cat([x, y]), x[1:], 2 * x,
            x * y, x @ y, -x, x.view(3, 1), x.t(), x.mean(dim=0), x > 0]


@pytest.mark.parametrize("pick", ["names", "types"])
def test_logging_tensor_matches_torch(pick):
    out = {}
    for lib in (torch, ember):
        cls, log = _logging_class(lib)
        a = np.array([1.0, -2.0, 3.0], dtype=np.float32)
        x = lib.tensor(a).as_subclass(cls)
        y = lib.tensor(a * 2).as_subclass(cls)
        log.clear()
        results = _calls(lib, x, y)
        out[lib] = (list(log), [type(r).__name__ for r in results],
                    [r.detach().numpy() for r in results])
    if pick == "names":
        assert out[ember][0] == out[torch][0]
    else:
        assert out[ember][1] == out[torch][1]
        for e, t in zip(out[ember][2], out[torch][2]):
            np.testing.assert_allclose(e, t, rtol=1e-6)


def _plain_subclass(lib):
    class MyTensor(lib.Tensor):
        pass
    return MyTensor


def test_plain_subclass_results_and_grads_match_torch():
    got = {}
    for lib in (torch, ember):
        cls = _plain_subclass(lib)
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        w = x.as_subclass(cls)
        y = (w * w).sum() + lib.nn.functional.relu(w).mean()
        y.backward()
        got[lib] = (type(w).__name__, type(y).__name__, x.grad.numpy(), type(x.grad).__name__)
    assert got[ember][:2] == got[torch][:2] == ("MyTensor", "MyTensor")
    assert got[ember][3] == got[torch][3]
    np.testing.assert_allclose(got[ember][2], got[torch][2], rtol=1e-6)


def _make_subclass_class(lib):
    """The ``__new__`` pattern of libraries (as ``nn.Parameter`` is written)."""
    class Weight(lib.Tensor):
        def __new__(cls, data, requires_grad=True):
            return lib.Tensor._make_subclass(cls, data, requires_grad)
    return Weight


def test_make_subclass_leaf_gets_torch_gradient():
    got = {}
    for lib in (torch, ember):
        cls = _make_subclass_class(lib)
        w = cls(lib.tensor([1.0, 2.0, 3.0]))
        loss = (w.exp() * lib.tensor([1.0, 0.5, 0.25])).sum()
        loss.backward()
        got[lib] = (type(w).__name__, w.is_leaf, w.requires_grad, type(loss).__name__,
                    w.grad.numpy())
    assert got[ember][:4] == got[torch][:4]
    np.testing.assert_allclose(got[ember][4], got[torch][4], rtol=1e-6)


def test_as_subclass_shares_data():
    cls = _plain_subclass(ember)
    base = ember.zeros(3)
    sub = base.as_subclass(cls)
    base.add_(2.0)
    np.testing.assert_array_equal(sub.numpy(), [2.0, 2.0, 2.0])
    sub[0] = 5.0
    assert base[0].item() == 5.0


def test_disable_subclass_gives_plain_tensors():
    for lib in (torch, ember):
        x = ember.ones(2) if lib is ember else torch.ones(2)
        sub = x.as_subclass(_plain_subclass(lib))
        with lib._C.DisableTorchFunctionSubclass():
            assert type(sub + 1) is lib.Tensor
        assert type(sub + 1) is not lib.Tensor


def test_parameter_results_stay_plain_with_a_subclass_defined():
    _plain_subclass(ember)
    p = ember.nn.Parameter(ember.ones(2))
    assert type(p * 2) is ember.Tensor


def _diagonal_class(lib):
    """torch docs' duck-typed DiagonalTensor: implements ``mean`` only."""
    handled = {}

    class DiagonalTensor:
        def __init__(self, n, value):
            self._n, self._value = n, value

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func not in handled or not all(issubclass(t, (lib.Tensor, cls))
                                               for t in types):
                return NotImplemented
            return handled[func](*args, **(kwargs or {}))

    handled[lib.mean] = lambda d: float(d._value) / d._n
    return DiagonalTensor


def test_duck_typed_tensor_like_matches_torch():
    _plain_subclass(ember)  # ember consults the protocol once a Tensor subclass exists
    for lib in (torch, ember):
        d = _diagonal_class(lib)(5, 2)
        assert lib.mean(d) == 0.4
        with pytest.raises(TypeError, match="all __torch_function__ handlers returned Not"):
            lib.sum(d)


def test_nn_modules_keep_the_subclass_as_torch():
    got = {}
    for lib in (torch, ember):
        lib.manual_seed(0)
        x = lib.ones(2, 3).as_subclass(_plain_subclass(lib))
        nn = lib.nn
        got[lib] = [type(m(x)).__name__ for m in
                    (nn.Linear(3, 4), nn.ReLU(), nn.LayerNorm(3), nn.Sequential(nn.Linear(3, 2),
                                                                           nn.GELU()))]
    assert got[ember] == got[torch]


def test_programs_without_subclasses_run_unwrapped_functions():
    """The no-subclass path costs nothing: ``Parameter`` and ``nn`` do not turn it on."""
    code = ("import ember; m = ember.nn.Linear(2, 2); m(ember.ones(1, 2)).sum().backward(); "
            "print(any(getattr(f, '_ember_tf_wrapped', False) for f in "
            "(ember.add, ember.Tensor.__add__, ember.nn.functional.relu)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
