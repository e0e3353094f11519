"""Turning a list of samples into a batch: ``default_collate`` and ``default_convert``."""

from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

from ..._tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_NUMPY_STR = re.compile(r"[SaUO]")


def _stack(tensors: list) -> Tensor:
    from ... import stack
    return stack(tensors, 0)


def default_collate(batch):
    """Stack tensors/arrays/numbers along a new first dim; recurse into mappings,
    named tuples and sequences (which are transposed: a batch of pairs is a pair of
    batches), as torch's ``default_collate``."""
    from ... import as_tensor, float64, tensor
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if type(elem).__module__ == "numpy" and not isinstance(elem, (str, bytes)):
        if isinstance(elem, np.ndarray):
            if _NUMPY_STR.search(elem.dtype.str):
                raise TypeError(_error(elem.dtype))
            return default_collate([as_tensor(b) for b in batch])
        if elem.shape == ():  # numpy scalars
            return as_tensor(np.array(batch))
    if isinstance(elem, bool):
        return tensor(batch)
    if isinstance(elem, float):
        return tensor(batch, dtype=float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, {key: default_collate([d[key] for d in batch])
                                       for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        items = [default_collate(samples) for samples in zip(*batch)]
        return items if isinstance(elem, tuple) else _rebuild_sequence(elem, items)
    raise TypeError(_error(type(elem)))


def _error(found) -> str:
    return ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
            f"lists; found {found}")


def _rebuild_mapping(elem: collections.abc.Mapping, items: dict):
    """A mapping of ``elem``'s type holding ``items``: mutable ones are shallow-copied and
    updated (which keeps e.g. a defaultdict's factory), others rebuilt, plain dict last."""
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(items)
            return clone
        return type(elem)(items)
    except TypeError:
        return items


def _rebuild_sequence(elem: collections.abc.Sequence, items: list):
    """A sequence of ``elem``'s type holding ``items`` (see ``_rebuild_mapping``)."""
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            clone[:] = items
            return clone
        return type(elem)(items)
    except TypeError:
        return items


def default_convert(data):
    """Convert NumPy arrays (also inside containers) to tensors, without batching."""
    from ... import as_tensor
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _NUMPY_STR.search(data.dtype.str) else as_tensor(data)
    if isinstance(data, np.generic):
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data
