"""Fused loss kernels with their own backward rules (``nn.functional`` calls them).

- ``cross_entropy``: log-softmax and the negative log-likelihood in one pass over the
  logits, for class-index or class-probability targets, with class weights,
  ``ignore_index`` and label smoothing. The hot loss of every classifier.
- ``nll_loss``: the negative log-likelihood of given log-probabilities.
- ``pointwise_loss``: the elementwise losses (mse, l1, smooth_l1, huber, bce,
  bce_with_logits, soft_margin, kl_div, poisson_nll, hinge_embedding), each written once
  with its first and second derivatives over a small array namespace: on NumPy arrays
  (``_NUMPY``) it is the kernel of the forward and of the first backward, on Tensors
  (``_EMBER``) the ember ops of the double backward.
- ``ctc_loss``: connectionist temporal classification, by the alpha/beta recursions of
  ``_kernels_loss.py`` (Numba for large problems); its gradient, like torch's, has no
  derivative of its own.

Each loss's backward is one fused op (``nll_loss_backward``, ``cross_entropy_backward``,
``pointwise_loss_backward``) whose own backward is written with ember ops, so gradients of
any order work and every backward dispatches the same ops with or without
``create_graph``.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, _make
from . import _meta
from ._util import dtype_name, float_result, promote

__all__: list[str] = []

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(el: np.ndarray, reduction: str, denom=None) -> np.ndarray:
    if reduction == "none":
        return el
    total = el.sum(dtype=el.dtype)
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / (el.size if denom is None else denom), dtype=el.dtype)


def _row_scale(g: np.ndarray, shape: tuple, reduction: str, denom) -> np.ndarray:
    """The upstream gradient of each loss element (``g`` spread back over the reduction)."""
    if reduction == "none":
        return np.broadcast_to(g, shape)
    n = int(np.prod(shape)) if denom is None else denom
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = g if reduction == "sum" else g / n
    return np.broadcast_to(scale, shape)


def _grad_count(denom, valid: np.ndarray):
    """The 'mean' divisor of a gradient: the total weight, except when every target is
    ignored -- then each term is exactly 0, as in torch (not 0 * g/0 = NaN), and any
    finite divisor gives that. (The loss itself stays 0/0 = NaN, as torch's.)"""
    return denom if valid.any() else 1


def _scale_tensor(g: Tensor, reduction: str, count) -> Tensor:
    """``_row_scale`` with ember ops, left to broadcast: ``g``, or ``g / count`` for 'mean'."""
    return g / count if reduction == "mean" else g


def _reduce_tensor(el: Tensor, reduction: str, count) -> Tensor:
    """``_reduce`` with ember ops (the adjoint of ``_scale_tensor``)."""
    if reduction == "none":
        return el
    return el.sum() / count if reduction == "mean" else el.sum()


def _reduced_meta(row_shape: tuple, reduction: str, dtype) -> _meta.MetaArray:
    return _meta.new(row_shape if reduction == "none" else (), dtype)


def _class_shape(shape: tuple) -> tuple[int, tuple]:
    """Number of classes (dim 1, or dim 0 of a 1-D input) and the shape of the rows."""
    if len(shape) > 1:
        return shape[1], (shape[0],) + tuple(shape[2:])
    return shape[0], ()


def _class_layout(shape: tuple, dtype) -> _meta.MetaArray:
    """An input-shaped array built as contiguous rows ``(*rows, C)`` with the class axis
    moved back to dim 1 (the layout of the losses' input gradients)."""
    c, rows = _class_shape(shape)
    strides = _meta.contiguous(rows + (c,), np.dtype(dtype).itemsize)
    if len(shape) > 1:
        strides = (strides[0], strides[-1]) + strides[1:-1]
    return _meta.MetaArray(shape, dtype, strides)


def _class_dim(x) -> int:
    return 1 if x.ndim > 1 else 0


# ---- cross entropy ------------------------------------------------------------------------

def _fused_rows(x: np.ndarray) -> bool:
    """Whether the Numba (log-)softmax row kernel takes ``x`` (float32/float64, C order)."""
    return (x.dtype == np.float32 or x.dtype == np.float64) and x.flags.c_contiguous \
        and x.size > 0


def _log_softmax_rows(x: np.ndarray) -> np.ndarray:
    if _fused_rows(x):
        from . import _kernels_transformer as K
        return K.softmax(x, True)
    m = x.max(-1, keepdims=True) if x.shape[-1] else np.zeros(x.shape[:-1] + (1,), x.dtype)
    m = np.where(np.isfinite(m), m, 0)
    shifted = x - m
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


class _CE:
    """Cross entropy laid out as rows: logits ``x`` (M, C) and per-row target weights
    ``B`` (M, C), so that loss_i = alpha_i * logsumexp(x_i) - <B_i, x_i> with
    alpha_i = sum_c B_ic. Class-index targets keep B sparse (index + coefficient)."""

    def __init__(self, x, target, weight, ignore_index, eps, probs: bool):
        self.shape = x.shape
        c = x.shape[1] if x.ndim > 1 else x.shape[0]
        self.C = c
        xm = np.moveaxis(x, 1, -1) if x.ndim > 2 else x
        self.row_shape = xm.shape[:-1]
        self.x = xm.reshape(-1, c)
        self.eps, self.probs = eps, probs
        w = np.ones(c, dtype=self.x.dtype) if weight is None else weight.astype(self.x.dtype)
        self.w = w
        if probs:
            y = np.moveaxis(target, 1, -1) if target.ndim > 2 else target
            self.y = y.reshape(-1, c)
            self.B = w * ((1 - eps) * self.y + eps / c)
            self.alpha = self.B.sum(-1)
            self.denom = self.x.shape[0]
            return
        t = target.reshape(-1).astype(np.int64, copy=False)
        lo, hi = (int(t.min()), int(t.max())) if t.size else (0, -1)
        if 0 <= lo and hi < c and not lo <= ignore_index <= hi:  # all valid, none ignored
            self.t, self.valid = t, np.ones(t.shape, self.x.dtype)
            self.wt = w[t] if weight is not None else self.valid
        else:
            valid = t != ignore_index
            bad = valid & ((t < 0) | (t >= c))
            if bad.any():
                raise IndexError(f"Target {int(t[bad][0])} is out of bounds.")
            self.t = np.where(valid, t, 0)
            self.valid = valid.astype(self.x.dtype)
            self.wt = w[self.t] * self.valid
        self.alpha = (1 - eps) * self.wt + (eps / c) * w.sum() * self.valid if eps else self.wt
        self.denom = self.wt.sum()

    @property
    def ls(self) -> np.ndarray:
        """log_softmax of the rows (computed on first use)."""
        if "_ls" not in self.__dict__:
            self._ls = _log_softmax_rows(self.x)
        return self._ls

    def _ls_at_targets(self, rows: np.ndarray) -> np.ndarray:
        """``ls[rows, t]``; without label smoothing (which reads all of ``ls``) from the
        rows' log-sum-exp alone (one Numba pass; the (M, C) log_softmax not written)."""
        if self.eps or "_ls" in self.__dict__ or not _fused_rows(self.x):
            return self.ls[rows, self.t]
        from . import _kernels_transformer as K
        return K.log_softmax_at(self.x, self.t)

    def losses(self) -> np.ndarray:
        rows = np.arange(self.x.shape[0])
        if self.probs:
            el = -(self.B * self.ls).sum(-1)
        else:
            el = -(1 - self.eps) * self.wt * self._ls_at_targets(rows)
            if self.eps:
                el = el - (self.eps / self.C) * self.valid * (self.ls * self.w).sum(-1)
        return el.reshape(self.row_shape)

    def minus_B(self, arr: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``arr - s[:, None] * B`` (in place on ``arr``)."""
        if self.probs:
            arr -= s[:, None] * self.B
            return arr
        arr[np.arange(arr.shape[0]), self.t] -= s * (1 - self.eps) * self.wt
        return self.minus_smoothing(arr, s)

    def minus_smoothing(self, arr: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``arr`` less label smoothing's share of ``s[:, None] * B`` for class-index
        targets (in place)."""
        if self.eps:
            arr -= (s * (self.eps / self.C) * self.valid)[:, None] * self.w
        return arr

    def input_grad(self, s: np.ndarray) -> np.ndarray:
        """``s[:, None] * (alpha * softmax(x) - B)`` of class-index targets, ``(M, C)``: the
        Numba row kernel, else ``exp(log_softmax)`` and ``minus_B``."""
        if not _fused_rows(self.x):
            p = np.exp(self.ls)
            return self.minus_B(np.multiply(p, (s * self.alpha)[:, None], out=p), s)
        from . import _kernels_ce
        gx = _kernels_ce.ce_grad(self.x, self.t, s * self.alpha, s * (1 - self.eps) * self.wt)
        return self.minus_smoothing(gx, s)

    def to_input_layout(self, rows: np.ndarray) -> np.ndarray:
        """``(M, k)`` rows back in the input's layout (class axis at dim 1, size ``k``);
        ``rows`` itself when that is its shape (an array owning its memory: a leaf's .grad
        without a copy)."""
        shape = self.row_shape + (rows.shape[-1],)
        out = rows if rows.shape == shape else rows.reshape(shape)
        return np.moveaxis(out, -1, 1) if len(self.shape) > 2 else out


def _ce_setup(x, target, weight, ignore_index, eps):
    probs = _is_probs(target)
    if probs:
        x, target = promote(x, target)
    return _CE(float_result(x), target, weight, ignore_index, eps, probs)


def _is_probs(target) -> bool:
    kind = target.dtype.kind  # (bfloat16's is "V"; its name is slow to build)
    return kind == "f" or (kind == "V" and target.dtype.name == "bfloat16")


def _ce_dtype(x, target) -> np.dtype:
    dt = _meta.result_dtype(x, target) if _is_probs(target) else x.dtype
    return _meta.float_dtype(dt)


_CE_ARGS = "str reduction, int ignore_index, float eps"


class CrossEntropy(Op):
    name = "cross_entropy_loss"
    aten = "cross_entropy_loss"
    signature = f"cross_entropy_loss(Tensor x, Tensor target, Tensor? weight, {_CE_ARGS}) -> Tensor"

    @staticmethod
    def meta(x, target, weight, reduction, ignore_index, eps):
        return _reduced_meta(_class_shape(x.shape)[1], reduction, _ce_dtype(x, target))

    @staticmethod
    def forward(ctx, x, target, weight, reduction, ignore_index, eps):
        ce = _ce_setup(x, target, weight, ignore_index, eps)
        ctx.save_for_backward(x, target, weight)
        ctx.args = (reduction, ignore_index, eps)
        out = _reduce(ce.losses(), reduction, None if ce.probs else ce.denom)
        return out.astype(ce.x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, target, weight = ctx.saved_tensors
        return dispatch(CrossEntropyBackward, g, x, target, weight, *ctx.args)


# torch computes F.cross_entropy as nll_loss(log_softmax(x)): its node is NllLossBackward0
CrossEntropy._backward_name = "NllLossBackward0"


class CrossEntropyBackward(Op):
    """Gradients of cross entropy: d/dx = s * (alpha * softmax(x) - B) per row, and for
    probability targets d/dy = -s * (1 - eps) * w * log_softmax(x)."""

    aten = "cross_entropy_loss_backward"
    signature = (f"cross_entropy_loss_backward(Tensor g, Tensor x, Tensor target, Tensor? weight, "
                 f"{_CE_ARGS}) -> (Tensor grad_input, Tensor grad_target)")

    @staticmethod
    def meta(g, x, target, weight, reduction, ignore_index, eps):
        gx = _class_layout(x.shape, x.dtype)
        return (gx, _class_layout(target.shape, target.dtype)) if _is_probs(target) else gx

    @staticmethod
    def forward(ctx, g, x, target, weight, reduction, ignore_index, eps):
        ce = _ce_setup(x, target, weight, ignore_index, eps)
        ctx.save_for_backward(g, x, target, weight)
        ctx.args = (reduction, ignore_index, eps)
        s = _row_scale(g, ce.row_shape, reduction,
                       None if ce.probs else _grad_count(ce.denom, ce.valid)).reshape(-1)
        if not ce.probs:
            return ce.to_input_layout(ce.input_grad(s)).astype(x.dtype, copy=False)
        p = np.exp(ce.ls)  # (ls needed below)
        gx = ce.minus_B(np.multiply(p, (s * ce.alpha)[:, None], out=p), s)
        gx = ce.to_input_layout(gx).astype(x.dtype, copy=False)
        gy = ce.to_input_layout(-(s * (1 - eps))[:, None] * ce.w * ce.ls)
        return gx, gy.astype(target.dtype, copy=False)

    @staticmethod
    def backward(ctx, vx, vy=None):
        """With ``p = softmax(x)`` along the class dim and ``s`` the row scale:
        d/dx = s*alpha*p*(vx - <p, vx>) [- s*(1-eps)*(wv - p*sum(wv)), wv = w*vy],
        d/dg = reduce(<alpha*p - B, vx> [- (1-eps)*<wv, log_softmax(x)>]),
        d/dy = s*(1-eps)*w*(<p, vx> - vx) for probability targets."""
        from .reductions import SoftmaxBackward, log_softmax, softmax
        g, x, target, weight = ctx.saved_tensors
        reduction, ignore_index, eps = ctx.args
        need = ctx.needs_input_grad
        cd = _class_dim(x)
        ce = _ce_setup(x._data, target._data, None if weight is None else weight._data,
                       ignore_index, eps)
        count = ce.denom if ce.probs else _grad_count(ce.denom, ce.valid)
        s = _scale_tensor(g.unsqueeze(cd) if reduction == "none" else g, reduction, count)
        p = softmax(x, cd)
        if ce.probs:
            shape = [1] * x.ndim
            shape[cd] = -1
            w = _make(ce.w.reshape(shape))
            b = w * ((1 - eps) * target + eps / ce.C)
            alpha = b.sum(cd, keepdim=True)
        else:
            b = _make(ce.to_input_layout(-ce.minus_B(np.zeros_like(ce.x), np.ones(len(ce.x)))))
            alpha = _make(ce.to_input_layout(ce.alpha[:, None]))
        gx = dispatch(SoftmaxBackward, vx, p, cd) * (s * alpha) if need[1] else None
        gg = ((alpha * p - b) * vx).sum(cd) if need[0] else None
        gy = None
        if ce.probs:
            pv = (p * vx).sum(cd, keepdim=True)
            gy = s * (1 - eps) * w * (pv - vx) if need[2] else None
            if vy is not None:
                wv = w * vy
                if need[1]:
                    gx = gx - s * (1 - eps) * (wv - p * wv.sum(cd, keepdim=True))
                if need[0]:
                    gg = gg - (1 - eps) * (wv * log_softmax(x, cd)).sum(cd)
        if gg is not None:
            gg = _reduce_tensor(gg, reduction, count)
        return gg, gx, gy, None, None, None, None


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    _check_reduction(reduction)
    return dispatch(CrossEntropy, input, target, weight, reduction, ignore_index,
                    float(label_smoothing))


# ---- negative log-likelihood -------------------------------------------------------------

def _nll_setup(x, target, weight, ignore_index):
    c = x.shape[1] if x.ndim > 1 else x.shape[0]
    if weight is not None and weight.size != c:
        raise RuntimeError(f"weight tensor should be defined either for all {c} classes or no "
                           f"classes but got weight tensor of shape: {list(weight.shape)}")
    t = target.reshape(-1).astype(np.int64)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"Target {int(t[bad][0])} is out of bounds.")
    t = np.where(valid, t, 0)
    w = np.ones(c, dtype=x.dtype) if weight is None else weight.astype(x.dtype)
    wt = w[t] * valid
    return c, t, wt


def _nll_rows(x, c):
    xm = np.moveaxis(x, 1, -1) if x.ndim > 1 else x
    return xm.reshape(-1, c), xm.shape[:-1]


_NLL_ARGS = "str reduction, int ignore_index"


class NllLoss(Op):
    name = "nll_loss"
    aten = "nll_loss"
    signature = f"nll_loss(Tensor x, Tensor target, Tensor? weight, {_NLL_ARGS}) -> Tensor"

    @staticmethod
    def meta(x, target, weight, reduction, ignore_index):
        return _reduced_meta(_class_shape(x.shape)[1], reduction, x.dtype)

    @staticmethod
    def forward(ctx, x, target, weight, reduction, ignore_index):
        c, t, wt = _nll_setup(x, target, weight, ignore_index)
        rows, row_shape = _nll_rows(x, c)
        el = (-wt * rows[np.arange(rows.shape[0]), t]).reshape(row_shape).astype(x.dtype)
        ctx.save_for_backward(x, target, weight)
        ctx.args = (reduction, ignore_index)
        return _reduce(el, reduction, wt.sum()).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, target, weight = ctx.saved_tensors
        return dispatch(NllLossBackward, g, x, target, weight, *ctx.args), None, None, None, None


class NllLossBackward(Op):
    """d/dx = -s * w[t] at the target positions; linear in ``g``, constant in ``x``: its
    adjoint in ``g`` is ``nll_loss`` itself."""

    aten = "nll_loss_backward"
    signature = (f"nll_loss_backward(Tensor g, Tensor x, Tensor target, Tensor? weight, "
                 f"{_NLL_ARGS}) -> Tensor")

    @staticmethod
    def meta(g, x, target, weight, reduction, ignore_index):
        return _class_layout(x.shape, x.dtype)

    @staticmethod
    def forward(ctx, g, x, target, weight, reduction, ignore_index):
        c, t, wt = _nll_setup(x, target, weight, ignore_index)
        rows, row_shape = _nll_rows(x, c)
        count = _grad_count(wt.sum(), target.reshape(-1) != ignore_index)
        s = _row_scale(g, row_shape, reduction, count).reshape(-1)
        out = np.zeros(rows.shape, dtype=x.dtype)
        out[np.arange(rows.shape[0]), t] = -s * wt
        ctx.save_for_backward(target, weight)
        ctx.args = (reduction, ignore_index)
        out = out.reshape(row_shape + (c,))
        return np.moveaxis(out, -1, 1) if x.ndim > 1 else out

    @staticmethod
    def backward(ctx, v):
        target, weight = ctx.saved_tensors
        return dispatch(NllLoss, v, target, weight, *ctx.args), None, None, None, None, None


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    _check_reduction(reduction)
    return dispatch(NllLoss, input, target, weight, reduction, ignore_index)


# ---- pointwise losses ---------------------------------------------------------------------

class _NumpyMath:
    """The functions the elementwise losses are written with, on ndarrays."""

    where, abs, sign = staticmethod(np.where), staticmethod(np.abs), staticmethod(np.sign)
    exp, log, log1p = staticmethod(np.exp), staticmethod(np.log), staticmethod(np.log1p)
    ones_like, zeros_like = staticmethod(np.ones_like), staticmethod(np.zeros_like)

    @staticmethod
    def softplus(x):
        """log(1 + exp(x)), stable."""
        return np.logaddexp(0, x)

    @staticmethod
    def sigmoid(x):
        return np.exp(-np.logaddexp(0, -x))

    @staticmethod
    def clamp_min(x, low):
        return np.maximum(x, low)

    @staticmethod
    def cast(mask, like):
        return mask.astype(like.dtype)


class _EmberMath:
    """The same functions as ember ops on Tensors (differentiable: the double backward)."""

    @staticmethod
    def where(cond, a, b):
        from .elementwise import where
        return where(cond, a, b)

    abs = staticmethod(lambda x: x.abs())
    sign = staticmethod(lambda x: x.sign())
    exp = staticmethod(lambda x: x.exp())
    log = staticmethod(lambda x: x.log())
    log1p = staticmethod(lambda x: x.log1p())
    sigmoid = staticmethod(lambda x: x.sigmoid())
    softplus = staticmethod(lambda x: x.logaddexp(x * 0))
    clamp_min = staticmethod(lambda x, low: x.clamp(min=low))
    cast = staticmethod(lambda mask, like: mask.to(like.dtype))

    @staticmethod
    def ones_like(x):
        from .creation import ones_like
        return ones_like(x)

    @staticmethod
    def zeros_like(x):
        from .creation import zeros_like
        return zeros_like(x)


_NUMPY, _EMBER = _NumpyMath(), _EmberMath()


# Each loss: (x, y, params, m) -> (f, df/dx, df/dy, d2f/dx2, d2f/dxdy, d2f/dy2), with ``m``
# the array namespace (_NUMPY or _EMBER).

def _mse(x, y, p, m):
    d = x - y
    one = m.ones_like(d)
    return d * d, 2 * d, -2 * d, 2 * one, -2 * one, 2 * one


def _l1(x, y, p, m):
    d = x - y
    zero = m.zeros_like(d)
    sign = m.sign(d)
    return m.abs(d), sign, -sign, zero, zero, zero


def _smooth_l1(x, y, p, m):
    (beta,) = p
    if beta == 0:
        return _l1(x, y, p, m)
    d = x - y
    inside = m.abs(d) < beta
    gx = m.where(inside, d / beta, m.sign(d))
    h = m.cast(inside, d) / beta
    return m.where(inside, 0.5 * d * d / beta, m.abs(d) - 0.5 * beta), gx, -gx, h, -h, h


def _huber(x, y, p, m):
    (delta,) = p
    d = x - y
    inside = m.abs(d) < delta
    gx = m.where(inside, d, delta * m.sign(d))
    h = m.cast(inside, d)
    return m.where(inside, 0.5 * d * d, delta * (m.abs(d) - 0.5 * delta)), gx, -gx, h, -h, h


def _bce(x, y, p, m):
    lx, l1x = m.clamp_min(m.log(x), -100), m.clamp_min(m.log1p(-x), -100)
    den = m.clamp_min(x * (1 - x), 1e-12)
    return (-(y * lx + (1 - y) * l1x), (x - y) / den, l1x - lx,
            (x * x - 2 * x * y + y) / (den * den), -1 / den, m.zeros_like(x))


def _bce_logits(x, y, p, m):
    (pw,) = p
    sp = m.softplus(-x)
    if pw is None:
        sig = m.sigmoid(x)
        return ((1 - y) * x + sp, sig - y, -x, sig * m.sigmoid(-x), -m.ones_like(x),
                m.zeros_like(x))
    lw = 1 + (pw - 1) * y
    sn = m.sigmoid(-x)
    return ((1 - y) * x + lw * sp, (1 - y) - lw * sn, -x + (pw - 1) * sp,
            lw * m.sigmoid(x) * sn, -1 - (pw - 1) * sn, m.zeros_like(x + y))


def _soft_margin(x, y, p, m):
    z = -y * x
    s, sc = m.sigmoid(z), m.sigmoid(-z)
    return m.softplus(z), -y * s, -x * s, y * y * s * sc, -s + x * y * s * sc, x * x * s * sc


def _kl_div(x, y, p, m):
    (log_target,) = p
    if log_target:
        e = m.exp(y)
        return e * (y - x), -e, e * (y - x + 1), m.zeros_like(x + y), -e, e * (y - x + 2)
    pos = y > 0
    safe = m.where(pos, y, 1.0)
    ylogy = m.where(pos, y * m.log(safe), 0.0)
    with np.errstate(divide="ignore"):
        return (ylogy - y * x, -y + m.zeros_like(x), m.where(pos, m.log(safe), -np.inf) + 1 - x,
                m.zeros_like(x + y), -m.ones_like(x + y), m.where(pos, 1 / safe, np.inf))


def _poisson_nll(x, y, p, m):
    log_input, full, eps = p
    if log_input:
        e = m.exp(x)
        f, gx, gy, hxx, hxy = e - y * x, e - y, -x, e, -m.ones_like(x + y)
    else:
        xe = x + eps
        f, gx, gy = x - y * m.log(xe), 1 - y / xe, -m.log(xe)
        hxx, hxy = y / (xe * xe), -1 / xe
    hyy = m.zeros_like(f)
    if full:
        big = y > 1
        ys = m.where(big, y, 2.0)
        f = f + m.where(big, ys * m.log(ys) - ys + 0.5 * m.log(2 * math.pi * ys), 0.0)
        gy = gy + m.where(big, m.log(ys) + 0.5 / ys, 0.0)
        hyy = hyy + m.where(big, 1 / ys - 0.5 / (ys * ys), 0.0)
    return f, gx, gy, hxx, hxy, hyy


def _hinge_embedding(x, y, p, m):
    (margin,) = p
    not_pos, not_neg = y != 1, y != -1
    active = not_pos & (margin - x > 0)
    zero = m.zeros_like(x + y)
    f = m.where(not_pos, m.clamp_min(margin - x, 0), 0.0) + m.where(not_neg, x, 0.0)
    return f, m.cast(not_neg, x) - m.cast(active, x), zero, zero, zero, zero


_POINTWISE = {"mse": _mse, "l1": _l1, "smooth_l1": _smooth_l1, "huber": _huber, "bce": _bce,
              "bce_with_logits": _bce_logits, "soft_margin": _soft_margin, "kl_div": _kl_div,
              "poisson_nll": _poisson_nll, "hinge_embedding": _hinge_embedding}


def _pointwise(kind, x, y, pos_weight, params):
    x, y = promote(float_result(x), y)
    fn = _POINTWISE[kind]
    if kind == "bce_with_logits":
        params = (None if pos_weight is None else pos_weight.astype(x.dtype),)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return x, y, fn(x, y, params, _NUMPY)


def _denom(reduction: str, shape: tuple, weight):
    """``batchmean`` (kl_div) divides the sum by the batch size, ``weighted_mean`` (mse and
    l1 with weights) by the sum of the weights."""
    if reduction == "batchmean":
        return shape[0] if shape else 1
    if reduction == "weighted_mean":
        return weight.sum()
    return None


def _red(reduction: str) -> str:
    return "mean" if reduction in ("batchmean", "weighted_mean") else reduction


def _pointwise_meta(x, y, weight):
    """Shape, dtype and NumPy layout of a pointwise loss's elements."""
    dt = _meta.result_dtype(_meta.MetaArray((), _meta.float_dtype(x.dtype)), y)
    return _meta.pointwise(*(a for a in (x, y, weight) if a is not None), dtype=dt)


_PW_ARGS = "str kind, str reduction, Any params"


class PointwiseLoss(Op):
    """An elementwise loss ``kind``, weighted and reduced: one kernel, one op per torch
    name (``MseLoss``, ``L1Loss``, ... below) so that profiles, node names and the
    autocast lists read as torch's."""

    abstract = True
    backward_op: type[Op]

    @staticmethod
    def meta(x, y, weight, pos_weight, kind, reduction, params):
        el = _pointwise_meta(x, y, weight)
        return el if reduction == "none" else _meta.new((), el.dtype)

    @staticmethod
    def forward(ctx, x, y, weight, pos_weight, kind, reduction, params):
        if kind == "bce" and x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1):
            raise RuntimeError("all elements of input should be between 0 and 1")
        xp, yp, (f, *_) = _pointwise(kind, x, y, pos_weight, params)
        if weight is not None:
            f = f * weight
        ctx.save_for_backward(x, y, weight, pos_weight)
        ctx.args = (kind, reduction, params)
        return _reduce(f.astype(xp.dtype, copy=False), _red(reduction),
                       _denom(reduction, np.shape(x), weight))

    @classmethod
    def backward(cls, ctx, g):
        x, y, weight, pos_weight = ctx.saved_tensors
        return dispatch(cls.backward_op, g, x, y, weight, pos_weight, *ctx.args)


class PointwiseLossBackward(Op):
    """``(d/dx, d/dy)`` of a ``PointwiseLoss``; its own backward in ember ops."""

    abstract = True

    @staticmethod
    def meta(g, x, y, weight, pos_weight, kind, reduction, params):
        el = _pointwise_meta(x, y, weight)
        shape = _meta.broadcast_shapes(g.shape, el.shape) if reduction == "none" else el.shape
        out = _meta.MetaArray(shape, el.dtype, _meta.contiguous(shape, el.itemsize))
        return out, out

    @staticmethod
    def forward(ctx, g, x, y, weight, pos_weight, kind, reduction, params):
        xp, yp, (f, fx, fy, *_) = _pointwise(kind, x, y, pos_weight, params)
        s = _row_scale(g, f.shape, _red(reduction), _denom(reduction, np.shape(x), weight))
        if weight is not None:
            s = s * weight
        ctx.save_for_backward(g, x, y, weight, pos_weight)
        ctx.args = (kind, reduction, params)
        return (s * fx).astype(xp.dtype, copy=False), (s * fy).astype(xp.dtype, copy=False)

    @staticmethod
    def backward(ctx, vx, vy):
        """d/dg = reduce(w * (vx*fx + vy*fy)), d/dx = s*w*(vx*fxx + vy*fxy),
        d/dy = s*w*(vx*fxy + vy*fyy): the loss's derivatives as ember ops."""
        g, x, y, weight, pos_weight = ctx.saved_tensors
        kind, reduction, params = ctx.args
        need = ctx.needs_input_grad
        if kind == "bce_with_logits":
            params = (pos_weight,)
        _, fx, fy, hxx, hxy, hyy = _POINTWISE[kind](x, y, params, _EMBER)
        count = _denom(reduction, tuple(x.shape), None if weight is None else weight._data)
        if count is None:
            count = math.prod(np.broadcast_shapes(*(tuple(t.shape) for t in (x, y, weight)
                                                    if t is not None)))
        red = _red(reduction)
        s = _scale_tensor(g, red, count)
        if weight is not None:
            vx, vy = vx * weight, vy * weight
        gg = _reduce_tensor(vx * fx + vy * fy, red, count) if need[0] else None
        gx = s * (vx * hxx + vy * hxy) if need[1] else None
        gy = s * (vx * hxy + vy * hyy) if need[2] else None
        return gg, gx, gy, None, None, None, None, None


def _loss_ops(cls_name: str, aten: str) -> type[PointwiseLoss]:
    """The forward/backward op pair of one of torch's elementwise losses."""
    args = f"(Tensor x, Tensor y, Tensor? weight, Tensor? pos_weight, {_PW_ARGS})"
    backward = type(cls_name + "Backward", (PointwiseLossBackward,), {
        "name": aten + "_backward", "aten": aten + "_backward", "__module__": __name__,
        "signature": f"{aten}_backward(Tensor g, {args[1:]} -> (Tensor grad_input, "
                     "Tensor grad_target)"})
    return type(cls_name, (PointwiseLoss,), {"name": aten, "aten": aten, "__module__": __name__,
                                             "signature": f"{aten}{args} -> Tensor",
                                             "backward_op": backward})


_LOSS_OPS = {kind: _loss_ops(*names) for kind, names in (
    ("mse", ("MseLoss", "mse_loss")), ("l1", ("L1Loss", "l1_loss")),
    ("smooth_l1", ("SmoothL1Loss", "smooth_l1_loss")), ("huber", ("HuberLoss", "huber_loss")),
    ("bce", ("BinaryCrossEntropy", "binary_cross_entropy")),
    ("bce_with_logits", ("BinaryCrossEntropyWithLogits", "binary_cross_entropy_with_logits")),
    ("soft_margin", ("SoftMarginLoss", "soft_margin_loss")), ("kl_div", ("KlDiv", "kl_div")),
    ("poisson_nll", ("PoissonNllLoss", "poisson_nll_loss")),
    ("hinge_embedding", ("HingeEmbeddingLoss", "hinge_embedding_loss")))}


def pointwise_loss(kind: str, input: Tensor, target: Tensor, reduction: str = "mean",
                   weight: Tensor | None = None, pos_weight: Tensor | None = None,
                   params: tuple = ()) -> Tensor:
    """The elementwise loss ``kind`` (a key of ``_POINTWISE``), weighted and reduced."""
    if reduction not in ("batchmean", "weighted_mean"):
        _check_reduction(reduction)
    return dispatch(_LOSS_OPS[kind], input, target, weight, pos_weight, kind, reduction, params)


# ---- connectionist temporal classification -------------------------------------------------

_CTC = "(while checking arguments for ctc_loss_allocate_outputs)"


class CtcLoss(Op):
    """Per-sample CTC negative log-likelihoods (N,) of ``log_probs`` (T, N, C) for padded
    int64 ``targets`` (N, S) and int64 length arrays (plain arguments, not tensors)."""

    name = "ctc_loss"
    aten = "_ctc_loss"
    signature = ("_ctc_loss(Tensor log_probs, Any targets, Any input_lengths, Any target_lengths, "
                 "int blank, bool zero_infinity) -> Tensor")

    @staticmethod
    def meta(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
        return _meta.new((log_probs.shape[1],), log_probs.dtype)

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
        from . import _kernels_loss as K
        _check_ctc_labels(targets, target_lengths, log_probs.shape[-1])
        nll, alpha = K.ctc_forward(log_probs.astype(np.float64), targets, input_lengths,
                                   target_lengths, blank)
        ctx.save_for_backward(log_probs)
        ctx.args = (targets, input_lengths, target_lengths, blank, zero_infinity, nll, alpha)
        out = np.where(nll == np.inf, 0.0, nll) if zero_infinity else nll
        return out.astype(log_probs.dtype)

    @staticmethod
    def backward(ctx, g):
        (log_probs,) = ctx.saved_tensors
        return dispatch(CtcLossBackward, g, log_probs, *ctx.args), None, None, None, None, None


def _check_ctc_labels(targets: np.ndarray, target_lengths: np.ndarray, classes: int) -> None:
    """The kernels index log_probs by label: every label in use must be a class (torch
    reads out of bounds on such input; ember refuses it)."""
    used = np.arange(targets.shape[1]) < np.asarray(target_lengths)[:, None]
    labels = targets[used]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise IndexError(f"Target {bad} is out of bounds.")


class CtcLossBackward(Op):
    """torch's CTC gradient (see ``_kernels_loss.ctc_backward_numpy``); like torch, it has
    no derivative of its own."""

    aten = "_ctc_loss_backward"
    signature = ("_ctc_loss_backward(Tensor g, Tensor log_probs, Any targets, Any input_lengths, "
                 "Any target_lengths, int blank, bool zero_infinity, Any nll, Any alpha) -> Tensor")

    @staticmethod
    def meta(g, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity, nll,
             alpha):
        return _meta.new(log_probs.shape, log_probs.dtype)

    @staticmethod
    def forward(ctx, g, log_probs, targets, input_lengths, target_lengths, blank,
                zero_infinity, nll, alpha):
        from . import _kernels_loss as K
        grad = K.ctc_backward(g.astype(np.float64), log_probs.astype(np.float64), targets,
                              input_lengths, target_lengths, nll, alpha, blank, zero_infinity)
        return grad.astype(log_probs.dtype)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("derivative for aten::_ctc_loss_backward is not implemented")


def _ctc_lengths(name: str, lengths) -> np.ndarray:
    """Lengths given as an integer tensor or a sequence of ints, as an int64 array."""
    if isinstance(lengths, Tensor):
        if lengths._data.dtype.kind not in "iu":
            raise RuntimeError(f"{name} must be integral")
        return lengths._data.reshape(-1).astype(np.int64)
    try:
        return np.array([operator.index(v) for v in lengths], dtype=np.int64)
    except TypeError:
        raise TypeError(f"ctc_loss(): argument '{name}' must be a Tensor or a tuple of ints, "
                        f"not {type(lengths).__name__}") from None


def _ctc_padded_targets(targets: np.ndarray, tg_len: np.ndarray, n: int) -> np.ndarray:
    """Targets as (N, S) int64, from padded (N, S) or concatenated 1-D, with torch's checks."""
    if targets.ndim not in (1, 2):
        raise RuntimeError(f"Expected 1 to 2 dimensions, but got {targets.ndim}-dimensional "
                           f"tensor for argument #2 'targets' {_CTC}")
    for v in tg_len:
        if v < 0:
            raise RuntimeError(f"Expected target_lengths to have value at least 0, but got "
                               f"value {v} {_CTC}")
    targets = targets.astype(np.int64)
    longest = int(tg_len.max(initial=0))
    expected = int(tg_len.sum()) if targets.ndim == 1 else n
    if targets.shape[0] != expected:
        raise RuntimeError(f"Expected tensor to have size {expected} at dimension 0, but got "
                           f"size {targets.shape[0]} for argument #2 'targets' {_CTC}")
    if targets.ndim == 2:
        if targets.shape[1] < longest:
            raise RuntimeError(f"Expected tensor to have size at least {longest} at dimension "
                               f"1, but got size {targets.shape[1]} for argument #2 'targets' "
                               f"{_CTC}")
        return targets[:, :longest]
    padded = np.zeros((n, longest), dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(tg_len)[:-1]))
    for b in range(n):
        padded[b, :tg_len[b]] = targets[starts[b]:starts[b] + tg_len[b]]
    return padded


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification loss of ``log_probs`` (T, N, C) or (T, C).

    'mean' divides each sample's loss by its target length (at least 1), then averages
    over the batch, as torch does. Like torch's, the gradient w.r.t. ``log_probs`` is the
    one of the logits under a log_softmax (it differs from the true derivative by
    ``exp(log_probs)``, which a log_softmax's backward removes)."""
    _check_reduction(reduction)
    if isinstance(input_lengths, Tensor) != isinstance(target_lengths, Tensor):
        raise TypeError("ctc_loss(): input_lengths and target_lengths must both be Tensors "
                        "or both be tuples of ints")
    in_len = _ctc_lengths("input_lengths", input_lengths)
    tg_len = _ctc_lengths("target_lengths", target_lengths)
    if log_probs.numel() == 0:
        raise RuntimeError("log_probs tensor must not be empty")
    batched = log_probs.dim() == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    if lp.dim() != 3:
        raise RuntimeError(f"Expected 3-dimensional tensor, but got {lp.dim()}-dimensional "
                           f"tensor for argument #1 'log_probs' {_CTC}")
    if lp._data.dtype not in (np.float32, np.float64):
        raise NotImplementedError(f"\"ctc_loss_cpu\" not implemented for "
                                  f"'{dtype_name(lp._data)}'")
    t_max, n, c = lp.shape
    if not 0 <= blank < c:
        raise RuntimeError("blank must be in label range")
    if in_len.size != n:
        raise RuntimeError("input_lengths must be of size batch_size")
    if tg_len.size != n:
        raise RuntimeError("target_lengths must be of size batch_size")
    padded = _ctc_padded_targets(np.asarray(targets._data), tg_len, n)
    for v in in_len:
        if v < 0:
            raise RuntimeError(f"Expected input_lengths to have value at least 0, but got "
                               f"value {v} {_CTC}")
        if v > t_max:
            raise RuntimeError(f"Expected input_lengths to have value at most {t_max}, but "
                               f"got value {v} {_CTC}")
    res = dispatch(CtcLoss, lp, padded, in_len, tg_len, blank, bool(zero_infinity))
    if reduction == "mean":
        return (res / _make(np.maximum(tg_len, 1).astype(res._data.dtype))).mean()
    if reduction == "sum":
        return res.sum()
    return res if batched else res.squeeze(0)

