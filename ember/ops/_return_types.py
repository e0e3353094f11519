"""Named tuples returned by ops with several results (``torch.return_types``).

``values_indices("sort")`` is the ``(values, indices)`` tuple of ``sort``; each name is
made once and kept as a module attribute, so results of one op share a type and pickle.
"""

from __future__ import annotations

from collections import namedtuple
from functools import cache

__all__ = ["values_indices", "return_type"]


@cache
def return_type(name: str, fields: tuple[str, ...]) -> type:
    """The named tuple ``name`` with ``fields``, created on first use."""
    cls = namedtuple(name, fields)
    globals()[name] = cls  # where pickle looks it up
    return cls


def values_indices(name: str) -> type:
    """The ``(values, indices)`` result of ``sort``, ``topk``, ``kthvalue``, ``max(dim)``..."""
    return return_type(name, ("values", "indices"))
