"""Sparse COO tensors (torch's ``sparse_coo`` layout): what graph programs use.

A sparse tensor (``ember.sparse_coo_tensor``, ``Tensor.to_sparse``) is a wrapper subclass
of ``Tensor`` (see ``Tensor._make_wrapper_subclass``): its own ``_data`` is storage-less
metadata (shape, dtype), and it keeps

- ``_idx``: the indices, an int64 tensor ``[sparse_dim, nnz]``,
- ``_vals``: the values, a tensor ``[nnz, *dense_shape]``,
- ``_coalesced``: whether the indices are sorted and unique.

Every operation is written with ember ops on the values, so autograd needs nothing of its
own: gradients reach the values (and what they came from, such as the dense tensor of
``to_sparse``, where the gradient is taken at its non-zeros, as torch does) and the dense
operands. A leaf sparse tensor (``requires_grad=True``) shows its gradient as a sparse
tensor with its pattern, as torch's ``sparse.mm`` gives it.

The dispatcher hands every op with a sparse argument to ``SparseTensor.__torch_dispatch__``:
``sparse @ dense`` (``mm``, ``matmul``, ``mv``, ``spmm``), ``dense @ sparse``,
``dense + sparse``, ``sparse + sparse``, ``sparse * scalar`` or ``* dense``, ``/ scalar``,
``neg``, ``clone``, dtype conversion, transposing sparse dims and the full ``sum``; any
other op raises torch's ``NotImplementedError`` for the SparseCPU backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import _dtype
from .._device import CPU, check_device
from .._tensor import Tensor, _make, tensor_method
from .shape import cat

__all__ = ["sparse_coo_tensor", "spmm", "sparse_coo"]

sparse_coo = "sparse_coo"  # torch.sparse_coo (ember's layouts are names: Tensor.layout)


class SparseTensor(Tensor):
    """A sparse COO tensor (``x.is_sparse``): indices + values."""

    is_sparse = True
    layout = sparse_coo

    @staticmethod
    def _wrap(indices: Tensor, values: Tensor, shape: Sequence[int],
              coalesced: bool) -> SparseTensor:
        t = Tensor._make_wrapper_subclass(SparseTensor, tuple(shape), dtype=values.dtype)
        t._idx, t._vals, t._coalesced = indices, values, coalesced
        t._requires_grad = values._requires_grad
        return t

    # ---- what torch's sparse tensors answer ------------------------------------------------

    @property
    def device(self):
        return CPU

    @property
    def is_meta(self) -> bool:
        return False

    @property
    def is_cpu(self) -> bool:
        return True

    def sparse_dim(self) -> int:
        return self._idx.shape[0]

    def dense_dim(self) -> int:
        return self._vals.ndim - 1

    def _nnz(self) -> int:
        return self._vals.shape[0]

    def _indices(self) -> Tensor:
        return self._idx

    def _values(self) -> Tensor:
        return self._vals

    def indices(self) -> Tensor:
        self._require_coalesced("indices")
        return self._idx

    def values(self) -> Tensor:
        self._require_coalesced("values")
        return self._vals

    def _require_coalesced(self, what: str) -> None:
        if not self._coalesced:
            raise RuntimeError(f"Cannot get {what} on an uncoalesced tensor, please call "
                               ".coalesce() first")

    def is_coalesced(self) -> bool:
        return self._coalesced

    def coalesce(self) -> SparseTensor:
        """Indices sorted (row-major) and unique; the values of repeated indices add up."""
        if self._coalesced:
            return self
        first, inverse = self._positions()
        values = _zeros_like_rows(self._vals, len(first)).index_add(0, _make(inverse),
                                                                   self._vals)
        return SparseTensor._wrap(_make(self._idx._data[:, first]), values, self.shape, True)

    def _positions(self) -> tuple[np.ndarray, np.ndarray]:
        """For the distinct indices in row-major order: where each first occurs, and
        which of them each entry is."""
        flat = _linear_index(self._idx._data, self.shape[:self.sparse_dim()])
        _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
        return first, inverse.reshape(-1).astype(np.int64)

    def to_dense(self, dtype=None, *, masked_grad: bool | None = None) -> Tensor:
        """The dense tensor (repeated indices add up); differentiable in the values."""
        sparse_shape = self.shape[:self.sparse_dim()]
        flat = _make(_linear_index(self._idx._data, sparse_shape))
        dense = _zeros_like_rows(self._vals, math.prod(sparse_shape)).index_add(
            0, flat, self._vals).reshape(self.shape)
        return dense if dtype is None else dense.to(dtype)

    def to_sparse(self, sparse_dim: int | None = None, **kwargs) -> SparseTensor:
        if sparse_dim is not None and sparse_dim != self.sparse_dim():
            raise RuntimeError("to_sparse: conversion from Sparse to Sparse with sparse_dim "
                               f"argument !=self.sparse_dim() is not supported (got "
                               f"{sparse_dim}, have {self.sparse_dim()})")
        return self

    # ---- autograd lives on the values -------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._vals.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self._vals.requires_grad = value
        self._requires_grad = bool(value)

    @property
    def grad_fn(self):
        return self._vals.grad_fn

    @grad_fn.setter
    def grad_fn(self, value) -> None:
        """Tensor's initialisation writes None here; the graph is the values'."""

    @property
    def grad(self) -> SparseTensor | None:
        """The leaf's gradient, the dense gradient at its pattern (a sparse tensor;
        repeated indices, whose values all have that gradient, appear once)."""
        g = self._vals.grad
        if g is None:
            return None
        first = self._positions()[0] if not self._coalesced else slice(None)
        return SparseTensor._wrap(_make(self._idx._data[:, first]), _make(g._data[first]),
                                  self.shape, True)

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            raise RuntimeError("assigning a gradient to a sparse tensor is not supported "
                               "(set it to None)")
        values = self.__dict__.get("_vals")  # absent while Tensor initialises the wrapper
        if values is not None:
            values.grad = None

    def detach(self) -> SparseTensor:
        return SparseTensor._wrap(self._idx, self._vals.detach(), self.shape, self._coalesced)

    # ---- conversion, printing, pickling -------------------------------------------------

    def numpy(self, *, force: bool = False):
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() "
                        "first.")

    def tolist(self):
        return self.to_dense().tolist()

    def item(self):
        return self.to_dense().item()

    def cpu(self, memory_format=None) -> SparseTensor:
        return self

    def __repr__(self) -> str:
        lines = [f"tensor({_field('indices', self._idx)},", f"{_field('values', self._vals)},",
                 f"size={tuple(self.shape)}, nnz={self._nnz()}, layout=torch.sparse_coo"]
        extra = []
        if self.dtype is not _dtype.get_default_dtype() and self.dtype is not _dtype.int64:
            extra.append(f"dtype={self.dtype!r}")
        if self.requires_grad:
            extra.append(f"grad_fn=<{type(self.grad_fn).__name__}>" if self.grad_fn
                         else "requires_grad=True")
        lines[-1] += "".join(", " + e for e in extra) + ")"
        return "\n       ".join(lines)

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_sparse, (self._idx._data, self._vals._data, tuple(self.shape),
                                  self._coalesced, self.requires_grad))

    def __deepcopy__(self, memo):
        return _rebuild_sparse(self._idx._data.copy(), self._vals._data.copy(),
                               tuple(self.shape), self._coalesced, self.requires_grad)

    # ---- ops --------------------------------------------------------------------------------

    @classmethod
    def __torch_dispatch__(cls, op, types, args, kwargs):
        """The ops above, on the values; the rest are torch's SparseCPU error."""
        rule = _RULES.get(op.name)
        out = None if rule is None else rule(*args, **kwargs)
        if out is None:
            raise NotImplementedError(
                f"Could not run 'aten::{op.aten}' with arguments from the 'SparseCPU' "
                "backend. This could be because the operator doesn't exist for this backend, "
                "or was omitted during the selective/custom build process (if using custom "
                "build).")
        return out


def _field(label: str, t: Tensor) -> str:
    """``label=<repr>`` with the repr's lines aligned under its first (torch's layout)."""
    return f"{label}=" + repr(t).replace("\n", "\n" + " " * (len("tensor(") + len(label) + 1))


def _rebuild_sparse(indices: np.ndarray, values: np.ndarray, shape: tuple, coalesced: bool,
                    requires_grad: bool) -> SparseTensor:
    return SparseTensor._wrap(_make(indices), _make(values, requires_grad), shape, coalesced)


def _linear_index(indices: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Row-major position of each index column in ``shape`` (int64)."""
    if not shape:
        return np.zeros(indices.shape[1], np.int64)
    return np.ravel_multi_index(tuple(indices), tuple(shape)).astype(np.int64)


def _zeros_like_rows(values: Tensor, rows: int) -> Tensor:
    return _make(np.zeros((rows, *values.shape[1:]), values._data.dtype))


# ---- the op rules: each returns None for what it does not take (torch's error) --------------

def _is_sparse(x) -> bool:
    return isinstance(x, SparseTensor)


def _is_sparse_matrix(x) -> bool:
    return _is_sparse(x) and x.sparse_dim() == 2 and x.dense_dim() == 0


def _matmul(a, b):
    if _is_sparse_matrix(a) and isinstance(b, Tensor) and not _is_sparse(b) and b.ndim in (1, 2):
        return _spmm(a, b)
    if _is_sparse_matrix(b) and isinstance(a, Tensor) and not _is_sparse(a) and a.ndim == 2:
        return _spmm(_permute(b, (1, 0)), a.mT).mT  # (b^T a^T)^T
    return None


def _spmm(a: SparseTensor, b: Tensor) -> Tensor:
    """``a @ b``, 2-D sparse ``a``: out[i] = sum over stored (i, j) of a[i, j] * b[j]."""
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"addmm: Argument #3 (dense): Expected dim 0 size {a.shape[1]}, "
                           f"got {b.shape[0]}")
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected scalar type {a.dtype.scalar_name} but found "
                           f"{b.dtype.scalar_name}")
    rows, cols = a._idx[0], a._idx[1]
    weights = a._vals if b.ndim == 1 else a._vals.unsqueeze(1)
    out = _make(np.zeros((a.shape[0], *b.shape[1:]), b._data.dtype))
    return out.index_add(0, rows, weights * b[cols])


def _add(a, b, alpha=1, sign: int = 1):
    """``a + alpha * b`` (``-`` with ``sign=-1``): sparse + sparse stays sparse (the
    entries side by side, uncoalesced); dense + sparse is dense."""
    if _is_sparse(a) and _is_sparse(b):
        if tuple(a.shape) != tuple(b.shape):
            raise RuntimeError(f"add: expected 'self' and 'other' to have same size, but self "
                               f"has size {list(a.shape)} while other has size "
                               f"{list(b.shape)} (FYI: dense-sparse addition does not "
                               "currently support broadcasting)")
        dtype = _dtype.promote_types(a.dtype, b.dtype)
        indices = cat([a._idx, b._idx], 1)
        values = cat([a._vals.to(dtype), b._vals.to(dtype) * (sign * alpha)])
        return SparseTensor._wrap(indices, values, a.shape, False)
    if _is_sparse(a):
        name = "add" if sign == 1 else "sub"
        raise RuntimeError(f"{name}(sparse, dense) is not supported. Use {name}(dense, "
                           "sparse) instead.")
    if not isinstance(a, Tensor):
        return None
    dense = b.to_dense()
    return a + dense * alpha if sign == 1 else a - dense * alpha


def _sub(a, b, alpha=1):
    return _add(a, b, alpha, -1)


def _scalar(x) -> bool:
    return isinstance(x, (int, float, bool)) or (isinstance(x, Tensor) and not _is_sparse(x)
                                                 and x.ndim == 0)


def _values_op(a: SparseTensor, values: Tensor) -> SparseTensor:
    return SparseTensor._wrap(a._idx, values, a.shape, a._coalesced)


def _mul(a, b):
    if _is_sparse(b) and not _is_sparse(a):
        a, b = b, a
    if _is_sparse(b):
        return None
    if _scalar(b):
        return _values_op(a, a._vals * b)
    if isinstance(b, Tensor) and tuple(b.shape) == tuple(a.shape):  # keeps a's pattern
        gathered = b[tuple(a._idx[d] for d in range(a.sparse_dim()))]
        return _values_op(a, a._vals * gathered)
    return None


def _div(a, b, rounding_mode=None):
    if _is_sparse(a) and _scalar(b) and rounding_mode is None:
        return _values_op(a, a._vals / b)
    return None


def _neg(a):
    return _values_op(a, -a._vals)


def _clone(a, memory_format=None):
    return SparseTensor._wrap(a._idx.clone(), a._vals.clone(), a.shape, a._coalesced)


def _to_copy(a, dtype):
    return _values_op(a, a._vals.to(_dtype.from_numpy_dtype(np.dtype(dtype))))


def _permute(a, dims):
    """Reorders the sparse dims (torch's ``t``/``transpose``/``permute`` on them)."""
    dims = [d % a.ndim for d in dims]
    k = a.sparse_dim()
    if sorted(dims) != list(range(a.ndim)) or any(d >= k for d in dims[:k]):
        return None
    order = list(dims[:k])
    return SparseTensor._wrap(a._idx[order], a._vals, [a.shape[d] for d in dims], False)


def _sum(a, dim=None, keepdim=False, dtype=None):
    if dim is not None or keepdim:
        return None
    return a._vals.sum(dtype=dtype)


_RULES = {"matmul": _matmul, "add": _add, "sub": _sub, "mul": _mul, "div": _div,
          "neg": _neg, "clone": _clone, "_to_copy": _to_copy, "permute": _permute,
          "sum": _sum}


# ---- construction -------------------------------------------------------------------------

def sparse_coo_tensor(indices, values, size: Sequence[int] | None = None, *, dtype=None,
                      device=None, pin_memory: bool = False, requires_grad: bool = False,
                      check_invariants: bool | None = None,
                      is_coalesced: bool | None = None) -> SparseTensor:
    """A sparse COO tensor with ``values[k]`` at ``indices[:, k]`` (repeats add up).

    ``indices`` (``[sparse_dim, nnz]``, any number type) become int64; ``size`` defaults
    to the smallest that holds them. Indices outside ``size`` raise torch's invariant
    errors always (torch checks them on request only; unchecked, its kernels would read
    out of bounds)."""
    from .creation import as_tensor, tensor
    check_device(device)
    idx = as_tensor(indices).detach().to(_dtype.int64)
    vals = values if isinstance(values, Tensor) else tensor(values)
    if dtype is not None:
        vals = vals.to(dtype)
    if vals.ndim == 0:
        vals = vals.reshape(1)
    if idx.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {list(idx.shape)}")
    if idx.shape[1] != vals.shape[0]:
        raise RuntimeError(f"indices and values must have same nnz, but got nnz from indices: "
                           f"{idx.shape[1]}, nnz from values: {vals.shape[0]}")
    sparse_dim, dense_shape = idx.shape[0], tuple(vals.shape[1:])
    if size is None:
        top = idx._data.max(axis=1) if idx.shape[1] else np.full(sparse_dim, -1)
        size = tuple(int(m) + 1 for m in top) + dense_shape
    size = tuple(int(n) for n in size)
    if len(size) != sparse_dim + len(dense_shape):
        raise RuntimeError(f"'len(size) == sparse_dim + dense_dim' is not satisfied: len(size) "
                           f"= {len(size)}, sparse_dim = {sparse_dim}, dense_dim = "
                           f"{len(dense_shape)}")
    if size[sparse_dim:] != dense_shape:
        raise RuntimeError(f"values has incorrect size, expected "
                           f"{[idx.shape[1], *size[sparse_dim:]]}, got {list(vals.shape)}")
    _check_bounds(idx._data, size[:sparse_dim])
    if requires_grad:
        vals = vals.detach().requires_grad_()
    return SparseTensor._wrap(idx, vals, size, bool(is_coalesced) or idx.shape[1] < 2)


def _check_bounds(indices: np.ndarray, sparse_shape: tuple) -> None:
    if not indices.size:
        return
    low, high = indices.min(axis=1), indices.max(axis=1)
    for d, n in enumerate(sparse_shape):
        if low[d] < 0:
            raise RuntimeError(f"found negative index {int(low[d])} for dim {d}")
        if high[d] >= n:
            raise RuntimeError(f"size is inconsistent with indices: for dim {d}, size is {n} "
                               f"but found index {int(high[d])}")


@tensor_method()
def to_sparse(self: Tensor, sparse_dim: int | None = None, *, layout=None,
              blocksize=None, dense_dim=None) -> SparseTensor:
    """The non-zeros of a dense tensor as a coalesced sparse COO tensor (its first
    ``sparse_dim`` dims sparse, the rest dense); differentiable at the non-zeros."""
    if layout not in (None, sparse_coo) or blocksize is not None or dense_dim is not None:
        raise NotImplementedError(f"to_sparse: ember converts to the sparse COO layout only "
                                  f"(got layout={layout}, blocksize={blocksize}, "
                                  f"dense_dim={dense_dim})")
    k = self.ndim if sparse_dim is None else sparse_dim
    if not 0 <= k <= self.ndim:
        raise RuntimeError(f"dense_to_sparse: sparse_dim argument must be in [0,{self.ndim}] "
                           f"range, but {k} is given")
    if k == 0 and self.ndim:
        raise RuntimeError("dense_to_sparse: sparse_dim argument must be in >0 when "
                           "self.dim()>0")
    if self.ndim == 0:
        return SparseTensor._wrap(_make(np.zeros((0, 1), np.int64)), self.reshape(1), (), True)
    arr = self._data
    nonzero = arr != 0 if k == arr.ndim else (arr != 0).reshape(*arr.shape[:k], -1).any(-1)
    where = [w.astype(np.int64) for w in np.nonzero(nonzero)]
    values = self[tuple(_make(w) for w in where)]
    return SparseTensor._wrap(_make(np.stack(where)), values, self.shape, True)


def spmm(input: SparseTensor, mat2: Tensor) -> Tensor:
    """``torch.spmm``: sparse (or dense) matrix times dense matrix."""
    from .linalg import mm
    return mm(input, mat2)
