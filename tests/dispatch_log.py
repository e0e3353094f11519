"""A dispatch mode the tests share: the names of the ops dispatched while it is active."""

from __future__ import annotations

from ember._dispatch import DispatchMode


class OpNames(DispatchMode):
    """Records ``op.name`` of every dispatched op, in order, in ``names``."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __ember_dispatch__(self, op, args, kwargs):
        self.names.append(op.name)
        return op.apply(*args, **kwargs)
