"""Building blocks of the ops' ``meta`` functions: output metadata without computing.

A meta function receives ``MetaArray``s where its forward receives ndarrays (and plain
values for attributes) and returns the ``MetaArray``(s) of the outputs: shape, dtype and
strides exactly as the forward's result has them. These helpers give the common rules:

- ``pointwise``: broadcast shape, torch's result dtype, NumPy's output layout;
- ``layout``: the strides NumPy gives a new array computed elementwise from operands
  (``order="K"``: it keeps the operands' memory order, C order winning conflicts);
- ``reduced``: the shape of a reduction over ``dims``;
- ``new``: a C-contiguous result.

The table-driven suite (``tests/test_op_table.py``) checks every op's meta against its
real result on every recorded sample, so a rule that drifts from the kernel fails there.
"""

from __future__ import annotations

import numpy as np

from .._dtype import get_default_dtype, result_type_arrays
from .._meta import MetaArray, contiguous_strides

__all__ = ["MetaArray", "broadcast_shapes", "layout", "new", "pointwise", "reduced", "like",
           "result_dtype", "float_dtype"]


def new(shape, dtype) -> MetaArray:
    """A C-contiguous array of ``shape`` and ``dtype`` (NumPy dtype)."""
    return MetaArray(tuple(shape), dtype)


def broadcast_shapes(*shapes) -> tuple:
    """The broadcast of ``shapes``; torch's RuntimeError when they do not broadcast."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, ndim - len(s)):
            if n != 1:
                if out[i] != 1 and out[i] != n:
                    raise RuntimeError(
                        f"The size of tensor a ({out[i]}) must match the size of tensor b "
                        f"({n}) at non-singleton dimension {i}")
                out[i] = n
    return tuple(out)


def _broadcast_strides(x, shape: tuple) -> tuple:
    """``x``'s strides as NumPy's iterator sees them after broadcasting to ``shape``:
    0 for new and size-1 dimensions."""
    lead = len(shape) - x.ndim
    strides = [0] * lead
    for n, s in zip(x.shape, x.strides):
        strides.append(0 if n == 1 else s)
    return tuple(strides)


def layout(shape: tuple, itemsize: int, *operands) -> tuple:
    """Strides (bytes) of a new array of ``shape`` that NumPy computes elementwise from
    ``operands`` (arrays or MetaArrays; other values are ignored) with ``order="K"``.

    NumPy's iterator sorts the axes by the operands' strides, innermost first (an
    insertion sort; where operands disagree, the first one with a say decides but C
    order wins conflicts), and allocates the output in that order.
    """
    ndim = len(shape)
    ops = [_broadcast_strides(x, shape) for x in operands
           if isinstance(x, np.ndarray | MetaArray) and x.ndim <= ndim]
    perm = list(range(ndim))[::-1]  # iterator order: innermost axis first
    for i0 in range(1, ndim):
        ipos, j0 = i0, perm[i0]
        for i1 in range(i0 - 1, -1, -1):
            j1 = perm[i1]
            ambiguous, swap = True, False
            for st in ops:
                s0, s1 = st[j0], st[j1]
                if s0 != 0 and s1 != 0:
                    if abs(s1) <= abs(s0):
                        swap = False
                    elif ambiguous:
                        swap = True
                    ambiguous = False
            if not ambiguous:
                if swap:
                    ipos = i1
                else:
                    break
        if ipos != i0:
            perm.insert(ipos, perm.pop(i0))
    strides, step = [0] * ndim, itemsize
    for ax in perm:
        strides[ax] = step
        step *= max(shape[ax], 1)
    return tuple(strides)


def like(x, dtype=None, shape=None) -> MetaArray:
    """An array laid out as NumPy lays out a result computed elementwise from ``x``
    (``np.empty_like(x)``, ``x.astype(dtype)``, a unary ufunc)."""
    dt = np.dtype(x.dtype if dtype is None else dtype)
    shape = tuple(x.shape if shape is None else shape)
    return MetaArray(shape, dt, layout(shape, dt.itemsize, x))


def result_dtype(*operands) -> np.dtype:
    """torch's result dtype of ``operands`` (MetaArrays and Python scalars), as NumPy."""
    return result_type_arrays(*operands).np


def float_dtype(dt) -> np.dtype:
    """``dt`` if it is floating point or complex, else the default float dtype (as
    ``torch.sqrt`` of an integer tensor)."""
    dt = np.dtype(dt)
    if dt.kind in "fc" or dt.name == "bfloat16":
        return dt
    return get_default_dtype().np


def pointwise(*operands, dtype=None) -> MetaArray:
    """The result of an elementwise op on ``operands``: broadcast shape, ``dtype`` (by
    default torch's promotion of the operands) and NumPy's layout."""
    shapes = [x.shape for x in operands if isinstance(x, np.ndarray | MetaArray)]
    shape = broadcast_shapes(*shapes)
    dt = np.dtype(result_dtype(*operands) if dtype is None else dtype)
    return MetaArray(shape, dt, layout(shape, dt.itemsize, *operands))


def reduced(shape: tuple, dims: tuple, keepdim: bool) -> tuple:
    """The shape left by reducing ``dims`` (already wrapped) of ``shape``."""
    if keepdim:
        return tuple(1 if i in dims else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in dims)


def contiguous(shape, itemsize: int) -> tuple:
    """C-order strides in bytes."""
    return contiguous_strides(tuple(shape), itemsize)


def _dense(shape: tuple, strides: tuple, itemsize: int) -> bool:
    """Whether (shape, strides) is C-contiguous, as NumPy's flag says: dims of size 1 do not
    count, and an empty array is contiguous."""
    if 0 in shape:
        return True
    step = itemsize
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1:
            if s != step:
                return False
            step *= n
    return True


def empty_like(x, dtype=None) -> MetaArray:
    """The layout of ``np.empty_like(x)`` and ``x.copy(order="K")`` (NumPy's
    ``PyArray_NewLikeArray``): C order when ``x`` is C-contiguous, Fortran order when it is
    F-contiguous, else the dims sorted by |stride|, largest outermost (ties: the earlier dim
    outermost). Unlike ``like`` (an elementwise result), dims of stride 0 take part."""
    dt = np.dtype(x.dtype if dtype is None else dtype)
    shape, strides = tuple(x.shape), tuple(x.strides)
    if _dense(shape, strides, x.itemsize):
        return MetaArray(shape, dt)
    if _dense(shape[::-1], strides[::-1], x.itemsize):
        perm = list(range(len(shape)))[::-1]
    else:
        perm = sorted(range(len(shape)), key=lambda d: (-abs(strides[d]), d))
    out, step = [0] * len(shape), dt.itemsize
    for ax in reversed(perm):
        out[ax] = step
        step *= max(shape[ax], 1)
    return MetaArray(shape, dt, out)


class DynamicOutputShapeError(NotImplementedError):
    """What a meta function raises when its output's shape depends on the input's values
    (``nonzero``, ``unique``, indexing with a boolean mask): a meta tensor has none. torch's
    meta kernels refuse these ops with a NotImplementedError as well."""


def dynamic_shape(op: str):
    """Raise ``DynamicOutputShapeError`` for ``op``."""
    raise DynamicOutputShapeError(f"{op}: the shape of the result depends on the values of the "
                                  "input, which a meta tensor does not have")


def constant(arr: np.ndarray, like):
    """``arr`` as a constant Tensor on ``like``'s device: the array itself, or only its
    metadata when ``like`` is a meta tensor (the kernels, index tables and masks that nn
    functions build from shapes)."""
    from .._tensor import _make
    return _make(MetaArray.like(arr) if type(like._data) is MetaArray else arr)
