"""Custom differentiable functions: ``ember.autograd.Function``, as torch's.

A subclass defines ``forward(ctx, *args)`` (run on Tensors with grad mode off) and
``backward(ctx, *grads)``; ``apply`` records one graph node for the whole forward. The
ctx is that node: ``save_for_backward``, ``saved_tensors``, ``needs_input_grad``,
``mark_dirty``, ``mark_non_differentiable`` and ``set_materialize_grads`` work as in torch.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .._dispatch import _edges_and_layout
from .._state import STATE
from .._tensor import Tensor, _make
from .graph import Node, _SavedOutput, gradient_edge

__all__ = ["Function", "once_differentiable", "FunctionCtx"]


class FunctionCtx:
    """The ctx a Function's forward sees when nothing is recorded."""

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_dirty(self, *tensors):
        pass

    def mark_non_differentiable(self, *outputs):
        pass

    def set_materialize_grads(self, value: bool):
        pass


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_name = name + "Backward"
        cls.name = name


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

    vjp = backward

    @classmethod
    def _run_forward(cls, ctx, args, kwargs):
        if "setup_context" in _own_attrs(cls):
            out = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, out)
            return out
        return cls.forward(ctx, *args, **kwargs)

    @classmethod
    def apply(cls, *args, **kwargs):
        tensors = [a for a in args if isinstance(a, Tensor)]
        prev = STATE.grad_enabled
        if not (prev and any(t._requires_grad for t in tensors)):
            STATE.grad_enabled = False
            try:
                return cls._run_forward(FunctionCtx(), args, kwargs)
            finally:
                STATE.grad_enabled = prev
        node = Node(_UserOp(cls))
        node.next_functions = tuple(gradient_edge(t) for t in tensors)
        node._in_meta = tuple((t._data.shape, t._data.dtype) for t in tensors)
        node._layout = tuple(-1 if isinstance(a, Tensor) else None for a in args)
        node._positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        node.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        STATE.grad_enabled = False
        try:
            out = cls._run_forward(node, args, kwargs)
        finally:
            STATE.grad_enabled = prev
        return _wrap_outputs(node, args, out)


def _own_attrs(cls) -> set:
    attrs = set()
    for klass in cls.__mro__:
        if klass is Function:
            break
        attrs.update(klass.__dict__)
    return attrs


class _UserOp:
    """Adapts a Function subclass to the engine's op interface."""

    __slots__ = ("fn", "_backward_name", "name")

    def __init__(self, fn):
        self.fn = fn
        self._backward_name = fn._backward_name
        self.name = fn.__name__

    def backward(self, ctx, *grads):
        result = self.fn.backward(ctx, *grads)
        got = len(result) if isinstance(result, tuple) else 1
        if got < len(ctx._layout):  # too many is fine when the extras are None (engine)
            raise RuntimeError(f"function {self._backward_name} returned an incorrect number "
                               f"of gradients (expected {len(ctx._layout)}, got {got})")
        return result


def _wrap_outputs(node: Node, args, out):
    multi = isinstance(out, tuple)
    outs = out if multi else (out,)
    dirty = node._dirty or ()
    non_diff = node._non_diff or ()
    inputs = [a for a in args if isinstance(a, Tensor)]
    wrapped = []
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            wrapped.append(o)
            continue
        if any(o is d for d in dirty):
            t = o
        elif any(o is a for a in inputs):
            t = _make(o._data)  # an input returned as-is becomes a new alias of it
            t._vc = o._vc
        else:
            t = o
        if any(o is n for n in non_diff) or not (t.is_floating_point() or t.is_complex()):
            t._requires_grad = False
        else:
            t._requires_grad = True
            t.grad_fn = node
            t._output_nr = i
        wrapped.append(t)
    node._out_meta = tuple((t._data.shape, t._data.dtype) if isinstance(t, Tensor) else
                           ((), np.float32) for t in wrapped)
    saved = getattr(node, "_to_save", None)
    if saved is not None:
        items, versions = [], []
        for s in saved:
            if isinstance(s, Tensor) and s.grad_fn is node:
                items.append(_SavedOutput(s._data, s._output_nr, s._vc, s._vc[0]))
                versions.append(None)
            else:
                items.append(s)
                versions.append(s._vc[0] if isinstance(s, Tensor) else None)
        node._saved, node._saved_versions, node._to_save = tuple(items), tuple(versions), None
    return tuple(wrapped) if multi else wrapped[0]


def once_differentiable(fn):
    """Decorate a backward that is not itself differentiable: it runs with grad off, and a
    double backward through it raises."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        from .grad_mode import no_grad
        with no_grad():
            outputs = fn(ctx, *args)
        if not STATE.grad_enabled:
            return outputs
        requires = any(isinstance(a, Tensor) and a._requires_grad for a in args)
        if not requires:
            return outputs
        outs = outputs if isinstance(outputs, tuple) else (outputs,)
        err_node = Node(_OnceDiffError)
        inputs = tuple(a for a in args if isinstance(a, Tensor))
        (err_node.next_functions, err_node._layout, err_node._in_meta,
         err_node.needs_input_grad, err_node._positions) = _edges_and_layout(inputs)
        result = []
        for o in outs:
            if isinstance(o, Tensor) and o.is_floating_point():
                o = _make(o._data, True)
                o.grad_fn = err_node
            result.append(o)
        err_node._out_meta = tuple((o._data.shape, o._data.dtype) if isinstance(o, Tensor)
                                   else ((), np.float32) for o in result)
        return tuple(result) if isinstance(outputs, tuple) else result[0]
    return wrapper


class _OnceDiffError:
    _backward_name = "Error"
    name = "once_differentiable"

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")

