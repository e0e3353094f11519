"""``F.affine_grid`` and ``F.grid_sample`` (spatial transformers), and the power-average
pools ``F.lp_pool1d/2d/3d``.

All are composites of ember ops, written as torch's reference decompositions are, so
their gradients (for the input, the grid and ``theta``) are the ones torch computes:
``grid_sample`` gathers the 2^d neighbouring pixels of each sampling point and weights
them by the point's fractional coordinates; coordinates are unnormalized, clipped or
reflected with differentiable ops (``clamp``, ``abs``, ``fmod``), so the grid's gradient
is zero where the padding clips it, as torch's ``clip_coordinates_set_grad``.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from .._tensor import Tensor, _make
from ..ops import elementwise as _ew
from ..ops import pooling as _pool

__all__ = ["affine_grid", "grid_sample", "lp_pool1d", "lp_pool2d", "lp_pool3d"]

_ALIGN_WARNING = ("Default {} behavior has changed to align_corners=False since 1.3.0. Please "
                  "specify align_corners=True if the old behavior is desired. See the "
                  "documentation of {} for details.")


def _base_coords(n: int, align_corners: bool, like: Tensor) -> Tensor:
    """The normalized coordinates of ``n`` pixel centres in [-1, 1]."""
    if n <= 1:
        return _make(np.zeros(max(n, 0), like._data.dtype))
    c = np.linspace(-1.0, 1.0, n)
    if not align_corners:
        c = c * (n - 1) / n
    return _make(c.astype(like._data.dtype))


def affine_grid(theta: Tensor, size: list[int], align_corners: bool | None = None) -> Tensor:
    """The sampling grid of the affine maps ``theta`` (N, 2, 3) or (N, 3, 4), for an output
    of ``size`` (N, C, H, W) or (N, C, D, H, W): the grid's last dim is (x, y[, z])."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING.format("grid_sample and affine_grid", "grid_sample"),
                      UserWarning, stacklevel=2)
        align_corners = False
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = list(size)
    if len(size) == 4:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (2, 3):
            raise ValueError("Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                             f"{size}. Got {list(theta.shape)}.")
        spatial = size[2:]
    elif len(size) == 5:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (3, 4):
            raise ValueError("Expected a batch of 3D affine matrices of shape Nx3x4 for size "
                             f"{size}. Got {list(theta.shape)}.")
        spatial = size[2:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                                  f"affine transforms, respectively. Got size {size}.")
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise ValueError(f"Expected theta to have batch size {size[0]}, got {theta.shape[0]}")
    # base grid (*spatial, d + 1): x varies along the last spatial dim, then y, then z
    d = len(spatial)
    axes = [_base_coords(n, align_corners, theta)._data for n in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")  # mesh[k] is the coordinate of spatial dim k
    base = np.stack([mesh[d - 1 - k] for k in range(d)] + [np.ones_like(mesh[0])], -1)
    base = _make(base.reshape(1, -1, d + 1))
    grid = base.matmul(theta.transpose(1, 2))  # (N, prod(spatial), d)
    return grid.reshape(size[0], *spatial, d)


def _unnormalize(coord: Tensor, n: int, align_corners: bool) -> Tensor:
    if align_corners:
        return (coord + 1) * ((n - 1) / 2)
    return ((coord + 1) * n - 1) / 2


def _reflect(coord: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """torch's ``reflect_coordinates``: fold ``coord`` into [low, high] by reflection."""
    if twice_low == twice_high:
        return coord * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    c = (coord - low).abs()
    extra = _ew.fmod(c, span)
    flips = _ew.floor(c / span)
    even = _ew.remainder(flips, 2) == 0
    return _ew.where(even, extra + low, span - extra + low)


def _source_index(coord: Tensor, n: int, padding_mode: str, align_corners: bool) -> Tensor:
    x = _unnormalize(coord, n, align_corners)
    if padding_mode == "border":
        x = x.clamp(0, n - 1)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (n - 1)) if align_corners else _reflect(x, -1, 2 * n - 1)
        x = x.clamp(0, n - 1)
    return x


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` (N, C, H, W) or (N, C, D, H, W) at the normalized points ``grid``
    (N, Ho, Wo, 2) or (N, Do, Ho, Wo, 3), as ``torch.nn.functional.grid_sample``.

    ``mode``: "bilinear" (trilinear for 5-D) or "nearest"; ``padding_mode``: "zeros",
    "border" or "reflection". "bicubic" is not implemented (NotImplementedError)."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', "
                         f"'nearest' or 'bicubic', but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    if mode == "bicubic":
        raise NotImplementedError("grid_sample: mode='bicubic' is not implemented in ember")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING.format("grid_sample and affine_grid", "grid_sample"),
                      UserWarning, stacklevel=2)
        align_corners = False
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(f"grid_sampler(): expected 4D or 5D input and grid with same number "
                           f"of dimensions, but got input with sizes {list(input.shape)} and "
                           f"grid with sizes {list(grid.shape)}")
    d = input.ndim - 2
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError("grid_sampler(): expected grid and input to have same batch size, "
                           f"but got input with sizes {list(input.shape)} and grid with sizes "
                           f"{list(grid.shape)}")
    if grid.shape[-1] != d:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {d} in last dimension, "
                           f"but got grid with sizes {list(grid.shape)}")
    n, c = input.shape[:2]
    spatial = tuple(input.shape[2:])  # (H, W) or (D, H, W)
    out_spatial = tuple(grid.shape[1:-1])
    flat_in = input.reshape(n, c, -1)
    points = grid.reshape(n, -1, d)
    # per spatial dim k (slowest first), the source coordinate: grid's (x, y, z) is reversed
    coords = [_source_index(points[..., d - 1 - k], spatial[k], padding_mode, align_corners)
              for k in range(d)]
    if mode == "nearest":
        # weight 1 with the grid's (zero) gradient: torch returns zeros for the grid, not None
        corners = [[(_ew.round(x).detach(), x * 0 + 1)] for x in coords]
    else:
        corners = []
        for x in coords:
            lo = _ew.floor(x).detach()
            w_hi = x - lo
            corners.append([(lo, 1 - w_hi), (lo + 1, w_hi)])
    strides = np.cumprod((1,) + spatial[::-1])[::-1][1:]  # elements per step of each dim
    out = None
    for combo in itertools.product(*corners):
        flat_index, weight, valid = 0, None, None
        for k, (pos, w) in enumerate(combo):
            pos_arr = pos._data
            inside = (pos_arr >= 0) & (pos_arr <= spatial[k] - 1)
            valid = inside if valid is None else valid & inside
            flat_index = flat_index + np.clip(pos_arr, 0, spatial[k] - 1).astype(np.int64) \
                * int(strides[k])
            weight = w if weight is None else weight * w
        index = _make(np.broadcast_to(flat_index[:, None, :], (n, c, flat_index.shape[-1])))
        picked = flat_in.gather(2, index)
        mask = _make(valid[:, None, :].astype(input._data.dtype))
        term = picked * (weight.unsqueeze(1) * mask)
        out = term if out is None else out + term
    return out.reshape(n, c, *out_spatial)


def _lp_pool(pool, dims: int, input: Tensor, norm_type: float, kernel_size, stride,
             ceil_mode: bool) -> Tensor:
    ks = (kernel_size,) * dims if isinstance(kernel_size, int) else tuple(kernel_size)
    out = pool(input.pow(norm_type), ks, stride, 0, ceil_mode)
    return (_ew.sign(out) * _ew.relu(out.abs())).mul(int(np.prod(ks))).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over 1-D windows: ``(sum x^p)^(1/p)``, as ``F.lp_pool1d``."""
    return _lp_pool(_pool.avg_pool1d, 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over 2-D windows, as ``F.lp_pool2d``."""
    return _lp_pool(_pool.avg_pool2d, 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over 3-D windows, as ``F.lp_pool3d``."""
    return _lp_pool(_pool.avg_pool3d, 3, input, norm_type, kernel_size, stride, ceil_mode)
