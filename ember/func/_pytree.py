"""The containers ``ember.func`` looks through: tuples (named too), lists and dicts.

torch.func's transforms take and return pytrees (a dict of parameters, a tuple of
outputs); everything that is not one of these containers is a leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["tree_flatten", "tree_unflatten", "tree_map", "broadcast_prefix"]

# a spec is None for a leaf, or (container type, dict keys or None, child specs)
Spec = Any


def tree_flatten(tree: Any) -> tuple[list, Spec]:
    """The leaves of ``tree`` in order, and the spec that ``tree_unflatten`` rebuilds from."""
    leaves: list = []

    def go(x):
        if isinstance(x, (tuple, list)):
            return (type(x), None, [go(c) for c in x])
        if isinstance(x, dict):
            return (type(x), list(x), [go(v) for v in x.values()])
        leaves.append(x)
        return None

    return leaves, go(tree)


def tree_unflatten(leaves: list, spec: Spec) -> Any:
    """The tree of ``spec``'s shape with ``leaves`` in its leaves' places."""
    it = iter(leaves)

    def build(s):
        if s is None:
            return next(it)
        kind, keys, children = s
        values = [build(c) for c in children]
        if keys is not None:
            return kind(zip(keys, values))
        return kind(*values) if hasattr(kind, "_fields") else kind(values)

    return build(spec)


def tree_map(fn: Callable, tree: Any) -> Any:
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


def broadcast_prefix(prefix: Any, tree: Any, what: str) -> list:
    """One entry of ``prefix`` per leaf of ``tree``: ``prefix`` is ``tree``'s shape cut
    short anywhere, a leaf of it standing for the whole subtree below (vmap's in_dims)."""
    if prefix is None or isinstance(prefix, int):
        return [prefix] * len(tree_flatten(tree)[0])
    same = (isinstance(prefix, (tuple, list)) and isinstance(tree, (tuple, list))
            and len(prefix) == len(tree)) or (
        isinstance(prefix, dict) and isinstance(tree, dict) and set(prefix) == set(tree))
    if not same:
        raise ValueError(f"{what} is not a prefix of the structure of the inputs it maps: "
                         f"got {what}={prefix!r} for an input of type {type(tree).__name__}")
    pairs = ([(prefix[k], tree[k]) for k in tree] if isinstance(tree, dict)
             else list(zip(prefix, tree)))
    return [d for p, t in pairs for d in broadcast_prefix(p, t, what)]
