"""The non-op parts of issue 15's API coverage, checked against torch: finfo/iinfo,
torch.testing, activation checkpointing (same gradients, less peak memory), lazy modules,
parametrizations, pruning, hub. (The ops are in tests/conformance/ops_api_coverage.py.)"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import torch
import torch.nn.utils.parametrizations
import torch.nn.utils.prune

import ember


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64", "complex64",
                                  "float8_e4m3fn", "float8_e5m2"])
def test_finfo(name):
    e, t = ember.finfo(getattr(ember, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(e, attr) == getattr(t, attr), attr
    assert repr(e) == repr(t)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo(name):
    e, t = ember.iinfo(getattr(ember, name)), torch.iinfo(getattr(torch, name))
    assert (e.bits, e.min, e.max, e.dtype, repr(e)) == (t.bits, t.min, t.max, t.dtype, repr(t))


def test_info_errors():
    for lib in (ember, torch):
        with pytest.raises(TypeError, match="requires a floating point"):
            lib.finfo(lib.int32)
        with pytest.raises(TypeError, match="not supported by torch.iinfo"):
            lib.iinfo(lib.bool)


_CLOSE_CASES = [
    lambda L: ((L.tensor([1., 2, 3]), L.tensor([1., 2.5, 3])), {}),
    lambda L: ((L.tensor([1, 2, 3]), L.tensor([1, 3, 3])), {}),
    lambda L: ((1.5, 1.0), {}),
    lambda L: ((L.ones(2), L.ones(3)), {}),
    lambda L: ((L.ones(2), L.ones(2, dtype=L.float64)), {}),
    lambda L: (([L.ones(2), L.zeros(2)], [L.ones(2), L.ones(2)]), {}),
    lambda L: (({"a": L.ones(2)}, {"a": L.zeros(2)}), {}),
    lambda L: (({"a": 1}, {"b": 1}), {}),
    lambda L: ((L.tensor([float("nan")]), L.tensor([float("nan")])), {}),
    lambda L: ((L.tensor([float("nan")]), L.tensor([float("nan")])), dict(equal_nan=True)),
    lambda L: ((L.tensor([1., float("inf")]), L.tensor([1., float("-inf")])), {}),
    lambda L: ((L.ones(2, 3).t(), L.ones(3, 2)), dict(check_stride=True)),
    lambda L: ((L.tensor(1.0), L.tensor(2.0)), {}),
    lambda L: ((L.ones(2), L.ones(2)), dict(rtol=1e-3)),
    lambda L: ((L.ones(2), L.ones(2) * 1.1), dict(msg=lambda m: "X" + m)),
]


@pytest.mark.parametrize("case", range(len(_CLOSE_CASES)))
def test_assert_close_messages(case):
    def outcome(lib, assert_close):
        args, kwargs = _CLOSE_CASES[case](lib)
        try:
            assert_close(*args, **kwargs)
            return "pass"
        except Exception as exc:
            return type(exc).__name__, str(exc).replace("torch.", "ember.")
    assert outcome(ember, ember.testing.assert_close) == \
        outcome(torch, torch.testing.assert_close)


def test_make_tensor():
    ember.manual_seed(0)
    a = ember.testing.make_tensor(2, 3, dtype=ember.float32, low=-1, high=1)
    ember.manual_seed(0)
    b = ember.testing.make_tensor((2, 3), dtype=ember.float32, low=-1, high=1)
    assert a.shape == (2, 3) and bool((a == b).all()) and -1 <= a.min().item() < 1
    c = ember.testing.make_tensor(4, 6, dtype=ember.int64, noncontiguous=True, exclude_zero=True)
    assert not c.is_contiguous() and bool((c != 0).all())


def _mlp():
    ember.manual_seed(0)
    return ember.nn.Sequential(*[m for _ in range(8) for m in (ember.nn.Linear(128, 128),
                                                               ember.nn.GELU(),
                                                               ember.nn.Dropout(0.1))])


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_same_gradients_less_memory(reentrant):
    from ember.utils.checkpoint import checkpoint_sequential
    model = _mlp()
    x0 = ember.randn(256, 128)

    def run(checkpointed):
        model.zero_grad(set_to_none=True)
        x = x0.clone().requires_grad_(True)
        ember.manual_seed(1)
        tracemalloc.start()
        out = checkpoint_sequential(model, 4, x, use_reentrant=reentrant) if checkpointed \
            else model(x)
        out.sum().backward()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return out.detach(), [p.grad.clone() for p in model.parameters()], x.grad, peak

    run(False)  # warm up kernels and caches
    out, grads, gx, peak = run(False)
    out_c, grads_c, gx_c, peak_c = run(True)
    ember.testing.assert_close(out_c, out)
    ember.testing.assert_close(grads_c, grads)
    ember.testing.assert_close(gx_c, gx)
    assert peak_c < 0.75 * peak, (peak_c, peak)


def test_checkpoint_non_reentrant_reaches_parameters_through_autograd_grad():
    from ember.utils.checkpoint import checkpoint
    lin = ember.nn.Linear(3, 2)
    x = ember.randn(4, 3)
    out = checkpoint(lambda a, scale=1.0: lin(a) * scale, x, scale=2.0, use_reentrant=False)
    (g,) = ember.autograd.grad(out.sum(), [lin.weight])
    (ref,) = ember.autograd.grad((lin(x) * 2.0).sum(), [lin.weight])
    ember.testing.assert_close(g, ref)
    with pytest.raises(ValueError, match="Unexpected keyword arguments"):
        checkpoint(lambda a, s=1: a, x, s=2, use_reentrant=True)


@pytest.mark.parametrize("make,shape", [
    (lambda nn: nn.LazyLinear(4), (3, 5)),
    (lambda nn: nn.LazyConv2d(4, 3, padding=1, groups=2), (2, 6, 5, 5)),
    (lambda nn: nn.LazyConvTranspose1d(4, 3, stride=2), (2, 6, 5)),
    (lambda nn: nn.LazyBatchNorm1d(), (4, 3)),
    (lambda nn: nn.LazyInstanceNorm2d(affine=False), (2, 3, 4, 4))])
def test_lazy_modules(make, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        me, mt = make(ember.nn), make(torch.nn)
    assert repr(me) == repr(mt)
    params = list(me.parameters())
    assert all(ember.nn.modules.lazy.is_lazy(p) for p in params)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ye, yt = me(ember.from_numpy(x)), mt(torch.from_numpy(x))
    assert type(me).__name__ == type(mt).__name__ and tuple(ye.shape) == tuple(yt.shape)
    assert [p is q for p, q in zip(params, me.parameters())] == [True] * len(params)
    assert {k: tuple(v.shape) for k, v in me.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in mt.state_dict().items()}


def test_lazy_load_state_dict_materializes():
    lazy = ember.nn.LazyLinear(2)
    lazy.load_state_dict(ember.nn.Linear(3, 2).state_dict())
    assert lazy.weight.shape == (2, 3) and not lazy.has_uninitialized_params()
    lazy(ember.ones(1, 3))
    assert type(lazy) is ember.nn.Linear
    with pytest.raises(RuntimeError, match="uninitialized parameter"):
        ember.nn.UninitializedParameter().shape


def _linear_pair(n_in=6, n_out=5, seed=0):
    rng = np.random.default_rng(seed)
    me, mt = ember.nn.Linear(n_in, n_out).double(), torch.nn.Linear(n_in, n_out).double()
    for pe, pt in zip(me.parameters(), mt.parameters()):
        v = rng.standard_normal(tuple(pe.shape))
        pe._data[...] = v
        with torch.no_grad():
            pt.copy_(torch.from_numpy(v))
    return me, mt


def _same_forward_backward(me, mt, x):
    ye, yt = me(ember.from_numpy(x)), mt(torch.from_numpy(x))
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-10)
    ge = {k: p.grad.numpy() for k, p in me.named_parameters() if p.grad is not None}
    gt = {k: p.grad.numpy() for k, p in mt.named_parameters() if p.grad is not None}
    assert ge.keys() == gt.keys()
    for k in ge:
        np.testing.assert_allclose(ge[k], gt[k], rtol=1e-8, atol=1e-12)
    assert sorted(me.state_dict()) == sorted(mt.state_dict())


X = np.random.default_rng(1).standard_normal((4, 6))


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_parametrization(dim):
    me, mt = _linear_pair()
    ember.nn.utils.parametrizations.weight_norm(me, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(mt, dim=dim)
    assert type(me).__name__ == "ParametrizedLinear"
    _same_forward_backward(me, mt, X)
    ember.nn.utils.parametrize.remove_parametrizations(me, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(mt, "weight")
    assert type(me) is ember.nn.Linear
    _same_forward_backward(me, mt, X)


def test_spectral_norm_parametrization_and_legacy():
    for new in (True, False):
        me, mt = _linear_pair()
        if new:
            ember.nn.utils.parametrizations.spectral_norm(me)
            torch.nn.utils.parametrizations.spectral_norm(mt)
            se, st = me.parametrizations.weight[0], mt.parametrizations.weight[0]
            se._u._data[...], se._v._data[...] = st._u.numpy(), st._v.numpy()
        else:
            ember.nn.utils.spectral_norm(me)
            torch.nn.utils.spectral_norm(mt)
            me.weight_u._data[...], me.weight_v._data[...] = mt.weight_u.numpy(), \
                mt.weight_v.numpy()
        _same_forward_backward(me, mt, X)
        _same_forward_backward(me, mt, X)  # a second power iteration


def test_legacy_weight_norm():
    me, mt = _linear_pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ember.nn.utils.weight_norm(me)
        torch.nn.utils.weight_norm(mt)
    _same_forward_backward(me, mt, X)
    ember.nn.utils.remove_weight_norm(me)
    torch.nn.utils.remove_weight_norm(mt)
    _same_forward_backward(me, mt, X)


# (a non-square matrix with use_trivialization completes its base with random columns:
# the gradient then depends on them, so it is checked without trivialization)
@pytest.mark.parametrize("shape,omap,triv", [((4, 4), None, True), ((5, 3), "householder", False),
                                             ((4, 4), "cayley", True),
                                             ((2, 3, 3), "matrix_exp", True)])
def test_orthogonal(shape, omap, triv):
    w = np.random.default_rng(2).standard_normal(shape)
    me, mt = ember.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    me.weight = ember.nn.Parameter(ember.from_numpy(w.copy()))
    mt.weight = torch.nn.Parameter(torch.from_numpy(w.copy()))
    ember.nn.utils.parametrizations.orthogonal(me, orthogonal_map=omap, use_trivialization=triv)
    torch.nn.utils.parametrizations.orthogonal(mt, orthogonal_map=omap, use_trivialization=triv)
    q = me.weight.detach().numpy()
    np.testing.assert_allclose(q, mt.weight.detach().numpy(), atol=1e-10)
    c = np.random.default_rng(3).standard_normal(shape)
    (me.weight * ember.from_numpy(c)).sum().backward()
    (mt.weight * torch.from_numpy(c)).sum().backward()
    np.testing.assert_allclose(me.parametrizations.weight.original.grad.numpy(),
                               mt.parametrizations.weight.original.grad.numpy(), atol=1e-10)


def test_parametrize_keeps_the_parameter_and_caches():
    class Symmetric(ember.nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).mT

    lin = ember.nn.Linear(3, 3)
    weight = lin.weight
    ember.nn.utils.parametrize.register_parametrization(lin, "weight", Symmetric())
    assert lin.parametrizations.weight.original is weight
    w = lin.weight.detach().numpy()
    np.testing.assert_array_equal(w, w.T)
    with ember.nn.utils.parametrize.cached():
        assert lin.weight is lin.weight
    assert lin.weight is not lin.weight


def test_prune():
    prune, tprune = ember.nn.utils.prune, torch.nn.utils.prune
    me, mt = _linear_pair()
    prune.l1_unstructured(me, "weight", 0.3)
    tprune.l1_unstructured(mt, "weight", 0.3)
    prune.ln_structured(me, "weight", 2, n=2, dim=0)
    tprune.ln_structured(mt, "weight", 2, n=2, dim=0)
    prune.l1_unstructured(me, "bias", amount=2)
    tprune.l1_unstructured(mt, "bias", amount=2)
    _same_forward_backward(me, mt, X)
    assert prune.is_pruned(me)
    prune.remove(me, "weight")
    tprune.remove(mt, "weight")
    _same_forward_backward(me, mt, X)
    a, b = _linear_pair(6, 5, 4), _linear_pair(5, 3, 5)
    prune.global_unstructured([(a[0], "weight"), (b[0], "weight")], prune.L1Unstructured,
                              amount=0.4)
    tprune.global_unstructured([(a[1], "weight"), (b[1], "weight")], tprune.L1Unstructured,
                               amount=0.4)
    for e, t in (a, b):
        np.testing.assert_array_equal(e.weight_mask.numpy(), t.weight_mask.numpy())
    me, _ = _linear_pair()
    prune.random_unstructured(me, "weight", 0.5)
    assert int((me.weight_mask.numpy() == 0).sum()) == 15
    with pytest.raises(ValueError, match="should either be a float"):
        prune.l1_unstructured(ember.nn.Linear(2, 2), "weight", 1.5)


def test_hub_local(tmp_path):
    (tmp_path / "hubconf.py").write_text(
        "dependencies = ['numpy']\n"
        "import ember\n"
        "def tiny(width=3):\n"
        "    '''A tiny linear model.'''\n"
        "    return ember.nn.Linear(width, 1)\n")
    assert ember.hub.list(str(tmp_path), source="local") == ["tiny"]
    assert ember.hub.help(str(tmp_path), "tiny", source="local") == "A tiny linear model."
    model = ember.hub.load(str(tmp_path), "tiny", width=5, source="local")
    assert model.weight.shape == (1, 5)
    with pytest.raises(RuntimeError, match="Cannot find callable"):
        ember.hub.load(str(tmp_path), "nope", source="local")


def test_overrides_protocol_helpers():
    from ember import overrides

    class Base:
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return NotImplemented

    class Sub(Base):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return ("sub", func.__name__, types)

    def op(*xs):
        if overrides.has_torch_function(xs):
            return overrides.handle_torch_function(op, xs, *xs)
        return "plain"

    assert op(ember.ones(1)) == "plain"
    assert op(Base(), Sub()) == ("sub", "op", (Sub, Base))  # subclasses first, as torch
    with pytest.raises(TypeError, match="no implementation found"):
        op(Base())
    assert overrides.is_tensor_like(Sub()) and not overrides.is_tensor_like(1.0)
    assert ember.add in overrides.get_overridable_functions()[ember]
