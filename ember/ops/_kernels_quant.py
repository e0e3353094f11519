"""Numba kernels of quantized inference: int8 GEMM with int32 accumulation (dynamic and
static quantized Linear/conv) and the fused int4/int8 weight-only dequantise + GEMM.

The int8 GEMM (``qlinear``) has three kernels, picked by the CPU at import:

- AMX-int8 (``_qlinear_amx``, 12 rows and more): ``tdpbusd`` multiplies a 16 x 64 tile of
  uint8 activations by a 64 x 16 tile of int8 weights into 16 x 16 int32 sums (16K
  products an instruction); needs the tile registers granted by Linux (``_amx``).
- AVX-512 VNNI (``_qlinear_vnni``, fewer rows or no AMX): ``vpdpbusd``, four u8 x s8
  products summed into each of 16 int32 lanes (64 an instruction), in a 6-row by
  64-column register block.
- portable (``qlinear_s8``): 8-bit values widened to 16/32-bit integers over a contiguous
  ``K`` (``vpmaddwd``), four output columns at a time.

The first two read the weights that ``pack_s8`` lays out once, when a layer is quantized
(groups of four ``k`` of 64 columns: both VNNI's and AMX's weight layout); both are
cache-blocked (panels of ``KC`` of K whose weights stay in L1 while the row blocks pass)
and parallel over tiles of 64 output columns and chunks of rows, with the float epilogue
in fbgemm's order, so the result equals the portable kernel's and the NumPy reference's
exactly.

Imported on first use by the quantized modules, never by ``import ember``; each kernel has
a NumPy reference below it that ``tests/test_quant_kernels.py`` compares it with.
"""

from __future__ import annotations

import ctypes
import platform
import sys

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._threads import sync_numba
from ._parallel import threads_for

sync_numba()  # ember's thread count, before a parallel kernel runs

# ---- int8 x int8 -> int32 GEMM, dequantised into float32 -----------------------------------


_I32 = np.int32


@numba.njit(cache=True, inline="always")
def _dot1x4(x, w0, w1, w2, w3, k_len):
    """Four int32 dot products of ``x`` with ``w0..w3`` over ``k_len``.

    The index is unsigned (no negative-index check, so the loop vectorises). Numba widens
    integer products to int64; truncating each product and sum to int32 keeps LLVM on
    16-bit multiply-adds (``vpmaddwd``; ``vpdpwssd`` where the CPU has VNNI)."""
    a0 = a1 = a2 = a3 = _I32(0)
    for k in range(np.uint64(k_len)):
        u = _I32(x[k])
        a0 = _I32(a0 + _I32(u * _I32(w0[k])))
        a1 = _I32(a1 + _I32(u * _I32(w1[k])))
        a2 = _I32(a2 + _I32(u * _I32(w2[k])))
        a3 = _I32(a3 + _I32(u * _I32(w3[k])))
    return a0, a1, a2, a3


@numba.njit(cache=True, inline="always")
def _dot4x4(x0, x1, x2, x3, w0, w1, w2, w3, k_len):
    """Sixteen int32 dot products, rows ``x0..x3`` by columns ``w0..w3`` (as ``_dot1x4``):
    each widened vector feeds four multiply-adds, so the loop is not load-bound."""
    a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = _I32(0)
    c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = _I32(0)
    for k in range(np.uint64(k_len)):
        p, q, r, s = _I32(x0[k]), _I32(x1[k]), _I32(x2[k]), _I32(x3[k])
        e0, e1, e2, e3 = _I32(w0[k]), _I32(w1[k]), _I32(w2[k]), _I32(w3[k])
        a0, a1 = _I32(a0 + _I32(p * e0)), _I32(a1 + _I32(p * e1))
        a2, a3 = _I32(a2 + _I32(p * e2)), _I32(a3 + _I32(p * e3))
        b0, b1 = _I32(b0 + _I32(q * e0)), _I32(b1 + _I32(q * e1))
        b2, b3 = _I32(b2 + _I32(q * e2)), _I32(b3 + _I32(q * e3))
        c0, c1 = _I32(c0 + _I32(r * e0)), _I32(c1 + _I32(r * e1))
        c2, c3 = _I32(c2 + _I32(r * e2)), _I32(c3 + _I32(r * e3))
        d0, d1 = _I32(d0 + _I32(s * e0)), _I32(d1 + _I32(s * e1))
        d2, d3 = _I32(d2 + _I32(s * e2)), _I32(d3 + _I32(s * e3))
    return (a0, a1, a2, a3), (b0, b1, b2, b3), (c0, c1, c2, c3), (d0, d1, d2, d3)


@numba.njit(cache=True, inline="always")
def _store(out, m, n0, acc, a_scale, a_zp, col_sum, w_scale, bias):
    """Row ``m``, columns ``n0..n0+3`` (those below ``out``'s width) of the float output,
    in fbgemm's order: ``float(acc - a_zp * col_sum) * a_scale * w_scale + bias``."""
    for j in range(4):
        n = n0 + j
        if n < out.shape[1]:
            raw = np.float32(acc[j] - a_zp * col_sum[n])
            out[m, n] = raw * a_scale * w_scale[n] + bias[n]


@numba.njit(cache=True, parallel=True)  # no fastmath: the float epilogue keeps its order
def qlinear_s8(xq, a_scale, a_zp, wq, col_sum, w_scale, bias, out):
    """``out[m, n] = (sum_k xq[m, k] * wq[n, k] - a_zp * col_sum[n]) * a_scale * w_scale[n]
    + bias[n]``: ``xq (M, K)`` uint8 activations, ``wq (N, K)`` int8 weights (rows padded
    to a multiple of 4), int32 sums, ``col_sum[n] = sum_k wq[n, k]``. ``bias`` is float32
    of length N (zeros when the layer has none). Blocks of 4 rows by 4 columns, then the
    last ``M % 4`` rows one by one."""
    m_rows, k_len = xq.shape
    m_full = m_rows - m_rows % 4
    for b in numba.prange(wq.shape[0] // 4):
        n0 = b * 4
        w0, w1, w2, w3 = wq[n0], wq[n0 + 1], wq[n0 + 2], wq[n0 + 3]
        for m in range(0, m_full, 4):
            acc = _dot4x4(xq[m], xq[m + 1], xq[m + 2], xq[m + 3], w0, w1, w2, w3, k_len)
            for i in range(4):
                _store(out, m + i, n0, acc[i], a_scale, a_zp, col_sum, w_scale, bias)
        for m in range(m_full, m_rows):
            acc1 = _dot1x4(xq[m], w0, w1, w2, w3, k_len)
            _store(out, m, n0, acc1, a_scale, a_zp, col_sum, w_scale, bias)


# ---- the same product with AVX-512 VNNI, on weights packed once ------------------------------

NR = 64  # output columns of a VNNI tile: four 16-lane int32 vectors
MR = 6  # activation rows of a micro-kernel call: 6 x 4 = 24 accumulator registers
PREFETCH_BYTES = 4096  # how far ahead of its loads the VNNI kernel asks for weights
KC = 512  # K of a panel: a tile's panel of packed weights (KC x NR bytes) stays in L1
TASKS = 8  # output tiles x row chunks a call is cut into at least (both cores busy)
PARALLEL_MACS = 1 << 19  # products below which a call runs on one thread


def _vnni() -> bool:
    """Whether Numba compiles for this CPU and it has AVX-512 VNNI (``vpdpbusd``)."""
    from llvmlite import binding
    return numba.config.CPU_NAME is None and \
        bool(binding.get_host_cpu_features().get("avx512vnni"))


_LI32, _LI64 = ir.IntType(32), ir.IntType(64)
_V16I = ir.VectorType(_LI32, 16)


def _address(builder, arr, index):
    """The byte address of ``arr[index]`` (``arr`` a Numba array struct, ``index`` i64
    values, one a dimension) from the array's strides."""
    offset = _LI64(0)
    for d, i in enumerate(index):
        offset = builder.add(offset, builder.mul(i, builder.extract_value(arr.strides, d)))
    return builder.gep(builder.bitcast(arr.data, ir.PointerType(ir.IntType(8))), [offset])


def _vnni_block(rows: int):
    """An intrinsic ``(ap, block, wp, t, g0, g1, acc, acc_row) -> None``: ``acc[acc_row + r,
    j] += sum_k a[r, k] * W[t * NR + j, k]`` for ``r < rows``, ``j < NR``, ``k`` in
    ``[4 g0, 4 g1)``, with ``vpdpbusd`` (u8 x s8, four products summed into each int32
    lane). ``ap[block]`` is ``_pack_rows``' block of MR activation rows (per group of four
    ``k``, the rows' four bytes one after the other: one stream, not MR rows a page apart);
    ``wp`` is ``pack_s8``'s layout (per group, 256 bytes, column ``j``'s four weights at
    ``4 j``): a 64-byte load holds 16 columns' four weights, and four bytes of a row
    broadcast to all lanes meet them. The ``rows x NR / 16`` accumulators stay in registers
    down the panel; each loaded weight vector feeds ``rows`` instructions."""
    def codegen(context, builder, signature, args):
        ap, wp, acc = (context.make_array(signature.args[i])(context, builder, args[i])
                       for i in (0, 2, 6))
        block, t, g0, g1, acc_row = (args[i] for i in (1, 3, 4, 5, 7))
        i8p, i32p = ir.PointerType(ir.IntType(8)), _LI32.as_pointer()
        dot = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_V16I, [_V16I] * 3), "llvm.x86.avx512.vpdpbusd.512")
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, _LI32, _LI32, _LI32]),
            "llvm.prefetch.p0i8")

        def at(arr, index):
            return _address(builder, arr, index)
        acc_ptrs = [[builder.bitcast(at(acc, [builder.add(acc_row, _LI64(r)), _LI64(16 * v)]),
                                     _V16I.as_pointer()) for v in range(NR // 16)]
                    for r in range(rows)]
        regs = [[cgutils.alloca_once_value(builder, builder.load(p, align=4)) for p in row]
                for row in acc_ptrs]
        with cgutils.for_range(builder, builder.sub(g1, g0)) as loop:
            g = builder.add(g0, loop.index)
            w_at = at(wp, [t, builder.mul(g, _LI64(4))])
            w = [builder.load(builder.bitcast(builder.gep(w_at, [_LI64(64 * v)]),
                                              _V16I.as_pointer()), align=1)
                 for v in range(NR // 16)]
            for v in range(NR // 16):  # the weights PREFETCH_BYTES on (the first
                # row block reads the panel from memory, the L2 prefetcher stops at pages)
                builder.call(prefetch, [builder.gep(w_at, [_LI64(PREFETCH_BYTES + 64 * v)]),
                                        _LI32(0), _LI32(3), _LI32(1)])
            a_at = at(ap, [block, g])
            for r in range(rows):
                word = builder.load(builder.bitcast(builder.gep(a_at, [_LI64(4 * r)]), i32p),
                                    align=4)
                splat = builder.shuffle_vector(
                    builder.insert_element(ir.Constant(_V16I, ir.Undefined), word, _LI32(0)),
                    ir.Constant(_V16I, ir.Undefined), ir.Constant(_V16I, [0] * 16))
                for v in range(NR // 16):
                    reg = regs[r][v]
                    builder.store(builder.call(dot, [builder.load(reg), splat, w[v]]), reg)
        for row, ptrs in zip(regs, acc_ptrs):
            for reg, p in zip(row, ptrs):
                builder.store(builder.load(reg), p, align=4)
        return context.get_dummy_value()

    def typer(typingctx, ap, block, wp, t, g0, g1, acc, acc_row):
        return types.void(ap, block, wp, t, g0, g1, acc, acc_row), codegen
    return intrinsic(typer)


_block1, _block2, _block3, _block4, _block5, _block6 = (_vnni_block(r) for r in range(1, 7))


@numba.njit(cache=True, inline="always")
def _rows_block(ap, block, wp, t, g0, g1, acc, acc_row, rows):
    """``_vnni_block(rows)`` for ``rows`` known at run time (1..MR)."""
    if rows == 6:
        _block6(ap, block, wp, t, g0, g1, acc, acc_row)
    elif rows == 5:
        _block5(ap, block, wp, t, g0, g1, acc, acc_row)
    elif rows == 4:
        _block4(ap, block, wp, t, g0, g1, acc, acc_row)
    elif rows == 3:
        _block3(ap, block, wp, t, g0, g1, acc, acc_row)
    elif rows == 2:
        _block2(ap, block, wp, t, g0, g1, acc, acc_row)
    else:
        _block1(ap, block, wp, t, g0, g1, acc, acc_row)


@numba.njit(cache=True)
def _pack_rows(xq, ap):
    """``ap[b, g, 4 r + i] = xq[MR b + r, 4 g + i]`` (the first ``4 * ap.shape[1]``
    columns; rows past the end of ``xq`` stay as they are, never read)."""
    m_rows = xq.shape[0]
    for b in range(ap.shape[0]):
        for r in range(min(MR, m_rows - MR * b)):
            row = xq[MR * b + r]
            for g in range(ap.shape[1]):
                for i in range(4):
                    ap[b, g, 4 * r + i] = row[4 * g + i]


@numba.njit(cache=True, inline="always")
def _epilogue(acc, a_scale, a_zp, col_sum, w_scale, bias, out):
    """``out[j] = float(acc[j] - a_zp * col_sum[j]) * a_scale * w_scale[j] + bias[j]``
    (fbgemm's order) for one row of a tile; unsigned indices, so the loop vectorises."""
    for j in range(np.uint64(out.shape[0])):
        raw = np.float32(acc[j] - a_zp * col_sum[j])
        out[j] = raw * a_scale * w_scale[j] + bias[j]


@numba.njit(cache=True, parallel=True)  # no fastmath: the float epilogue keeps its order
def _qlinear_vnni(xq, a_scale, a_zp, wp, col_sum, w_scale, bias, out, m_chunk):
    """``qlinear_s8``'s result from ``pack_s8``'s tiles: the rows packed in blocks of MR
    (``_pack_rows``), then tasks of (tile of NR columns, chunk of ``m_chunk`` rows,
    rounded up to a multiple of MR); each sums int32 products in its own ``(rows, NR)``
    buffer, a ``KC`` panel of K at a time (the panel's weights stay in L1 while the
    chunk's row blocks stream by), adds the last ``K % 4`` products, then writes the
    float output in fbgemm's order."""
    m_rows, k_len = xq.shape
    n_tiles, n_cols = wp.shape[0], out.shape[1]
    k4 = k_len // 4
    m_chunk = (max(1, m_chunk) + MR - 1) // MR * MR  # whole row blocks
    ap = np.empty(((m_rows + MR - 1) // MR, k4, 4 * MR), np.uint8)
    _pack_rows(xq, ap)
    n_chunks = (m_rows + m_chunk - 1) // m_chunk
    for task in numba.prange(n_tiles * n_chunks):
        t, c = task % n_tiles, task // n_tiles
        m0, m1 = c * m_chunk, min(m_rows, (c + 1) * m_chunk)
        acc = np.zeros((m1 - m0, NR), np.int32)
        for g0 in range(0, k4, KC // 4):
            g1 = min(k4, g0 + KC // 4)
            for m in range(m0, m1, MR):
                _rows_block(ap, m // MR, wp, t, g0, g1, acc, m - m0, min(MR, m1 - m))
        for k in range(4 * k4, k_len):  # the tail: row k of the tile holds its weights
            for m in range(m0, m1):
                u = _I32(xq[m, k])
                for j in range(NR):
                    acc[m - m0, j] += u * _I32(wp[t, k, j])
        n0 = t * NR
        n1 = min(n_cols, n0 + NR)
        for m in range(m0, m1):
            _epilogue(acc[m - m0], a_scale, a_zp, col_sum[n0:n1], w_scale[n0:n1], bias[n0:n1],
                      out[m, n0:n1])


# ---- the same product with AMX-int8 tiles, for batches of 12 rows and more -----------------

AMX_ROWS = 16  # rows of an AMX tile
AMX_MIN_ROWS = 12  # batches from this many rows use AMX (padded to 16 rows): measured, 12
# rows took 0.77 ms on a 4096 x 4096 layer with AMX, 0.85-0.93 with VNNI; 8 rows 0.78 / 0.73


def _amx() -> bool:
    """Whether Numba compiles for this CPU, it has AMX-int8, and Linux lets this process
    use the tile registers: ``arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)``, which
    a process must ask once before its first tile instruction (else SIGILL)."""
    from llvmlite import binding
    features = binding.get_host_cpu_features()
    if numba.config.CPU_NAME is not None or not (features.get("amx-int8") and
                                                 features.get("amx-tile")):
        return False
    if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
        return False
    try:  # SYS_arch_prctl = 158, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18
        return ctypes.CDLL(None, use_errno=True).syscall(158, 0x1023, 18) == 0
    except (OSError, AttributeError):
        return False


def _tile_config() -> np.ndarray:
    """``ldtilecfg``'s 64 bytes: palette 1, tiles 0-6 of 16 rows x 64 bytes (four int32
    accumulator tiles of 16 x 16, one of activations 16 rows x 64 ``k``, two of weights
    16 groups of four ``k`` x 16 columns)."""
    cfg = np.zeros(64, np.uint8)
    cfg[0] = 1
    cfg[16:30].view(np.uint16)[:] = 64
    cfg[48:55] = 16
    return cfg


def _amx_fn(builder, name: str, *arg_types):
    return cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), list(arg_types)), name)


@intrinsic
def _amx_start(typingctx, cfg):
    """``ldtilecfg`` from ``cfg`` (``_tile_config``): before a task's first tile."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        i8p = ir.PointerType(ir.IntType(8))
        builder.call(_amx_fn(builder, "llvm.x86.ldtilecfg", i8p), [builder.bitcast(data, i8p)])
        return context.get_dummy_value()
    return types.void(cfg), codegen


@intrinsic
def _amx_end(typingctx):
    """``tilerelease``: the tiles back to their initial state (nothing for the OS to save)."""
    def codegen(context, builder, signature, args):
        builder.call(_amx_fn(builder, "llvm.x86.tilerelease"), [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _amx_block(typingctx, a, a_row, a_g0, wp, t, b_g0, n_groups, acc, acc_row):
    """``acc[acc_row:acc_row + 16, :NR] += a[a_row:a_row + 16, 4 a_g0:4 (a_g0 + n_groups)]
    @ W[t]`` over ``n_groups`` (a multiple of 16) groups of four ``k`` from group ``b_g0``
    of ``pack_s8``'s tile ``t``, with ``tdpbusd`` (16 x 16 int32 += 16 x 64 u8 by 64 x 16
    s8). ``pack_s8``'s layout is AMX's: a weight tile is 16 groups' 64-byte runs of 16
    columns, 256 bytes apart. The four accumulator tiles (64 columns) are loaded from and
    stored to ``acc``; each activation tile meets four weight tiles (two registers, one
    loading while the other multiplies). Needs ``_amx_start``."""
    def codegen(context, builder, signature, args):
        arrays = {i: context.make_array(signature.args[i])(context, builder, args[i])
                  for i in (0, 3, 7)}
        i8, i8p = ir.IntType(8), ir.PointerType(ir.IntType(8))
        load = _amx_fn(builder, "llvm.x86.tileloadd64", i8, i8p, _LI64)
        store = _amx_fn(builder, "llvm.x86.tilestored64", i8, i8p, _LI64)
        dot = _amx_fn(builder, "llvm.x86.tdpbusd", i8, i8, i8)

        def at(i, index):  # the byte address of element ``index`` of array argument ``i``
            return _address(builder, arrays[i], index)
        acc_at = at(7, [args[8], _LI64(0)])
        row_bytes = _LI64(4 * NR)
        for v in range(NR // 16):
            builder.call(load, [i8(v), builder.gep(acc_at, [_LI64(64 * v)]), row_bytes])
        lda = builder.extract_value(arrays[0].strides, 0)
        with cgutils.for_range(builder, builder.udiv(args[6], _LI64(16))) as loop:
            step = builder.mul(loop.index, _LI64(16))
            a_k = builder.mul(builder.add(args[2], step), _LI64(4))
            builder.call(load, [i8(4), at(0, [args[1], a_k]), lda])
            w_at = at(3, [args[4], builder.mul(builder.add(args[5], step), _LI64(4))])
            for v in range(NR // 16):
                b = i8(5 + v % 2)
                builder.call(load, [b, builder.gep(w_at, [_LI64(64 * v)]), row_bytes])
                builder.call(dot, [i8(v), i8(4), b])
        for v in range(NR // 16):
            builder.call(store, [i8(v), builder.gep(acc_at, [_LI64(64 * v)]), row_bytes])
        return context.get_dummy_value()
    sig = types.void(a, a_row, a_g0, wp, t, b_g0, n_groups, acc, acc_row)
    return sig, codegen


@numba.njit(cache=True, inline="always")
def _last_groups(wp, t, g_start, k_len, last):
    """Tile ``t``'s groups from ``g_start`` on, then its last ``K % 4`` weights as one
    more group (zero-padded), into ``last`` (zeros, 16 groups) in ``pack_s8``'s layout."""
    k4 = k_len // 4
    flat = last.reshape(last.size)
    for g in range(g_start, k4):
        for i in range(4):
            for j in range(NR):
                flat[(g - g_start) * 4 * NR + i * NR + j] = wp[t, 4 * g + i, j]
    for r in range(k_len - 4 * k4):
        for j in range(NR):
            flat[(k4 - g_start) * 4 * NR + 4 * j + r] = wp[t, 4 * k4 + r, j]


@numba.njit(cache=True, parallel=True)  # no fastmath: the float epilogue keeps its order
def _qlinear_amx(xq, a_scale, a_zp, wp, col_sum, w_scale, bias, out, m_chunk, cfg):
    """``_qlinear_vnni``'s result with AMX tiles: the activations copied into rows and
    columns padded with zeros to multiples of 16 and 64, then tasks of (tile of NR
    columns, chunk of ``m_chunk`` rows, rounded up to a multiple of 16), each ``KC``
    panel of K at a time over its 16-row blocks (``_amx_block``); the last, partial 64
    ``k`` (groups past the last multiple of 16, the ``K % 4`` tail) from a zero-padded
    copy of the tile's weights. Then the float output in fbgemm's order."""
    m_rows, k_len = xq.shape
    n_tiles, n_cols = wp.shape[0], out.shape[1]
    k_blocks, full = (k_len + 63) // 64, k_len // 64
    m16 = (m_rows + 15) // 16 * 16
    m_chunk = (max(1, m_chunk) + 15) // 16 * 16  # whole tiles: a block writes 16 rows
    a = np.zeros((m16, 64 * k_blocks), np.uint8)
    a[:m_rows, :k_len] = xq
    n_chunks = (m16 + m_chunk - 1) // m_chunk
    for task in numba.prange(n_tiles * n_chunks):
        t, c = task % n_tiles, task // n_tiles
        m0, m1 = c * m_chunk, min(m16, (c + 1) * m_chunk)
        acc = np.zeros((m1 - m0, NR), np.int32)
        _amx_start(cfg)
        for g0 in range(0, 16 * full, KC // 4):
            g1 = min(16 * full, g0 + KC // 4)
            for m in range(m0, m1, 16):
                _amx_block(a, m, g0, wp, t, g0, g1 - g0, acc, m - m0)
        if full < k_blocks:
            last = np.zeros((1, 64, NR), np.int8)
            _last_groups(wp, t, 16 * full, k_len, last)
            for m in range(m0, m1, 16):
                _amx_block(a, m, 16 * full, last, 0, 0, 16, acc, m - m0)
        _amx_end()
        n0 = t * NR
        n1 = min(n_cols, n0 + NR)
        for m in range(m0, min(m1, m_rows)):
            _epilogue(acc[m - m0], a_scale, a_zp, col_sum[n0:n1], w_scale[n0:n1], bias[n0:n1],
                      out[m, n0:n1])


def pack_s8(wq: np.ndarray) -> np.ndarray:
    """The int8 weights ``wq (N, K)`` in the layout of the kernel ``qlinear`` runs: with
    VNNI, ``(ceil(N / NR), K, NR)`` tiles of NR output columns (zero beyond N), each the
    ``K // 4`` groups of four ``k`` as ``_vnni_block`` reads them (column ``j``'s four
    weights at byte ``4 j`` of a group's 256), then the last ``K % 4`` rows of weights as
    they are (``k``-major); 64-byte aligned (the kernel does not require it). Without
    VNNI, ``qlinear_s8``'s rows padded to a multiple of four. Either way ``shape[1]`` is
    K."""
    n, k = wq.shape
    if not VNNI:
        rows = np.zeros((-(-n // 4) * 4, k), np.int8)
        rows[:n] = wq
        return rows
    n_tiles, k4 = -(-n // NR), k // 4
    cols = np.zeros((n_tiles * NR, k), np.int8)
    cols[:n] = wq
    cols = cols.reshape(n_tiles, NR, k)
    raw = np.empty(n_tiles * k * NR + 64, np.int8)  # aligned: one weight vector, one line
    start = -raw.ctypes.data % 64
    tiles = raw[start:start + n_tiles * k * NR].reshape(n_tiles, k, NR)
    tiles[:, :4 * k4] = cols[:, :, :4 * k4].reshape(n_tiles, NR, k4, 4).transpose(
        0, 2, 1, 3).reshape(n_tiles, 4 * k4, NR)
    tiles[:, 4 * k4:] = cols[:, :, 4 * k4:].transpose(0, 2, 1)
    return tiles


def qlinear(xq, a_scale, a_zp, wp, col_sum, w_scale, bias, out) -> None:
    """``qlinear_s8``'s product on ``pack_s8``'s weights ``wp``: for its tiles (3-D) the
    AMX kernel from ``AMX_MIN_ROWS`` rows on, else the VNNI one, on one thread for a small
    product or a busy machine; for padded rows (2-D) ``qlinear_s8``."""
    if wp.ndim == 2:
        qlinear_s8(xq, a_scale, a_zp, wp, col_sum, w_scale, bias, out)
        return
    m, k = xq.shape
    chunks = -(-TASKS // max(1, wp.shape[0]))  # row chunks, so that small N still has tasks
    rows = AMX_ROWS if AMX and m >= AMX_MIN_ROWS else MR
    m_chunk = -(-max(1, -(-m // chunks)) // rows) * rows
    args = (xq, a_scale, a_zp, wp, col_sum, w_scale, bias, out, m_chunk)
    if rows == AMX_ROWS:
        _run(_qlinear_amx, m * k * w_scale.shape[0], *args, _TILE_CONFIG,
             threshold=PARALLEL_MACS)
    else:
        _run(_qlinear_vnni, m * k * w_scale.shape[0], *args, threshold=PARALLEL_MACS)


VNNI = _vnni()
AMX = VNNI and _amx()
_TILE_CONFIG = _tile_config()


def qlinear_s8_reference(xq, a_scale, a_zp, wq, col_sum, w_scale, bias):
    """NumPy reference of ``qlinear_s8`` (``wq`` unpadded)."""
    acc = xq.astype(np.int64) @ wq.astype(np.int64).T - a_zp * col_sum.astype(np.int64)
    return acc.astype(np.float32) * np.float32(a_scale) * w_scale + bias


@numba.njit(cache=True, parallel=True)  # no fastmath: x * inv + zp must not fuse
def quantize_u8(x, inv_scale, zero_point, out):
    """``out = clamp(rint(x * inv_scale + zero_point), 0, 255)`` (uint8), row by row."""
    m_rows, k_len = x.shape
    lo, hi = np.float32(0.0), np.float32(255.0)
    for m in numba.prange(m_rows):
        for k in range(k_len):
            v = np.rint(x[m, k] * inv_scale + zero_point)
            out[m, k] = np.uint8(min(max(v, lo), hi))


QUANTIZE_PARALLEL = 1 << 18  # activations below which quantize_rows runs on one thread


def quantize_rows(x, inv_scale, zero_point, out) -> None:
    """``quantize_u8`` on the threads ``_run`` gives ``x.size`` values: one for a small
    batch or on a busy machine (a parallel loop waits for a second thread the scheduler
    may not run for milliseconds)."""
    _run(quantize_u8, x.size, x, inv_scale, zero_point, out, threshold=QUANTIZE_PARALLEL)


def min_max(x: np.ndarray) -> tuple:
    """The smallest and largest value of the non-empty float array ``x``: NumPy's SIMD
    reductions (0.08 ms for 512K values, where ``_min_max_loop`` took 0.55 -- a sixth of a
    batch-128 4096 x 4096 layer); ``_min_max_loop``'s answer where ``x`` holds a NaN."""
    lo, hi = x.min(), x.max()
    if np.isnan(lo) or np.isnan(hi):
        return _min_max_loop(x)
    return lo, hi


@numba.njit(cache=True)
def _min_max_loop(x):
    """``min``/``max`` down ``x`` in one pass (a NaN is passed over unless it comes first)."""
    flat = x.ravel()
    lo = hi = flat[0]
    for v in flat:
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi


# ---- weight-only int4 / int8: dequantise inside the GEMV/GEMM ---------------------------------

ROWS_PER_TASK = 16  # output rows per parallel task of the GEMV kernels
PREFETCH_ROWS = 4  # how many weight rows ahead the kernels ask for the next row's bytes
TILE_BYTES = 1 << 18  # float32 weights one task of the batched kernels dequantises at a time
PARALLEL_BYTES = 1 << 16  # weight bytes below which a GEMV runs on one thread
FUSED_ROWS = 4  # int4 batches up to this many rows decode weights in registers, not tiles


@intrinsic
def _prefetch(typingctx, arr, idx):
    """``llvm.prefetch`` of ``arr[idx]`` (read, into all cache levels). The weight-only
    kernels spend a few instructions per row on compute, so a row's bytes must be on their
    way before the row starts: the hardware prefetcher alone left them waiting on memory
    (int4 GEMV 2.5-3x slower on weights that are not in cache)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        i8p, i32 = ir.PointerType(ir.IntType(8)), ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return sig, codegen


@numba.njit(cache=True, inline="always")
def _prefetch_row(rows, n):
    """Ask for row ``n + PREFETCH_ROWS`` of the 2-D C-contiguous ``rows``, a line at a time."""
    ahead = n + PREFETCH_ROWS
    if ahead < rows.shape[0]:
        row = rows[ahead]
        for off in range(0, row.shape[0], 64 // row.itemsize):
            _prefetch(row, off)


@numba.njit(cache=True, inline="always")
def _int4_row_dot(x, x_sums, row, scales, zeros, group):
    """``x . dequantised row`` for one packed int4 row, without materialising the row:
    per group, ``scale * sum(x * q) + zero * sum(x)`` (``x_sums`` holds the groups'
    ``sum(x)``). Byte ``j`` of a group holds elements ``j`` (low nibble) and
    ``j + group/2`` (high nibble), so both halves are read contiguously; the nibbles are
    kept in int32 (Numba would widen them to int64, four lanes a vector instead of 8)."""
    half = np.uint64(group // 2)
    total = np.float32(0.0)
    for g in range(scales.shape[0]):
        k0 = np.uint64(g * group)
        b0 = np.uint64(g) * half
        a = np.float32(0.0)
        b = np.float32(0.0)
        for j in range(half):
            v = np.int32(row[b0 + j])
            a += x[k0 + j] * np.float32(np.int32(v & 15))
            b += x[k0 + half + j] * np.float32(np.int32(v >> 4))
        total += scales[g] * (a + b) + zeros[g] * x_sums[g]
    return total


@numba.njit(cache=True, parallel=True, fastmath=True)
def _int4_gemv_portable(x, packed, scales, zeros, group, bias, out):
    """``out = dequant(W) @ x + bias`` for one activation row ``x (K,)``, with
    ``W[n, k] = q * scales[n, g] + zeros[n, g]`` (``g = k // group``, ``q`` the 4-bit
    value in ``packed (N, K/2)``): fused per group (``_int4_row_dot``), each weight is
    read once, as a nibble -- batch-1 decoding. Any CPU."""
    n_groups = scales.shape[1]
    n_cols = packed.shape[0]
    x_sums = np.zeros(n_groups, np.float32)
    for g in range(n_groups):
        for j in range(np.uint64(group)):
            x_sums[g] += x[np.uint64(g * group) + j]
    for task in numba.prange((n_cols + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        for n in range(task * ROWS_PER_TASK, min(n_cols, (task + 1) * ROWS_PER_TASK)):
            _prefetch_row(packed, n)
            out[n] = _int4_row_dot(x, x_sums, packed[n], scales[n], zeros[n], group) + bias[n]


def _avx512vl() -> bool:
    """Whether Numba compiles for this CPU (no ``NUMBA_CPU_NAME`` override) and it has
    AVX-512 F and VL, which ``vpermi2ps`` on 256-bit vectors needs."""
    from llvmlite import binding
    features = binding.get_host_cpu_features()
    return numba.config.CPU_NAME is None and bool(features.get("avx512f")) and \
        bool(features.get("avx512vl"))


_V8F, _V8I = ir.VectorType(ir.FloatType(), 8), ir.VectorType(_LI32, 8)
_V8B = ir.VectorType(ir.IntType(8), 8)


def _vperm_row_dot(words: bool, rows: int = 1):
    """An intrinsic ``(x, row, scales, zeros, half) -> float32``: ``x . dequantised row``
    for one packed int4 row (as ``_int4_row_dot``) with AVX-512VL's two-table permute: per
    group the 16 values ``q * scale + zero`` (q = 0..15) sit in two 8-float registers and
    ``vpermi2ps`` looks eight nibbles up at once (it reads only an index's low 4 bits, so
    nibbles need no mask). The accumulators stay vectors down the whole row: one
    horizontal sum per row instead of one per group.

    ``words=False`` (group a multiple of 32): 8 bytes at a time zero-extended to 32-bit
    lanes, low nibbles as they are and high ones shifted by 4, ``x`` read in place.
    ``words=True`` (group a multiple of 64): 32 bytes at a time as eight 32-bit words,
    each word's eight nibbles brought down by shifts (no zero-extension, which shared the
    permute's port), ``x`` read from ``_permute_x``'s order; 1.1-1.3x the bytes version.
    ``rows=4``: ``x`` is ``(4, K)`` and the result a 4-tuple, each looked-up weight vector
    multiplied into all four rows (small batches read and decode the weights once)."""
    def codegen(context, builder, signature, args):
        xa, ra, sa, za = (context.make_array(t)(context, builder, v)
                          for t, v in zip(signature.args[:4], args[:4]))
        n_groups, half = builder.extract_value(sa.shape, 0), args[4]
        k_len = builder.extract_value(xa.shape, 1 if rows > 1 else 0)
        perm = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_V8F, [_V8F, _V8I, _V8F]),
            "llvm.x86.avx512.vpermi2var.ps.256")
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_V8F, [_V8F] * 3), "llvm.fma.v8f32")

        def splat(ptr, idx):
            one = builder.insert_element(ir.Constant(_V8F, ir.Undefined),
                                         builder.load(builder.gep(ptr, [idx])), _LI32(0))
            return builder.shuffle_vector(one, ir.Constant(_V8F, ir.Undefined),
                                          ir.Constant(_V8I, [0] * 8))

        def vector(ptr, idx, ty):
            return builder.load(builder.bitcast(builder.gep(ptr, [idx], inbounds=True),
                                                ty.as_pointer()), align=1)

        def shift(v, bits):
            return builder.lshr(v, ir.Constant(_V8I, [bits] * 8)) if bits else v

        chains = 4 if rows == 1 else 2  # FMA chains per row of x
        accs = [[cgutils.alloca_once_value(builder, ir.Constant(_V8F, None))
                 for _ in range(chains)] for _ in range(rows)]

        def accumulate(i, nibbles, x_at):
            w = builder.call(perm, [table[0], nibbles, table[1]])
            for r in range(rows):
                acc = accs[r][i % chains]
                x_r = builder.add(builder.mul(k_len, _LI64(r)), x_at)
                builder.store(builder.call(fma, [w, vector(xa.data, x_r, _V8F),
                                                 builder.load(acc)]), acc)

        with cgutils.for_range(builder, n_groups) as group_loop:
            g = group_loop.index
            scale, zero = splat(sa.data, g), splat(za.data, g)
            table = [builder.call(fma, [scale, ir.Constant(_V8F, list(range(i, i + 8))),
                                        zero]) for i in (0, 8)]
            b0 = builder.mul(g, half)
            k0 = builder.add(b0, b0)
            if words:  # 32 bytes (64 weights) an iteration
                with cgutils.for_range(builder, builder.udiv(half, _LI64(32))) as loop:
                    j = builder.mul(loop.index, _LI64(32))
                    word = vector(ra.data, builder.add(b0, j), _V8I)
                    base = builder.add(k0, builder.add(j, j))
                    for i in range(8):
                        accumulate(i, shift(word, 4 * i), builder.add(base, _LI64(8 * i)))
            else:  # 16 bytes (32 weights) an iteration
                with cgutils.for_range(builder, builder.udiv(half, _LI64(16))) as loop:
                    for u in range(2):
                        j = builder.add(builder.mul(loop.index, _LI64(16)), _LI64(8 * u))
                        byte = builder.zext(vector(ra.data, builder.add(b0, j), _V8B), _V8I)
                        accumulate(2 * u, byte, builder.add(k0, j))
                        accumulate(2 * u + 1, shift(byte, 4),
                                   builder.add(builder.add(k0, half), j))
        results = []
        for row_accs in accs:
            total = builder.load(row_accs[0])
            for acc in row_accs[1:]:
                total = builder.fadd(total, builder.load(acc))
            result = builder.extract_element(total, _LI32(0))
            for i in range(1, 8):
                result = builder.fadd(result, builder.extract_element(total, _LI32(i)))
            results.append(result)
        if rows == 1:
            return results[0]
        return context.make_tuple(builder, signature.return_type, results)

    def typer(typingctx, x, row, scales, zeros, half):
        ret = types.float32 if rows == 1 else types.UniTuple(types.float32, rows)
        return ret(x, row, scales, zeros, half), codegen
    return intrinsic(typer)


_int4_row_dot_bytes = _vperm_row_dot(words=False)
_int4_row_dot_words = _vperm_row_dot(words=True)
_int4_rows4_dot_words = _vperm_row_dot(words=True, rows=4)


@numba.njit(cache=True)
def _permute_x(x, group, xp):
    """``x`` in the order ``_int4_row_dot_words`` reads it: per group and 32-byte chunk
    ``c``, shift ``s`` (nibble ``t = s // 2`` of a word, high half if ``s`` is odd) and
    lane ``l``, the weight at byte ``32c + 4l + t`` of the group's bytes."""
    half = group // 2
    for k0 in range(0, x.shape[0], group):
        for c in range(half // 32):
            for s in range(8):
                src = k0 + (s % 2) * half + 32 * c + s // 2
                for lane in range(8):
                    xp[k0 + 64 * c + 8 * s + lane] = x[src + 4 * lane]


@numba.njit(cache=True, parallel=True)
def _int4_gemv_vperm(x, packed, scales, zeros, group, bias, out, xp):
    """``_int4_gemv_portable``'s result with AVX-512VL's table lookups:
    ``_int4_row_dot_words`` on ``xp`` (``x`` in ``_permute_x``'s order; group a multiple
    of 64), or ``_int4_row_dot_bytes`` on ``x`` as it is where ``xp`` is None (a multiple
    of 32). Numba prunes the ``xp is None`` branch while compiling, so each variant is its
    own loop (the branch left in the loop cost the bytes variant 5-8%)."""
    n_cols = packed.shape[0]
    half = np.int64(group // 2)
    for task in numba.prange((n_cols + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        for n in range(task * ROWS_PER_TASK, min(n_cols, (task + 1) * ROWS_PER_TASK)):
            _prefetch_row(packed, n)
            if xp is None:
                dot = _int4_row_dot_bytes(x, packed[n], scales[n], zeros[n], half)
            else:
                dot = _int4_row_dot_words(xp, packed[n], scales[n], zeros[n], half)
            out[n] = dot + bias[n]


def _int4_gemv_avx512(x, packed, scales, zeros, group, bias, out) -> None:
    """``_int4_gemv_vperm`` in the variant that ``group`` takes (a multiple of 32)."""
    xp = None
    if group % 64 == 0:
        xp = np.empty_like(x)
        _permute_x(x, group, xp)
    _int4_gemv_vperm(x, packed, scales, zeros, group, bias, out, xp)


@numba.njit(cache=True, parallel=True)
def _int4_gemm_avx512_words(x, packed, scales, zeros, group, bias, out):
    """``out (M, N) = x (M, K) @ dequant(W).T + bias`` for a few rows (``FUSED_ROWS`` or
    fewer): each weight row is read and decoded once per four rows of ``x``, and the
    looked-up weights multiplied into all four (``_int4_rows4_dot_words``; AVX-512VL,
    group a multiple of 64)."""
    m_rows, k = x.shape
    m4 = (m_rows + 3) // 4 * 4
    xp = np.zeros((m4, k), np.float32)  # rows padded to a multiple of 4 with zeros
    for m in range(m_rows):
        _permute_x(x[m], group, xp[m])
    n_cols = packed.shape[0]
    half = np.int64(group // 2)
    for task in numba.prange((n_cols + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        for n in range(task * ROWS_PER_TASK, min(n_cols, (task + 1) * ROWS_PER_TASK)):
            _prefetch_row(packed, n)
            for m0 in range(0, m4, 4):
                dots = _int4_rows4_dot_words(xp[m0:m0 + 4], packed[n], scales[n], zeros[n],
                                             half)
                for i in range(min(4, m_rows - m0)):
                    out[m0 + i, n] = dots[i] + bias[n]


# name: (kernel, the group sizes it takes are multiples of this)
INT4_GEMV_KERNELS = {"portable": (_int4_gemv_portable, 2)}
if _avx512vl():
    INT4_GEMV_KERNELS.update(avx512=(_int4_gemv_avx512, 32))


def _run(kernel, weight_bytes: int, *args, threshold: int = PARALLEL_BYTES) -> None:
    """``kernel(*args)`` on the threads ``_parallel.threads_for`` gives a pass over
    ``weight_bytes`` of weights (or other work, in ``threshold``'s units): one for a small
    layer (waking the second thread costs more) or while other processes keep the cores
    busy."""
    had = numba.get_num_threads()
    want = min(threads_for(weight_bytes, threshold), numba.config.NUMBA_NUM_THREADS)
    if want != had:
        numba.set_num_threads(want)
    try:
        kernel(*args)
    finally:
        if want != had:
            numba.set_num_threads(had)


def int4_gemv(x, packed, scales, zeros, group, bias, out) -> None:
    """``out = dequant(W) @ x + bias`` for one float32 row ``x``: the last kernel of
    ``INT4_GEMV_KERNELS`` (fastest last) that this CPU has and that takes this group."""
    kernel = [k for k, multiple in INT4_GEMV_KERNELS.values() if group % multiple == 0][-1]
    _run(kernel, packed.nbytes, x, packed, scales, zeros, group, bias, out)


@numba.njit(cache=True, fastmath=True)  # serial: called per tile
def int4_dequantize_rows(packed, scales, zeros, group, dst):
    """``dst[n, k] = q * scale + zero`` for the packed int4 rows (float32): a tile of
    rows dequantised into a cache-sized buffer, which BLAS then multiplies (batches > 1)."""
    half = np.uint64(group // 2)
    for n in range(packed.shape[0]):
        _prefetch_row(packed, n)
        row, out = packed[n], dst[n]
        for g in range(scales.shape[1]):
            sc, z = scales[n, g], zeros[n, g]
            k0, b0 = np.uint64(g * group), np.uint64(g) * half
            for j in range(half):
                v = np.int32(row[b0 + j])
                out[k0 + j] = np.float32(np.int32(v & 15)) * sc + z
                out[k0 + half + j] = np.float32(np.int32(v >> 4)) * sc + z


@numba.njit(cache=True, parallel=True, fastmath=True)
def _int8_gemv(x, wq, scale, bias, out):
    """``out = (wq @ x) * scale + bias`` for one activation row, int8 weights converted
    to float as they stream by."""
    n_cols = wq.shape[0]
    for task in numba.prange((n_cols + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        for n in range(task * ROWS_PER_TASK, min(n_cols, (task + 1) * ROWS_PER_TASK)):
            _prefetch_row(wq, n)
            row = wq[n]
            acc = np.float32(0.0)
            for k in range(np.uint64(row.shape[0])):
                acc += x[k] * np.float32(row[k])
            out[n] = acc * scale[n] + bias[n]


def int8_gemv(x, wq, scale, bias, out) -> None:
    """``out = (wq @ x) * scale + bias`` for one float32 row ``x``."""
    _run(_int8_gemv, wq.nbytes, x, wq, scale, bias, out)


@numba.njit(cache=True, fastmath=True)  # serial: called per tile
def int8_dequantize_rows(wq, scale, dst):
    """``dst[n, k] = wq[n, k] * scale[n]`` (float32), for the batched path."""
    for n in range(wq.shape[0]):
        _prefetch_row(wq, n)
        row, out, sc = wq[n], dst[n], scale[n]
        for k in range(np.uint64(row.shape[0])):
            out[k] = np.float32(row[k]) * sc


@numba.njit(cache=True, parallel=True)
def _int4_gemm(sgemm, x, packed, scales, zeros, group, bias, out, tile):
    """``out (M, N) = x (M, K) @ dequant(W).T + bias``: each task dequantises ``tile``
    weight rows into its own float32 buffer (it stays in cache) and multiplies ``x`` by it
    with one single-threaded BLAS ``sgemm`` into its columns of ``out``; the weights are
    read once whatever M."""
    m, k = x.shape
    n = packed.shape[0]
    for t in numba.prange((n + tile - 1) // tile):
        n0, n1 = t * tile, min(n, (t + 1) * tile)
        buf = np.empty((n1 - n0, k), np.float32)
        int4_dequantize_rows(packed[n0:n1], scales[n0:n1], zeros[n0:n1], group, buf)
        _tile_sgemm(sgemm, x, buf, bias, out, n0)


@numba.njit(cache=True, parallel=True)
def _int8_gemm(sgemm, x, wq, scale, bias, out, tile):
    """``_int4_gemm`` for int8 weights."""
    m, k = x.shape
    n = wq.shape[0]
    for t in numba.prange((n + tile - 1) // tile):
        n0, n1 = t * tile, min(n, (t + 1) * tile)
        buf = np.empty((n1 - n0, k), np.float32)
        int8_dequantize_rows(wq[n0:n1], scale[n0:n1], buf)
        _tile_sgemm(sgemm, x, buf, bias, out, n0)


@numba.njit(cache=True, inline="always")
def _tile_sgemm(sgemm, x, buf, bias, out, n0):
    """``out[:, n0:n0+len(buf)] = x @ buf.T + bias[n0:...]`` by BLAS (row-major, ``out``
    of leading dim N)."""
    m, k = x.shape
    rows, n = buf.shape[0], out.shape[1]
    sgemm(101, 111, 112, m, rows, k, 1.0, x.ctypes.data, k, buf.ctypes.data, k, 0.0,
          out.ctypes.data + n0 * 4, n)
    for i in range(m):
        for j in range(rows):
            out[i, n0 + j] += bias[n0 + j]


def _gemm(kernel, weight_bytes: int, x, *args) -> np.ndarray | None:
    """``kernel``'s ``(M, N)`` product with tiles of ``TILE_BYTES`` dequantised weights,
    or None without a CBLAS ``sgemm`` (the caller then falls back on NumPy)."""
    from ._kernels_gemm import _cblas
    sgemm = _cblas().get(np.dtype(np.float32))
    if sgemm is None:
        return None
    n, k = args[0].shape[0], x.shape[1]
    out = np.empty((x.shape[0], n), np.float32)
    tile = max(8, min(n, TILE_BYTES // (4 * k)))
    _run(kernel, weight_bytes, sgemm, x, *args, out, tile)
    return out


def int4_gemm(x, packed, scales, zeros, group, bias) -> np.ndarray | None:
    """``x (M, K) @ dequant(W).T + bias`` for a few rows or many (prefill, batches): up to
    ``FUSED_ROWS`` rows with the fused AVX-512 kernel where it runs, else dequantised
    tiles and BLAS."""
    if x.shape[0] <= FUSED_ROWS and "avx512" in INT4_GEMV_KERNELS and group % 64 == 0:
        out = np.empty((x.shape[0], packed.shape[0]), np.float32)
        _run(_int4_gemm_avx512_words, packed.nbytes, x, packed, scales, zeros, group, bias,
             out)
        return out
    return _gemm(_int4_gemm, packed.nbytes, x, packed, scales, zeros, group, bias)


def int8_gemm(x, wq, scale, bias) -> np.ndarray | None:
    """``x (M, K) @ (wq * scale).T + bias`` for a few rows or many."""
    return _gemm(_int8_gemm, wq.nbytes, x, wq, scale, bias)


def pack_int4(q: np.ndarray, group: int) -> np.ndarray:
    """4-bit values ``q (N, K)`` (0..15) two per byte, in ``int4_linear``'s layout: within
    each group, byte ``j`` = ``q[j] | q[j + group/2] << 4``."""
    n, k = q.shape
    g = q.reshape(n, k // group, 2, group // 2).astype(np.uint8)
    return (g[:, :, 0] | (g[:, :, 1] << 4)).reshape(n, k // 2)


def unpack_int4(packed: np.ndarray, group: int) -> np.ndarray:
    """The inverse of ``pack_int4``: ``(N, K)`` uint8 values 0..15."""
    n, half_k = packed.shape
    p = packed.reshape(n, half_k * 2 // group, group // 2)
    return np.stack([p & 15, p >> 4], axis=2).reshape(n, half_k * 2)


def int4_linear_reference(x, packed, scales, zeros, group, bias):
    """NumPy reference of ``int4_gemv``/``int4_dequantize_rows``: ``x @ dequant(W).T + b``."""
    q = unpack_int4(packed, group).astype(np.float32)
    n, k = q.shape
    w = (q.reshape(n, k // group, group) * scales[..., None] + zeros[..., None]).reshape(n, k)
    return x @ w.T + bias
