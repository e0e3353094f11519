"""Random numbers: reproducibility, generator state, distributions, and torch's dtypes,
shapes and errors (the streams themselves differ from torch's by design)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import ember

N = 20000  # samples for the distribution checks; bounds below are ~6 standard errors


def _draws():
    return [ember.rand(3), ember.randn(2, 2), ember.randint(0, 10, (4,)), ember.randperm(5),
            ember.normal(0.0, 1.0, (3,)), ember.bernoulli(ember.full((4,), 0.5)),
            ember.multinomial(ember.ones(5), 3), ember.poisson(ember.ones(3)),
            ember.empty(3).uniform_(), ember.empty(3).normal_(), ember.empty(3).random_(),
            ember.empty(3).exponential_(), ember.empty(3).cauchy_(),
            ember.empty(3).log_normal_(), ember.empty(3).geometric_(0.3),
            ember.empty(3).bernoulli_(0.5)]


def _equal(xs, ys):
    return all(np.array_equal(x._data, y._data) for x, y in zip(xs, ys))


def test_manual_seed_reproduces_every_stream():
    ember.manual_seed(123)
    first = _draws()
    ember.manual_seed(123)
    assert _equal(first, _draws())
    ember.manual_seed(124)
    assert not _equal(first, _draws())


def test_state_save_restore():
    ember.manual_seed(0)
    state = ember.get_rng_state()
    assert state.dtype is ember.uint8 and state.dim() == 1
    a = _draws()
    ember.set_rng_state(state)
    assert _equal(a, _draws())
    with ember.random.fork_rng():
        ember.rand(10)
    after_fork = ember.rand(3)
    ember.set_rng_state(state)
    _draws()
    assert np.array_equal(after_fork._data, ember.rand(3)._data)  # fork restored the state


def test_generator_objects():
    g = ember.Generator()
    assert g.manual_seed(5) is g
    assert g.initial_seed() == 5 and g.device == ember.device("cpu")
    a = ember.rand(4, generator=g)
    g2 = ember.Generator().manual_seed(5)
    assert np.array_equal(a._data, ember.rand(4, generator=g2)._data)
    s = g.get_state()
    b = ember.randn(3, generator=g)
    assert g.set_state(s) is g
    assert np.array_equal(b._data, ember.randn(3, generator=g)._data)
    # the default generator is untouched by an explicit one
    ember.manual_seed(9)
    x = ember.rand(2)
    ember.manual_seed(9)
    ember.rand(5, generator=g)
    assert np.array_equal(x._data, ember.rand(2)._data)
    assert ember.Generator().initial_seed() == torch.Generator().initial_seed()


def test_seeds_like_torch():
    assert ember.manual_seed(-1).initial_seed() == torch.manual_seed(-1).initial_seed()
    assert ember.manual_seed(2 ** 64 - 1).initial_seed() == 2 ** 64 - 1
    assert ember.manual_seed(1.5).initial_seed() == 1
    for lib in (torch, ember):
        with pytest.raises(ValueError):
            lib.manual_seed(2 ** 64)
    s = ember.seed()
    assert ember.initial_seed() == s
    for lib in (torch, ember):
        with pytest.raises(TypeError):
            lib.set_rng_state(lib.zeros(3))
        with pytest.raises(RuntimeError):
            lib.set_rng_state(lib.zeros(3, dtype=lib.uint8))


def test_np_generator_hook_uses_default_generator():
    ember.manual_seed(3)
    a = ember.random._np_generator().random(3)
    ember.manual_seed(3)
    assert np.array_equal(a, ember.random._np_generator().random(3))
    g = ember.Generator().manual_seed(1)
    assert ember.random._np_generator(g) is g._np


SHAPES = [
    lambda L: L.rand(2, 3), lambda L: L.rand((2,)), lambda L: L.rand(size=(0, 2)),
    lambda L: L.rand(2, dtype=L.float64), lambda L: L.rand(2, dtype=L.float16),
    lambda L: L.rand(2, dtype=L.bfloat16), lambda L: L.rand(2, dtype=L.complex64),
    lambda L: L.rand(2, dtype=L.int64), lambda L: L.rand(2, -1),
    lambda L: L.randn(3), lambda L: L.randn(2, dtype=L.float16), lambda L: L.randn(-1),
    lambda L: L.randn(2, dtype=L.int64), lambda L: L.randn(2, dtype=L.complex128),
    lambda L: L.randint(10, (3,)), lambda L: L.randint(3, 10, (3,)),
    lambda L: L.randint(5, 5, (3,)), lambda L: L.randint(10, 3),
    lambda L: L.randint(10, (3,), dtype=L.float32), lambda L: L.randint(low=2, high=5, size=(2,)),
    lambda L: L.randint(high=5, size=(2,)), lambda L: L.randint(-5, 0, (2, 2), dtype=L.int8),
    lambda L: L.randperm(-1), lambda L: L.randperm(4, dtype=L.float32), lambda L: L.randperm(0),
    lambda L: L.normal(0.0, 1.0), lambda L: L.normal(0, 1, (2,)),
    lambda L: L.normal(0, 1, size=(2,), dtype=L.float64),
    lambda L: L.normal(L.zeros(2), -1.0), lambda L: L.normal(L.zeros(2, dtype=L.int64), 1.0),
    lambda L: L.normal(L.zeros(2, dtype=L.float64), L.ones(2)),
    lambda L: L.normal(L.zeros(3), L.ones(2, 1)), lambda L: L.normal(0.0, L.ones(2)),
    lambda L: L.bernoulli(L.full((3,), 0.5)), lambda L: L.bernoulli(L.full((3,), 1.5)),
    lambda L: L.bernoulli(L.full((3,), 0.5), 0.2),
    lambda L: L.bernoulli(L.zeros(3, dtype=L.int64)),
    lambda L: L.bernoulli(L.full((2,), 0.5, dtype=L.float64)),
    lambda L: L.multinomial(L.tensor([1.0, 2.0]), 3),
    lambda L: L.multinomial(L.tensor([1.0, 0.0]), 2),
    lambda L: L.multinomial(L.tensor([1.0, -1.0]), 1), lambda L: L.multinomial(L.zeros(2), 1),
    lambda L: L.multinomial(L.ones(2, 2, 2), 1), lambda L: L.multinomial(L.ones(3), 0),
    lambda L: L.multinomial(L.ones(3, dtype=L.int64), 1),
    lambda L: L.multinomial(L.ones(2, 3), 2, replacement=True),
    lambda L: L.multinomial(L.ones(2, 3), 3), lambda L: L.ones(4).multinomial(2),
    lambda L: L.poisson(L.ones(3)), lambda L: L.poisson(L.ones(3, dtype=L.int64)),
    lambda L: L.poisson(-L.ones(3)), lambda L: L.poisson(L.ones(2, dtype=L.float64)),
    lambda L: L.rand_like(L.ones(2, dtype=L.int64)), lambda L: L.rand_like(L.ones(2, 3)),
    lambda L: L.randn_like(L.ones(2, dtype=L.float64)), lambda L: L.randint_like(L.ones(2), 10),
    lambda L: L.randint_like(L.ones(2, dtype=L.int32), 3, 10),
    lambda L: L.ones(3, dtype=L.int64).uniform_(), lambda L: L.ones(3, dtype=L.int64).normal_(),
    lambda L: L.ones(3, dtype=L.int64).random_(), lambda L: L.ones(3, dtype=L.int64).bernoulli_(),
    lambda L: L.ones(3, dtype=L.int64).exponential_(),
    lambda L: L.ones(3, dtype=L.int64).geometric_(0.5), lambda L: L.ones(3).uniform_(2, 1),
    lambda L: L.ones(3).random_(5, 2), lambda L: L.ones(3).bernoulli_(2.0),
    lambda L: L.ones(3).geometric_(0.0), lambda L: L.ones(3).exponential_(-1.0),
    lambda L: L.ones(3).normal_(0, -1), lambda L: L.ones(3, requires_grad=True).uniform_(),
    lambda L: L.ones(2).bernoulli_(L.full((2,), 0.5)), lambda L: L.ones(2, dtype=L.bool).random_(),
    lambda L: L.ones(2, dtype=L.float16).normal_(),
    lambda L: L.ones(2, dtype=L.bfloat16).uniform_(),
    lambda L: L.ones(2, dtype=L.float64).log_normal_(), lambda L: L.ones(2).cauchy_(),
    # empty tensors: parameters are checked, the kernels' dtype checks mostly are not
    lambda L: L.ones(0, dtype=L.int64).uniform_(), lambda L: L.ones(0).normal_(0, -1),
    lambda L: L.ones(0, dtype=L.int64).normal_(), lambda L: L.ones(0, dtype=L.int64).cauchy_(),
    lambda L: L.ones(0, dtype=L.bool).geometric_(2.0),
    lambda L: L.ones(0, dtype=L.bool).geometric_(0.5),
    lambda L: L.ones(0, dtype=L.int64).log_normal_(), lambda L: L.ones(0).random_(3, 1),
    lambda L: L.ones(0, dtype=L.uint8).random_(0, 300),
    lambda L: L.ones(0, dtype=L.int64).exponential_(),
    lambda L: L.ones(2, dtype=L.int64).cauchy_(0.0, -1.0),
]


@pytest.mark.parametrize("i", range(len(SHAPES)))
def test_dtypes_shapes_errors(i):
    fn = SHAPES[i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            t = fn(torch)
        except Exception as exc:
            with pytest.raises(type(exc)):
                fn(ember)
            return
        e = fn(ember)
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    assert e.requires_grad == t.requires_grad


@pytest.mark.parametrize("sample", [
    lambda L, x: L.rand_like(x), lambda L, x: L.randn_like(x, dtype=L.float64),
    lambda L, x: L.randint_like(x, 7), lambda L, x: L.rand_like(x[:, ::2]),
    lambda L, x: L.randn_like(x.unsqueeze(1)),
], ids=["rand_like", "randn_like", "randint_like", "strided", "size-1 dim"])
def test_like_samplers_keep_the_input_layout_like_torch(sample):
    """torch's ``*_like`` samplers lay their result out as the input (preserve_format)."""
    t = sample(torch, torch.zeros(4, 6).t())
    e = sample(ember, ember.zeros(4, 6).t())
    assert (tuple(e.shape), e.stride()) == (tuple(t.shape), t.stride())


def test_sampling_ops_have_zero_gradients_like_torch():
    for lib in (torch, ember):
        m = lib.zeros(3, requires_grad=True)
        s = lib.ones(3, requires_grad=True)
        out = lib.normal(m, s) + lib.bernoulli(m * 0.5 + 0.5) + lib.poisson(s * 2)
        grads = lib.autograd.grad(out.sum(), (m, s))
        assert all(not g.detach().numpy().any() for g in grads)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        ember.ones(3, requires_grad=True).uniform_()
    with ember.no_grad():
        w = ember.ones(3, requires_grad=True)
        assert w.uniform_() is w and w.requires_grad


def _mean_var(t):
    x = t._data.astype(np.float64)
    return x.mean(), x.var()


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_uniform_and_normal_moments(dtype):
    ember.manual_seed(0)
    dt = getattr(ember, dtype)
    u = ember.rand(N, dtype=dt)
    assert 0 <= u._data.astype(np.float64).min() and u._data.astype(np.float64).max() < 1
    m, v = _mean_var(u)
    assert abs(m - 0.5) < 6 * math.sqrt(1 / 12 / N) and abs(v - 1 / 12) < 0.01
    z = ember.randn(N, dtype=dt)
    m, v = _mean_var(z)
    assert abs(m) < 6 / math.sqrt(N) and abs(v - 1) < 0.05
    f = ember.empty(N, dtype=dt).uniform_(-2, 3)
    m, _ = _mean_var(f)
    assert f._data.astype(np.float64).min() >= -2 and abs(m - 0.5) < 6 * 5 / math.sqrt(12 * N)


def test_normal_overloads_moments():
    ember.manual_seed(1)
    mean = ember.full((N,), 3.0)
    std = ember.full((N,), 2.0)
    for x in (ember.normal(mean, std), ember.normal(mean, 2.0), ember.normal(3.0, std),
              ember.normal(3.0, 2.0, (N,)), ember.empty(N).normal_(3.0, 2.0)):
        m, v = _mean_var(x)
        assert abs(m - 3) < 6 * 2 / math.sqrt(N) and abs(v - 4) < 0.25


def test_complex_randn_has_unit_variance():
    ember.manual_seed(2)
    z = ember.randn(N, dtype=ember.complex64)._data
    assert abs(np.mean(np.abs(z) ** 2) - 1) < 0.05 and abs(z.real.var() - 0.5) < 0.03


def test_discrete_distributions():
    ember.manual_seed(3)
    r = ember.randint(-3, 4, (N,))._data
    assert r.min() == -3 and r.max() == 3 and abs(r.mean()) < 6 * 2 / math.sqrt(N)
    p = ember.randperm(50)
    assert p.dtype is ember.int64 and sorted(p.tolist()) == list(range(50))
    b = ember.bernoulli(ember.full((N,), 0.3))._data
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 6 * math.sqrt(0.21 / N)
    bp = ember.empty(N).bernoulli_(ember.full((N,), 0.8))._data
    assert abs(bp.mean() - 0.8) < 6 * math.sqrt(0.16 / N)
    po = ember.poisson(ember.full((N,), 4.0))._data
    assert abs(po.mean() - 4) < 6 * 2 / math.sqrt(N) and np.all(po == np.round(po))
    e = ember.empty(N).exponential_(2.0)._data
    assert e.min() >= 0 and abs(e.mean() - 0.5) < 6 * 0.5 / math.sqrt(N)
    g = ember.empty(N).geometric_(0.25)._data
    assert g.min() >= 1 and abs(g.mean() - 4) < 6 * math.sqrt(12 / N)
    ln = ember.empty(N, dtype=ember.float64).log_normal_(0.0, 0.5)._data
    assert abs(np.log(ln).mean()) < 6 * 0.5 / math.sqrt(N)
    c = ember.empty(N, dtype=ember.float64).cauchy_(1.0, 2.0)._data
    assert abs(np.median(c) - 1) < 0.1  # the median is the location parameter
    f = ember.empty(N).random_()._data
    assert f.min() >= 0 and f.max() <= 2 ** 24 and np.all(f == np.round(f))
    small = ember.empty(N, dtype=ember.int32).random_(3, 7)._data
    assert set(np.unique(small)) == {3, 4, 5, 6}
    assert set(np.unique(ember.empty(N, dtype=ember.uint8).random_(5)._data)) == set(range(5))


def test_multinomial():
    ember.manual_seed(4)
    w = ember.tensor([[1.0, 0.0, 3.0, 0.0], [0.0, 2.0, 2.0, 0.0]])
    s = ember.multinomial(w, 2)
    assert s.dtype is ember.int64 and tuple(s.shape) == (2, 2)
    for row, allowed in zip(s.tolist(), ({0, 2}, {1, 2})):
        assert set(row) == allowed  # without replacement: distinct, never a zero weight
    big = ember.multinomial(ember.ones(30), 30)
    assert sorted(big.tolist()) == list(range(30))
    draws = ember.multinomial(ember.tensor([1.0, 0.0, 3.0]), N, replacement=True)._data
    assert 1 not in draws and abs((draws == 2).mean() - 0.75) < 6 * math.sqrt(0.1875 / N)
    rows = ember.multinomial(w, 500, replacement=True)._data
    assert set(np.unique(rows[0])) <= {0, 2} and set(np.unique(rows[1])) <= {1, 2}
    # without replacement, the first pick follows the weights
    firsts = [ember.multinomial(ember.tensor([1.0, 3.0]), 2)._data[0] for _ in range(2000)]
    assert abs(np.mean(firsts) - 0.75) < 6 * math.sqrt(0.1875 / 2000)


def _generator_draws(lib, g):
    """Each sampler of the issue list with an explicit ``generator=`` (torch's signatures)."""
    return [lib.rand(3, generator=g), lib.randn(2, 2, generator=g),
            lib.randint(0, 10, (4,), generator=g), lib.randint(7, (2,), generator=g),
            lib.randperm(6, generator=g), lib.normal(0.0, 1.0, (3,), generator=g),
            lib.normal(lib.zeros(3), lib.ones(3), generator=g),
            lib.bernoulli(lib.full((4,), 0.5), generator=g),
            lib.multinomial(lib.ones(5), 3, generator=g),
            lib.empty(3).uniform_(generator=g), lib.empty(3).normal_(generator=g)]


def test_explicit_generator_reproduces_every_sampler_and_leaves_the_default_alone():
    for lib in (ember, torch):  # torch too: the test asks nothing torch doesn't do
        lib.manual_seed(11)
        first = _generator_draws(lib, lib.Generator().manual_seed(42))
        default_next = lib.rand(2)
        lib.manual_seed(11)
        again = _generator_draws(lib, lib.Generator().manual_seed(42))
        assert all(lib.equal(a, b) for a, b in zip(first, again))
        assert lib.equal(default_next, lib.rand(2))  # explicit draws don't move the default
        other = _generator_draws(lib, lib.Generator().manual_seed(43))
        assert not all(lib.equal(a, b) for a, b in zip(first, other))
        assert [a.dtype for a in first] == [lib.float32, lib.float32, lib.int64, lib.int64,
                                            lib.int64, lib.float32, lib.float32, lib.float32,
                                            lib.int64, lib.float32, lib.float32]
