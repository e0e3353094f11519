"""The graph nodes an op call records, for tools that watch ops from a dispatcher mode.

The profiler links a forward op to its backward node's event (same sequence number), and
the FLOP counter credits a node's backward to the modules whose forward recorded it. Both
see backward nodes run from the engine itself: while active they are in
``ember.autograd.graph._node_observers``, whose ``enter_backward(node)`` and
``leave_backward(node)`` bracket every node the engine runs.
"""

from __future__ import annotations

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
