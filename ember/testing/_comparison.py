"""``assert_close``: torch's comparison of tensors, numbers and nested sequences/mappings of
them, with torch's default tolerances per dtype, its attribute checks (shape, dtype,
stride) and its failure messages, word for word (tests and tools parse them)."""

from __future__ import annotations

import collections.abc
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _dtype
from .._tensor import Tensor, _make

__all__ = ["assert_close", "assert_allclose"]

# (rtol, atol) per dtype name: torch.testing's defaults
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7), "complex64": (1.3e-6, 1e-5),
               "complex128": (1e-7, 1e-7)}


class _Failure(Exception):
    """A mismatch found somewhere in the inputs: its exception type and message."""

    def __init__(self, kind: type, message: str):
        super().__init__(message)
        self.kind, self.message, self.path = kind, message, None


def _tolerances(*dtype_names: str, rtol, atol) -> tuple[float, float]:
    if (rtol is None) != (atol is None):
        raise ValueError("Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'rtol' if rtol is None else 'atol'}.")
    if rtol is not None:
        return float(rtol), float(atol)
    pairs = [_TOLERANCES.get(n, (0.0, 0.0)) for n in dtype_names]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _is_number(x) -> bool:
    return isinstance(x, (bool, int, float, complex, np.number, np.bool_))


def _number_dtype(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "bool"
    if isinstance(x, (int, np.integer)):
        return "int64"
    return "complex128" if isinstance(x, (complex, np.complexfloating)) else "float64"


def _index(flat_index: int, shape: tuple) -> str:
    return str(tuple(int(i) for i in np.unravel_index(flat_index, shape))) if shape else "()"


def _compare_values(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                    equal_nan: bool, scalar: bool, a_item=None, e_item=None) -> str | None:
    """None when close, else torch's message."""
    exact = rtol == 0 and atol == 0
    kind = actual.dtype.kind
    if kind == "b":
        actual, expected = actual.astype(np.int64), expected.astype(np.int64)
    if actual.dtype.kind in "fc" or actual.dtype.name == "bfloat16":
        if actual.dtype.name == "bfloat16":
            actual, expected = actual.astype(np.float32), expected.astype(np.float32)
        with np.errstate(all="ignore"):  # non-finite values must be equal
            finite = np.isfinite(actual) & np.isfinite(expected)
            close = (actual == expected) | (finite & (np.abs(actual - expected)
                                                      <= atol + rtol * np.abs(expected)))
            if equal_nan:
                close |= np.isnan(actual) & np.isnan(expected)
    else:
        with np.errstate(all="ignore"):
            close = np.abs(actual.astype(np.float64) - expected.astype(np.float64)) <= \
                atol + rtol * np.abs(expected.astype(np.float64)) if not exact else \
                actual == expected
    if np.all(close):
        return None
    with np.errstate(all="ignore"):
        if actual.dtype.kind in "fc":
            abs_diff = np.abs(actual - expected)
            rel_diff = abs_diff / np.abs(expected)
        else:
            abs_diff = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
            rel_diff = abs_diff.astype(np.float32) / np.abs(expected).astype(np.float32)
    title = f"{'Scalars' if scalar else 'Tensor-likes'} are not {'equal' if exact else 'close'}!"

    def number(x):
        return x.item() if hasattr(x, "item") else x

    allowed_abs = "" if exact else f" (up to {atol} allowed)"
    allowed_rel = "" if exact else f" (up to {rtol} allowed)"
    if scalar:
        return (f"{title}\n\nExpected {e_item} but got {a_item}.\n"
                f"Absolute difference: {number(abs_diff.reshape(-1)[0])}{allowed_abs}\n"
                f"Relative difference: {number(rel_diff.reshape(-1)[0])}{allowed_rel}")
    total = close.size
    bad = total - int(close.sum())

    def greatest(diff):
        flat = diff.reshape(-1)
        nan = np.isnan(flat) if flat.dtype.kind == "f" else np.zeros(flat.shape, bool)
        i = int(np.argmax(nan)) if nan.any() else int(np.argmax(flat))
        return number(flat[i]), _index(i, actual.shape)

    abs_v, abs_i = greatest(abs_diff)
    rel_v, rel_i = greatest(rel_diff)
    return (f"{title}\n\nMismatched elements: {bad} / {total} ({bad / total * 100:.1f}%)\n"
            f"Greatest absolute difference: {abs_v} at index {abs_i}{allowed_abs}\n"
            f"Greatest relative difference: {rel_v} at index {rel_i}{allowed_rel}")


def _attribute(name: str, a, e) -> None:
    if a != e:
        raise _Failure(AssertionError,
                       f"The values for attribute '{name}' do not match: {a} != {e}.")


def _compare_tensors(actual: Tensor, expected: Tensor, rtol, atol, equal_nan: bool,
                     check_dtype: bool, check_stride: bool) -> None:
    _attribute("shape", actual.shape, expected.shape)
    if check_dtype:
        _attribute("dtype", actual.dtype, expected.dtype)
    if check_stride:
        _attribute("stride()", actual.stride(), expected.stride())
    rtol, atol = _tolerances(actual.dtype.name, expected.dtype.name, rtol=rtol, atol=atol)
    a, e = actual.detach().resolve_conj()._data, expected.detach().resolve_conj()._data
    if a.dtype != e.dtype:
        common = _dtype.promote_types(actual.dtype, expected.dtype).np
        a, e = a.astype(common), e.astype(common)
    scalar = actual.ndim == 0
    message = _compare_values(a, e, rtol, atol, equal_nan, scalar,
                              a.item() if scalar else None, e.item() if scalar else None)
    if message is not None:
        raise _Failure(AssertionError, message)


def _compare_numbers(actual, expected, rtol, atol, equal_nan: bool) -> None:
    rtol, atol = _tolerances(_number_dtype(actual), _number_dtype(expected), rtol=rtol,
                             atol=atol)
    if isinstance(actual, complex) or isinstance(expected, complex):
        a, e = np.complex128(actual), np.complex128(expected)
    elif isinstance(actual, float) or isinstance(expected, float):
        a, e = np.float64(actual), np.float64(expected)
    else:
        a, e = np.int64(actual), np.int64(expected)
    if equal_nan and isinstance(a, np.floating) and math.isnan(a) and math.isnan(e):
        return
    message = _compare_values(np.asarray(a), np.asarray(e), rtol, atol, equal_nan, True,
                              actual, expected)
    if message is not None:
        raise _Failure(AssertionError, message)


def _compare(actual, expected, path: list, **options) -> None:
    """Raise ``_Failure`` for the first mismatch, with the ``path`` of keys and indices
    that leads to it."""
    try:
        _compare_here(actual, expected, path, **options)
    except _Failure as failure:
        if failure.path is None:
            failure.path = path
        raise


def _compare_here(actual, expected, path: list, **options) -> None:
    allow_subclasses = options.pop("allow_subclasses")
    if isinstance(actual, np.ndarray) and isinstance(expected, np.ndarray):
        actual, expected = _make(actual), _make(expected)
    if isinstance(actual, Tensor) and isinstance(expected, Tensor):
        if not allow_subclasses and type(actual) is not type(expected):
            raise _Failure(TypeError, f"No comparison pair was able to handle inputs of type "
                           f"{type(actual)} and {type(expected)}.")
        _compare_tensors(actual, expected, **options)
        return
    if _is_number(actual) and _is_number(expected):
        _compare_numbers(actual, expected, options["rtol"], options["atol"],
                         options["equal_nan"])
        return
    if isinstance(actual, collections.abc.Mapping) and isinstance(expected,
                                                                  collections.abc.Mapping):
        a_keys, e_keys = set(actual), set(expected)
        if a_keys != e_keys:
            raise _Failure(AssertionError, (
                "The keys of the mappings do not match:\n"
                f"Missing keys in the actual mapping: {sorted(e_keys - a_keys)}\n"
                f"Additional keys in the actual mapping: {sorted(a_keys - e_keys)}"))
        for key in expected:
            _compare(actual[key], expected[key], path + [key],
                     allow_subclasses=allow_subclasses, **options)
        return
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Failure(AssertionError, f"The length of the sequences mismatch: "
                           f"{len(actual)} != {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, path + [i], allow_subclasses=allow_subclasses, **options)
        return
    if actual is None and expected is None:
        return
    raise _Failure(TypeError, f"No comparison pair was able to handle inputs of type "
                   f"{type(actual)} and {type(expected)}.")


def _is_sequence(x) -> bool:
    return isinstance(x, collections.abc.Sequence) and not isinstance(x, str)


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True,
                 rtol: float | None = None, atol: float | None = None, equal_nan: bool = False,
                 check_device: bool = True, check_dtype: bool = True,
                 check_layout: bool = True, check_stride: bool = False,
                 msg: str | Callable[[str], str] | None = None) -> None:
    """Assert that ``actual`` and ``expected`` are close, as ``torch.testing.assert_close``:
    ``|actual - expected| <= atol + rtol * |expected|`` elementwise, with torch's default
    tolerances for the dtypes (exact for integers and bools), after checking shape and dtype
    (and strides with ``check_stride``). Tensors, numbers and (nested) sequences and
    mappings of them are compared; a mismatch raises AssertionError with torch's message
    (``msg`` replaces it, or transforms it when callable)."""
    try:
        _compare(actual, expected, [], allow_subclasses=allow_subclasses, rtol=rtol,
                 atol=atol, equal_nan=equal_nan, check_dtype=check_dtype,
                 check_stride=check_stride)
    except _Failure as failure:
        message = failure.message
        if failure.path:
            message += "\n\nThe failure occurred for item " + "".join(
                str([key]) for key in failure.path)
        if callable(msg):
            message = msg(message)
        elif msg is not None:
            message = msg
        raise failure.kind(message) from None


def assert_allclose(actual: Any, expected: Any, rtol: float | None = None,
                    atol: float | None = None, equal_nan: bool = True,
                    msg: str = "") -> None:
    """The deprecated ``torch.testing.assert_allclose``: ``assert_close`` without the dtype
    check, NaNs equal by default."""
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan,
                 check_dtype=False, msg=msg or None)
