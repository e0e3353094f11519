"""Activation checkpointing (``torch.utils.checkpoint``): trade compute for memory by not
keeping a region's intermediate activations for backward, and recomputing them when the
gradient reaches the region.

Both of torch's variants:

- ``use_reentrant=True`` (torch's historical default): the region is one custom
  ``autograd.Function`` over its tensor arguments; its backward re-runs the region with
  grad mode on and calls ``autograd.backward`` inside it, so parameters used inside get
  their ``.grad`` accumulated there (not through ``autograd.grad``), keyword arguments are
  refused, and with no input requiring grad the outputs do not require grad either.
- ``use_reentrant=False``: the region runs without recording, under a dispatch mode that
  notes every tensor requiring grad that an op inside reads (its inputs, parameters,
  captured tensors); the region's outputs then become the outputs of one node whose
  inputs are exactly those tensors, and whose backward recomputes the region and returns
  ``autograd.grad`` for each of them. So gradients reach parameters through the graph
  (``autograd.grad`` works), keyword arguments and non-tensor outputs are fine, and
  parameters get gradients even when no input requires grad, as torch's.

The random state is saved before the region and restored for the recomputation
(``preserve_rng_state``), so dropout masks are the same both times.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

from .._dispatch import DispatchMode
from .._tensor import Tensor
from ..autograd import enable_grad, no_grad
from ..autograd import grad as _autograd_grad
from ..autograd.function import Function
from ..random import get_rng_state, set_rng_state

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointError", "CheckpointFunction",
           "detach_variable", "noop_context_fn"]

_NO_REENTRANT_DEFAULT = (
    "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
    "Starting in PyTorch 2.9, calling checkpoint without use_reentrant will raise an "
    "exception. use_reentrant=False is recommended, but if you need to preserve the current "
    "default behavior, you can pass use_reentrant=True. Refer to docs for more details on "
    "the differences between the two variants.")


class CheckpointError(RuntimeError):
    """The recomputation did not match the original forward."""


def noop_context_fn():
    """The default ``context_fn``: two no-op context managers."""
    import contextlib
    return contextlib.nullcontext(), contextlib.nullcontext()


def detach_variable(inputs: tuple) -> tuple:
    """Tensors detached (keeping ``requires_grad``); other values as they are."""
    if not isinstance(inputs, tuple):
        raise RuntimeError("Only tuple of tensors is supported. Got Unsupported input type: "
                           f"{type(inputs).__name__}")
    return tuple(x.detach().requires_grad_(x.requires_grad) if isinstance(x, Tensor) else x
                 for x in inputs)


class _RngState:
    """The default generator's state before the region, restored around the recompute."""

    def __init__(self, preserve: bool):
        self.state = get_rng_state() if preserve else None

    def __enter__(self):
        if self.state is not None:
            self.outer = get_rng_state()
            set_rng_state(self.state)

    def __exit__(self, *exc):
        if self.state is not None:
            set_rng_state(self.outer)


class CheckpointFunction(Function):
    """The reentrant variant: one node over the region's tensor arguments."""

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        ctx.run_function = run_function
        ctx.rng = _RngState(preserve_rng_state)
        ctx.inputs = [None if isinstance(a, Tensor) else a for a in args]
        ctx.tensor_indices = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.save_for_backward(*(a for a in args if isinstance(a, Tensor)))
        with no_grad():
            return run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        inputs = list(ctx.inputs)
        tensors = detach_variable(tuple(ctx.saved_tensors))
        for i, t in zip(ctx.tensor_indices, tensors):
            inputs[i] = t
        with ctx.rng, enable_grad():
            outputs = ctx.run_function(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads)
                 if isinstance(o, Tensor) and o.requires_grad and g is not None]
        if not pairs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is "
                               "not necessary")
        from ..autograd import backward as _backward
        _backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None) + tuple(t.grad if isinstance(t, Tensor) else None
                                    for t in inputs)


class _ReadsRequiringGrad(DispatchMode):
    """Notes the tensors requiring grad that ops read while active (in first-use order)."""

    def __init__(self) -> None:
        self.tensors: dict[int, Tensor] = {}

    def _note(self, value) -> None:
        if isinstance(value, Tensor):
            if value._requires_grad and id(value) not in self.tensors:
                self.tensors[id(value)] = value
        elif isinstance(value, (list, tuple)):
            for v in value:
                self._note(v)

    def __ember_dispatch__(self, op, args, kwargs):
        self._note(args)
        return op.apply(*args, **kwargs)


def _flatten(value) -> tuple[list[Tensor], Callable[[list], Any]]:
    """The tensors in a (nested) output and a function that puts replacements back."""
    if isinstance(value, Tensor):
        return [value], lambda ts: ts[0]
    if isinstance(value, (list, tuple)):
        parts = [_flatten(v) for v in value]
        sizes = [len(p[0]) for p in parts]

        def rebuild(ts):
            out, k = [], 0
            for (_, fn), n in zip(parts, sizes):
                out.append(fn(ts[k:k + n]))
                k += n
            return type(value)(out) if not hasattr(value, "_fields") else type(value)(*out)
        return [t for p in parts for t in p[0]], rebuild
    if isinstance(value, dict):
        keys = list(value)
        flat, rebuild_list = _flatten([value[k] for k in keys])
        return flat, lambda ts: dict(zip(keys, rebuild_list(ts)))
    return [], lambda ts: value


class _Recompute(Function):
    """The non-reentrant variant's node: outputs computed beforehand (``region.outputs``),
    inputs the tensors requiring grad that the region read."""

    @staticmethod
    def forward(ctx, region, *read):
        ctx.region = region
        return tuple(o.detach() for o in region.outputs)

    @staticmethod
    def backward(ctx, *grads):
        region = ctx.region
        read = region.read
        with region.rng, enable_grad():
            outputs, _ = _flatten(region.run())
        pairs = [(o, g) for o, g in zip(outputs, grads)
                 if o.requires_grad and g is not None]
        if not pairs:
            return (None,) + (None,) * len(read)
        grads_in = _autograd_grad([o for o, _ in pairs], read, [g for _, g in pairs],
                                  allow_unused=True)
        return (None,) + tuple(grads_in)


class _Region:
    def __init__(self, function, args, kwargs, preserve_rng_state):
        self.function, self.args, self.kwargs = function, args, kwargs
        self.rng = _RngState(preserve_rng_state)
        self.outputs: list[Tensor] = []
        self.read: list[Tensor] = []

    def run(self):
        return self.function(*self.args, **self.kwargs)


def _checkpoint_without_reentrant(function, preserve_rng_state: bool, args, kwargs):
    region = _Region(function, args, kwargs, preserve_rng_state)
    reads = _ReadsRequiringGrad()
    with no_grad(), reads:
        result = region.run()
    outputs, rebuild = _flatten(result)
    region.read = list(reads.tensors.values())
    if not region.read or not outputs:
        return result
    region.outputs = outputs
    new = _Recompute.apply(region, *region.read)
    new = list(new) if isinstance(new, tuple) else [new]
    # integer outputs never require grad: give them back as computed
    return rebuild([n if o.is_floating_point() or o.is_complex() else o
                    for n, o in zip(new, outputs)])


def checkpoint(function: Callable, *args, use_reentrant: bool | None = None,
               context_fn: Callable = noop_context_fn, determinism_check: str = "default",
               debug: bool = False, preserve_rng_state: bool = True, **kwargs) -> Any:
    """Run ``function(*args, **kwargs)`` without keeping its intermediate activations;
    recompute them in backward. Same values and gradients as calling it directly."""
    if use_reentrant is None:
        warnings.warn(_NO_REENTRANT_DEFAULT, UserWarning, stacklevel=2)
        use_reentrant = True
    if use_reentrant:
        if context_fn is not noop_context_fn or debug:
            raise ValueError("Passing `context_fn` or `debug` is only supported when "
                             "use_reentrant=False.")
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                          UserWarning, stacklevel=2)
            with no_grad():
                return function(*args)
        return CheckpointFunction.apply(function, preserve_rng_state, *args)
    return _checkpoint_without_reentrant(function, preserve_rng_state, args, kwargs)


def checkpoint_sequential(functions, segments: int, input: Tensor,
                          use_reentrant: bool | None = None, **kwargs) -> Any:
    """Run a sequence of modules (an ``nn.Sequential`` or a list) in ``segments`` chunks,
    checkpointing all but the last, as ``torch.utils.checkpoint.checkpoint_sequential``."""
    if use_reentrant is None:
        warnings.warn(_NO_REENTRANT_DEFAULT, UserWarning, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    functions = list(functions.children()) if hasattr(functions, "children") else \
        list(functions)
    size = len(functions) // segments
    end = -1

    def run(start: int, stop: int, fns: Iterable) -> Callable:
        def forward(x):
            for j in range(start, stop + 1):
                x = fns[j](x)
            return x
        return forward

    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end, functions), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run(end + 1, len(functions) - 1, functions)(input)
