"""Grad-mode switches: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

Each works as a context manager and as a decorator (of functions and generators), as
in torch, and acts on the calling thread only (``ember/_state.py``).
"""

from __future__ import annotations

import functools
import inspect

from .._state import STATE, count_inference

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled"]


def is_grad_enabled() -> bool:
    return STATE.grad_enabled


def is_inference_mode_enabled() -> bool:
    return STATE.inference


class _GradModeContext:
    """Base: sets grad mode on enter, restores the previous mode on exit."""

    _enabled = True
    _inference = None

    def __enter__(self):
        self._prev = (STATE.grad_enabled, STATE.inference)
        if self._inference:
            count_inference(1)
        STATE.grad_enabled = self._enabled
        if self._inference is not None:
            STATE.inference = self._inference
        return None

    def __exit__(self, *exc):
        STATE.grad_enabled, STATE.inference = self._prev
        if self._inference:
            count_inference(-1)
        return False

    def clone(self):
        return self.__class__()

    def __call__(self, fn):
        if inspect.isclass(fn):
            raise TypeError(f"{type(self).__name__} cannot decorate a class")
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args, **kwargs):
                gen = fn(*args, **kwargs)
                with self.clone():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self.clone():
                            gen.close()
                        raise
                    except BaseException as e:  # forward throw() into the generator
                        with self.clone():
                            response = gen.throw(e)
                    else:
                        try:
                            with self.clone():
                                response = gen.send(request)
                        except StopIteration as stop:
                            return stop.value
            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Ops inside record no graph; results don't require grad."""

    _enabled = False

    def __new__(cls, orig_func=None):
        self = super().__new__(cls)
        return self(orig_func) if callable(orig_func) else self


class enable_grad(_GradModeContext):
    """Re-enable recording inside a ``no_grad`` block."""

    _enabled = True

    def __new__(cls, orig_func=None):
        self = super().__new__(cls)
        return self(orig_func) if callable(orig_func) else self


class set_grad_enabled(_GradModeContext):
    """Set grad mode to ``mode``; takes effect immediately, also when not used with ``with``."""

    def __init__(self, mode: bool):
        self._prev = (STATE.grad_enabled, STATE.inference)
        self._enabled = bool(mode)
        STATE.grad_enabled = self._enabled

    def __enter__(self):
        STATE.grad_enabled = self._enabled

    def __call__(self, fn):
        # As a decorator the mode applies inside ``fn`` only: undo the switch __init__ made.
        STATE.grad_enabled = self._prev[0]
        return super().__call__(fn)

    def clone(self):
        return self.__class__(self._enabled)


class inference_mode(_GradModeContext):
    """Like ``no_grad``, for code that will never need gradients (``mode=False`` disables it)."""

    def __init__(self, mode: bool = True):
        self.mode = mode
        self._enabled = not mode if mode else STATE.grad_enabled
        self._inference = bool(mode)

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode):
            self.__init__(True)
            return self(mode)
        return self

    def __enter__(self):
        if not self.mode:
            self._enabled = STATE.grad_enabled
        return super().__enter__()

    def clone(self):
        return self.__class__(self.mode)
