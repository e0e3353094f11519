"""Lowerings: each IR node (an op of ``OPS``, by name) written as ONNX nodes.

``LOWERINGS[name](cx, node, *args, **kwargs)`` receives the node's arguments with graph
Values in place (``cx.t(v)`` is the ONNX name of a Value or a constant for a Python
number) and returns the ONNX names of the node's outputs. Shape arguments may hold
``SymInt``s (dynamic sizes): ``cx.b.ints`` writes them. Fused ops are emitted where ONNX or
onnxruntime has them: ``LayerNormalization``, ``Gelu`` (``com.microsoft`` before opset
20), ``Attention`` (opset 23) and single-node ``LSTM``/``GRU``/``RNN`` for recurrent layers
(``_recurrent``). An op without a lowering is refused by the exporter with
``UnsupportedOperatorError`` naming the op and the model's line.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._builder import Builder, SymInt, onnx_type

LOWERINGS: dict[str, Callable] = {}


def lowers(*names: str):
    def register(fn):
        for name in names:
            LOWERINGS[name] = fn
        return fn
    return register


class Ctx:
    """What a lowering sees: the builder, and the IR node's Values' metadata."""

    def __init__(self, b: Builder):
        self.b = b

    def t(self, x, like=None) -> str:
        """The ONNX name of a Value; a Python number as a constant of ``like``'s dtype (a
        NumPy dtype, or a Value whose dtype to take)."""
        if hasattr(x, "meta"):
            return self.b.names[x]
        if x is None:
            return ""
        if isinstance(x, SymInt):  # a size used as a number: computed from the input shapes
            return self.cast(self.b.scalar_int(x), np.int64, _dtype_of(like))
        dt = like.dtype if hasattr(like, "dtype") and not isinstance(like, np.dtype) else like
        return self.b.const(np.asarray(x, dtype=dt if dt is not None else None))

    def cast(self, name: str, src, dst) -> str:
        return name if np.dtype(src) == np.dtype(dst) else \
            self.b.one("Cast", [name], to=onnx_type(dst))

    def as_dtype(self, x, dtype) -> str:
        """``x`` (a Value or a number) as a tensor of ``dtype``."""
        if hasattr(x, "meta"):
            return self.cast(self.b.names[x], x.dtype, dtype)
        return self.t(x, np.dtype(dtype))

    def axes(self, axes) -> str:
        return self.b.ints(list(axes))


def _dtype_of(like) -> np.dtype:
    return np.dtype(like.dtype if hasattr(like, "meta") else like if like is not None
                    else np.int64)


def _dt(node, i: int = 0) -> np.dtype:
    return node.outputs[i].dtype


def _rank(v) -> int:
    return len(v.shape)


def _norm_axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


# ---------------------------------------------------------------- pointwise

_UNARY = {"abs": "Abs", "neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
          "reciprocal": "Reciprocal", "sin": "Sin", "cos": "Cos", "tan": "Tan", "asin": "Asin",
          "acos": "Acos", "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh",
          "acosh": "Acosh", "atanh": "Atanh", "tanh": "Tanh", "sigmoid": "Sigmoid",
          "relu": "Relu", "erf": "Erf", "floor": "Floor", "ceil": "Ceil", "sign": "Sign",
          "logical_not": "Not", "isnan": "IsNaN", "mish": "Mish", "hardswish": "HardSwish"}


def _unary(onnx_op: str):
    def lower(cx, node, a, *rest):
        dt = _dt(node)  # ints into float functions (sqrt of an int tensor) are cast first
        x = cx.as_dtype(a, dt) if dt.kind == "f" or onnx_op == "Not" else cx.t(a)
        if onnx_op == "IsNaN" and a.dtype.kind not in "f":  # ints and bools are never NaN
            return [_filled_like(cx, x, False)]
        return [cx.b.one(onnx_op, [x])]
    return lower


def _filled_like(cx, x: str, value, dtype=np.bool_) -> str:
    return cx.b.one("Expand", [cx.b.const(np.full([1], value, dtype)), cx.b.one("Shape", [x])])


for _name, _op in _UNARY.items():
    LOWERINGS[_name] = _unary(_op)


@lowers("round")
def _round(cx, node, a, decimals=None):
    if decimals:
        scale = cx.t(10.0 ** decimals, _dt(node))
        return [cx.b.one("Div", [cx.b.one("Round", [cx.b.one("Mul", [cx.t(a), scale])]), scale])]
    return [cx.b.one("Round", [cx.t(a)])]


@lowers("bitwise_not")
def _bitwise_not(cx, node, a):
    return [cx.b.one("Not" if a.dtype == np.bool_ else "BitwiseNot", [cx.t(a)])]


@lowers("isinf")
def _isinf(cx, node, a):
    return [cx.b.one("IsInf", [cx.t(a)])]


@lowers("rsqrt")
def _rsqrt(cx, node, a):
    return [cx.b.one("Reciprocal", [cx.b.one("Sqrt", [cx.t(a)])])]


@lowers("log1p")
def _log1p(cx, node, a):
    return [cx.b.one("Log", [cx.b.one("Add", [cx.t(a), cx.t(1, a)])])]


@lowers("expm1")
def _expm1(cx, node, a):
    return [cx.b.one("Sub", [cx.b.one("Exp", [cx.t(a)]), cx.t(1, a)])]


@lowers("log2", "log10")
def _log_base(cx, node, a):
    base = 2.0 if node.name == "log2" else 10.0
    return [cx.b.one("Div", [cx.b.one("Log", [cx.t(a)]), cx.t(math.log(base), a)])]


@lowers("silu")
def _silu(cx, node, a):
    x = cx.t(a)
    return [cx.b.one("Mul", [x, cx.b.one("Sigmoid", [x])])]


@lowers("gelu")
def _gelu(cx, node, a, approximate="none"):
    x = cx.t(a)
    if cx.b.opset >= 20:
        return [cx.b.one("Gelu", [x], approximate=approximate)]
    if approximate == "none":
        return [cx.b.one("Gelu", [x], domain="com.microsoft")]
    return [cx.b.one("FastGelu", [x], domain="com.microsoft")]


@lowers("softplus")
def _softplus(cx, node, a, beta=1, threshold=20):
    x = cx.t(a)
    if beta == 1:
        return [cx.b.one("Softplus", [x])]
    scaled = cx.b.one("Softplus", [cx.b.one("Mul", [x, cx.t(beta, a)])])
    return [cx.b.one("Div", [scaled, cx.t(beta, a)])]


@lowers("log_sigmoid")
def _log_sigmoid(cx, node, a):
    return [cx.b.one("Neg", [cx.b.one("Softplus", [cx.b.one("Neg", [cx.t(a)])])])]


@lowers("hardsigmoid")
def _hardsigmoid(cx, node, a):
    return [cx.b.one("HardSigmoid", [cx.t(a)], alpha=1.0 / 6, beta=0.5)]


@lowers("hardtanh")
def _hardtanh(cx, node, a, min_val=-1, max_val=1):
    return [cx.b.one("Clip", [cx.t(a), cx.t(min_val, a), cx.t(max_val, a)])]


@lowers("leaky_relu")
def _leaky_relu(cx, node, a, negative_slope=0.01):
    return [cx.b.one("LeakyRelu", [cx.t(a)], alpha=float(negative_slope))]


@lowers("elu")
def _elu(cx, node, a, alpha=1, scale=1, input_scale=1):
    x = cx.t(a)
    if input_scale != 1:
        x = cx.b.one("Mul", [x, cx.t(input_scale, a)])
    if scale == 1:
        return [cx.b.one("Elu", [x], alpha=float(alpha))]
    return [cx.b.one("Selu", [x], alpha=float(alpha), gamma=float(scale))]


@lowers("threshold")
def _threshold(cx, node, a, threshold, value):
    x = cx.t(a)
    return [cx.b.one("Where", [cx.b.one("Greater", [x, cx.t(threshold, a)]), x,
                               cx.t(value, a)])]


@lowers("clamp")
def _clamp(cx, node, a, lo=None, hi=None):
    x = cx.as_dtype(a, _dt(node))
    if lo is not None:
        x = cx.b.one("Max", [x, cx.as_dtype(lo, _dt(node))])
    if hi is not None:
        x = cx.b.one("Min", [x, cx.as_dtype(hi, _dt(node))])
    return [x]


@lowers("_to_copy")
def _to_copy(cx, node, a, np_dtype=None):
    if _dt(node).kind == "c" or a.dtype.kind == "c":
        raise NotImplementedError("complex dtypes")
    return [cx.cast(cx.t(a), a.dtype, _dt(node)) if a.dtype != _dt(node) else
            cx.b.one("Identity", [cx.t(a)])]


@lowers("clone", "copy")
def _identity(cx, node, a, *rest):
    src = rest[0] if node.name == "copy" else a
    return [cx.b.one("Identity", [cx.as_dtype(src, _dt(node))])]


_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "maximum": "Max", "minimum": "Min",
           "pow": "Pow"}
_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater",
            "ge": "GreaterOrEqual"}
_LOGICAL = {"logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
            "bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor"}


def _binary(onnx_op: str):
    def lower(cx, node, a, b, alpha=1):
        dt = _dt(node)
        x, y = cx.as_dtype(a, dt), cx.as_dtype(b, dt)
        if alpha != 1:
            y = cx.b.one("Mul", [y, cx.t(alpha, dt)])
        if onnx_op == "Pow" and not hasattr(b, "meta") and b == 2:
            return [cx.b.one("Mul", [x, x])]
        return [cx.b.one(onnx_op, [x, y])]
    return lower


for _name, _op in _BINARY.items():
    LOWERINGS[_name] = _binary(_op)


def _common(a, b) -> np.dtype:
    metas = [v.dtype for v in (a, b) if hasattr(v, "meta")]
    return np.result_type(*metas) if metas else np.dtype(np.float32)


def _compare(onnx_op: str):
    def lower(cx, node, a, b):
        dt = _common(a, b)
        return [cx.b.one(onnx_op, [cx.as_dtype(a, dt), cx.as_dtype(b, dt)])]
    return lower


for _name, _op in _COMPARE.items():
    LOWERINGS[_name] = _compare(_op)


@lowers("ne")
def _ne(cx, node, a, b):
    return [cx.b.one("Not", [_compare("Equal")(cx, node, a, b)[0]])]


def _logical(onnx_op: str):
    def lower(cx, node, a, b):
        dt = _common(a, b)
        if dt != np.bool_:
            bitwise = {"And": "BitwiseAnd", "Or": "BitwiseOr", "Xor": "BitwiseXor"}[onnx_op]
            if node.name.startswith("bitwise"):
                return [cx.b.one(bitwise, [cx.as_dtype(a, dt), cx.as_dtype(b, dt)])]
        return [cx.b.one(onnx_op, [cx.as_dtype(a, np.bool_), cx.as_dtype(b, np.bool_)])]
    return lower


for _name, _op in _LOGICAL.items():
    LOWERINGS[_name] = _logical(_op)


@lowers("div")
def _div(cx, node, a, b, rounding_mode=None):
    dt = _dt(node)
    if rounding_mode is None or dt.kind != "f":
        if rounding_mode == "floor" and dt.kind in "iu":  # ONNX's integer Div truncates
            q = cx.b.one("Div", [cx.as_dtype(a, np.float64), cx.as_dtype(b, np.float64)])
            return [cx.b.one("Cast", [cx.b.one("Floor", [q])], to=onnx_type(dt))]
        return [cx.b.one("Div", [cx.as_dtype(a, dt), cx.as_dtype(b, dt)])]
    q = cx.b.one("Div", [cx.as_dtype(a, dt), cx.as_dtype(b, dt)])
    if rounding_mode == "floor":
        return [cx.b.one("Floor", [q])]
    return [cx.b.one("Where", [cx.b.one("Less", [q, cx.t(0, dt)]), cx.b.one("Ceil", [q]),
                               cx.b.one("Floor", [q])])]


@lowers("remainder", "fmod")
def _remainder(cx, node, a, b):
    dt = _dt(node)
    x, y = cx.as_dtype(a, dt), cx.as_dtype(b, dt)
    if node.name == "fmod":
        return [cx.b.one("Mod", [x, y], fmod=1)]
    if dt.kind in "iu":
        return [cx.b.one("Mod", [x, y], fmod=0)]
    floor = cx.b.one("Floor", [cx.b.one("Div", [x, y])])
    return [cx.b.one("Sub", [x, cx.b.one("Mul", [floor, y])])]


@lowers("where")
def _where(cx, node, cond, a, b):
    dt = _dt(node)
    return [cx.b.one("Where", [cx.as_dtype(cond, np.bool_), cx.as_dtype(a, dt),
                               cx.as_dtype(b, dt)])]


@lowers("maskedfill")
def _masked_fill(cx, node, a, mask, value):
    dt = _dt(node)
    return [cx.b.one("Where", [cx.as_dtype(mask, np.bool_), cx.as_dtype(value, dt),
                               cx.t(a)])]


@lowers("lerp")
def _lerp(cx, node, start, end, weight):
    dt = _dt(node)
    s = cx.as_dtype(start, dt)
    diff = cx.b.one("Sub", [cx.as_dtype(end, dt), s])
    return [cx.b.one("Add", [s, cx.b.one("Mul", [cx.as_dtype(weight, dt), diff])])]


@lowers("addcmul", "addcdiv")
def _addc(cx, node, x, t1, t2, value=1):
    dt = _dt(node)
    op = "Mul" if node.name == "addcmul" else "Div"
    prod = cx.b.one(op, [cx.as_dtype(t1, dt), cx.as_dtype(t2, dt)])
    if value != 1:
        prod = cx.b.one("Mul", [prod, cx.t(value, dt)])
    return [cx.b.one("Add", [cx.as_dtype(x, dt), prod])]


# ---------------------------------------------------------------- linear algebra, nn

@lowers("matmul")
def _matmul(cx, node, a, b):
    return [cx.b.one("MatMul", [cx.t(a), cx.t(b)])]


@lowers("linear")
def _linear(cx, node, x, w, b=None):
    if _rank(x) == 2 and b is not None:
        return [cx.b.one("Gemm", [cx.t(x), cx.t(w), cx.t(b)], transB=1)]
    y = cx.b.one("MatMul", [cx.t(x), cx.b.one("Transpose", [cx.t(w)], perm=[1, 0])])
    return [cx.b.one("Add", [y, cx.t(b)])] if b is not None else [y]


@lowers("einsum")
def _einsum(cx, node, arrays, equation):
    return [cx.b.one("Einsum", [cx.t(a) for a in arrays], equation=equation)]


@lowers("convolution")
def _convolution(cx, node, x, w, b, stride, pads, dilation, groups):
    pads = [p[0] for p in pads] + [p[1] for p in pads]
    ins = [cx.t(x), cx.t(w)] + ([cx.t(b)] if b is not None else [])
    return [cx.b.one("Conv", ins, strides=list(stride), pads=pads, dilations=list(dilation),
                     group=groups, kernel_shape=list(w.shape[2:]))]


@lowers("maxpool")
def _maxpool(cx, node, x, tables):
    """The window tables (positions and valid flags per spatial dim) read back as kernel,
    stride, dilation and the padding on each side."""
    kernel, strides, dilations, begin, end = [], [], [], [], []
    sizes = x.shape[_rank(x) - len(tables):]
    for (pos, _valid), size in zip(tables, sizes):
        k = pos.shape[1]
        kernel.append(k)
        strides.append(int(pos[1, 0] - pos[0, 0]) if pos.shape[0] > 1 else 1)
        dilations.append(int(pos[0, 1] - pos[0, 0]) if k > 1 else 1)
        begin.append(int(-pos[0, 0]))
        end.append(max(int(pos[-1, -1]) - (size - 1), 0))
    lead = _rank(x) - len(tables)
    xs = cx.t(x)
    if lead != 2:  # ONNX pools (N, C, *spatial): fold the leading dims into N
        xs = cx.b.one("Reshape", [xs, cx.b.ints([-1, 1] + list(sizes))])
    y, idx = cx.b.node("MaxPool", [xs], 2, kernel_shape=kernel, strides=strides,
                       dilations=dilations, pads=begin + end)
    # ONNX's indices count in the whole tensor; ember's (torch's) within each plane
    plane = cx.b.const(np.int64(math.prod(sizes)))
    idx = cx.b.one("Mod", [idx, plane], fmod=0)
    if lead != 2:
        lead_shape = cx.b.one("Shape", [cx.t(x)], start=0, end=lead)
        shape = cx.b.one("Concat", [lead_shape, cx.b.ints(node.outputs[0].shape[lead:])],
                         axis=0)
        y, idx = (cx.b.one("Reshape", [t, shape]) for t in (y, idx))
    return [y, idx]


@lowers("native_layer_norm")
def _layer_norm(cx, node, x, w, b, axes, eps, center):
    rank = _rank(x)
    axes = sorted(_norm_axis(a, rank) for a in axes)
    if center and axes == list(range(axes[0], rank)):
        scale = cx.t(w) if w is not None else cx.b.const(np.ones(x.shape[axes[0]:], x.dtype))
        ins = [cx.t(x), scale] + ([cx.t(b)] if b is not None else [])
        return [cx.b.one("LayerNormalization", ins, axis=axes[0], epsilon=float(eps))]
    return [_normalize(cx, x, w, b, axes, eps, center)]


@lowers("rms_norm")
def _rms_norm(cx, node, x, w, b, axes, eps, center):
    return _layer_norm(cx, node, x, w, b, axes, eps, center)


@lowers("native_batch_norm")
def _batch_norm_stats(cx, node, x, w, b, axes, eps, center):
    """Batch norm with the batch's statistics (a model exported in training mode): the
    reductions over ``axes``, then the per-channel affine."""
    axes = [_norm_axis(a, _rank(x)) for a in axes]
    return [_normalize(cx, x, w, b, axes, eps, center, per_channel=True)]


def _normalize(cx, x, w, b, axes, eps, center, per_channel=False) -> str:
    xs = cx.t(x)
    ax = cx.axes(axes)
    if center:
        mean = _reduce(cx, "ReduceMean", xs, ax, axes, True)
        xs = cx.b.one("Sub", [xs, mean])
    var = _reduce(cx, "ReduceMean", cx.b.one("Mul", [xs, xs]), ax, axes, True)
    rstd = cx.b.one("Reciprocal", [cx.b.one("Sqrt", [cx.b.one("Add", [var, cx.t(eps, x)])])])
    y = cx.b.one("Mul", [xs, rstd])
    shape = [-1] + [1] * (_rank(x) - 2) if per_channel else None
    for p, op in ((w, "Mul"), (b, "Add")):
        if p is not None:
            pn = cx.t(p)
            if shape is not None:
                pn = cx.b.one("Reshape", [pn, cx.b.ints(shape)])
            y = cx.b.one(op, [y, pn])
    return y


@lowers("softmax", "logsoftmax")
def _softmax(cx, node, a, dim, dtype=None):
    x = cx.as_dtype(a, _dt(node))
    return [cx.b.one("Softmax" if node.name == "softmax" else "LogSoftmax", [x], axis=dim)]


@lowers("scaled_dot_product_attention")
def _sdpa(cx, node, q, k, v, mask, drop, scale):
    """ONNX's ``Attention`` from opset 23; before, MatMul-Softmax-MatMul (which
    onnxruntime's optimizer fuses). The probabilities (the op's second output) are the
    Softmax."""
    if drop is not None:
        raise NotImplementedError("attention dropout")
    b = cx.b
    fusable = not _used(node.outputs[1], cx) and q.dtype == np.float32 and \
        _rank(q) == _rank(k) == _rank(v) == 4 and (mask is None or _rank(mask) == 4)
    if b.opset >= 23 and fusable:
        ins = [cx.t(q), cx.t(k), cx.t(v)] + ([cx.t(mask)] if mask is not None else [])
        return [b.one("Attention", ins, scale=float(scale)), ""]
    if fusable and q.shape[1] == k.shape[1] == v.shape[1] and \
            (mask is None or mask.shape[1] == 1):
        return [_multi_head_attention(cx, q, k, v, mask, scale), ""]
    kt = b.one("Transpose", [cx.t(k)], perm=list(range(_rank(k) - 2)) + [_rank(k) - 1,
                                                                        _rank(k) - 2])
    s = b.one("Mul", [b.one("MatMul", [cx.t(q), kt]), cx.t(scale, q)])
    if mask is not None:
        m = cx.t(mask)
        if mask.dtype == np.bool_:
            m = b.one("Where", [m, cx.t(0.0, q), cx.t(-np.inf, q)])
        s = b.one("Add", [s, m])
    p = b.one("Softmax", [s], axis=-1)
    return [b.one("MatMul", [p, cx.t(v)]), p]


def _multi_head_attention(cx, q, k, v, mask, scale) -> str:
    """onnxruntime's fused ``com.microsoft.MultiHeadAttention``: the query as (B, S, N*H),
    keys and values as they are (B, N, L, H), the mask as an additive bias of (B or 1, 1,
    S, L); the output back to (B, N, S, H)."""
    b = cx.b
    heads, head = q.shape[1], q.shape[3]
    query = b.one("Reshape", [b.one("Transpose", [cx.t(q)], perm=[0, 2, 1, 3]),
                              b.ints([0, 0, -1])])
    ins = [query, cx.t(k), cx.t(v)]
    if mask is not None:
        bias = cx.t(mask)
        if mask.dtype == np.bool_:  # a large negative, not -inf: no NaN on empty rows
            bias = b.one("Where", [bias, cx.t(0.0, q), cx.t(-1e30, q)])
        qs, ks = b.one("Shape", [cx.t(q)]), b.one("Shape", [cx.t(k)])
        rows = b.one("Slice", [qs, b.ints([2]), b.ints([3]), b.ints([0])])
        cols = b.one("Slice", [ks, b.ints([2]), b.ints([3]), b.ints([0])])
        lead = b.one("Slice", [b.one("Shape", [bias]), b.ints([0]), b.ints([2]), b.ints([0])])
        target = b.one("Concat", [lead, rows, cols], axis=0)
        ins += ["", "", b.one("Expand", [bias, target])]
    out = b.one("MultiHeadAttention", ins, domain="com.microsoft", num_heads=heads,
                scale=float(scale))
    return b.one("Transpose", [b.one("Reshape", [out, b.ints([0, 0, heads, head])])],
                 perm=[0, 2, 1, 3])


def _used(value, cx) -> bool:
    return value in cx.used


@lowers("embedding")
def _embedding(cx, node, weight, indices, padding_idx=None, scale_grad_by_freq=False):
    return [cx.b.one("Gather", [cx.t(weight), cx.t(indices)], axis=0)]


# ---------------------------------------------------------------- reductions

def _reduce(cx, op: str, x: str, axes_name: str, axes: list, keepdim: bool) -> str:
    """A Reduce* node: axes as an input from opset 18 (ReduceSum: 13), an attribute before."""
    since = 13 if op == "ReduceSum" else 18
    if cx.b.opset >= since:
        return cx.b.one(op, [x, axes_name], keepdims=int(keepdim))
    return cx.b.one(op, [x], axes=list(axes), keepdims=int(keepdim))


def _dims(a, dim) -> list[int]:
    if dim is None or (isinstance(dim, (list, tuple)) and not dim):
        return list(range(_rank(a)))
    dims = [dim] if isinstance(dim, int) else list(dim)
    return [_norm_axis(d, _rank(a)) for d in dims]


def _reducer(op: str):
    def lower(cx, node, a, dim=None, keepdim=False, *rest, **kw):
        dims = _dims(a, dim)
        x = cx.as_dtype(a, _dt(node)) if op in ("ReduceSum", "ReduceMean") else cx.t(a)
        if not dims:
            return [cx.b.one("Identity", [x])]
        return [_reduce(cx, op, x, cx.axes(dims), dims, keepdim)]
    return lower


LOWERINGS["sum"] = _reducer("ReduceSum")
LOWERINGS["mean"] = _reducer("ReduceMean")
LOWERINGS["amax"] = _reducer("ReduceMax")
LOWERINGS["amin"] = _reducer("ReduceMin")
LOWERINGS["logsumexp"] = _reducer("ReduceLogSumExp")


@lowers("prod")
def _prod(cx, node, a, dim=None, keepdim=False, dtype=None):
    dims = _dims(a, dim)
    return [_reduce(cx, "ReduceProd", cx.as_dtype(a, _dt(node)), cx.axes(dims), dims, keepdim)]


@lowers("var")
def _var(cx, node, a, dim, correction, keepdim, take_sqrt):
    dims = _dims(a, dim)
    x = cx.t(a)
    ax = cx.axes(dims)
    mean = _reduce(cx, "ReduceMean", x, ax, dims, True)
    d = cx.b.one("Sub", [x, mean])
    total = _reduce(cx, "ReduceSum", cx.b.one("Mul", [d, d]), ax, dims, keepdim)
    n = math.prod(a.shape[i] for i in dims)
    y = cx.b.one("Div", [total, cx.t(max(n - correction, 0), a)])
    return [cx.b.one("Sqrt", [y]) if take_sqrt else y]


@lowers("argmax", "argmin")
def _argmax(cx, node, a, dim=None, keepdim=False, name=None):
    x = cx.t(a)
    op = "ArgMax" if node.name == "argmax" else "ArgMin"
    if dim is None:
        x = cx.b.one("Reshape", [x, cx.b.ints([-1])])
        return [cx.b.one(op, [x], axis=0, keepdims=0)]
    return [cx.b.one(op, [x], axis=dim, keepdims=int(keepdim))]


@lowers("maxdim", "mindim")
def _maxdim(cx, node, a, dim, keepdim, option=None):
    x = cx.t(a)
    red, arg = ("ReduceMax", "ArgMax") if node.name == "maxdim" else ("ReduceMin", "ArgMin")
    dim = _norm_axis(dim, _rank(a))
    return [_reduce(cx, red, x, cx.axes([dim]), [dim], keepdim),
            cx.b.one(arg, [x], axis=dim, keepdims=int(keepdim))]


@lowers("cumsum")
def _cumsum(cx, node, a, dim, dtype=None, reverse=False):
    return [cx.b.one("CumSum", [cx.as_dtype(a, _dt(node)), cx.b.scalar_int(dim)],
                     reverse=int(bool(reverse)))]


# ---------------------------------------------------------------- shapes and views

@lowers("reshape", "view")
def _reshape(cx, node, a, shape):
    return [cx.b.one("Reshape", [cx.t(a), cx.b.ints(shape)])]


@lowers("permute")
def _permute(cx, node, a, dims):
    return [cx.b.one("Transpose", [cx.t(a)], perm=[_norm_axis(d, _rank(a)) for d in dims])]


@lowers("expand")
def _expand(cx, node, a, shape):
    # -1 keeps the input's size: ONNX's Expand broadcasts, so 1 does the same
    shape = [1 if (not isinstance(s, SymInt) and s == -1) else s for s in shape]
    return [cx.b.one("Expand", [cx.t(a), cx.b.ints(shape)])]


@lowers("unsqueeze")
def _unsqueeze(cx, node, a, dim):
    return [cx.b.one("Unsqueeze", [cx.t(a), cx.b.ints([_norm_axis(dim, _rank(a) + 1)])])]


@lowers("squeeze")
def _squeeze(cx, node, a, dims=None):
    dims = [d for d in _dims(a, dims) if a.shape[d] == 1]
    if not dims:
        return [cx.b.one("Identity", [cx.t(a)])]
    return [cx.b.one("Squeeze", [cx.t(a), cx.b.ints(dims)])]


@lowers("select")
def _select(cx, node, a, dim, index):
    dim = _norm_axis(dim, _rank(a))
    if not isinstance(index, SymInt) and index < 0:
        index += a.shape[dim]
    return [cx.b.one("Gather", [cx.t(a), cx.b.scalar_int(index)], axis=dim)]


def _slice(cx, x: str, dim: int, start, stop, step: int = 1) -> str:
    return cx.b.one("Slice", [x, cx.b.ints([start]), cx.b.ints([stop]), cx.b.ints([dim]),
                              cx.b.ints([step])])


@lowers("narrow")
def _narrow(cx, node, a, dim, start, length):
    dim = _norm_axis(dim, _rank(a))
    if isinstance(start, SymInt) or isinstance(length, SymInt):
        stop = _sym_add(start, length)
    else:
        stop = start + length
    return [_slice(cx, cx.t(a), dim, start, stop)]


def _sym_add(a, b):
    """``a + b`` where either may be a SymInt of the sum kind (or a plain int)."""
    terms, offset = [], 0
    for x in (a, b):
        if isinstance(x, SymInt):
            if x.dims and not x.terms:
                if x.coef != 1 or len(x.dims) != 1:
                    raise NotImplementedError("a sum of dynamic products")
                terms.append((x.dims[0], 1))
                offset += x.offset
            else:
                terms.extend(x.terms)
                offset += x.offset
        else:
            offset += int(x)
    return SymInt(int(a) + int(b), terms=tuple(terms), offset=offset)


@lowers("splitwithsizes")
def _split(cx, node, a, sizes, dim=0):
    dim = _norm_axis(dim, _rank(a))
    return cx.b.node("Split", [cx.t(a), cx.b.ints(sizes)], len(node.outputs), axis=dim)


@lowers("unbind")
def _unbind(cx, node, a, dim=0):
    dim = _norm_axis(dim, _rank(a))
    n = len(node.outputs)
    parts = cx.b.node("Split", [cx.t(a), cx.b.ints([1] * n)], n, axis=dim)
    return [cx.b.one("Squeeze", [p, cx.b.ints([dim])]) for p in parts]


@lowers("cat")
def _cat(cx, node, arrays, dim=0):
    dt = _dt(node)
    ins = [cx.as_dtype(x, dt) for x in arrays if math.prod(x.shape) or _rank(x) > 1]
    return [cx.b.one("Concat", ins, axis=_norm_axis(dim, len(node.outputs[0].shape)))]


@lowers("stack")
def _stack(cx, node, arrays, dim=0):
    rank = len(node.outputs[0].shape)
    dim = _norm_axis(dim, rank)
    axes = cx.b.ints([dim])
    ins = [cx.b.one("Unsqueeze", [cx.t(x), axes]) for x in arrays]
    return [cx.b.one("Concat", ins, axis=dim)]


@lowers("flip")
def _flip(cx, node, a, dims):
    x = cx.t(a)
    for d in dims:
        d = _norm_axis(d, _rank(a))
        x = _slice(cx, x, d, -1, -(2 ** 63), -1)
    return [x]


@lowers("repeat")
def _repeat(cx, node, a, repeats):
    x = cx.t(a)
    extra = len(repeats) - _rank(a)
    if extra:
        x = cx.b.one("Reshape", [x, cx.b.ints([1] * extra + list(a.shape))])
    return [cx.b.one("Tile", [x, cx.b.ints(repeats)])]


@lowers("tril")
def _tril(cx, node, a, diagonal=0, upper=False):
    return [cx.b.one("Trilu", [cx.t(a), cx.b.scalar_int(diagonal)], upper=int(bool(upper)))]


@lowers("constantpad")
def _constant_pad(cx, node, x, pads, value):
    rank = _rank(x)
    begin = [0] * rank
    end = [0] * rank
    for i, (lo, hi) in enumerate(pads):  # pads run over the trailing dims
        begin[rank - len(pads) + i], end[rank - len(pads) + i] = lo, hi
    return [cx.b.one("Pad", [cx.t(x), cx.b.ints(begin + end), cx.t(value, x)],
                     mode="constant")]


@lowers("gather")
def _gather(cx, node, a, dim, index):
    return [cx.b.one("GatherElements", [cx.t(a), cx.t(index)], axis=dim)]


@lowers("indexselect")
def _index_select(cx, node, a, dim, index):
    return [cx.b.one("Gather", [cx.t(a), cx.t(index)], axis=dim)]


@lowers("index")
def _index(cx, node, a, spec, *indices):
    """``a[key]`` for keys of ints, slices, ``None``, ``...`` and at most one index tensor
    (Slice, Squeeze, Unsqueeze and Gather)."""
    key = list(spec if isinstance(spec, tuple) else (spec,))
    rank = _rank(a)
    consumed = sum(1 for k in key if k is not None and k is not Ellipsis)
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key[i:i + 1] = [slice(None)] * (rank - consumed)
    key += [slice(None)] * (rank - sum(1 for k in key if k is not None))
    x = cx.t(a)
    dim = 0           # the input dim the key item reads
    out_dim = 0       # where that dim is in the result so far
    new = []
    tensors = 0
    for k in key:
        if k is None:
            new.append(out_dim)
            out_dim += 1
            continue
        if isinstance(k, slice):
            start, stop, step = k.start, k.stop, k.step or 1
            if step < 0:
                raise NotImplementedError("negative slice step")
            if (start or 0) != 0 or stop is not None or step != 1:
                x = _slice(cx, x, out_dim, start or 0, stop if stop is not None else 2 ** 62,
                           step)
        elif hasattr(k, "i"):  # an index tensor
            tensors += 1
            if tensors > 1:
                raise NotImplementedError("indexing with more than one index tensor")
            idx = indices[k.i]
            if idx.dtype == np.bool_:
                raise NotImplementedError("indexing with a boolean mask")
            x = cx.b.one("Gather", [x, cx.t(idx)], axis=out_dim)
            out_dim += _rank(idx)
            dim += 1
            continue
        else:  # an int
            index = k + a.shape[dim] if not isinstance(k, SymInt) and k < 0 else k
            x = cx.b.one("Gather", [x, cx.b.scalar_int(index)], axis=out_dim)
            dim += 1
            continue
        dim += 1
        out_dim += 1
    if new:
        x = cx.b.one("Unsqueeze", [x, cx.b.ints(new)])
    return [x]


# ---------------------------------------------------------------- factories

def _filled(cx, node, shape, value):
    dt = _dt(node)
    if not any(isinstance(s, SymInt) for s in shape):
        return [cx.b.const(np.full([int(s) for s in shape], value, dtype=dt))]
    fill = cx.b.const(np.full([1], value, dtype=dt))
    return [cx.b.one("Expand", [fill, cx.b.ints(shape)])]


@lowers("zeros", "empty")
def _zeros(cx, node, size, dtype=None, **kw):
    return _filled(cx, node, size, 0)


@lowers("ones")
def _ones(cx, node, size, dtype=None, **kw):
    return _filled(cx, node, size, 1)


@lowers("full")
def _full(cx, node, size, fill_value, dtype=None, **kw):
    return _filled(cx, node, size, fill_value)


@lowers("zeros_like", "ones_like", "full_like", "empty_like")
def _like(cx, node, input, *rest, **kw):
    value = {"zeros_like": 0, "empty_like": 0, "ones_like": 1}.get(node.name)
    if value is None:
        value = rest[0]
    fill = cx.b.const(np.full([1], value, dtype=_dt(node)))
    return [cx.b.one("Expand", [fill, cx.b.one("Shape", [cx.t(input)])])]


@lowers("scalar_tensor")
def _scalar_tensor(cx, node, s, dtype=None, **kw):
    return [cx.b.const(np.asarray(s, dtype=_dt(node)))]


@lowers("arange", "range")
def _arange(cx, node, start, step, n, dtype=None, **kw):
    dt = _dt(node)
    if not isinstance(n, SymInt):
        return [cx.b.const((start + step * np.arange(int(n))).astype(dt))]
    count = cx.b.scalar_int(n)
    if dt.kind in "iu" and start == 0 and step == 1:
        r = cx.b.one("Range", [cx.b.const(np.int64(0)), count, cx.b.const(np.int64(1))])
        return [cx.cast(r, np.int64, dt)]
    r = cx.b.one("Range", [cx.b.const(np.float64(0)), cx.b.one("Cast", [count],
                                                                   to=onnx_type(np.float64)),
                           cx.b.const(np.float64(1))])
    y = cx.b.one("Add", [cx.b.one("Mul", [r, cx.b.const(np.float64(step))]),
                         cx.b.const(np.float64(start))])
    return [cx.cast(y, np.float64, dt)]
