"""Optimizer hyperparameters as runtime inputs of a compiled ``opt.step``.

An LR scheduler changes ``group["lr"]`` every step; baking it into the program as a
constant would recompile each step until the cache limit. So during capture each float
hyperparameter (and each float in a tuple such as ``betas``) is a ``Hyper``: a float
that remembers where it came from. Where it reaches a graph node's arguments, codegen
writes ``_H[group][key]`` -- a read of the live ``opt.param_groups`` at every call --
instead of the number. A hyperparameter the program does not read that way (used in
Python arithmetic or a branch during capture) stays guarded on its value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Hyper", "wrapped", "read_by", "GLOBAL"]

GLOBAL = "_H"  # the name generated code reads ``opt.param_groups`` under


class Hyper(float):
    """A float hyperparameter with its place: ``param_groups[group][key]`` (``[index]``)."""

    def __new__(cls, value: float, group: int, key: str, index: int | None = None):
        self = super().__new__(cls, value)
        self.place = (group, key, index)
        return self

    def source(self) -> str:
        group, key, index = self.place
        tail = "" if index is None else f"[{index}]"
        return f"{GLOBAL}[{group}][{key!r}]{tail}"


@contextmanager
def wrapped(opt) -> Iterator[None]:
    """Within: ``opt``'s float hyperparameters are ``Hyper``s (restored after)."""
    saved = []
    for gi, group in enumerate(opt.param_groups):
        for key, v in list(group.items()):
            if key == "params":
                continue
            if type(v) is float:
                saved.append((group, key, v))
                group[key] = Hyper(v, gi, key)
            elif type(v) is tuple and any(type(x) is float for x in v):
                saved.append((group, key, v))
                group[key] = tuple(Hyper(x, gi, key, i) if type(x) is float else x
                                   for i, x in enumerate(v))
    try:
        yield
    finally:
        for group, key, v in saved:
            group[key] = v


_READ = re.compile(re.escape(GLOBAL) + r"\[(\d+)\]\['([^']+)'\]")


def read_by(*sources: str) -> set[tuple[int, str]]:
    """The ``(group, key)`` hyperparameters generated sources read at run time."""
    return {(int(g), k) for s in sources for g, k in _READ.findall(s)}
