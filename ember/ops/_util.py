"""Helpers the op modules share: torch's dtype promotion on arrays, dim handling."""

from __future__ import annotations

import numpy as np

from .._dtype import from_numpy_dtype, get_default_dtype, is_bfloat16, result_type_arrays

_FLOAT_KINDS = "fc"


def promote(a, b):
    """Cast two operands (arrays or Python scalars) to torch's result type of ``a op b``.

    Python scalars stay scalars when NumPy would give the same result type as torch
    (NumPy treats them as weak too), which keeps ``x * 2.0`` on the fast path.
    """
    ta, tb = type(a), type(b)
    if ta is np.ndarray:
        if tb is np.ndarray:
            if a.dtype is b.dtype or a.dtype == b.dtype:
                return a, b
        elif tb is float:  # (bfloat16 takes the general path: ml_dtypes would give float32)
            if a.dtype.kind in _FLOAT_KINDS:
                return a, b
        elif tb is int:
            if a.dtype.kind in "iuf":
                return a, _int_scalar(b, a.dtype)
    elif tb is np.ndarray:
        if ta is float:
            if b.dtype.kind in _FLOAT_KINDS:
                return a, b
        elif ta is int:
            if b.dtype.kind in "iuf":
                return _int_scalar(a, b.dtype), b
    dt = result_type_arrays(a, b).np
    return _cast(a, dt), _cast(b, dt)


def promote_many(*operands):
    dt = result_type_arrays(*operands).np
    return tuple(_cast(x, dt) for x in operands)


def _int_scalar(value: int, dtype):
    # NumPy refuses Python ints outside the array's integer range; torch wraps them.
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            return np.array(value).astype(dtype)
    return value


def _cast(x, dt):
    if type(x) is np.ndarray:
        return x if x.dtype == dt else x.astype(dt)
    if type(x) is int:
        x = _int_scalar(x, np.dtype(dt))
    return np.asarray(x, dtype=dt)


def float_result(a):
    """Integer and bool arrays become the default float dtype (as ``torch.sqrt(int)``)."""
    if a.dtype.kind in _FLOAT_KINDS or is_bfloat16(a.dtype):
        return a
    return a.astype(get_default_dtype().np)


def wrap_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim + n if dim < 0 else dim


def wrap_dims(dims, ndim: int) -> tuple:
    """Normalise ``dim`` arguments (int, sequence, or None for all dims) to a sorted tuple."""
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, (int, np.integer)):
        dims = (int(dims),)
    out = tuple(sorted(wrap_dim(d, ndim) for d in dims))
    for a, b in zip(out, out[1:]):
        if a == b:
            raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
    return out


def dtype_name(arr) -> str:
    return from_numpy_dtype(arr.dtype).scalar_name


def require_tensors(fn: str, **args) -> None:
    """torch's TypeError when something other than a Tensor is passed where its signature
    wants one (``args``: the arguments by name, in positional order)."""
    from .._tensor import Tensor
    for position, (name, value) in enumerate(args.items(), 1):
        if not isinstance(value, Tensor):
            raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, "
                            f"not {type(value).__name__}")
