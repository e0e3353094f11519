"""Conformance entries for the factorisations and solvers of ``torch.linalg``
(``ember/ops/decompositions.py``): cholesky, solve_triangular, solve, inv, det, slogdet,
eigh, svd, qr and what torch builds from them.

Inputs are made well conditioned by the entry's function (``A A^T + n I`` for
positive-definite matrices, ``A + 4 I`` for invertible ones), so the function's gradient
reaches the random sample through ordinary ops, as torch's OpInfos do. Eigenvectors and
singular vectors are compared through ``abs`` (their signs are LAPACK's choice).
"""

from __future__ import annotations

from tests.conformance.harness import OpInfo, Sample, make


def _spd(L, a):
    return a @ a.mT + a.shape[-1] * L.eye(a.shape[-1], dtype=a.dtype)


def _invertible(L, a):
    return a + 4 * L.eye(a.shape[-1], dtype=a.dtype)


def _sym(L, a):
    return a + a.mT


def _one(*shapes, **kwargs):
    """Samples of one matrix argument (each shape one sample)."""
    return lambda dt, rng: [Sample((make(s, dt, rng),), dict(kwargs), str(s)) for s in shapes]


def _two(*pairs):
    """Samples of two matrix arguments, optionally with kwargs as a third item."""
    return lambda dt, rng: [Sample((make(p[0], dt, rng), make(p[1], dt, rng)),
                                   dict(p[2]) if len(p) > 2 else {}, str(p)) for p in pairs]


def _svd_abs(L, a, **kw):
    u, s, vh = L.linalg.svd(a, **kw)
    return u.abs(), s, vh.abs()


def _eigh_abs(L, a, **kw):
    w, v = L.linalg.eigh(_sym(L, a), **kw)
    return w, v.abs()


_SQUARE = ((3, 3), (2, 4, 4), (1, 1))

OPS = [
    OpInfo("linalg_cholesky", lambda L, a, **kw: L.linalg.cholesky(_spd(L, a), **kw),
           lambda dt, rng: [*_one(*_SQUARE)(dt, rng),
                            Sample((make((3, 3), dt, rng),), {"upper": True}, "upper")],
           atol=1e-4),
    OpInfo("cholesky_legacy", lambda L, a: L.cholesky(_spd(L, a), upper=True), _one((3, 3))),
    OpInfo("linalg_solve_triangular",
           lambda L, a, b, **kw: L.linalg.solve_triangular(_invertible(L, a), b, **kw),
           _two(((3, 3), (3, 2), {"upper": True}), ((3, 3), (3, 2), {"upper": False}),
                ((2, 3, 3), (3, 4), {"upper": True}),
                ((3, 3), (2, 3), {"upper": False, "left": False}),
                ((3, 3), (3, 2), {"upper": True, "unitriangular": True}),
                ((4, 4), (1, 4), {"upper": True, "left": False, "unitriangular": True})),
           atol=1e-4),
    OpInfo("triangular_solve_legacy",
           lambda L, b, a, **kw: L.triangular_solve(b, _invertible(L, a), **kw),
           _two(((3, 2), (3, 3)), ((3, 2), (3, 3), {"upper": False, "transpose": True})),
           atol=1e-4),
    OpInfo("linalg_solve", lambda L, a, b, **kw: L.linalg.solve(_invertible(L, a), b, **kw),
           _two(((3, 3), (3, 2)), ((3, 3), (3,)), ((2, 3, 3), (2, 3)), ((2, 3, 3), (3, 1)),
                ((3, 3), (2, 3), {"left": False}), ((2, 1, 3, 3), (4, 3, 2))),
           atol=1e-4),
    OpInfo("linalg_inv", lambda L, a: L.linalg.inv(_invertible(L, a)), _one(*_SQUARE),
           atol=1e-4),
    OpInfo("inverse", lambda L, a: L.inverse(_invertible(L, a)), _one((3, 3))),
    OpInfo("linalg_det", lambda L, a: L.linalg.det(a), _one(*_SQUARE, (0, 0)), atol=1e-4),
    # rank 2 of 3 (the last row repeats the first): the cofactor path of the backward
    OpInfo("det_singular", lambda L, a: L.det(L.cat([a[..., :2, :], a[..., :1, :]], -2)),
           _one((3, 3)), gradgrad=False),
    OpInfo("linalg_slogdet", lambda L, a: L.linalg.slogdet(a), _one(*_SQUARE), atol=1e-4),
    OpInfo("logdet", lambda L, a: L.logdet(_spd(L, a)), _one((3, 3), (2, 2, 2))),
    OpInfo("linalg_eigh", _eigh_abs, lambda dt, rng: [
        *_one((3, 3), (2, 4, 4))(dt, rng), Sample((make((3, 3), dt, rng),), {"UPLO": "U"}, "U")],
        atol=1e-4),
    OpInfo("linalg_eigvalsh", lambda L, a: L.linalg.eigvalsh(_sym(L, a)), _one((4, 4))),
    OpInfo("linalg_svd", _svd_abs, _one((3, 3), (4, 3), (2, 3, 5), full_matrices=False),
           atol=1e-4),
    OpInfo("linalg_svd_full", _svd_abs, _one((4, 3), (3, 4), full_matrices=True), grad=False),
    OpInfo("svd_legacy", lambda L, a: tuple(t.abs() for t in L.svd(a)), _one((4, 3), (3, 5)),
           atol=1e-4),
    OpInfo("linalg_qr", lambda L, a, **kw: L.linalg.qr(a, **kw),
           lambda dt, rng: [*_one((3, 3), (5, 3), (3, 5), (2, 4, 3))(dt, rng),
                            Sample((make((3, 3), dt, rng),), {"mode": "complete"}, "complete")],
           atol=1e-4),
    # torch: not differentiable when complete and tall (the extra columns of Q are arbitrary)
    OpInfo("linalg_qr_complete_tall", lambda L, a: L.linalg.qr(a, mode="complete"),
           _one((3, 2)), grad=False),
    OpInfo("linalg_qr_r", lambda L, a: L.linalg.qr(a, mode="r")[1], _one((4, 3)), grad=False),
    OpInfo("qr_legacy", lambda L, a: L.qr(a), _one((4, 3))),
    OpInfo("linalg_pinv", lambda L, a: L.linalg.pinv(a), _one((3, 3), (4, 2), (2, 3, 5)),
           atol=1e-4),
    # singular values cut by the tolerance: torch's gradient is that of the untruncated
    # pseudo-inverse (tests/test_linalg.py checks ember's against finite differences)
    OpInfo("linalg_pinv_truncated", lambda L, a, **kw: L.linalg.pinv(a, **kw),
           lambda dt, rng: [Sample((make((3, 4), dt, rng),), {"rtol": 0.5}, "rtol"),
                            Sample((make((4, 3), dt, rng),), {"atol": 1.0}, "atol")],
           grad=False),
    OpInfo("pinverse", lambda L, a: L.pinverse(a), _one((4, 3))),
    OpInfo("linalg_matrix_power", lambda L, a, n: L.linalg.matrix_power(_invertible(L, a), n),
           lambda dt, rng: [Sample((make((3, 3), dt, rng), n), {}, str(n))
                            for n in (3, 1, 0, -2)], atol=1e-4),
    OpInfo("linalg_matrix_rank", lambda L, a, **kw: L.linalg.matrix_rank(a, **kw),
           lambda dt, rng: [Sample((make((4, 3), dt, rng) @ make((3, 5), dt, rng),), {}),
                            Sample((make((3, 3), dt, rng),), {"atol": 1.0}, "atol")],
           grad=False),
    OpInfo("cholesky_solve",
           lambda L, b, a, **kw: L.cholesky_solve(b, L.linalg.cholesky(_spd(L, a)), **kw),
           _two(((3, 2), (3, 3)), ((2, 3, 1), (3, 3))), atol=1e-4),
    OpInfo("cholesky_inverse",
           lambda L, a: L.cholesky_inverse(L.linalg.cholesky(_spd(L, a)).mT, upper=True),
           _one((3, 3)), atol=1e-4),
    OpInfo("linalg_vecdot", lambda L, a, b: L.linalg.vecdot(a, b), _two(((3, 4), (3, 4)))),
]
