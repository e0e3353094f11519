"""Numba kernels of the transformer's hot ops: GELU and SiLU (forward and backward),
softmax and log_softmax over rows (with attention's scale and mask), cross-entropy's row
log-sum-exp, and the embedding backward (the norms are in ``_kernels_norm``, attention's
fused kernels in ``_kernels_attention``).

Imported lazily by the ops that use them (Numba is never imported by ``import ember``);
compiled once and cached on disk. Each parallel kernel splits its work into one span per
thread; the ``*_span`` / ``*_rows`` functions do one span and are called directly (serially)
for inputs too small to be worth waking the thread pool.

For float32, softmax, GELU (erf form) and SiLU evaluate ``exp``/``erf`` in float32
arithmetic (``expf``, ``erff`` below: vectorised, 8 SIMD lanes) and the tanh-form GELU
with ``_kernels_math``'s float64 approximations; float64 uses libm. The NumPy references
are in ``tests/test_kernels_transformer.py``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from .._threads import sync_numba
from ._kernels_math import _ERF_P, _ERF_Q, erf, exp, sigmoid, tanh
from ._parallel import threads_for

sync_numba()

# reassociation lets LLVM vectorise the row sums; no "nnan"/"ninf", so NaN and inf propagate
_FLAGS = dict(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz", "arcp"})
# Elements below which one thread does the work (a pass over 64K float32 elements takes
# ~0.05-0.1 ms, a parallel region's start ~0.01 ms). On a busy machine every call runs on
# one thread (``_parts``): a parallel region can then wait a whole scheduler slice
# (~10 ms) for a descheduled worker.
_PARALLEL_MIN = 1 << 16

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715


# ---- elementwise activations (1-D contiguous arrays) ------------------------------------

@numba.njit(inline="always")
def _gelu_value(x, tanh_form):
    if tanh_form:
        return 0.5 * x * (1.0 + tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x), x))
    return 0.5 * x * (1.0 + erf(x * _SQRT_HALF, x))


@numba.njit(inline="always")
def _gelu_grad(x, tanh_form):
    if tanh_form:
        t = tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x), x)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (
            1.0 + 3.0 * _KAPPA * x * x)
    return 0.5 * (1.0 + erf(x * _SQRT_HALF, x)) + x * exp(-0.5 * x * x, x) * _INV_SQRT_2PI


# ---- exp and erf in the input's own precision ------------------------------------------
# ``_kernels_math`` evaluates float32 in float64 (half the SIMD lanes). Softmax, whose
# time is mostly its exps, GELU and SiLU evaluate float32 in float32, as torch's kernels
# do.
# exp: Cody-Waite
# reduction by ln 2 split in two, a degree-5 polynomial (torch's ``exp_u20``
# coefficients), 2**k built from bits: within 2 ulp from 2**-125 up; results below that
# flush to 0 (softmax's and log_softmax's exps are of values <= 0, so the flushed ones
# are below 1e-37 of the row's largest). Loops calling it are compiled without
# reassociation (``_EXACT``), which would merge the two parts of ln 2.
_EXACT = dict(cache=True, error_model="numpy", fastmath={"contract", "nsz"})
_F32 = np.float32
_LOG2E_F = _F32(1.0 / math.log(2.0))
_LN2_HI_F, _LN2_LO_F = _F32(0.693359375), _F32(-2.12194440e-4)
_EXPF_P = tuple(_F32(c) for c in (0.00138436, 0.0083742, 0.041668, 0.16666431, 0.49999994,
                                   1.00000003, 1.0))
_EXPF_LO, _EXPF_HI = _F32(-86.64), _F32(88.72283)  # flushed to 0 below, inf above


@numba.njit(inline="always")
def expf(y):
    """exp of a float32 in float32 arithmetic (vectorises: selects, no libm); NaN stays
    NaN."""
    z = _EXPF_HI if y > _EXPF_HI else y
    z = _EXPF_LO if z < _EXPF_LO else z
    k = np.floor(z * _LOG2E_F + _F32(0.5))
    r = (z - k * _LN2_HI_F) - k * _LN2_LO_F
    p = _EXPF_P[0]
    for c in _EXPF_P[1:]:
        p = p * r + c
    e = p * np.int32((np.int32(k) + 126) << 23).view(_F32) * _F32(2.0)  # (k <= 128)
    e = _F32(0.0) if y < _EXPF_LO else e
    return _F32(np.inf) if y > _EXPF_HI else e


def exp_own(y):
    """exp in ``y``'s precision: ``expf`` for float32, libm for float64."""


@overload(exp_own, inline="always")
def _exp_own(y):
    return (lambda y: expf(y)) if y == types.float32 else (lambda y: math.exp(y))


# erf: ``_kernels_math``'s rational fit evaluated in float32 (within 3e-7 absolutely),
# exactly +-1 beyond 4
_ERF_P_F = tuple(_F32(c) for c in _ERF_P)
_ERF_Q_F = tuple(_F32(c) for c in _ERF_Q)


@numba.njit(inline="always")
def erff(x):
    """erf of a float32 in float32 arithmetic; NaN stays NaN."""
    u = x * x
    p = _ERF_P_F[-1]
    for c in _ERF_P_F[-2::-1]:
        p = p * u + c
    q = _ERF_Q_F[-1]
    for c in _ERF_Q_F[-2::-1]:
        q = q * u + c
    r = x * p / q
    r = _F32(1.0) if r > _F32(1.0) else r
    r = _F32(-1.0) if r < _F32(-1.0) else r
    r = _F32(1.0) if x > _F32(4.0) else r
    return _F32(-1.0) if x < _F32(-4.0) else r


def sigmoid_own(x):
    """``1 / (1 + exp(-x))`` in ``x``'s precision (``expf`` for float32)."""


@overload(sigmoid_own, inline="always")
def _sigmoid_own(x):
    if x != types.float32:
        return lambda x: sigmoid(x, x)
    return lambda x: _F32(1.0) / (_F32(1.0) + expf(-x))


def gelu_own(x):
    """GELU (erf form) in ``x``'s precision."""


def gelu_grad_own(x):
    """GELU's (erf form) derivative in ``x``'s precision."""


@overload(gelu_own, inline="always")
def _gelu_own(x):
    if x != types.float32:
        return lambda x: _gelu_value(x, False)
    half, root_half = _F32(0.5), _F32(_SQRT_HALF)
    return lambda x: half * x * (_F32(1.0) + erff(x * root_half))


@overload(gelu_grad_own, inline="always")
def _gelu_grad_own(x):
    if x != types.float32:
        return lambda x: _gelu_grad(x, False)
    half, root_half, inv_root_2pi = _F32(0.5), _F32(_SQRT_HALF), _F32(_INV_SQRT_2PI)
    return lambda x: half * (_F32(1.0) + erff(x * root_half)) + \
        x * expf(-half * x * x) * inv_root_2pi



# The activations by number: the kind is tested once per call, outside the loops, so that
# each loop vectorises.
GELU, GELU_TANH, SILU = 0, 1, 2
_KINDS = {"gelu": GELU, "gelu_tanh": GELU_TANH, "silu": SILU}


@numba.njit(**_EXACT)
def activation_span(x, out, kind):
    """``out = f(x)`` for the activation ``kind`` over 1-D arrays."""
    if kind == GELU:
        for i in range(x.shape[0]):
            out[i] = gelu_own(x[i])
    elif kind == GELU_TANH:
        for i in range(x.shape[0]):
            out[i] = _gelu_value(x[i], True)
    else:
        for i in range(x.shape[0]):
            out[i] = x[i] * sigmoid_own(x[i])


@numba.njit(**_EXACT)
def activation_backward_span(g, x, out, kind):
    """``out = g * f'(x)`` for the activation ``kind`` over 1-D arrays."""
    if kind == GELU:
        for i in range(x.shape[0]):
            out[i] = g[i] * gelu_grad_own(x[i])
    elif kind == GELU_TANH:
        for i in range(x.shape[0]):
            out[i] = g[i] * _gelu_grad(x[i], True)
    else:
        one = x.dtype.type(1.0)
        for i in range(x.shape[0]):
            s = sigmoid_own(x[i])
            out[i] = g[i] * (s * (one + x[i] * (one - s)))


@numba.njit(parallel=True, **_EXACT)
def _activation_parallel(x, out, kind, parts):
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for p in prange(parts):
        lo, hi = p * step, min(n, (p + 1) * step)
        activation_span(x[lo:hi], out[lo:hi], kind)


@numba.njit(parallel=True, **_EXACT)
def _activation_backward_parallel(g, x, out, kind, parts):
    n = x.shape[0]
    step = (n + parts - 1) // parts
    for p in prange(parts):
        lo, hi = p * step, min(n, (p + 1) * step)
        activation_backward_span(g[lo:hi], x[lo:hi], out[lo:hi], kind)


def _parts(work: int) -> int:
    """Spans (threads) for ``work`` elements: one when small or when the machine is busy
    (``_parallel.threads_for``)."""
    n = threads_for(work, _PARALLEL_MIN)
    return 1 if n == 1 else min(n, numba.get_num_threads())  # (asking starts Numba's pool)


def activation(x: np.ndarray, name: str) -> np.ndarray:
    """The activation ``name`` ("gelu", "gelu_tanh", "silu") of a C-contiguous float32 or
    float64 array."""
    kind = _KINDS[name]
    out = np.empty_like(x)
    flat, flat_out = x.reshape(-1), out.reshape(-1)
    parts = _parts(flat.size)
    if parts == 1:
        activation_span(flat, flat_out, kind)
    else:
        _activation_parallel(flat, flat_out, kind, parts)
    return out


def activation_backward(g: np.ndarray, x: np.ndarray, name: str) -> np.ndarray:
    """``g * f'(x)`` for the activation ``name``; C-contiguous arrays of one dtype and shape."""
    kind = _KINDS[name]
    out = np.empty_like(x)
    flat_g, flat, flat_out = g.reshape(-1), x.reshape(-1), out.reshape(-1)
    parts = _parts(flat.size)
    if parts == 1:
        activation_backward_span(flat_g, flat, flat_out, kind)
    else:
        _activation_backward_parallel(flat_g, flat, flat_out, kind, parts)
    return out


# Row helpers take a 2-D array and a row index rather than a row: each slice Numba makes
# costs a reference count increment and decrement, as much as a short row's pass.

@numba.njit(**_EXACT)
def _exp_shifted(src, r, m, dest):
    """``dest = exp(src[r] - m)`` (``dest`` 1-D, not ``src``: an aliased loop does not
    vectorise)."""
    for j in range(src.shape[1]):
        dest[j] = exp_own(src[r, j] - m)


@numba.njit(**_EXACT)
def _subtract_twice(a, r, m, lse):
    """``a[r] = (a[r] - m) - lse`` in this order (as torch: reassociated, ``m + lse`` would
    round at ``m``'s scale)."""
    for j in range(a.shape[1]):
        a[r, j] = (a[r, j] - m) - lse


@numba.njit(**_FLAGS)
def _sum_own(a):
    """``sum(a)`` of the 1-D ``a`` in its precision (vectorised partial sums, as torch)."""
    total = a.dtype.type(0.0)
    for j in range(a.shape[0]):
        total += a[j]
    return total


@numba.njit(**_FLAGS)
def _row_max(a, r):
    """The largest element of row ``r`` of ``a``, from 8 running maxima (LLVM vectorises
    no max-reduction; independent ones at least run in parallel). A NaN may be skipped:
    the softmax passes after it turn it back into NaN."""
    n = a.shape[1]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = a.dtype.type(-np.inf)
    for j in range(0, n - n % 8, 8):
        m0 = a[r, j] if a[r, j] > m0 else m0
        m1 = a[r, j + 1] if a[r, j + 1] > m1 else m1
        m2 = a[r, j + 2] if a[r, j + 2] > m2 else m2
        m3 = a[r, j + 3] if a[r, j + 3] > m3 else m3
        m4 = a[r, j + 4] if a[r, j + 4] > m4 else m4
        m5 = a[r, j + 5] if a[r, j + 5] > m5 else m5
        m6 = a[r, j + 6] if a[r, j + 6] > m6 else m6
        m7 = a[r, j + 7] if a[r, j + 7] > m7 else m7
    for j in range(n - n % 8, n):
        m0 = a[r, j] if a[r, j] > m0 else m0
    return max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))


@numba.njit(**_FLAGS)
def softmax_rows(x, out, scale, mask, safe, log, inplace, lo, hi):
    """Rows ``lo:hi``: ``out = softmax(x * scale + mask)`` (``log``: log_softmax), the max
    subtracted first, in ``x``'s precision (as torch); ``mask`` None or (M, N), row ``r``
    taking mask row ``r % M``. With ``safe``, a row that is all ``-inf`` gives zeros
    (attention's rows with nothing to attend to), else NaN as the formula; ``inplace``:
    ``out`` is ``x``. Each pass is
    its own loop (so that each vectorises), called from here directly (behind a second
    call level they ran 40% slower)."""
    n = x.shape[1]
    t = x.dtype.type
    buf = np.empty(n, out.dtype)
    s = t(scale)
    for r in range(lo, hi):
        if inplace:  # (reading ``x`` too, the loop would not vectorise: see _exp_shifted)
            if mask is not None:
                mr = r % mask.shape[0]
                for j in range(n):
                    out[r, j] = out[r, j] * s + mask[mr, j]
            elif scale != 1.0:
                for j in range(n):
                    out[r, j] = out[r, j] * s
        elif mask is not None:
            mr = r % mask.shape[0]
            for j in range(n):
                out[r, j] = x[r, j] * s + mask[mr, j]
        elif scale != 1.0:
            for j in range(n):
                out[r, j] = x[r, j] * s
        else:
            for j in range(n):
                out[r, j] = x[r, j]
        m = _row_max(out, r)
        if safe and m == -np.inf:
            for j in range(n):
                out[r, j] = 0.0
            continue
        _exp_shifted(out, r, m, buf)
        total = _sum_own(buf)
        if log:
            _subtract_twice(out, r, m, t(math.log(total)))
        else:
            inv = t(1.0) / total
            for j in range(n):
                out[r, j] = buf[j] * inv


@numba.njit(**_EXACT)
def _log_softmax_grad_row(g, y, out, r, total):
    """``out[r] = g[r] - exp(y[r]) * total``; ``out`` may be ``g`` (the loop reads no other
    element of it, but LLVM's overlap check then keeps it scalar)."""
    for j in range(g.shape[1]):
        out[r, j] = g[r, j] - exp_own(y[r, j]) * total


@numba.njit(**_FLAGS)
def softmax_backward_rows(g, y, out, log, lo, hi):
    """Rows ``lo:hi``: softmax ``out = y * (g - sum(g * y))``; log_softmax
    ``out = g - exp(y) * sum(g)``; sums in float64 (the subtraction cancels: a float32
    sum's rounding would show in small gradients). ``out`` may be ``g``."""
    n = g.shape[1]
    t = g.dtype.type
    for r in range(lo, hi):
        total = 0.0
        if log:
            for j in range(n):
                total += g[r, j]
            _log_softmax_grad_row(g, y, out, r, t(total))
        else:
            for j in range(n):
                total += g[r, j] * y[r, j]
            c = t(total)
            for j in range(n):
                out[r, j] = y[r, j] * (g[r, j] - c)


@numba.njit(parallel=True, **_FLAGS)
def _softmax_parallel(x, out, scale, mask, safe, log, inplace, parts):
    rows = x.shape[0]
    step = (rows + parts - 1) // parts
    for q in prange(parts):
        softmax_rows(x, out, scale, mask, safe, log, inplace, q * step,
                     min(rows, (q + 1) * step))


@numba.njit(parallel=True, **_FLAGS)
def _softmax_backward_parallel(g, y, out, log, parts):
    rows = g.shape[0]
    step = (rows + parts - 1) // parts
    for q in prange(parts):
        softmax_backward_rows(g, y, out, log, q * step, min(rows, (q + 1) * step))


def softmax(x: np.ndarray, log: bool = False, scale: float = 1.0, mask=None,
            safe: bool = False, inplace: bool = False) -> np.ndarray:
    """(log-)softmax of ``x * scale + mask`` over the last dim of a C-contiguous float32 or
    float64 array; ``mask`` None or a C-contiguous (M, N) array of ``x``'s dtype whose rows
    repeat down ``x``'s rows (an attention mask over the batch and heads). ``inplace``:
    written over ``x`` (attention's scores: no second array of their size to fault in)."""
    out = x if inplace else np.empty_like(x)
    n = x.shape[-1]
    flat, flat_out = x.reshape(-1, n), out.reshape(-1, n)
    parts = min(_parts(x.size), flat.shape[0])
    if parts == 1:
        softmax_rows(flat, flat_out, scale, mask, safe, log, inplace, 0, flat.shape[0])
    else:
        _softmax_parallel(flat, flat_out, scale, mask, safe, log, inplace, parts)
    return out


def softmax_backward(g: np.ndarray, y: np.ndarray, log: bool = False, out=None) -> np.ndarray:
    """The gradient of ``softmax`` (or log_softmax) from its output ``y``: C-contiguous
    arrays of one dtype and shape; written into ``out`` (may be ``g``) when given."""
    out = np.empty_like(g) if out is None else out
    n = g.shape[-1]
    flat_g, flat_y, flat_out = g.reshape(-1, n), y.reshape(-1, n), out.reshape(-1, n)
    parts = min(_parts(g.size), flat_g.shape[0])
    if parts == 1:
        softmax_backward_rows(flat_g, flat_y, flat_out, log, 0, flat_g.shape[0])
    else:
        _softmax_backward_parallel(flat_g, flat_y, flat_out, log, parts)
    return out


# ---- cross-entropy: the log-sum-exp of rows -----------------------------------------------

@numba.njit(**_FLAGS)
def logsumexp_rows(x, m, logsum, lo, hi):
    """Rows ``lo:hi``: their max ``m`` and ``logsum = log(sum(exp(x - m)))``, so that
    ``(x - m) - logsum`` is ``softmax_rows``' log_softmax (cross-entropy reads only the
    target's entry of it: the rows' log_softmax is never written)."""
    buf = np.empty(x.shape[1], x.dtype)
    t = x.dtype.type
    for r in range(lo, hi):
        mr = _row_max(x, r)
        _exp_shifted(x, r, mr, buf)
        m[r] = mr
        logsum[r] = t(math.log(_sum_own(buf)))


@numba.njit(parallel=True, **_FLAGS)
def _logsumexp_parallel(x, m, logsum, parts):
    rows = x.shape[0]
    step = (rows + parts - 1) // parts
    for q in prange(parts):
        logsumexp_rows(x, m, logsum, q * step, min(rows, (q + 1) * step))


def log_softmax_at(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``log_softmax(x)[i, index[i]]`` of a C-contiguous float32/float64 (R, N) array (as
    ``softmax(x, log=True)`` computes it), without the (R, N) log_softmax."""
    rows = x.shape[0]
    m, logsum = np.empty(rows, x.dtype), np.empty(rows, x.dtype)
    parts = min(_parts(x.size), rows)
    if parts == 1:
        logsumexp_rows(x, m, logsum, 0, rows)
    else:
        _logsumexp_parallel(x, m, logsum, parts)
    return (x[np.arange(rows), index] - m) - logsum


# ---- embedding backward ------------------------------------------------------------------

@numba.njit(**_FLAGS)
def embedding_backward(g, idx, out):
    """``out[idx[i]] += g[i]`` for each row ``i`` of the (L, D) gradient, in order."""
    d = g.shape[1]
    for i in range(idx.shape[0]):
        k = idx[i]
        for j in range(d):
            out[k, j] += g[i, j]
