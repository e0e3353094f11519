"""The Numba kernels of ``_kernels_nn`` (im2col/col2im, max pooling, plane scatter).

Defined at module level, not in a function: a jitted function that closes over another
one gets a new cache key in every process, so Numba's on-disk cache never hit and each
process recompiled them (about 1.5 s on the first convolution). Imported on first use by
``_kernels_nn._numba()``, never by ``import ember``.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def copy_plane(xf, start, shape, buf, at, ph, pw, into_buf):
    """A ``shape (D, H, W)`` plane of flat ``xf`` from ``start`` into (or, without
    ``into_buf``, out of) the padded buffer, whose ``at`` is the plane's origin."""
    u = np.uint64
    for z in range(shape[0]):
        for y in range(shape[1]):
            b0 = u(at + (z * ph + y) * pw)
            x0 = u(start + (z * shape[1] + y) * shape[2])
            for i in range(u(shape[2])):
                if into_buf:
                    buf[b0 + i] = xf[x0 + i]
                else:
                    xf[x0 + i] = buf[b0 + i]

@numba.njit(cache=True)
def unfold(x, cols, kernel, stride, lo, dil, out, padded, fold):
    """im2col of ``x (N, C, D, H, W)`` zero-padded to ``padded`` (``lo`` leading) into
    ``cols (N, C*K, L)``, or with ``fold`` its adjoint col2im: ``cols`` summed into
    ``x``. Each plane goes through a padded buffer whose border stays zero, so no pass
    pads or crops; flat unsigned indices let LLVM vectorise the row copies (signed
    ones carry a negative-index check). Serial: parallel threads contend with BLAS's."""
    n, c = x.shape[:2]
    kd, kh, kw = kernel
    od, oh, ow = out
    _, ph, pw = padded
    u = np.uint64
    sw, taps, length = u(stride[2]), kd * kh * kw, u(od * oh * ow)
    buf = np.zeros(padded[0] * ph * pw, dtype=x.dtype)
    xf, cf = x.reshape(-1), cols.reshape(-1)
    plane, origin = x.shape[2] * x.shape[3] * x.shape[4], (lo[0] * ph + lo[1]) * pw + lo[2]
    for b in range(n):
        for ch in range(c):
            start = (b * c + ch) * plane
            if fold:
                buf[:] = 0
            else:
                copy_plane(xf, start, x.shape[2:], buf, origin, ph, pw, True)
            for i in range(kd):
                for j in range(kh):
                    for k in range(kw):
                        dst = u((b * c + ch) * taps + (i * kh + j) * kw + k) * length
                        for z in range(od):
                            zi = z * stride[0] + i * dil[0]
                            for y in range(oh):
                                src = u((zi * ph + y * stride[1] + j * dil[1]) * pw
                                        + k * dil[2])
                                if fold:
                                    for o in range(u(ow)):
                                        buf[src + o * sw] += cf[dst + o]
                                else:
                                    for o in range(u(ow)):
                                        cf[dst + o] = buf[src + o * sw]
                                dst += u(ow)
            if fold:
                copy_plane(xf, start, x.shape[2:], buf, origin, ph, pw, False)

@numba.njit(cache=True)
def max_pool(planes, td, th, tw, values, indices):
    """Max over windows given per dim (``-1`` outside the input), a row of outputs at
    a time. torch's rule: start at the first valid position; a NaN always wins."""
    size_h, size_w = planes.shape[2:]
    for p in range(planes.shape[0]):
        for z in range(td.shape[0]):
            for y in range(th.shape[0]):
                values[p, z, y] = -np.inf
                indices[p, z, y] = -1
                for i in range(td.shape[1]):
                    for j in range(th.shape[1]):
                        zi, yi = td[z, i], th[y, j]
                        if zi < 0 or yi < 0:
                            continue
                        base = (zi * size_h + yi) * size_w
                        for k in range(tw.shape[1]):
                            for x in range(tw.shape[0]):
                                xi = tw[x, k]
                                if xi < 0:
                                    continue
                                v = planes[p, zi, yi, xi]
                                best = values[p, z, y, x]
                                if indices[p, z, y, x] < 0 or v > best or v != v:
                                    values[p, z, y, x] = v
                                    indices[p, z, y, x] = base + xi

@numba.njit(cache=True)
def scatter_planes(g, indices, out):
    for p in range(g.shape[0]):
        out[p] = 0
        for o in range(g.shape[1]):
            out[p, indices[p, o]] += g[p, o]
