"""Variable-length sequences for the recurrent layers: PackedSequence and (un)packing.

A PackedSequence stores the time steps of a batch sorted by decreasing length, step by
step: ``data[sum(batch_sizes[:t]) : sum(batch_sizes[:t+1])]`` holds step ``t`` of the
``batch_sizes[t]`` sequences still running. Packing and unpacking are row gathers
(``index_select``), so gradients flow through both.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..._tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence", "invert_permutation"]


def _long(values) -> Tensor:
    import ember
    return ember.from_numpy(np.asarray(values, dtype=np.int64))


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    if permutation is None:
        return None
    perm = permutation._data
    out = np.empty_like(perm)
    out[perm] = np.arange(perm.size)
    return _long(out)


class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """``(data, batch_sizes, sorted_indices, unsorted_indices)`` of a packed batch."""

    def __new__(cls, data: Tensor, batch_sizes: Tensor | None = None,
                sorted_indices: Tensor | None = None, unsorted_indices: Tensor | None = None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data: Tensor) -> PackedSequence:
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        return self._with_data(self.data.to(*args, **kwargs))

    def cpu(self) -> PackedSequence:
        return self

    def double(self) -> PackedSequence:
        return self._with_data(self.data.double())

    def float(self) -> PackedSequence:
        return self._with_data(self.data.float())

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


def _packed_rows(batch_sizes: np.ndarray) -> np.ndarray:
    """For each packed row, its flat position ``t * B + b`` in the padded ``(T, B)`` grid."""
    b = int(batch_sizes[0]) if batch_sizes.size else 0
    return np.concatenate([t * b + np.arange(n) for t, n in enumerate(batch_sizes)]) \
        if batch_sizes.size else np.zeros(0, dtype=np.int64)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded ``(T, B, *)`` (or ``(B, T, *)``) batch of sequences of ``lengths``."""
    lengths = np.asarray(lengths._data if isinstance(lengths, Tensor) else lengths,
                         dtype=np.int64)
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                               "to pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        sorted_indices = _long(order)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    if lengths.size and lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    if batch_first:
        input = input.transpose(0, 1)
    steps, batch = input.shape[:2]
    if lengths.size and lengths[0] > steps:
        raise RuntimeError(f"Expected sequence length to be larger than or equal to "
                           f"{lengths[0]}, but got {steps}")
    batch_sizes = (lengths[None, :] > np.arange(int(lengths[0]) if lengths.size else 0)[:, None]
                   ).sum(1)
    flat = input.reshape((steps * batch,) + tuple(input.shape[2:]))
    data = flat.index_select(0, _long(_packed_rows(batch_sizes)))
    return PackedSequence(data, _long(batch_sizes), sorted_indices)


def _unpack_sorted(sequence: PackedSequence, padding_value: float, total_length: int | None):
    """The padded ``(T, B, *)`` batch in sorted order and the sorted lengths."""
    import ember
    batch_sizes = sequence.batch_sizes._data
    data = sequence.data
    steps = len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {steps}")
        steps = total_length
    batch = int(batch_sizes[0])
    rows = _packed_rows(batch_sizes)
    source = np.full(steps * batch, data.shape[0], dtype=np.int64)  # default: the pad row
    source[rows] = np.arange(rows.size)
    pad_row = ember.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype)
    padded = ember.cat([data, pad_row]).index_select(0, _long(source))
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1)
    return padded.reshape((steps, batch) + tuple(data.shape[1:])), lengths


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """Unpack to ``(padded, lengths)``, in the batch order given to ``pack_*``."""
    padded, lengths = _unpack_sorted(sequence, padding_value, total_length)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices._data]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, _long(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack ``(L_i, *)`` tensors into ``(T, B, *)`` (``(B, T, *)`` if batch_first), padded."""
    import ember
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    sequences = list(sequences)
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            fill = ember.full((missing,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype)
            s = ember.cat([s, fill] if padding_side == "right" else [fill, s])
        padded.append(s)
    return ember.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor, batch_first: bool = False):
    """The inverse of ``pad_sequence``: a list of the unpadded sequences."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:int(n)] for seq, n in zip(padded_sequences, lengths.tolist())]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of ``(L_i, *)`` tensors."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The inverse of ``pack_sequence``: a list of the sequences."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
