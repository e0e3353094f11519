"""Fused loss kernels with their own backward rules (``nn.functional`` calls them).

- ``cross_entropy``: log-softmax and the negative log-likelihood in one pass over the
  logits, for class-index or class-probability targets, with class weights,
  ``ignore_index`` and label smoothing. The hot loss of every classifier.
- ``nll_loss``: the negative log-likelihood of given log-probabilities.
- ``pointwise_loss``: the elementwise losses (mse, l1, smooth_l1, huber, bce,
  bce_with_logits, soft_margin, kl_div, poisson_nll, hinge_embedding), each given by its
  value and first and second derivatives in NumPy, so one kernel serves the forward, the
  backward and the double backward of all of them.
- ``ctc_loss``: connectionist temporal classification, by the alpha/beta recursions of
  ``_kernels_loss.py`` (Numba for large problems); its gradient, like torch's, has no
  derivative of its own.

Backward rules are ops too, so gradients are differentiable once more (double backward,
as gradgradcheck needs); their own gradients are constants (no third order).
"""

from __future__ import annotations

import operator

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, _make
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


def _reduce_back(el: np.ndarray, reduction: str, denom) -> np.ndarray:
    """The adjoint of ``_row_scale``: gradient of ``g`` from per-element contributions."""
    if reduction == "none":
        return el
    total = el.sum()
    if reduction == "mean":
        total = total / (el.size if denom is None else denom)
    return np.asarray(total, dtype=el.dtype)


# ---- cross entropy ------------------------------------------------------------------------

def _log_softmax_rows(x: np.ndarray) -> np.ndarray:
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
        xm = np.moveaxis(x, 1, -1) if x.ndim > 1 else x
        self.row_shape = xm.shape[:-1]
        self.x = xm.reshape(-1, c)
        self.ls = _log_softmax_rows(self.x)
        self.eps, self.probs = eps, probs
        w = np.ones(c, dtype=self.x.dtype) if weight is None else weight.astype(self.x.dtype)
        self.w = w
        if probs:
            y = np.moveaxis(target, 1, -1) if target.ndim > 1 else target
            self.y = y.reshape(-1, c)
            self.B = w * ((1 - eps) * self.y + eps / c)
            self.alpha = self.B.sum(-1)
            self.denom = self.x.shape[0]
            return
        t = target.reshape(-1).astype(np.int64)
        valid = t != ignore_index
        bad = valid & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"Target {int(t[bad][0])} is out of bounds.")
        self.t = np.where(valid, t, 0)
        self.valid = valid.astype(self.x.dtype)
        self.wt = w[self.t] * self.valid
        self.alpha = (1 - eps) * self.wt + (eps / c) * w.sum() * self.valid
        self.denom = self.wt.sum()

    def losses(self) -> np.ndarray:
        rows = np.arange(self.x.shape[0])
        if self.probs:
            el = -(self.B * self.ls).sum(-1)
        else:
            el = -(1 - self.eps) * self.wt * self.ls[rows, self.t]
            if self.eps:
                el = el - (self.eps / self.C) * self.valid * (self.ls * self.w).sum(-1)
        return el.reshape(self.row_shape)

    def minus_B(self, arr: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``arr - s[:, None] * B`` (in place on ``arr``)."""
        if self.probs:
            arr -= s[:, None] * self.B
            return arr
        arr[np.arange(arr.shape[0]), self.t] -= s * (1 - self.eps) * self.wt
        if self.eps:
            arr -= (s * (self.eps / self.C) * self.valid)[:, None] * self.w
        return arr

    def to_input_layout(self, rows: np.ndarray) -> np.ndarray:
        out = rows.reshape(self.row_shape + (self.C,))
        return np.moveaxis(out, -1, 1) if len(self.shape) > 1 else out


def _ce_setup(x, target, weight, ignore_index, eps):
    probs = target.dtype.kind == "f" or target.dtype.name == "bfloat16"
    if probs:
        x, target = promote(x, target)
    return _CE(float_result(x), target, weight, ignore_index, eps, probs)


class CrossEntropy(Op):
    name = "cross_entropy_loss"

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

    @staticmethod
    def forward(ctx, g, x, target, weight, reduction, ignore_index, eps):
        ce = _ce_setup(x, target, weight, ignore_index, eps)
        ctx.save_for_backward(g, x, target, weight)
        ctx.args = (reduction, ignore_index, eps)
        s = _row_scale(g, ce.row_shape, reduction, None if ce.probs else ce.denom).reshape(-1)
        gx = ce.minus_B((s * ce.alpha)[:, None] * np.exp(ce.ls), s)
        gx = ce.to_input_layout(gx).astype(x.dtype, copy=False)
        if not ce.probs:
            return gx
        gy = ce.to_input_layout(-(s * (1 - eps))[:, None] * ce.w * ce.ls)
        return gx, gy.astype(target.dtype, copy=False)

    @staticmethod
    def backward(ctx, vx, vy=None):
        g, x, target, weight = ctx.saved_tensors
        reduction, ignore_index, eps = ctx.args
        ce = _ce_setup(x._data, target._data, None if weight is None else weight._data,
                       ignore_index, eps)
        layout = _rows_of(ce)
        p = np.exp(ce.ls)
        vxr = layout(vx._data)
        s = _row_scale(g._data, ce.row_shape, reduction,
                       None if ce.probs else ce.denom).reshape(-1)
        pv = (p * vxr).sum(-1, keepdims=True)
        gx = (s * ce.alpha)[:, None] * p * (vxr - pv)
        neg_b = ce.minus_B(np.zeros_like(p), np.ones_like(s))
        ds = ((ce.alpha[:, None] * p + neg_b) * vxr).sum(-1)
        gy = None
        if ce.probs:
            gy = (s * (1 - eps))[:, None] * ce.w * (pv - vxr)
            if vy is not None:
                wv = ce.w * layout(vy._data)
                gx -= (s * (1 - eps))[:, None] * (wv - p * wv.sum(-1, keepdims=True))
                ds -= (1 - eps) * (wv * ce.ls).sum(-1)
            gy = _make(ce.to_input_layout(gy).astype(target._data.dtype, copy=False))
        gg = _reduce_back(ds.reshape(ce.row_shape), reduction, None if ce.probs else ce.denom)
        return (_make(np.asarray(gg, dtype=g._data.dtype).reshape(g._data.shape)),
                _make(ce.to_input_layout(gx).astype(x._data.dtype, copy=False)), gy, None)


def _rows_of(ce: _CE):
    """Lay an input-shaped array out as ``ce``'s (M, C) rows."""
    def layout(arr):
        arr = np.moveaxis(arr, 1, -1) if arr.ndim > 1 else arr
        return arr.reshape(-1, ce.C)
    return layout


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


class NllLoss(Op):
    name = "nll_loss"

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
        return dispatch(NllLossBackward, g, x, target, weight, *ctx.args)


class NllLossBackward(Op):
    """d/dx = -s * w[t] at the target positions; linear in ``g``, constant in ``x``."""

    @staticmethod
    def forward(ctx, g, x, target, weight, reduction, ignore_index):
        c, t, wt = _nll_setup(x, target, weight, ignore_index)
        rows, row_shape = _nll_rows(x, c)
        s = _row_scale(g, row_shape, reduction, wt.sum()).reshape(-1)
        out = np.zeros(rows.shape, dtype=x.dtype)
        out[np.arange(rows.shape[0]), t] = -s * wt
        ctx.save_for_backward(x, target, weight)
        ctx.args = (reduction, ignore_index, g.shape, g.dtype)
        out = out.reshape(row_shape + (c,))
        return np.moveaxis(out, -1, 1) if x.ndim > 1 else out

    @staticmethod
    def backward(ctx, v):
        x, target, weight = ctx.saved_tensors
        reduction, ignore_index, g_shape, g_dtype = ctx.args
        c, t, wt = _nll_setup(x._data, target._data, None if weight is None else weight._data,
                              ignore_index)
        rows, row_shape = _nll_rows(v._data, c)
        el = (-wt * rows[np.arange(rows.shape[0]), t]).reshape(row_shape)
        gg = _reduce_back(el, reduction, wt.sum())
        return _make(np.asarray(gg, dtype=g_dtype).reshape(g_shape)), None, None, None


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    _check_reduction(reduction)
    return dispatch(NllLoss, input, target, weight, reduction, ignore_index)


# ---- pointwise losses ---------------------------------------------------------------------

def _sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))


def _softplus_neg(x):
    """log(1 + exp(-x)), stable."""
    return np.logaddexp(0, -x)


def _mse(x, y, p):
    d = x - y
    one = np.ones_like(d)
    return d * d, 2 * d, -2 * d, 2 * one, -2 * one, 2 * one


def _l1(x, y, p):
    d = x - y
    zero = np.zeros_like(d)
    return np.abs(d), np.sign(d), -np.sign(d), zero, zero, zero


def _smooth_l1(x, y, p):
    (beta,) = p
    d = x - y
    if beta == 0:
        return _l1(x, y, p)
    inside = np.abs(d) < beta
    gx = np.where(inside, d / beta, np.sign(d))
    h = np.where(inside, 1.0 / beta, 0.0).astype(d.dtype)
    return np.where(inside, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta), gx, -gx, h, -h, h


def _huber(x, y, p):
    (delta,) = p
    d = x - y
    inside = np.abs(d) < delta
    gx = np.where(inside, d, delta * np.sign(d))
    h = inside.astype(d.dtype)
    return np.where(inside, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta)), gx, -gx, h, -h, h


def _bce(x, y, p):
    lx, l1x = np.maximum(np.log(x), -100), np.maximum(np.log1p(-x), -100)
    den = np.maximum(x * (1 - x), 1e-12)
    zero = np.zeros_like(x)
    return (-(y * lx + (1 - y) * l1x), (x - y) / den, l1x - lx,
            (x * x - 2 * x * y + y) / (den * den), -1 / den, zero)


def _bce_logits(x, y, p):
    (pw,) = p
    sp = _softplus_neg(x)
    if pw is None:
        return (1 - y) * x + sp, _sigmoid(x) - y, -x, _sigmoid(x) * _sigmoid(-x), \
            -np.ones_like(x), np.zeros_like(x)
    lw = 1 + (pw - 1) * y
    sn = _sigmoid(-x)
    return ((1 - y) * x + lw * sp, (1 - y) - lw * sn, -x + (pw - 1) * sp,
            lw * _sigmoid(x) * sn, -1 - (pw - 1) * sn, np.zeros_like(x + y))


def _soft_margin(x, y, p):
    z = -y * x
    s, sc = _sigmoid(z), _sigmoid(-z)
    return np.logaddexp(0, z), -y * s, -x * s, y * y * s * sc, -s + x * y * s * sc, x * x * s * sc


def _kl_div(x, y, p):
    (log_target,) = p
    if log_target:
        e = np.exp(y)
        return e * (y - x), -e, e * (y - x + 1), np.zeros_like(x), -e, e * (y - x + 2)
    pos = y > 0
    safe = np.where(pos, y, 1)
    ylogy = np.where(pos, y * np.log(safe), 0)
    with np.errstate(divide="ignore"):
        return (ylogy - y * x, -y + np.zeros_like(x), np.where(pos, np.log(safe), -np.inf) + 1 - x,
                np.zeros_like(x + y), -np.ones_like(x + y), np.where(pos, 1 / safe, np.inf))


def _poisson_nll(x, y, p):
    log_input, full, eps = p
    if log_input:
        e = np.exp(x)
        f, gx, gy, hxx, hxy = e - y * x, e - y, -x, e, -np.ones_like(x + y)
    else:
        xe = x + eps
        f, gx, gy = x - y * np.log(xe), 1 - y / xe, -np.log(xe)
        hxx, hxy = y / (xe * xe), -1 / xe
    hyy = np.zeros_like(f)
    if full:
        big = y > 1
        ys = np.where(big, y, 2)
        f = f + np.where(big, ys * np.log(ys) - ys + 0.5 * np.log(2 * np.pi * ys), 0)
        gy = gy + np.where(big, np.log(ys) + 0.5 / ys, 0)
        hyy = hyy + np.where(big, 1 / ys - 0.5 / (ys * ys), 0)
    return f, gx, gy, hxx, hxy, hyy


def _hinge_embedding(x, y, p):
    (margin,) = p
    not_pos, not_neg = y != 1, y != -1
    active = not_pos & (margin - x > 0)
    zero = np.zeros_like(x + y)
    f = np.where(not_pos, np.maximum(margin - x, 0), 0) + np.where(not_neg, x, 0)
    return f, -active.astype(x.dtype) + not_neg, zero, zero, zero, zero


_POINTWISE = {"mse": _mse, "l1": _l1, "smooth_l1": _smooth_l1, "huber": _huber, "bce": _bce,
              "bce_with_logits": _bce_logits, "soft_margin": _soft_margin, "kl_div": _kl_div,
              "poisson_nll": _poisson_nll, "hinge_embedding": _hinge_embedding}


def _pointwise(kind, x, y, pos_weight, params):
    x, y = promote(float_result(x), y)
    fn = _POINTWISE[kind]
    if kind == "bce_with_logits":
        params = (None if pos_weight is None else pos_weight.astype(x.dtype),)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return x, y, fn(x, y, params)


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


class PointwiseLoss(Op):
    name = "pointwise_loss"

    @staticmethod
    def forward(ctx, x, y, weight, pos_weight, kind, reduction, params):
        xp, yp, (f, *_) = _pointwise(kind, x, y, pos_weight, params)
        if weight is not None:
            f = f * weight
        ctx.save_for_backward(x, y, weight, pos_weight)
        ctx.args = (kind, reduction, params)
        return _reduce(f.astype(xp.dtype, copy=False), _red(reduction),
                       _denom(reduction, np.shape(x), weight))

    @staticmethod
    def backward(ctx, g):
        x, y, weight, pos_weight = ctx.saved_tensors
        return dispatch(PointwiseLossBackward, g, x, y, weight, pos_weight, *ctx.args)


class PointwiseLossBackward(Op):
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
        g, x, y, weight, pos_weight = ctx.saved_tensors
        kind, reduction, params = ctx.args
        unwrap = [None if t is None else t._data for t in (x, y, pos_weight)]
        xp, yp, (f, fx, fy, hxx, hxy, hyy) = _pointwise(kind, unwrap[0], unwrap[1], unwrap[2],
                                                        params)
        vx, vy = vx._data, vy._data
        w = 1 if weight is None else weight._data
        denom = _denom(reduction, xp.shape, None if weight is None else weight._data)
        s = _row_scale(g._data, f.shape, _red(reduction), denom) * w
        gg = _reduce_back(np.broadcast_to(w * (vx * fx + vy * fy), f.shape), _red(reduction),
                          denom)
        return (_make(np.asarray(gg, dtype=g._data.dtype).reshape(g._data.shape)),
                _make((s * (vx * hxx + vy * hxy)).astype(xp.dtype, copy=False)),
                _make((s * (vx * hxy + vy * hyy)).astype(xp.dtype, copy=False)), None, None)


def pointwise_loss(kind: str, input: Tensor, target: Tensor, reduction: str = "mean",
                   weight: Tensor | None = None, pos_weight: Tensor | None = None,
                   params: tuple = ()) -> Tensor:
    """The elementwise loss ``kind`` (a key of ``_POINTWISE``), weighted and reduced."""
    if reduction not in ("batchmean", "weighted_mean"):
        _check_reduction(reduction)
    return dispatch(PointwiseLoss, input, target, weight, pos_weight, kind, reduction, params)


# ---- connectionist temporal classification -------------------------------------------------

_CTC = "(while checking arguments for ctc_loss_allocate_outputs)"


class CtcLoss(Op):
    """Per-sample CTC negative log-likelihoods (N,) of ``log_probs`` (T, N, C) for padded
    int64 ``targets`` (N, S) and int64 length arrays (plain arguments, not tensors)."""

    name = "ctc_loss"

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
        from . import _kernels_loss as K
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


class CtcLossBackward(Op):
    """torch's CTC gradient (see ``_kernels_loss.ctc_backward_numpy``); like torch, it has
    no derivative of its own."""

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

