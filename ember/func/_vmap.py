"""``vmap`` by looping: the function runs once per index of the mapped dimension and the
results are stacked.

Correct for any function (data-dependent control flow, ``.item()``, in-place ops on
per-sample slices) and it nests and composes with ``grad`` because every step is an
ordinary differentiable op (``select``, ``stack``); it is as slow as the loop, not a
batched kernel. ``chunk_size`` is accepted and has nothing to change. ``randomness``:
"error" watches the dispatcher (a mode) and raises at the first random op, "different"
draws independently per sample, "same" replays the random state for each sample.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from .._state import push_mode, remove_mode
from .._tensor import Tensor
from ._pytree import broadcast_prefix, tree_flatten, tree_unflatten

__all__ = ["vmap"]

_RANDOMNESS = ("error", "different", "same")


class _NoRandomness:
    """A dispatch mode for ``randomness="error"``: random ops raise torch's error."""

    def __ember_dispatch__(self, op, args, kwargs):
        if getattr(op, "kind", None) == "random":
            raise RuntimeError("vmap: called random operation while in randomness error mode. "
                               "Please either use the 'same' or 'different' randomness flags "
                               "on vmap or perform the randomness operation out of vmap")
        return op.apply(*args, **kwargs)


def _mapped_size(leaves: list, dims: list, in_dims: Any) -> int:
    sizes = set()
    for x, d in zip(leaves, dims):
        if d is None:
            continue
        if not isinstance(x, Tensor):
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for "
                             f"an input but the input is of type {type(x)}. We cannot vmap "
                             f"over non-Tensor arguments, please use None as the respective "
                             f"in_dim")
        if x.dim() == 0 or not -x.dim() <= d < x.dim():
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for "
                             f"some input, but that input is a Tensor of dimensionality "
                             f"{x.dim()} so expected in_dim to satisfy "
                             f"-{x.dim()} <= in_dim < {x.dim()}.")
        sizes.add(x.shape[d])
    if not sizes:
        raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): at least one input must "
                         f"be a Tensor being mapped over (in_dim not None)")
    if len(sizes) > 1:
        raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped "
                         f"dimension, got sizes {sorted(sizes)} for the mapped dimension")
    return sizes.pop()


def _stack_outputs(outs: list, out_dims: Any) -> Any:
    from ..ops.shape import stack
    leaves0, spec = tree_flatten(outs[0])
    dims = broadcast_prefix(out_dims, outs[0], "out_dims")
    columns = [tree_flatten(o)[0] for o in outs]
    stacked = []
    for j, (leaf, d) in enumerate(zip(leaves0, dims)):
        if not isinstance(leaf, Tensor):
            raise ValueError(f"vmap: `f` must only return Tensors, got type {type(leaf)}")
        if d is None:
            stacked.append(leaf)
            continue
        if not -(leaf.dim() + 1) <= d <= leaf.dim():
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-(leaf.dim() + 1)}, {leaf.dim()}], but got {d})")
        stacked.append(stack([c[j] for c in columns], dim=d))
    return tree_unflatten(stacked, spec)


def vmap(func: Callable, in_dims: Any = 0, out_dims: Any = 0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable:
    """``func`` mapped over a dimension of its inputs: ``in_dims`` (an int, None, or a
    pytree prefix of the positional args) says which; outputs are stacked along
    ``out_dims``. Keyword arguments are passed to every call unmapped."""
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', "
                           f"or 'same'. Got {randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. "
                         f"(got {chunk_size})")

    @wraps(func)
    def wrapper(*args, **kwargs):
        if isinstance(in_dims, tuple) and len(in_dims) != len(args):
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): in_dims is not "
                             f"compatible with the structure of `inputs`. in_dims has "
                             f"structure with {len(in_dims)} entries but inputs has "
                             f"{len(args)} positional arguments")
        if not isinstance(in_dims, (int, tuple)) and in_dims is not None:
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...): expected `in_dims` to be "
                             f"int or a (potentially nested) tuple matching the structure "
                             f"of inputs, got: {type(in_dims)}.")
        leaves, spec = tree_flatten(args)
        dims = broadcast_prefix(in_dims, args, "in_dims")
        size = _mapped_size(leaves, dims, in_dims)
        if randomness == "same":
            from ..random import get_rng_state, set_rng_state
            state = get_rng_state()
        guard = _NoRandomness() if randomness == "error" else None
        outs = []
        for b in range(size):
            if randomness == "same":
                set_rng_state(state)
            sample = [x if d is None else x.select(d, b) for x, d in zip(leaves, dims)]
            if guard is not None:
                push_mode(guard)
            try:
                outs.append(func(*tree_unflatten(sample, spec), **kwargs))
            finally:
                if guard is not None:
                    remove_mode(guard)
        return _stack_outputs(outs, out_dims)
    return wrapper
