"""Cheap view ops written as NumPy expressions in generated code instead of kernel calls.

A kernel call (``Permute.forward(ctx, a, dims)``) validates and normalizes its arguments
on every call -- tens of microseconds for a ``view`` -- which capture already did once.
For the view ops below the generated code says what the kernel would compute directly:

- ``permute(a, dims)``: ``a.transpose(dims)`` (the kernel's own result);
- ``view``/``reshape(a, shape)``: NumPy's reshape when it is a view of a non-empty ``a``,
  the kernel otherwise (NumPy's reshape alone where the shape splits one dim in two:
  always a view);
- ``split_with_sizes(a, sizes, dim)`` with constant sizes: the basic slices the kernel makes;

and for hot ops whose kernels spend as long on checks as small inputs take to compute
(generation without a KV cache runs them on a few rows), the kernel's own fast path
without the checks capture ran: ``linear`` of float arrays (the BLAS product, the bias
added in place; a few rows by ``kernels.linear_rows``), ``native_layer_norm`` over the
last dim (``_kernels_norm``'s rows kernel; another layout at run time takes the kernel)
and ``gelu``/``silu`` (the one-pass loop of ``_kernels_transformer``); and
``add``/``sub``/``mul`` of two float arrays of one dtype as NumPy's operator (what their
kernels compute then).

In an inference graph, linear layers whose every reader takes any layout (another
layer, arithmetic, an activation, attention's heads) are computed feature-major,
``w @ x^T`` seen transposed (``feature_major``, ``_linear_t``).

Each rule returns the expression, or None to keep the kernel call (a size that is a
``Sym`` of a dynamic program, a value whose rank capture did not record...).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._dispatch import NULL_CTX
from ..ops import _blas, _kernels_norm, _kernels_transformer
from ..ops._parallel import threads_for
from .graph import Graph, Node, Value
from .kernels import FEW_ROWS, FEW_ROWS_WEIGHT, linear_rows

__all__ = ["inline", "RUNTIME"]


def _reshape(a, shape, kernel):
    """``view``/``reshape``: NumPy's reshape where it is a view (the kernel's strides, but
    for dims of size 1, which no kernel reads), else the kernel (a copy, or view's
    error)."""
    if a.size:
        try:
            return a.reshape(shape, copy=False)
        except (ValueError, TypeError):  # not a view of ``a`` (TypeError: NumPy < 2.1)
            pass
    return kernel(NULL_CTX, a, shape)


def _linear(x, w, b):
    """``linear`` of float operands of one dtype as ``Linear.forward`` computes it (the
    bias inside the GEMM where ``_blas.linear`` takes it), but that up to
    ``kernels.FEW_ROWS`` rows of GEMM work that stays on one thread, with a small
    C-contiguous weight, run ``kernels.linear_rows``."""
    x2 = x.reshape(-1, x.shape[-1])
    rows, depth = x2.shape
    shape = (*x.shape[:-1], w.shape[0])
    if 0 < rows <= FEW_ROWS and depth and w.size <= FEW_ROWS_WEIGHT and \
            w.flags.c_contiguous and \
            threads_for(2.0 * rows * depth * w.shape[0], _blas.PARALLEL_FLOPS) == 1:
        return linear_rows(x2, w, b).reshape(shape)
    if b is not None:
        fused = _blas.linear(x2, w, b)
        if fused is not None:
            return fused.reshape(shape)
    out = _blas.matmul(x2, w.T)
    if b is not None:
        out += b
    return out.reshape(shape)


def _layer_norm(x, w, b, axes, eps, kernel):
    """``native_layer_norm`` over the last dim with weight and bias: the rows kernel for a
    C-contiguous float ``x`` and contiguous parameters (the kernel's own path; below the
    size that could go to threads, ``norm_rows`` itself: 128 floats 3.3 -> 1.3 us), else
    the kernel."""
    if x.flags.c_contiguous and x.size and w.flags.c_contiguous and b.flags.c_contiguous \
            and x.dtype == w.dtype == b.dtype:
        x2 = x.reshape(-1, x.shape[-1])
        if x2.size < _kernels_norm._PARALLEL_MIN:
            out = np.empty_like(x2)
            stats = np.empty((2, x2.shape[0]), x.dtype)  # (mean, rstd): not returned
            _kernels_norm.norm_rows(x2, w, b, out, stats[0], stats[1], eps, True, 1, w.size,
                                    0, x2.shape[0])
        else:
            out = _kernels_norm.norm(x2, w, b, eps, True)[0]
        return out.reshape(x.shape)
    return kernel(NULL_CTX, x, w, b, axes, eps, True)


def _activation(x, kind, kernel, *params):
    """A one-pass activation (``gelu``, ``silu``; ``kind``: its number in
    ``_kernels_transformer``) of a C-contiguous float ``x`` below the size that could go
    to threads: the kernel's loop itself (the op's checks and thread test cost as much as
    the loop over 128 floats); else the op's kernel."""
    if x.flags.c_contiguous and x.size < _kernels_transformer._PARALLEL_MIN and \
            (x.dtype == np.float32 or x.dtype == np.float64):
        out = np.empty_like(x)
        _kernels_transformer.activation_span(x.reshape(-1), out.reshape(-1), kind)
        return out
    return kernel(NULL_CTX, x, *params)


# feature-major layers take ``_linear`` (its few-rows kernel) up to this many rows: one
# thread, 128 deep -> 384, 8 rows: 15 us against 18; 16 rows: 30 against 21
FEW_ROWS_T = 8


def _linear_t(x, w, b):
    """``linear`` made feature-major (see ``feature_major``): ``(w @ x^T + b)^T``, the
    transpose of a C-contiguous (features, rows) array. NumPy's BLAS multiplies ``w`` as
    it lies, where ``x @ w.T`` repacks the transposed weight on every call (1 x 64 x 128
    @ 128 x 512: 89 -> 68 us), and ``x^T`` is free when ``x`` is itself feature-major (a
    previous layer's, through an activation). Up to ``FEW_ROWS_T`` rows: ``_linear``."""
    x2 = x.reshape(-1, x.shape[-1])
    rows, depth = x2.shape
    if rows <= FEW_ROWS_T or not depth:
        return _linear(x, w, b)
    out = _blas.matmul(w, np.ascontiguousarray(x2.T))
    if b is not None:
        out += b[:, None]
    return out.T.reshape(*x.shape[:-1], w.shape[0])


def _activation_t(x, kind, kernel, *params):
    """An activation (``_activation``) of a feature-major ``x``: on ``x^T``, which is
    C-contiguous, the result transposed back; any other layout: ``_activation``."""
    t = x.T
    if t.flags.c_contiguous:
        return _activation(t, kind, kernel, *params).T
    return _activation(x, kind, kernel, *params)


RUNTIME = {"_reshape": _reshape, "_linear": _linear, "_layer_norm": _layer_norm,
           "_activation": _activation, "_linear_t": _linear_t, "_activation_t": _activation_t}


def _permute(node: Node, args: list[str], kernel: str) -> str | None:
    if len(node.args) != 2 or node.kwargs:
        return None
    return f"{args[0]}.transpose({args[1]})"


def _reshape_rule(node: Node, args: list[str], kernel: str) -> str | None:
    if len(node.args) != 2 or node.kwargs:
        return None
    if _splits_one_dim(node):
        return f"{args[0]}.reshape({args[1]})"
    return f"_reshape({args[0]}, {args[1]}, {kernel})"


def _splits_one_dim(node: Node) -> bool:
    """Whether a ``view``/``reshape`` only splits one dim of its input in two by constant
    sizes (heads out of a feature dim): a view of any strides, NumPy's reshape is it."""
    x, shape = node.args
    if type(x) is not Value or type(shape) not in (list, tuple) or \
            any(type(n) is int and n < 0 for n in shape):
        return False
    old, new = x.shape, node.outputs[0].shape
    if not old or len(new) != len(old) + 1 or len(shape) != len(new):
        return False
    i = next((j for j in range(len(old)) if new[j] != old[j]), len(old) - 1)
    return type(shape[i]) is int and type(shape[i + 1]) is int and \
        new[:i] == old[:i] and new[i + 2:] == old[i + 1:] and new[i] * new[i + 1] == old[i]


def _split(node: Node, args: list[str], kernel: str) -> str | None:
    a = node.args[0]
    sizes = node.args[1] if len(node.args) > 1 else None
    dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0)
    if type(a) is not Value or type(sizes) not in (list, tuple) or type(dim) is not int or \
            not all(type(n) is int for n in sizes) or set(node.kwargs) - {"dim"}:
        return None
    ndim = a.meta.ndim
    if not -ndim <= dim < ndim:
        return None
    dim %= ndim
    lead = ":, " * dim
    pieces, lo = [], 0
    for n in sizes:
        pieces.append(f"{args[0]}[{lead}{lo}:{lo + n}]")
        lo += n
    return "(" + "".join(p + ", " for p in pieces) + ")"


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _float_values(*xs) -> bool:
    return all(type(x) is Value and x.dtype == xs[0].dtype and x.dtype in _FLOATS
               for x in xs)


def _linear_rule(node: Node, args: list[str], kernel: str) -> str | None:
    if node.kwargs or len(node.args) not in (2, 3):
        return None
    x, w, *b = node.args
    b = b[0] if b else None
    if not _float_values(x, w, *([b] if b is not None else [])) or w.meta.ndim != 2 or \
            x.meta.ndim < 1 or (b is not None and b.meta.ndim != 1):
        return None
    return f"_linear({args[0]}, {args[1]}, {args[2] if b is not None else 'None'})"


def _layer_norm_rule(node: Node, args: list[str], kernel: str) -> str | None:
    if node.kwargs or len(node.args) != 6:
        return None
    x, w, b, axes, eps, center = node.args
    if not _float_values(x, w, b) or center is not True or type(eps) is not float or \
            tuple(axes) not in ((x.meta.ndim - 1,), (-1,)) or \
            w.shape != (x.shape[-1],) or b.shape != w.shape:
        return None
    return f"_layer_norm({args[0]}, {args[1]}, {args[2]}, {args[3]}, {args[4]}, {kernel})"


def _activation_rule(node: Node, args: list[str], kernel: str) -> str | None:
    """``gelu``/``silu`` (ops with a one-pass kernel, ``kernel_name``) of a float Value."""
    kernel_name = getattr(node.op, "kernel_name", None)
    if node.name not in ("gelu", "silu") or not callable(kernel_name) or node.kwargs or \
            not node.args or not _float_values(node.args[0]) or \
            any(type(a) is Value for a in node.args[1:]):
        return None
    kind = _kernels_transformer._KINDS.get(kernel_name(*node.args[1:]))
    if kind is None:
        return None
    return f"_activation({args[0]}, {kind}, {kernel}{''.join(', ' + a for a in args[1:])})"


def _arithmetic(symbol: str):
    """``add``/``sub`` (``alpha`` 1) and ``mul`` of two float arrays of one dtype: the
    kernel's own NumPy operator, without its promotion checks."""
    def rule(node: Node, args: list[str], kernel: str) -> str | None:
        if node.kwargs or len(node.args) not in (2, 3) or not _float_values(*node.args[:2]) \
                or node.args[2:] not in ((), (1,)):
            return None
        return f"({args[0]} {symbol} {args[1]})"
    return rule


_RULES: dict[str, Callable[[Node, list[str], str], str | None]] = {
    "permute": _permute, "view": _reshape_rule, "reshape": _reshape_rule,
    "splitwithsizes": _split, "linear": _linear_rule, "native_layer_norm": _layer_norm_rule,
    "add": _arithmetic("+"), "sub": _arithmetic("-"), "mul": _arithmetic("*"),
    "gelu": _activation_rule, "silu": _activation_rule}


def feature_major(graph: Graph, returns: list) -> set[int]:
    """The ``linear`` nodes (and activations after them) of an inference graph whose
    outputs generated code makes feature-major, ``_linear_t``: ids of the nodes.

    A layer's output may be any layout where every reader takes any layout and none is
    returned: another ``linear`` (as its input), ``add``/``sub``/``mul`` (written with
    ``order="C"``: their results are C-contiguous whatever the operands), an activation
    whose own output qualifies, or a split of the last dim whose pieces are only viewed
    as heads (the last dim split), permuted and read by fused attention (any strides):
    a transformer's QKV projection. The eager result of each is the same values."""
    escapes = {id(v) for v in returns if v is not None}
    users = graph.users()
    chosen: set[int] = set()
    for node in graph.nodes:
        if node.name == "linear" and _linear_rule(node, ["", "", ""], "") is not None:
            acts: list[int] = []
            if _any_layout(node.outputs[0], users, escapes, acts):
                chosen.add(id(node))
                chosen.update(acts)
    return chosen


def _any_layout(v: Value, users: dict, escapes: set, acts: list) -> bool:
    """Whether every reader of ``v`` takes it in any layout (see ``feature_major``);
    activations on the way go to ``acts``."""
    readers = users.get(v, ())
    if id(v) in escapes or not readers:
        return False
    for r in readers:
        name = r.name
        if r.op.inplace or r.op._mutated_others:
            return False
        if name == "linear":
            if r.args[0] is not v or any(a is v for a in r.args[1:]) or \
                    _linear_rule(r, ["", "", ""], "") is None:
                return False
        elif name in ("add", "sub", "mul"):
            if _RULES[name](r, ["", "", ""], "") is None:
                return False
        elif _activation_rule(r, [""] * len(r.args), "") is not None:
            if r.args[0] is not v or not _any_layout(r.outputs[0], users, escapes, acts):
                return False
            acts.append(id(r))
        elif name == "splitwithsizes":
            if not _heads_split(r, v, users, escapes):
                return False
        else:
            return False
    return True


def _heads_split(split: Node, v: Value, users: dict, escapes: set) -> bool:
    """``split`` cuts ``v``'s last dim into pieces each only viewed with that dim split
    in two, permuted and read by fused attention."""
    ndim = v.meta.ndim
    dim = split.args[2] if len(split.args) > 2 else split.kwargs.get("dim", 0)
    if split.args[0] is not v or type(dim) is not int or dim % ndim != ndim - 1 or \
            _split(split, ["", "", ""], "") is None:
        return False

    def only(x: Value, names: tuple) -> list[Node] | None:
        readers = users.get(x, ())
        ok = readers and id(x) not in escapes and all(n.name in names for n in readers)
        return readers if ok else None
    for piece in split.outputs:
        views = only(piece, ("view", "reshape"))
        if views is None:
            return False
        for view in views:
            out = view.outputs[0].shape
            if view.args[0] is not piece or len(out) != ndim + 1 or \
                    out[:-2] != piece.shape[:-1] or out[-2] * out[-1] != piece.shape[-1]:
                return False
            perms = only(view.outputs[0], ("permute",))
            if perms is None or any(only(p.outputs[0], ("fused_attention",)) is None
                                    for p in perms):
                return False
    return True


def inline(node: Node, args: list[str], kernel: str,
           feature_major: set[int] = frozenset()) -> str | None:
    """The node's result as a NumPy expression over its argument sources ``args`` (the
    kernel, named ``kernel``, as the fallback), or None to call the kernel;
    ``feature_major``: see ``feature_major``."""
    if feature_major:
        expr = _feature_major(node, args, kernel, feature_major)
        if expr is not None:
            return expr
    rule = _RULES.get(getattr(node.op, "name", None))
    return None if rule is None else rule(node, args, kernel)


_UFUNCS = {"add": "np.add", "sub": "np.subtract", "mul": "np.multiply"}


def _feature_major(node: Node, args: list[str], kernel: str, chosen: set[int]) -> str | None:
    """The expression of a node ``feature_major`` chose, or of arithmetic reading one."""
    if id(node) in chosen:
        if node.name == "linear":
            return "_linear_t(" + _linear_rule(node, args, kernel)[len("_linear("):]
        return "_activation_t(" + _activation_rule(node, args, kernel)[len("_activation("):]
    if node.name in _UFUNCS and any(type(a) is Value and a.producer is not None and
                                    id(a.producer) in chosen for a in node.args[:2]) and \
            _RULES[node.name](node, args, kernel) is not None:
        return f'{_UFUNCS[node.name]}({args[0]}, {args[1]}, order="C")'
    return None
