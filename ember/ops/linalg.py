"""Matrix products: matmul (with torch's 1-D and batched broadcasting rules), mm, bmm, mv,
dot, addmm and friends, tensordot, einsum, kron, cross, trace, multi_dot.

``matmul`` and ``einsum`` are the two primitives with kernels of their own (NumPy's BLAS
matmul, on one BLAS thread when a GEMM is small: ``_blas``; ``np.einsum(optimize=True)``);
the rest are compositions of ember ops, so they get their gradients (of any order) from
those. Arrays go to NumPy as they are, strided or not: copying to contiguous first would
only cost time, BLAS handles strides itself.
"""

from __future__ import annotations

import math
import string

import numpy as np

from .._dispatch import Op, _c_name, check_out_dtype, dispatch, dispatch_out
from .._dtype import is_bfloat16
from .._tensor import Tensor, tensor_method
from . import _blas, _meta
from ._util import dtype_name, require_tensors, wrap_dim
from .creation import eye
from .shape import (
    broadcast_shapes,
    cat,
    diagonal,
    expand_array,
    narrow,
    permute,
    reshape,
)

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "addmm",
           "addmv", "addbmm", "baddbmm", "tensordot", "einsum", "kron", "cross", "trace",
           "chain_matmul"]


# ---- matmul ----------------------------------------------------------------------------------

def _dot_checks(a, b) -> None:
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.dtype != b.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{dtype_name(a)} and {dtype_name(b)}")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src "
                           f"[{b.shape[0]}] to have the same number of elements, but got "
                           f"{a.shape[0]} and {b.shape[0]} elements respectively")


def _mm_shape_error(m: int, k: int, k2: int, n: int) -> RuntimeError:
    return RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k2}x{n})")


def _bmm_shape_error(batch: int, k: int, batch2: int, k2: int) -> RuntimeError:
    return RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                        f"[{batch}, {k}] but got: [{batch2}, {k2}].")


def _matmul_error(a, b) -> Exception:
    """torch's error for ``a @ b``, following the path torch's matmul takes for these ranks
    (dot, mv, mm, folded mm, or broadcast bmm), since each names the shapes differently."""
    da, db = a.ndim, b.ndim
    if da == 0 or db == 0:
        return RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                            f"{da}D and {db}D")
    if da == 1 and db == 1:
        try:
            _dot_checks(a, b)
        except RuntimeError as exc:
            return exc
    bmm_path = db >= 3 or (da >= 3 and db >= 3)
    if a.dtype != b.dtype:
        if bmm_path:
            return RuntimeError(f"expected scalar type {dtype_name(a)} but found "
                                f"{dtype_name(b)}")
        return RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                            f"{_c_name(a.dtype)} != {_c_name(b.dtype)}")
    if a.dtype == np.bool_:
        return NotImplementedError("\"addmm_impl_cpu_\" not implemented for 'Bool'")
    k = a.shape[-1]
    if not bmm_path:
        m = math.prod(a.shape[:-1])
        if db == 1:
            return RuntimeError(f"size mismatch, got input ({m}), mat ({m}x{k}), vec "
                                f"({b.shape[0]})")
        return _mm_shape_error(m, k, *b.shape)
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    nd = max(len(batch_a), len(batch_b))
    sa, sb = (1,) * (nd - len(batch_a)) + batch_a, (1,) * (nd - len(batch_b)) + batch_b
    for i, (p, q) in enumerate(zip(sa, sb)):
        if p != q and p != 1 and q != 1:
            return RuntimeError(f"The size of tensor a ({p}) must match the size of tensor b "
                                f"({q}) at non-singleton dimension {i}")
    n = math.prod(max(p, q) for p, q in zip(sa, sb))
    return _bmm_shape_error(n, k, n, b.shape[-2])


def _matmul_shape(a, b) -> tuple:
    """Shape of ``a @ b`` by torch's rules (1-D operands promoted and their dim dropped,
    batch dims broadcast); torch's error (``_matmul_error``) when they do not match."""
    if a.dtype != b.dtype or a.dtype == np.bool_ or a.ndim == 0 or b.ndim == 0:
        raise _matmul_error(a, b)
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != k_b:
        raise _matmul_error(a, b)
    if a.ndim == 1 or b.ndim == 1:
        return a.shape[:-1] + b.shape[:-2] + b.shape[-1:] if b.ndim > 1 else a.shape[:-1]
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise _matmul_error(a, b) from None
    return batch + (a.shape[-2], b.shape[-1])


class Matmul(Op):
    """torch's ``matmul``: NumPy's BLAS matmul, with ``(..., k) @ (k, n)`` as one 2-D
    GEMM. Backward is matmuls again (differentiable to any order)."""

    aten = "matmul"
    signature = "matmul(Tensor a, Tensor b) -> Tensor"
    kind = "matmul"

    @staticmethod
    def meta(a, b):
        return _meta.new(_matmul_shape(a, b), a.dtype)  # NumPy's matmul result: C order

    @staticmethod
    def forward(ctx, a, b):
        if a.dtype != b.dtype or a.dtype == np.bool_ or a.ndim == 0 or b.ndim == 0:
            raise _matmul_error(a, b)
        try:
            if a.ndim > 2 and b.ndim == 2 and a.shape[-1] == b.shape[0]:
                # (..., k) @ (k, n) as one 2-D GEMM: NumPy would loop over the batch
                out = _blas.matmul(a.reshape(-1, a.shape[-1]), b).reshape(*a.shape[:-1],
                                                                           b.shape[1])
            else:
                out = _blas.matmul(a, b)
        except ValueError:
            raise _matmul_error(a, b) from None
        if out.dtype != a.dtype:  # NumPy gives bfloat16 products in float32
            out = out.astype(a.dtype)
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            return g * b, g * a
        if ctx.needs_input_grad[0]:
            if b.ndim == 1:
                ga = g.unsqueeze(-1) * b
            elif a.ndim == 1:
                ga = (g.unsqueeze(-2) @ b.mT).squeeze(-2)
            else:
                ga = g @ b.mT
        if ctx.needs_input_grad[1]:
            if a.ndim == 1:
                gb = a.unsqueeze(-1) * g.unsqueeze(-2)
            elif b.ndim == 1:
                gb = (a.mT @ g.unsqueeze(-1)).squeeze(-1)
            elif b.ndim == 2 and a.ndim > 2:  # sum over the batch inside one GEMM
                gb = a.reshape(-1, a.shape[-1]).mT @ g.reshape(-1, g.shape[-1])
            else:
                gb = a.mT @ g
        return ga, gb


def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    if not (isinstance(input, Tensor) and isinstance(other, Tensor)):
        require_tensors("matmul", input=input, other=other)  # torch's TypeError
    return dispatch(Matmul, input, other) if out is None else dispatch_out(Matmul, out, input,
                                                                           other)


def mm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:
    if not (isinstance(input, Tensor) and isinstance(mat2, Tensor)):
        require_tensors("mm", input=input, mat2=mat2)
    a, b = input._data, mat2._data
    if a.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    return dispatch_out(mm, out, input, mat2) if out is not None else matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:
    if not (isinstance(input, Tensor) and isinstance(mat2, Tensor)):
        require_tensors("bmm", input=input, mat2=mat2)
    a, b = input._data, mat2._data
    if a.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise _bmm_shape_error(a.shape[0], a.shape[2], b.shape[0], b.shape[1])
    return dispatch_out(bmm, out, input, mat2) if out is not None else matmul(input, mat2)


def mv(input: Tensor, vec: Tensor, *, out: Tensor | None = None) -> Tensor:
    a, v = input._data, vec._data
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}")
    return dispatch_out(mv, out, input, vec) if out is not None else matmul(input, vec)


def dot(input: Tensor, tensor: Tensor, *, out: Tensor | None = None) -> Tensor:
    if not (isinstance(input, Tensor) and isinstance(tensor, Tensor)):
        require_tensors("dot", input=input, tensor=tensor)
    _dot_checks(input._data, tensor._data)
    return dispatch_out(dot, out, input, tensor) if out is not None else matmul(input, tensor)


def vdot(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """``sum(conj(input) * other)`` of two vectors."""
    _dot_checks(input._data, other._data)
    if out is not None:
        return dispatch_out(vdot, out, input, other)
    if input._data.dtype.kind == "c":
        input = input.conj()  # (a Tensor method: the elementwise ops sit beside this module)
    return matmul(input, other)


def inner(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        return dispatch_out(inner, out, input, other) if out is not None else input * other
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but "
                           f"got shapes {list(a.shape)} and {list(b.shape)}")
    if a.dtype != b.dtype:
        raise RuntimeError("both inputs should have same dtype")
    return tensordot(input, other, ([-1], [-1]), out=out)


def outer(input: Tensor, vec2: Tensor, *, out: Tensor | None = None) -> Tensor:
    if not (isinstance(input, Tensor) and isinstance(vec2, Tensor)):
        require_tensors("outer", input=input, vec2=vec2)
    for name, x in (("self", input), ("vec2", vec2)):
        if x._data.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {x._data.ndim}-D")
    if out is not None:
        return dispatch_out(outer, out, input, vec2)
    return input.unsqueeze(1) * vec2


ger = outer


# ---- linear ----------------------------------------------------------------------------------

class Linear(Op):
    """``x @ W^T + b`` for a 2-D weight, as one op (so autocast casts the bias too, and
    the batch is folded into one GEMM as in ``Matmul``)."""

    aten = "linear"
    signature = "linear(Tensor x, Tensor w, Tensor? b=None) -> Tensor"
    kind = "matmul"

    @staticmethod
    def _check(x, w, b) -> tuple:
        """torch's checks; the shape of ``x @ w.T``."""
        if x.dtype != w.dtype or x.dtype == np.bool_ or x.ndim == 0 or x.shape[-1] != w.shape[1]:
            raise _matmul_error(x, w.T)
        if b is not None and b.dtype != x.dtype:
            raise RuntimeError(f"self and mat2 must have the same dtype, but got "
                               f"{dtype_name(b)} and {dtype_name(w)}")
        return x.shape[:-1] + (w.shape[0],)

    @staticmethod
    def meta(x, w, b=None):
        out = _meta.new(Linear._check(x, w, b), x.dtype)
        return out if b is None else _meta.pointwise(out, b)

    @staticmethod
    def decomposition(x, w, b=None):
        out = matmul(x, w.mT)
        return out if b is None else out + b

    @staticmethod
    def forward(ctx, x, w, b=None):
        shape = Linear._check(x, w, b)
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        fused = None if b is None else _blas.linear(x2, w, b)  # (the bias inside the GEMM)
        if fused is not None:
            out = fused.reshape(shape)
        else:
            out = _blas.matmul(x2, w.T)
            if x.ndim != 2:
                out = out.reshape(shape)
            if out.dtype != x.dtype:  # NumPy gives bfloat16 products in float32
                out = out.astype(x.dtype)
            if b is not None:
                if b.ndim <= 1:  # (the product is a new array: no second one for the sum)
                    out += b
                else:  # a bias of more dims may widen the result
                    out = out + b
        ctx.save_for_backward(x, w)
        ctx.bias_shape = None if b is None else b.shape
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        bias = ctx.bias_shape
        if tuple(g.shape[:-1]) == tuple(x.shape[:-1]) and bias in (None, tuple(w.shape[:1])):
            gx, gw, gb = dispatch(LinearBackward, g, x, w, need[0], need[1],
                                  bias is not None and need[2])
            return (gx if need[0] else None, gw if need[1] else None,
                    gb if need[2] else None)
        gx = g @ w if need[0] else None
        gw = None
        if need[1]:
            xs = x.expand(*g.shape[:-1], x.shape[-1])  # a broadcast bias widened the result
            gw = g.reshape(-1, g.shape[-1]).mT @ xs.reshape(-1, x.shape[-1])
        return gx, gw, g  # the engine sums the bias gradient down to the bias's shape


class LinearBackward(Op):
    """``(grad_input, grad_weight, grad_bias)`` of ``Linear`` (whose result the bias did
    not widen) in one op: ``g @ W``, ``g^T @ x`` over the folded batch and the bias's
    ``sum(g)`` as a GEMV. An output not asked for is a read-only zero broadcast (no
    work, no memory). Its own backward is matmuls (gradients of any order)."""

    aten = "linear_backward"
    signature = ("linear_backward(Tensor g, Tensor x, Tensor w, bool input_grad, "
                 "bool weight_grad, bool bias_grad) -> (Tensor grad_input, "
                 "Tensor grad_weight, Tensor grad_bias)")
    kind = "matmul"

    @staticmethod
    def meta(g, x, w, input_grad, weight_grad, bias_grad):
        return tuple(_meta.new(shape, x.dtype) if asked else
                     _meta.MetaArray(shape, x.dtype, (0,) * len(shape))
                     for shape, asked in ((x.shape, input_grad), (w.shape, weight_grad),
                                          (w.shape[:1], bias_grad)))

    @staticmethod
    def forward(ctx, g, x, w, input_grad, weight_grad, bias_grad):
        ctx.save_for_backward(g, x, w)
        ctx.set_materialize_grads(False)
        g2 = g.reshape(-1, g.shape[-1])
        x2 = x.reshape(-1, x.shape[-1])
        if input_grad and weight_grad:
            grads = _blas.linear_grads(g2, x2, w, bias_grad, x.shape)
            if grads is not None:
                gx, gw, gb = grads
                return gx, gw, gb if bias_grad else unrequested(w.shape[:1], x.dtype)
        if input_grad:
            gx = _as(_blas.matmul(g2, w), x.dtype)
            if gx.shape != x.shape:  # (reshaped only then: a view, which a leaf copies)
                gx = gx.reshape(x.shape)
        else:
            gx = unrequested(x.shape, x.dtype)
        gw = _as(_blas.matmul(g2.T, x2), x.dtype) if weight_grad \
            else unrequested(w.shape, x.dtype)
        gb = _as(_blas.matmul(np.ones(g2.shape[0], g2.dtype), g2), x.dtype) if bias_grad \
            else unrequested(w.shape[:1], x.dtype)
        return gx, gw, gb

    @staticmethod
    def backward(ctx, ux, uw, ub):
        """With ``gx = g @ W``, ``gW = g^T @ x``, ``gb = sum(g)``: d/dg = ux @ W^T +
        x @ uW^T + ub, d/dx = g @ uW, d/dW = g^T @ ux (batch dims folded)."""
        g, x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        n, k = w.shape
        dg = dx = dw = None
        if need[0]:
            terms = [t for t in (ux @ w.mT if ux is not None else None,
                                 x @ uw.mT if uw is not None else None) if t is not None]
            if ub is not None:
                terms.append(ub.expand(g.shape))
            dg = sum(terms[1:], terms[0]) if terms else None
        if need[1] and uw is not None:
            dx = g @ uw
        if need[2] and ux is not None:
            dw = g.reshape(-1, n).mT @ ux.reshape(-1, k)
        return dg, dx, dw, None, None, None


def unrequested(shape: tuple, dtype) -> np.ndarray:
    """A backward op's output that nobody asked for: a read-only zero of ``shape``
    broadcast from one element (its meta: strides all 0)."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def _as(a: np.ndarray, dtype) -> np.ndarray:
    """``a`` in ``dtype`` (NumPy's matmul of bfloat16 gives float32)."""
    return a if a.dtype == dtype else a.astype(dtype)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` (one ``Linear`` op for a 2-D weight)."""
    if weight.dim() != 2:
        out = input @ weight.mT if weight.dim() > 1 else input @ weight
        return out if bias is None else out + bias
    return dispatch(Linear, input, weight, bias)


# ---- matmul plus a scaled input: addmm, addmv, addbmm, baddbmm -------------------------------

class AddScaled(Op):
    """``beta * input + alpha * product``, with ``input`` broadcast to the product's shape
    (not the other way round: torch rejects an input larger than the product). The
    addition of ``addmm``/``addmv``/``baddbmm``/``addbmm``, whose product is a matmul;
    torch has no op of its own for it."""
    name = "add_scaled"
    signature = "add_scaled(Tensor c, Tensor p, Scalar beta, Scalar alpha) -> Tensor"
    kind = "pointwise"

    @staticmethod
    def meta(c, p, beta, alpha):
        _check_add_scaled(c, p)
        scaled = np.zeros(1, p.dtype) * alpha if alpha != 1 else np.zeros(1, p.dtype)
        if beta == 0:
            return _meta.like(p, scaled.dtype)
        dt = (scaled + np.zeros(1, c.dtype) * beta).dtype  # NumPy's promotion, as forward
        return _meta.MetaArray(p.shape, dt, _meta.layout(p.shape, dt.itemsize, p, c))

    @staticmethod
    def decomposition(c, p, beta, alpha):
        """``alpha * p + beta * c``; ``c`` is ignored when ``beta`` is 0 (its NaNs too)."""
        out = p * alpha if alpha != 1 else p
        if beta == 0:
            return out
        return out + c if beta == 1 else out + c * beta

    @staticmethod
    def forward(ctx, c, p, beta, alpha):
        _check_add_scaled(c, p)
        ctx.beta, ctx.alpha = beta, alpha
        out = p * alpha if alpha != 1 else p
        if beta == 0:  # torch ignores input entirely (its nan and inf too)
            return out
        c = expand_array(c, p.shape)
        return out + c if beta == 1 else out + c * beta

    @staticmethod
    def backward(ctx, g):
        return g * ctx.beta, (g * ctx.alpha if ctx.alpha != 1 else g)


def _check_add_scaled(c, p) -> None:
    if c.dtype != p.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got "
                           f"{dtype_name(c)} and {dtype_name(p)}")


def _add_scaled(input: Tensor, product: Tensor, beta, alpha) -> Tensor:
    return dispatch(AddScaled, input, product, beta, alpha)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1,
          out: Tensor | None = None) -> Tensor:
    if out is not None:
        return dispatch_out(addmm, out, input, mat1, mat2, beta=beta, alpha=alpha)
    return _add_scaled(input, mm(mat1, mat2), beta, alpha)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1,
          out: Tensor | None = None) -> Tensor:
    if out is not None:
        return dispatch_out(addmv, out, input, mat, vec, beta=beta, alpha=alpha)
    return _add_scaled(input, mv(mat, vec), beta, alpha)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1,
            out: Tensor | None = None) -> Tensor:
    if out is not None:
        return dispatch_out(baddbmm, out, input, batch1, batch2, beta=beta, alpha=alpha)
    return _add_scaled(input, bmm(batch1, batch2), beta, alpha)


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1,
           out: Tensor | None = None) -> Tensor:
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``, as one matrix product over the
    batch-and-inner dims."""
    if out is not None:
        return dispatch_out(addbmm, out, input, batch1, batch2, beta=beta, alpha=alpha)
    b1, b2 = batch1._data, batch2._data
    if b1.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if b1.shape[0] != b2.shape[0] or b1.shape[2] != b2.shape[1]:
        raise _bmm_shape_error(b1.shape[0], b1.shape[2], b2.shape[0], b2.shape[1])
    nb, n, k = b1.shape
    flat1 = reshape(permute(batch1, (1, 0, 2)), (n, nb * k))
    product = matmul(flat1, reshape(batch2, (nb * k, b2.shape[2])))
    return _add_scaled(input, product, beta, alpha)


for _fn in (mm, bmm, mv, dot, vdot, addmm, addmv, addbmm, baddbmm):
    _fn.kind = "matmul"  # dispatch_out: out= must have the product's dtype exactly
for _fn in (matmul, mm, bmm, mv, dot, vdot, inner, outer, ger, addmm, addmv, addbmm, baddbmm):
    tensor_method()(_fn)
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)


def _inplace_add_product(fn):
    """``addmm_`` and friends: compute, then write into ``self`` through ``copy_``."""
    def method(self: Tensor, *args, beta=1, alpha=1) -> Tensor:
        return self.copy_(fn(self, *args, beta=beta, alpha=alpha))
    method.__name__ = fn.__name__ + "_"
    return method


for _fn in (addmm, addmv, addbmm, baddbmm):
    tensor_method(_fn.__name__ + "_")(_inplace_add_product(_fn))


# ---- tensordot, kron, cross, trace, multi_dot ------------------------------------------------

def tensordot(a: Tensor, b: Tensor, dims=2, out: Tensor | None = None) -> Tensor:
    """Contract ``dims`` (an int: last dims of ``a`` with first of ``b``; or two lists) as one
    matrix product of the permuted, flattened operands."""
    if out is not None:
        if out._data.dtype != a._data.dtype:
            raise RuntimeError(f"tensordot: Expected the output tensor to have dtype "
                               f"{a.dtype.scalar_name}, but got an output tensor with dtype "
                               f"{out.dtype.scalar_name}")
        return dispatch_out(tensordot, out, a, b, dims)
    if isinstance(dims, Tensor):
        dims = dims.item() if dims._data.ndim == 0 else dims.tolist()
    if isinstance(dims, (int, np.integer)):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        dims_a, dims_b = list(range(-int(dims), 0)), list(range(int(dims)))
    else:
        dims_a, dims_b = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
    if len(dims_a) != len(dims_b):
        raise RuntimeError("both dimension lists should have same length")
    x, y = a._data, b._data
    if x.dtype != y.dtype:
        raise RuntimeError("both inputs should have same dtype")
    ca = [wrap_dim(d, x.ndim) for d in dims_a]
    cb = [wrap_dim(d, y.ndim) for d in dims_b]
    for da, db, wa, wb in zip(dims_a, dims_b, ca, cb):
        if x.shape[wa] != y.shape[wb]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{x.shape[wa]} in dim {da} and second has size {y.shape[wb]} "
                               f"in dim {db}")
    free_a = [d for d in range(x.ndim) if d not in ca]
    free_b = [d for d in range(y.ndim) if d not in cb]
    k = math.prod(x.shape[d] for d in ca)
    lhs = reshape(permute(a, free_a + ca), (-1, k) if k else (math.prod(
        x.shape[d] for d in free_a), 0))
    rhs = reshape(permute(b, cb + free_b), (k, math.prod(y.shape[d] for d in free_b)))
    shape = tuple(x.shape[d] for d in free_a) + tuple(y.shape[d] for d in free_b)
    return reshape(matmul(lhs, rhs), shape)


def kron(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """Kronecker product: block ``(i, j)`` of the result is ``input[i, j] * other``."""
    if out is not None:
        return dispatch_out(kron, out, input, other)
    a, b = input._data, other._data
    nd = max(a.ndim, b.ndim)
    sa, sb = (1,) * (nd - a.ndim) + a.shape, (1,) * (nd - b.ndim) + b.shape
    x = reshape(input, tuple(v for s in sa for v in (s, 1)))
    y = reshape(other, tuple(v for s in sb for v in (1, s)))
    return reshape(x * y, tuple(p * q for p, q in zip(sa, sb)))


def cross(input: Tensor, other: Tensor, dim: int | None = None, *,
          out: Tensor | None = None) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (default: the first dim of size 3)."""
    if out is not None:
        check_out_dtype(out, input._data.dtype)
        return dispatch_out(cross, out, input, other, dim)
    shape = broadcast_shapes(input._data.shape, other._data.shape)
    given = dim
    if dim is None:
        dim = next((i for i, s in enumerate(shape) if s == 3), -1)
    d = wrap_dim(dim, len(shape))
    if input._data.shape[d - len(shape) + input._data.ndim] != 3 or \
            other._data.shape[d - len(shape) + other._data.ndim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {given if given is not None else -1}"
                           f" must have length 3. Got {input._data.shape[dim]} and "
                           f"{other._data.shape[dim]}")
    x, y = input.expand(shape), other.expand(shape)
    a = [narrow(x, d, i, 1) for i in range(3)]
    b = [narrow(y, d, i, 1) for i in range(3)]
    parts = [a[(i + 1) % 3] * b[(i + 2) % 3] - a[(i + 2) % 3] * b[(i + 1) % 3] for i in range(3)]
    return cat(parts, d)


def trace(input: Tensor) -> Tensor:
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim "
                           f"{input._data.ndim}")
    return diagonal(input).sum()


tensor_method()(kron)
tensor_method()(cross)
tensor_method()(trace)


def multi_dot(tensors) -> Tensor:
    """``tensors[0] @ tensors[1] @ ...`` in the cheapest order (first and last may be 1-D);
    the home of ``torch.linalg.multi_dot``."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    first, last = tensors[0], tensors[-1]
    mats = list(tensors)
    if first._data.ndim == 1:
        mats[0] = first.unsqueeze(0)
    if last._data.ndim == 1:
        mats[-1] = last.unsqueeze(1)
    for i, m in enumerate(mats):
        if m._data.ndim != 2:
            where = "first" if i == 0 else "last" if i == len(mats) - 1 else None
            raise RuntimeError(
                f"multi_dot(): the {where} tensor must be 1D or 2D but got {m._data.ndim}D"
                if where else f"multi_dot(): tensor {i} must be 2D but got {m._data.ndim}D")
    dims = [mats[0]._data.shape[0]] + [m._data.shape[1] for m in mats]
    order = _chain_order(dims)
    result = _chain_product(mats, order, 0, len(mats) - 1)
    if last._data.ndim == 1:
        result = result.squeeze(1)
    if first._data.ndim == 1:
        result = result.squeeze(0)
    return result


def _chain_order(dims: list) -> list:
    """Optimal split points of a matrix chain (the textbook dynamic program)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain_product(mats: list, split: list, i: int, j: int) -> Tensor:
    if i == j:
        return mats[i]
    k = split[i][j]
    return mm(_chain_product(mats, split, i, k), _chain_product(mats, split, k + 1, j))


def chain_matmul(*matrices: Tensor, out: Tensor | None = None) -> Tensor:
    """Deprecated alias of ``linalg.multi_dot`` for 2-D matrices."""
    if out is not None:
        if out._data.dtype != matrices[0]._data.dtype:
            raise RuntimeError(f"multi_dot(): expected out tensor to have dtype "
                               f"{_c_name(matrices[0]._data.dtype)} but got "
                               f"{_c_name(out._data.dtype)}")
        return dispatch_out(chain_matmul, out, *matrices)
    if len(matrices) == 1:
        return matrices[0].clone()
    return multi_dot(matrices)


# ---- einsum ----------------------------------------------------------------------------------

_LETTERS = string.ascii_letters


def _parse_einsum(equation: str, shapes: list) -> tuple[list, str]:
    """Validate ``equation`` against the operand shapes (with torch's errors) and expand
    ``...`` into letters unused elsewhere. Returns the input subscripts and the output."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) > len(shapes):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the "
                           "equation")
    if len(terms) < len(shapes):
        raise RuntimeError("einsum(): more operands were provided than specified in the "
                           "equation")
    for pos, ch in enumerate(eq):
        if ch not in _LETTERS and ch not in ".,->":
            raise RuntimeError(f"einsum(): invalid subscript given at index {pos} in the "
                               "equation string, subscripts must be in [a-zA-Z]")
    spare = iter(c for c in _LETTERS if c not in eq)
    n_ell = max((len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes)
                 if "..." in t), default=0)
    ell = "".join(next(spare) for _ in range(n_ell))
    subs = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        if "..." in term:
            k = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ell[n_ell - k:] if k else "")
        elif len(term) != len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                               f"({len(term)}) does not match the number of dimensions "
                               f"({len(shape)}) for operand {i} and no ellipsis was given")
        subs.append(term)
    if arrow:
        out = rhs.replace("...", ell)
        for ch in out:
            if not any(ch in s for s in subs):
                raise RuntimeError(f"einsum(): output subscript {ch} does not appear in the "
                                   "equation for any input operand")
    else:
        counts = {}
        for s in subs:
            for ch in s:
                counts[ch] = counts.get(ch, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return subs, out


def _einsum_sizes(subs: list, shapes: list) -> dict:
    """Each letter's size; size-1 dims broadcast against the others, as in torch."""
    sizes: dict = {}
    for i, (s, shape) in enumerate(zip(subs, shapes)):
        seen: dict = {}
        for ch, n in zip(s, shape):
            if ch in seen and seen[ch] != n:
                raise RuntimeError(f"einsum(): subscript {ch} is repeated for operand {i} but "
                                   f"the sizes don't match, {n} != {seen[ch]}")
            seen[ch] = n
            old = sizes.get(ch, 1)
            if n != 1 and old != 1 and n != old:
                raise RuntimeError(f"einsum(): subscript {ch} has size {n} for operand {i} "
                                   f"which does not broadcast with previously seen size {old}")
            sizes[ch] = n if n != 1 else old
    return sizes


def _check_einsum(arrays, equation: str) -> tuple[list, str, dict]:
    """The input subscripts, the output's and each letter's size, after torch's checks."""
    shapes = [a.shape for a in arrays]
    subs, out = _parse_einsum(equation, shapes)
    for a in arrays[1:]:
        if a.dtype != arrays[0].dtype:
            raise RuntimeError(f"expected scalar type {dtype_name(arrays[0])} but found "
                               f"{dtype_name(a)}")
    return subs, out, _einsum_sizes(subs, shapes)


class Einsum(Op):
    """``np.einsum`` (optimized contraction order for three operands or more) on the
    operands with broadcast size-1 dims dropped; the result is always a new C-ordered
    array. Backward is einsums again (differentiable to any order)."""

    aten = "einsum"
    signature = "einsum(Tensor[] arrays, str equation) -> Tensor"
    kind = "matmul"

    @staticmethod
    def meta(arrays, equation):
        subs, out, sizes = _check_einsum(arrays, equation)
        return _meta.new(tuple(sizes[ch] for ch in out), arrays[0].dtype)

    @staticmethod
    def forward(ctx, arrays, equation):
        subs, out, sizes = _check_einsum(arrays, equation)
        # Size-1 dims that broadcast against a larger size are dropped, so NumPy sees
        # consistent sizes; backward puts them back.
        ops, squeezed, drops = [], [], []
        for a, s in zip(arrays, subs):
            drop = tuple(d for d, ch in enumerate(s) if a.shape[d] == 1 and sizes[ch] != 1)
            ops.append(a.reshape(tuple(n for d, n in enumerate(a.shape) if d not in drop))
                       if drop else a)
            drops.append(drop)
            squeezed.append("".join(ch for d, ch in enumerate(s) if d not in drop))
        np_eq = ",".join(squeezed) + "->" + out
        if is_bfloat16(arrays[0].dtype):  # NumPy's einsum has no bfloat16 loops
            ops = [o.astype(np.float32) for o in ops]
        result = np.einsum(np_eq, *ops, optimize=len(ops) > 2)
        if not isinstance(result, np.ndarray) or result.dtype != arrays[0].dtype or \
                not result.flags.c_contiguous or any(np.may_share_memory(result, a)
                                                     for a in arrays):
            # a scalar, bfloat16, a view or NumPy's operand-following layout
            result = np.array(result, dtype=arrays[0].dtype, copy=True, order="C")
        ctx.save_for_backward(*arrays)
        ctx.subs, ctx.out, ctx.sizes, ctx.drops = squeezed, out, sizes, drops
        return result

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        flat = [op.reshape(tuple(n for d, n in enumerate(op.shape) if d not in drop))
                if drop else op for op, drop in zip(operands, ctx.drops)]
        return [_einsum_grad(g, ctx.out, flat, ctx.subs, i, ctx.sizes).reshape(op.shape)
                if op.requires_grad else None for i, op in enumerate(operands)], None


def _einsum_grad(g: Tensor, out: str, operands: list, subs: list, i: int,
                 sizes: dict) -> Tensor:
    """Gradient of an einsum w.r.t. operand ``i``: an einsum of the output gradient with the
    other operands, then broadcast over letters only operand ``i`` has, then placed on the
    diagonal for letters repeated in its subscript."""
    target = subs[i]
    unique = "".join(dict.fromkeys(target))
    others = [(op, s) for j, (op, s) in enumerate(zip(operands, subs)) if j != i]
    available = set(out).union(*(s for _, s in others))
    kept = "".join(ch for ch in unique if ch in available)
    eq = ",".join([out] + [s for _, s in others]) + "->" + kept
    grad = einsum(eq, g, *(op for op, _ in others))
    if kept != unique:
        grad = grad.reshape(tuple(sizes[ch] if ch in kept else 1 for ch in unique))
        grad = grad.expand(tuple(sizes[ch] for ch in unique))
    if unique != target:
        spare = iter(c for c in _LETTERS if c not in "".join(subs) + out)
        renamed, eyes, seen = [], [], set()
        for ch in target:
            if ch in seen:
                new = next(spare)
                eyes.append((ch + new, eye(sizes[ch], dtype=g.dtype)))
                renamed.append(new)
            else:
                seen.add(ch)
                renamed.append(ch)
        eq = ",".join([unique] + [s for s, _ in eyes]) + "->" + "".join(renamed)
        grad = einsum(eq, grad, *(e for _, e in eyes))
    return grad


def einsum(*args) -> Tensor:
    """``einsum(equation, *operands)``, ``einsum(equation, [operands])``, or the sublist form
    ``einsum(op1, [0, 1], op2, [1, 2], [0, 2])``."""
    if not args:
        raise TypeError("einsum(): must specify the equation string and at least one operand")
    if isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    else:
        equation, operands = _sublist_equation(args)
    return dispatch(Einsum, operands, equation)


def _sublist_equation(args) -> tuple[str, list]:
    def letters(sub) -> str:
        return "".join("..." if s is Ellipsis else _LETTERS[s] for s in sub)
    operands = list(args[0::2][:len(args) // 2])
    terms = [letters(s) for s in args[1::2]]
    eq = ",".join(terms)
    if len(args) % 2:
        eq += "->" + letters(args[-1])
    return eq, operands
