"""The int8 GEMM of the quantized Linear/conv layers (``_kernels_quant.qlinear``) against
its NumPy reference, exactly: the AMX kernel (12 rows and more) and the VNNI kernel on
``pack_s8``'s tiles where the CPU has them, each also called directly on every shape, and
the portable kernel on padded rows, for shapes that hit every edge -- K not a multiple of
4 (the tail rows), of 64 (AMX's partial last block) or of the panel, N not a multiple of
the 64-column tile, M from 1 to 130 (row blocks of 1..6, AMX's zero-padded 16-row blocks,
row chunks when N has few tiles)."""

from __future__ import annotations

import numpy as np
import pytest

from ember.ops import _kernels_quant as kq


def _operands(m: int, k: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    xq = rng.integers(0, 256, (m, k)).astype(np.uint8)
    wq = rng.integers(-128, 128, (n, k)).astype(np.int8)
    col_sum = wq.astype(np.int32).sum(1, dtype=np.int32)
    w_scale = rng.uniform(0.001, 0.1, n).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    return xq, wq, col_sum, w_scale, bias


def _check(m: int, k: int, n: int, pack, kernel=None) -> None:
    xq, wq, col_sum, w_scale, bias = _operands(m, k, n, m * 1000 + k * 7 + n)
    a_scale, a_zp = np.float32(0.013), np.int32(131)
    out = np.full((m, n), np.nan, np.float32)
    (kernel or kq.qlinear)(xq, a_scale, a_zp, pack(wq), col_sum, w_scale, bias, out)
    np.testing.assert_array_equal(
        out, kq.qlinear_s8_reference(xq, a_scale, a_zp, wq, col_sum, w_scale, bias),
        err_msg=f"M={m} K={k} N={n}")


def _kernel(name: str, rows: int):
    """``qlinear`` forced onto one packed kernel (``_qlinear_vnni``/``_qlinear_amx``), with
    chunks of ``rows`` (a multiple of its row block) rows."""
    def run(xq, a_scale, a_zp, wp, col_sum, w_scale, bias, out):
        extra = (kq._TILE_CONFIG,) if name == "amx" else ()
        getattr(kq, f"_qlinear_{name}")(xq, a_scale, a_zp, wp, col_sum, w_scale, bias, out,
                                        rows, *extra)
    return run


def _padded_rows(wq: np.ndarray) -> np.ndarray:
    rows = np.zeros((-(-wq.shape[0] // 4) * 4, wq.shape[1]), np.int8)
    rows[:wq.shape[0]] = wq
    return rows


SHAPES = [(1, 1, 1), (1, 4, 64), (2, 3, 5), (5, 65, 63), (6, 64, 65), (7, 130, 129),
          (13, 517, 70), (64, 1030, 17), (130, 257, 200), (129, 96, 3), (3, 2051, 64)]
VNNI = pytest.mark.skipif(not kq.VNNI, reason="the CPU has no AVX-512 VNNI")


@VNNI
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_vnni_kernel_equals_reference(m, k, n):
    _check(m, k, n, kq.pack_s8)


@VNNI
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_vnni_kernel_on_every_shape(m, k, n):
    """The VNNI kernel also where ``qlinear`` picks AMX (12 rows and more), in chunks."""
    _check(m, k, n, kq.pack_s8, _kernel("vnni", 12))


@pytest.mark.skipif(not kq.AMX, reason="the CPU (or the OS) gives no AMX-int8")
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_amx_kernel_on_every_shape(m, k, n):
    """The AMX kernel also below 12 rows (zero-padded to a 16-row tile), in chunks of 32."""
    _check(m, k, n, kq.pack_s8, _kernel("amx", 32))


@VNNI
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6, 7, 11, 12, 16, 17, 31, 100])
def test_vnni_every_row_block(m):
    """Each of the six VNNI row-block kernels, alone and after full blocks, and AMX's
    16-row blocks, on a K with a tail and an N with a partial tile (row chunks too: N of
    two tiles leaves tasks to rows)."""
    _check(m, 70, 100, kq.pack_s8)


@VNNI
def test_vnni_unaligned_weights():
    """A copy of the packed weights at an address that is not 64-byte aligned (what
    pickling or ``np.copy`` into an offset buffer gives) computes the same product."""
    xq, wq, col_sum, w_scale, bias = _operands(9, 200, 70, 1)
    wp = kq.pack_s8(wq)
    buf = np.empty(wp.nbytes + 64, np.int8)
    start = (-buf.ctypes.data % 64) + 8
    shifted = buf[start:start + wp.nbytes].reshape(wp.shape)
    shifted[...] = wp
    out = np.empty((9, 70), np.float32)
    kq.qlinear(xq, np.float32(0.5), np.int32(3), shifted, col_sum, w_scale, bias, out)
    np.testing.assert_array_equal(
        out, kq.qlinear_s8_reference(xq, 0.5, 3, wq, col_sum, w_scale, bias))


@VNNI
def test_vnni_extreme_values():
    """All-255 activations times all -128 weights over a long K: the int32 sums are
    exact (vpdpbusd does not saturate), as the reference's int64 ones."""
    m, k, n = 7, 4099, 65
    xq = np.full((m, k), 255, np.uint8)
    wq = np.full((n, k), -128, np.int8)
    col_sum = wq.astype(np.int32).sum(1, dtype=np.int32)
    w_scale, bias = np.full(n, 1e-6, np.float32), np.zeros(n, np.float32)
    out = np.empty((m, n), np.float32)
    kq.qlinear(xq, np.float32(1.0), np.int32(0), kq.pack_s8(wq), col_sum, w_scale, bias, out)
    np.testing.assert_array_equal(
        out, kq.qlinear_s8_reference(xq, 1.0, 0, wq, col_sum, w_scale, bias))


@pytest.mark.parametrize("m,k,n", SHAPES[:8])
def test_portable_kernel_equals_reference(m, k, n):
    """The kernel of CPUs without VNNI (padded rows, ``qlinear_s8``), chosen by layout."""
    _check(m, k, n, _padded_rows)


@VNNI
@pytest.mark.parametrize("name,rows", [("vnni", 4), ("amx", 5)])
def test_row_chunks_that_split_a_block(name, rows):
    """A chunk size that is not a whole number of the kernel's row blocks is rounded up
    (an AMX block writes 16 rows of its chunk's buffer; a VNNI block reads six)."""
    if name == "amx" and not kq.AMX:
        pytest.skip("the CPU (or the OS) gives no AMX-int8")
    _check(37, 100, 70, kq.pack_s8, _kernel(name, rows))


def test_pack_keeps_k_and_empty_shapes():
    """Both layouts keep K as ``shape[1]`` (the ops read it); empty M, N or K work."""
    wq = np.ones((5, 7), np.int8)
    assert kq.pack_s8(wq).shape[1] == 7 and _padded_rows(wq).shape[1] == 7
    for m, k, n in [(0, 8, 5), (3, 0, 5), (3, 8, 0)]:
        _check(m, k, n, kq.pack_s8)


def test_min_max_with_and_without_nan():
    """The dynamic Linear's activation range: NumPy's reductions, and the one-pass loop's
    answer (the NaN passed over) where the batch holds a NaN."""
    x = np.random.default_rng(5).standard_normal((33, 70)).astype(np.float32)
    assert kq.min_max(x) == (x.min(), x.max())
    x[4, 9] = np.nan
    assert kq.min_max(x) == (np.nanmin(x), np.nanmax(x))
