"""``ember.compile``'s paths for small work (``ember.compiler.kernels``): a linear layer on
a few rows and attention whose probabilities nothing reads, against torch and NumPy in
float64; odd sizes, strided operands, both dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.compiler import kernels
from ember.compiler.attention import SMALL_FLOPS, AttentionOp

torch = pytest.importorskip("torch")

TOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 7, 8, 9, 31, 32])
@pytest.mark.parametrize("outs", [1, 3, 4, 13, 96])
def test_linear_rows_equals_float64_product(dtype, rows, outs):
    """``linear_rows`` (4 x 4 blocks, then the odd rows and columns) is ``x @ w.T + b``,
    also with a strided ``x``, no bias and one input feature."""
    rng = np.random.default_rng(rows * 100 + outs)
    for depth in (1, 5, 128):
        x = rng.standard_normal((rows, 2 * depth)).astype(dtype)[:, ::2]  # (strided)
        w = rng.standard_normal((outs, depth)).astype(dtype)
        b = rng.standard_normal(outs).astype(dtype)
        for bias in (b, None):
            got = kernels.linear_rows(x, w, bias)
            want = x.astype(np.float64) @ w.T.astype(np.float64)
            if bias is not None:
                want += bias
            assert got.dtype == dtype and got.flags.c_contiguous
            np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * depth)


def _attention(lib, q, k, v, causal):
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        keep = lib.ones(q.shape[-2], q.shape[-2], dtype=lib.bool).tril()
        att = att.masked_fill(~keep, float("-inf"))
    return lib.softmax(att, dim=-1) @ v


def _block(lib, qkv, heads, causal, merge):
    """A transformer block's attention on a (B, T, 3C) projection: split, heads, and the
    output merged back to (B, T, C) (``merge``) or returned per head."""
    b, t, c3 = qkv.shape
    c = c3 // 3
    q, k, v = (z.view(b, t, heads, c // heads).transpose(1, 2) for z in qkv.split(c, dim=2))
    y = _attention(lib, q, k, v, causal)
    return y.transpose(1, 2).reshape(b, t, c) * 2.0 if merge else y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("merge", [True, False])
def test_attention_without_probabilities_equals_torch(dtype, causal, merge):
    """Under no_grad the fused attention skips its probabilities: small sizes run
    ``attention_rows`` (its output laid out (B, T, H, D) when merged back), a size past
    ``SMALL_FLOPS`` the BLAS kernel; the values equal torch's at every length of one
    dynamic program (strided q, k, v from the split projection)."""
    rng = np.random.default_rng(0)
    compiled = ember.compile(lambda x: _block(ember, x, 4, causal, merge), dynamic=True)
    lengths = [1, 2, 3, 5, 9, 17, 33, 120]
    assert 2 * 4 * 120 * 120 * 32 > SMALL_FLOPS > 2 * 4 * 33 * 33 * 32  # both paths run
    for t in lengths:
        arr = rng.standard_normal((1, t, 3 * 4 * 16)).astype(dtype)
        with ember.no_grad():
            got = compiled(ember.from_numpy(arr)).numpy()
        with torch.no_grad():
            want = _block(torch, torch.from_numpy(arr), 4, causal, merge).numpy()
        np.testing.assert_allclose(got, want, rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10)
    ops = [n.op for _, p in compiled.dynamic_programs for n in p.graph.nodes
           if isinstance(n.op, AttentionOp)]
    assert ops and all(not op.probs and op.heads_last == merge for op in ops)


def test_attention_rows_batches_and_odd_widths():
    """``attention_rows`` on batches of heads, keys longer than queries (no mask), a value
    width unlike the depth, in both output layouts."""
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        q = rng.standard_normal((3, 2, 5, 7)).astype(dtype)
        k = rng.standard_normal((3, 2, 11, 7)).astype(dtype)
        v = rng.standard_normal((3, 2, 11, 3)).astype(dtype)
        s = (q.astype(np.float64) @ k.transpose(0, 1, 3, 2)) * 0.4
        p = np.exp(s - s.max(-1, keepdims=True))
        want = (p / p.sum(-1, keepdims=True)) @ v
        for heads_last in (False, True):
            got = kernels.attention_rows(q, k, v, 0.4, False, heads_last)
            assert got.shape == want.shape and got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


def test_attention_probabilities_kept_for_backward():
    """With gradients the fused attention still returns its probabilities (backward
    reads them): the op keeps ``probs``, values and gradients equal torch's."""
    rng = np.random.default_rng(2)
    arr = rng.standard_normal((1, 6, 48)).astype(np.float64)
    compiled = ember.compile(lambda x: _block(ember, x, 2, True, True))
    for _ in range(2):
        x = ember.from_numpy(arr).requires_grad_()
        got = compiled(x)
        got.sum().backward()
    tx = torch.from_numpy(arr).requires_grad_()
    want = _block(torch, tx, 2, True, True)
    want.sum().backward()
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    (prog,) = compiled.cache.values()
    ops = [n.op for n in prog.graph.nodes if isinstance(n.op, AttentionOp)]
    assert ops and all(op.probs for op in ops)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_generation_compiled_equals_eager(dtype):
    """Greedy generation without a KV cache through a compiled GPT (``dynamic=True``,
    1-40 tokens: few-row linears, small attention) gives eager's logits at every length."""
    from bench import models
    ember.manual_seed(0)
    model = models.gpt(ember, layers=2).eval()
    if dtype is np.float64:
        model = model.double()
    compiled = ember.compile(model, dynamic=True)
    with ember.no_grad():
        idx = ember.zeros(1, 1, dtype=ember.long)
        for _ in range(40):
            want = model(idx)
            got = compiled(idx)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=TOL[dtype] * 10,
                                       atol=TOL[dtype] * 10)
            assert got.is_contiguous()
            idx = ember.cat([idx, want[:, -1].argmax(-1, keepdim=True)], dim=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inference_activations_and_layer_norm_equal_torch(dtype):
    """Under no_grad, gelu (exact, tanh), silu and a last-dim layer norm run their loops
    directly in generated code (small contiguous inputs), the ops' kernels for a
    transposed input or one past the threads' size; all equal torch."""
    rng = np.random.default_rng(3)

    def f(lib, x, w, b):
        y = lib.nn.functional.layer_norm(x, (x.shape[-1],), w, b)
        return (lib.nn.functional.gelu(y) + lib.nn.functional.gelu(y, approximate="tanh")
                + lib.nn.functional.silu(x.transpose(-2, -1)).transpose(-2, -1))
    for shape in ((3, 5), (1, 7, 33), (4, 160, 128)):  # the last: 81920 >= 65536 elements
        arrays = [rng.standard_normal(s).astype(dtype) for s in (shape, shape[-1:], shape[-1:])]
        compiled = ember.compile(lambda *a: f(ember, *a))
        with ember.no_grad():
            for _ in range(2):
                got = compiled(*map(ember.from_numpy, arrays)).numpy()
        with torch.no_grad():
            want = f(torch, *map(torch.from_numpy, arrays)).numpy()
        np.testing.assert_allclose(got, want, rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10)
        source = next(iter(compiled.cache.values())).forward.__source__
        assert "_activation(" in source and "_layer_norm(" in source


def test_view_splitting_one_dim_is_numpy_reshape():
    """A view splitting one dim in two is NumPy's reshape in generated code (a view of any
    strides): of a transposed input, written through in place, equal to eager and torch."""
    def f(lib, x):
        y = x.t() * 1.0
        z = y.t().view(4, 2, 3)
        z.mul_(2.0)
        return y + 0.0, z.sum(1)
    arr = np.arange(24.0).reshape(4, 6)
    compiled = ember.compile(lambda x: f(ember, x))
    for _ in range(2):
        got = [t.numpy() for t in compiled(ember.from_numpy(arr))]
    want = [t.numpy() for t in f(torch, torch.from_numpy(arr))]
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    source = next(iter(compiled.cache.values())).forward.__source__
    assert ".reshape((4, 2, 3, ))" in source and "_reshape(" not in source


@pytest.mark.parametrize("outs", [96, 640])  # 640 x 512: past FEW_ROWS_WEIGHT, BLAS's path
def test_compiled_linear_on_few_rows_equals_torch(outs):
    """A compiled linear layer on 1-33 rows, with and without bias, equals torch (the few
    rows kernel for a small weight on one thread, BLAS's path otherwise)."""
    assert (outs * 512 > kernels.FEW_ROWS_WEIGHT) == (outs == 640)
    rng = np.random.default_rng(4)
    w = rng.standard_normal((outs, 512)).astype(np.float32) / 20
    b = rng.standard_normal(outs).astype(np.float32)
    for bias in (b, None):
        ew, tw = ember.from_numpy(w), torch.from_numpy(w)
        eb, tb = (None, None) if bias is None else (ember.from_numpy(b), torch.from_numpy(b))
        compiled = ember.compile(lambda x, ew=ew, eb=eb: ember.nn.functional.linear(x, ew, eb),
                                 dynamic=True)
        for rows in (1, 2, 5, 20, 33):
            x = rng.standard_normal((1, rows, 512)).astype(np.float32)
            with ember.no_grad():
                got = compiled(ember.from_numpy(x)).numpy()
            want = torch.nn.functional.linear(torch.from_numpy(x), tw, tb).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_feature_major_layers_equal_torch(dtype):
    """Inference linear layers whose readers take any layout are computed feature-major
    (``_linear_t``): through an activation into another layer, into arithmetic (whose
    results are C-contiguous), on 40, 12 and 3 rows; a layer that is returned, read in
    place or by another op (softmax, a fused kernel) stays row-major. Values equal
    torch's, the returned ones are C-contiguous."""
    rng = np.random.default_rng(5)
    ws = [rng.standard_normal(s).astype(dtype) / 8 for s in ((48, 24), (24, 48), (24, 24),
                                                              (24, 24), (24, 24))]
    bs = [rng.standard_normal(s[0]).astype(dtype) for s in ((48,), (24,), (24,), (24,), (24,))]

    def f(lib, x, w, b):
        F = lib.nn.functional
        h = F.linear(F.gelu(F.linear(x, w[0], b[0])), w[1], b[1])      # through gelu
        y = x * 2.0 + h - F.linear(x, w[2], b[2]) * x                   # arithmetic
        z = F.linear(y, w[3], b[3])                                     # returned
        s = lib.softmax(F.linear(y, w[4]), dim=-1)                      # another op
        return z, s, F.silu(F.linear(y, w[3], b[3])) + y
    ew, eb = [ember.from_numpy(a) for a in ws], [ember.from_numpy(a) for a in bs]
    tw, tb = [torch.from_numpy(a) for a in ws], [torch.from_numpy(a) for a in bs]
    compiled = ember.compile(lambda x: f(ember, x, ew, eb))
    for rows in (40, 12, 3):
        x = rng.standard_normal((2, rows, 24)).astype(dtype)
        with ember.no_grad():
            for _ in range(2):
                got = compiled(ember.from_numpy(x))
        with torch.no_grad():
            want = f(torch, torch.from_numpy(x), tw, tb)
        for g, t in zip(got, want):
            assert g.is_contiguous()
            np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=TOL[dtype] * 10,
                                       atol=TOL[dtype] * 10)
    for prog in [*compiled.cache.values(), *(p for _, p in compiled.dynamic_programs)]:
        source = prog.forward.__source__  # (the arithmetic may be a fused kernel instead)
        assert "_linear_t(" in source and "_activation_t(" in source


def test_linear_written_in_place_stays_row_major():
    """A layer's output an in-place op writes to (and then returned) is not made
    feature-major: the result equals eager's and is C-contiguous."""
    rng = np.random.default_rng(6)
    w = ember.from_numpy(rng.standard_normal((16, 8)).astype(np.float32))

    def f(x):
        y = ember.nn.functional.linear(x, w)
        y.mul_(2.0)
        return y
    compiled = ember.compile(f)
    x = ember.from_numpy(rng.standard_normal((40, 8)).astype(np.float32))
    with ember.no_grad():
        for _ in range(2):
            got = compiled(x)
        want = f(x)
    assert got.is_contiguous()
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert "_linear_t(" not in next(iter(compiled.cache.values())).forward.__source__
