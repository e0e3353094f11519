"""Printing tensors exactly as torch does: ``tensor([1., 2.], requires_grad=True)``.

A port of ``torch/_tensor_str.py`` onto NumPy arrays: the same precision, the same rule
for switching to scientific notation, the same column widths and line wrapping, and the
same summarisation (``...``) of tensors with more than ``threshold`` elements. The one
difference is the dtype suffix, which names ember's dtype (``dtype=ember.float64``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any

import numpy as np

from . import _dtype


@dataclasses.dataclass
class _PrinterOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrinterOptions()
_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80),
             "full": (4, math.inf, 3, 80)}


def set_printoptions(precision: int | None = None, threshold: float | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set the options for printing tensors, as ``torch.set_printoptions``.

    ``profile`` ("default", "short" or "full") sets the first four at once; the explicit
    arguments override it. ``sci_mode`` is reset to ``None`` (automatic) unless given.
    """
    if profile is not None:
        (PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems,
         PRINT_OPTS.linewidth) = _PROFILES[profile]
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current print options, as keyword arguments for ``set_printoptions``."""
    return dataclasses.asdict(PRINT_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Temporarily change the print options."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


def type_name(t) -> str:
    """The legacy type string, e.g. ``torch.FloatTensor``."""
    return f"torch.{t.dtype.scalar_name}Tensor"


def dtype_from_type_name(name: str) -> _dtype.dtype:
    """The dtype of a legacy type string (``"torch.DoubleTensor"``), for ``Tensor.type``."""
    for dt in _dtype._ALL:
        if name == f"torch.{dt.scalar_name}Tensor":
            return dt
    raise ValueError(f"invalid type: '{name}'")


class _Formatter:
    """Chooses one width and notation for all elements, from the (summarised) values."""

    def __init__(self, arr: np.ndarray):
        self.floating = _dtype.from_numpy_dtype(arr.dtype).is_floating_point
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        p = PRINT_OPTS.precision
        if not self.floating:
            if arr.size:
                self.max_width = max(len(str(v)) for v in (arr.min().item(), arr.max().item()))
            return
        vals = arr.astype(np.float64).ravel()  # exact for every float dtype
        vals = vals[np.isfinite(vals) & (vals != 0)]
        if not vals.size:
            return
        absv = np.abs(vals)
        lo, hi = absv.min(), absv.max()
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        self.sci_mode = (hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4) \
            if PRINT_OPTS.sci_mode is None else PRINT_OPTS.sci_mode
        if self.sci_mode:
            self.max_width = max(len(f"{v:.{p}e}") for v in vals.tolist())
        elif self.int_mode:
            self.max_width = max(len(f"{v:.0f}") + 1 for v in vals.tolist())
        else:
            self.max_width = max(len(f"{v:.{p}f}") for v in vals.tolist())

    def width(self) -> int:
        return self.max_width

    def format(self, value) -> str:
        if self.floating:
            p = PRINT_OPTS.precision
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{p}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{p}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


def _python_values(arr: np.ndarray) -> list:
    if arr.dtype.kind == "V" or arr.dtype == np.float16:  # ml_dtypes' bfloat16 and float8
        arr = arr.astype(np.float64)
    return arr.tolist()


def _complex_str(value: complex, real_fmt: _Formatter, imag_fmt: _Formatter) -> str:
    real_str = real_fmt.format(value.real)
    imag_str = (imag_fmt.format(value.imag) + "j").lstrip()
    if imag_str[0] in "+-":  # negative numbers, +0.0, -0.0
        return real_str + imag_str
    return real_str + "+" + imag_str


def _element_str(value, fmt1: _Formatter, fmt2: _Formatter | None) -> str:
    return fmt1.format(value) if fmt2 is None else _complex_str(value, fmt1, fmt2)


def _vector_str(arr: np.ndarray, indent: int, summarize: bool, fmt1: _Formatter,
                fmt2: _Formatter | None) -> str:
    element_length = fmt1.width() + 2
    if fmt2 is not None:
        element_length += fmt2.width() + 1
    per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / element_length))
    edge = PRINT_OPTS.edgeitems
    if summarize and not edge:
        data = ["..."]
    elif summarize and arr.shape[0] > 2 * edge:
        data = ([_element_str(v, fmt1, fmt2) for v in _python_values(arr[:edge])] + [" ..."]
                + [_element_str(v, fmt1, fmt2) for v in _python_values(arr[-edge:])])
    else:
        data = [_element_str(v, fmt1, fmt2) for v in _python_values(arr)]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(arr: np.ndarray, indent: int, summarize: bool, fmt1: _Formatter,
                fmt2: _Formatter | None) -> str:
    if arr.ndim == 0:
        return _element_str(_python_values(arr), fmt1, fmt2)
    if arr.ndim == 1:
        return _vector_str(arr, indent, summarize, fmt1, fmt2)
    edge = PRINT_OPTS.edgeitems
    if summarize and arr.shape[0] > 2 * edge:
        rows = [*range(edge), None, *range(arr.shape[0] - edge, arr.shape[0])]
    else:
        rows = list(range(arr.shape[0]))
    slices = ["..." if i is None else _nested_str(arr[i], indent + 1, summarize, fmt1, fmt2)
              for i in rows]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _summarized(arr: np.ndarray) -> np.ndarray:
    """The elements a summarised print shows (the formatter is fitted to these only)."""
    edge = PRINT_OPTS.edgeitems
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        return np.concatenate([arr[:edge], arr[-edge:]]) if arr.shape[0] > 2 * edge else arr
    if not edge:
        return arr[(slice(0, 0),) * arr.ndim]
    if arr.shape[0] > 2 * edge:
        rows = [*range(edge), *range(arr.shape[0] - edge, arr.shape[0])]
    else:
        rows = range(arr.shape[0])
    return np.stack([_summarized(arr[i]) for i in rows])


def _tensor_str(arr: np.ndarray, indent: int) -> str:
    if arr.size == 0:
        return "[]"
    summarize = arr.size > PRINT_OPTS.threshold
    fit = _summarized(arr) if summarize else arr
    if arr.dtype.kind == "c":
        return _nested_str(arr, indent, summarize, _Formatter(fit.real), _Formatter(fit.imag))
    return _nested_str(arr, indent, summarize, _Formatter(fit), None)


def _add_suffixes(tensor_str: str, suffixes: list[str], indent: int) -> str:
    parts = [tensor_str]
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t) -> str:
    """``repr(tensor)``: torch's layout, precision and suffixes. Tensors and Parameters
    print as ``tensor(...)``, other subclasses with their class name (by name: this module
    sits below ``nn``)."""
    plain = type(t).__name__ in ("Tensor", "Parameter")
    prefix = "tensor(" if plain else f"{type(t).__name__}("
    indent = len(prefix)
    arr = t._data
    dt = t.dtype
    default = _dtype.get_default_dtype()
    suffixes = []
    if t.is_meta:  # no values to show: torch's "..." with the device and the size
        suffixes.append("device='meta'")
        suffixes.append(f"size={tuple(arr.shape)}")
        if dt is not default:
            suffixes.append(f"dtype={dt!r}")
        body = "..."
    elif arr.size == 0:
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if dt is not default:
            suffixes.append(f"dtype={dt!r}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(arr.shape)}")
        default_complex = _dtype.complex128 if default is _dtype.float64 else _dtype.complex64
        if dt not in (default, default_complex, _dtype.int64, _dtype.bool):
            suffixes.append(f"dtype={dt!r}")
        body = _tensor_str(arr, indent)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
