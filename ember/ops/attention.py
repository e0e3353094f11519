"""Scaled dot-product attention as one fused op (forward and backward).

Without a mask or with the causal one (no dropout, float32/float64, the same batch dims)
forward and backward are one Numba kernel each (``_kernels_attention``: per head and
block of query rows, BLAS GEMMs around the softmax; causal blocks skip the hidden
scores). Otherwise ``softmax(q @ k^T * scale + mask) @ v`` is two GEMMs (one BLAS thread
each when small: ``_blas``) around one fused Numba pass (scale, mask and a safe softmax;
NumPy for other dtypes and masks); the backward's softmax gradient is one Numba pass
too. The op also outputs the probabilities, and its backward -- one fused op,
``ScaledDotProductAttentionBackward`` -- reads them as a saved output, so the gradient
flowing into them in a double backward goes through the attention op itself. The
backward op's own backward is written with ember ops: gradients of any order, and the
same ops dispatched with or without ``create_graph``.
"""

from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, _make
from . import _blas, _meta
from ._util import dtype_name
from .linalg import _as, unrequested

__all__ = ["scaled_dot_product_attention"]


def attention_probs(q, k, scale, mask):
    """``softmax(q @ k^T * scale + mask)`` on arrays; fully masked rows give zeros, as
    torch's safe softmax. float32/float64 scores with a mask shared by the batch and
    heads go through one fused Numba pass (scale, mask, softmax) after the GEMM."""
    s = _blas.matmul(q, np.swapaxes(k, -1, -2))
    mask2d = _row_mask(mask, s)
    if mask2d is not False:
        from . import _kernels_transformer as K
        return K.softmax(s, False, scale, mask2d, True, inplace=True)
    s *= scale
    if mask is not None:
        s = s + mask
    s -= _row_max(s)
    np.exp(s, out=s)
    s /= _safe_sum(s)
    return _as(s, q.dtype)


def _row_mask(mask, s: np.ndarray):
    """``mask`` as the C-contiguous (M, N) array of the fused softmax kernel (None for no
    mask), or False when the kernel does not apply (dtype, layout, or a mask that varies
    over the batch or heads, or widens the scores)."""
    if (s.dtype != np.float32 and s.dtype != np.float64) or not s.flags.c_contiguous \
            or not s.size:
        return False
    if mask is None:
        return None
    if mask.dtype != s.dtype or any(n != 1 for n in mask.shape[:-2]) or mask.ndim > s.ndim:
        return False
    rows, cols = mask.shape[-2:] if mask.ndim > 1 else (1, mask.shape[-1])
    if rows not in (1, s.shape[-2]) or cols not in (1, s.shape[-1]):
        return False
    return np.ascontiguousarray(np.broadcast_to(mask.reshape(rows, cols), (rows, s.shape[-1])))


def _row_max(s: np.ndarray) -> np.ndarray:
    m = s.max(-1, keepdims=True)
    return np.where(np.isneginf(m), 0, m)


def _safe_sum(e: np.ndarray) -> np.ndarray:
    total = e.sum(-1, keepdims=True)
    return total + (total == 0)


class ScaledDotProductAttention(Op):
    """Outputs ``((probs * drop) @ v, probs)``; ``mask`` is additive, ``drop`` a scaled
    keep-mask (torch's ``_scaled_dot_product_attention_math``, which returns the weights
    after dropout: ``sdpa_with_weights`` applies ``drop`` to them)."""

    name = "scaled_dot_product_attention"
    aten = "_scaled_dot_product_attention_math"
    signature = ("_scaled_dot_product_attention_math(Tensor q, Tensor k, Tensor v, "
                 "Tensor? mask, Tensor? drop, float scale) -> (Tensor output, Tensor probs)")

    @staticmethod
    def meta(q, k, v, mask, drop, scale):
        scores = _meta.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2], k.shape[-2])
        probs = _meta.broadcast_shapes(scores, *(m.shape for m in (mask, drop) if m is not None))
        out = _meta.broadcast_shapes(probs[:-2], v.shape[:-2]) + (q.shape[-2], v.shape[-1])
        return _meta.new(out, q.dtype), _meta.new(probs, q.dtype)

    @staticmethod
    def forward(ctx, q, k, v, mask, drop, scale):
        ctx.scale = scale
        ctx.set_materialize_grads(False)
        from . import _kernels_attention as KA
        causal = _is_causal_mask(mask)
        if drop is None and (mask is None or causal) and KA.supported(q, k, v):
            out, p = KA.attention(q, k, v, scale, causal)
            _FUSED[id(p)] = (weakref.ref(p, functools.partial(_forget, id(p))), causal)
            ctx.save_for_backward(q, k, v, drop, p)
            return out, p
        p = attention_probs(q, k, scale, mask)
        ctx.save_for_backward(q, k, v, drop, p)
        return _as(_blas.matmul(p * drop if drop is not None else p, v), q.dtype), p

    @staticmethod
    def backward(ctx, g, g_probs):
        q, k, v, drop, p = ctx.saved_tensors
        need = ctx.needs_input_grad
        gq, gk, gv, gs = dispatch(ScaledDotProductAttentionBackward, g, g_probs, q, k, v, p,
                                  drop, ctx.scale, need[3])
        return (gq if need[0] else None, gk if need[1] else None, gv if need[2] else None,
                gs if need[3] else None, None, None)


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _swap(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


class ScaledDotProductAttentionBackward(Op):
    """``(gq, gk, gv, gs)`` of attention from the output gradient ``g`` and the
    probabilities' gradient ``g_probs`` (either may be None): with
    ``gp = (g @ v^T) * drop + g_probs`` and ``gs = p * (gp - rowsum(gp * p))`` (the
    scores' gradient, also the additive mask's), ``gq = scale * gs @ k``,
    ``gk = scale * gs^T @ q``, ``gv = (p * drop)^T @ g``. One fused op; its own backward
    is written with ember ops."""

    aten = "_scaled_dot_product_attention_math_backward"
    signature = ("_scaled_dot_product_attention_math_backward(Tensor? g, Tensor? g_probs, "
                 "Tensor q, Tensor k, Tensor v, Tensor p, Tensor? drop, float scale, "
                 "bool scores_grad) -> (Tensor grad_q, Tensor grad_k, Tensor grad_v, "
                 "Tensor grad_scores)")

    @staticmethod
    def meta(g, g_probs, q, k, v, p, drop, scale, scores_grad):
        lead, (rows, cols) = p.shape[:-2], p.shape[-2:]
        bc = _meta.broadcast_shapes
        gv = v.shape if g is None else bc(lead, g.shape[:-2]) + (cols, g.shape[-1])
        gs = _meta.new(p.shape, q.dtype) if scores_grad else \
            _meta.MetaArray(p.shape, q.dtype, (0,) * len(p.shape))
        return (_meta.new(bc(lead, k.shape[:-2]) + (rows, k.shape[-1]), q.dtype),
                _meta.new(bc(lead, q.shape[:-2]) + (cols, q.shape[-1]), q.dtype),
                _meta.new(gv, q.dtype), gs)

    @staticmethod
    def forward(ctx, g, g_probs, q, k, v, p, drop, scale, scores_grad):
        ctx.save_for_backward(g, g_probs, q, k, v, p, drop)
        ctx.scale = scale
        ctx.set_materialize_grads(False)
        from . import _kernels_attention as KA
        fused = _FUSED.get(id(p))
        if fused is not None and fused[0]() is p and g is not None and g_probs is None \
                and drop is None and not scores_grad and g.dtype == p.dtype \
                and g.shape[:-2] == p.shape[:-2] and KA.supported(q, k, v):
            return (*KA.attention_backward(g, q, k, v, p, scale, fused[1]),
                    unrequested(p.shape, p.dtype))
        gp = g_probs
        if g is not None:
            gp = _blas.matmul(g, _swap(v))
            if drop is not None:
                gp *= drop
            if g_probs is not None:
                gp += g_probs
        if gp.shape == p.shape and gp.dtype == p.dtype and p.dtype in _KERNEL_DTYPES \
                and gp.flags.c_contiguous and p.flags.c_contiguous:
            from . import _kernels_transformer as K
            gs = K.softmax_backward(gp, p, out=gp if g is not None else None)
        else:
            gs = gp - (gp * p).sum(-1, keepdims=True)
            gs *= p
        gq = _blas.matmul(gs, k)
        gq *= scale
        gk = _blas.matmul(_swap(gs), q)
        gk *= scale
        gv = np.zeros(v.shape, q.dtype) if g is None else \
            _blas.matmul(_swap(p * drop if drop is not None else p), g)
        return _as(gq, q.dtype), _as(gk, q.dtype), _as(gv, q.dtype), \
            _as(gs, q.dtype) if scores_grad else unrequested(p.shape, p.dtype)

    @staticmethod
    def backward(ctx, uq, uk, uv, us):
        """The adjoint in ember ops. With ``u = scale*(uq @ k^T + q @ uk^T) + us`` (the
        cotangent of ``gs``): d/dgp = softmax_backward(u, p), d/dp = u*(gp - rowsum(gp*p))
        - gp*rowsum(u*p) + (g @ uv^T)*drop, d/dq = scale*gs @ uk, d/dk = scale*gs^T @ uq,
        d/dg = (d/dgp*drop) @ v + (p*drop) @ uv, d/dv = (d/dgp*drop)^T @ g."""
        from .reductions import SoftmaxBackward
        g, g_probs, q, k, v, p, drop = ctx.saved_tensors
        scale = ctx.scale

        def dropped(t):
            return t * drop if drop is not None else t

        gp = g_probs
        if g is not None:
            gp = dropped(g @ v.mT)
            gp = gp if g_probs is None else gp + g_probs
        gs = dispatch(SoftmaxBackward, gp, p, -1)
        dq = (gs @ uk) * scale if uk is not None else None
        dk = (gs.mT @ uq) * scale if uq is not None else None
        terms = [t for t in ((uq @ k.mT) * scale if uq is not None else None,
                             (q @ uk.mT) * scale if uk is not None else None, us)
                 if t is not None]
        dg = dgp = dp = dv = None
        if terms:
            u = sum(terms[1:], terms[0])
            dgp = dispatch(SoftmaxBackward, u, p, -1)
            dp = u * (gp - (gp * p).sum(-1, keepdim=True)) - gp * (u * p).sum(-1, keepdim=True)
            if g is not None:
                dg, dv = dropped(dgp) @ v, dropped(dgp).mT @ g
        if uv is not None and g is not None:
            dpd = dropped(g @ uv.mT)
            dp = dpd if dp is None else dp + dpd
            dgv = dropped(p) @ uv
            dg = dgv if dg is None else dg + dgv
        return dg, dgp, dq, dk, dv, dp, None, None, None


_CAUSAL_MASKS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id -> mask
# id -> (weak reference, causal) of the probabilities ``_kernels_attention`` computed:
# zero right of each row's last visible key, which its backward relies on
_FUSED: dict = {}


def _forget(key: int, _ref) -> None:
    _FUSED.pop(key, None)


@functools.lru_cache(maxsize=8)
def _causal_mask(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The additive causal mask (0 on and below the diagonal, ``-inf`` above), read-only and
    kept for the next call of the same shape (and known to the forward as causal)."""
    mask = np.where(np.tril(np.ones(shape, dtype=bool)), 0.0, -np.inf).astype(dtype)
    mask.setflags(write=False)
    _CAUSAL_MASKS[id(mask)] = mask
    return mask


def _is_causal_mask(mask) -> bool:
    """Whether ``mask`` is one made by ``_causal_mask`` (``is_causal=True``)."""
    return mask is not None and _CAUSAL_MASKS.get(id(mask)) is mask


def additive_mask(attn_mask, query: Tensor, shape, is_causal: bool):
    """The mask to add to the scores (``-inf`` where attention is not allowed): bool masks
    are True where allowed (SDPA's convention); a float Tensor is passed through, so its
    gradient flows."""
    dtype = query._data.dtype
    if is_causal:
        return _meta.constant(_causal_mask(tuple(shape), np.dtype(dtype)), query)
    if attn_mask is None:
        return None
    m = attn_mask._data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if m.dtype == np.bool_:
        if not isinstance(attn_mask, Tensor):
            return _make(np.where(m, 0.0, -np.inf).astype(dtype))
        from .elementwise import where
        return where(attn_mask, 0.0, float("-inf")).to(query.dtype)
    if m.dtype != dtype:
        raise RuntimeError(f"Expected attn_mask dtype to be bool or float or to match query "
                           f"dtype, but got attn_mask.dtype: {dtype_name(m)} and  "
                           f"query.dtype: {dtype_name(np.empty(0, dtype))} instead.")
    return attn_mask if isinstance(attn_mask, Tensor) else _make(m)


def _repeat_heads(t: Tensor, n: int) -> Tensor:
    """``(..., Hk, S, E) -> (..., Hk*n, S, E)``, each head repeated ``n`` times (GQA)."""
    if n == 1:
        return t
    shape = tuple(t.shape)
    x = t.unsqueeze(-3).expand(shape[:-2] + (n,) + shape[-2:])
    return x.reshape(shape[:-3] + (shape[-3] * n,) + shape[-2:])


def _dropout_keep(shape, p: float, query: Tensor) -> Tensor:
    """A keep-mask scaled by ``1/(1-p)``, drawn from ember's generator (dispatched ops on
    ``query``'s device, so modes and meta tensors see it)."""
    from ..random import rand
    return (rand(*shape, device=query.device) >= p).to(query.dtype) / (1 - p)


def sdpa_with_weights(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                      scale=None, enable_gqa=False):
    """Scaled dot-product attention returning ``(output, attention weights)``."""
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError("scaled_dot_product_attention: query, key and value must be at "
                           "least 2-D")
    if not (query._data.dtype == key._data.dtype == value._data.dtype):
        raise RuntimeError(f"Expected query, key, and value to have the same dtype, but got "
                           f"query.dtype: {query.dtype} key.dtype: {key.dtype} and value.dtype: "
                           f"{value.dtype} instead.")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: shapes query {list(query.shape)}, "
                           f"key {list(key.shape)} and value {list(value.shape)} do not match")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set "
                           "when is_causal=True")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if heads % kv_heads:
            raise RuntimeError(f"Number of heads in key and value must divide the number of "
                               f"heads in query, got {kv_heads} and {heads}")
        key, value = _repeat_heads(key, heads // kv_heads), _repeat_heads(value,
                                                                            heads // kv_heads)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    mask = additive_mask(attn_mask, query, (query.shape[-2], key.shape[-2]), is_causal)
    drop = None
    if dropout_p > 0:
        lead = np.broadcast_shapes(query.shape[:-2], key.shape[:-2])
        drop = _dropout_keep(lead + (query.shape[-2], key.shape[-2]), dropout_p, query)
    out, probs = dispatch(ScaledDotProductAttention, query, key, value, mask, drop, scale)
    return out, (probs if drop is None else probs * drop)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` over the last two dims. A bool ``attn_mask``
    is True where attention is allowed; a float one is added to the scores."""
    return sdpa_with_weights(query, key, value, attn_mask, dropout_p, is_causal, scale,
                             enable_gqa)[0]
