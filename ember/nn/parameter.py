"""Parameters and buffers: tensors that are module state.

Assigning a ``Parameter`` to a module attribute registers it with the module
(``named_parameters``, ``state_dict``, optimizers); assigning a ``Buffer`` registers a
buffer. Both share memory with the tensor they are made from, as in torch.
"""

from __future__ import annotations

import numpy as np

from .._dtype import get_default_dtype
from .._tensor import Tensor, _init, _make

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A Tensor that is a module parameter (``requires_grad=True`` unless told otherwise).

    ``Parameter(data)`` shares ``data``'s memory; ``Parameter()`` is an empty tensor.
    Results of ops on a parameter are plain Tensors.
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            arr = np.empty((0,), dtype=get_default_dtype().np)
        elif isinstance(data, Tensor):
            arr = data._data
        else:
            raise TypeError(f"Parameter(): data must be a Tensor, not {type(data).__name__}")
        self = object.__new__(cls)
        _init(self, arr, False)
        if isinstance(data, Tensor):
            self._vc = data._vc
        self.requires_grad = requires_grad
        return self

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


class Buffer(Tensor):
    """Marks a tensor as a module buffer when assigned as an attribute (``torch.nn.Buffer``).

    The module stores a plain Tensor sharing the data; ``persistent=False`` keeps it out
    of ``state_dict``.
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True):
        if data is None:
            data = _make(np.empty((0,), dtype=get_default_dtype().np))
        self = object.__new__(cls)
        _init(self, data._data, data._requires_grad)
        self._vc = data._vc
        self.persistent = persistent
        return self

    def _as_tensor(self) -> Tensor:
        t = _make(self._data, self._requires_grad)
        t._vc = self._vc
        return t
