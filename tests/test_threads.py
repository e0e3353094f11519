"""Grad mode, inference mode and dispatch modes are per thread, as in torch: a trainer
thread records graphs while serving threads run the same model under ``no_grad()`` /
``inference_mode()`` / a dispatch mode, and neither sees the other's switches."""

from __future__ import annotations

import threading
import time

import numpy as np

import ember
from ember._dispatch import DispatchMode

STEPS = 1000
RNG = np.random.default_rng(0)
X = RNG.standard_normal((32, 8)).astype(np.float32)
Y = RNG.standard_normal((32, 1)).astype(np.float32)


def _model():
    ember.manual_seed(0)
    return ember.nn.Sequential(ember.nn.Linear(8, 16), ember.nn.Tanh(), ember.nn.Linear(16, 1))


def _train(model, steps: int = STEPS) -> None:
    opt = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = ember.from_numpy(X), ember.from_numpy(Y)
    for _ in range(steps):
        opt.zero_grad()
        loss = ember.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()


def _state(model) -> list[np.ndarray]:
    return [a for p in model.parameters() for a in (p.detach().numpy().copy(), p.grad.numpy())]


class _OpCounter(DispatchMode):
    def __init__(self):
        self.ops = 0

    def __ember_dispatch__(self, op, args, kwargs):
        self.ops += 1
        return op.apply(*args, **kwargs)


def _ops_per_forward(model, x) -> int:
    with ember.no_grad(), _OpCounter() as counter:
        model(x)
    return counter.ops


def test_trainer_and_serving_threads_do_not_share_grad_mode():
    expected = _model()
    _train(expected)

    model = _model()
    x = ember.from_numpy(X[:4])
    forward_ops = _ops_per_forward(model, x)
    done = threading.Event()
    errors: list[BaseException] = []
    served = [0] * 6

    def serve(k: int, context) -> None:
        try:
            while not done.is_set():
                counter = _OpCounter() if k == 5 else None
                with context():
                    time.sleep(0)  # hand the GIL on while inside the mode: others run now
                    if counter is None:
                        out = model(x)
                    else:
                        with counter:
                            out = model(x)
                    assert not ember.is_grad_enabled()
                    assert not out.requires_grad and out.grad_fn is None
                    assert out.is_inference() == (context is ember.inference_mode)
                    # the mode saw this thread's forward only, never the trainer's ops
                    assert counter is None or counter.ops == forward_ops
                served[k] += 1
        except BaseException as e:  # noqa: BLE001 -- reported by the main thread
            errors.append(e)

    def train() -> None:
        try:
            _train(model)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            done.set()

    contexts = [ember.no_grad] * 4 + [ember.inference_mode, ember.no_grad]
    servers = [threading.Thread(target=serve, args=(k, c)) for k, c in enumerate(contexts)]
    trainer = threading.Thread(target=train)
    for t in servers + [trainer]:
        t.start()
    for t in [trainer] + servers:
        t.join()

    assert not errors, errors
    assert all(n > 0 for n in served), served
    for got, want in zip(_state(model), _state(expected)):
        np.testing.assert_array_equal(got, want)
    assert ember.is_grad_enabled() and not ember.is_inference_mode_enabled()
    from ember._state import ACTIVE, STATE
    assert STATE.modes == [] and ACTIVE.modes == 0 and ACTIVE.inference == 0


def _in_thread(fn):
    result = []
    t = threading.Thread(target=lambda: result.append(fn()))
    t.start()
    t.join()
    return result[0]


def test_new_thread_starts_with_grad_enabled_and_no_modes():
    def probe():
        w = ember.ones(2, requires_grad=True)
        return (ember.is_grad_enabled(), ember.is_inference_mode_enabled(),
                (w * 2).requires_grad)

    with ember.no_grad():
        assert _in_thread(probe) == (True, False, True)
        assert not ember.is_grad_enabled()
    with ember.inference_mode():
        assert _in_thread(probe) == (True, False, True)
    with _OpCounter() as counter:
        _in_thread(probe)
    assert counter.ops == 0
    ember.set_grad_enabled(False)
    try:
        assert _in_thread(probe) == (True, False, True)
    finally:
        ember.set_grad_enabled(True)


def test_grad_mode_set_in_a_thread_stays_there():
    def switch_off():
        ember.set_grad_enabled(False)
        return ember.is_grad_enabled()

    assert _in_thread(switch_off) is False
    assert ember.is_grad_enabled()


def test_anomaly_detection_is_process_wide_as_in_torch():
    import torch
    for lib in (ember, torch):
        with lib.autograd.set_detect_anomaly(True):
            assert _in_thread(lib.is_anomaly_enabled) is True
        assert _in_thread(lib.is_anomaly_enabled) is False
