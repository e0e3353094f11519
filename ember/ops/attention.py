"""Scaled dot-product attention as one fused op (forward and backward).

``softmax(q @ k^T * scale + mask) @ v`` is computed in NumPy with one max/exp/sum pass
and two matmuls; backward is the closed form on the saved probabilities. Under
``create_graph`` the probabilities are recomputed with ember ops, so higher-order
gradients are exact.
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import Op, dispatch
from .._state import STATE
from .._tensor import Tensor, _make
from ._util import dtype_name

__all__ = ["scaled_dot_product_attention"]


def attention_probs(q, k, scale, mask):
    """``softmax(q @ k^T * scale + mask)`` on arrays; fully masked rows give zeros, as
    torch's safe softmax."""
    s = np.matmul(q, np.swapaxes(k, -1, -2))
    s *= scale
    if mask is not None:
        s = s + mask
    s -= _row_max(s)
    np.exp(s, out=s)
    s /= _safe_sum(s)
    return s


def _row_max(s: np.ndarray) -> np.ndarray:
    m = s.max(-1, keepdims=True)
    return np.where(np.isneginf(m), 0, m)


def _safe_sum(e: np.ndarray) -> np.ndarray:
    total = e.sum(-1, keepdims=True)
    return total + (total == 0)


def _probs_tensor(q: Tensor, k: Tensor, scale: float, mask) -> Tensor:
    """The same probabilities as a differentiable function of ``q`` and ``k``."""
    s = (q @ k.mT) * scale
    if mask is not None:
        s = s + mask
    e = (s - _make(_row_max(s._data))).exp()
    total = e.sum(-1, keepdim=True)
    return e / (total + _make((total._data == 0).astype(total._data.dtype)))


class ScaledDotProductAttention(Op):
    """Outputs ``(attn @ v, attn)``; ``mask`` is additive, ``drop`` a scaled keep-mask."""

    name = "scaled_dot_product_attention"

    @staticmethod
    def forward(ctx, q, k, v, mask, drop, scale):
        p = attention_probs(q, k, scale, mask)
        pd = p * drop if drop is not None else p
        ctx.save_for_backward(q, k, v, mask, p)
        ctx.drop, ctx.scale = drop, scale
        return np.matmul(pd, v), pd

    @staticmethod
    def backward(ctx, g, g_attn):
        q, k, v, mask, p = ctx.saved_tensors
        drop, scale = ctx.drop, ctx.scale
        if STATE.grad_enabled:
            p = _probs_tensor(q, k, scale, mask)
        dropt = _make(drop) if drop is not None else None
        pd = p * dropt if drop is not None else p
        need = ctx.needs_input_grad
        gpd = g @ v.mT
        if g_attn is not None:
            gpd = gpd + g_attn
        gp = gpd * dropt if drop is not None else gpd
        gs = p * (gp - (gp * p).sum(-1, keepdim=True))
        gq = (gs @ k) * scale if need[0] else None
        gk = (gs.mT @ q) * scale if need[1] else None
        gv = pd.mT @ g if need[2] else None
        return gq, gk, gv, (gs if need[3] else None), None, None


def additive_mask(attn_mask, dtype, shape, is_causal: bool):
    """The mask to add to the scores (``-inf`` where attention is not allowed): bool masks
    are True where allowed (SDPA's convention); a float Tensor is passed through, so its
    gradient flows."""
    if is_causal:
        return np.where(np.tril(np.ones(shape, dtype=bool)), 0.0, -np.inf).astype(dtype)
    if attn_mask is None:
        return None
    m = attn_mask._data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if m.dtype == np.bool_:
        return np.where(m, 0.0, -np.inf).astype(dtype)
    if m.dtype != dtype:
        raise RuntimeError(f"Expected attn_mask dtype to be bool or float or to match query "
                           f"dtype, but got attn_mask.dtype: {dtype_name(m)} and  "
                           f"query.dtype: {dtype_name(np.empty(0, dtype))} instead.")
    return attn_mask if isinstance(attn_mask, Tensor) else m


def _repeat_heads(t: Tensor, n: int) -> Tensor:
    """``(..., Hk, S, E) -> (..., Hk*n, S, E)``, each head repeated ``n`` times (GQA)."""
    if n == 1:
        return t
    shape = tuple(t.shape)
    x = t.unsqueeze(-3).expand(shape[:-2] + (n,) + shape[-2:])
    return x.reshape(shape[:-3] + (shape[-3] * n,) + shape[-2:])


def _dropout_keep(shape, p: float, dtype) -> np.ndarray:
    """A keep-mask scaled by ``1/(1-p)``, drawn from ember's generator."""
    import ember
    keep = ember.rand(*shape)._data >= p
    return keep.astype(dtype) / (1 - p)


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
    dtype = query._data.dtype
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    mask = additive_mask(attn_mask, dtype, (query.shape[-2], key.shape[-2]), is_causal)
    drop = None
    if dropout_p > 0:
        lead = np.broadcast_shapes(query.shape[:-2], key.shape[:-2])
        drop = _dropout_keep(lead + (query.shape[-2], key.shape[-2]), dropout_p, dtype)
    return dispatch(ScaledDotProductAttention, query, key, value, mask, drop, scale)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` over the last two dims. A bool ``attn_mask``
    is True where attention is allowed; a float one is added to the scores."""
    return sdpa_with_weights(query, key, value, attn_mask, dropout_p, is_causal, scale,
                             enable_gqa)[0]
