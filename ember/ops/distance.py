"""``torch.cdist``: p-norm distances between two sets of row vectors.

A composite of ember ops, as torch's: the difference of every pair of rows reduced by
``vector_norm`` (whose gradient is zero where a distance is zero, as torch's
``_cdist_backward``), or for Euclidean distances between many rows torch's faster matrix
product formula ``|a|^2 + |b|^2 - 2 a.b``.
"""

from __future__ import annotations

from .._tensor import Tensor
from .creation import ones_like
from .reductions import vector_norm
from .shape import cat

__all__ = ["cdist"]

_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
          "donot_use_mm_for_euclid_dist")


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distances between each row of ``x1`` (..., P, M) and of ``x2`` (..., R, M):
    (..., P, R), as ``torch.cdist``. With p=2 and many rows (> 25), or
    ``compute_mode="use_mm_for_euclid_dist"``, it uses torch's matrix-product formula
    (faster, less exact for close points)."""
    if x1.ndim < 2 or x2.ndim < 2:
        bad, name = (x1, "X1") if x1.ndim < 2 else (x2, "X2")
        raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {bad.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    for t, name in ((x1, "X1"), (x2, "X2")):
        if not t.is_floating_point():
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: "
                               f"{t.dtype.scalar_name}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if compute_mode not in _MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    rows1, rows2 = x1.shape[-2], x2.shape[-2]
    use_mm = p == 2 and (compute_mode == _MODES[1] or (
        compute_mode == _MODES[0] and (rows1 > 25 or rows2 > 25)))
    if use_mm:  # torch's _euclidean_dist
        n1 = x1.pow(2).sum(-1, keepdim=True)
        n2 = x2.pow(2).sum(-1, keepdim=True)
        a = cat([x1 * -2, n1, ones_like(n1)], -1)
        b = cat([x2, ones_like(n2), n2], -1)
        return a.matmul(b.transpose(-1, -2)).clamp_min(1e-30).sqrt()
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return vector_norm(diff, p, dim=-1)
