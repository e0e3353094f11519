"""Order statistics and counting: ``quantile``/``nanquantile``, ``bincount``, ``histc``,
``histogram``.

``quantile`` is torch's own decomposition (sort, pick the two neighbouring order
statistics with ``gather``, interpolate with ``lerp``), written with ember ops, so its
gradient is the one torch computes (it flows to the picked elements). The ranks and
positions are index arithmetic on the sorted values, which carries no gradient. The
counting functions have no gradient and are NumPy kernels.
"""

from __future__ import annotations

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor, _make
from . import _meta
from ._operators import install_methods
from ._return_types import return_type
from ._util import wrap_dim
from .arithmetic import lerp, where
from .indexing import gather, sort

__all__ = ["quantile", "nanquantile", "bincount", "histc", "histogram"]

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(name: str, input: Tensor, q, dim, keepdim: bool, interpolation: str,
              ignore_nan: bool) -> Tensor:
    if input.dtype.name not in ("float32", "float64"):
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{name}() interpolation must be one of linear, lower, higher, "
                           f"midpoint or nearest. Got {interpolation}")
    q_scalar = not isinstance(q, Tensor) or q.ndim == 0
    qs = np.atleast_1d(np.asarray(q._data if isinstance(q, Tensor) else q, np.float64))
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
        if q.dtype != input.dtype:
            raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
    if qs.size and (qs.min() < 0 or qs.max() > 1):
        bad = qs[(qs < 0) | (qs > 1)][0]
        raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {bad:g}"
                           if q_scalar else f"{name}() q values must be in the range [0, 1]")
    if input.numel() == 0:  # torch: along a dim too, and nanquantile says "quantile()"
        raise RuntimeError("quantile() input tensor must be non-empty")
    # the values to reduce, on the last dim; out_shape is the kept shape without q's dim
    if dim is None:
        x = input.reshape(-1)
        out_shape = (1,) * input.ndim if keepdim else ()
    else:
        d = wrap_dim(dim, input.ndim)
        x = input.movedim(d, -1) if input.ndim else input.reshape(1)
        out_shape = tuple(1 if i == d and keepdim else n for i, n in enumerate(input.shape)
                          if i != d or keepdim)
    values = sort(x, -1).values
    arr = values._data
    n = arr.shape[-1]
    nan = np.isnan(arr)
    count = (n - nan.sum(-1, keepdims=True)) if ignore_nan else np.full(arr.shape[:-1] + (1,), n)
    # ranks: one per (row, q); shape (..., len(q))
    # in the input's dtype, as torch (a float32 q of 0.7 times 5 is 3.4999998: rounds to 3)
    ranks = qs.astype(arr.dtype) * (count - 1).astype(arr.dtype)
    if interpolation == "lower":
        ranks = np.floor(ranks)
    elif interpolation == "higher":
        ranks = np.ceil(ranks)
    elif interpolation == "nearest":
        ranks = np.round(ranks)  # half to even, as torch's round
    ranks = np.clip(ranks, 0, max(n - 1, 0))
    lo = np.floor(ranks).astype(np.int64)
    hi = np.ceil(ranks).astype(np.int64)
    all_nan = count == 0 if ignore_nan else nan.any(-1, keepdims=True)
    if n:
        lo_v = gather(values, -1, _make(np.broadcast_to(lo, ranks.shape).copy()))
        hi_v = gather(values, -1, _make(np.broadcast_to(hi, ranks.shape).copy()))
    else:
        lo_v = hi_v = values.new_full(ranks.shape, float("nan"))
    if interpolation == "midpoint":
        result = lerp(lo_v, hi_v, 0.5)
    elif interpolation == "linear":
        weight = _make(np.asarray(ranks - lo, dtype=arr.dtype))
        result = lerp(lo_v, hi_v, weight)
    else:
        result = lo_v
    if all_nan.any():
        result = where(_make(np.broadcast_to(all_nan, ranks.shape).copy()),
                       float("nan"), result)
    # (..., len(q)) -> (len(q), *out_shape) or out_shape for a scalar q
    result = result.movedim(-1, 0).reshape((len(qs),) + out_shape)
    return result[0] if q_scalar else result


def quantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear", out: Tensor | None = None) -> Tensor:
    """The ``q``-th quantiles of ``input`` (over all elements, or along ``dim``), as
    ``torch.quantile``; a row that contains NaN gives NaN."""
    result = _quantile("quantile", input, q, dim, keepdim, interpolation, False)
    return result if out is None else out.copy_(result)


def nanquantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear", out: Tensor | None = None) -> Tensor:
    """``quantile`` ignoring NaN values, as ``torch.nanquantile``."""
    result = _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)
    return result if out is None else out.copy_(result)


# ---- counting --------------------------------------------------------------------------------

class Bincount(Op):
    signature = "bincount(Tensor input, Tensor? weights=None, int minlength=0) -> Tensor"
    differentiable = False

    @staticmethod
    def meta(input, weights=None, minlength=0):
        _meta.dynamic_shape("bincount")

    @staticmethod
    def forward(ctx, input, weights=None, minlength=0):
        if input.dtype.kind == "f" or input.dtype.kind == "c":
            raise NotImplementedError('"bincount_cpu" not implemented for '
                                      f"'{_scalar_name(input)}'")
        if input.ndim != 1 or input.dtype == np.bool_ or (input.size and input.min() < 0):
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
        if minlength < 0:
            raise RuntimeError("minlength should be >= 0")
        if weights is not None and weights.shape != input.shape:
            raise RuntimeError("weights should be 1-d and have the same length as input")
        if weights is None:
            return np.bincount(input, minlength=minlength).astype(np.int64)
        dt = np.float32 if weights.dtype == np.float32 else np.float64
        return np.bincount(input, weights.astype(np.float64), minlength=minlength).astype(dt)


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Counts of each non-negative integer in ``input`` (weighted sums with ``weights``),
    as ``torch.bincount``."""
    return dispatch(Bincount, input, weights, minlength)


def _scalar_name(a) -> str:
    from .._dtype import from_numpy_dtype
    return from_numpy_dtype(a.dtype).scalar_name


def _check_histogram_input(name: str, a) -> None:
    if a.dtype.kind not in "f" and a.dtype.name != "bfloat16":
        raise NotImplementedError(f'"{name}_cpu" not implemented for \'{_scalar_name(a)}\'')


def _range(a, lo: float, hi: float) -> tuple[float, float]:
    """torch's histogram range: the data's when ``lo == hi == 0``... widened by one around a
    single value."""
    if lo == hi and a.size:
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    return lo, hi


class Histc(Op):
    signature = "histc(Tensor input, int bins=100, Scalar min=0, Scalar max=0) -> Tensor"
    differentiable = False

    @staticmethod
    def meta(input, bins=100, min=0, max=0):  # noqa: A002
        return _meta.new((bins,), input.dtype)

    @staticmethod
    def forward(ctx, input, bins=100, min=0, max=0):  # noqa: A002
        _check_histogram_input("histogram", input)
        if bins <= 0:
            raise RuntimeError("torch.histc: bins must be > 0, but got "
                               f"{bins} for dimension 0")
        if min > max:
            raise RuntimeError("torch.histc: max must be larger than min")
        lo, hi = _range(input, float(min), float(max))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise RuntimeError(f"torch.histc: range of [{lo:g}, {hi:g}] is not finite")
        flat = input.ravel().astype(np.float64)
        hist, _ = np.histogram(flat[~np.isnan(flat)], bins, (lo, hi))
        return hist.astype(input.dtype)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0, *,  # noqa: A002
          out: Tensor | None = None) -> Tensor:
    """A histogram of ``input`` with ``bins`` equal bins over ``[min, max]`` (the data's
    range when both are 0); values outside are ignored. As ``torch.histc``."""
    result = dispatch(Histc, input, bins, min, max)
    return result if out is None else out.copy_(result)


class Histogram(Op):
    signature = ("histogram(Tensor input, Tensor? bins_tensor=None, int bins=100, "
                 "float[]? range=None, Tensor? weight=None, bool density=False) "
                 "-> (Tensor hist, Tensor bin_edges)")
    differentiable = False

    @staticmethod
    def meta(input, bins_tensor=None, bins=100, range=None, weight=None,  # noqa: A002
             density=False):
        n = bins if bins_tensor is None else bins_tensor.shape[0] - 1
        return _meta.new((n,), input.dtype), _meta.new((n + 1,), input.dtype)

    @staticmethod
    def forward(ctx, input, bins_tensor=None, bins=100, range=None,  # noqa: A002
                weight=None, density=False):
        _check_histogram_input("histogram", input)
        flat = input.ravel().astype(np.float64)
        w = None if weight is None else weight.ravel().astype(np.float64)
        if bins_tensor is not None:
            edges = bins_tensor.astype(np.float64)
        else:
            lo, hi = _range(input, *(range if range is not None else (0.0, 0.0)))
            edges = np.linspace(lo, hi, bins + 1)
        hist, edges = np.histogram(flat, edges, weights=w, density=density)
        return hist.astype(input.dtype), edges.astype(input.dtype)


def histogram(input: Tensor, bins=100, *, range=None, weight: Tensor | None = None,  # noqa: A002
              density: bool = False, out=None):
    """``(hist, bin_edges)`` of ``input``: ``bins`` equal bins over ``range`` (the data's by
    default), or the edges a 1-D tensor ``bins`` gives. As ``torch.histogram``."""
    if isinstance(bins, Tensor):
        hist, edges = dispatch(Histogram, input, bins, 0, None, weight, density)
    else:
        hist, edges = dispatch(Histogram, input, None, int(bins),
                               None if range is None else [float(r) for r in range],
                               weight, density)
    return return_type("histogram", ("hist", "bin_edges"))(hist, edges)


install_methods({name: globals()[name] for name in __all__})
