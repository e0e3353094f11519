"""``F.embedding_bag``: sums, means or maxima of bags of embeddings, without materializing
the per-position embeddings of padded batches.

A composite of ember ops: the looked-up rows (``F.embedding``, times ``per_sample_weights``)
are reduced into their bags with ``index_add`` (sum, mean) or ``scatter_reduce("amax")``
(max), so gradients for the weight and the per-sample weights are the ones torch computes.
Which bag each position belongs to, and which positions are padding, is index arithmetic
on the integer inputs, done in NumPy.
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor, _make
from ..ops.creation import zeros

__all__ = ["embedding_bag"]


def _bags(input: Tensor, offsets: Tensor | None, include_last_offset: bool):
    """(flat indices, bag of each position, number of bags)."""
    idx = input._data
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found offsets "
                             f"of type {type(offsets)}")
        n_bags, length = idx.shape
        return idx.reshape(-1), np.repeat(np.arange(n_bags), length), n_bags
    if input.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    if offsets.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    offs = offsets._data.astype(np.int64)
    if offs.size and offs[0] != 0:
        raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
                           f"has to start from position 0. However, got {offs[0]}")
    if offs.size and offs[-1] > idx.size:
        raise RuntimeError(f"offsets[-1] can not be greater than input's length {idx.size}, "
                           f"but got offsets[-1] of {offs[-1]}")
    starts = offs[:-1] if include_last_offset else offs
    end = offs[-1] if include_last_offset and offs.size else idx.size
    pos = np.arange(end)
    return idx[:end], np.searchsorted(starts, pos, side="right") - 1, len(starts)


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Reduce bags of embeddings of ``weight``, as ``torch.nn.functional.embedding_bag``.

    Bags are the rows of a 2-D ``input``, or the runs of a 1-D ``input`` starting at
    ``offsets``; ``mode`` is "sum", "mean" or "max"; positions equal to ``padding_idx`` are
    left out (of the count too); an empty bag gives zeros. ``sparse`` gradients are dense
    here."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                "on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape})"
                             f" is not None, then it must have the same shape as the input "
                             f"({input.shape})")
    if input.dtype.name not in ("int64", "int32"):
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the "
                           "following scalar types: Long, Int; but got "
                           f"{input.dtype.scalar_name} instead")
    flat, bag, n_bags = _bags(input, offsets, include_last_offset)
    num = weight.shape[0]
    bad = (flat < 0) | (flat >= num)
    if bad.any():
        k = int(np.argmax(bad))
        raise RuntimeError(f"Index {k} of input takes value {flat[k]} which is not in the "
                           f"valid range [0, {num})")
    keep = np.ones(flat.shape, bool)
    if padding_idx is not None:
        keep &= flat != (padding_idx + num if padding_idx < 0 else padding_idx)
    sel = np.flatnonzero(keep)
    from .functional import embedding  # (functional star-imports this module)
    rows = embedding(_make(flat[sel]), weight, None, max_norm, norm_type, scale_grad_by_freq)
    if per_sample_weights is not None:
        psw = per_sample_weights.reshape(-1)[_make(sel)]
        rows = rows * psw.unsqueeze(-1)
    seg = bag[sel]
    out = zeros(n_bags, weight.shape[1], dtype=weight.dtype)
    if mode == "max":
        index = _make(np.broadcast_to(seg[:, None], rows.shape).copy())
        return out.scatter_reduce(0, index, rows, "amax", include_self=False)
    out = out.index_add(0, _make(seg), rows)
    if mode == "mean":
        counts = np.bincount(seg, minlength=n_bags).clip(min=1)
        out = out / _make(counts[:, None].astype(weight._data.dtype))
    return out
