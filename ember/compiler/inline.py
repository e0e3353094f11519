"""Cheap view ops written as NumPy expressions in generated code instead of kernel calls.

A kernel call (``Permute.forward(ctx, a, dims)``) validates and normalizes its arguments
on every call -- tens of microseconds for a ``view`` -- which capture already did once.
For the view ops below the generated code says what the kernel would compute directly:

- ``permute(a, dims)``: ``a.transpose(dims)`` (the kernel's own result);
- ``view``/``reshape(a, shape)``: NumPy's reshape when it is a view of a non-empty ``a``,
  the kernel otherwise;
- ``split_with_sizes(a, sizes, dim)`` with constant sizes: the basic slices the kernel makes.

Each rule returns the expression, or None to keep the kernel call (a size that is a
``Sym`` of a dynamic program, a value whose rank capture did not record...).
"""

from __future__ import annotations

from collections.abc import Callable

from .._dispatch import NULL_CTX
from .graph import Node, Value

__all__ = ["inline", "RUNTIME"]


def _reshape(a, shape, kernel):
    """``view``/``reshape``: NumPy's reshape where it is a view (the kernel's strides, but
    for dims of size 1, which no kernel reads), else the kernel (a copy, or view's
    error)."""
    if a.size:
        try:
            return a.reshape(shape, copy=False)
        except (ValueError, TypeError):  # not a view of ``a`` (TypeError: NumPy < 2.1)
            pass
    return kernel(NULL_CTX, a, shape)


RUNTIME = {"_reshape": _reshape}


def _permute(node: Node, args: list[str], kernel: str) -> str | None:
    if len(node.args) != 2 or node.kwargs:
        return None
    return f"{args[0]}.transpose({args[1]})"


def _reshape_rule(node: Node, args: list[str], kernel: str) -> str | None:
    if len(node.args) != 2 or node.kwargs:
        return None
    return f"_reshape({args[0]}, {args[1]}, {kernel})"


def _split(node: Node, args: list[str], kernel: str) -> str | None:
    a = node.args[0]
    sizes = node.args[1] if len(node.args) > 1 else None
    dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0)
    if type(a) is not Value or type(sizes) not in (list, tuple) or type(dim) is not int or \
            not all(type(n) is int for n in sizes) or set(node.kwargs) - {"dim"}:
        return None
    ndim = a.meta.ndim
    if not -ndim <= dim < ndim:
        return None
    dim %= ndim
    lead = ":, " * dim
    pieces, lo = [], 0
    for n in sizes:
        pieces.append(f"{args[0]}[{lead}{lo}:{lo + n}]")
        lo += n
    return "(" + "".join(p + ", " for p in pieces) + ")"


_RULES: dict[str, Callable[[Node, list[str], str], str | None]] = {
    "permute": _permute, "view": _reshape_rule, "reshape": _reshape_rule,
    "splitwithsizes": _split}


def inline(node: Node, args: list[str], kernel: str) -> str | None:
    """The node's result as a NumPy expression over its argument sources ``args`` (the
    kernel, named ``kernel``, as the fallback), or None to call the kernel."""
    rule = _RULES.get(getattr(node.op, "name", None))
    return None if rule is None else rule(node, args, kernel)
