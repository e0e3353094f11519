"""Quantized tensors: integer storage + a quantized dtype + the affine map back to floats.

A quantized tensor (``ember.quantize_per_tensor``, ``ember.quantize_per_channel``) is a
wrapper subclass of ``Tensor`` (see ``Tensor._make_wrapper_subclass``): its own ``_data``
is storage-less metadata (shape, strides, the integer NumPy dtype), and it keeps

- ``_int``: the integer values (a plain int8/uint8/int32 tensor, what ``int_repr()`` gives),
- the dtype (``ember.qint8``, ``ember.quint8``, ``ember.qint32``) and the quantization
  scheme with its parameters: one ``scale``/``zero_point`` (per tensor) or one per slice
  along ``axis`` (per channel).

``real = (q - zero_point) * scale``. Quantizing rounds ``x * (1 / scale)`` to the nearest
integer (ties to even), adds the zero point and clamps to the dtype's range -- float32
arithmetic as in torch's kernels, so the integers equal torch's on the same data.

Quantizing, dequantizing and ``int_repr`` are ops of the op table (``ember/ops/quantize.py``)
on the integer storage: the integers are kept as the Tensor the quantize op returned
(``_ints``), so the compiler, the profiler and the exporters see one dataflow from the
float input through the integers back to floats.

The dispatcher hands every op on a quantized tensor to ``QuantizedTensor.__torch_dispatch__``:
view and shape ops (``reshape``, slicing, ``permute``, ``cat`` of equal parameters, ...) and
``clone``/``relu`` run on the integers and keep the parameters; anything else raises
torch's ``NotImplementedError`` for the QuantizedCPU backend, as torch does (quantized
arithmetic lives in ``ember.ao.nn.quantized``).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype
from .._device import CPU
from .._formatting import _add_suffixes, _tensor_str
from .._tensor import Tensor, _make, tensor_method
from . import quantize as _qops
from .quantize import (  # noqa: F401 (the integer maps, imported from here by the modules)
    _fake_quantize_learnable_per_channel_affine,
    _fake_quantize_learnable_per_tensor_affine,
    dequantize_array,
    fake_quantize_per_channel_affine,
    fake_quantize_per_tensor_affine,
    quantize_array,
)
from .quantized_mm import _weight_int8pack_mm

__all__ = ["qint8", "quint8", "qint32", "per_tensor_affine", "per_channel_affine",
           "per_tensor_symmetric", "per_channel_symmetric", "qscheme",
           "quantize_per_tensor", "quantize_per_channel", "dequantize",
           "fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine",
           "_fake_quantize_learnable_per_tensor_affine",
           "_fake_quantize_learnable_per_channel_affine", "_weight_int8pack_mm"]


class _QDtype(_dtype.dtype):
    """A quantized dtype: its storage is the integer NumPy dtype ``np``."""

    __slots__ = ("qmin", "qmax", "_scalar")

    def __init__(self, name: str, np_dtype, scalar: str):
        super().__init__(name, np_dtype, _dtype._INT, 0)
        info = np.iinfo(self.np)
        self.qmin, self.qmax = int(info.min), int(info.max)
        self._scalar = scalar

    @property
    def scalar_name(self) -> str:
        return self._scalar

    def __reduce__(self):
        return (_qdtype_by_name, (self.name,))


qint8 = _QDtype("qint8", np.int8, "QInt8")
quint8 = _QDtype("quint8", np.uint8, "QUInt8")
qint32 = _QDtype("qint32", np.int32, "QInt32")
_QDTYPES = {d.name: d for d in (qint8, quint8, qint32)}


def _qdtype_by_name(name: str) -> _QDtype:
    return _QDTYPES[name]


class qscheme:
    """A quantization scheme (``ember.per_tensor_affine``, ...)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"ember.{self.name}"

    def __reduce__(self):
        return (_qscheme_by_name, (self.name,))


per_tensor_affine = qscheme("per_tensor_affine")
per_channel_affine = qscheme("per_channel_affine")
per_tensor_symmetric = qscheme("per_tensor_symmetric")
per_channel_symmetric = qscheme("per_channel_symmetric")
_QSCHEMES = {s.name: s for s in (per_tensor_affine, per_channel_affine, per_tensor_symmetric,
                                 per_channel_symmetric)}


def _qscheme_by_name(name: str) -> qscheme:
    return _QSCHEMES[name]


# ---- the tensor ---------------------------------------------------------------------------

class QuantizedTensor(Tensor):
    """A tensor of a quantized dtype (``x.is_quantized``): integers + scale/zero point."""

    __slots__ = ("_int", "_ints", "_qdtype", "_qscheme", "_scale", "_zero_point", "_axis")
    is_quantized = True

    @staticmethod
    def _wrap(ints: np.ndarray | Tensor, qdtype: _QDtype, scheme: qscheme, scale, zero_point,
              axis: int | None = None) -> QuantizedTensor:
        """The quantized tensor of the integers ``ints`` (an array, or the Tensor an op
        returned) with the given parameters (NumPy numbers or arrays)."""
        ints_t = ints if isinstance(ints, Tensor) else None
        arr = ints._data if ints_t is not None else ints
        t = Tensor._make_wrapper_subclass(
            QuantizedTensor, arr.shape, dtype=_dtype.from_numpy_dtype(arr.dtype),
            strides=_elem_strides(arr))
        t._int, t._ints, t._qdtype, t._qscheme = arr, ints_t, qdtype, scheme
        t._scale, t._zero_point, t._axis = scale, zero_point, axis
        return t

    def _int_tensor(self) -> Tensor:
        """The integers as a plain Tensor, the same object on every call (what ops on
        this tensor's storage take, so a graph capture links them)."""
        if self._ints is None:
            self._ints = _make(self._int)
        return self._ints

    def _param_tensors(self) -> tuple[Tensor, Tensor]:
        """``scale`` (float64) and ``zero_point`` (int64) as tensors: 0-d per tensor, one
        entry per channel otherwise (the ``dequantize`` op's arguments)."""
        return (_make(np.asarray(self._scale, np.float64)),
                _make(np.asarray(self._zero_point, np.int64)))

    @property
    def dtype(self) -> _QDtype:
        return self._qdtype

    @property
    def device(self):
        return CPU

    @property
    def is_meta(self) -> bool:
        return False

    def qscheme(self) -> qscheme:
        return self._qscheme

    def int_repr(self) -> Tensor:
        """The stored integers as a plain int8/uint8/int32 tensor (a copy, as torch)."""
        return _qops.IntRepr.apply(self._int_tensor())

    def dequantize(self) -> Tensor:
        """The float32 values ``(q - zero_point) * scale``."""
        return _qops.Dequantize.apply(self._int_tensor(), *self._param_tensors(), self._axis)

    def _broadcast_params(self):
        if self._axis is None:
            return self._scale, self._zero_point
        shape = [1] * self._int.ndim
        shape[self._axis] = -1
        return self._scale.reshape(shape), self._zero_point.reshape(shape)

    def q_scale(self) -> float:
        self._require(per_tensor_affine, "q_scale")
        return float(self._scale)

    def q_zero_point(self) -> int:
        self._require(per_tensor_affine, "q_zero_point")
        return int(self._zero_point)

    def q_per_channel_scales(self) -> Tensor:
        self._require(per_channel_affine, "q_per_channel_scales")
        return _make(self._scale.astype(np.float64))

    def q_per_channel_zero_points(self) -> Tensor:
        self._require(per_channel_affine, "q_per_channel_zero_points")
        return _make(self._zero_point.astype(np.int64))

    def q_per_channel_axis(self) -> int:
        self._require(per_channel_affine, "q_per_channel_axis")
        return self._axis

    def _require(self, scheme: qscheme, what: str) -> None:
        if self._qscheme is not scheme:
            kind = "PerTensorAffine" if scheme is per_tensor_affine else "PerChannelAffine"
            raise RuntimeError(f"Expected quantizer->qscheme() == kPer{kind[3:]} to be true, "
                               f"but got false. ({what} needs a {kind} quantized tensor)")

    def numpy(self, *, force: bool = False):
        raise TypeError(f"Got unsupported ScalarType {self._qdtype.scalar_name}")

    def tolist(self):
        return self.dequantize().tolist()

    def item(self):
        return self.dequantize().item()

    def cpu(self, memory_format=None) -> QuantizedTensor:
        return self

    def detach(self) -> QuantizedTensor:
        return self._like(self._int)

    def _like(self, ints: np.ndarray | Tensor) -> QuantizedTensor:
        return QuantizedTensor._wrap(ints, self._qdtype, self._qscheme, self._scale,
                                     self._zero_point, self._axis)

    def __repr__(self) -> str:
        indent = len("tensor(")
        values = self.dequantize()._data
        body = _tensor_str(values, indent) if values.size else "[]"
        suffixes = [f"size={tuple(values.shape)}", f"dtype={self._qdtype!r}",
                    f"quantization_scheme={self._qscheme!r}"]
        if self._axis is None:
            suffixes += [f"scale={float(self._scale)!r}",
                         f"zero_point={int(self._zero_point)}"]
        else:
            suffixes += [f"scale={self.q_per_channel_scales()!r}",
                         f"zero_point={self.q_per_channel_zero_points()!r}",
                         f"axis={self._axis}"]
        return _add_suffixes("tensor(" + body, suffixes, indent)

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_quantized, (self._int, self._qdtype.name, self._qscheme.name,
                                     self._scale, self._zero_point, self._axis))

    def __deepcopy__(self, memo):
        return QuantizedTensor._wrap(self._int.copy(), self._qdtype, self._qscheme, self._scale,
                                     self._zero_point, self._axis)

    @classmethod
    def __torch_dispatch__(cls, op, types, args, kwargs):
        """Integer-preserving ops run on the integers; the rest are torch's error."""
        qs = [a for a in _flat(args) if isinstance(a, QuantizedTensor)]
        first = qs[0]
        per_tensor = first._axis is None
        same = all(q._qdtype is first._qdtype and q._qscheme is first._qscheme
                   and np.array_equal(q._scale, first._scale)
                   and np.array_equal(q._zero_point, first._zero_point)
                   and q._axis == first._axis for q in qs)
        allowed = op.name in _PER_CHANNEL_OPS or (per_tensor and (
            op.kind in ("view", "shape") or op.name in _MONOTONE_OPS))
        if not (allowed and same) and op.name != "relu":
            raise NotImplementedError(
                f"Could not run 'aten::{op.aten}' with arguments from the 'QuantizedCPU' "
                "backend. This could be because the operator doesn't exist for this backend, "
                "or was omitted during the selective/custom build process (if using custom "
                "build).")
        if op.name == "relu":  # max(q, zero_point), by ops on the integers
            if not per_tensor and first._qscheme is not per_channel_affine:
                raise NotImplementedError("relu of this quantized tensor")
            zp = _make(np.asarray(first._broadcast_params()[1]).astype(first._int.dtype))
            return first._like(_maximum(first._int_tensor(), zp))
        unwrapped = [_unwrap(a) for a in args]
        out = op.apply(*unwrapped, **kwargs)
        if isinstance(out, tuple):  # integer values stay quantized; indices do not
            return tuple(first._like(o) if o._data.dtype == first._int.dtype else o
                         for o in out)
        return first._like(out)


def _maximum(a: Tensor, b: Tensor) -> Tensor:
    from .arithmetic import Maximum
    return Maximum.apply(a, b)


_PER_CHANNEL_OPS = {"clone", "copy"}
# ops that commute with an increasing affine map: exact on the integers (max pooling)
_MONOTONE_OPS = {"maxpool"}


def _flat(args):
    for a in args:
        if isinstance(a, list | tuple):
            yield from a
        else:
            yield a


def _unwrap(a):
    if isinstance(a, QuantizedTensor):
        return a._int_tensor()
    if isinstance(a, list | tuple):
        return type(a)(_unwrap(x) for x in a)
    return a


def _elem_strides(arr: np.ndarray) -> tuple:
    if arr.size == 0:
        return None
    return tuple(s // arr.itemsize for s in arr.strides)


def _rebuild_quantized(ints, qdtype: str, scheme: str, scale, zero_point, axis):
    return QuantizedTensor._wrap(ints, _QDTYPES[qdtype], _QSCHEMES[scheme], scale, zero_point,
                                 axis)


# ---- the public functions -----------------------------------------------------------------

def _check_qdtype(dtype, what: str) -> _QDtype:
    if not isinstance(dtype, _QDtype):
        raise RuntimeError(f"{what}: expected a quantized dtype (ember.qint8, ember.quint8 or "
                           f"ember.qint32), got {dtype}")
    return dtype


def quantize_per_tensor(input, scale, zero_point, dtype) -> QuantizedTensor:
    """``torch.quantize_per_tensor``: one scale and zero point for the whole tensor.
    ``input`` may be a list of tensors (then ``scale``/``zero_point`` are tensors of one
    entry per tensor, as in torch)."""
    if isinstance(input, list | tuple):
        return [quantize_per_tensor(x, s, z, dtype) for x, s, z in
                zip(input, scale.tolist(), zero_point.tolist(), strict=True)]
    qdtype = _check_qdtype(dtype, "quantize_per_tensor")
    scale = float(scale.item() if isinstance(scale, Tensor) else scale)
    zero_point = int(zero_point.item() if isinstance(zero_point, Tensor) else zero_point)
    ints = _qops.QuantizePerTensor.apply(input, scale, zero_point, qdtype)
    return QuantizedTensor._wrap(ints, qdtype, per_tensor_affine, np.float64(scale),
                                 np.int64(zero_point))


def quantize_per_channel(input: Tensor, scales: Tensor, zero_points: Tensor, axis: int,
                         dtype) -> QuantizedTensor:
    """``torch.quantize_per_channel``: a scale and zero point per slice along ``axis``."""
    qdtype = _check_qdtype(dtype, "quantize_per_channel")
    scales = scales if isinstance(scales, Tensor) else _make(np.asarray(scales, np.float64))
    zero_points = zero_points if isinstance(zero_points, Tensor) else \
        _make(np.asarray(zero_points, np.int64))
    ints = _qops.QuantizePerChannel.apply(input, scales, zero_points, axis, qdtype)
    return QuantizedTensor._wrap(ints, qdtype, per_channel_affine, scales._data.astype(np.float64),
                                 zero_points._data.astype(np.int64), axis)


def dequantize(tensor):
    """``torch.dequantize``: float32 values of a quantized tensor (or a list of them); a
    float tensor is returned as is."""
    if isinstance(tensor, list | tuple):
        return [dequantize(t) for t in tensor]
    return tensor.dequantize()


@tensor_method("dequantize")
def _dequantize_float(self) -> Tensor:
    """``Tensor.dequantize()`` of a float tensor: the tensor itself (torch's behaviour)."""
    return self
