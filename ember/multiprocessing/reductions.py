"""How tensors cross process boundaries (torch's ``torch.multiprocessing.reductions``).

``init_reductions`` registers ``reduce_tensor`` with ``multiprocessing``'s pickler, which
pickles a spawned ``Process``'s arguments and everything put on a ``multiprocessing``
queue. A tensor pickled there moves into shared memory (as in torch) and travels as the
descriptor of its memory block plus its view (dtype, shape, strides, offset): the
receiver maps the same memory, so writes on either side are seen by the other. Ordinary
pickling (``pickle``, ``ember.save``) still copies the data.
"""

from __future__ import annotations

from multiprocessing.reduction import DupFd, ForkingPickler

import numpy as np

from .._meta import MetaArray
from .._shared_memory import SharedBlock, block_of
from .._tensor import Tensor, _rebuild

__all__ = ["init_reductions", "reduce_tensor", "rebuild_tensor"]


def reduce_tensor(tensor: Tensor):
    """The pickle reduction of ``tensor`` through shared memory (moved there first)."""
    if tensor.requires_grad and not tensor.is_leaf:
        raise RuntimeError(
            "Cowardly refusing to serialize non-leaf tensor which requires_grad, since "
            "autograd does not support crossing process boundaries.  If you just want to "
            "transfer the data, call detach() on the tensor before serializing (e.g., "
            "putting it on the queue).")
    if type(tensor._data) is MetaArray:  # no memory of its own (meta, wrapper subclasses)
        return tensor.__reduce_ex__(ForkingPickler.HIGHEST_PROTOCOL)
    arr = tensor.share_memory_()._data
    block = block_of(arr)
    offset = arr.__array_interface__["data"][0] - block.address
    return (rebuild_tensor, (type(tensor), DupFd(block.fd), len(block), arr.dtype, arr.shape,
                             arr.strides, offset, tensor.requires_grad))


def rebuild_tensor(cls: type, fd, nbytes: int, dtype: np.dtype, shape: tuple,
                   strides: tuple, offset: int, requires_grad: bool) -> Tensor:
    """The receiving side of ``reduce_tensor``: the same memory, mapped here."""
    block = SharedBlock(fd.detach(), nbytes)
    return _rebuild(cls, block.view(dtype, shape, strides, offset), requires_grad)


def init_reductions() -> None:
    """Send ``Tensor`` and ``nn.Parameter`` through shared memory in ``multiprocessing``
    (its pickler looks reducers up by exact type, as torch registers them)."""
    from ..nn.parameter import Parameter
    for cls in (Tensor, Parameter):
        ForkingPickler.register(cls, reduce_tensor)
