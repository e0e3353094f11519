"""Conformance entries for reductions, scans, norms and softmax (ember/ops/reductions.py,
ember/linalg.py).

Each op has an entry with differentiable samples (values, gradients, gradcheck and
gradgradcheck) and, where it matters, an ``_edge`` entry checked for values only: 0-d and
empty inputs, out-of-range dims (error parity), integer and bool inputs.
"""

from __future__ import annotations

import numpy as np

from tests.conformance.harness import ALL_FLOAT, INT_DTYPES, OpInfo, Sample, make

WITH_BOOL = INT_DTYPES + ("bool",)
INF = float("inf")


def _grad_of(name: str):
    """``d/dx sum(values(x) * w)`` for an op returning ``(values, indices)`` along ``dim``:
    the routed gradient, a function of ``w`` (``x`` only picks the positions)."""
    def fn(L, x, w, dim):
        with L.enable_grad():  # gradcheck evaluates without grad
            x = x.detach().requires_grad_()
            values = getattr(L, name)(x, dim).values
            (g,) = L.autograd.grad((values * w).sum(), x, create_graph=True)
        return g
    return fn


def _picked_grad_samples(dt, rng):
    return [Sample((make((3, 4), dt, rng), make((3,), dt, rng), 1)),
            Sample((make((2, 3, 4), dt, rng), make((3, 4), dt, rng), 0)),
            Sample((make((4, 3), dt, rng, noncontig=True), make((4,), dt, rng), -1),
                   name="noncontig")]


# ---- samples -------------------------------------------------------------------------------

def _dims(dt, rng, tuples=True):
    """Reductions over dim=None / int / tuple, keepdim, a non-contiguous input."""
    out = [
        Sample((make((3, 4), dt, rng),)),
        Sample((make((2, 3, 4), dt, rng),), {"dim": 1}),
        Sample((make((2, 3, 4), dt, rng),), {"dim": -1, "keepdim": True}),
        Sample((make((4, 3), dt, rng, noncontig=True),), {"dim": 0}, "noncontig"),
        Sample((make((), dt, rng),), {"dim": 0}, "0-d dim"),
        Sample((make((), dt, rng),), {}, "0-d"),
    ]
    if tuples:
        out.append(Sample((make((2, 3, 4), dt, rng),), {"dim": (0, -1)}, "dims"))
        out.append(Sample((make((2, 3, 4), dt, rng),), {"dim": (2, 0), "keepdim": True},
                          "dims keepdim"))
    return out


def _edges(dt, rng, tuples=True):
    """Empty inputs, out-of-range and repeated dims: values and error parity."""
    out = [
        Sample((make((0, 3), dt, rng),), {}, "empty"),
        Sample((make((0, 3), dt, rng),), {"dim": 1}, "empty dim kept"),
        Sample((make((0, 3), dt, rng),), {"dim": 0}, "empty dim reduced"),
        Sample((make((3, 4), dt, rng),), {"dim": 5}, "dim out of range"),
        Sample((make((), dt, rng),), {"dim": 1}, "0-d dim out of range"),
        Sample((make((3, 4), dt, rng),), {"dim": -1}),
        Sample((make((), dt, rng),), {"dim": -1}, "0-d"),
    ]
    if tuples:
        out.append(Sample((make((3, 4), dt, rng),), {"dim": (0, -2)}, "repeated dim"))
        out.append(Sample((make((2, 3, 4), dt, rng),), {"dim": (0, 2), "keepdim": True}))
    return out


def _one_dim(dt, rng):
    """Ops that take exactly one dim (prod, max(dim), median(dim), cumsum, softmax...)."""
    return [
        Sample((make((3, 4), dt, rng),), {"dim": 1}),
        Sample((make((2, 3, 4), dt, rng),), {"dim": 0, "keepdim": True}),
        Sample((make((2, 3, 4), dt, rng),), {"dim": -2}),
        Sample((make((4, 3), dt, rng, noncontig=True),), {"dim": -1}, "noncontig"),
        Sample((make((), dt, rng),), {"dim": 0}, "0-d"),
        Sample((make((0, 3), dt, rng),), {"dim": 1}, "empty"),
    ]


def _no_keepdim(samples):
    return [Sample(s.args, {k: v for k, v in s.kwargs.items() if k != "keepdim"}, s.name)
            for s in samples]


def _with_nans(dt, rng):
    samples = _dims(dt, rng)
    for s in samples:
        a = s.args[0]
        if a.size > 2:
            a.flat[1::5] = np.nan
    return samples


def _zeros(dt, rng):
    """Inputs of prod/cumprod with one and with several zeros in a slice."""
    a = make((3, 4), dt, rng)
    a[0, 1] = 0
    a[2, 0] = a[2, 3] = 0
    b = make((5,), dt, rng)
    b[2] = 0
    return [Sample((a,), {"dim": 1}, "zeros"), Sample((a.copy(),), {"dim": 0}, "zeros dim0"),
            Sample((b,), {}, "one zero"), Sample((a.copy(),), {}, "two zeros")]


def _ties(dt, rng):
    """Two-way ties (central differences see an even split only for two)."""
    a = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.0, -5.0]], dtype=dt)
    return [Sample((a,), {}), Sample((a.copy(),), {"dim": 1}),
            Sample((a.copy(),), {"dim": (0, 1), "keepdim": True})]


def _softmax(dt, rng):
    return _one_dim(dt, rng) + [
        Sample((make((2, 3), dt, rng, low=-60, high=60),), {"dim": 1}, "large"),
        Sample((make((3, 4), dt, rng),), {"dim": 1, "dtype": "float64"}, "dtype"),
        Sample((make((2, 2), dt, rng),), {"dim": 3}, "dim out of range"),
    ]


def _lib_dtype(L, kwargs):
    """Sample kwargs name dtypes by string; each library gets its own dtype object."""
    if "dtype" in kwargs:
        kwargs = dict(kwargs, dtype=getattr(L, kwargs["dtype"]))
    return kwargs


def _fn(name):
    """``L.<name>(a, **kwargs)``."""
    return lambda L, a, **kw: getattr(L, name)(a, **_lib_dtype(L, kw))


def _method(name):
    """``a.<name>(**kwargs)``."""
    return lambda L, a, **kw: getattr(a, name)(**_lib_dtype(L, kw))


def _var_like(dt, rng):
    return [
        Sample((make((3, 4), dt, rng),)),
        Sample((make((2, 3, 4), dt, rng),), {"dim": 1}),
        Sample((make((2, 3, 4), dt, rng),), {"dim": (0, -1), "keepdim": True}),
        Sample((make((4, 3), dt, rng, noncontig=True),), {"dim": 0, "correction": 0},
               "noncontig"),
        Sample((make((3, 4), dt, rng),), {"dim": 1, "unbiased": False}),
        Sample((make((3, 5), dt, rng),), {"dim": -1, "correction": 2}),
    ]


def _var_edges(dt, rng):
    return [
        Sample((make((), dt, rng),), {}, "0-d"),
        Sample((make((0, 3), dt, rng),), {"dim": 0}, "empty"),
        Sample((make((2, 3), dt, rng),), {"correction": 7}, "negative dof"),
        Sample((make((2, 3), dt, rng),), {"dim": 2}, "dim out of range"),
        Sample((make((2, 3), dt, rng),), {"dim": 1, "unbiased": True, "correction": 1},
               "both"),
    ]


def _norm_p(dt, rng, key="p"):
    out = []
    for i, p in enumerate((2, 1, 3, 0.5, INF, -INF, 0, -1.5)):
        kw = {key: p}
        if i % 2:
            kw.update(dim=1, keepdim=i % 4 == 1)
        out.append(Sample((make((3, 4), dt, rng, positive=p < 1),), kw, f"{key}={p}"))
    out.append(Sample((make((2, 3, 4), dt, rng),), {key: 2, "dim": (0, 2)}, "dims"))
    return out


def _zero_vectors(dt, rng, key="p"):
    """Norms of zero vectors: torch's gradient is zero there, not nan."""
    return [Sample((np.zeros((2, 3), dtype=dt),), {key: p, "dim": 1}, f"{key}={p}")
            for p in (2, 1, 3)]


def _matrix_ords(dt, rng, svd):
    ords = ("nuc", 2, -2) if svd else ("fro", 1, -1, INF, -INF)
    out = []
    for i, o in enumerate(ords):
        out.append(Sample((make((3, 4), dt, rng),), {"ord": o}, f"ord={o}"))
        out.append(Sample((make((2, 4, 3), dt, rng),), {"ord": o, "dim": (2, 0),
                                                        "keepdim": bool(i % 2)}, f"ord={o} dim"))
    return out


def _linalg_norm(dt, rng):
    return [
        Sample((make((3, 4), dt, rng),)),
        Sample((make((3, 4), dt, rng),), {"ord": 1}, "matrix ord"),
        Sample((make((4,), dt, rng),), {"ord": 3}, "vector ord"),
        Sample((make((2, 3, 4), dt, rng),), {"dim": 1}, "dim int"),
        Sample((make((2, 3, 4), dt, rng),), {"dim": (0, 2), "ord": INF}, "matrix dims"),
        Sample((make((2, 3, 4), dt, rng),), {"ord": 2}, "3-d with ord"),
        Sample((make((4,), dt, rng),), {"ord": "fro"}, "fro of a vector"),
    ]


def _binary_max(dt, rng):
    return [Sample((make((3, 4), dt, rng), make((4,), dt, rng)))]


def _scan_edges(dt, rng):
    return [
        Sample((make((3, 4), dt, rng),), {"dim": 1}),
        Sample((make((), dt, rng),), {"dim": 0}, "0-d"),
        Sample((make((0, 3), dt, rng),), {"dim": 0}, "empty"),
        Sample((make((3, 4), dt, rng),), {"dim": 2}, "dim out of range"),
    ]


def _dtype_kw(samples, dtype):
    return [Sample(s.args, dict(s.kwargs, dtype=dtype), s.name) for s in samples]


# ---- the table -----------------------------------------------------------------------------

OPS = [
    # sum / mean / nansum / nanmean
    OpInfo("sum", _fn("sum"), _dims, dtypes=ALL_FLOAT),
    OpInfo("sum_method", _method("sum"), _dims),
    OpInfo("sum_dtype", _fn("sum"), lambda dt, rng: _dtype_kw(_dims(dt, rng)[:4], "float64")),
    OpInfo("sum_edge", _fn("sum"), _edges, dtypes=ALL_FLOAT + WITH_BOOL, grad=False),
    OpInfo("sum_int_dtype", _fn("sum"), lambda dt, rng: _dtype_kw(_dims(dt, rng)[:3], "int32"),
           dtypes=("float32", "int64", "bool"), grad=False),
    OpInfo("mean", _fn("mean"), _dims, dtypes=ALL_FLOAT),
    OpInfo("mean_method", _method("mean"), _dims),
    OpInfo("mean_edge", _fn("mean"), _edges, dtypes=("float32",) + WITH_BOOL, grad=False),
    OpInfo("mean_int_dtype", _fn("mean"),
           lambda dt, rng: _dtype_kw(_dims(dt, rng)[:2], "float64")
           + _dtype_kw(_dims(dt, rng)[:1], "int32"), dtypes=("int64", "float32"), grad=False),
    OpInfo("nansum", _fn("nansum"), _with_nans),
    OpInfo("nansum_edge", _fn("nansum"), _edges, dtypes=("float32",) + WITH_BOOL, grad=False),
    OpInfo("nanmean", _fn("nanmean"), _with_nans),
    OpInfo("nanmean_edge", _method("nanmean"), _edges, dtypes=("float32", "int64"), grad=False),

    # prod
    OpInfo("prod", _fn("prod"), lambda dt, rng: _one_dim(dt, rng) + [
        Sample((make((3, 4), dt, rng),))]),
    OpInfo("prod_zeros", _method("prod"), _zeros),
    OpInfo("prod_edge", _fn("prod"), lambda dt, rng: [
        Sample((make((3, 4), dt, rng),), {"dim": (0, 1)}, "tuple dim"),
        Sample((make((0, 3), dt, rng),), {}, "empty"),
        Sample((make((2, 3), dt, rng),), {"dim": 1, "dtype": "float64"}),
        Sample((make((2, 3), dt, rng),), {"dim": -3}, "dim out of range"),
    ] + _one_dim(dt, rng), dtypes=("float16", "float32") + WITH_BOOL, grad=False),

    # max / min / amax / amin / aminmax / argmax / argmin
    OpInfo("max", _method("max"), lambda dt, rng: _dims(dt, rng, tuples=False)[:1]
           + _dims(dt, rng, tuples=False)[5:]),
    OpInfo("max_dim", _fn("max"), _one_dim),
    OpInfo("min_dim", _method("min"), _one_dim),
    OpInfo("min", _fn("min"), lambda dt, rng: [Sample((make((3, 4), dt, rng),)),
                                               Sample((make((2, 3, 2), dt, rng),))]),
    OpInfo("max_edge", _fn("max"), lambda dt, rng: _no_keepdim(_edges(dt, rng, False)),
           dtypes=("float32",) + WITH_BOOL, grad=False),
    OpInfo("min_edge", _method("min"), lambda dt, rng: _edges(dt, rng, False),
           dtypes=("float32",) + WITH_BOOL, grad=False),
    OpInfo("max_binary", lambda L, a, b: L.max(a, b), _binary_max),
    OpInfo("min_binary", lambda L, a, b: a.min(b), _binary_max),
    OpInfo("amax", _fn("amax"), _dims),
    OpInfo("amin", _method("amin"), _dims),
    OpInfo("amax_ties", _fn("amax"), _ties, gradgrad=False),
    OpInfo("amin_ties", _fn("amin"), lambda dt, rng: [Sample((-s.args[0],), s.kwargs) for s in
                                                      _ties(dt, rng)], gradgrad=False),
    OpInfo("max_ties", _method("max"), lambda dt, rng: _ties(dt, rng)[:1], gradgrad=False),
    OpInfo("amax_edge", _fn("amax"), _edges, dtypes=("float32",) + WITH_BOOL, grad=False),
    OpInfo("aminmax", lambda L, a, **kw: L.aminmax(a, **kw), lambda dt, rng: [
        Sample((make((3, 4), dt, rng),)),
        Sample((make((2, 3, 4), dt, rng),), {"dim": 1, "keepdim": True}),
        Sample((make((0, 3), dt, rng),), {}, "empty"),
        Sample((make((0, 3), dt, rng),), {"dim": 0}, "empty dim"),
        Sample((make((0, 3), dt, rng),), {"dim": 1}, "empty dim kept"),
    ]),
    OpInfo("argmax", _fn("argmax"), lambda dt, rng: _no_keepdim(_edges(dt, rng, False))
           + _one_dim(dt, rng) + [Sample((make((2, 3), dt, rng),), {"keepdim": True})],
           dtypes=("float32",) + WITH_BOOL, grad=False),
    OpInfo("argmin", _method("argmin"), lambda dt, rng: _one_dim(dt, rng)
           + [Sample((make((2, 3), dt, rng),), {})], dtypes=("float64", "int32"), grad=False),

    # median
    OpInfo("median", _fn("median"), lambda dt, rng: [
        Sample((make((3, 5), dt, rng),)), Sample((make((2, 3), dt, rng),), {}, "even"),
        Sample((make((), dt, rng),))]),
    OpInfo("median_dim", _method("median"), _one_dim),
    OpInfo("median_edge", _fn("median"), lambda dt, rng: [
        Sample((np.array([1.0, np.nan, 0.0, 2.0]),), {}, "nan"),
        Sample((np.array([[1.0, np.nan, 0.0], [2.0, 1.0, 3.0]]),), {"dim": 1}, "nan dim"),
        Sample((make((0, 3), dt, rng),), {}, "empty"),
        Sample((make((4, 3), dt, rng),), {"dim": 2}, "dim out of range"),
    ], grad=False),
    OpInfo("nanmedian", _fn("nanmedian"), lambda dt, rng: [
        Sample((np.array([1.0, np.nan, 0.0, 2.0, -1.0], dtype=dt),)),
        Sample((np.array([[1.0, np.nan, 0.0, 4.0], [2.0, 1.0, 3.0, -2.0]], dtype=dt),),
               {"dim": 1}),
    ]),
    OpInfo("nanmedian_edge", _fn("nanmedian"), lambda dt, rng: [
        Sample((np.array([[np.nan, np.nan], [1.0, 0.5]], dtype=dt),), {"dim": 1}, "all nan"),
        Sample((np.array([np.nan, np.nan], dtype=dt),), {}, "all nan, no dim"),
    ], dtypes=("float32",), grad=False),

    # var / std
    OpInfo("var", _fn("var"), _var_like, dtypes=ALL_FLOAT),
    OpInfo("std", _method("std"), _var_like),
    OpInfo("var_edge", _fn("var"), _var_edges, dtypes=("float32", "int64"), grad=False),
    OpInfo("std_edge", _method("std"), _var_edges, grad=False),
    OpInfo("var_positional", lambda L, a: (L.var(a, 1, True, True), L.std(a, False)),
           lambda dt, rng: [Sample((make((3, 4), dt, rng),))]),
    OpInfo("var_mean", _fn("var_mean"), _var_like),
    OpInfo("std_mean", _fn("std_mean"), _var_like),

    # norms
    OpInfo("norm", _method("norm"), _norm_p),
    OpInfo("norm_zero", _method("norm"), _zero_vectors, gradgrad=False),
    OpInfo("norm_fro", _fn("norm"), lambda dt, rng: [
        Sample((make((3, 4), dt, rng),), {"p": "fro"}),
        Sample((make((2, 3, 4), dt, rng),), {"p": "fro", "dim": (1, 2), "keepdim": True}),
        Sample((make((2, 3), dt, rng),), {"dtype": "float64"}, "dtype"),
        Sample((make((3, 4), dt, rng),), {"p": "nuc"}, "nuclear"),
    ], gradgrad=False),
    OpInfo("vector_norm", lambda L, a, **kw: L.linalg.vector_norm(a, **kw),
           lambda dt, rng: _norm_p(dt, rng, key="ord")),
    OpInfo("vector_norm_edge", lambda L, a, **kw: L.linalg.vector_norm(a, **kw),
           lambda dt, rng: [
               Sample((make((0, 3), dt, rng),), {}, "empty"),
               Sample((make((0, 3), dt, rng),), {"ord": INF}, "empty inf"),
               Sample((make((0, 3), dt, rng),), {"ord": INF, "dim": 0}, "empty inf dim"),
               Sample((make((0, 3), dt, rng),), {"ord": INF, "dim": 1}, "empty inf kept"),
               Sample((make((), dt, rng),), {"ord": 3}, "0-d"),
           ], dtypes=("float32", "int64"), grad=False),
    OpInfo("matrix_norm", lambda L, a, **kw: L.linalg.matrix_norm(a, **kw),
           lambda dt, rng: _matrix_ords(dt, rng, svd=False)),
    OpInfo("matrix_norm_svd", lambda L, a, **kw: L.linalg.matrix_norm(a, **kw),
           lambda dt, rng: _matrix_ords(dt, rng, svd=True)),
    OpInfo("svdvals", lambda L, a: L.linalg.svdvals(a), lambda dt, rng: [
        Sample((make((3, 4), dt, rng),)), Sample((make((2, 4, 3), dt, rng),)),
        Sample((make((3, 3), dt, rng, noncontig=True),), name="noncontig")]),
    OpInfo("svdvals_edge", lambda L, a: L.linalg.svdvals(a), lambda dt, rng: [
        Sample((make((3, 4), dt, rng),)), Sample((make((3,), dt, rng),), name="1-d")],
        dtypes=("float16", "bfloat16", "int64"), grad=False),
    OpInfo("matrix_norm_low_precision", lambda L, a, **kw: L.linalg.matrix_norm(a, **kw),
           lambda dt, rng: [Sample((make((3, 4), dt, rng),), {"ord": o}, str(o))
                            for o in ("nuc", 2, -2, 1, "fro")],
           dtypes=("float16", "bfloat16"), grad=False),
    OpInfo("matrix_norm_edge", lambda L, a, **kw: L.linalg.matrix_norm(a, **kw),
           lambda dt, rng: [Sample((make((3,), dt, rng),), {}, "1-d"),
                            Sample((make((3, 3), dt, rng),), {"ord": 3}, "bad ord")],
           grad=False),
    OpInfo("linalg_norm", lambda L, a, **kw: L.linalg.norm(a, **kw), _linalg_norm),

    # logsumexp
    OpInfo("logsumexp", _fn("logsumexp"), lambda dt, rng: [
        Sample((make((3, 4), dt, rng),), {"dim": 1}),
        Sample((make((2, 3, 4), dt, rng),), {"dim": (0, 2), "keepdim": True}),
        Sample((make((4, 3), dt, rng, noncontig=True),), {"dim": -2}, "noncontig"),
        Sample((make((2, 3), dt, rng, low=-300, high=300),), {"dim": 1}, "large"),
        Sample((make((), dt, rng),), {"dim": 0}, "0-d"),
        Sample((make((2, 0), dt, rng),), {"dim": 1}, "empty"),
    ]),
    OpInfo("logsumexp_edge", _method("logsumexp"), lambda dt, rng: [
        Sample((np.array([[-np.inf, -np.inf], [np.inf, 1.0]]),), {"dim": 1}, "infs"),
        Sample((make((3, 4), dt, rng),), {"dim": 1}),
        Sample((make((3, 4), dt, rng),), {"dim": 4}, "dim out of range"),
    ], dtypes=("float32", "int64"), grad=False),

    # scans
    OpInfo("cumsum", _fn("cumsum"), lambda dt, rng: _no_keepdim(_one_dim(dt, rng)),
           dtypes=ALL_FLOAT),
    OpInfo("cumsum_edge", _method("cumsum"), lambda dt, rng: _scan_edges(dt, rng)
           + _dtype_kw(_scan_edges(dt, rng)[:1], "float64"),
           dtypes=("float32",) + WITH_BOOL, grad=False),
    OpInfo("cumprod", _method("cumprod"), lambda dt, rng: _no_keepdim(_one_dim(dt, rng))),
    OpInfo("cumprod_zeros", _fn("cumprod"), lambda dt, rng: _zeros(dt, rng)[:2]),
    OpInfo("cumprod_edge", _fn("cumprod"), _scan_edges, dtypes=("float32",) + WITH_BOOL,
           grad=False),
    OpInfo("cummax", _fn("cummax"), lambda dt, rng: _no_keepdim(_one_dim(dt, rng))),
    OpInfo("cummin", _method("cummin"), lambda dt, rng: _no_keepdim(_one_dim(dt, rng))),
    OpInfo("cummax_edge", _method("cummax"), lambda dt, rng: _scan_edges(dt, rng) + [
        Sample((np.array([1.0, np.nan, 0.0, np.nan, 5.0]),), {"dim": 0}, "nan")],
        dtypes=("float32", "int32", "bool"), grad=False),

    # the gradient of value-selecting ops, differentiated again (scatter's gradient is a
    # gather): reaches the ops routing gradients along a dim in both directions
    OpInfo("max_dim_grad", _grad_of("max"), _picked_grad_samples, skip_grad_args=(0,)),
    OpInfo("median_dim_grad", _grad_of("median"), _picked_grad_samples, skip_grad_args=(0,)),
    OpInfo("cummax_grad", _grad_of("cummax"), _picked_grad_samples, skip_grad_args=(0,)),

    # all / any / count_nonzero
    OpInfo("all", _fn("all"), _edges, dtypes=("float32",) + WITH_BOOL, grad=False),
    OpInfo("any", _method("any"), _edges, dtypes=("float32",) + WITH_BOOL, grad=False),
    OpInfo("count_nonzero", _fn("count_nonzero"),
           lambda dt, rng: _no_keepdim(_edges(dt, rng)), dtypes=("float32",) + WITH_BOOL,
           grad=False),

    # softmax family
    OpInfo("softmax", _fn("softmax"), _softmax, dtypes=ALL_FLOAT),
    OpInfo("log_softmax", _method("log_softmax"), _softmax, dtypes=ALL_FLOAT),
    OpInfo("softmax_functional", lambda L, a, **kw: L.nn.functional.softmax(a, **kw),
           lambda dt, rng: _softmax(dt, rng)[:4]),
    OpInfo("softmin_functional", lambda L, a, **kw: L.nn.functional.softmin(a, **kw),
           lambda dt, rng: _softmax(dt, rng)[:4]),
    OpInfo("softmax_int", _fn("softmax"), lambda dt, rng: [
        Sample((make((3, 4), dt, rng),), {"dim": 1}),
        Sample((make((3, 4), dt, rng),), {"dim": 0}),
        Sample((make((3, 4), dt, rng),), {"dim": 1, "dtype": "float32"})], dtypes=("int64",),
        grad=False),
    OpInfo("log_softmax_int", _fn("log_softmax"), lambda dt, rng: [
        Sample((make((3, 4), dt, rng),), {"dim": 1}),
        Sample((make((3, 4), dt, rng),), {"dim": 0})], dtypes=("int64",), grad=False),
]
