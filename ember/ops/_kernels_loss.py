"""CTC loss kernels: the forward (alpha) recursion and the gradient (beta recursion).

All work on float64 ``log_probs`` (T, N, C), padded int64 ``targets`` (N, S), and the
per-sample ``input_lengths`` / ``target_lengths``. The extended label sequence of a
sample is ``l' = (blank, l_1, blank, l_2, ..., l_S, blank)``, of length ``2 * S + 1``.

``ctc_*_numpy`` are the references (loops over time, vectorised over ``l'``); the Numba
kernels (one sample per parallel iteration) are compiled on first use with
``cache=True``. This module is imported lazily by ``loss.py``; Numba only in ``_numba()``.
"""

from __future__ import annotations

import numpy as np

from .._threads import sync_numba

_NUMBA_MIN_WORK = 2048  # T * N * (2S+1) below which NumPy is as fast as a kernel call
_KERNELS = None


def _extended(targets: np.ndarray, length: int, blank: int) -> np.ndarray:
    ext = np.full(2 * length + 1, blank, dtype=np.int64)
    ext[1::2] = targets[:length]
    return ext


def _skip_allowed(ext: np.ndarray, blank: int) -> np.ndarray:
    """Where the transition s-2 -> s is allowed: ``l'_s`` is a label unlike ``l'_{s-2}``."""
    ok = np.zeros(ext.shape, dtype=bool)
    ok[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    return ok


def _shift(v: np.ndarray, k: int) -> np.ndarray:
    """``v`` moved ``k`` places right (left for k < 0), filled with -inf."""
    out = np.full_like(v, -np.inf)
    if k > 0:
        out[k:] = v[:-k]
    else:
        out[:k] = v[-k:]
    return out


def _logsumexp3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    m = np.maximum(np.maximum(a, b), c)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(np.exp(a - m) + np.exp(b - m) + np.exp(c - m)) + m


def ctc_forward_numpy(lp: np.ndarray, targets: np.ndarray, in_len: np.ndarray,
                      tg_len: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """Negative log-likelihoods (N,) and log-alphas (N, T, 2S+1), -inf where unreachable."""
    t_max, n = lp.shape[:2]
    alpha = np.full((n, t_max, 2 * targets.shape[1] + 1), -np.inf)
    nll = np.empty(n)
    for b in range(n):
        il, tl = int(in_len[b]), int(tg_len[b])
        if il == 0:
            nll[b] = 0.0 if tl == 0 else np.inf
            continue
        ext = _extended(targets[b], tl, blank)
        skip = _skip_allowed(ext, blank)
        a = alpha[b, :, :ext.size]
        a[0, 0] = lp[0, b, blank]
        if tl:
            a[0, 1] = lp[0, b, ext[1]]
        for t in range(1, il):
            prev = a[t - 1]
            a[t] = _logsumexp3(prev, _shift(prev, 1), np.where(skip, _shift(prev, 2), -np.inf))
            a[t] += lp[t, b, ext]
        ends = a[il - 1, -2:] if tl else a[il - 1, -1:]
        nll[b] = -_logsumexp3(ends[0], ends[-1], -np.inf) if tl else -ends[0]
    return nll, alpha


def ctc_backward_numpy(grad_out: np.ndarray, lp: np.ndarray, targets: np.ndarray,
                       in_len: np.ndarray, tg_len: np.ndarray, nll: np.ndarray,
                       alpha: np.ndarray, blank: int, zero_infinity: bool) -> np.ndarray:
    """torch's gradient w.r.t. ``log_probs``: ``(exp(lp) - gamma) * grad_out`` for t below
    the input length, where gamma[t, c] = sum over s with l'_s = c of
    exp(alpha[t, s] + beta[t, s] + nll - lp[t, c]) (beta includes the emission at t, so
    it is subtracted once). This is the true gradient plus ``exp(lp)``, which vanishes
    through a log_softmax; zero after the input length and, with ``zero_infinity``, for
    impossible samples."""
    grad = np.zeros_like(lp)
    for b in range(lp.shape[1]):
        il, tl = int(in_len[b]), int(tg_len[b])
        if il == 0 or (zero_infinity and nll[b] == np.inf):
            continue
        ext = _extended(targets[b], tl, blank)
        skip_next = np.zeros(ext.shape, dtype=bool)
        skip_next[:-2] = _skip_allowed(ext, blank)[2:]
        beta = np.full((il, ext.size), -np.inf)
        beta[il - 1, -1] = lp[il - 1, b, blank]
        if tl:
            beta[il - 1, -2] = lp[il - 1, b, ext[-2]]
        for t in range(il - 2, -1, -1):
            nxt = beta[t + 1]
            beta[t] = _logsumexp3(nxt, _shift(nxt, -1),
                                  np.where(skip_next, _shift(nxt, -2), -np.inf))
            beta[t] += lp[t, b, ext]
        ab = alpha[b, :il, :ext.size] + beta
        log_gamma = np.full((il, lp.shape[2]), -np.inf)
        for c in np.unique(ext):
            log_gamma[:, c] = np.logaddexp.reduce(ab[:, ext == c], axis=1)
        lpb = lp[:il, b]
        with np.errstate(invalid="ignore"):
            grad[:il, b] = (np.exp(lpb) - np.exp(log_gamma + nll[b] - lpb)) * grad_out[b]
    return grad


def _numba():
    """Compile (or load from cache) the kernels on first use."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    import numba
    sync_numba()

    @numba.njit(cache=True, inline="always")
    def lse(a, b, c):
        m = max(a, max(b, c))
        if m == -np.inf:
            return -np.inf
        return np.log(np.exp(a - m) + np.exp(b - m) + np.exp(c - m)) + m

    @numba.njit(cache=True, inline="always")
    def label(targets, b, s, blank):
        return blank if s % 2 == 0 else targets[b, s // 2]

    @numba.njit(parallel=True, cache=True)
    def forward(lp, targets, in_len, tg_len, blank, nll, alpha):
        for b in numba.prange(lp.shape[1]):
            il, tl = in_len[b], tg_len[b]
            if il == 0:
                nll[b] = 0.0 if tl == 0 else np.inf
                continue
            n_ext = 2 * tl + 1
            alpha[b, 0, 0] = lp[0, b, blank]
            if tl:
                alpha[b, 0, 1] = lp[0, b, targets[b, 0]]
            for t in range(1, il):
                for s in range(n_ext):
                    c = label(targets, b, s, blank)
                    a1 = alpha[b, t - 1, s - 1] if s > 0 else -np.inf
                    a2 = -np.inf
                    if s > 1 and c != blank and c != targets[b, s // 2 - 1]:
                        a2 = alpha[b, t - 1, s - 2]
                    alpha[b, t, s] = lse(alpha[b, t - 1, s], a1, a2) + lp[t, b, c]
            last = alpha[b, il - 1, n_ext - 2] if tl else -np.inf
            nll[b] = -lse(alpha[b, il - 1, n_ext - 1], last, -np.inf)

    @numba.njit(parallel=True, cache=True)
    def backward(grad_out, lp, targets, in_len, tg_len, nll, alpha, blank, zero_infinity,
                 grad):
        n_classes = lp.shape[2]
        for b in numba.prange(lp.shape[1]):
            il, tl = in_len[b], tg_len[b]
            if il == 0 or (zero_infinity and nll[b] == np.inf):
                continue
            n_ext = 2 * tl + 1
            beta = np.full((il, n_ext), -np.inf)
            beta[il - 1, n_ext - 1] = lp[il - 1, b, blank]
            if tl:
                beta[il - 1, n_ext - 2] = lp[il - 1, b, targets[b, tl - 1]]
            for t in range(il - 2, -1, -1):
                for s in range(n_ext):
                    c = label(targets, b, s, blank)
                    b1 = beta[t + 1, s + 1] if s + 1 < n_ext else -np.inf
                    b2 = -np.inf
                    if s + 2 < n_ext and c != blank and c != targets[b, s // 2 + 1]:
                        b2 = beta[t + 1, s + 2]
                    beta[t, s] = lse(beta[t + 1, s], b1, b2) + lp[t, b, c]
            log_gamma = np.full(n_classes, -np.inf)
            for t in range(il):
                log_gamma[:] = -np.inf
                for s in range(n_ext):
                    c = label(targets, b, s, blank)
                    log_gamma[c] = lse(log_gamma[c], alpha[b, t, s] + beta[t, s], -np.inf)
                for c in range(n_classes):
                    e = lp[t, b, c]
                    grad[t, b, c] = (np.exp(e) - np.exp(log_gamma[c] + nll[b] - e)) * grad_out[b]

    _KERNELS = forward, backward
    return _KERNELS


def _use_numba(lp: np.ndarray, targets: np.ndarray) -> bool:
    return lp.shape[0] * lp.shape[1] * (2 * targets.shape[1] + 1) >= _NUMBA_MIN_WORK


def ctc_forward(lp, targets, in_len, tg_len, blank, use_numba=None):
    """``ctc_forward_numpy``, by the Numba kernel when the problem is large enough."""
    if not (_use_numba(lp, targets) if use_numba is None else use_numba):
        return ctc_forward_numpy(lp, targets, in_len, tg_len, blank)
    nll = np.empty(lp.shape[1])
    alpha = np.full((lp.shape[1], lp.shape[0], 2 * targets.shape[1] + 1), -np.inf)
    _numba()[0](lp, targets, in_len, tg_len, blank, nll, alpha)
    return nll, alpha


def ctc_backward(grad_out, lp, targets, in_len, tg_len, nll, alpha, blank, zero_infinity,
                 use_numba=None):
    """``ctc_backward_numpy``, by the Numba kernel when the problem is large enough."""
    if not (_use_numba(lp, targets) if use_numba is None else use_numba):
        return ctc_backward_numpy(grad_out, lp, targets, in_len, tg_len, nll, alpha, blank,
                                  zero_infinity)
    grad = np.zeros_like(lp)
    _numba()[1](grad_out, lp, targets, in_len, tg_len, nll, alpha, blank, zero_infinity, grad)
    return grad
