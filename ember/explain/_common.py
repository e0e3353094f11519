"""What every attribution method shares, following Captum's conventions: inputs are a
tensor or a tuple of tensors (results come back in the same form), the first dimension is
the batch, ``target`` picks one output per example, and extra forward arguments are passed
after the inputs."""

from __future__ import annotations

from collections.abc import Callable

import ember

from .._tensor import Tensor
from ..autograd import enable_grad, grad

TargetType = None | int | tuple | Tensor | list


def as_tuple(inputs) -> tuple[tuple, bool]:
    """``(inputs as a tuple, whether they were one)``."""
    return (inputs, True) if isinstance(inputs, tuple) else ((inputs,), False)


def format_output(was_tuple: bool, outputs: tuple):
    return outputs if was_tuple else outputs[0]


def format_args(args) -> tuple:
    """``additional_forward_args`` as a tuple (one non-tuple value becomes one argument)."""
    if args is None:
        return ()
    return args if isinstance(args, tuple) else (args,)


def format_baselines(baselines, inputs: tuple) -> tuple:
    """One baseline per input: zero by default; numbers or tensors that broadcast."""
    if baselines is None:
        return (0.0,) * len(inputs)
    baselines = baselines if isinstance(baselines, tuple) else (baselines,)
    if len(baselines) != len(inputs):
        raise AssertionError(f"Baseline length {len(baselines)} must match input length "
                             f"{len(inputs)}")
    for b, x in zip(baselines, inputs):
        if not isinstance(b, Tensor | int | float):
            raise AssertionError("baseline input argument must be either a torch.Tensor or a "
                                 f"number however {type(b)} detected")
        if isinstance(b, Tensor) and b.shape[0] not in (1, x.shape[0]):
            raise AssertionError(f"Baseline batch size {b.shape[0]} must be 1 or equal to the "
                                 f"input batch size {x.shape[0]}")
    return baselines


def select_targets(output: Tensor, target: TargetType) -> Tensor:
    """One output per example: ``output[:, target]`` for an int or tuple; per-example
    indices from a 1-d tensor or a list."""
    if target is None:
        return output
    if isinstance(target, Tensor):
        if target.numel() == 1 and not target.is_floating_point():
            target = int(target.item())
        elif target.dim() == 1 and target.numel() == output.shape[0]:
            return ember.gather(output, 1, target.reshape(-1, 1)).squeeze(-1)
        else:
            raise AssertionError(f"Tensor target dimension {tuple(target.shape)} is not valid. "
                                 f"{tuple(output.shape)}")
    if isinstance(target, int | tuple):
        index = (target,) if isinstance(target, int) else target
        if len(index) > output.dim() - 1:
            raise AssertionError(f"Cannot choose target column with output shape "
                                 f"{tuple(output.shape)}.")
        return output[(slice(None), *index)]
    if isinstance(target, list):
        if len(target) != output.shape[0]:
            raise AssertionError("Target list length does not match output!")
        if isinstance(target[0], tuple):
            return ember.stack([output[(i, *t)] for i, t in enumerate(target)])
        return select_targets(output, ember.tensor(target))
    raise AssertionError(f"Target type {type(target)} is not valid.")


def run_forward(forward_func: Callable, inputs: tuple, target: TargetType = None,
                args: tuple = ()) -> Tensor:
    return select_targets(forward_func(*inputs, *args), target)


def expand_target(target: TargetType, n: int, interleave: bool = False) -> TargetType:
    """A per-example target for inputs repeated ``n`` times (``repeat`` stacks whole
    batches; ``interleave`` repeats each example in place)."""
    if isinstance(target, list):
        return [t for t in target for _ in range(n)] if interleave else target * n
    if isinstance(target, Tensor) and target.numel() > 1:
        return target.repeat_interleave(n, dim=0) if interleave else ember.cat([target] * n)
    return target


def expand_args(args: tuple, n: int, interleave: bool = False) -> tuple:
    """Tensor arguments (with a batch dimension) repeated as :func:`expand_target`."""
    return tuple((a.repeat_interleave(n, dim=0) if interleave else ember.cat([a] * n))
                 if isinstance(a, Tensor) and a.dim() > 0 else a for a in args)


def gradients(forward_func: Callable, inputs: tuple, target: TargetType = None,
              args: tuple = ()) -> tuple[Tensor, ...]:
    """Gradients of the selected outputs (one scalar per example, summed) with respect to
    each input; the caller's tensors are neither modified nor given a ``.grad``."""
    with enable_grad():
        inputs = tuple(x.detach().requires_grad_() for x in inputs)
        out = run_forward(forward_func, inputs, target, args)
        if out[0].numel() != 1:
            raise AssertionError("Target not provided when necessary, cannot take gradient "
                                 "with respect to multiple outputs.")
        return grad(out.sum(), inputs)


def sum_rows(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1).sum(1)
