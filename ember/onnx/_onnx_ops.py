"""ONNX operators written with ember ops: what a model loaded by ``ember.onnx.load`` runs.

Each implementation takes the node's inputs positionally (Tensors; ``None`` for an omitted
optional input) and its attributes as keywords, with ONNX's defaults filled in from the
operator's schema by the reader, and returns a Tensor or a tuple of them. Because every
step is an ember op, a loaded model records autograd graphs (it can be fine-tuned), shows
up op by op in the profiler, and runs under any dispatch mode. Shape arithmetic (``Shape``,
``Reshape`` targets, ``Slice`` bounds) is read back as Python ints, as eager ember does.

``OPS`` maps ``(domain, op_type)`` to the implementation; an implementation that needs the
model's opset (the operator changed meaning between versions) takes ``opset=``; one shared
by several operators takes ``op_type=``; one whose results depend on how many the node
asks for takes ``n_outputs=``. An attribute named like an input arrives as ``<name>_attr``
(``Squeeze``'s ``axes`` before opset 13).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx

import ember
import ember.nn.functional as F
from ember import Tensor

OPS: dict[tuple[str, str], Callable] = {}


def onnx_op(*names: str, domain: str = ""):
    """Register the decorated function as the ONNX operator(s) ``names`` of ``domain``."""
    def register(fn):
        for name in names:
            OPS[(domain, name)] = fn
        return fn
    return register


# ---------------------------------------------------------------- helpers

def _ints(t) -> list[int]:
    """A shape, axes or bounds input as Python ints."""
    return [int(v) for v in np.asarray(t.detach().numpy() if isinstance(t, Tensor) else t
                                        ).reshape(-1)]


def _scalar(t):
    return t.reshape(-1)[0].item()


def np_dtype(onnx_type: int) -> np.dtype:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(onnx_type))


def ember_dtype(onnx_type: int):
    from ember._dtype import from_numpy_dtype
    try:
        return from_numpy_dtype(np_dtype(onnx_type))
    except (KeyError, TypeError, ValueError) as e:
        raise TypeError(f"ember has no dtype for ONNX type "
                        f"{onnx.TensorProto.DataType.Name(onnx_type)}") from e


def const(arr) -> Tensor:
    """A Tensor from a NumPy array or number (a copy: ONNX constants are never aliased)."""
    return ember.from_numpy(np.array(arr))


def _axis(axis: int, ndim: int) -> int:
    return axis + ndim if axis < 0 else axis


def _read_axes(axes, ndim: int) -> list[int] | None:
    return None if axes is None else [_axis(a, ndim) for a in _ints(axes)]


# ---------------------------------------------------------------- elementwise

_UNARY = {
    "Abs": ember.abs, "Neg": ember.neg, "Exp": ember.exp, "Log": ember.log, "Sqrt": ember.sqrt,
    "Reciprocal": ember.reciprocal, "Sin": ember.sin, "Cos": ember.cos, "Tan": ember.tan,
    "Asin": ember.asin, "Acos": ember.acos, "Atan": ember.atan, "Sinh": ember.sinh,
    "Cosh": ember.cosh, "Asinh": ember.asinh, "Acosh": ember.acosh, "Atanh": ember.atanh,
    "Tanh": ember.tanh, "Sigmoid": ember.sigmoid, "Relu": ember.relu, "Erf": ember.erf,
    "Floor": ember.floor, "Ceil": ember.ceil, "Round": ember.round, "Sign": ember.sign,
    "Not": ember.logical_not, "IsNaN": ember.isnan, "Softsign": F.softsign, "Mish": F.mish,
    "HardSwish": F.hardswish, "BitwiseNot": ember.bitwise_not,
}
for _name, _fn in _UNARY.items():
    OPS[("", _name)] = (lambda fn: lambda x: fn(x))(_fn)


@onnx_op("Identity")
def _identity(x):
    return x


_BINARY = {
    "Add": ember.add, "Sub": ember.sub, "Mul": ember.mul, "Equal": ember.eq,
    "Less": ember.lt, "Greater": ember.gt, "LessOrEqual": ember.le, "GreaterOrEqual": ember.ge,
    "And": ember.logical_and, "Or": ember.logical_or, "Xor": ember.logical_xor,
    "BitwiseAnd": ember.bitwise_and, "BitwiseOr": ember.bitwise_or,
    "BitwiseXor": ember.bitwise_xor,
}
for _name, _fn in _BINARY.items():
    OPS[("", _name)] = (lambda fn: lambda a, b: fn(a, b))(_fn)


@onnx_op("Div")
def _div(a, b):
    if a.dtype.is_floating_point:
        return a / b
    return ember.div(a, b, rounding_mode="trunc")  # C's integer division, as ONNX's


@onnx_op("Pow")
def _pow(x, y):
    return ember.pow(x, y).to(x.dtype)  # ONNX's result has the base's type


@onnx_op("Mod")
def _mod(a, b, *, fmod):
    return ember.fmod(a, b) if fmod else ember.remainder(a, b)


@onnx_op("BitShift")
def _bitshift(x, y, *, direction):
    return (ember.bitwise_left_shift if direction == "LEFT" else ember.bitwise_right_shift)(x, y)


def _variadic(fn):
    def run(*xs):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return out
    return run


OPS[("", "Max")] = _variadic(ember.maximum)
OPS[("", "Min")] = _variadic(ember.minimum)
OPS[("", "Sum")] = _variadic(ember.add)


@onnx_op("Mean")
def _mean(*xs):
    return _variadic(ember.add)(*xs) / len(xs)


@onnx_op("Where")
def _where(cond, x, y):
    return ember.where(cond, x, y)


@onnx_op("IsInf")
def _isinf(x, *, detect_negative, detect_positive):
    if detect_negative and detect_positive:
        return ember.isinf(x)
    if detect_negative:
        return ember.isneginf(x)
    if detect_positive:
        return ember.isposinf(x)
    return ember.zeros_like(x, dtype=ember.bool)


@onnx_op("Clip")
def _clip(x, lo=None, hi=None, *, min=None, max=None):  # noqa: A002  (ONNX's names)
    lo = _scalar(lo) if lo is not None else min
    hi = _scalar(hi) if hi is not None else max
    if lo is None and hi is None:
        return x
    return ember.clamp(x, lo, hi)


# ---------------------------------------------------------------- activations

@onnx_op("LeakyRelu")
def _leaky_relu(x, *, alpha):
    return F.leaky_relu(x, alpha)


@onnx_op("Elu")
def _elu(x, *, alpha):
    return F.elu(x, alpha)


@onnx_op("Celu")
def _celu(x, *, alpha):
    return F.celu(x, alpha)


@onnx_op("Selu")
def _selu(x, *, alpha, gamma):
    return gamma * ember.where(x > 0, x, alpha * ember.expm1(x))


@onnx_op("HardSigmoid")
def _hard_sigmoid(x, *, alpha, beta):
    return ember.clamp(alpha * x + beta, 0, 1)


@onnx_op("ThresholdedRelu")
def _thresholded_relu(x, *, alpha):
    return ember.where(x > alpha, x, ember.zeros_like(x))


@onnx_op("Shrink")
def _shrink(x, *, bias, lambd):
    zero = ember.zeros_like(x)
    return ember.where(x < -lambd, x + bias, ember.where(x > lambd, x - bias, zero))


@onnx_op("Softplus")
def _softplus(x):
    return ember.log1p(ember.exp(-x.abs())) + ember.relu(x)


@onnx_op("PRelu")
def _prelu(x, slope):
    return ember.where(x < 0, x * slope, x)


@onnx_op("Gelu")
def _gelu(x, *, approximate="none"):
    return F.gelu(x, approximate=approximate)


@onnx_op("Gelu", domain="com.microsoft")
def _ms_gelu(x):
    return F.gelu(x)


@onnx_op("FastGelu", domain="com.microsoft")
def _ms_fast_gelu(x, bias=None):
    return F.gelu(x if bias is None else x + bias, approximate="tanh")


@onnx_op("MultiHeadAttention", domain="com.microsoft")
def _ms_multi_head_attention(query, key, value, bias=None, key_padding_mask=None,
                             attention_bias=None, *rest, num_heads, scale=None,
                             mask_filter_value=None, unidirectional=0):
    """onnxruntime's fused attention, for separate query (B, S, D) and keys/values given
    as (B, L, D) or (B, N, L, H), with an optional additive ``attention_bias``."""
    if bias is not None or key_padding_mask is not None or any(r is not None for r in rest) \
            or unidirectional:
        raise NotImplementedError("MultiHeadAttention with packed bias, key padding mask, "
                                  "past state or unidirectional")
    b, s, d = query.shape

    def heads(t):
        return t if t.ndim == 4 else t.reshape(b, t.shape[1], num_heads, -1).transpose(1, 2)
    out = F.scaled_dot_product_attention(
        heads(query), heads(key), heads(value), attn_mask=attention_bias,
        scale=scale if scale else 1.0 / math.sqrt(d // num_heads))
    return out.transpose(1, 2).reshape(b, s, -1)


@onnx_op("Swish")
def _swish(x, *, alpha=1.0):
    return x * ember.sigmoid(alpha * x)


@onnx_op("Softmax", "LogSoftmax", "Hardmax")
def _softmax_family(x, *, axis, opset, op_type):
    """opset < 13 flattens to 2-D at ``axis`` (default 1); later versions work on one
    axis (default -1)."""
    shape = x.shape
    if opset < 13:
        axis = _axis(axis, x.ndim)
        x = x.reshape(math.prod(shape[:axis]), math.prod(shape[axis:]))
        axis = 1
    if op_type == "Softmax":
        y = F.softmax(x, dim=axis)
    elif op_type == "LogSoftmax":
        y = F.log_softmax(x, dim=axis)
    else:
        axis = _axis(axis, x.ndim)
        first = x.argmax(dim=axis, keepdim=True)
        positions = ember.arange(x.shape[axis]).reshape([-1] + [1] * (x.ndim - axis - 1))
        y = (positions == first).to(x.dtype)
    return y.reshape(shape)


# ---------------------------------------------------------------- linear algebra

@onnx_op("MatMul")
def _matmul(a, b):
    return ember.matmul(a, b)


@onnx_op("Gemm")
def _gemm(a, b, c=None, *, alpha, beta, transA, transB):  # noqa: N803
    if transA:
        a = a.t()
    if transB:
        b = b.t()
    y = a @ b
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c * beta if beta != 1.0 else c)
    return y


@onnx_op("Einsum")
def _einsum(*xs, equation):
    return ember.einsum(equation.replace(" ", ""), *xs)


# ---------------------------------------------------------------- shapes

@onnx_op("Shape")
def _shape(x, *, start=0, end=None):
    return const(np.array(x.shape[start:end], dtype=np.int64))


@onnx_op("Size")
def _size(x):
    return const(np.array(x.numel(), dtype=np.int64))


@onnx_op("Reshape")
def _reshape(x, shape, *, allowzero):
    target = _ints(shape)
    if not allowzero:
        target = [x.shape[i] if s == 0 else s for i, s in enumerate(target)]
    return x.reshape(target)


@onnx_op("Flatten")
def _flatten(x, *, axis):
    axis = _axis(axis, x.ndim)
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@onnx_op("Transpose")
def _transpose(x, *, perm=None):
    return x.permute(*(perm if perm is not None else range(x.ndim - 1, -1, -1)))


@onnx_op("Squeeze")
def _squeeze(x, axes=None, *, axes_attr=None):
    axes = _read_axes(axes, x.ndim) if axes is not None else axes_attr
    if axes is None:
        return x.reshape([s for s in x.shape if s != 1])
    axes = [_axis(a, x.ndim) for a in axes]
    return x.reshape([s for i, s in enumerate(x.shape) if i not in axes])


@onnx_op("Unsqueeze")
def _unsqueeze(x, axes=None, *, axes_attr=None):
    axes = _ints(axes) if axes is not None else axes_attr
    rank = x.ndim + len(axes)
    axes = sorted(_axis(a, rank) for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return x.reshape(shape)


@onnx_op("Concat")
def _concat(*xs, axis):
    return ember.cat([x for x in xs if x is not None], dim=axis)


@onnx_op("Split")
def _split(x, split=None, *, axis, num_outputs=None, split_attr=None, n_outputs):
    axis = _axis(axis, x.ndim)
    dim = x.shape[axis]
    sizes = _ints(split) if split is not None else split_attr
    if sizes is None:
        n = num_outputs or n_outputs
        chunk = -(-dim // n)
        sizes = [min(chunk, dim - i * chunk) for i in range(n)]
    return tuple(ember.split(x, sizes, dim=axis))


@onnx_op("Slice")
def _slice(x, starts=None, ends=None, axes=None, steps=None, *, starts_attr=None,
           ends_attr=None, axes_attr=None):
    starts = _ints(starts) if starts is not None else starts_attr
    ends = _ints(ends) if ends is not None else ends_attr
    axes = _ints(axes) if axes is not None else axes_attr or list(range(len(starts)))
    steps = _ints(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    flips = []
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = _axis(axis, x.ndim)
        dim = x.shape[axis]
        start = start + dim if start < 0 else start
        end = end + dim if end < 0 else end
        if step > 0:
            index[axis] = slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
        else:  # count from the end: flip, then slice forwards
            start = min(max(start, -1), dim - 1)
            end = min(max(end, -1), dim - 1)
            flips.append(axis)
            index[axis] = slice(dim - 1 - start, dim - 1 - end, -step)
    if flips:
        x = x.flip(flips)
    return x[tuple(index)]


@onnx_op("Gather")
def _gather(x, indices, *, axis):
    axis = _axis(axis, x.ndim)
    idx = ember.where(indices < 0, indices + x.shape[axis], indices).to(ember.int64)
    out = x.index_select(axis, idx.reshape(-1))
    return out.reshape(x.shape[:axis] + tuple(idx.shape) + x.shape[axis + 1:])


@onnx_op("GatherElements")
def _gather_elements(x, indices, *, axis):
    axis = _axis(axis, x.ndim)
    idx = ember.where(indices < 0, indices + x.shape[axis], indices).to(ember.int64)
    return ember.gather(x, axis, idx)


@onnx_op("GatherND")
def _gather_nd(x, indices, *, batch_dims):
    depth = indices.shape[-1]
    bshape = x.shape[:batch_dims]
    idx = indices.to(ember.int64)
    dims = ember.tensor(list(x.shape[batch_dims:batch_dims + depth]), dtype=ember.int64)
    idx = ember.where(idx < 0, idx + dims, idx)
    nb = math.prod(bshape)
    flat_x = x.reshape((nb,) + x.shape[batch_dims:])
    flat_i = idx.reshape(nb, -1, depth)
    batch = ember.arange(nb).reshape(nb, 1).expand(nb, flat_i.shape[1])
    out = flat_x[(batch,) + tuple(flat_i[..., k] for k in range(depth))]
    return out.reshape(tuple(indices.shape[:-1]) + x.shape[batch_dims + depth:])


_REDUCE = {"none": None, "add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


@onnx_op("ScatterElements", "Scatter")
def _scatter_elements(x, indices, updates, *, axis, reduction="none"):
    axis = _axis(axis, x.ndim)
    idx = ember.where(indices < 0, indices + x.shape[axis], indices).to(ember.int64)
    if reduction == "none":
        return x.scatter(axis, idx, updates)
    return x.scatter_reduce(axis, idx, updates, _REDUCE[reduction])


@onnx_op("ScatterND")
def _scatter_nd(x, indices, updates, *, reduction):
    """Rows of ``x`` (its first ``depth`` axes flattened) updated at linear positions: one
    scatter along axis 0 covers every reduction."""
    depth = indices.shape[-1]
    lead = x.shape[:depth]
    strides = [math.prod(lead[i + 1:]) for i in range(depth)]
    idx = indices.to(ember.int64)
    idx = ember.where(idx < 0, idx + ember.tensor(list(lead)), idx)
    linear = (idx * ember.tensor(strides)).sum(-1).reshape(-1)
    rows = x.reshape((math.prod(lead),) + x.shape[depth:])
    upd = updates.reshape((linear.shape[0],) + x.shape[depth:])
    index = linear.reshape((-1,) + (1,) * (rows.ndim - 1)).expand(upd.shape)
    out = rows.scatter(0, index, upd) if reduction == "none" else \
        rows.scatter_reduce(0, index, upd, _REDUCE[reduction])
    return out.reshape(x.shape)


@onnx_op("Expand")
def _expand(x, shape):
    target = _ints(shape)
    return x.expand(ember.broadcast_shapes(tuple(x.shape), tuple(target)))


@onnx_op("Tile")
def _tile(x, repeats):
    return x.repeat(*_ints(repeats))


@onnx_op("Range")
def _range(start, limit, delta, *, stash_type=None):
    s, lim, d = _scalar(start), _scalar(limit), _scalar(delta)
    n = max(math.ceil((lim - s) / d), 0)
    return ember.arange(n, dtype=start.dtype) * d + s if n else \
        ember.zeros(0, dtype=start.dtype)


@onnx_op("Constant")
def _constant(*, value=None, value_float=None, value_floats=None, value_int=None,
              value_ints=None):
    if value is not None:
        return const(value)
    if value_float is not None:
        return const(np.float32(value_float))
    if value_floats is not None:
        return const(np.array(value_floats, np.float32))
    if value_int is not None:
        return const(np.int64(value_int))
    return const(np.array(value_ints, np.int64))


@onnx_op("ConstantOfShape")
def _constant_of_shape(shape, *, value=None):
    fill = np.zeros(1, np.float32) if value is None else value.reshape(-1)
    return const(np.full(_ints(shape), fill[0], dtype=fill.dtype))


@onnx_op("EyeLike")
def _eye_like(x, *, dtype=None, k):
    dt = np_dtype(dtype) if dtype is not None else x.numpy().dtype
    return const(np.eye(x.shape[0], x.shape[1], k, dtype=dt))


@onnx_op("Cast")
def _cast(x, *, to, saturate=1, round_mode="up"):
    dtype = ember_dtype(to)
    if "float8" not in str(dtype):
        return x.to(dtype)
    # ONNX's float8 casts: ``saturate`` clamps to the largest finite value (infinities
    # too); without it, out-of-range values become NaN or inf as the format has them
    target = np_dtype(to)
    arr = x.numpy().astype(np.float32)
    if saturate:
        top = float(np.finfo(target).max)
        arr = np.where(np.isnan(arr), arr, np.clip(arr, -top, top))
    return const(arr.astype(target))


@onnx_op("CastLike")
def _cast_like(x, like, *, saturate=1, round_mode="up"):
    return _cast(x, to=onnx.helper.np_dtype_to_tensor_dtype(like.dtype.np), saturate=saturate)


@onnx_op("Dropout")
def _dropout(x, ratio=None, training_mode=None, *, seed=None, n_outputs, ratio_attr=None,
             is_test=None):
    if training_mode is not None and bool(training_mode.item()) and \
            (ratio is None or _scalar(ratio) > 0):
        raise NotImplementedError("Dropout in training mode (random masks cannot match "
                                  "another runtime's)")
    if n_outputs == 2:
        return x, ember.ones(x.shape, dtype=ember.bool)
    return x


@onnx_op("Trilu")
def _trilu(x, k=None, *, upper):
    k = _scalar(k) if k is not None else 0
    return x.triu(k) if upper else x.tril(k)


@onnx_op("CumSum")
def _cumsum(x, axis, *, exclusive, reverse):
    axis = _axis(_scalar(axis), x.ndim)
    if reverse:
        x = x.flip([axis])
    y = x.cumsum(axis).to(x.dtype)
    if exclusive:  # shift by one: a zero first
        zero = ember.zeros_like(x.narrow(axis, 0, 1))
        y = ember.cat([zero, y.narrow(axis, 0, x.shape[axis] - 1)], dim=axis)
    return y.flip([axis]) if reverse else y


@onnx_op("OneHot")
def _one_hot(indices, depth, values, *, axis):
    d = int(_scalar(depth))
    rank = indices.ndim + 1
    axis = _axis(axis, rank)
    idx = indices.to(ember.int64)
    idx = ember.where(idx < 0, idx + d, idx).unsqueeze(axis)
    positions = ember.arange(d).reshape([d] + [1] * (rank - axis - 1))
    return ember.where(idx == positions, values[1], values[0])


@onnx_op("TopK")
def _topk(x, k, *, axis, largest, sorted):  # noqa: A002
    values, indices = ember.topk(x, int(_scalar(k)), dim=axis, largest=bool(largest),
                                 sorted=True)
    return values, indices


@onnx_op("ArgMax", "ArgMin")
def _argmax(x, *, axis, keepdims, select_last_index, op_type):
    fn = ember.argmax if op_type == "ArgMax" else ember.argmin
    axis = _axis(axis, x.ndim)
    if select_last_index:
        return x.shape[axis] - 1 - fn(x.flip([axis]), dim=axis, keepdim=bool(keepdims))
    return fn(x, dim=axis, keepdim=bool(keepdims))


@onnx_op("NonZero")
def _nonzero(x):
    return ember.nonzero(x).t()


@onnx_op("DepthToSpace")
def _depth_to_space(x, *, blocksize, mode):
    b, c, h, w = x.shape
    s = blocksize
    if mode == "DCR":
        y = x.reshape(b, s, s, c // (s * s), h, w).permute(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(b, c // (s * s), s, s, h, w).permute(0, 1, 4, 2, 5, 3)
    return y.reshape(b, c // (s * s), h * s, w * s)


@onnx_op("SpaceToDepth")
def _space_to_depth(x, *, blocksize, mode="DCR"):
    b, c, h, w = x.shape
    s = blocksize
    y = x.reshape(b, c, h // s, s, w // s, s)
    y = y.permute(0, 3, 5, 1, 2, 4) if mode == "DCR" else y.permute(0, 1, 3, 5, 2, 4)
    return y.reshape(b, c * s * s, h // s, w // s)


@onnx_op("Pad")
def _pad(x, pads=None, value=None, axes=None, *, mode, pads_attr=None, value_attr=0.0):
    pads = _ints(pads) if pads is not None else pads_attr
    fill = _scalar(value) if value is not None else value_attr
    axes = _read_axes(axes, x.ndim) if axes is not None else list(range(x.ndim))
    n = len(axes)
    for axis, before, after in zip(axes, pads[:n], pads[n:]):
        x = _pad_axis(x, axis, before, after, mode, fill)
    return x


def _pad_axis(x, axis: int, before: int, after: int, mode: str, fill) -> Tensor:
    """One axis of ONNX's Pad (negative amounts crop), as slices and concatenation."""
    if before < 0:
        x = x.narrow(axis, -before, x.shape[axis] + before)
        before = 0
    if after < 0:
        x = x.narrow(axis, 0, x.shape[axis] + after)
        after = 0
    if not (before or after):
        return x
    dim = x.shape[axis]

    def piece(start, length, side):
        if mode == "constant":
            shape = list(x.shape)
            shape[axis] = length
            return ember.full(shape, fill, dtype=x.dtype)
        if mode == "edge":
            edge = x.narrow(axis, 0 if side == "before" else dim - 1, 1)
            return edge.expand(*[length if i == axis else s for i, s in enumerate(x.shape)])
        if mode == "wrap":
            reps = -(-length // dim) + 1
            tiled = ember.cat([x] * reps, dim=axis)
            off = (dim - length % dim) % dim if side == "before" else 0
            return tiled.narrow(axis, off, length)
        # reflect: mirror without repeating the edge
        if side == "before":
            return x.narrow(axis, 1, length).flip([axis])
        return x.narrow(axis, dim - 1 - length, length).flip([axis])

    parts = []
    if before:
        parts.append(piece(0, before, "before"))
    parts.append(x)
    if after:
        parts.append(piece(0, after, "after"))
    return ember.cat(parts, dim=axis)


# ---------------------------------------------------------------- reductions

def _reduce_axes(x, axes, axes_attr, noop_with_empty_axes):
    axes = _read_axes(axes, x.ndim) if axes is not None else (
        [_axis(a, x.ndim) for a in axes_attr] if axes_attr is not None else None)
    if not axes:
        return None if noop_with_empty_axes else list(range(x.ndim))
    return axes


def _reducer(fn):
    def run(x, axes=None, *, keepdims, noop_with_empty_axes=0, axes_attr=None):
        dims = _reduce_axes(x, axes, axes_attr, noop_with_empty_axes)
        if dims is None:
            return x
        return fn(x, dims, bool(keepdims))
    return run


def _lowest(x, highest: bool = False):
    """The smallest (or largest) value of ``x``'s dtype: a max's (min's) identity."""
    dt = x.numpy().dtype
    if dt == np.bool_:
        return highest
    if x.dtype.is_floating_point:
        return np.inf if highest else -np.inf
    info = np.iinfo(dt)
    return info.max if highest else info.min


def _amax(x, dims, keep):
    if x.numel() == 0:  # the maximum over nothing: the identity, as ONNX's
        return _empty_reduce(x, dims, keep, _lowest(x))
    return x.amax(dims, keepdim=keep)


def _amin(x, dims, keep):
    if x.numel() == 0:
        return _empty_reduce(x, dims, keep, _lowest(x, highest=True))
    return x.amin(dims, keepdim=keep)


def _empty_reduce(x, dims, keep, fill):
    shape = [1 if i in dims else s for i, s in enumerate(x.shape)] if keep else \
        [s for i, s in enumerate(x.shape) if i not in dims]
    return ember.full(shape, fill, dtype=x.dtype)


def _prod(x, dims, keep):
    for d in sorted(dims, reverse=True):
        x = x.prod(d, keepdim=keep)
    return x


_REDUCERS = {
    "ReduceSum": lambda x, d, k: x.sum(d, keepdim=k),
    "ReduceMean": lambda x, d, k: x.mean(d, keepdim=k),
    "ReduceMax": _amax,
    "ReduceMin": _amin,
    "ReduceProd": _prod,
    "ReduceL1": lambda x, d, k: x.abs().sum(d, keepdim=k),
    "ReduceL2": lambda x, d, k: (x * x).sum(d, keepdim=k).sqrt(),
    "ReduceSumSquare": lambda x, d, k: (x * x).sum(d, keepdim=k),
    "ReduceLogSum": lambda x, d, k: x.sum(d, keepdim=k).log(),
    "ReduceLogSumExp": lambda x, d, k: ember.logsumexp(x, d, keepdim=k),
}
for _name, _fn in _REDUCERS.items():
    OPS[("", _name)] = _reducer(_fn)


# ---------------------------------------------------------------- convolution and pooling

def _spatial_pads(x, kernel, strides, dilations, pads, auto_pad, ceil_mode=0):
    """ONNX's pads (``[begin..., end...]``) for the spatial axes, ``auto_pad`` resolved."""
    n = len(kernel)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * n)
        for i in range(n):
            size = x.shape[2 + i]
            out = -(-size // strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size, 0)
            small, big = total // 2, total - total // 2
            pads[i], pads[i + n] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        return pads
    if auto_pad == "VALID":
        return [0] * (2 * n)
    return list(pads) if pads is not None else [0] * (2 * n)


def _fn_nd(name: str, n: int):
    return getattr(F, f"{name}{n}d")


@onnx_op("Conv")
def _conv(x, w, b=None, *, auto_pad, dilations=None, group, kernel_shape=None, pads=None,
          strides=None):
    kernel = list(w.shape[2:])
    n = len(kernel)
    strides = strides or [1] * n
    dilations = dilations or [1] * n
    pads = _spatial_pads(x, kernel, strides, dilations, pads, auto_pad)
    if pads[:n] != pads[n:]:
        x = _pad(x, pads_attr=[0, 0, *pads[:n], 0, 0, *pads[n:]], mode="constant")
        pads = [0] * (2 * n)
    return _fn_nd("conv", n)(x, w, b, tuple(strides), tuple(pads[:n]), tuple(dilations), group)


@onnx_op("ConvTranspose")
def _conv_transpose(x, w, b=None, *, auto_pad, dilations=None, group, kernel_shape=None,
                    output_padding=None, output_shape=None, pads=None, strides=None):
    kernel = list(w.shape[2:])
    n = len(kernel)
    strides = strides or [1] * n
    dilations = dilations or [1] * n
    output_padding = list(output_padding or [0] * n)
    sizes = x.shape[2:]
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = output_shape[-n:] if output_shape is not None else [s * st for s, st in
                                                                    zip(sizes, strides)]
        pads = [0] * (2 * n)
        for i in range(n):
            total = (strides[i] * (sizes[i] - 1) + output_padding[i]
                     + (kernel[i] - 1) * dilations[i] + 1 - target[i])
            small, big = total // 2, total - total // 2
            lower = auto_pad == "SAME_LOWER" if output_shape is None else auto_pad != "SAME_UPPER"
            pads[i], pads[i + n] = (big, small) if lower else (small, big)
    pads = list(pads) if pads is not None else [0] * (2 * n)
    y = _fn_nd("conv_transpose", n)(x, w, b, tuple(strides), 0, tuple(output_padding), group,
                                    tuple(dilations))
    # positive pads crop the full result, negative ones (a larger output_shape) extend it
    return _pad(y, pads_attr=[0, 0, *(-p for p in pads[:n]), 0, 0, *(-p for p in pads[n:])],
                mode="constant")


@onnx_op("MaxPool")
def _max_pool(x, *, auto_pad, ceil_mode, dilations=None, kernel_shape, pads=None,
              storage_order, strides=None, n_outputs):
    n = len(kernel_shape)
    strides = strides or [1] * n
    dilations = dilations or [1] * n
    pads = _spatial_pads(x, kernel_shape, strides, dilations, pads, auto_pad)
    if pads[:n] != pads[n:] or any(2 * p > k for p, k in zip(pads, kernel_shape * 2)):
        low = _lowest(x)
        x = _pad(x, pads_attr=[0, 0, *pads[:n], 0, 0, *pads[n:]], mode="constant",
                 value_attr=low)
        pads = [0] * (2 * n)
    if n_outputs == 2:
        y, idx = _fn_nd("max_pool", n)(x, tuple(kernel_shape), tuple(strides),
                                       tuple(pads[:n]), tuple(dilations), bool(ceil_mode),
                                       return_indices=True)
        # torch's indices count within each (batch, channel) plane; ONNX's in the tensor
        plane = math.prod(x.shape[2:])
        base = ember.arange(x.shape[0] * x.shape[1]).reshape(x.shape[0], x.shape[1],
                                                             *([1] * n)) * plane
        if storage_order:  # column-major positions within each plane (2-D)
            h, w = x.shape[2:]
            idx = idx % w * h + idx // w
        return y, idx + base
    return _fn_nd("max_pool", n)(x, tuple(kernel_shape), tuple(strides), tuple(pads[:n]),
                                 tuple(dilations), bool(ceil_mode))


@onnx_op("AveragePool")
def _avg_pool(x, *, auto_pad, ceil_mode, count_include_pad, dilations=None, kernel_shape,
              pads=None, strides=None):
    """The sum over each window divided by the window's count: of the padded window
    (``count_include_pad``) or of the input elements in it; in ``ceil_mode`` a window may
    run past the padding, and those positions never count. Sums are taken as one strided
    slice per kernel offset, which covers dilations and any rank."""
    n = len(kernel_shape)
    strides = strides or [1] * n
    dilations = dilations or [1] * n
    pads = _spatial_pads(x, kernel_shape, strides, dilations, pads, auto_pad)
    sizes = x.shape[2:]
    outs, extra = [], []
    for i in range(n):
        reach = (kernel_shape[i] - 1) * dilations[i] + 1
        span = sizes[i] + pads[i] + pads[i + n] - reach
        out = (-(-span // strides[i]) if ceil_mode else span // strides[i]) + 1
        if ceil_mode and (out - 1) * strides[i] >= sizes[i] + pads[i]:
            out -= 1  # the last window must start inside the input or its left padding
        outs.append(out)
        extra.append(max((out - 1) * strides[i] + reach - (span + reach), 0))
    ends = [p + e for p, e in zip(pads[n:], extra)]
    padded = _pad(x, pads_attr=[0, 0, *pads[:n], 0, 0, *ends], mode="constant")
    inside = ember.ones((1, 1) + tuple(sizes), dtype=x.dtype)
    if count_include_pad:  # the padding counts, the ceil-mode overhang does not
        inside = _pad(inside, pads_attr=[0, 0, *pads[:n], 0, 0, *pads[n:]], mode="constant",
                      value_attr=1.0)
        count = _pad(inside, pads_attr=[0, 0, *([0] * n), 0, 0, *extra], mode="constant")
    else:
        count = _pad(inside, pads_attr=[0, 0, *pads[:n], 0, 0, *ends], mode="constant")

    def window_sum(t):
        total = None
        for offset in np.ndindex(*kernel_shape):
            index = (slice(None), slice(None)) + tuple(
                slice(o * d, o * d + (m - 1) * s + 1, s)
                for o, d, m, s in zip(offset, dilations, outs, strides))
            total = t[index] if total is None else total + t[index]
        return total
    return window_sum(padded) / window_sum(count)


@onnx_op("GlobalAveragePool")
def _global_avg_pool(x):
    return x.mean(list(range(2, x.ndim)), keepdim=True)


@onnx_op("GlobalMaxPool")
def _global_max_pool(x):
    return x.amax(list(range(2, x.ndim)), keepdim=True)


# ---------------------------------------------------------------- normalization

def _channel(t, ndim: int):
    return t.reshape([-1] + [1] * (ndim - 2))


@onnx_op("BatchNormalization")
def _batch_norm(x, scale, bias, mean, var, *, epsilon, momentum=0.9, training_mode=0,
                spatial=1, is_test=0, consumed_inputs=None):
    if training_mode:  # batch statistics; running ones updated with ``momentum``
        dims = [0] + list(range(2, x.ndim))
        batch_mean = x.mean(dims)
        batch_var = x.var(dims, unbiased=False)
        y = _batch_norm(x, scale, bias, batch_mean, batch_var, epsilon=epsilon)
        return (y, mean * momentum + batch_mean * (1 - momentum),
                var * momentum + batch_var * (1 - momentum))
    rstd = (var + epsilon).rsqrt()
    return (x - _channel(mean, x.ndim)) * _channel(rstd * scale, x.ndim) + _channel(bias, x.ndim)


@onnx_op("InstanceNormalization")
def _instance_norm(x, scale, bias, *, epsilon):
    dims = list(range(2, x.ndim))
    mean = x.mean(dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dims, keepdim=True)
    return (x - mean) * (var + epsilon).rsqrt() * _channel(scale, x.ndim) + \
        _channel(bias, x.ndim)


@onnx_op("LayerNormalization")
def _layer_norm(x, scale, bias=None, *, axis, epsilon, stash_type, n_outputs):
    axis = _axis(axis, x.ndim)
    shape = x.shape[axis:]
    if n_outputs == 1 and tuple(scale.shape) == tuple(shape) and \
            (bias is None or tuple(bias.shape) == tuple(shape)):
        return F.layer_norm(x, shape, scale, bias, epsilon)
    dims = list(range(axis, x.ndim))
    xs = x.to(ember.float32) if stash_type == 1 and x.dtype != ember.float64 else x
    mean = xs.mean(dims, keepdim=True)
    rstd = (((xs - mean) ** 2).mean(dims, keepdim=True) + epsilon).rsqrt()
    y = ((xs - mean) * rstd).to(x.dtype) * scale
    if bias is not None:
        y = y + bias
    return (y, mean, rstd)[:n_outputs]


@onnx_op("GroupNormalization")
def _group_norm(x, scale, bias, *, epsilon, num_groups, stash_type=1, opset):
    b, c = x.shape[:2]
    g = x.reshape(b, num_groups, -1)
    mean = g.mean(-1, keepdim=True)
    var = ((g - mean) ** 2).mean(-1, keepdim=True)
    y = ((g - mean) * (var + epsilon).rsqrt()).reshape(x.shape)
    if opset < 21:  # opset 18's scale and bias are per group
        scale = scale.repeat_interleave(c // num_groups)
        bias = bias.repeat_interleave(c // num_groups)
    return y * _channel(scale, x.ndim) + _channel(bias, x.ndim)


@onnx_op("RMSNormalization")
def _rms_norm(x, scale, *, axis, epsilon, stash_type):
    dims = list(range(_axis(axis, x.ndim), x.ndim))
    xs = x.to(ember.float32) if stash_type == 1 and x.dtype != ember.float64 else x
    y = xs * ((xs * xs).mean(dims, keepdim=True) + epsilon).rsqrt()
    return y.to(x.dtype) * scale


@onnx_op("LpNormalization")
def _lp_normalization(x, *, axis, p):
    norm = x.abs().sum(axis, keepdim=True) if p == 1 else (x * x).sum(axis, keepdim=True).sqrt()
    return ember.where(norm == 0, ember.zeros_like(x), x / norm)


@onnx_op("MeanVarianceNormalization")
def _mvn(x, *, axes):
    mean = x.mean(axes, keepdim=True)
    var = (x * x).mean(axes, keepdim=True) - mean * mean
    return (x - mean) / (var.sqrt() + 1e-9)


@onnx_op("LRN")
def _lrn(x, *, alpha, beta, bias, size):
    c = x.shape[1]
    sq = _pad(x * x, pads_attr=[0, (size - 1) // 2] + [0] * (x.ndim - 2) + [0, size // 2]
              + [0] * (x.ndim - 2), mode="constant")
    total = sq.narrow(1, 0, c)
    for i in range(1, size):
        total = total + sq.narrow(1, i, c)
    return x / (bias + alpha / size * total) ** beta


# ---------------------------------------------------------------- recurrent networks

def _activation(name: str, alpha, beta):
    name = name.lower()
    if name == "sigmoid":
        return ember.sigmoid
    if name == "tanh":
        return ember.tanh
    if name == "relu":
        return ember.relu
    if name == "leakyrelu":
        return lambda t: F.leaky_relu(t, alpha)
    if name == "affine":
        return lambda t: alpha * t + beta
    if name == "scaledtanh":
        return lambda t: alpha * ember.tanh(beta * t)
    if name == "hardsigmoid":
        return lambda t: ember.clamp(alpha * t + beta, 0, 1)
    if name == "elu":
        return lambda t: F.elu(t, alpha)
    if name == "softsign":
        return F.softsign
    if name == "softplus":
        return _softplus
    if name == "thresholdedrelu":
        return lambda t: _thresholded_relu(t, alpha=alpha)
    raise NotImplementedError(f"RNN activation {name}")


_DEFAULT_ALPHA = {"leakyrelu": 0.01, "thresholdedrelu": 1.0, "hardsigmoid": 0.2, "elu": 1.0,
                  "affine": 1.0, "scaledtanh": 1.0}
_DEFAULT_BETA = {"hardsigmoid": 0.5, "affine": 0.0, "scaledtanh": 1.0}


def _activations(names, alphas, betas, per_direction: int, directions: int):
    names = names or {3: ["Sigmoid", "Tanh", "Tanh"], 2: ["Sigmoid", "Tanh"],
                      1: ["Tanh"]}[per_direction]
    if len(names) == per_direction:
        names = names * directions
    out, ai, bi = [], 0, 0
    for name in names:
        low = name.lower()
        a = _DEFAULT_ALPHA.get(low)
        b = _DEFAULT_BETA.get(low)
        if low in _DEFAULT_ALPHA and alphas and ai < len(alphas):
            a, ai = alphas[ai], ai + 1
        if low in _DEFAULT_BETA and betas and bi < len(betas):
            b, bi = betas[bi], bi + 1
        out.append(_activation(name, a, b))
    return [out[d * per_direction:(d + 1) * per_direction] for d in range(directions)]


def _recurrent(cell_kind: str, x, w, r, b, seq_lens, h0, c0, p, attrs):
    """The ONNX RNN/GRU/LSTM loop: one direction at a time, one step at a time, in ember
    ops. Returns Y [seq, dirs, batch, hidden], Y_h and (LSTM) Y_c, in ``layout``."""
    layout = attrs["layout"]
    if layout:
        x = x.transpose(0, 1)
        h0 = h0.transpose(0, 1) if h0 is not None else None
        c0 = c0.transpose(0, 1) if c0 is not None else None
    if seq_lens is not None and any(v != x.shape[0] for v in _ints(seq_lens)):
        raise NotImplementedError(f"{cell_kind} with sequence_lens shorter than the input")
    if attrs.get("clip") is not None:
        raise NotImplementedError(f"{cell_kind} with clip")
    hidden = attrs["hidden_size"] or r.shape[-1]
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[cell_kind]
    direction = attrs["direction"]
    dirs = 2 if direction == "bidirectional" else 1
    acts = _activations(attrs.get("activations"), attrs.get("activation_alpha"),
                        attrs.get("activation_beta"), {1: 1, 3: 2, 4: 3}[gates], dirs)
    seq, batch = x.shape[0], x.shape[1]
    ys, hs, cs = [], [], []
    for d in range(dirs):
        reverse = direction == "reverse" or d == 1
        wb = b[d, :gates * hidden] if b is not None else None
        rb = b[d, gates * hidden:] if b is not None else None
        xw = ember.matmul(x, w[d].t())
        if wb is not None:
            xw = xw + wb
        h = h0[d] if h0 is not None else ember.zeros(batch, hidden, dtype=x.dtype)
        c = c0[d] if c0 is not None else ember.zeros(batch, hidden, dtype=x.dtype)
        f, g, hact = (acts[d] + [None, None])[:3]
        outs = [None] * seq
        steps = range(seq - 1, -1, -1) if reverse else range(seq)
        for t in steps:
            if cell_kind == "LSTM":
                z = xw[t] + h @ r[d].t()
                if rb is not None:
                    z = z + rb
                zi, zo, zf, zc = z.split(hidden, dim=-1)
                if p is not None:
                    pi, po, pf = p[d].split(hidden)
                    zi, zf = zi + pi * c, zf + pf * c
                i_gate = f(zi)
                f_gate = 1 - i_gate if attrs.get("input_forget") else f(zf)
                c = f_gate * c + i_gate * g(zc)
                if p is not None:
                    zo = zo + po * c
                h = f(zo) * hact(c)
            elif cell_kind == "GRU":
                xz, xr, xh = xw[t].split(hidden, dim=-1)
                rz, rr, rh = r[d].split(hidden)
                bz, br, bh = rb.split(hidden) if rb is not None else (0, 0, 0)
                zt = f(xz + h @ rz.t() + bz)
                rt = f(xr + h @ rr.t() + br)
                if attrs.get("linear_before_reset"):
                    ht = g(xh + rt * (h @ rh.t() + bh))
                else:
                    ht = g(xh + (rt * h) @ rh.t() + bh)
                h = (1 - zt) * ht + zt * h
            else:
                z = xw[t] + h @ r[d].t()
                if rb is not None:
                    z = z + rb
                h = f(z)
            outs[t] = h
        ys.append(ember.stack(outs))
        hs.append(h)
        cs.append(c)
    y = ember.stack(ys, dim=1)
    y_h, y_c = ember.stack(hs), ember.stack(cs)
    if layout:
        y, y_h, y_c = y.permute(2, 0, 1, 3), y_h.transpose(0, 1), y_c.transpose(0, 1)
    return y, y_h, y_c


_RNN_ATTRS = dict(activation_alpha=None, activation_beta=None, activations=None, clip=None,
                  direction="forward", hidden_size=None, layout=0)


@onnx_op("LSTM")
def _lstm(x, w, r, b=None, seq_lens=None, h0=None, c0=None, p=None, *, input_forget=0,
          **attrs):
    attrs = {**_RNN_ATTRS, **attrs, "input_forget": input_forget}
    return _recurrent("LSTM", x, w, r, b, seq_lens, h0, c0, p, attrs)


@onnx_op("GRU")
def _gru(x, w, r, b=None, seq_lens=None, h0=None, *, linear_before_reset=0, **attrs):
    attrs = {**_RNN_ATTRS, **attrs, "linear_before_reset": linear_before_reset}
    return _recurrent("GRU", x, w, r, b, seq_lens, h0, None, None, attrs)[:2]


@onnx_op("RNN")
def _rnn(x, w, r, b=None, seq_lens=None, h0=None, **attrs):
    attrs = {**_RNN_ATTRS, **attrs}
    return _recurrent("RNN", x, w, r, b, seq_lens, h0, None, None, attrs)[:2]
