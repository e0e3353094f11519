"""Custom differentiable functions: ``ember.autograd.Function``, as torch's.

A subclass defines ``forward(ctx, *args)`` (run on Tensors with grad mode off) and
``backward(ctx, *grads)``. ``apply`` goes through the dispatcher like every op, as one op
(dispatch modes see the call, not the ops inside forward), which records one graph node
for the whole forward. The ctx is that node: ``save_for_backward``, ``saved_tensors``,
``needs_input_grad``, ``mark_dirty``, ``mark_non_differentiable`` and
``set_materialize_grads`` work as in torch.
"""

from __future__ import annotations

import functools
from typing import Any

from .._dispatch import NULL_CTX, Op, dispatch
from .._state import STATE
from .._tensor import Tensor, _make

__all__ = ["Function", "once_differentiable", "FunctionCtx"]


class FunctionCtx:
    """The ctx a Function's forward sees when nothing is recorded (it may read back what
    it set, unlike an op's forward)."""

    _dirty = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def mark_non_differentiable(self, *outputs):
        pass

    def set_materialize_grads(self, value: bool):
        pass


class _FunctionOp(Op):
    """The op a Function subclass is to the dispatcher (one per subclass, ``fn``): forward
    on Tensors (``tensor_forward``), backward the Function's. Not an entry of ``OPS``."""

    abstract = True
    tensor_forward = True
    kind = "opaque"
    fn: type[Function]

    @classmethod
    def forward(cls, ctx, *args, **kwargs):
        if ctx is not NULL_CTX:
            return cls._run(ctx, args, kwargs)
        # Nothing recorded. The ctx still answers as torch's does, and an input returned
        # as-is comes back as a new alias (itself when marked dirty and not requiring grad).
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        out = cls._run(ctx, args, kwargs)
        outs = [_unrecorded_output(o, args, ctx._dirty)
                for o in (out if type(out) is tuple else (out,))]
        return tuple(outs) if type(out) is tuple else outs[0]

    @classmethod
    def _run(cls, ctx, args, kwargs):
        fn = cls.fn
        if fn._setup_context:
            out = fn.forward(*args, **kwargs)
            fn.setup_context(ctx, args, out)
            return out
        return fn.forward(ctx, *args, **kwargs)

    @classmethod
    def backward(cls, ctx, *grads):
        fn = cls.fn
        if fn.vjp is not Function.vjp and fn.backward is not Function.backward:
            raise RuntimeError("Implementing both 'backward' and 'vjp' for a custom Function "
                               "is not allowed. You should only implement one of them.")
        rule = fn.vjp if fn.vjp is not Function.vjp else fn.backward
        result = rule(ctx, *grads)
        got = len(result) if isinstance(result, tuple) else 1
        if got < len(ctx._layout):  # too many is fine when the extras are None (engine)
            raise RuntimeError(f"function {cls._backward_name} returned an incorrect number "
                               f"of gradients (expected {len(ctx._layout)}, got {got})")
        return result


def _unrecorded_output(o, args, dirty):
    if not (isinstance(o, Tensor) and any(o is a for a in args)):
        return o
    if any(o is d for d in dirty):
        o._vc[0] += 1  # torch counts marking dirty as a write of its own
        if not o._requires_grad:
            return o
    alias = _make(o._data)
    alias._vc = o._vc
    return alias


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_name = name + "Backward"
        cls.name = name
        cls._setup_context = any("setup_context" in klass.__dict__
                                 for klass in cls.__mro__[:-2])  # below Function, object
        cls._op = type(name, (_FunctionOp,), {"fn": cls, "name": name, "aten": name,
                                               "_backward_name": cls._backward_name})


class Function(metaclass=_FunctionMeta):
    """Base class of custom autograd functions; call them with ``MyFn.apply(*args)``."""

    @staticmethod
    def forward(ctx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode "
                                  "AD.")

    @staticmethod
    def vjp(ctx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode "
                                  "AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        return dispatch(cls._op, *args, **kwargs)


def once_differentiable(fn):
    """Decorate a backward that is not itself differentiable: it runs with grad off, and a
    double backward through it raises (torch's ``DelayedError`` node on its outputs)."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        from .grad_mode import no_grad
        with no_grad():
            outputs = fn(ctx, *args)
        if not (STATE.grad_enabled and
                any(isinstance(a, Tensor) and a._requires_grad for a in args)):
            return outputs
        outs = outputs if isinstance(outputs, tuple) else (outputs,)
        leaves = [o.detach().requires_grad_() if isinstance(o, Tensor) and o.is_floating_point()
                  else o for o in outs]
        result = DelayedError.apply(*leaves)
        return result if isinstance(outputs, tuple) else result[0]
    return wrapper


class DelayedError(Function):
    """Passes its inputs through; differentiating it raises (``once_differentiable``)."""

    @staticmethod
    def forward(ctx, *tensors):
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")
