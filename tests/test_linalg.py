"""``torch.linalg``'s factorisations and solvers beyond the conformance table: errors and
their messages against torch's, the ``*_ex`` variants' ``info``, the legacy functions'
deprecation warnings, and gradients torch does not give (a truncated pseudo-inverse)
against finite differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember

R = np.random.default_rng(0)


def _both(fn, *arrays):
    """``fn`` on torch and on ember: (torch result or exception, ember's likewise)."""
    out = []
    for lib in (torch, ember):
        try:
            out.append(fn(lib, *[lib.tensor(a) for a in arrays]))
        except Exception as exc:  # noqa: BLE001 - the exception is what is compared
            out.append(exc)
    return out


ERRORS = [
    ("cholesky not PD", lambda L, a: L.linalg.cholesky(a), [np.diag([1.0, -1.0, 2.0])]),
    ("cholesky batch", lambda L, a: L.linalg.cholesky(a),
     [np.stack([np.eye(2), -np.eye(2)])]),
    ("cholesky not square", lambda L, a: L.linalg.cholesky(a), [np.ones((2, 3))]),
    ("inv singular", lambda L, a: L.linalg.inv(a), [np.zeros((3, 3))]),
    ("inv batch singular", lambda L, a: L.linalg.inv(a),
     [np.stack([np.eye(3), np.diag([1.0, 0.0, 1.0])])]),
    ("inv int", lambda L, a: L.linalg.inv(a), [np.eye(3, dtype=np.int64)]),
    ("solve singular", lambda L, a, b: L.linalg.solve(a, b), [np.zeros((3, 3)), np.ones(3)]),
    ("solve shapes", lambda L, a, b: L.linalg.solve(a, b), [np.eye(3), np.ones(4)]),
    ("solve dtypes", lambda L, a, b: L.linalg.solve(a, b.float()), [np.eye(3), np.ones((3, 1))]),
    ("det half", lambda L, a: L.linalg.det(a.half()), [np.eye(3)]),
    ("inv half", lambda L, a: L.linalg.inv(a.half()), [np.eye(3)]),
    ("eigh uplo", lambda L, a: L.linalg.eigh(a, UPLO="X"), [np.eye(3)]),
    ("qr mode", lambda L, a: L.linalg.qr(a, mode="full"), [np.eye(3)]),
    ("qr 1-d", lambda L, a: L.linalg.qr(a), [np.ones(3)]),
    ("triangular shapes", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=True),
     [np.eye(3), np.ones((2, 2))]),
]


@pytest.mark.parametrize("fn,arrays", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_match_torch(fn, arrays):
    expected, got = _both(fn, *arrays)
    assert isinstance(expected, Exception), "torch accepted it"
    assert isinstance(got, Exception), f"ember accepted it: {got}"
    assert isinstance(got, type(expected).__mro__[1] if type(expected).__name__ ==
                      "_LinAlgError" else type(expected)), (type(got), type(expected))
    assert str(got) == str(expected)


def test_linalg_error_is_a_runtime_error_named_like_torchs():
    assert issubclass(ember.linalg.LinAlgError, RuntimeError)
    with pytest.raises(ember.linalg.LinAlgError, match="not positive-definite"):
        ember.linalg.cholesky(ember.tensor([[1.0, 2.0], [2.0, 1.0]]))


@pytest.mark.parametrize("name", ["cholesky_ex", "inv_ex", "solve_ex"])
def test_ex_variants_report_info_like_torch(name):
    good, bad = np.eye(3) * 2.0, np.diag([1.0, 0.0, -1.0])
    batch = np.stack([good, bad, good])
    rhs = np.ones((3, 3, 1))
    for lib_out in (_ex(torch, name, batch, rhs), _ex(ember, name, batch, rhs)):
        assert lib_out[1].dtype.__str__().endswith("int32")
    t, e = _ex(torch, name, batch, rhs), _ex(ember, name, batch, rhs)
    np.testing.assert_array_equal(e[1].numpy(), t[1].numpy())
    for i in (0, 2):  # the good matrices are solved
        np.testing.assert_allclose(e[0].numpy()[i], t[0].numpy()[i], rtol=1e-12)
    with pytest.raises(RuntimeError):
        _ex(ember, name, batch, rhs, check_errors=True)


def _ex(lib, name, batch, rhs, **kw):
    a = lib.tensor(batch)
    if name == "solve_ex":
        return lib.linalg.solve_ex(a, lib.tensor(rhs), **kw)
    return getattr(lib.linalg, name)(a, **kw)


@pytest.mark.parametrize("name,call", [
    ("cholesky", lambda L, a: L.cholesky(a @ a.mT + 3 * L.eye(3))),
    ("qr", lambda L, a: L.qr(a)),
    ("triangular_solve", lambda L, a: L.triangular_solve(a, a + 3 * L.eye(3)))],
    ids=["cholesky", "qr", "triangular_solve"])
def test_legacy_functions_warn_as_torch(name, call):
    """The deprecated functions warn with torch's message (torch warns once per process,
    so its message is compared when this process has not seen it yet)."""
    a = R.standard_normal((3, 3))
    messages = []
    for lib in (torch, ember):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(lib, lib.tensor(a))
        messages.append([str(w.message).split("\n")[0] for w in caught])
    assert messages[1] and messages[1][0].startswith(f"torch.{name} is deprecated in favor "
                                                     "of torch.linalg.")
    if messages[0]:
        assert messages[1][0] == messages[0][0]


def test_qr_complete_tall_backward_raises_like_torch():
    a = ember.tensor(R.standard_normal((3, 2)), requires_grad=True)
    q, r = ember.linalg.qr(a, mode="complete")
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete'"):
        (q.sum() + r.sum()).backward()


@pytest.mark.parametrize("by,shape", [("rtol", (3, 4)), ("atol", (4, 3))])
def test_truncated_pinv_gradient_matches_finite_differences(by, shape):
    """A cut-off singular value changes the pseudo-inverse's rank; ember differentiates the
    truncated pseudo-inverse it returns (gradcheck), where torch's formula is that of the
    full one."""
    a = ember.tensor(np.random.default_rng(3).uniform(-2, 2, shape), requires_grad=True)
    s = np.linalg.svd(a.detach().numpy(), compute_uv=False)
    cut = (s[-1] + s[-2]) / 2  # the smallest singular value goes, the others stay
    kw = {"rtol": cut / s[0]} if by == "rtol" else {"atol": cut}
    assert ember.linalg.matrix_rank(a.detach(), **kw).item() == len(s) - 1
    assert ember.autograd.gradcheck(lambda x: ember.linalg.pinv(x, **kw), (a,))


def test_det_of_singular_matrix_has_the_cofactor_gradient():
    """det's gradient is the transposed cofactor matrix, nonzero for rank n-1 (torch's
    values), where ``det * inv(A)^T`` would be 0 * inf."""
    m = R.standard_normal((3, 3))
    m[2] = m[0]
    grads = []
    for lib in (torch, ember):
        a = lib.tensor(m, requires_grad=True)
        lib.linalg.det(a).backward()
        grads.append(a.grad.numpy())
    assert np.abs(grads[0]).max() > 0.1
    np.testing.assert_allclose(grads[1], grads[0], atol=1e-12)
