"""The embedding lookup and its backward.

The backward sums the gradients of repeated indices into rows of the weight. NumPy's
``np.add.at`` does that one element at a time; for float32/float64 a Numba loop adds
each gradient row into its weight row, and other dtypes sort the indices and sum runs
with ``np.add.reduceat``.
"""

from __future__ import annotations

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, _make
from . import _meta

__all__: list[str] = []


_UNSIGNED = {np.dtype(t): np.dtype(t.replace("i", "u")) for t in ("i1", "i2", "i4", "i8")}


def _check_indices(indices: np.ndarray, num: int) -> None:
    """torch's errors for indices that are not integers or not in ``[0, num)``: a few
    indices compared as Python ints, more in one reduction, the max of the indices seen
    unsigned (a negative one is then past any ``num``; a min and a max cost 1.7 us)."""
    kind = indices.dtype.kind
    if kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the "
                           "following scalar types: Long, Int; but got "
                           f"{indices.dtype} instead (while checking arguments for embedding)")
    size = indices.size
    if not size:
        return
    if size <= 16:  # as Python ints (0.4 us for one index; a reduction's call costs 1.1)
        values = indices.ravel().tolist()
        bad = min(values) < 0 or max(values) >= num
    else:  # (a tensor's integers are native: no byte-swapped dtype comes here)
        bad = (indices if kind == "u" else indices.view(_UNSIGNED[indices.dtype])).max() >= num
    if bad:
        raise IndexError("index out of range in self")


def embedding_dense_backward(grad: np.ndarray, indices: np.ndarray, num_weights: int,
                             padding_idx: int | None, scale_grad_by_freq: bool) -> np.ndarray:
    """Sum ``grad`` rows into a (num_weights, D) array at ``indices``: one Numba pass for
    float32/float64, sorted runs summed by ``np.add.reduceat`` otherwise."""
    dim = grad.shape[-1]
    idx = indices.reshape(-1).astype(np.int64, copy=False)
    g = grad.reshape(-1, dim)
    out = np.zeros((num_weights, dim), dtype=grad.dtype)
    if not idx.size:
        return out
    # the indices may have changed since forward (through .numpy(), which no version
    # counter sees): the kernel writes out[idx], so check them again
    _check_indices(idx, num_weights)
    if grad.dtype == np.float32 or grad.dtype == np.float64:
        from . import _kernels_transformer as K
        K.embedding_backward(np.ascontiguousarray(g), np.ascontiguousarray(idx), out)
        if scale_grad_by_freq:
            counts = np.bincount(idx, minlength=num_weights)
            out /= np.maximum(counts, 1)[:, None].astype(grad.dtype)
    else:
        order = np.argsort(idx, kind="stable")
        uniq, starts, counts = np.unique(idx[order], return_index=True, return_counts=True)
        sums = np.add.reduceat(g[order], starts, axis=0)
        if scale_grad_by_freq:
            sums = sums / counts[:, None].astype(grad.dtype)
        out[uniq] = sums
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


def _lookup_scale(indices: np.ndarray, padding_idx, scale_grad_by_freq, dtype):
    """Per-lookup factors of the backward (0 at padding, 1/count with scale_grad_by_freq),
    shaped to broadcast over the looked-up rows; None when they are all 1."""
    if padding_idx is None and not scale_grad_by_freq:
        return None
    idx = indices.reshape(-1)
    scale = np.ones(idx.shape, dtype=dtype)
    if scale_grad_by_freq and idx.size:
        uniq, inv, counts = np.unique(idx, return_inverse=True, return_counts=True)
        scale = scale / counts[inv]
    if padding_idx is not None:
        scale[idx == padding_idx] = 0
    return scale.reshape(indices.shape + (1,))


class Embedding(Op):
    aten = "embedding"
    signature = ("embedding(Tensor weight, Tensor indices, int? padding_idx=None, "
                 "bool scale_grad_by_freq=False) -> Tensor")

    @staticmethod
    def meta(weight, indices, padding_idx=None, scale_grad_by_freq=False):
        return _meta.new(tuple(indices.shape) + tuple(weight.shape[1:]), weight.dtype)

    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None, scale_grad_by_freq=False):
        _check_indices(indices, weight.shape[0])
        ctx.save_for_backward(indices)
        ctx.args = (weight.shape[0], padding_idx, scale_grad_by_freq)
        return weight.take(indices, 0)  # (the indices checked: 0.25 us, weight[indices] 0.8)

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        return dispatch(EmbeddingBackward, g, indices, *ctx.args), None


class EmbeddingBackward(Op):
    """Linear in ``g``: its own gradient gathers the rows back (an ``Embedding``), scaled
    like the sum."""

    aten = "embedding_dense_backward"
    signature = ("embedding_dense_backward(Tensor g, Tensor indices, int num_weights, "
                 "int? padding_idx, bool scale_grad_by_freq) -> Tensor")

    @staticmethod
    def meta(g, indices, num_weights, padding_idx, scale_grad_by_freq):
        return _meta.new((num_weights, g.shape[-1]), g.dtype)

    @staticmethod
    def forward(ctx, g, indices, num_weights, padding_idx, scale_grad_by_freq):
        ctx.save_for_backward(indices)
        ctx.args = (padding_idx, scale_grad_by_freq)
        return embedding_dense_backward(g, indices, num_weights, padding_idx, scale_grad_by_freq)

    @staticmethod
    def backward(ctx, v):
        (indices,) = ctx.saved_tensors
        rows = dispatch(Embedding, v, indices)
        scale = _lookup_scale(indices._data, *ctx.args, v._data.dtype)
        return (rows if scale is None else rows * _make(scale)), None, None, None, None


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              scale_grad_by_freq: bool = False) -> Tensor:
    """Rows of ``weight`` at ``input``; ``padding_idx`` rows get no gradient."""
    return dispatch(Embedding, weight, input, padding_idx, scale_grad_by_freq)
