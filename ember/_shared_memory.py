"""Shared memory under tensors: an anonymous memory file (``memfd``) mapped ``MAP_SHARED``.

``share(arr)`` copies an array's memory into such a block and returns the same view on
the copy. A forked child inherits the mapping, so its in-place writes are the parent's
(Hogwild training); another process gets the block's file descriptor (which
``ember.multiprocessing.reductions`` passes with ``multiprocessing``'s descriptor
passing) and maps the same pages.

The kernel frees the pages when the last mapping and descriptor close, in whichever
process that happens: each block keeps its descriptor (needed to hand it on) and closes
it with the mapping, when the last array on it is garbage.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import weakref

import numpy as np

__all__ = ["SharedBlock", "share", "share_tensor", "block_of"]


class SharedBlock(mmap.mmap):
    """A shared mapping of the memory file ``fd`` (owned: closed with the mapping)."""

    def __new__(cls, fd: int, nbytes: int) -> SharedBlock:
        self = super().__new__(cls, fd, nbytes)
        self.fd = fd
        # where the mapping starts, to locate views in it (a mapping never moves)
        self.address = np.frombuffer(self, np.uint8).ctypes.data
        weakref.finalize(self, os.close, fd)
        return self

    def view(self, dtype: np.dtype, shape: tuple, strides: tuple, offset: int) -> np.ndarray:
        """An array on this block, ``offset`` bytes in; it views the whole block as bytes
        (its storage, so ``storage_offset`` counts from the block's start)."""
        return np.ndarray(shape, dtype, buffer=np.frombuffer(self, np.uint8), offset=offset,
                          strides=strides)

    @classmethod
    def new(cls, nbytes: int) -> SharedBlock:
        """A fresh zeroed block of at least ``nbytes`` (a mapping cannot be empty)."""
        nbytes = max(nbytes, 1)
        fd = _memory_file()
        try:
            os.ftruncate(fd, nbytes)
            return cls(fd, nbytes)
        except BaseException:
            os.close(fd)
            raise


def _memory_file() -> int:
    """A file descriptor of an unnamed file in memory: a memfd on Linux, else an
    unlinked file in /dev/shm (or the temporary directory)."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("ember_shared", os.MFD_CLOEXEC)
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
    fd, path = tempfile.mkstemp(prefix="ember_shared_", dir=folder)
    os.unlink(path)
    return fd


def block_of(arr: np.ndarray) -> SharedBlock | None:
    """The shared block under ``arr`` (through its chain of views), or None."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return base if isinstance(base, SharedBlock) else None


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


def _root(arr: np.ndarray) -> np.ndarray:
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def share_tensor(t) -> None:
    """Move tensor ``t``'s memory into shared memory in place. A view moves the tensor
    it views (``t._base``) along, and stays its view: torch moves their one storage."""
    arr, base = t._data, t._base
    if block_of(arr) is not None:
        return
    if base is not None and block_of(base._data) is None and _root(base._data) is _root(arr):
        old = base._data
        base.share_memory_()
        new = base._data
        block = block_of(new)
        offset = _address(arr) - _address(old) + _address(new) - block.address
        t._data = block.view(arr.dtype, arr.shape, arr.strides, offset)
    else:
        t._data = share(arr)


def share(arr: np.ndarray) -> np.ndarray:
    """``arr`` if it is in shared memory already; else the same view (shape, strides,
    offset) on a shared copy of the memory it views, so that views taken from the
    result share with each other as the originals did."""
    if block_of(arr) is not None:
        return arr
    root = _root(arr)
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        root = arr = np.ascontiguousarray(arr)  # memory of unknown extent: copy the view
    block = SharedBlock.new(root.nbytes)
    memory = root.reshape(-1, order="A").view(np.uint8)  # root's bytes in memory order
    np.frombuffer(block, np.uint8, count=memory.size)[:] = memory
    return block.view(arr.dtype, arr.shape, arr.strides, _address(arr) - _address(root))
