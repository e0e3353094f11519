"""Normalization: layer, batch, group, instance, RMS and local response norm.

One fused op, ``Normalize``, standardises over some axes and applies a broadcast affine
(``(x - mean) * rstd * w + b``; without the centring for RMS norm); every norm is that op
on a suitably reshaped input. Its backward is one fused op, ``NormalizeBackward`` (the
closed form, a Numba row kernel for trailing-dim norms), whose own backward is written
with ember ops, so gradients of any order work. Group norm is its own op pair on the
ungrouped input, the same kernels and rules on grouped views inside.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, _make
from . import _meta
from .conv import Convolution

__all__ = ["layer_norm", "batch_norm", "group_norm", "instance_norm", "rms_norm",
           "local_response_norm"]


def normalize_array(x, axes, eps, center):
    """``(xhat, mean, rstd)`` of ``x`` standardised over ``axes`` (NumPy reference path)."""
    mean = x.mean(axes, keepdims=True) if center else None
    xc = x - mean if center else x
    var = np.mean(np.square(xc), axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    return xc * rstd, mean, rstd


def _layout(x: np.ndarray, axes: tuple, param_shape: tuple, *params) -> tuple | None:
    """How the Numba kernels (``_kernels_norm``) see a normalisation of ``x`` over
    ``axes`` with affine parameters ``params`` (None or arrays of ``param_shape``,
    broadcast against ``x``): ``("rows", R, N, P)``: statistics per row of ``x`` viewed as
    (R, N) (trailing ``axes``), the parameters' non-1 dims a block of ``x``'s dims around
    the split, P of them before it (layer, group, instance and RMS norm);
    ``("channels", N, C, L)``: statistics per channel over dims 0 and 2 of ``x`` as
    (N, C, L), parameters per channel (batch norm; those absent are not checked: the
    backward's gradients of a bias of shape (1,) are summed). None when the kernels do
    not apply (another layout, dtype or parameter shape, or a non-contiguous ``x``)."""
    if (x.dtype != np.float32 and x.dtype != np.float64) or not x.flags.c_contiguous \
            or not x.size or len(param_shape) > x.ndim:
        return None
    for p in params:
        if p is not None and (p.shape != tuple(param_shape) or p.dtype != x.dtype):
            return None
    shape, nd = x.shape, x.ndim
    ps = (1,) * (nd - len(param_shape)) + tuple(param_shape)
    d = nd - len(axes)
    if axes == tuple(range(d, nd)):
        lo = d
        while lo > 0 and ps[lo - 1] == shape[lo - 1]:
            lo -= 1
        hi = d
        while hi < nd and ps[hi] == shape[hi]:
            hi += 1
        if any(n != 1 for n in ps[:lo] + ps[hi:]):
            return None
        return "rows", math.prod(shape[:d]), math.prod(shape[d:]), math.prod(shape[lo:d])
    if nd >= 2 and axes == (0,) + tuple(range(2, nd)) and math.prod(ps) == ps[1] \
            and (ps[1] == shape[1] or all(p is None for p in params)):
        return "channels", shape[0], shape[1], math.prod(shape[2:])
    return None


@functools.lru_cache(maxsize=64)
def _trailing(ndim: int, k: int) -> tuple:
    """The last ``k`` of ``ndim`` dims (a layer norm's axes)."""
    return tuple(range(ndim - k, ndim))


def _flat(p: np.ndarray | None) -> np.ndarray | None:
    return None if p is None else np.ascontiguousarray(p).reshape(-1)


def _shaped(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``a`` reshaped to ``shape``; ``a`` itself when it has that shape already (an array
    that owns its memory stays one)."""
    shape = tuple(shape)
    return a if a.shape == shape else a.reshape(shape)


def _sum_to(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``a`` summed over its leading and broadcast dims down to ``shape``."""
    if a.ndim < len(shape):
        a = a.reshape((1,) * (len(shape) - a.ndim) + a.shape)
    lead = a.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and a.shape[lead + i] != 1)
    return a.sum(dims).reshape(shape) if dims else a.reshape(shape)


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_K = None  # _kernels_norm once loaded (imported lazily: ``import ember`` loads no Numba)


def _kernels():
    global _K
    from . import _kernels_norm
    _K = _kernels_norm
    return _K


def _normalize_arrays(x, w, b, axes: tuple, eps: float, center: bool) -> tuple:
    """``(out, mean, rstd, param_shape)`` of ``Normalize``: the Numba kernels where they
    apply (``_layout``), else NumPy. Layer norm's usual call -- contiguous parameters of
    the normalised trailing dims' shape -- is told in a few compares (``_layout`` and the
    general path's reshapes cost ~4 us, a 128-wide row's kernel 0.6)."""
    p = w if w is not None else b
    if p is not None and center and x.dtype in _KERNEL_DTYPES and x.flags.c_contiguous \
            and x.size:
        shape, nd, k = p.shape, x.ndim, p.ndim
        if x.shape[nd - k:] == shape and p.dtype == x.dtype and p.flags.c_contiguous \
                and (w is None or b is None or (b.shape == shape and b.dtype == x.dtype
                                                and b.flags.c_contiguous)) \
                and axes == _trailing(nd, k):
            n = p.size
            rows = x.size // n
            K = _K or _kernels()
            out, mean, rstd = K.norm(x.reshape(rows, n), None if w is None else w.reshape(n),
                                     None if b is None else b.reshape(n), eps, True)
            stat_shape = x.shape[:nd - k] + (1,) * k
            return out.reshape(x.shape), mean.reshape(stat_shape), rstd.reshape(stat_shape), \
                shape
    param_shape = (w if w is not None else b if b is not None else
                   np.empty((1,) * x.ndim)).shape
    layout = _layout(x, axes, param_shape, w, b)
    if layout is not None and (center or layout[0] == "rows"):
        K = _K or _kernels()
        kind, *dims = layout
        if kind == "rows":
            rows, n, groups = dims
            out, mean, rstd = K.norm(x.reshape(rows, n), _flat(w), _flat(b), eps, center,
                                     groups)
        else:
            out, mean, rstd = K.batch_norm(x.reshape(dims), _flat(w), _flat(b), eps)
        stat_shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        mean, rstd = mean.reshape(stat_shape), rstd.reshape(stat_shape)
        out = out.reshape(x.shape)
    else:
        # half types are normalised in float32 and keep float32 statistics, as
        # torch's (in 16 bits the mean of values near 100 is off by up to 0.5)
        xs = x.astype(np.float32) if x.dtype.itemsize == 2 else x
        out, mean, rstd = normalize_array(xs, axes, eps, center)
        if w is not None:
            out *= w
        if b is not None:
            out += b
        out = out.astype(x.dtype, copy=False)
    return out, mean, rstd, param_shape


class Normalize(Op):
    """``(x - mean) * rstd * w + b`` with statistics over ``axes``; ``w``/``b`` broadcast.

    One kernel, one op per torch name so that profiles and exported graphs read as
    torch's: ``NativeLayerNorm``, ``NativeBatchNorm`` (also instance norm) and ``RmsNorm``
    below (and ``NativeGroupNorm``, which groups its input's channels itself)."""

    abstract = True
    backward_op: type[Op]

    @staticmethod
    def meta(x, w, b, axes, eps, center):
        return _meta.like(x)

    @staticmethod
    def forward(ctx, x, w, b, axes, eps, center):
        out, mean, rstd, param_shape = _normalize_arrays(x, w, b, axes, eps, center)
        ctx.save_for_backward(x, w, mean if center else None, rstd)
        ctx.args = (axes, eps, center, param_shape)
        return out

    @classmethod
    def backward(cls, ctx, g):
        x, w, mean, rstd = ctx.saved_tensors
        gx, gw, gb = dispatch(cls.backward_op, g, x, w, mean, rstd, *ctx.args)
        need = ctx.needs_input_grad
        return gx, (gw if need[1] else None), (gb if need[2] else None)


class NormalizeBackward(Op):
    """``(gx, gw, gb)`` of ``Normalize`` from the saved statistics; ``gw``/``gb`` are
    summed to ``param_shape`` (the affine parameters' shape, all ones without them)."""

    abstract = True

    @staticmethod
    def _kernel_layout(g, x, w, axes, center, param_shape) -> tuple | None:
        layout = _layout(x, axes, param_shape, w)
        if layout is None or g.shape != x.shape or g.dtype != x.dtype \
                or not (center or layout[0] == "rows"):
            return None
        return layout

    @staticmethod
    def meta(g, x, w, mean, rstd, axes, eps, center, param_shape):
        if NormalizeBackward._kernel_layout(g, x, w, axes, center, param_shape) is not None:
            gx = _meta.new(x.shape, x.dtype)
        else:
            gx = _meta.pointwise(x, g, rstd)
            gx = _meta.MetaArray(gx.shape, _meta.result_dtype(x, g), gx.strides)
        return gx, _meta.new(param_shape, x.dtype), _meta.new(param_shape, x.dtype)

    @staticmethod
    def forward(ctx, g, x, w, mean, rstd, axes, eps, center, param_shape):
        ctx.save_for_backward(g, x, w)
        ctx.args = (axes, eps, center)
        return _normalize_backward_arrays(g, x, w, mean, rstd, axes, eps, center, param_shape)

    @staticmethod
    def backward(ctx, vx, vw, vb):
        """With ``J`` the (symmetric) Jacobian of ``xhat`` in ``x``, ``gh = g * w``, and
        per-row sums ``A = <vx, gh - mean(gh)>``, ``B = <vx, xhat>``, ``c = mean(xhat*gh)``:
        d/dg = vb + vw*xhat + w*J(vx), d/dw = g*J(vx), and d/dx = J(g*vw)
        - rstd^2*xhat*(A - c*B)/N - rstd*B*J(gh)/N - rstd*c*J(vx)."""
        g, x, w = ctx.saved_tensors
        dg, dx, dw = _normalize_double_backward(g, x, w, vx, vw, vb, *ctx.args,
                                                ctx.needs_input_grad)
        return dg, dx, dw, None, None, None, None, None, None


def _normalize_double_backward(g, x, w, vx, vw, vb, axes: tuple, eps: float, center: bool,
                               need) -> tuple:
    """``(dg, dx, dw)`` of ``NormalizeBackward`` (see its ``backward``), in ember ops; ``dw``
    has ``x``'s shape (summed to ``w``'s by the caller or by autograd)."""
    n = math.prod(x.shape[a] for a in axes)
    xc = x - x.mean(axes, keepdim=True) if center else x
    rstd = ((xc * xc).mean(axes, keepdim=True) + eps) ** -0.5
    xhat = xc * rstd

    def jac(u):
        inner = u - xhat * (xhat * u).mean(axes, keepdim=True)
        if center:
            inner = inner - u.mean(axes, keepdim=True)
        return rstd * inner

    jvx = jac(vx)
    dg = vb + vw * xhat + (jvx * w if w is not None else jvx) if need[0] else None
    dw = g * jvx if need[2] else None
    dx = None
    if need[1]:
        gh = g * w if w is not None else g
        big_a = (vx * (gh - gh.mean(axes, keepdim=True) if center else gh)).sum(
            axes, keepdim=True)
        big_b = (vx * xhat).sum(axes, keepdim=True)
        c = (xhat * gh).mean(axes, keepdim=True)
        dx = (jac(g * vw) - rstd * rstd * xhat * (big_a - c * big_b) / n
              - rstd * big_b * jac(gh) / n - rstd * c * jvx)
    return dg, dx, dw


def _normalize_backward_arrays(g, x, w, mean, rstd, axes: tuple, eps: float, center: bool,
                               param_shape: tuple, gx_shape: tuple | None = None,
                               gw_shape: tuple | None = None) -> tuple:
    """``(gx, gw, gb)`` of ``NormalizeBackward``: the Numba kernels where they apply, else
    NumPy. The kernels write ``gx`` into a new array of ``gx_shape`` (default ``x``'s; the
    same size), which autograd takes as a leaf's .grad without a copy, and give ``gw``/``gb``
    the shape ``gw_shape`` (default ``param_shape``; the same size); NumPy's results have
    ``x``'s and ``param_shape``."""
    layout = NormalizeBackward._kernel_layout(g, x, w, axes, center, param_shape)
    if layout is not None:
        from . import _kernels_norm as K
        kind, *dims = layout
        g = np.ascontiguousarray(g)
        # (written through a view)
        gx = np.empty(x.shape if gx_shape is None else gx_shape, x.dtype)
        if kind == "rows":
            rows, n, groups = dims
            mean = mean.reshape(rows) if center else np.zeros(rows, x.dtype)
            _, gw, gb = K.norm_backward(g.reshape(rows, n), x.reshape(rows, n), _flat(w),
                                        mean, rstd.reshape(rows), center, groups,
                                        math.prod(param_shape), gx.reshape(rows, n))
        else:
            _, gw, gb = K.batch_norm_backward(g.reshape(dims), x.reshape(dims), _flat(w),
                                              mean.reshape(-1), rstd.reshape(-1),
                                              gx.reshape(dims))
        size = math.prod(param_shape)  # (1 when batch norm's channels share a bias)
        return gx, *(_shaped(p if p.size == size else p.sum(keepdims=True),
                             param_shape if gw_shape is None else gw_shape) for p in (gw, gb))
    xhat = (x - mean if center else x) * rstd
    gh = g * w if w is not None else g
    inner = gh - xhat * (gh * xhat).mean(axes, keepdims=True)
    if center:
        inner -= gh.mean(axes, keepdims=True)
    dt = np.result_type(x, g)  # (float32 statistics of half inputs: back to 16 bits)
    return ((inner * rstd).astype(dt, copy=False),
            _sum_to(g * xhat, param_shape).astype(x.dtype, copy=False),
            _sum_to(g, param_shape).astype(x.dtype, copy=False))


def _norm_ops(cls_name: str, aten: str) -> type[Normalize]:
    """The forward/backward op pair of one of torch's norms (shared kernels and rules)."""
    sig = "(Tensor x, Tensor? w, Tensor? b, int[] axes, float eps, bool center) -> Tensor"
    bsig = ("(Tensor g, Tensor x, Tensor? w, Tensor? mean, Tensor rstd, int[] axes, float eps, "
            "bool center, int[] param_shape) -> (Tensor grad_input, Tensor grad_weight, "
            "Tensor grad_bias)")
    backward = type(cls_name + "Backward", (NormalizeBackward,), {
        "name": aten + "_backward", "aten": aten + "_backward",
        "signature": aten + "_backward" + bsig, "__module__": __name__})
    return type(cls_name, (Normalize,), {"name": aten, "aten": aten, "signature": aten + sig,
                                         "backward_op": backward, "__module__": __name__})


NativeLayerNorm = _norm_ops("NativeLayerNorm", "native_layer_norm")
NativeBatchNorm = _norm_ops("NativeBatchNorm", "native_batch_norm")


def _grouped(shape: tuple, groups: int) -> tuple[tuple, tuple]:
    """Group norm's view of an (N, C, *) input, (N, G, C/G, rest), and of its (C,)
    parameters, (1, G, C/G, 1)."""
    cg = shape[1] // groups
    return (shape[0], groups, cg, math.prod(shape[2:])), (1, groups, cg, 1)


def _reshaped(p, shape: tuple):
    return None if p is None else p.reshape(shape)


_GROUP_ARGS = "int groups, float eps"


class NativeGroupNorm(Op):
    """Group norm of an (N, C, *) input with (C,) parameters: ``Normalize`` of the input
    viewed as (N, G, C/G, rest) over its last two dims, the view taken inside the op (as in
    torch's ``native_group_norm``), so that the input's gradient is one new array of the
    input's shape (a leaf's .grad as it is) and no reshape nodes surround the op."""

    name = aten = "native_group_norm"
    signature = f"native_group_norm(Tensor x, Tensor? w, Tensor? b, {_GROUP_ARGS}) -> Tensor"

    @staticmethod
    def meta(x, w, b, groups, eps):
        return _meta.new(x.shape, x.dtype)

    @staticmethod
    def forward(ctx, x, w, b, groups, eps):
        shape, pshape = _grouped(x.shape, groups)
        out, mean, rstd, _ = _normalize_arrays(x.reshape(shape), _reshaped(w, pshape),
                                               _reshaped(b, pshape), (2, 3), eps, True)
        ctx.save_for_backward(x, w, mean, rstd)
        ctx.args = (groups, eps)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x, w, mean, rstd = ctx.saved_tensors
        gx, gw, gb = dispatch(NativeGroupNormBackward, g, x, w, mean, rstd, *ctx.args)
        need = ctx.needs_input_grad
        return gx, (gw if need[1] else None), (gb if need[2] else None)


class NativeGroupNormBackward(Op):
    """``(gx, gw, gb)`` of ``NativeGroupNorm``: ``NormalizeBackward``'s kernels and rules on
    the grouped views; ``gw``/``gb`` per channel, (C,)."""

    name = aten = "native_group_norm_backward"
    signature = ("native_group_norm_backward(Tensor g, Tensor x, Tensor? w, Tensor mean, "
                 f"Tensor rstd, {_GROUP_ARGS}) -> (Tensor grad_input, Tensor grad_weight, "
                 "Tensor grad_bias)")

    @staticmethod
    def meta(g, x, w, mean, rstd, groups, eps):
        c = (x.shape[1],)
        return (_meta.new(x.shape, _meta.result_dtype(x, g)), _meta.new(c, x.dtype),
                _meta.new(c, x.dtype))

    @staticmethod
    def forward(ctx, g, x, w, mean, rstd, groups, eps):
        ctx.save_for_backward(g, x, w)
        ctx.args = (groups, eps)
        shape, pshape = _grouped(x.shape, groups)
        c = (x.shape[1],)
        gx, gw, gb = _normalize_backward_arrays(
            g.reshape(shape), x.reshape(shape), _reshaped(w, pshape), mean, rstd, (2, 3), eps,
            True, pshape, gx_shape=x.shape, gw_shape=c)
        return _shaped(gx, x.shape), _shaped(gw, c), _shaped(gb, c)

    @staticmethod
    def backward(ctx, vx, vw, vb):
        """``NormalizeBackward.backward`` on the grouped views."""
        g, x, w = ctx.saved_tensors
        groups, eps = ctx.args
        shape, pshape = _grouped(tuple(x.shape), groups)
        dg, dx, dw = _normalize_double_backward(
            g.reshape(shape), x.reshape(shape), _reshaped(w, pshape), vx.reshape(shape),
            vw.reshape(pshape), vb.reshape(pshape), (2, 3), eps, True, ctx.needs_input_grad)
        return (_reshaped(dg, tuple(x.shape)), _reshaped(dx, tuple(x.shape)),
                None if dw is None else dw.sum((0, 3)).reshape(-1), None, None, None, None)
RmsNorm = _norm_ops("RmsNorm", "rms_norm")


def _normalize(op: type[Normalize], x: Tensor, w, b, axes: tuple, eps: float,
               center: bool = True) -> Tensor:
    return dispatch(op, x, w, b, axes, float(eps), center)


def _shape_list(shape) -> list:
    return [int(s) for s in ((shape,) if isinstance(shape, int) else shape)]


def _check_normalized_shape(input: Tensor, normalized_shape, weight, bias) -> tuple:
    """The trailing axes a layer/RMS norm normalises, after torch's checks. The usual
    call (a tuple that the input ends in and the parameters have) is told in a few tuple
    compares; the list comparisons below cost 1.5-3 us and run for the others, for torch's
    errors."""
    if type(normalized_shape) is tuple and normalized_shape and type(input) is Tensor \
            and (weight is None or type(weight) is Tensor) \
            and (bias is None or type(bias) is Tensor):
        dims = input._data.shape
        k = len(normalized_shape)
        if dims[len(dims) - k:] == normalized_shape \
                and (weight is None or weight._data.shape == normalized_shape) \
                and (bias is None or bias._data.shape == normalized_shape):
            return _trailing(len(dims), k)
    shape = _shape_list(normalized_shape)
    k = len(shape)
    if k == 0:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                           "containing at least one element, but got normalized_shape = []")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and list(t.shape) != shape:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but "
                               f"got {name} of shape {list(t.shape)} and normalized_shape = "
                               f"{shape}")
    if input.ndim < k or list(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={shape}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size"
                           f"{list(input.shape)}")
    return tuple(range(input.ndim - k, input.ndim))


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift."""
    axes = _check_normalized_shape(input, normalized_shape, weight, bias)
    return _normalize(NativeLayerNorm, input, weight, bias, axes, eps)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing dims (eps defaults to the
    dtype's machine epsilon, as torch)."""
    axes = _check_normalized_shape(input, normalized_shape, weight, None)
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    return _normalize(RmsNorm, input, weight, None, axes, eps, center=False)


def _channel_view(t: Tensor | None, ndim: int, axis: int = 1):
    """Per-channel ``t`` shaped to broadcast along dim ``axis`` of an ``ndim``-D input (as
    it is when that is the last dim: no reshape op, no reshape node in the graph)."""
    if t is None or (axis == ndim - 1 and t.ndim == 1):
        return t
    return t.reshape((1,) * axis + (-1,) + (1,) * (ndim - axis - 1))


def _update_running(running: Tensor | None, value: Tensor, momentum: float) -> None:
    """``running = (1 - momentum) * running + momentum * value``, in place, untracked."""
    if running is None:
        return
    from ..autograd.grad_mode import no_grad
    with no_grad():
        running.mul_(1 - momentum).add_(value.to(running.dtype), alpha=momentum)


def _batch_stats(x: Tensor, axes: tuple, extra_axis: int | None = None):
    """Batch mean and unbiased variance per channel (for the running statistics),
    untracked (of ``x`` detached: no forward-AD tangent either, as torch's kernel); averaged
    over ``extra_axis`` afterwards (instance norm's batch). Batch norm of a contiguous float
    (N, C, L...) input: one Numba pass (``_kernels_norm.channel_stats``), not NumPy's mean
    and variance (three passes, slow over short trailing axes)."""
    from ..autograd.grad_mode import no_grad
    x = x.detach()
    data = x._data
    if extra_axis is None and type(data) is np.ndarray and data.ndim >= 3 \
            and _layout(data, axes, (1,) * data.ndim) is not None:  # one Numba pass
        from . import _kernels_norm as K
        count = data.size // data.shape[1]
        mean, var = K.channel_stats(data.reshape(data.shape[0], data.shape[1], -1))
        return _make(mean), _make(var * np.asarray(count / max(count - 1, 1), var.dtype))
    with no_grad():
        mean, var = x.mean(axes), x.var(axes, correction=1)
        if extra_axis is not None:
            mean, var = mean.mean(extra_axis), var.mean(extra_axis)
    return mean, var


def _affine_eval(input, mean, var, weight, bias, eps) -> Tensor:
    nd = input.ndim
    out = (input - _channel_view(mean, nd)) * ((_channel_view(var, nd) + eps) ** -0.5)
    if weight is not None:
        out = out * _channel_view(weight, nd)
    if bias is not None:
        out = out + _channel_view(bias, nd)
    return out


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) over the batch and spatial dims; in training, update
    the running statistics in place (the variance as the unbiased estimate, as torch)."""
    if input.ndim < 2:
        raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    axes = (0,) + tuple(range(2, input.ndim))
    if not training:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation "
                               "mode")
        return _affine_eval(input, running_mean, running_var, weight, bias, eps)
    if input.numel() // c <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {input.shape}")
    if running_mean is not None or running_var is not None:
        mean, var = _batch_stats(input, axes)
        _update_running(running_mean, mean, momentum)
        _update_running(running_var, var, momentum)
    nd = input.ndim
    return _normalize(NativeBatchNorm, input, _channel_view(weight, nd), _channel_view(bias, nd),
                      axes, eps)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each (sample, channel) plane over its spatial dims."""
    nd = input.ndim
    if not use_input_stats:
        return _affine_eval(input, running_mean, running_var, weight, bias, eps)
    axes = tuple(range(2, nd))
    if input.numel() // (input.shape[0] * input.shape[1]) <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                         f"{input.shape}")
    if running_mean is not None or running_var is not None:
        mean, var = _batch_stats(input, axes, extra_axis=0)
        _update_running(running_mean, mean, momentum)
        _update_running(running_var, var, momentum)
    return _normalize(NativeBatchNorm, input, _channel_view(weight, nd), _channel_view(bias, nd),
                      axes, eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over groups of channels (and the spatial dims) of each sample."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{input.ndim}")
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.shape[0] != c):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of "
                               f"channels in input, but got {name} of shape {list(t.shape)} "
                               f"and input of shape {list(input.shape)}")
    return dispatch(NativeGroupNorm, input, weight, bias, int(num_groups), float(eps))


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Divide each element by a power of the mean square over ``size`` neighbouring
    channels (a box convolution along dim 1)."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} "
                         "dimensions)")
    if input.numel() == 0:
        return input
    n, c = input.shape[:2]
    sq = (input * input).reshape(n, 1, c, -1)
    box = _meta.constant(np.full((1, 1, size, 1), 1.0 / size, dtype=input.dtype.np), input)
    pads = ((size // 2, (size - 1) // 2), (0, 0))
    div = dispatch(Convolution, sq, box, None, (1, 1), pads, (1, 1), 1).reshape(input.shape)
    return input / (div * alpha + k) ** beta
