"""Sparse COO tensors against torch: construction, coalescing, conversions, the ops on
them (sparse @ dense and its gradients above all) and torch's errors."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import ember

pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks")

# an uncoalesced 3x4 pattern: (1, 2) twice, rows out of order
IDX = [[1, 0, 2, 1, 2], [2, 3, 0, 2, 1]]
VALS = [1.5, -2.0, 3.0, 0.5, 4.0]


def _np(t) -> np.ndarray:
    return t.detach().numpy() if not t.is_sparse else _np(t.to_dense())


def _close(a, b) -> None:
    np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-6)


def _both(fn):
    return fn(torch), fn(ember)


def test_construction_and_coalesce_match_torch():
    t, e = _both(lambda lib: lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VALS), (3, 4)))
    assert e.is_sparse and not ember.ones(1).is_sparse
    assert e.shape == t.shape and e.dtype == ember.float32 and e._nnz() == t._nnz() == 5
    assert (e.sparse_dim(), e.dense_dim()) == (t.sparse_dim(), t.dense_dim())
    assert e.is_coalesced() == t.is_coalesced() is False
    np.testing.assert_array_equal(e._indices().numpy(), t._indices().numpy())
    tc, ec = t.coalesce(), e.coalesce()
    assert ec.is_coalesced() and ec._nnz() == tc._nnz() == 4
    np.testing.assert_array_equal(ec.indices().numpy(), tc.indices().numpy())
    np.testing.assert_array_equal(ec.values().numpy(), tc.values().numpy())
    _close(e.to_dense(), t.to_dense())
    inferred = _both(lambda lib: lib.sparse_coo_tensor(IDX, [[v, -v] for v in VALS]))
    assert inferred[1].shape == inferred[0].shape == (3, 4, 2)
    assert inferred[1].dense_dim() == 1
    _close(inferred[1].to_dense(), inferred[0].to_dense())


def test_numpy_int32_indices_with_dtype_as_in_gat():
    edges = np.array([[0, 1], [1, 2], [0, 1]], dtype=np.int32)
    t, e = _both(lambda lib: lib.eye(3) + lib.sparse_coo_tensor(
        edges.T, lib.ones(3), (3, 3), dtype=lib.int64))
    assert e.dtype == ember.float32 and not e.is_sparse
    np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize("sparse_dim", [None, 1])
def test_to_sparse_matches_torch(sparse_dim):
    x = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [3.0, 0.0, -1.0]], np.float32)
    args = () if sparse_dim is None else (sparse_dim,)
    t, e = _both(lambda lib: lib.tensor(x).to_sparse(*args))
    assert e.is_coalesced() and e.sparse_dim() == t.sparse_dim()
    np.testing.assert_array_equal(e.indices().numpy(), t.indices().numpy())
    np.testing.assert_array_equal(e.values().numpy(), t.values().numpy())
    assert e.to_sparse() is e


def test_spmm_values_and_gradients_match_torch():
    rng = np.random.RandomState(0)
    dense, weight = rng.randn(4, 3).astype(np.float32), rng.randn(3, 3).astype(np.float32)
    got = {}
    for lib in (torch, ember):
        v = lib.tensor(VALS, requires_grad=True)
        d = lib.tensor(dense, requires_grad=True)
        s = lib.sparse_coo_tensor(lib.tensor(IDX), v, (3, 4))
        outs = [lib.sparse.mm(s, d), lib.mm(s, d), s @ d, lib.spmm(s, d),
                lib.mv(s, d[:, 0]).unsqueeze(1)]
        loss = sum((o * lib.tensor(weight[:, :o.shape[1]])).sum() for o in outs)
        loss.backward()
        got[lib] = outs, v.grad, d.grad
    for a, b in zip(got[torch][0], got[ember][0]):
        _close(b, a)
    _close(got[ember][1], got[torch][1])
    _close(got[ember][2], got[torch][2])


def test_leaf_sparse_gradient_is_sparse_like_torch():
    d = np.arange(8.0, dtype=np.float32).reshape(4, 2)
    grads = []
    for lib in (torch, ember):
        s = lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VALS), (3, 4), requires_grad=True)
        assert s.is_leaf and s.requires_grad
        (lib.sparse.mm(s, lib.tensor(d)) ** 2).sum().backward()
        assert s.grad.is_sparse
        grads.append(s.grad)
    _close(grads[1], grads[0])
    s.grad = None
    assert s.grad is None


def test_to_sparse_gradient_is_taken_at_the_nonzeros():
    x = np.array([[0.0, 2.0], [3.0, 0.0]], np.float32)
    grads = []
    for lib in (torch, ember):
        xt = lib.tensor(x, requires_grad=True)
        sp = xt.to_sparse()
        assert sp.requires_grad and not sp.is_leaf
        lib.sparse.mm(sp, lib.ones(2, 2)).sum().backward()
        grads.append(xt.grad)
    _close(grads[1], grads[0])


def test_elementwise_ops_sum_transpose_and_dtype_match_torch():
    rng = np.random.RandomState(1)
    dense = rng.randn(3, 4).astype(np.float32)
    for fn in (lambda lib, s: lib.tensor(dense) + s, lambda lib, s: lib.tensor(dense) - s,
               lambda lib, s: s + s, lambda lib, s: s - s * 3, lambda lib, s: s * 2.5,
               lambda lib, s: s * lib.tensor(dense), lambda lib, s: lib.tensor(dense) * s,
               lambda lib, s: s / 4, lambda lib, s: -s, lambda lib, s: s.t(),
               lambda lib, s: s.transpose(0, 1), lambda lib, s: s.sum(),
               lambda lib, s: lib.sparse.sum(s), lambda lib, s: s.clone(),
               lambda lib, s: lib.tensor(dense.T) @ s, lambda lib, s: s.detach()):
        t, e = _both(lambda lib, fn=fn: fn(lib, lib.sparse_coo_tensor(IDX, VALS, (3, 4))))
        assert e.is_sparse == t.is_sparse and e.shape == t.shape
        _close(e, t)
    t, e = _both(lambda lib: lib.sparse_coo_tensor(IDX, VALS, (3, 4)).to(lib.float64))
    assert e.dtype == ember.float64 and e.is_sparse


def test_errors_match_torch():
    s_t = torch.sparse_coo_tensor(IDX, VALS, (3, 4))
    s_e = ember.sparse_coo_tensor(IDX, VALS, (3, 4))
    cases = [(lambda s, lib: s + lib.ones(3, 4), RuntimeError, "add\\(sparse, dense\\)"),
             (lambda s, lib: s.exp(), NotImplementedError, "SparseCPU"),
             (lambda s, lib: s.indices(), RuntimeError, "uncoalesced"),
             (lambda s, lib: s.values(), RuntimeError, "uncoalesced"),
             (lambda s, lib: s.numpy(), TypeError, "Sparse layout"),
             (lambda s, lib: lib.sparse_coo_tensor(IDX, VALS[:4], (3, 4)), RuntimeError,
              "same nnz"),
             (lambda s, lib: lib.sparse_coo_tensor(IDX, VALS, (3, 4, 2)), RuntimeError,
              "sparse_dim \\+ dense_dim"),
             (lambda s, lib: lib.sparse.mm(s, lib.ones(3, 2)), RuntimeError,
              "Expected dim 0 size 4, got 3"),
             (lambda s, lib: s @ lib.ones(4, 2, dtype=lib.float64), RuntimeError,
              "expected scalar type Float but found Double"),
             (lambda s, lib: lib.ones(2, 2).to_sparse(3), RuntimeError, "sparse_dim")]
    for fn, exc, match in cases:
        for s, lib in ((s_t, torch), (s_e, ember)):
            with pytest.raises(exc, match=match):
                fn(s, lib)
    with pytest.raises(RuntimeError, match="size is inconsistent with indices"):
        torch.sparse_coo_tensor(IDX, VALS, (3, 3), check_invariants=True)
    with pytest.raises(RuntimeError, match="size is inconsistent with indices"):
        ember.sparse_coo_tensor(IDX, VALS, (3, 3))


def test_pickle_and_deepcopy_keep_the_tensor():
    s = ember.sparse_coo_tensor(IDX, VALS, (3, 4), requires_grad=True)
    for c in (pickle.loads(pickle.dumps(s)), copy.deepcopy(s)):
        assert c.is_sparse and c.requires_grad and c.shape == s.shape
        _close(c, s)
    assert "nnz=5, layout=torch.sparse_coo, requires_grad=True)" in repr(s)
