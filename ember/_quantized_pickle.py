"""Quantized tensors in checkpoints, laid out as torch writes them.

torch pickles a quantized tensor as ``torch._utils._rebuild_qtensor(storage, storage_offset,
size, stride, quantizer_params, requires_grad, backward_hooks)``: the integers live in a
typed storage of the quantized dtype (``torch.QInt8Storage``, ``QUInt8Storage``,
``QInt32Storage``) and ``quantizer_params`` is ``(torch.per_tensor_affine, scale,
zero_point)`` or ``(torch.per_channel_affine, scales, zero_points, axis)`` with float64
scales and int64 zero points as tensors. ``ember.serialization`` writes this call for a
``QuantizedTensor`` and, loading, hands the storage here wrapped in a ``QStorage`` (the
integers alone would not say which quantized dtype they are).

Dynamically quantized LSTM/GRU state dicts hold TorchScript objects (``torch.ScriptObject``):
one ``CellParamsBase`` per layer and direction, holding two ``LinearPackedParamsBase``.
torch writes each as ``NEWOBJ(torch.ScriptObject)`` then ``BUILD((state, qualified_name))``,
``state`` being the class's ``__getstate__`` tuple. ``ScriptObject`` stands for such an
object here (saving and loading): it accepts exactly those two classes, and checks their
states' structure, so reading one builds data and runs nothing -- which is why ember's
``weights_only`` loader accepts them (torch's refuses every ``ScriptObject``).
"""

from __future__ import annotations

import pickle

import numpy as np

from ._tensor import Tensor
from .ops.quantized import (
    _QDTYPES,
    _QSCHEMES,
    QuantizedTensor,
    _QDtype,
    per_channel_affine,
    per_tensor_affine,
    qscheme,
)

__all__ = ["QStorage", "QuantizedTensor", "ScriptObject", "LINEAR_PACKED", "CELL_PARAMS",
           "STORAGE_DTYPES", "STORAGE_NAMES", "QDTYPES", "QSCHEMES", "QDtype", "qscheme",
           "quantizer_params", "rebuild_qtensor"]

QDtype = _QDtype

STORAGE_NAMES = {"qint8": "QInt8Storage", "quint8": "QUInt8Storage", "qint32": "QInt32Storage"}
STORAGE_DTYPES = {storage: _QDTYPES[name] for name, storage in STORAGE_NAMES.items()}
QDTYPES = dict(_QDTYPES)
QSCHEMES = dict(_QSCHEMES)


class QStorage:
    """A loaded storage of a quantized dtype: its integers and the dtype they stand for."""

    __slots__ = ("array", "dtype")

    def __init__(self, array: np.ndarray, dtype: _QDtype):
        self.array, self.dtype = array, dtype


def quantizer_params(q: QuantizedTensor) -> tuple:
    """torch's ``quantizer_params`` of ``q`` (``Tensor._reduce_ex_internal``)."""
    scheme = q.qscheme()
    if scheme is per_tensor_affine:
        return (scheme, q.q_scale(), q.q_zero_point())
    if scheme is per_channel_affine:
        return (scheme, q.q_per_channel_scales(), q.q_per_channel_zero_points(),
                q.q_per_channel_axis())
    raise RuntimeError(f"Serialization is not supported for tensors of type {scheme}")


def _channel_values(values, dtype) -> np.ndarray:
    arr = values._data if isinstance(values, Tensor) else values
    if not isinstance(arr, np.ndarray | list | tuple):
        raise pickle.UnpicklingError(f"_rebuild_qtensor: per-channel parameters must be a "
                                     f"tensor or a list, got {type(values).__name__}")
    # a view, not a copy: the legacy format fills the storages after unpickling
    return np.asarray(arr, dtype=dtype).reshape(-1)


def rebuild_qtensor(storage, storage_offset, size, stride, quantizer_params, requires_grad,
                    backward_hooks) -> QuantizedTensor:
    """``torch._utils._rebuild_qtensor``: the quantized tensor a checkpoint describes (its
    integers a view of the loaded storage, as ``_rebuild_tensor_v2``'s values are)."""
    from .serialization import _strided
    if not isinstance(storage, QStorage):
        raise pickle.UnpicklingError("_rebuild_qtensor expects a quantized storage "
                                     f"(QInt8Storage, ...), got {type(storage).__name__}")
    if not isinstance(quantizer_params, tuple) or not quantizer_params:
        raise pickle.UnpicklingError(f"_rebuild_qtensor: bad quantizer_params "
                                     f"{quantizer_params!r}")
    if requires_grad:  # torch's error on setting requires_grad of an integer-backed tensor
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    ints = _strided(storage.array, storage_offset, size, stride)
    scheme = quantizer_params[0]
    if scheme is per_tensor_affine and len(quantizer_params) == 3:
        _, scale, zero_point = quantizer_params
        return QuantizedTensor._wrap(ints, storage.dtype, scheme, np.float64(scale),
                                     np.int64(zero_point))
    if scheme is per_channel_affine and len(quantizer_params) == 4:
        _, scales, zero_points, axis = quantizer_params
        if not isinstance(axis, int) or not 0 <= axis < len(ints.shape):
            raise ValueError(f"_rebuild_qtensor: per_channel axis {axis} out of range for "
                             f"size {tuple(ints.shape)}")
        scales = _channel_values(scales, np.float64)
        zero_points = _channel_values(zero_points, np.int64)
        expected = ints.shape[axis]
        if scales.size != expected or zero_points.size != expected:
            raise ValueError(f"_rebuild_qtensor: per_channel scales/zero_points length must "
                             f"equal size[axis]={expected}, got scales={scales.size}, "
                             f"zero_points={zero_points.size}")
        return QuantizedTensor._wrap(ints, storage.dtype, scheme, scales, zero_points, axis)
    raise RuntimeError(f"Can't deserialize quantized tensor with qscheme {scheme}")


LINEAR_PACKED = "__torch__.torch.classes.quantized.LinearPackedParamsBase"
CELL_PARAMS = "__torch__.torch.classes.rnn.CellParamsBase"


class ScriptObject:
    """A ``torch.ScriptObject`` of a quantized packed-parameter class in a checkpoint.

    ``state`` is that class's ``__getstate__`` value: for ``LINEAR_PACKED`` ``(weight,
    bias)`` (a quantized tensor, a float tensor or None); for ``CELL_PARAMS`` ``(kind,
    tensors, doubles, ints, packed)`` -- e.g. ``("quantized_dynamic", [bias_ih, bias_hh],
    [], [reduce_range], [ih, hh])`` with ``ih``/``hh`` ``LINEAR_PACKED`` objects. Loading,
    pickle's BUILD hands ``(state, qualified_name)`` to ``__setstate__``."""

    __slots__ = ("qualified_name", "state")

    def __init__(self, qualified_name: str, state: tuple):
        _check_script_state(qualified_name, state)
        self.qualified_name, self.state = qualified_name, state

    def __setstate__(self, build_arg) -> None:
        if not (isinstance(build_arg, tuple) and len(build_arg) == 2):
            raise pickle.UnpicklingError("torch.ScriptObject: expected (state, qualified "
                                         f"name), got {type(build_arg).__name__}")
        if hasattr(self, "qualified_name"):  # built once, as torch's objects
            raise pickle.UnpicklingError("torch.ScriptObject: its state is set twice")
        self.__init__(build_arg[1], build_arg[0])

    def __repr__(self) -> str:
        return f"ScriptObject <{self.qualified_name}>"


def _check_script_state(name, state) -> None:
    def bad(what: str):
        raise pickle.UnpicklingError(f"torch.ScriptObject {name}: {what}")
    if name == LINEAR_PACKED:
        if not (isinstance(state, tuple) and len(state) == 2):
            bad("the state must be (weight, bias)")
        weight, bias = state
        if not isinstance(weight, QuantizedTensor) or \
                not (bias is None or isinstance(bias, Tensor) and
                     not isinstance(bias, QuantizedTensor)):
            bad("expected a quantized weight and a float bias (or None), got "
                f"{type(weight).__name__}, {type(bias).__name__}")
    elif name == CELL_PARAMS:
        if not (isinstance(state, tuple) and len(state) == 5):
            bad("the state must be (kind, tensors, doubles, ints, packed params)")
        kind, tensors, doubles, ints, packed = state
        if not isinstance(kind, str) or \
                not all(isinstance(v, list) for v in (tensors, doubles, ints, packed)):
            bad("the state must be (str, list, list, list, list)")
        if not (all(isinstance(t, Tensor) for t in tensors) and
                all(type(d) is float for d in doubles) and
                all(type(i) is int for i in ints) and
                all(isinstance(p, ScriptObject) and
                    getattr(p, "qualified_name", None) == LINEAR_PACKED for p in packed)):
            bad("its lists must hold tensors, floats, ints and LinearPackedParamsBase objects")
    else:
        bad("ember reads only the quantized packed-parameter objects "
            f"({LINEAR_PACKED}, {CELL_PARAMS})")
