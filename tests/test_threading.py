"""ember's threads. GEMMs shared out among them (``ember.ops._blas``): every split (rows,
columns, batch, a batch of one, broadcast batches) gives NumPy's float64 product, in the
dtype NumPy gives, with BLAS resting at one thread between calls; Numba's pool runs on
ember's thread count."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ember.ops import _blas

SHAPES = [((300, 64), (64, 50)),            # rows split
          ((3, 64), (64, 500)),             # columns split
          ((1, 256), (256, 7)),             # a row vector: too few rows and columns to split
          ((6, 40, 30), (6, 30, 20)),       # batch split
          ((5, 40, 30), (30, 20)),          # broadcast second operand
          ((1, 40, 30), (1, 30, 20)),       # batch of one -> matrix split
          ((2, 1, 40, 30), (3, 30, 20)),    # broadcast batch dims
          ((64,), (64, 33)), ((33, 64), (64,))]


@pytest.fixture
def always_split(monkeypatch):
    """Every GEMM counts as big and the machine as free, so the split paths run."""
    monkeypatch.setattr(_blas, "threads_for", lambda work, threshold: 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_split_matmul_equals_numpy(always_split, shapes, dtype):
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
    got = _blas.matmul(a, b)
    want = np.matmul(a.astype(np.complex128), b.astype(np.complex128))
    assert got.dtype == np.matmul(a, b).dtype and got.shape == want.shape
    tol = 1e-4 if np.dtype(dtype).itemsize <= 8 else 1e-10
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_non_contiguous_operands(always_split):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((80, 60))[::2, ::3]
    b = rng.standard_normal((40, 90)).T[:20]
    np.testing.assert_allclose(_blas.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_shaped_views(always_split, dtype):
    """(B, T, H, D) projections seen as (B, H, T, D) by a transpose, keys transposed again:
    batch strides that are not one stride, and a transposed matrix per batch entry."""
    rng = np.random.default_rng(2)
    q = rng.standard_normal((3, 7, 4, 5)).astype(dtype).transpose(0, 2, 1, 3)
    k = rng.standard_normal((3, 9, 4, 5)).astype(dtype).transpose(0, 2, 3, 1)
    want = np.matmul(q.astype(np.float64), k.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(_blas.matmul(q, k), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(_blas.matmul(np.asfortranarray(q[0, 0]), k[0, 0]), want[0, 0],
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("parts", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_shape,b_shape", [
    ((2, 3, 17, 8), (2, 3, 8, 19)),     # attention's q @ k^T: (B, H) batch, both views
    ((5, 16, 32), (5, 32, 24)),         # one batch dim
    ((2, 3, 9, 5), (1, 3, 5, 11)),      # a broadcast batch dim
    ((4, 7, 6), (6, 10)),               # a 2-D right operand broadcast over the batch
    ((0, 7, 6), (0, 6, 10)),            # an empty batch
    ((3, 1, 6), (3, 6, 2)),             # one row
])
def test_transposed_right_operands_turned_round(monkeypatch, parts, dtype, a_shape, b_shape):
    """A batch whose right-hand matrices are stored transposed (``k.transpose(-2, -1)``)
    and small: each is turned round before its GEMM (``_kernels_gemm.turn_b``), on one
    thread and split; the left operand also a transposed view; NumPy's float64 product."""
    monkeypatch.setattr(_blas, "threads_for", lambda work, threshold: parts)
    monkeypatch.setattr(_blas, "SERIAL_BATCH_FLOPS", 0)  # (small batches: NumPy's, else)
    from ember.ops import _kernels_gemm
    rng = np.random.default_rng(5)
    k, n = b_shape[-2:]
    # transposed matrices, each row of their storage part of a longer one (q, k, v of one
    # projection)
    b = np.swapaxes(rng.standard_normal(b_shape[:-2] + (n, 3 * k)).astype(dtype)[..., :k],
                    -1, -2)
    assert _kernels_gemm.turn_b(a_shape[-2], n, k, np.dtype(dtype).itemsize)
    assert b.size == 0 or _kernels_gemm.reshapes_batch(np.ones(a_shape, dtype), b) \
        == (min(n, k) > 1)
    for a in (rng.standard_normal(a_shape).astype(dtype),
              np.swapaxes(np.swapaxes(rng.standard_normal(a_shape).astype(dtype), -1, -2)
                          .copy(), -1, -2)):
        got = _blas.matmul(a, b)
        want = np.matmul(a.astype(np.float64), b.astype(np.float64))
        tol = 1e-5 if dtype == np.float32 else 1e-12
        assert got.dtype == dtype and got.shape == want.shape and got.flags.c_contiguous
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("parts", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_layout", ["N", "T"])
@pytest.mark.parametrize("b_layout", ["N", "T"])
@pytest.mark.parametrize("batch,m,k,n", [((3,), 128, 64, 128), ((2, 2), 100, 64, 200),
                                         ((2,), 61, 128, 160)])
def test_products_cut_for_the_small_kernel(monkeypatch, parts, dtype, a_layout, b_layout,
                                           batch, m, k, n):
    """A batch of products just over OpenBLAS's small-kernel size is multiplied in row
    blocks (``_kernels_gemm.split_rows``; the last block shorter), right operands stored
    transposed turned round first (float32), on one thread and split among threads, left
    operands as they are or transposed, a broadcast right operand: NumPy's float64
    product."""
    from ember.ops import _kernels_gemm
    monkeypatch.setattr(_blas, "threads_for", lambda work, threshold: parts)
    monkeypatch.setattr(_blas, "SERIAL_BATCH_FLOPS", 0)  # (small batches: NumPy's, else)
    rows = _kernels_gemm.split_rows(m, n, k, _kernels_gemm.NO_TRANS, _kernels_gemm.NO_TRANS)
    assert rows < m and rows * n * k <= _kernels_gemm.SMALL_MNK
    rng = np.random.default_rng(6)

    def make(shape, layout):
        x = rng.standard_normal(shape).astype(dtype)
        return x if layout == "N" else np.swapaxes(np.swapaxes(x, -1, -2).copy(), -1, -2)
    a = make(batch + (m, k), a_layout)
    b = make((1,) * len(batch[:-1]) + batch[-1:] + (k, n), b_layout)
    if parts == 1:
        assert _kernels_gemm.reshapes_batch(a, b) == (b_layout == "N" or dtype == np.float32)
    got = _blas.matmul(a, b)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-12
    assert got.dtype == dtype and got.shape == want.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("parts", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,n,k", [(2, 1031, 64), (5, 704, 256), (8, 258, 33), (3, 343, 16),
                                      (1, 2051, 48)])
def test_few_rows_times_linear_weight(monkeypatch, parts, dtype, rows, n, k):
    """``x @ W.T`` on 1-8 rows (a linear layer on a few tokens) with more than
    ``FEW_ROWS_MIN_OUTPUTS`` results takes the few-rows kernel, weight-row counts not a
    multiple of 4 included, and gives NumPy's product; fewer results stay with BLAS."""
    monkeypatch.setattr(_blas, "threads_for", lambda work, threshold: parts)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((rows, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    assert _blas._few_rows_times_linear_weight(x, w.T)
    want = x.astype(np.float64) @ w.T.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    got = _blas.matmul(x, w.T)
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    more = np.ones((_blas.FEW_ROWS + 1, k), dtype)
    assert not _blas._few_rows_times_linear_weight(more, w.T)
    assert not _blas._few_rows_times_linear_weight(x, np.ascontiguousarray(w.T))
    assert not _blas._few_rows_times_linear_weight(
        x, w[:_blas.FEW_ROWS_MIN_OUTPUTS // rows].T)


@pytest.mark.parametrize("parts", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,n,k", [(16, 300, 200), (12, 400, 300), (32, 97, 65)])
def test_few_rows_times_transposed(monkeypatch, parts, dtype, rows, n, k):
    """``x @ W.T`` on 9-32 rows is made as ``(W @ x.T).T`` (split among threads with more
    than one), C-contiguous, NumPy's product."""
    monkeypatch.setattr(_blas, "threads_for", lambda work, threshold: parts)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((rows, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    assert _blas._few_rows_times_transposed(x, w.T)
    got = _blas.matmul(x, w.T)
    want = x.astype(np.float64) @ w.T.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert got.dtype == dtype and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def test_blas_rests_at_one_thread(always_split):
    libs = _blas._blas_libs()
    _blas.matmul(np.ones((64, 64)), np.ones((64, 64)))
    assert all(lib.num_threads == 1 for lib in libs)


def test_numba_pool_runs_on_embers_thread_count():
    script = ("import ember; ember.set_num_threads(1); "
              "ember.nn.functional.layer_norm(ember.randn(8, 8), (8,)); "
              "import numba; print(numba.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["1"]


def test_busy_machine_needs_two_readings_in_a_row(monkeypatch):
    """``threads_for`` drops to one thread when other processes take the cores, but one
    reading that saw another thread (an instant's view) does not; two in a row do."""
    from ember.ops import _parallel
    readings = iter([0, 2, 0, 2, 2, 0])
    clock = iter(range(10, 100, 1))
    monkeypatch.setattr(_parallel, "_others_running", lambda: next(readings))
    monkeypatch.setattr(_parallel.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(_parallel, "_LOAD", [0.0, 0.0, 0.0])
    monkeypatch.setattr(_parallel, "_CORES", 2)
    seen = [_parallel._free_cores() for _ in range(6)]
    assert seen == [2, 2, 2, 2, 0, 2]
