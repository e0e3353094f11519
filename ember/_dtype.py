"""Data types: ember's dtype objects, their NumPy counterparts, and torch's promotion rules.

Each ``ember.dtype`` wraps one NumPy dtype. ``bfloat16`` and the float8 types come from
``ml_dtypes``, which is imported the first time one of their NumPy types is needed (its
import alone takes 0.1-1 s): until then no array of those types can exist, so code that
asks whether an array is bfloat16 uses ``is_bfloat16``/``is_half``, which read the NumPy
dtype's own fields and never load ``ml_dtypes``.
Promotion follows ``torch.promote_types`` and ``torch.result_type``: dimensioned tensors
outrank zero-dim tensors, which outrank Python scalars ("weak" types), and a
lower-priority operand only matters when it belongs to a higher category
(bool < integer < floating point < complex).
"""

from __future__ import annotations

import builtins
import sys

import numpy as np

from ._meta import MetaArray

__all__ = [
    "dtype", "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
    "float32", "float64", "complex64", "complex128", "half", "float", "double", "short",
    "int", "long", "cfloat", "cdouble", "get_default_dtype", "set_default_dtype",
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
    "promote_types", "can_cast",
]

_BOOL, _INT, _FLOAT, _COMPLEX = range(4)


class dtype:
    """A tensor element type (``ember.float32``, ``ember.int64``, ...)."""

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_complex", "is_signed",
                 "_category", "_rank")

    def __init__(self, name: str, np_dtype, category: int, rank: int, itemsize: int = 0):
        self.name = name
        if np_dtype is not None:
            self.np = np.dtype(np_dtype)
        self.itemsize = itemsize or self.np.itemsize
        self.is_floating_point = category == _FLOAT
        self.is_complex = category == _COMPLEX
        self.is_signed = name not in ("bool", "uint8")
        self._category = category
        self._rank = rank

    @property
    def scalar_name(self) -> str:
        """torch's ScalarType name (``Float``, ``Long``, ...), used in error messages."""
        return _SCALAR_NAMES[self.name]

    def to_real(self) -> dtype:
        return {complex64: float32, complex128: float64}.get(self, self)

    def to_complex(self) -> dtype:
        return {float32: complex64, float64: complex128, float16: complex64,
                bfloat16: complex64}.get(self, self)

    def __repr__(self) -> str:
        return f"ember.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))


class _MLDtype(dtype):
    """A dtype whose NumPy type comes from ``ml_dtypes`` (bfloat16, float8), imported on the
    first read of ``.np``. Loading turns every such object into a plain ``dtype`` with its
    ``np`` slot filled, so later reads cost what any other dtype's do."""

    __slots__ = ()

    @property
    def np(self) -> np.dtype:
        _load_ml_dtypes()
        return self.np


_ML_DTYPES_READY = False


def _load_ml_dtypes() -> None:
    """Import ``ml_dtypes`` and give bfloat16 and the float8 dtypes their NumPy types."""
    global _ML_DTYPES_READY, _E4M3FN, _E5M2
    if _ML_DTYPES_READY:
        return
    import ml_dtypes
    for d in (bfloat16, *_FLOAT8):
        d.__class__ = dtype
        d.np = np.dtype(getattr(ml_dtypes, d.name))
        _FROM_NP[d.np] = d
    _E4M3FN, _E5M2 = float8_e4m3fn.np, float8_e5m2.np
    _ML_DTYPES_READY = True


bool = dtype("bool", np.bool_, _BOOL, 0)  # noqa: A001  (torch's name)
uint8 = dtype("uint8", np.uint8, _INT, 1)
int8 = dtype("int8", np.int8, _INT, 2)
int16 = dtype("int16", np.int16, _INT, 3)
int32 = dtype("int32", np.int32, _INT, 4)
int64 = dtype("int64", np.int64, _INT, 5)
float16 = dtype("float16", np.float16, _FLOAT, 6)
bfloat16 = _MLDtype("bfloat16", None, _FLOAT, 7, itemsize=2)
float32 = dtype("float32", np.float32, _FLOAT, 8)
float64 = dtype("float64", np.float64, _FLOAT, 9)
complex64 = dtype("complex64", np.complex64, _COMPLEX, 10)
complex128 = dtype("complex128", np.complex128, _COMPLEX, 11)

# float8 (storage and conversion types, as in torch: ops other than copies, views, cat and
# conversions are not defined for them, and they do not promote with other dtypes).
float8_e4m3fn = _MLDtype("float8_e4m3fn", None, _FLOAT, 6, itemsize=1)
float8_e5m2 = _MLDtype("float8_e5m2", None, _FLOAT, 6, itemsize=1)
float8_e4m3fnuz = _MLDtype("float8_e4m3fnuz", None, _FLOAT, 6, itemsize=1)
float8_e5m2fnuz = _MLDtype("float8_e5m2fnuz", None, _FLOAT, 6, itemsize=1)
_FLOAT8 = (float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz)

half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64  # noqa: A001
cfloat, cdouble = complex64, complex128

_SCALAR_NAMES = {
    "bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int",
    "int64": "Long", "float16": "Half", "bfloat16": "BFloat16", "float32": "Float",
    "float64": "Double", "complex64": "ComplexFloat", "complex128": "ComplexDouble",
    "float8_e4m3fn": "Float8_e4m3fn", "float8_e5m2": "Float8_e5m2",
    "float8_e4m3fnuz": "Float8_e4m3fnuz", "float8_e5m2fnuz": "Float8_e5m2fnuz"}
_ALL = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64,
        complex64, complex128) + _FLOAT8
_FROM_NP = {d.np: d for d in _ALL if not isinstance(d, _MLDtype)}
_NAMES = {d.name: d for d in _ALL}


def _by_name(name: str) -> dtype:
    return _NAMES[name]


def from_numpy_dtype(np_dtype) -> dtype:
    """The ember dtype for a NumPy dtype; a clear TypeError for ones ember lacks."""
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        np_dtype = np.dtype(np_dtype)
        if np_dtype.kind == "V" and "ml_dtypes" in sys.modules:  # made outside ember
            _load_ml_dtypes()
        if np_dtype in _FROM_NP:
            return _FROM_NP[np_dtype]
        if np_dtype.kind == "u":  # uint16/32/64 have no tensor dtype in torch either
            raise TypeError(
                f"can't convert np.ndarray of type numpy.{np_dtype.name}. The only supported types "
                "are: float64, float32, float16, complex64, complex128, int64, int32, int16, "
                "int8, uint8, and bool.") from None
        raise TypeError(f"ember has no dtype for NumPy dtype {np_dtype}") from None


def is_bfloat16(np_dtype: np.dtype) -> builtins.bool:
    """Whether a NumPy dtype is bfloat16, read from the dtype (``ml_dtypes`` stays unloaded;
    the name is read only for ``ml_dtypes``' types, kind "V": it costs microseconds)."""
    return np_dtype.kind == "V" and np_dtype.name == "bfloat16"


def is_half(np_dtype: np.dtype) -> builtins.bool:
    """Whether a NumPy dtype is float16 or bfloat16 (computed or accumulated in float32)."""
    return np_dtype.itemsize == 2 and (np_dtype.kind == "f" or is_bfloat16(np_dtype))


def np_finfo(np_dtype: np.dtype):
    """``numpy.finfo``, from ``ml_dtypes`` for its types (bfloat16, float8)."""
    if np_dtype.kind == "V":
        import ml_dtypes
        return ml_dtypes.finfo(np_dtype)
    return np.finfo(np_dtype)


_default = [float32]


def get_default_dtype() -> dtype:
    """The floating point dtype that Python floats and ``ember.tensor([1.0])`` get."""
    return _default[0]


def set_default_dtype(d: dtype) -> None:
    """Set the default floating point dtype (float16, bfloat16, float32 or float64)."""
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d


def promote_types(a: dtype, b: dtype) -> dtype:
    """torch.promote_types: the smallest dtype both ``a`` and ``b`` can be cast to."""
    if a is b:
        return a
    if a in _FLOAT8 or b in _FLOAT8:
        raise RuntimeError(f"Promotion for Float8 Types is not supported, attempted to promote "
                           f"{a.scalar_name} and {b.scalar_name}")
    if {a, b} == {uint8, int8}:
        return int16
    if {a, b} == {float16, bfloat16}:
        return float32
    if a.is_complex or b.is_complex:
        real = promote_types(a.to_real(), b.to_real())
        return complex128 if real is float64 else complex64
    return a if a._rank > b._rank else b


def _scalar_dtype(value) -> dtype:
    """The dtype a Python number takes as a "weak" operand."""
    if isinstance(value, builtins.bool):
        return bool
    if isinstance(value, builtins.int):
        return int64
    if isinstance(value, complex):
        return complex128 if _default[0] is float64 else complex64
    return _default[0]


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    """torch's combine_categories: a lower-priority type counts only from a higher category."""
    if higher is None:
        return lower
    if lower is None or higher.is_complex:
        return higher
    if lower.is_complex:
        return higher.to_complex() if higher.is_floating_point else lower
    if higher.is_floating_point:
        return higher
    if higher is bool or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def result_type_arrays(*operands) -> dtype:
    """torch.result_type over NumPy arrays (tensor data) and Python scalars."""
    dim = zero = weak = None
    for op in operands:
        if isinstance(op, np.ndarray | MetaArray):
            d = _FROM_NP.get(op.dtype) or from_numpy_dtype(op.dtype)
            if op.ndim:
                dim = d if dim is None else promote_types(dim, d)
            else:
                zero = d if zero is None else promote_types(zero, d)
        elif isinstance(op, np.generic):
            d = from_numpy_dtype(op.dtype)
            zero = d if zero is None else promote_types(zero, d)
        else:
            d = _scalar_dtype(op)
            weak = d if weak is None else promote_types(weak, d)
    return _combine(dim, _combine(zero, weak))


def can_cast(from_: dtype, to: dtype) -> builtins.bool:
    """torch.can_cast: whether an in-place op may write a ``from_`` result into ``to``."""
    if from_._category > to._category:
        return False
    return not (from_ is not bool and to is bool)


# torch saturates conversions to float8_e4m3fn (inf and out-of-range values become +-448,
# NaN stays NaN) where a plain cast gives NaN, and writes NaN as 0x7F (ml_dtypes: 0x7E) in
# float8_e5m2. The "fnuz" types overflow to NaN in both.
_E4M3FN_MAX = 448.0
_E4M3FN = _E5M2 = None  # their NumPy dtypes, once ml_dtypes is loaded
_NUMPY_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def casts_like_numpy(np_dtype: np.dtype) -> builtins.bool:
    """Whether converting into ``np_dtype`` is NumPy's ``astype`` (all but two float8
    types); otherwise use ``cast``."""
    return np_dtype is not _E4M3FN and np_dtype is not _E5M2


def cast(arr: np.ndarray, np_dtype) -> np.ndarray:
    """``arr.astype(np_dtype)`` with torch's conversion semantics where NumPy's differ
    (float8 conversions)."""
    np_dtype = np.dtype(np_dtype)
    if casts_like_numpy(np_dtype):
        return arr.astype(np_dtype)
    if arr.dtype.kind not in "iub" and arr.dtype not in _NUMPY_FLOATS:
        arr = arr.astype(np.float32)  # bfloat16 and float8 sources go through float32
    if np_dtype is _E4M3FN:
        return np.clip(arr, -_E4M3FN_MAX, _E4M3FN_MAX).astype(np_dtype)
    out = arr.astype(np_dtype)
    if arr.dtype.kind in "fc":
        out.view(np.uint8)[np.isnan(arr)] = 0x7F
    return out
