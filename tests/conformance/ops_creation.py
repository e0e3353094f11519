"""Conformance entries for factory functions and sampling ops.

Factories take the dtype under test by name (``L.zeros(..., dtype=getattr(L, dt))``).
Sampling ops compare dtypes, shapes and errors only (ember's random streams are NumPy's,
not torch's); torch gives them zero gradients, which tests/test_random.py checks.
"""

from __future__ import annotations

from tests.conformance.harness import ALL_FLOAT, OpInfo, Sample, make

_DTYPES = ALL_FLOAT + ("int64", "int32", "uint8", "bool")


def _dtype_samples(*calls):
    """One sample per (args, kwargs), the dtype under test appended as the last arg."""
    return lambda dt, rng: [Sample(tuple(a) + (dt,), dict(kw), name=f"{a}{kw}")
                            for a, kw in calls]


def _like_samples(dt, rng):
    return [Sample((make((2, 3), dt, rng),)), Sample((make((3, 2), dt, rng, noncontig=True),),
                                                     name="noncontig"),
            Sample((make((), dt, rng),), name="0-d"), Sample((make((0, 2), dt, rng),),
                                                            name="empty")]


def _factory(name, *calls, dtypes=_DTYPES, random=False):
    """``L.<name>(*args, dtype=<dtype under test>, **kwargs)`` for each call; ``random``:
    only shapes, dtypes and errors are compared (random or uninitialised values)."""
    return OpInfo(name, lambda L, *a, **kw: getattr(L, name)(*a[:-1], dtype=getattr(L, a[-1]),
                                                             **kw),
                  _dtype_samples(*calls), dtypes=dtypes, grad=False,
                  nondeterministic_values=random)


def _sampler(name, fn, samples, dtypes=("float32", "float64")):
    return OpInfo(name, fn, samples, dtypes=dtypes, grad=False, nondeterministic_values=True)


OPS = [
    _factory("zeros", (((2, 3),), {}), (((0, 2),), {}), (((),), {})),
    _factory("ones", ((2, 3), {}), (((4,),), {})),
    _factory("full", (((2, 2), 3), {}), (((3,), 1.5), {}), (((), True), {})),
    _factory("eye", ((3,), {}), ((2, 4), {}), ((0,), {})),
    _factory("arange", ((5,), {}), ((1, 11, 3), {}), ((10, 0, -2), {})),
    _factory("linspace", ((0, 10, 5), {}), ((-1, 1, 1), {}), ((3, -2, 0), {})),
    _factory("logspace", ((0, 2, 3), {}), ((-1, 1, 4), {"base": 2.0}),
             dtypes=ALL_FLOAT + ("int64",)),
    _factory("empty", ((2, 3), {}), (((0, 4),), {}), (((),), {}), random=True),
    OpInfo("empty_strided_strides",
           lambda L, size, stride, dt: L.tensor(
               L.empty_strided(size, stride, dtype=getattr(L, dt)).stride()),
           _dtype_samples((((2, 3), (1, 2)), {}), (((2, 3), (3, 1)), {}), (((4,), (2,)), {}),
                          (((2, 2), (1,)), {})), dtypes=("float32", "int64"), grad=False),
    _factory("range", ((0, 4), {}), ((5, 1, -2), {}), ((0, 1, 0), {}),
             dtypes=ALL_FLOAT + ("int64", "int32")),
    # (torch dies of a division by zero on a fractional step with an integer dtype)
    _factory("range", ((1, 2, 0.25), {}), dtypes=ALL_FLOAT),
    _factory("tensor", (([[1, 2], [3, 4]],), {}), (([0.5, -1.25],), {}), ((7,), {})),
    _factory("scalar_tensor", ((3,), {}), ((0.5,), {})),
    OpInfo("zeros_like", lambda L, a: L.zeros_like(a), _like_samples, dtypes=_DTYPES,
           grad=False),
    OpInfo("ones_like", lambda L, a: L.ones_like(a), _like_samples, dtypes=_DTYPES, grad=False),
    OpInfo("full_like", lambda L, a: L.full_like(a, 2), _like_samples, dtypes=_DTYPES,
           grad=False),
    OpInfo("empty_like_shape", lambda L, a: L.tensor(L.empty_like(a).shape), _like_samples,
           dtypes=_DTYPES, grad=False),
    OpInfo("new_full", lambda L, a: a.new_full((2,), 3), _like_samples, dtypes=_DTYPES,
           grad=False),
    OpInfo("new_tensor", lambda L, a: a.new_tensor([1.5, 2.0]), _like_samples, dtypes=_DTYPES,
           grad=False),
    _sampler("normal_tensor", lambda L, m, s: L.normal(m, s), lambda dt, rng: [
        Sample((make((2, 3), dt, rng), make((2, 3), dt, rng, positive=True))),
        Sample((make((3,), dt, rng), make((2, 1), dt, rng, positive=True)), name="broadcast"),
        Sample((make((3,), dt, rng), make((3,), dt, rng, low=-2, high=-1)), name="negative std"),
        Sample((make((0, 2), dt, rng), 1.0), name="empty"),
        Sample((make((), dt, rng), 0.5), name="0-d")]),
    _sampler("bernoulli", lambda L, p: L.bernoulli(p), lambda dt, rng: [
        Sample((make((2, 3), dt, rng, low=0.0, high=1.0),)),
        Sample((make((3, 2), dt, rng, low=0.0, high=1.0, noncontig=True),), name="noncontig"),
        Sample((make((3,), dt, rng, low=1.5, high=2.0),), name="p > 1")],
        dtypes=ALL_FLOAT),
    _sampler("poisson", lambda L, r: L.poisson(r), lambda dt, rng: [
        Sample((make((2, 3), dt, rng, positive=True),)),
        Sample((make((3,), dt, rng, low=-2.0, high=-1.0),), name="negative rate")]),
    _sampler("multinomial", lambda L, w, n, r: L.multinomial(w, n, r), lambda dt, rng: [
        Sample((make((5,), dt, rng, positive=True), 3, False)),
        Sample((make((2, 4), dt, rng, positive=True), 6, True), name="2-D replacement"),
        Sample((make((4, 3), dt, rng, positive=True, noncontig=True), 2, False),
               name="noncontig"),
        Sample((make((3,), dt, rng, positive=True), 4, False), name="too many"),
        Sample((make((2, 2, 2), dt, rng, positive=True), 1, False), name="3-D")]),
    _factory("rand", ((2, 3), {}), (((0,),), {}), random=True),
    _factory("randn", ((2, 3), {}), (((),), {}), random=True),
    _factory("randint", ((10, (2, 3)), {}), ((-5, 5, (4,)), {}), ((3, 2, (2,)), {}),
             ((300, (2,)), {}), random=True),
    _factory("randperm", ((5,), {}), ((0,), {}), ((1,), {}), random=True,
             dtypes=("int64", "int32", "float32", "float64")),
    _sampler("normal_float", lambda L, mean, std, size, dt: L.normal(mean, std, size,
                                                                     dtype=getattr(L, dt)),
             _dtype_samples(((0.5, 2.0, (2, 3)), {}), ((0.0, 1.0, (0,)), {}),
                            ((0.0, -1.0, (2,)), {})), dtypes=ALL_FLOAT),
    _sampler("rand_like", lambda L, a: L.rand_like(a), _like_samples, dtypes=_DTYPES),
    _sampler("randn_like", lambda L, a: L.randn_like(a), _like_samples, dtypes=_DTYPES),
    _sampler("randint_like", lambda L, a: L.randint_like(a, 5), _like_samples, dtypes=_DTYPES),
    _sampler("uniform_", lambda L, a: a.uniform_(-1, 1), _like_samples, dtypes=_DTYPES),
    _sampler("normal_", lambda L, a: a.normal_(1, 2), _like_samples, dtypes=_DTYPES),
    _sampler("random_", lambda L, a: a.random_(0, 2), _like_samples, dtypes=_DTYPES),
    _sampler("exponential_", lambda L, a: a.exponential_(), _like_samples, dtypes=_DTYPES),
    _sampler("bernoulli_", lambda L, a: a.bernoulli_(0.3), _like_samples, dtypes=_DTYPES),
    _sampler("bernoulli_tensor_p", lambda L, a, p: a.bernoulli_(p), lambda dt, rng: [
        Sample((make((2, 3), dt, rng), make((2, 3), "float64", rng, low=0.0, high=1.0))),
        Sample((make((3, 2), dt, rng, noncontig=True), make((2,), "float32", rng, low=0.0,
                                                            high=1.0)), name="broadcast")],
        dtypes=_DTYPES),
    _sampler("geometric_", lambda L, a: a.geometric_(0.3), _like_samples, dtypes=_DTYPES),
    _sampler("log_normal_", lambda L, a: a.log_normal_(), _like_samples, dtypes=_DTYPES),
    _sampler("cauchy_", lambda L, a: a.cauchy_(), _like_samples, dtypes=_DTYPES),
]
