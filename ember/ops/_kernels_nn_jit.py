"""The Numba kernels of ``_kernels_nn``: im2col/col2im, direct depthwise convolution (forward,
input and weight gradients), max and average pooling with their backward passes.

Defined at module level, not in a function: a jitted function that closes over another
one gets a new cache key in every process, so Numba's on-disk cache never hit and each
process recompiled them (about 1.5 s on the first convolution). Imported on first use by
``_kernels_nn._numba()``, never by ``import ember``.

Every kernel works on 3-D geometry (1-D and 2-D problems have leading size-1 dims) and
runs independent planes in ``prange``; the caller sets Numba's thread count per call (one
thread for small work, where waking a second thread costs more than it saves). Flat
unsigned indices let LLVM vectorise the row loops (signed ones carry a negative-index
check).
"""

from __future__ import annotations

import numba
import numpy as np

from .._threads import sync_numba

sync_numba()  # ember's thread count, before a parallel kernel runs

CHUNKS = 64  # the depthwise kernels' planes in this many chunks, each with one padded
# buffer (a buffer per plane: 2048 allocations for 16x16 planes took a sixth of the time)

# modes of ``plane_taps``
IM2COL, COL2IM, DW_FORWARD, DW_INPUT_GRAD, DW_WEIGHT_GRAD = range(5)


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
def plane_taps(buf, rows, row0, tap_stride, wts, acc, kernel, stride, dil, out, padded, mode):
    """The loops every convolution kernel shares: for each kernel tap and output row, the
    contiguous row of flat ``rows`` (tap ``t``'s plane of output positions starts at
    ``row0 + t * tap_stride``) against the strided row of the zero-padded plane ``buf``.

    ``IM2COL``: rows = buf; ``COL2IM``: buf += rows; ``DW_FORWARD``: rows += wts[t] * buf;
    ``DW_INPUT_GRAD``: buf += wts[t] * rows; ``DW_WEIGHT_GRAD``: acc[t] += rows * buf
    (per output column: the lanes are summed by the caller)."""
    kd, kh, kw = kernel
    od, oh, ow = out
    ph, pw = padded[1], padded[2]
    u = np.uint64
    sw = u(stride[2])
    for i in range(kd):
        for j in range(kh):
            for k in range(kw):
                t = (i * kh + j) * kw + k
                dst = u(row0 + t * tap_stride)
                wv = wts[t]
                for z in range(od):
                    zi = z * stride[0] + i * dil[0]
                    for y in range(oh):
                        src = u((zi * ph + y * stride[1] + j * dil[1]) * pw + k * dil[2])
                        if mode == IM2COL:
                            for o in range(u(ow)):
                                rows[dst + o] = buf[src + o * sw]
                        elif mode == COL2IM:
                            for o in range(u(ow)):
                                buf[src + o * sw] += rows[dst + o]
                        elif mode == DW_FORWARD:
                            for o in range(u(ow)):
                                rows[dst + o] += wv * buf[src + o * sw]
                        elif mode == DW_INPUT_GRAD:
                            for o in range(u(ow)):
                                buf[src + o * sw] += wv * rows[dst + o]
                        else:
                            for o in range(u(ow)):
                                acc[t, o] += rows[dst + o] * buf[src + o * sw]
                        dst += u(ow)


@numba.njit(parallel=True, cache=True)
def unfold(x, cols, kernel, stride, lo, dil, out, padded, row_stride, sample_stride, fold):
    """im2col of ``x (N, C, D, H, W)`` zero-padded to ``padded`` (``lo`` leading) into
    flat ``cols``: row ``c*K + tap`` of sample ``b`` starts at ``(c*K + tap) * row_stride
    + b * sample_stride`` and holds the ``L`` output positions. With ``fold``, the adjoint
    col2im: ``cols`` summed into ``x``. Each plane goes through a padded buffer whose
    border stays zero, so no pass pads or crops. Parallel over (sample, channel) planes."""
    n, c = x.shape[:2]
    taps = kernel[0] * kernel[1] * kernel[2]
    xf, cf = x.reshape(-1), cols.reshape(-1)
    plane = x.shape[2] * x.shape[3] * x.shape[4]
    origin = (lo[0] * padded[1] + lo[1]) * padded[2] + lo[2]
    unit = np.zeros(taps, dtype=x.dtype)
    lanes = np.zeros((1, 1), dtype=x.dtype)
    for job in numba.prange(n * c):
        b, ch = job // c, job % c
        buf = np.zeros(padded[0] * padded[1] * padded[2], dtype=x.dtype)
        if not fold:
            copy_plane(xf, job * plane, x.shape[2:], buf, origin, padded[1], padded[2], True)
        plane_taps(buf, cf, ch * taps * row_stride + b * sample_stride, row_stride, unit, lanes,
                   kernel, stride, dil, out, padded, COL2IM if fold else IM2COL)
        if fold:
            copy_plane(xf, job * plane, x.shape[2:], buf, origin, padded[1], padded[2], False)


@numba.njit(cache=True)
def tap_offsets(kernel, dil, padded):
    """Where each kernel tap reads in a flat padded plane, relative to its output position
    laid out with the plane's pitches (``(z * ph + y) * pw + x``)."""
    ph, pw = padded[1], padded[2]
    offs = np.empty(kernel[0] * kernel[1] * kernel[2], dtype=np.int64)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            for k in range(kernel[2]):
                offs[(i * kernel[1] + j) * kernel[2] + k] = \
                    (i * dil[0] * ph + j * dil[1]) * pw + k * dil[2]
    return offs


@numba.njit(cache=True, fastmath={"contract"})
def taps_flat(src, base, dst, n, wts, offs):
    """``dst[i] += sum_t wts[t] * src[base + offs[t] + i]`` for ``i < n``, three taps a pass
    (fused multiply-adds allowed): one contiguous loop per pass over an output plane laid
    out with the padded plane's pitch (the columns between its rows computed and
    dropped), which LLVM vectorises also for small maps (a loop per output row of 8 or 16
    ran scalar), ``dst`` loaded and stored a third as often as one tap a pass."""
    u = np.uint64
    count = offs.shape[0]
    t = 0
    while t < count:
        o0 = u(base + offs[t])
        a = wts[t]
        if count - t >= 3:
            o1, o2 = u(base + offs[t + 1]), u(base + offs[t + 2])
            b, c = wts[t + 1], wts[t + 2]
            for i in range(u(n)):
                dst[i] += a * src[o0 + i] + b * src[o1 + i] + c * src[o2 + i]
            t += 3
        elif count - t == 2:
            o1 = u(base + offs[t + 1])
            b = wts[t + 1]
            for i in range(u(n)):
                dst[i] += a * src[o0 + i] + b * src[o1 + i]
            t += 2
        else:
            for i in range(u(n)):
                dst[i] += a * src[o0 + i]
            t += 1


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def dots_flat(a, src, n, offs, sums):
    """``sums[t] += sum_i a[i] * src[offs[t] + i]`` for ``i < n``, three taps a pass (sums
    reassociated into vector lanes): the weight gradient's counterpart of ``taps_flat``."""
    u = np.uint64
    zero = sums.dtype.type(0)
    count = offs.shape[0]
    t = 0
    while t < count:
        o0 = u(offs[t])
        if count - t >= 3:
            o1, o2 = u(offs[t + 1]), u(offs[t + 2])
            s0, s1, s2 = zero, zero, zero
            for i in range(u(n)):
                v = a[i]
                s0 += v * src[o0 + i]
                s1 += v * src[o1 + i]
                s2 += v * src[o2 + i]
            sums[t] += s0
            sums[t + 1] += s1
            sums[t + 2] += s2
            t += 3
        else:
            s0 = zero
            for i in range(u(n)):
                s0 += a[i] * src[o0 + i]
            sums[t] += s0
            t += 1


@numba.njit(cache=True)
def flat_ok(stride, out):
    """Whether the depthwise kernels take ``taps_flat`` (else ``plane_taps``): stride 1,
    or in rows and columns 2 with output rows under 32 wide -- the windows at every input
    position computed (a stride-2 plane's four times the work: still faster than rows of
    8-16 strided values one at a time)."""
    if stride[0] != 1:
        return False
    if stride[1] == 1 and stride[2] == 1:
        return True
    return stride[1] <= 2 and stride[2] <= 2 and out[2] < 32


@numba.njit(parallel=True, cache=True)
def depthwise_forward(x, w, y, stride, lo, dil, padded):
    """``y (N, O, *out)`` of a convolution whose groups each read one input channel:
    output channel ``o`` convolves channel ``o // (O/C)`` with ``w[o]`` (``w (O, K)``)."""
    n, c = x.shape[:2]
    o_count = y.shape[1]
    mult = o_count // c
    kernel, out = (w.shape[2], w.shape[3], w.shape[4]), y.shape[2:]
    length = out[0] * out[1] * out[2]
    wf = w.reshape(o_count, -1)
    xf, yf = x.reshape(-1), y.reshape(-1)
    plane = x.shape[2] * x.shape[3] * x.shape[4]
    origin = (lo[0] * padded[1] + lo[1]) * padded[2] + lo[2]
    lanes = np.zeros((1, 1), dtype=x.dtype)
    jobs = n * o_count
    parts = min(jobs, CHUNKS)
    # flat_ok: each depth slice of output one taps_flat loop over the padded plane's
    # pitch, the windows at a stride picked from it after
    flat = flat_ok(stride, out)
    offs = tap_offsets(kernel, dil, padded)
    ph, pw = padded[1], padded[2]
    sh, sw = stride[1], stride[2]
    span = (out[1] - 1) * sh * pw + (out[2] - 1) * sw + 1
    for part in numba.prange(parts):
        # a padded buffer per chunk of planes: its border stays zero
        buf = np.zeros(padded[0] * padded[1] * padded[2], dtype=x.dtype)
        acc = np.empty(span, dtype=x.dtype)
        for job in range(jobs * part // parts, jobs * (part + 1) // parts):
            b, oc = job // o_count, job % o_count
            copy_plane(xf, (b * c + oc // mult) * plane, x.shape[2:], buf, origin, padded[1],
                       padded[2], True)
            if not flat:
                yf[job * length:(job + 1) * length] = 0
                plane_taps(buf, yf, job * length, 0, wf[oc], lanes, kernel, stride, dil, out,
                           padded, DW_FORWARD)
                continue
            for z in range(out[0]):
                acc[:] = 0
                taps_flat(buf, z * ph * pw, acc, span, wf[oc], offs)
                at = job * length + z * out[1] * out[2]
                for y in range(out[1]):
                    first = y * sh * pw
                    if sw == 1:  # (a slice with a runtime step of 1 ran 2x slower)
                        yf[at + y * out[2]:at + (y + 1) * out[2]] = \
                            acc[first:first + out[2]]
                    else:
                        yf[at + y * out[2]:at + (y + 1) * out[2]] = \
                            acc[first:first + (out[2] - 1) * sw + 1:sw]


@numba.njit(parallel=True, cache=True)
def depthwise_input_grad(g, w, x, stride, lo, dil, padded):
    """The adjoint of ``depthwise_forward`` in its input: ``x`` is written."""
    n, c = x.shape[:2]
    o_count = g.shape[1]
    mult = o_count // c
    kernel, out = (w.shape[2], w.shape[3], w.shape[4]), g.shape[2:]
    length = out[0] * out[1] * out[2]
    wf = w.reshape(o_count, -1)
    xf, gf = x.reshape(-1), g.reshape(-1)
    plane = x.shape[2] * x.shape[3] * x.shape[4]
    origin = (lo[0] * padded[1] + lo[1]) * padded[2] + lo[2]
    lanes = np.zeros((1, 1), dtype=x.dtype)
    jobs = n * c
    parts = min(jobs, CHUNKS)
    # flat_ok, the adjoint of depthwise_forward's flat loop: buf[q] = sum_t w[t] *
    # g[q - offs[t]], g laid out at its windows' positions in the padded pitch after
    # ``front`` zeros (zero elsewhere): taps_flat with the kernel turned
    flat = flat_ok(stride, out)
    ph, pw = padded[1], padded[2]
    sh, sw = stride[1], stride[2]
    size = padded[0] * ph * pw
    offs = tap_offsets(kernel, dil, padded)
    front = offs[-1]
    turned = front - offs[::-1]
    for part in numba.prange(parts):
        buf = np.empty(size, dtype=x.dtype)  # one per chunk
        gp = np.zeros(front + size if flat else 0, dtype=x.dtype)
        for job in range(jobs * part // parts, jobs * (part + 1) // parts):
            b, ch = job // c, job % c
            buf[:] = 0
            for oc in range(ch * mult, (ch + 1) * mult):
                at = (b * o_count + oc) * length
                if not flat:
                    plane_taps(buf, gf, at, 0, wf[oc], lanes, kernel, stride, dil, out,
                               padded, DW_INPUT_GRAD)
                    continue
                for z in range(out[0]):
                    for y in range(out[1]):
                        row = at + (z * out[1] + y) * out[2]
                        dst = front + (z * ph + y * sh) * pw
                        if sw == 1:  # (see depthwise_forward)
                            gp[dst:dst + out[2]] = gf[row:row + out[2]]
                        else:
                            gp[dst:dst + (out[2] - 1) * sw + 1:sw] = gf[row:row + out[2]]
                taps_flat(gp, 0, buf, size, wf[oc][::-1], turned)
            copy_plane(xf, job * plane, x.shape[2:], buf, origin, padded[1], padded[2], False)


@numba.njit(parallel=True, cache=True)
def depthwise_weight_grad(x, g, w, stride, lo, dil, padded):
    """The adjoint of ``depthwise_forward`` in its weight: ``w (O, 1, *kernel)`` is
    written; per output channel, lanes of partial sums over samples and rows."""
    n, c = x.shape[:2]
    o_count = g.shape[1]
    mult = o_count // c
    kernel, out = (w.shape[2], w.shape[3], w.shape[4]), g.shape[2:]
    taps = kernel[0] * kernel[1] * kernel[2]
    length = out[0] * out[1] * out[2]
    wf = w.reshape(o_count, -1)
    xf, gf = x.reshape(-1), g.reshape(-1)
    plane = x.shape[2] * x.shape[3] * x.shape[4]
    origin = (lo[0] * padded[1] + lo[1]) * padded[2] + lo[2]
    unit = np.zeros(taps, dtype=x.dtype)
    # flat_ok: per sample one dots_flat pass of g, laid out at its windows' positions in
    # the padded pitch (zero elsewhere), against the padded plane
    flat = flat_ok(stride, out)
    ph, pw = padded[1], padded[2]
    sh, sw = stride[1], stride[2]
    offs = tap_offsets(kernel, dil, padded)
    span = ((out[0] - 1) * ph + (out[1] - 1) * sh) * pw + (out[2] - 1) * sw + 1
    for oc in numba.prange(o_count):
        buf = np.zeros(padded[0] * padded[1] * padded[2], dtype=x.dtype)
        lanes = np.zeros((taps, out[2]), dtype=x.dtype)
        gp = np.zeros(span if flat else 0, dtype=x.dtype)
        sums = np.zeros(taps, dtype=x.dtype)
        for b in range(n):
            copy_plane(xf, (b * c + oc // mult) * plane, x.shape[2:], buf, origin, padded[1],
                       padded[2], True)
            at = (b * o_count + oc) * length
            if not flat:
                plane_taps(buf, gf, at, 0, unit, lanes, kernel, stride, dil, out, padded,
                           DW_WEIGHT_GRAD)
                continue
            for z in range(out[0]):
                for y in range(out[1]):
                    row = at + (z * out[1] + y) * out[2]
                    dst = (z * ph + y * sh) * pw
                    if sw == 1:  # (see depthwise_forward)
                        gp[dst:dst + out[2]] = gf[row:row + out[2]]
                    else:
                        gp[dst:dst + (out[2] - 1) * sw + 1:sw] = gf[row:row + out[2]]
            dots_flat(gp, buf, span, offs, sums)
        for t in range(taps):
            wf[oc, t] = lanes[t].sum() + sums[t]


@numba.njit(parallel=True, cache=True)
def max_pool(planes, td, th, tw, values, indices):
    """Max over windows given per dim (``(out_i, k_i)`` positions, ``-1`` outside the
    input), a row of outputs at a time, parallel over planes. torch's rule: start at the
    first valid position; later values win when larger, a NaN always wins."""
    size_h, size_w = planes.shape[2:]
    for p in numba.prange(planes.shape[0]):
        for z in range(td.shape[0]):
            for y in range(th.shape[0]):
                best = values[p, z, y]
                arg = indices[p, z, y]
                best[:] = -np.inf
                arg[:] = -1
                for i in range(td.shape[1]):
                    for j in range(th.shape[1]):
                        zi, yi = td[z, i], th[y, j]
                        if zi < 0 or yi < 0:
                            continue
                        row = planes[p, zi, yi]
                        base = (zi * size_h + yi) * size_w
                        for k in range(tw.shape[1]):
                            for x in range(tw.shape[0]):
                                xi = tw[x, k]
                                if xi < 0:
                                    continue
                                v = row[xi]
                                if v > best[x] or v != v or arg[x] < 0:
                                    best[x] = v
                                    arg[x] = base + xi


@numba.njit(cache=True)
def _running_max(best, arg, o0, vals, v0, n, a0, step):
    """``best[o0 + x]``/``arg[o0 + x]`` for ``x < n`` updated by ``vals[v0 + x]`` at flat
    position ``a0 + x * step``, by torch's rule (a larger value or a NaN wins; an unset
    ``arg`` (-1) takes any value): selects, no branch, unsigned indices into flat arrays
    (no slice per call: for short rows that cost more than the work), so it vectorises."""
    u = np.uint64
    for x in range(u(n)):
        v = vals[u(v0) + x]
        b = best[u(o0) + x]
        a = arg[u(o0) + x]
        wins = (v > b) | (v != v) | (a < 0)
        best[u(o0) + x] = v if wins else b
        arg[u(o0) + x] = (a0 + np.int64(x) * step) if wins else a


@numba.njit(cache=True)
def _gather(dest, d0, src, s0, n, step):
    """``dest[d0 + x] = src[s0 + x * step]`` for ``x < n`` (unsigned indices)."""
    u = np.uint64
    for x in range(u(n)):
        dest[u(d0) + x] = src[u(s0) + x * u(step)]


@numba.njit(parallel=True, cache=True)
def max_pool_regular(planes, kernel, stride, dil, pad, values, indices):
    """``max_pool`` of regular windows, the window of output ``o`` starting at
    ``o * stride - pad`` along each dim (positions outside the input skipped): positions
    computed, not read from tables, and each window position compared across the row of
    outputs whose windows hold it inside the input at once (``_running_max``; with a
    stride, its inputs gathered into a contiguous buffer first). Same rule as
    ``max_pool``; 2-4x less CPU."""
    n_planes, size_d, size_h, size_w = planes.shape
    od, oh, ow = values.shape[1:]
    sw = stride[2]
    flat_in = planes.reshape(-1)
    best = values.reshape(-1)
    arg = indices.reshape(-1)
    best[:] = -np.inf
    arg[:] = -1
    bufs = np.empty(n_planes * ow, planes.dtype)
    for p in numba.prange(n_planes):
        for z in range(od):
            for y in range(oh):
                out = ((p * od + z) * oh + y) * ow
                for i in range(kernel[0]):
                    zi = z * stride[0] - pad[0] + i * dil[0]
                    if zi < 0 or zi >= size_d:
                        continue
                    for j in range(kernel[1]):
                        yi = y * stride[1] - pad[1] + j * dil[1]
                        if yi < 0 or yi >= size_h:
                            continue
                        base = (zi * size_h + yi) * size_w
                        row = p * size_d * size_h * size_w + base
                        for k in range(kernel[2]):
                            shift = k * dil[2] - pad[2]  # input x = x * stride + shift
                            x0 = max(0, (sw - 1 - shift) // sw)
                            x1 = min(ow, (size_w - 1 - shift) // sw + 1)
                            if x1 <= x0:
                                continue
                            a0 = base + x0 * sw + shift
                            if sw == 1:
                                _running_max(best, arg, out + x0, flat_in, row + x0 + shift,
                                             x1 - x0, a0, 1)
                            else:
                                _gather(bufs, p * ow, flat_in, row + x0 * sw + shift,
                                        x1 - x0, sw)
                                _running_max(best, arg, out + x0, bufs, p * ow, x1 - x0, a0,
                                             sw)


@numba.njit(parallel=True, cache=True)
def scatter_planes(g, indices, out):
    """``out[p, indices[p, o]] += g[p, o]`` into zeroed planes, parallel over planes."""
    for p in numba.prange(g.shape[0]):
        out[p] = 0
        for o in range(g.shape[1]):
            out[p, indices[p, o]] += g[p, o]


@numba.njit(parallel=True, cache=True)
def avg_pool(planes, td, th, tw, divisors, out, backward):
    """Window sums of ``planes (P, D, H, W)`` over the windows given per dim (``-1``
    outside the input) divided by ``divisors (oD, oH, oW)`` into ``out``; with
    ``backward`` the adjoint: ``out`` (the gradient of the output) divided and spread
    back over each window into ``planes`` (written)."""
    for p in numba.prange(planes.shape[0]):
        if backward:
            planes[p] = 0
        for z in range(td.shape[0]):
            for y in range(th.shape[0]):
                res = out[p, z, y]
                if not backward:
                    res[:] = 0
                for i in range(td.shape[1]):
                    for j in range(th.shape[1]):
                        zi, yi = td[z, i], th[y, j]
                        if zi < 0 or yi < 0:
                            continue
                        row = planes[p, zi, yi]
                        for k in range(tw.shape[1]):
                            for x in range(tw.shape[0]):
                                xi = tw[x, k]
                                if xi < 0:
                                    continue
                                if backward:
                                    row[xi] += res[x] / divisors[z, y, x]
                                else:
                                    res[x] += row[xi]
                if not backward:
                    res /= divisors[z, y]
