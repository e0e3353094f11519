"""The Numba kernels of ember/ops/_kernels_transformer.py against NumPy references in float64
(and the fused ops against torch on inputs large enough to exercise several chunks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember
from ember.ops import _kernels_transformer as K

_erf = np.vectorize(math.erf, otypes=[np.float64])
_S2PI = math.sqrt(2.0 / math.pi)


def _gelu_ref(x):
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _gelu_grad_ref(x):
    return 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _gelu_tanh_ref(x):
    return 0.5 * x * (1 + np.tanh(_S2PI * (x + 0.044715 * x ** 3)))


def _gelu_tanh_grad_ref(x):
    t = np.tanh(_S2PI * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _S2PI * (1 + 3 * 0.044715 * x * x)


def _silu_ref(x):
    return x / (1 + np.exp(-x))


def _silu_grad_ref(x):
    s = 1 / (1 + np.exp(-x))
    return s * (1 + x * (1 - s))


_ACTIVATIONS = {"gelu": (_gelu_ref, _gelu_grad_ref),
                "gelu_tanh": (_gelu_tanh_ref, _gelu_tanh_grad_ref),
                "silu": (_silu_ref, _silu_grad_ref)}
# float32 runs on the vectorised approximations: within a few float32 ulps of the exact
# values, absolutely near 0 where 1 + erf and 1 - tanh**2 cancel (as they do in float32:
# torch's own float32 results are further off there); float64 runs on libm
_TOL = {np.float32: dict(rtol=1e-6, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-13)}


def _inputs(dtype, n=4001):
    x = np.concatenate([np.linspace(-12, 12, n), [0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, 200.0,
                                                   -200.0]])
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(_ACTIVATIONS))
def test_activation_kernels(name, dtype):
    x = _inputs(dtype)
    g = np.random.default_rng(0).uniform(-2, 2, x.shape).astype(dtype)
    ref, grad_ref = _ACTIVATIONS[name]
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        out, gx = K.activation(x, name), K.activation_backward(g, x, name)
        assert out.dtype == gx.dtype == dtype
        np.testing.assert_allclose(out, ref(x64), **_TOL[dtype])
        np.testing.assert_allclose(gx, g * grad_ref(x64), **_TOL[dtype])


def test_float32_exp():
    """The float32-arithmetic exp of softmax: within 1.1 ulp of the exact value from 2**-124
    to overflow, 0 below exp(-86.64) (flushed), inf above, NaN kept (through its row
    kernel)."""
    x = np.concatenate([np.linspace(-90, 89, 400_001), [-np.inf, np.inf, np.nan, 0.0, 89.0,
                                                         88.72, -86.7, -200.0]])
    x = x.astype(np.float32)
    out = np.empty_like(x)
    K._exp_shifted(x.reshape(1, -1), 0, np.float32(0.0), out)
    exact = np.exp(x.astype(np.float64))
    normal = (exact > 2.0 ** -124) & (exact < np.finfo(np.float32).max)
    ulps = np.abs(out[normal] - exact[normal]) / np.spacing(exact[normal].astype(np.float32))
    assert ulps.max() < 1.1
    assert (out[x < -86.64] == 0).all() and out[-7] == np.inf
    assert np.isnan(out[-6]) and out[-5] == 1.0 and out[-4] == np.inf
    assert out[-3] == np.float32(math.exp(np.float64(np.float32(88.72))))


@pytest.mark.parametrize("name", list(_ACTIVATIONS))
def test_activation_kernels_nonfinite(name):
    """nan stays nan; +-inf give what float32/float64 arithmetic gives (inf * 0 is nan)."""
    x = np.array([np.nan, np.inf, -np.inf])
    for dtype in (np.float32, np.float64):
        out = K.activation(x.astype(dtype), name)
        gx = K.activation_backward(np.ones(3, dtype), x.astype(dtype), name)
        assert np.isnan(out[0]) and out[1] == np.inf and np.isnan(out[2])
        assert np.isnan(gx).all() if name != "gelu_tanh" else np.isnan(gx[[0, 2]]).all()


@pytest.mark.parametrize("parts", [2, 3])
def test_activation_parallel_chunks(parts):
    x = _inputs(np.float32, 1001)
    out = np.empty_like(x)
    K._activation_parallel(x, out, K.GELU, parts)
    np.testing.assert_array_equal(out, K.activation(x, "gelu"))
    g = np.ones_like(x)
    K._activation_backward_parallel(g, x, out, K.SILU, parts)
    np.testing.assert_array_equal(out, K.activation_backward(g, x, "silu"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_backward_kernel(dtype):
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 7, 50)
    g = rng.standard_normal((50, 5)).astype(dtype)
    out = np.zeros((7, 5), dtype)
    K.embedding_backward(g, idx, out)
    expected = np.zeros((7, 5))
    np.add.at(expected, idx, g.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-13)


# ---- the fused ops against torch -----------------------------------------------------------

def _pair(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 3
    return (ember.from_numpy(x.copy()).requires_grad_(),
            torch.from_numpy(x.copy()).requires_grad_())


@pytest.mark.parametrize("fn", [lambda m, x: m.nn.functional.gelu(x),
                                lambda m, x: m.nn.functional.gelu(x, approximate="tanh"),
                                lambda m, x: m.nn.functional.silu(x)])
def test_fused_activations_match_torch(fn):
    e, t = _pair((6, 40, 50))
    g = np.random.default_rng(1).standard_normal((6, 40, 50)).astype(np.float32)
    fn(ember, e).backward(ember.from_numpy(g))
    fn(torch, t).backward(torch.from_numpy(g))
    np.testing.assert_allclose(fn(ember, e).detach().numpy(), fn(torch, t).detach().numpy(),
                               rtol=1e-5, atol=3e-6)
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=3e-6)


def test_fused_layer_norm_matches_torch():
    e, t = _pair((4, 30, 64))
    ln_e, ln_t = ember.nn.LayerNorm(64), torch.nn.LayerNorm(64)
    w = np.random.default_rng(2).standard_normal(64).astype(np.float32)
    for ln in (ln_e, ln_t):
        ln.weight.data.copy_(type(ln.weight.data)(w) if ln is ln_t else ember.from_numpy(w))
    ye, yt = ln_e(e), ln_t(t)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    (ye * ye).sum().backward()
    (yt * yt).sum().backward()
    for a, b in [(e.grad, t.grad), (ln_e.weight.grad, ln_t.weight.grad),
                 (ln_e.bias.grad, ln_t.bias.grad)]:
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


def test_layer_norm_double_backward_matches_torch():
    """create_graph takes the ember-op path of the backward, differentiable again."""
    e, t = _pair((3, 8))
    we, wt = _pair((8,), seed=4)
    out = []
    for m, x, w in ((ember, e, we), (torch, t, wt)):
        y = m.nn.functional.layer_norm(x, (8,), w, None)
        (gx,) = m.autograd.grad((y ** 3).sum(), x, create_graph=True)
        (gx * gx).sum().backward()
        out.append((x.grad.detach().numpy(), w.grad.detach().numpy()))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_gelu_double_backward_matches_torch():
    e, t = _pair((5, 7))
    out = []
    for m, x in ((ember, e), (torch, t)):
        (gx,) = m.autograd.grad(m.nn.functional.gelu(x).sum(), x, create_graph=True)
        (gx * x).sum().backward()
        out.append(x.grad.detach().numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)


# ---- fused optimizer updates ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [
    dict(weight_decay=0.0, maximize=False, decoupled_weight_decay=False, amsgrad=False),
    dict(weight_decay=0.1, maximize=True, decoupled_weight_decay=False, amsgrad=True),
    dict(weight_decay=0.1, maximize=False, decoupled_weight_decay=True, amsgrad=False)])
def test_adam_kernel_matches_numpy_update(dtype, options):
    from ember.ops import _kernels_optim as _kernels
    from ember.ops.optim import _adam
    rng = np.random.default_rng(5)
    options = dict(options)
    amsgrad = options.pop("amsgrad")
    state = [rng.standard_normal(300).astype(dtype) for _ in range(2)] + \
        [np.zeros(300, dtype) for _ in range(3 if amsgrad else 2)]
    ref = [a.copy() for a in state]
    for step in range(1, 6):
        grad = rng.standard_normal(300).astype(dtype)
        for fn, arrays in ((_kernels.adam, state), (_adam, ref)):
            arrays[1][:] = grad
            fn(*arrays[:4], arrays[4] if amsgrad else None, step=float(step), lr=0.05,
               beta1=0.9, beta2=0.99, eps=1e-8, **options)
    for got, expected in zip(state, ref):
        np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-14,
                                   atol=1e-7 if dtype == np.float32 else 1e-15)


def test_adamw_with_transposed_gradients_matches_torch():
    """Weight gradients of a matmul arrive transposed (F-ordered); the fused path reads them
    through a contiguous copy."""
    rng = np.random.default_rng(6)
    w = rng.standard_normal((6, 5)).astype(np.float32)
    e, t = ember.from_numpy(w.copy()).requires_grad_(), torch.from_numpy(w.copy())
    t.requires_grad_()
    e_opt, t_opt = ember.optim.AdamW([e], lr=0.05), torch.optim.AdamW([t], lr=0.05)
    for _ in range(4):
        g = np.asfortranarray(rng.standard_normal((6, 5)).astype(np.float32))
        e.grad, t.grad = ember.from_numpy(g), torch.from_numpy(np.ascontiguousarray(g))
        assert not e.grad.numpy().flags.c_contiguous
        e_opt.step()
        t_opt.step()
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-6, atol=1e-7)


def _softmax_ref(z, log):
    """(log-)softmax of float64 rows by the formula."""
    shifted = z - z.max(-1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(-1, keepdims=True))
    return shifted - lse if log else np.exp(shifted - lse)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("n", [7, 16, 133])
def test_softmax_kernels(dtype, log, n):
    """Plain rows (a row of -inf and one with +inf give NaN, as torch) and the backward."""
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((9, n)) * 4).astype(dtype)
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(K.softmax(x, log), _softmax_ref(x.astype(np.float64), log),
                               **tol)
    x[2], x[4, 3] = -np.inf, np.inf
    assert np.isnan(K.softmax(x, log)[[2, 4]]).all()
    g, y = rng.standard_normal(x.shape).astype(dtype), K.softmax(x[5:], log)
    g = g[5:]
    y64, g64 = y.astype(np.float64), g.astype(np.float64)
    want = g64 - np.exp(y64) * g64.sum(-1, keepdims=True) if log else \
        y64 * (g64 - (g64 * y64).sum(-1, keepdims=True))
    np.testing.assert_allclose(K.softmax_backward(g, y, log), want, **tol)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("parts", [1, 3])
def test_attention_softmax_kernel(parts, inplace):
    """Scale, a mask repeating down the rows and safe rows (all masked: zeros); also
    written over the scores."""
    rng = np.random.default_rng(7)
    s = rng.standard_normal((2, 3, 5, 20))
    mask = np.where(np.tril(np.ones((5, 20), bool)), 0.0, -np.inf)
    mask[0] = -np.inf
    out = s.copy() if inplace else np.empty_like(s)
    K._softmax_parallel(out.reshape(-1, 20) if inplace else s.reshape(-1, 20),
                        out.reshape(-1, 20), 0.3, mask, True, False, inplace, parts)
    z = s * 0.3 + mask
    want = np.nan_to_num(_softmax_ref(np.where(np.isneginf(z).all(-1, keepdims=True), 0.0, z),
                                      False)) * ~np.isneginf(z).all(-1, keepdims=True)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("parts", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_at_targets(dtype, parts):
    """Cross-entropy's picked log_softmax entries equal the full log_softmax's, bit for bit
    (a row with -inf entries included; an all -inf row gives NaN as the full one)."""
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((37, 96)) * 5).astype(dtype)
    x[3, ::2] = -np.inf
    x[5] = -np.inf
    idx = rng.integers(0, 96, 37)
    idx[3] = 1
    m, logsum = np.empty(37, dtype), np.empty(37, dtype)
    K._logsumexp_parallel(x, m, logsum, parts)
    picked = (x[np.arange(37), idx] - m) - logsum
    full = K.softmax(x, True)[np.arange(37), idx]
    np.testing.assert_array_equal(picked, full)
    np.testing.assert_array_equal(K.log_softmax_at(x, idx), full)
    assert np.isnan(full[5]) and np.isfinite(full[3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal, keys", [(True, 300), (True, 280), (True, 330), (False, 200)])
def test_fused_attention_matches_torch(dtype, causal, keys):
    """Attention without a mask or with the causal one runs in ``_kernels_attention``
    (blocks of query rows; causal: only scores at or left of the diagonal): output, weights
    and gradients as torch's, with a last partial block, fewer or more keys than queries,
    heads read in place from the (batch, sequence, heads, dim) layout, and values whose
    last dim is strided (copied)."""
    from ember.ops import _kernels_attention, attention
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((2, n, 3, 16)).astype(dtype).transpose(0, 2, 1, 3)
              for n in (300, keys)]
    arrays.append(rng.standard_normal((2, 3, keys, 32)).astype(dtype)[..., ::2])
    assert 300 % _kernels_attention.BLOCK and 300 % _kernels_attention.CAUSAL_BLOCK
    e = [ember.from_numpy(a).requires_grad_() for a in arrays]
    t = [torch.from_numpy(a).requires_grad_() for a in arrays]
    out_e = ember.nn.functional.scaled_dot_product_attention(*e, is_causal=causal)
    out_t = torch.nn.functional.scaled_dot_product_attention(*t, is_causal=causal)
    g = rng.standard_normal(out_t.shape).astype(dtype)
    out_e.backward(ember.from_numpy(g))
    out_t.backward(torch.from_numpy(g))
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out_e.detach().numpy(), out_t.detach().numpy(), **tol)
    for a, b in zip(e, t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)
    weights = attention.sdpa_with_weights(*e, is_causal=causal)[1].detach().numpy()
    if causal:
        assert (np.triu(weights[0, 0], 1) == 0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)


def test_fused_attention_on_matrices():
    """2-D query, key and value (no batch dims) take the fused kernels too."""
    rng = np.random.default_rng(10)
    arrays = [rng.standard_normal((n, 8)) for n in (5, 7, 7)]
    from ember.ops import _kernels_attention
    assert _kernels_attention.supported(*arrays)
    e = [ember.from_numpy(a.copy()).requires_grad_() for a in arrays]
    t = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
    for lib, ts in ((ember, e), (torch, t)):
        lib.nn.functional.scaled_dot_product_attention(*ts, is_causal=True).sum().backward()
    for a, b in zip(e, t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["layer", "group"])
def test_float32_norm_statistics_as_accurate_as_torch(kind):
    """float32 rows keep float32 statistics (as torch): on data far from zero (mean 100,
    std 1) the normalised values stay within twice torch's own float32 error of the
    float64 result."""
    x = (np.random.default_rng(10).standard_normal((8, 64, 16, 16)) + 100).astype(np.float32)

    def run(lib, a):
        t = lib.from_numpy(a)
        F = lib.nn.functional
        return (F.group_norm(t, 8) if kind == "group" else F.layer_norm(t, (16, 16))).numpy()

    exact = run(torch, x.astype(np.float64))
    ours, theirs = run(ember, x), run(torch, x)
    assert np.abs(ours - exact).max() <= 2 * np.abs(theirs - exact).max()
