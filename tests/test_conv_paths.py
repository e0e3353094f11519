"""Every path the convolution dispatcher chooses (1x1 without columns, depthwise direct
kernels, Winograd F(2x2, 3x3) also for 5x5 and 6x6 kernels, im2col GEMM one per sample or
one over the batch; strides 1/2, padding, dilation, groups), forward and both gradients
against torch: float64 tight, float32 to ~1e-5 relative."""

import numpy as np
import pytest
import torch

import ember
from ember.ops import _blas
from ember.ops import _kernels_nn as K
from ember.ops import conv as C

# (N, C, H, W), (O, C/groups, kh, kw), stride, padding, dilation, groups, path taken
CASES = [
    ((2, 32, 9, 9), (48, 32, 1, 1), 1, 0, 1, 1, "pointwise"),
    ((2, 32, 9, 9), (48, 32, 1, 1), 2, 0, 1, 1, "im2col-batch"),
    ((2, 24, 9, 10), (24, 1, 3, 3), 1, 1, 1, 24, "depthwise"),
    ((2, 24, 9, 10), (48, 1, 3, 3), 2, 1, 1, 24, "depthwise"),
    ((2, 32, 9, 11), (40, 32, 3, 3), 1, 1, 1, 1, "winograd"),
    ((2, 32, 8, 8), (32, 32, 3, 3), 1, 0, 1, 1, "winograd"),
    ((2, 64, 8, 7), (64, 32, 3, 3), 1, 1, 1, 2, "winograd"),
    # more tiles than _kernels_conv.BLOCK, the last block partial; padding 2
    ((3, 16, 23, 21), (24, 16, 3, 3), 1, 2, 1, 1, "winograd"),
    ((1, 16, 7, 6), (20, 16, 3, 3), 1, 1, 1, 1, "winograd"),  # odd output: cropped tiles
    # larger kernels as sums of 3x3 ones: blocks of the kernel (stride 1), its phases
    # (stride 2)
    ((2, 16, 13, 12), (24, 16, 5, 5), 1, 2, 1, 1, "winograd"),
    ((2, 32, 11, 9), (32, 16, 5, 3), 1, 1, 1, 2, "winograd"),
    ((2, 16, 13, 12), (24, 16, 5, 5), 2, 2, 1, 1, "winograd"),
    ((2, 16, 12, 13), (16, 16, 6, 6), 2, 0, 1, 1, "winograd"),
    ((2, 32, 9, 9), (40, 32, 3, 3), 2, 1, 1, 1, "im2col-batch"),
    ((2, 32, 12, 12), (16, 32, 3, 3), 1, 2, 2, 1, "im2col"),
    ((2, 3, 16, 16), (8, 3, 7, 7), 2, 3, 1, 1, "im2col"),
    ((2, 12, 9, 9), (12, 4, 5, 5), 1, 2, 1, 3, "im2col"),
    # fewer than BY_SAMPLE_MIN_POSITIONS outputs per sample: one GEMM over the batch
    ((3, 16, 5, 5), (24, 16, 1, 1), 1, 0, 1, 1, "pointwise-batch"),
    ((3, 16, 6, 6), (24, 8, 3, 3), 1, 1, 1, 2, "im2col-batch"),
    ((4, 8, 7, 7), (8, 8, 3, 3), 2, 0, 1, 1, "im2col-batch"),
]


def _run(lib, x, w, b, stride, padding, dilation, groups):
    xt = lib.tensor(x, requires_grad=True)
    wt = lib.tensor(w, requires_grad=True)
    bt = lib.tensor(b, requires_grad=True)
    y = lib.nn.functional.conv2d(xt, wt, bt, stride, padding, dilation, groups)
    g = np.random.default_rng(1).standard_normal(tuple(y.shape)).astype(x.dtype)
    y.backward(lib.tensor(g))
    return [np.asarray(t.detach().numpy()) for t in (y, xt.grad, wt.grad, bt.grad)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[-1]}-{i}" for i, c in enumerate(CASES)])
def test_conv_path_matches_torch(case, dtype):
    xs, ws, stride, padding, dilation, groups, path = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    if path == "winograd" and dtype == np.float32:
        assert C.winograd_ok(x, w.shape, w.dtype, (stride,) * 2, ((padding, padding),) * 2,
                             (dilation,) * 2, groups)
    if path == "depthwise":
        assert K.depthwise_ok(xs[1], ws, groups, x, w)
    out = C.out_size(xs[2:], ws[2:], (stride,) * 2, ((padding, padding),) * 2, (dilation,) * 2)
    if path.startswith(("im2col", "pointwise")):
        assert C._by_sample(xs[0], out) == (not path.endswith("-batch"))
    got = _run(ember, x, w, b, stride, padding, dilation, groups)
    ref = [a.astype(np.float64) for a in _run(torch, x.astype(np.float64), w.astype(np.float64),
                                               b.astype(np.float64), stride, padding,
                                               dilation, groups)]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for name, a, r in zip(("y", "dx", "dw", "db"), got, ref):
        err = np.abs(a - r).max() / np.abs(r).max()
        assert err < tol, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("case", [c for c in CASES if c[-1] != "winograd"],
                         ids=lambda c: c[-1])
def test_conv_layout_passes_shared_among_threads(case, monkeypatch):
    """On two threads (as on an idle machine) the passes around the GEMMs (the batch folded
    into columns and back, the bias) run as ``_kernels_conv``'s parallel kernels: conv's
    output and gradients and conv_transpose's output with bias as torch's."""
    from ember.ops import _kernels_conv
    monkeypatch.setattr(_kernels_conv, "copy_parts", lambda a: 2)
    ran = set()
    for name in ("to_channels", "to_batch", "add_bias"):
        kernel = getattr(_kernels_conv, name)
        monkeypatch.setattr(_kernels_conv, name,
                            lambda *a, k=kernel, n=name: (ran.add(n), k(*a))[1])
    xs, ws, stride, padding, dilation, groups, _ = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    got = _run(ember, x, w, b, stride, padding, dilation, groups)
    ref = _run(torch, x, w, b, stride, padding, dilation, groups)
    for name, a, r in zip(("y", "dx", "dw", "db"), got, ref):
        assert np.abs(a - r).max() / np.abs(r).max() < 1e-5, name
    g = rng.standard_normal(got[0].shape).astype(np.float32)
    bias = rng.standard_normal(xs[1]).astype(np.float32)  # conv_transpose: C outputs
    out = [lib.nn.functional.conv_transpose2d(lib.tensor(g), lib.tensor(w), lib.tensor(bias),
                                              stride, padding, 0, groups, dilation)
           for lib in (ember, torch)]
    a, r = out[0].numpy(), out[1].numpy()
    assert a.shape == r.shape and np.abs(a - r).max() / np.abs(r).max() < 1e-5
    assert ran, "no layout kernel ran"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shapes", [((5, 3, 7), (5, 7, 4)), ((4, 2, 3, 6), (4, 2, 6, 5)),
                                    ((6, 40, 300), (6, 300, 50))])
def test_matmul_sum_is_sum_of_products(shapes, dtype):
    """``_blas.matmul_sum`` (a weight gradient summed over samples, in partial sums on the
    threads) equals the sum of NumPy's products, on the threaded path and the fallback."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shapes[0]).astype(dtype)
    b = rng.standard_normal(shapes[1]).astype(dtype)
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64)).sum(0)
    got = _blas.matmul_sum(a, b)
    assert got.shape == ref.shape and got.dtype == dtype
    tol = {np.float16: 5e-2, np.float32: 1e-5, np.float64: 1e-12}[dtype]
    assert np.abs(got - ref).max() / np.abs(ref).max() < tol
    transposed = _blas.matmul_sum(a, np.ascontiguousarray(b.swapaxes(-1, -2)).swapaxes(-1, -2))
    assert np.abs(transposed - ref).max() / np.abs(ref).max() < tol


@pytest.mark.parametrize("groups", [1, 2])
def test_winograd_blocks_shared_among_threads(groups, monkeypatch):
    """The fused Winograd kernels split their blocks of tiles among threads (the weight
    gradient in partial sums per thread): two parts give torch's values as one does."""
    from ember.ops import _kernels_conv
    monkeypatch.setattr(_kernels_conv, "_parts", lambda flops, tiles: 2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 32, 19, 20)).astype(np.float32)
    w = (rng.standard_normal((32, 32 // groups, 3, 3)) / 12).astype(np.float32)
    g = rng.standard_normal((2, 32, 19, 20)).astype(np.float32)
    tx, tw, tg = (torch.from_numpy(a.astype(np.float64)) for a in (x, w, g))
    ref = torch.ops.aten.convolution_backward(tg, tx, tw, None, [1, 1], [1, 1], [1, 1], False,
                                              [0, 0], groups, [True, True, False])
    got = [_kernels_conv.conv(x, w, 1, (1, 1), (19, 20), groups),
           _kernels_conv.conv(g, w, 1, (1, 1), (19, 20), groups, adjoint=True),
           _kernels_conv.weight_grad(x, g, w.shape, 1, (1, 1), groups)]
    want = [torch.nn.functional.conv2d(tx, tw, padding=1, groups=groups), ref[0], ref[1]]
    for a, r in zip(got, want):
        r = r.numpy()
        assert a.shape == r.shape and a.dtype == np.float32
        assert np.abs(a - r).max() / np.abs(r).max() < 1e-5


def test_empty_batch_convolves_as_torch():
    """An empty batch, of a shape Winograd would otherwise take: torch's empty output and
    gradients (a zero weight gradient)."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((0, 16, 5, 4)).astype(np.float32)
    w0 = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    out = {}
    for lib in (torch, ember):
        x = lib.tensor(x0, requires_grad=True)
        w = lib.tensor(w0, requires_grad=True)
        y = lib.nn.functional.conv2d(x, w, padding=1)
        y.sum().backward()
        out[lib] = (y, x.grad, w.grad)
    for t, e in zip(out[torch], out[ember]):
        assert tuple(e.shape) == tuple(t.shape)
        np.testing.assert_array_equal(e.detach().numpy(), t.detach().numpy())


@pytest.mark.parametrize("w_shape, groups", [((0, 16, 3, 3), 1), ((1, 8, 3, 3), 2)])
def test_fewer_filters_than_groups_raise_as_torch(w_shape, groups):
    messages = []
    for lib in (torch, ember):
        with pytest.raises(RuntimeError) as err:
            lib.nn.functional.conv2d(lib.zeros(2, 16, 5, 4), lib.zeros(*w_shape), groups=groups)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("xs, ws, stride, pad, groups", [
    ((3, 32, 7, 9), (48, 32, 3, 3), 1, 1, 1),     # odd output: cropped tiles
    ((2, 64, 8, 7), (64, 32, 3, 3), 1, 1, 2),
    ((2, 32, 4, 4), (64, 32, 3, 3), 1, 0, 1),     # a 2x2 output: one tile per sample
    ((2, 32, 9, 8), (32, 32, 5, 5), 1, 2, 1),     # 5x5: four 3x3 sub-kernels
    ((2, 32, 12, 11), (64, 16, 5, 5), 2, 2, 2),   # stride 2: the kernel's four phases
])
def test_winograd_few_tiles_shared_by_channels(xs, ws, stride, pad, groups, parts,
                                              monkeypatch):
    """Few tiles (one block) on several threads: the kernels that share the transforms and
    GEMMs out by channels give torch's forward, input gradient (stride 1) and weight
    gradient, also when the channels do not divide among the threads evenly."""
    from ember.ops import _kernels_conv
    monkeypatch.setattr(_kernels_conv, "_parts", lambda flops, items: min(parts, items))
    ran = set()
    for name in ("winograd_conv_split", "winograd_weight_grad_split"):
        kernel = getattr(_kernels_conv, name)
        monkeypatch.setattr(_kernels_conv, name,
                            lambda *a, k=kernel, n=name: (ran.add(n), k(*a))[1])
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    lo = (pad, pad)
    out = C.out_size(xs[2:], ws[2:], (stride,) * 2, (lo, lo), (1, 1))
    g = rng.standard_normal((xs[0], ws[0]) + out).astype(np.float32)
    tx, tw, tg = (torch.from_numpy(a.astype(np.float64)) for a in (x, w, g))
    ref = torch.ops.aten.convolution_backward(tg, tx, tw, None, [stride] * 2, [pad] * 2,
                                              [1, 1], False, [0, 0], groups,
                                              [True, True, False])
    got = [_kernels_conv.conv(x, w, stride, lo, out, groups),
           _kernels_conv.weight_grad(x, g, w.shape, stride, lo, groups)]
    want = [torch.nn.functional.conv2d(tx, tw, stride=stride, padding=pad, groups=groups),
            ref[1]]
    if stride == 1:
        full = tuple(k - 1 - pad for k in ws[2:])
        got.append(_kernels_conv.conv(g, w, 1, full, xs[2:], groups, adjoint=True))
        want.append(ref[0])
    for a, r in zip(got, want):
        r = r.numpy()
        assert a.shape == r.shape and a.dtype == np.float32
        assert np.abs(a - r).max() / np.abs(r).max() < 1e-5
    assert ran == {"winograd_conv_split", "winograd_weight_grad_split"}


@pytest.mark.parametrize("xs, ws, pad, groups", [
    ((2, 16, 13, 12), (24, 16, 5, 5), 2, 1),   # odd and even sizes: phases of unequal size
    ((2, 32, 12, 11), (64, 16, 5, 5), 2, 2),
    ((2, 16, 9, 10), (16, 16, 5, 5), 0, 1),
    ((1, 16, 11, 9), (32, 16, 5, 5), 1, 1),
    ((2, 16, 13, 13), (16, 16, 5, 5), 4, 1),   # padding past the phases' 3x3 reach
    ((2, 16, 12, 13), (16, 16, 6, 6), 2, 1),
    ((1, 16, 4, 5), (16, 16, 5, 5), 2, 1),
])
def test_stride2_input_grad_by_phases_matches_torch(xs, ws, pad, groups, monkeypatch):
    """The input gradient of a stride-2 5x5/6x6 convolution as one stride-1 Winograd
    convolution of the output gradient whose output channels are the input's four phases
    (``conv._phase_input_grad``, here on few tiles), through conv2d's backward and as
    conv_transpose2d's forward (with an output padding: a phase one longer)."""
    monkeypatch.setattr(C, "PHASE_MIN_TILES", 0)
    took = []
    phases = C._phase_input_grad
    monkeypatch.setattr(C, "_phase_input_grad",
                        lambda *a: (lambda r: (took.append(r is not None), r)[1])(phases(*a)))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    got = _run(ember, x, w, b, 2, pad, 1, groups)
    ref = _run(torch, *(a.astype(np.float64) for a in (x, w, b)), 2, pad, 1, groups)
    assert took == [True]
    for a, r in zip(got, ref):
        assert a.shape == r.shape and a.dtype == np.float32
        assert np.abs(a - r).max() <= 1e-5 * np.abs(r).max()
    out = C.out_size(xs[2:], ws[2:], (2, 2), ((pad, pad),) * 2, (1, 1))
    g = rng.standard_normal((xs[0], ws[0]) + out).astype(np.float32)
    extra = tuple((n + 2 * pad - k) % 2 for n, k in zip(xs[2:], ws[2:]))  # rows dropped
    got = ember.nn.functional.conv_transpose2d(ember.tensor(g), ember.tensor(w), stride=2,
                                               padding=pad, output_padding=extra,
                                               groups=groups).numpy()
    ref = torch.nn.functional.conv_transpose2d(torch.from_numpy(g).double(),
                                               torch.from_numpy(w).double(), stride=2,
                                               padding=pad, output_padding=extra,
                                               groups=groups).numpy()
    assert took == [True, True] and got.shape == ref.shape == xs
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
