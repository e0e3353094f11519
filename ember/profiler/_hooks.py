"""Seeing which graph node's backward is running, from a dispatcher mode.

A mode sees the ops a backward rule runs (they go through the dispatcher while the mode
is active) but not whose rule it is. The node an op records is its result's ``grad_fn``;
a pre-hook and a hook on that node bracket the engine's call of its backward (the engine
runs node pre-hooks just before ``node.op.backward`` and node hooks just after it and the
reductions of broadcast gradients), so every op dispatched in between belongs to that
node. Public Node API only, nothing patched, and a cost only for nodes recorded while a
profiler or FLOP counter watches.

The hooks hold the callbacks, never the node, so no reference cycle keeps a graph (and its
saved tensors) alive after its last use. One gap: with ``inputs=`` the engine calls the
pre-hooks of nodes it then skips, so their "leave" never comes; callers close such a node
when the next one enters.
"""

from __future__ import annotations

from collections.abc import Callable

from .._tensor import Tensor
from ..autograd.graph import Node


def grad_fn_of(args: tuple) -> Node | None:
    """The first argument's ``grad_fn`` before an op runs (an in-place op returns that
    tensor, which keeps its old node when nothing is recorded)."""
    first = args[0] if args else None
    return first.grad_fn if isinstance(first, Tensor) else None


def new_nodes(out, old: Node | None) -> list[Node]:
    """The graph nodes an op call just recorded: its results' ``grad_fn`` other than
    ``old`` (``grad_fn_of(args)`` taken before the call)."""
    outs = out if isinstance(out, tuple | list) else (out,)
    nodes: list[Node] = []
    for t in outs:
        if isinstance(t, Tensor):
            node = t.grad_fn
            if node is not None and node is not old and not any(node is n for n in nodes):
                nodes.append(node)
    return nodes


def bracket_backward(node: Node, enter: Callable[[], None], leave: Callable[[], None]) -> None:
    """Call ``enter()`` just before and ``leave()`` just after ``node``'s backward runs."""
    node.register_prehook(lambda grads: enter())
    node.register_hook(lambda grad_inputs, grad_outputs: leave())
