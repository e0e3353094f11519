"""``ember.nn.functional``: the functional forms of the layers, activations and losses.

Activations call the ops of ``ember/ops`` (looked up when called); the common losses call
the fused kernels of ``ember/ops/loss.py``, the margin, embedding and Gaussian losses are
exact composites of ember ops (so their gradients, double backward included, come from
autograd); ``inplace=True`` writes the result back into the input with ``copy_`` (recorded
by autograd like any in-place op).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._dispatch import dispatch_out
from .._tensor import Tensor, _make
from ..autograd import is_grad_enabled, no_grad
from ..ops import creation as _creation
from ..ops import elementwise as _ew
from ..ops import embedding as _emb
from ..ops import indexing as _idx
from ..ops import linalg as _linalg
from ..ops import loss as _loss
from ..ops import reductions as _red
from ._embedding_bag import embedding_bag  # noqa: F401
from ._functional_nd import *  # noqa: F403  (conv, pooling, normalization, attention, ...)
from ._functional_sampling import *  # noqa: F403  (grid_sample, affine_grid, lp_pool)

# ---- linear -----------------------------------------------------------------------------


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``."""
    return _linalg.linear(input, weight, bias)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """``y_k = x1 @ W_k @ x2 + b_k`` for weight (out, in1, in2)."""
    left = (input1.unsqueeze(-2).unsqueeze(-2) @ weight).squeeze(-2)  # (..., out, in2)
    out = (left * input2.unsqueeze(-2)).sum(-1)
    return out if bias is None else out + bias


# ---- activations -------------------------------------------------------------------------

def _maybe_inplace(input: Tensor, result: Tensor, inplace: bool) -> Tensor:
    return input.copy_(result) if inplace else result


def _source(input: Tensor, inplace: bool) -> Tensor:
    """What an in-place activation computes from: a copy while autograd records, because
    the op keeps its input for backward and the in-place write would overwrite it (torch's
    in-place kernels save their result instead)."""
    return input.clone() if inplace and input.requires_grad and is_grad_enabled() else input


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.relu(input), inplace)


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return input.copy_(_ew.threshold(input, threshold, value))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.leaky_relu(_source(input, inplace), negative_slope), inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.elu(_source(input, inplace), alpha), inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.selu(_source(input, inplace)), inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.celu(_source(input, inplace), alpha), inplace)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return _ew.gelu(input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.silu(_source(input, inplace)), inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.mish(_source(input, inplace)), inplace)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.hardtanh(_source(input, inplace), min_val, max_val), inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.hardswish(_source(input, inplace)), inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.hardsigmoid(_source(input, inplace)), inplace)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, _ew.threshold(_source(input, inplace), threshold, value), inplace)


def sigmoid(input: Tensor) -> Tensor:
    return _ew.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return _ew.tanh(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return _ew.softplus(input, beta, threshold)


def softsign(input: Tensor) -> Tensor:
    return input / (input.abs() + 1)


def logsigmoid(input: Tensor) -> Tensor:
    return _ew.logsigmoid(input)


def tanhshrink(input: Tensor) -> Tensor:
    return input - _ew.tanh(input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    return _ew.relu(input - lambd) - _ew.relu(-input - lambd)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    return input * (input.abs() > lambd)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``max(0, x) + weight * min(0, x)``, one weight per channel (dim 1) or shared."""
    if weight.numel() != 1 and input.dim() > 1:
        weight = weight.reshape((-1,) + (1,) * (input.dim() - 2))
    return _ew.relu(input) - weight * _ew.relu(-input)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """``a * sigmoid(b)`` for the two halves of ``input`` along ``dim``."""
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    if input.shape[dim] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension "
                           f"{dim % input.dim()} is size {input.shape[dim]}")
    a, b = input.chunk(2, dim)
    return a * _ew.sigmoid(b)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    return _red.softmax(input, _softmax_dim(input, dim), dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    return _red.log_softmax(input, _softmax_dim(input, dim), dtype=dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    return _red.softmax(-input, _softmax_dim(input, dim), dtype=dtype)


def _softmax_dim(input: Tensor, dim: int | None) -> int:
    """torch's legacy implicit dim (with its warning) when ``dim`` is not given."""
    if dim is not None:
        return dim
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=3)
    return 0 if input.dim() in (0, 1, 3) else 1


# ---- dropout ----------------------------------------------------------------------------

def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep(shape: tuple, p: float, like: Tensor) -> Tensor:
    """1 where kept (probability ``1 - p``), 0 where dropped, in ``like``'s dtype and on its
    device: dispatched ops (``rand``, ``ge``, ``to``), so dispatch modes see the draw."""
    from .._dtype import float64
    from ..random import rand
    return (rand(shape, dtype=float64, device=like.device) >= p).to(like.dtype)


def _keep_mask(shape: tuple, p: float, like: Tensor) -> Tensor:
    """1/(1-p) where kept, 0 where dropped (all zeros at p=1)."""
    return _keep(shape, p, like) * (0.0 if p == 1 else 1.0 / (1.0 - p))


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p)."""
    _check_p(p)
    if not training or p == 0:
        return input
    mask = _keep_mask(tuple(input.shape), p, input)
    return _maybe_inplace(input, input * mask, inplace)


def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool, name: str,
                     dims: tuple[int, int]) -> Tensor:
    """Drop whole channels: one draw per (batch, channel) for (N, C, ...) or (C, ...)."""
    _check_p(p)
    ndim = input.dim()
    if ndim not in dims:
        expect = f"{dims[0]}D or {dims[1]}D"
        raise RuntimeError(f"{name}: Expected {expect} input, but received a {ndim}D input. "
                           f"Please provide input tensor in the form of (N, C, ...) or "
                           f"(C, ...).")
    if not training or p == 0:
        return input
    batched = ndim == dims[1]
    lead = 2 if batched else 1
    shape = tuple(input.shape[:lead]) + (1,) * (ndim - lead)
    mask = _keep_mask(shape, p, input)
    return _maybe_inplace(input, input * mask, inplace)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    return _feature_dropout(input, p, training, inplace, "dropout1d", (2, 3))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim. This behavior will change "
                      "in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                      "dropout behavior, please switch to using dropout1d instead.",
                      stacklevel=2)
        return _feature_dropout(input, p, training, inplace, "dropout2d", (2, 3))
    if input.dim() not in (3, 4) and input.dim() >= 2:  # torch: deprecated, still runs
        warnings.warn(f"dropout2d: Received a {input.dim()}-D input to dropout2d, which is "
                      "deprecated and will result in an error in a future release. To retain "
                      "the behavior and silence this warning, please use dropout instead. Note "
                      "that dropout2d exists to provide channel-wise dropout on inputs with 2 "
                      "spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 3D or 4D inputs).", stacklevel=2)
        return _feature_dropout(input, p, training, inplace, "dropout2d",
                                (input.dim() - 1, input.dim()))  # one draw per (N, C)
    return _feature_dropout(input, p, training, inplace, "dropout2d", (3, 4))


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    return _feature_dropout(input, p, training, inplace, "dropout3d", (4, 5))


_SELU_ALPHA_PRIME = -1.7580993408473766  # -scale * alpha of SELU


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU's self-normalising mean and variance: dropped units take
    SELU's negative saturation value, then an affine map restores the moments."""
    _check_p(p)
    if not training or p == 0:
        return input
    if p == 1:
        return _maybe_inplace(input, input * 0.0, inplace)
    keep = _keep(tuple(input.shape), p, input)
    a = ((1 - p) * (1 + p * _SELU_ALPHA_PRIME ** 2)) ** -0.5
    b = -a * _SELU_ALPHA_PRIME * p
    shift = (1 - keep) * (a * _SELU_ALPHA_PRIME) + b
    return _maybe_inplace(input, input * (keep * a) + shift, inplace)


# ---- embedding, one_hot, distances --------------------------------------------------------

def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` at the indices ``input``."""
    if sparse:
        raise NotImplementedError("ember has no sparse tensors: use sparse=False")
    num = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0 and padding_idx >= num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            if padding_idx < -num:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = num + padding_idx
    if max_norm is not None:
        embedding_renorm_(weight, input, max_norm, norm_type)
    return _emb.embedding(input, weight, padding_idx, scale_grad_by_freq)


def embedding_renorm_(weight: Tensor, input: Tensor, max_norm: float,
                      norm_type: float = 2.0) -> Tensor:
    """Rescale, in place and outside autograd, the rows of ``weight`` that ``input`` looks up
    and whose ``norm_type``-norm exceeds ``max_norm``."""
    rows = np.unique(input._data.reshape(-1))
    w = weight._data
    norms = np.linalg.norm(w[rows].astype(np.float64), ord=norm_type, axis=1)
    big = norms > max_norm
    if big.any():
        w[rows[big]] *= (max_norm / (norms[big] + 1e-7))[:, None].astype(w.dtype)
        weight._vc[0] += 1
    return weight


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    return _idx.one_hot(tensor, num_classes)


def _vector_norm(x: Tensor, dim: int, keepdim: bool, p: float = 2.0) -> Tensor:
    if p == 2:
        return (x * x).sum(dim, keepdim=keepdim) ** 0.5
    return (x.abs() ** p).sum(dim, keepdim=keepdim) ** (1.0 / p)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``."""
    if out is not None:
        return dispatch_out(normalize, out, input, p, dim, eps)
    return input / _vector_norm(input, dim, True, p).clamp_min(eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (norms clamped to
    ``eps``, as torch does it: each input is divided by its own norm first)."""
    n1 = _vector_norm(x1, dim, True)
    n2 = _vector_norm(x2, dim, True)
    n1 = n1.clamp_min(eps)
    n2 = n2.clamp_min(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dim (of the broadcast shape)."""
    return _red.vector_norm(x1 - x2 + eps, p, max(x1.dim(), x2.dim()) - 1, keepdim)


def pdist(input: Tensor, p: float = 2.0) -> Tensor:
    """The ``p``-norm distances between all pairs of rows i < j of ``input`` (N, M), in
    row-major order: the upper triangle of ``cdist(input, input)``."""
    if input.dim() != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.dim()}D")
    if not input.is_floating_point():
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    i, j = np.triu_indices(input.shape[0], 1)
    diff = input.index_select(0, _make(i)) - input.index_select(0, _make(j))
    return _red.vector_norm(diff, p, -1)


# ---- losses -----------------------------------------------------------------------------

def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """torch's deprecated ``size_average``/``reduce`` arguments, mapped to ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  f"reduction='{_legacy_name(size_average, reduce)}' instead.", stacklevel=3)
    return _legacy_name(size_average, reduce)


def _legacy_name(size_average, reduce) -> str:
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _warn_broadcast(input: Tensor, target: Tensor) -> None:
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input "
                      f"size ({input.size()}). This will likely lead to incorrect results due "
                      "to broadcasting. Please ensure they have the same size.", stacklevel=3)


def _weighted(kind: str, input: Tensor, target: Tensor, reduction: str,
              weight: Tensor | None) -> Tensor:
    """mse/l1 with ``weight``: 'mean' divides by the sum of the weights, as torch does."""
    _warn_broadcast(input, target)
    if weight is not None:
        if weight.shape != input.shape:
            raise ValueError("Weights and input must have the same size.")
        if reduction == "mean":
            reduction = "weighted_mean"
    return _loss.pointwise_loss(kind, input, target, reduction, weight)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    return _weighted("l1", input, target, _legacy_reduction(size_average, reduce, reduction),
                     weight)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    return _weighted("mse", input, target, _legacy_reduction(size_average, reduce, reduction),
                     weight)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    _warn_broadcast(input, target)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    return _loss.pointwise_loss("smooth_l1", input, target,
                                _legacy_reduction(size_average, reduce, reduction),
                                params=(beta,))


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    _warn_broadcast(input, target)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    return _loss.pointwise_loss("huber", input, target, reduction, weight, params=(delta,))


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``-w (y log x + (1 - y) log(1 - x))``, with each log clamped at -100 as in torch."""
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.size()}) that is different to the "
                         f"input size ({input.size()}) is deprecated. Please ensure they have "
                         "the same size.")
    return _loss.pointwise_loss("bce", input, target,
                                _legacy_reduction(size_average, reduce, reduction), weight)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid and binary cross entropy in one stable expression; ``pos_weight`` scales
    the positive term."""
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size "
                         f"({input.size()})")
    return _loss.pointwise_loss("bce_with_logits", input, target,
                                _legacy_reduction(size_average, reduce, reduction), weight,
                                pos_weight)


def _not_differentiable(name: str, arg: str, t: Tensor | None) -> None:
    """torch's error for arguments its kernels have no derivative for."""
    if t is not None and t.requires_grad and is_grad_enabled():
        raise RuntimeError(f"The function '{name}' is not differentiable with respect to "
                           f"argument '{arg}'. This input cannot have requires_grad True.")


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    _not_differentiable("soft_margin_loss", "target", target)
    _warn_broadcast(input, target)
    return _loss.pointwise_loss("soft_margin", input, target,
                                _legacy_reduction(size_average, reduce, reduction))


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    return _loss.pointwise_loss("hinge_embedding", input, target,
                                _legacy_reduction(size_average, reduce, reduction),
                                params=(margin,))


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """``target * (log(target) - input)`` (input holds log-probabilities);
    ``reduction='batchmean'`` divides the sum by the batch size, the true KL divergence."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                      "the support size.'batchmean' divides only by the batch size, and "
                      "aligns with the KL div math definition.'mean' will be changed to "
                      "behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    return _loss.pointwise_loss("kl_div", input, target, reduction, params=(log_target,))


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True,
                     full: bool = False, size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    return _loss.pointwise_loss("poisson_nll", input, target,
                                _legacy_reduction(size_average, reduce, reduction),
                                params=(log_input, full, eps))


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over dim 1 and the negative log-likelihood, fused; ``target`` holds
    class indices (N, d1, ...) or class probabilities (shaped like ``input``)."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: "
                           f"{label_smoothing}")
    probs = target.is_floating_point()
    if probs:
        if target.shape != input.shape:
            raise RuntimeError(f"Expected target size {list(input.shape)}, got "
                               f"{list(target.shape)}")
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
    else:
        _check_nll_shapes(input, target)
    return _loss.cross_entropy(input, target, weight, ignore_index,
                               _legacy_reduction(size_average, reduce, reduction),
                               label_smoothing)


def _check_nll_shapes(input: Tensor, target: Tensor) -> None:
    if input.dim() < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.dim()})")
    batch = (input.shape[0],) + tuple(input.shape[2:]) if input.dim() > 1 else ()
    if tuple(target.shape) != batch:
        if input.dim() > 1 and target.dim() and target.shape[0] != input.shape[0]:
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                             f"batch_size ({target.shape[0]}).")
        raise RuntimeError(f"Expected target size {list(batch)}, got {list(target.shape)}")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """``-input[n, target[n]] * weight[target[n]]``, reduced (mean divides by the weights)."""
    _check_nll_shapes(input, target)
    return _loss.nll_loss(input, target, weight, ignore_index,
                          _legacy_reduction(size_average, reduce, reduction))



def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification loss (see ``ember.ops.loss.ctc_loss``)."""
    return _loss.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                          zero_infinity)


# ---- margin, embedding and distribution losses (composites of ember ops) ------------------

def _reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _reduction_of(size_average, reduce, reduction: str) -> str:
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _loss._check_reduction(reduction)
    return reduction


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` for target 1, ``max(0, cos(x1, x2) - margin)`` for target -1."""
    reduction = _reduction_of(size_average, reduce, reduction)
    tdim = target.dim()
    if tdim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if (input1.dim(), input2.dim()) != (tdim + 1, tdim + 1):
        raise RuntimeError(f"{tdim}D target tensor expects {tdim + 1}D input tensors, but found "
                           f"inputs with sizes {list(input1.shape)} and {list(input2.shape)}.")
    eps = 1e-12  # torch's EPSILON, added to the squared norms
    prod = (input1 * input2).sum(tdim)
    mag = ((input1 * input1).sum(tdim) + eps) * ((input2 * input2).sum(tdim) + eps)
    cos = prod / mag.sqrt()
    loss = (1 - cos).where(target == 1, 0.0) + (cos - margin).clamp_min(0).where(target == -1,
                                                                                 0.0)
    return _reduce_loss(loss, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``max(0, -target * (x1 - x2) + margin)``."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension "
                           f"but got sizes: input1: {input1.size()}, input2: {input2.size()}, "
                           f"target: {target.size()} ")
    return _reduce_loss((-target * (input1 - input2) + margin).clamp_min(0), reduction)


def _triplet(anchor: Tensor, positive: Tensor, negative: Tensor, distance, margin: float,
             swap: bool, reduction: str) -> Tensor:
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    dims = (anchor.dim(), positive.dim(), negative.dim())
    if len(set(dims)) != 1:
        raise RuntimeError("The anchor, positive, and negative tensors are expected to have the "
                           "same number of dimensions, but got: anchor {}D, positive {}D, and "
                           "negative {}D inputs".format(*dims))
    dist_pos = distance(anchor, positive)
    dist_neg = distance(anchor, negative)
    if swap:
        dist_neg = _ew.minimum(dist_neg, distance(positive, negative))
    return _reduce_loss((margin + dist_pos - dist_neg).clamp_min(0), reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with the pairwise ``p``-norm distance;
    ``swap`` uses ``min(d(a, n), d(p, n))`` for the negative distance."""
    reduction = _reduction_of(size_average, reduce, reduction)
    return _triplet(anchor, positive, negative,
                    lambda x1, x2: pairwise_distance(x1, x2, p, eps), margin, swap, reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """The triplet margin loss with any ``distance_function(x1, x2)`` (pairwise distance
    by default)."""
    _loss._check_reduction(reduction)
    return _triplet(anchor, positive, negative, distance_function or pairwise_distance, margin,
                    swap, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """Binary cross entropy of each class logit, averaged over the classes (last dim)."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_name(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    return _reduce_loss(loss.sum(class_dim) / input.size(class_dim), reduction)


def _margin_shapes(input: Tensor) -> tuple[int, int]:
    """(samples, classes) of a multi-class margin loss input: (C,), (N, C) or a scalar."""
    if input.numel() == 0 or input.dim() > 2:
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch "
                           f"size, but got: {list(input.shape)}")
    return (1 if input.dim() <= 1 else input.shape[0]), (1 if input.dim() == 0 else
                                                         input.shape[-1])


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """``sum_{i != y} w_y * max(0, margin - x_y + x_i)^p / C`` for each sample."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    n, c = _margin_shapes(input)
    if target.dim() > 1 or target.numel() != n:
        raise RuntimeError(f"multi_margin_loss: target tensor should be 1-D with size equal "
                           f"to the number of input samples (batch size). Expected target size "
                           f"[{n}], but got {list(target.shape)}. Input has shape "
                           f"{list(input.shape)}.")
    if weight is not None and weight.numel() != c:
        raise RuntimeError(f"inconsistent weight size, expected {c} but got "
                           f"{list(weight.shape)}")
    _not_differentiable("multi_margin_loss", "weight", weight)
    t = target._data.reshape(-1).astype(np.int64)
    if ((t < 0) | (t >= c)).any():
        raise RuntimeError("target out of range")
    x = input.reshape(n, c)
    z = (margin - x.gather(1, _make(t[:, None])) + x).clamp_min(0)
    if p == 2:
        z = z * z
    others = np.ones((n, c), dtype=input._data.dtype)
    others[np.arange(n), t] = 0
    z = z * _make(others)
    if weight is not None:
        z = z * weight.index_select(0, _make(t)).unsqueeze(1)
    return _reduce_loss((z.sum(1) / c).reshape(target.shape), reduction)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """``sum_{j, i} max(0, 1 - (x_{y_j} - x_i)) / C`` over the target classes y_j (the
    entries of ``target`` before the first -1) and the classes i that are not targets."""
    reduction = _reduction_of(size_average, reduce, reduction)
    n, c = _margin_shapes(input)
    if (target.dim() != 2 or tuple(target.shape) != (n, c)) if input.dim() == 2 else \
            (target.dim() > 1 or target.numel() != c):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of "
                           f"size: {list(input.shape)}")
    t = target._data.reshape(n, c).astype(np.int64)
    if ((t < -1) | (t >= c)).any():
        raise RuntimeError("argument #2 'target' is out of range")
    listed = np.cumprod(t >= 0, axis=1).astype(bool)  # the entries before the first -1
    t = np.where(listed, t, 0)
    is_target = np.zeros((n, c), dtype=bool)
    is_target[np.nonzero(listed)[0], t[listed]] = True
    x = input.reshape(n, c)
    z = (1 - x.gather(1, _make(t)).unsqueeze(2) + x.unsqueeze(1)).clamp_min(0)
    pairs = (listed[:, :, None] & ~is_target[:, None, :]).astype(input._data.dtype)
    loss = (z * _make(pairs)).sum((1, 2)) / c
    return _reduce_loss(loss if input.dim() == 2 else loss.reshape(()), reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """``0.5 * (log(var) + (input - target)^2 / var)`` (+ ``0.5 log(2 pi)`` if ``full``),
    with ``var`` clamped to ``eps`` without affecting its gradient, as torch does."""
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = var * _creation.ones_like(input)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (input.dim() == var.dim() and sum(
                v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = var.clone()
    with no_grad():
        var.clamp_(min=eps)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce_loss(loss, reduction)
