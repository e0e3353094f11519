"""Conformance entries for indexing: getitem/setitem, gather/scatter, index_*, masks,
sort/topk, unique, searchsorted, repeat_interleave, tril/triu, one_hot."""

from __future__ import annotations

import numpy as np

from tests.conformance.harness import ALL_FLOAT, FLOAT_DTYPES, INT_DTYPES, OpInfo, Sample, make


def _i(*values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _mask(shape, rng) -> np.ndarray:
    return rng.integers(0, 2, size=shape).astype(bool)


# ---- getitem ---------------------------------------------------------------------------------

def _get(key):
    """``a[key]`` where ``key`` may name the sample's extra args (index arrays) as ``"i"``."""
    def fn(L, a, *idx):
        it = iter(idx)
        k = tuple(next(it) if x == "i" else x for x in key)
        return a[k]
    return fn


_BASIC_KEYS = [
    (1,), (slice(None), slice(1, 3)), (Ellipsis, None, slice(None, None, 2)), (1, 2),
    (None,), (True,), (False,), (-1, slice(2, None)), (slice(10, 20),), (Ellipsis,),
]


def _getitem_basic(dt, rng):
    return [Sample((make((3, 4), dt, rng),), {"key": k}) for k in _BASIC_KEYS] + [
        Sample((make((4, 3), dt, rng, noncontig=True),), {"key": (slice(None), 1)}),
        Sample((make((), dt, rng),), {"key": (None, Ellipsis)}),
        Sample((make((0, 3), dt, rng),), {"key": (slice(None), 0)}),
        Sample((make((3, 4), dt, rng),), {"key": (slice(None, None, -1),)}),  # ValueError
        Sample((make((3, 4), dt, rng),), {"key": (5,)}),  # IndexError
        Sample((make((3, 4), dt, rng),), {"key": (0, 0, 0)}),  # IndexError
    ]


def _getitem_adv(dt, rng):
    a = make((3, 4, 5), dt, rng)
    return [
        Sample((a, _i(0, 2, 0, 0)), {"key": ("i",)}, name="repeats"),
        Sample((a, _i(1, 0), _i(4, 4)), {"key": ("i", slice(None), "i")}, name="split"),
        Sample((a, _i(2, 2)), {"key": (0, slice(None), "i")}, name="int-then-adv"),
        Sample((a, _i(2, 0)), {"key": (slice(None), "i", 1)}),
        Sample((a, _i([0, 1], [2, 2]), _i(3)), {"key": ("i", "i")}, name="broadcast"),
        Sample((a, _mask((3, 4), rng)), {"key": ("i",)}, name="mask"),
        Sample((a, _mask((4,), rng)), {"key": (slice(None), "i", slice(1, 3))}),
        Sample((a, _i(-1, 1)), {"key": (None, Ellipsis, "i")}),
        Sample((a, _i(1, 0)), {"key": (True, slice(None), "i")}),
        Sample((make((4, 3), dt, rng, noncontig=True), _i(3, 1, 3)), {"key": ("i",)}),
        Sample((a, _i(3)), {"key": ("i",)}),  # IndexError
        Sample((a, _mask((3, 5), rng)), {"key": ("i",)}),  # mask shape mismatch
        Sample((a, np.zeros(0, np.int64)), {"key": (slice(None), "i")}),
    ]


def _getitem_list(dt, rng):
    return [Sample((make((4, 3), dt, rng),), {"key": k}) for k in
            ([0, 2, 2], [[0, 1], [2, 0]], [True, False, True, True], [])]


# ---- setitem and index_put --------------------------------------------------------------------

def _set(key):
    """``y = a * 1; y[key] = v`` (the op under test is the in-place write into ``y``)."""
    def fn(L, a, v, *idx):
        it = iter(idx)
        k = tuple(next(it) if x == "i" else x for x in key)
        y = a * 1
        y[k] = v
        return y
    return fn


def _setitem(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), make((4,), dt, rng)), {"key": (1,)}),
        Sample((make((3, 4), dt, rng), make((3, 1), dt, rng)), {"key": (slice(None), slice(1, 3))},
               name="broadcast"),
        Sample((make((3, 4), dt, rng), 2.5), {"key": (Ellipsis, 0)}, name="number"),
        Sample((make((3, 4), dt, rng), make((), dt, rng)), {"key": (0, 1)}, name="0-d"),
        Sample((make((3, 4), dt, rng), make((1, 2), dt, rng)), {"key": (0, slice(0, 2))},
               name="leading-1"),
        Sample((make((3, 4), dt, rng), make((2, 4), dt, rng), _i(2, 0)), {"key": ("i",)}),
        Sample((make((3, 4), dt, rng), make((2,), dt, rng), _i(2, 0), _i(1, 3)),
               {"key": ("i", "i")}),
        Sample((make((3, 4), dt, rng), make((), dt, rng), _mask((3, 4), rng)), {"key": ("i",)}),
        Sample((make((4, 3), dt, rng, noncontig=True), make((3,), dt, rng)),
               {"key": (slice(1, 3),)}),
        Sample((make((3, 4), dt, rng), make((3,), "int64", rng)), {"key": (0,)}, name="cast"),
        Sample((make((3, 4), dt, rng), make((3,), dt, rng)), {"key": (0,)}),  # shape mismatch
    ]


def _index_put(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), (_i(0, 2, 0), _i(1, 1, 1)), make((3,), dt, rng)),
               {"accumulate": True}, name="accumulate-repeats"),
        Sample((make((3, 4), dt, rng), (_i(0, 2),), make((4,), dt, rng)), {}),
        Sample((make((3, 4), dt, rng), (None, _i(3, 0)), make((3, 1), dt, rng)),
               {"accumulate": True}),
        Sample((make((3, 4), dt, rng), (_mask((3, 4), rng),), make((), dt, rng)), {}),
    ]


def _index_put_fn(inplace):
    def fn(L, a, indices, v, **kw):
        idx = tuple(None if i is None else L.from_numpy(i) for i in indices)
        if inplace:
            return (a * 1).index_put_(idx, v, **kw)
        return L.index_put(a, idx, v, **kw)
    return fn


# ---- gather / scatter --------------------------------------------------------------------------

def _gather(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), 1, _i([0, 3, 3], [2, 1, 0])), name="smaller-index"),
        Sample((make((3, 4), dt, rng), 0, _i([0, 2, 2, 1], [1, 1, 0, 0]))),
        Sample((make((3, 4), dt, rng), -1, np.zeros((3, 0), np.int64))),
        Sample((make((4, 3), dt, rng, noncontig=True), 0, _i([3, 0, 0]))),
        Sample((make((), dt, rng), 0, np.zeros((), np.int64)), name="0-d"),
        Sample((make((2, 3, 2), dt, rng), 1, rng.integers(0, 3, (2, 4, 2)))),
        Sample((make((3, 4), dt, rng), 1, _i([0, 4]))),  # out of bounds
        Sample((make((3, 4), dt, rng), 1, _i(0, 1))),  # ndim mismatch
        Sample((make((3, 4), dt, rng), 1, np.array([[2], [0]], np.int32))),
        Sample((make((3, 4), dt, rng), 1, np.array([[2], [0]], np.int16))),
    ]


def _scatter_samples(dt, rng, unique=True):
    idx = _i([0, 2, 1], [2, 0, 0]) if unique else _i([0, 2, 0], [2, 2, 2])
    return [
        Sample((make((3, 4), dt, rng), 0, idx, make((2, 3), dt, rng))),
        Sample((make((4, 3), dt, rng, noncontig=True), -1, _i([2], [0], [1], [0]),
                make((4, 1), dt, rng))),
        Sample((make((3, 4), dt, rng), 0, idx, make((2, 3), dt, rng)), name="repeats"
               if not unique else "again"),
        Sample((make((), dt, rng), 0, np.zeros((), np.int64), make((), dt, rng)), name="0-d"),
        Sample((make((3, 4), dt, rng), 1, _i([4]), make((1, 1), dt, rng))),  # out of bounds
    ]


def _scatter_value(dt, rng):
    return [Sample((make((3, 4), dt, rng), 1, _i([0, 3], [1, 1]), 1.5)),
            Sample((make((3, 4), dt, rng), 0, _i([0, 2, 1]), -2.0))]


def _scatter_reduce(dt, rng):
    out = []
    for reduce in ("sum", "mean", "amax", "amin", "prod"):
        for include_self in (True, False):
            out.append(Sample((make((3, 4), dt, rng), 0, _i([0, 2, 0, 1], [2, 2, 2, 0]),
                               make((2, 4), dt, rng)),
                              {"reduce": reduce, "include_self": include_self},
                              name=f"{reduce}-{include_self}"))
    return out


# ---- index_select and friends -----------------------------------------------------------------

def _index_select(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), 0, _i(2, 0, 2))),
        Sample((make((3, 4), dt, rng), -1, _i(3, 3, 1))),
        Sample((make((4, 3), dt, rng, noncontig=True), 1, np.array([2, 0], np.int32))),
        Sample((make((3, 4), dt, rng), 1, np.zeros(0, np.int64))),
        Sample((make((3, 4), dt, rng), 0, _i(3))),  # out of range
        Sample((make((3, 4), dt, rng), 0, _i([0]))),  # not a vector
    ]


def _index_add(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), 0, _i(2, 0, 2), make((3, 4), dt, rng))),
        Sample((make((3, 4), dt, rng), -1, _i(1, 3), make((3, 2), dt, rng)), {"alpha": 2}),
        Sample((make((4, 3), dt, rng, noncontig=True), 1, _i(0), make((4, 1), dt, rng))),
        Sample((make((3, 4), dt, rng), 0, _i(0), make((2, 4), dt, rng))),  # count mismatch
        Sample((make((3, 4), dt, rng), 0, _i(5), make((1, 4), dt, rng))),  # out of bounds
        Sample((make((3, 4), dt, rng), 0, _i(-1), make((1, 4), dt, rng))),
        Sample((make((3, 4), dt, rng), 0, np.array([2, 0], np.int32), make((2, 4), dt, rng))),
    ]


def _index_copy(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), 0, _i(2, 0), make((2, 4), dt, rng))),
        Sample((make((3, 4), dt, rng), 1, _i(3, 1, 0), make((3, 3), dt, rng))),
        Sample((make((3, 4), dt, rng), 0, _i(5), make((1, 4), dt, rng))),
        Sample((make((3, 4), dt, rng), 0, _i(-1), make((1, 4), dt, rng))),
        Sample((make((3, 4), dt, rng), 0, np.array([1], np.int32), make((1, 4), dt, rng))),
    ]


def _index_fill(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), 1, _i(0, 3), -1.5)),
        Sample((make((3, 4), dt, rng), 0, _i(2, 2), make((), dt, rng)), name="tensor-value"),
        Sample((make((4, 3), dt, rng, noncontig=True), -1, _i(1), 2.0)),
        Sample((make((3, 4), dt, rng), 0, _i(5), 1.0)),
        Sample((make((3, 4), dt, rng), 0, _i(-1), 1.0)),
        Sample((make((3, 4), dt, rng), 0, np.array([1], np.int32), 1.0)),
    ]


def _take(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), _i([0, 11], [5, 5]))),
        Sample((make((4, 3), dt, rng, noncontig=True), _i(-1, 2, 2))),
        Sample((make((), dt, rng), _i(0, 0))),
        Sample((make((3, 4), dt, rng), _i(12))),
    ]


def _take_along_dim(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), _i([0, 3], [1, 1], [2, 0])), {"dim": 1}),
        Sample((make((3, 4), dt, rng), _i([0], [2])), {"dim": -1}, name="broadcast"),
        Sample((make((3, 1), dt, rng), _i([0, 0, 0, 0])), {"dim": 0}, name="broadcast-input"),
        Sample((make((3, 4), dt, rng), _i(11, 0, 5)), {"dim": None}),
    ]


def _put(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), _i(0, 11, -2), make((3,), dt, rng)), {}),
        Sample((make((3, 4), dt, rng), _i([1, 1], [5, 1]), make((2, 2), dt, rng)),
               {"accumulate": True}),
        Sample((make((3, 4), dt, rng), _i(12), make((1,), dt, rng)), {}),
    ]


# ---- masks ----------------------------------------------------------------------------------

def _masked_fill(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), _mask((3, 4), rng), -1.0)),
        Sample((make((3, 4), dt, rng), _mask((4,), rng), make((), dt, rng)), name="tensor-value"),
        Sample((make((3, 1), dt, rng), _mask((2, 3, 4), rng), 2.0), name="broadcast-both"),
        Sample((make((4, 3), dt, rng, noncontig=True), _mask((4, 3), rng), 0.5)),
        Sample((make((), dt, rng), _mask((), rng), 1.0)),
        Sample((make((3, 4), dt, rng), make((3, 4), dt, rng), 1.0), name="float-mask"),
        Sample((make((3, 4), dt, rng), _mask((4,), rng), make((2,), dt, rng)), name="1-d value"),
    ]


def _masked_select(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), _mask((3, 4), rng))),
        Sample((make((3, 4), dt, rng), _mask((4,), rng))),
        Sample((make((3, 1), dt, rng), _mask((3, 4), rng)), name="broadcast-input"),
        Sample((make((), dt, rng), np.array(True))),
        Sample((make((4, 3), dt, rng, noncontig=True), _mask((4, 3), rng))),
    ]


def _masked_scatter(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), _mask((3, 4), rng), make((12,), dt, rng))),
        Sample((make((3, 4), dt, rng), _mask((4,), rng), make((4, 4), dt, rng))),
        Sample((make((3, 4), dt, rng), np.ones((3, 4), bool), make((3,), dt, rng))),  # too small
    ]


def _nonzero(dt, rng):
    def sparse(shape):
        return (make(shape, dt, rng) * _mask(shape, rng)).astype(dt)
    return [Sample((sparse((3, 4)),)), Sample((sparse((2, 3, 2)),)), Sample((sparse((0, 3)),)),
            Sample((np.array(3, dt),)), Sample((np.array(0, dt),)), Sample((sparse((5,)),))]


# ---- sorting ---------------------------------------------------------------------------------

def _sort(dt, rng):
    return [
        Sample((make((3, 5), dt, rng),), {}),
        Sample((make((3, 5), dt, rng),), {"dim": 0, "descending": True}),
        Sample((make((4, 3), dt, rng, noncontig=True),), {"dim": -1, "descending": True}),
        Sample((make((), dt, rng),), {}),
        Sample((make((0, 3), dt, rng),), {"dim": 0}),
    ]


def _sort_ties(dt, rng):
    return [Sample((np.array([3, 1, 3, 1, 2, 3], dt),), {"stable": True}),
            Sample((np.array([3, 1, 3, 1, 2, 3], dt),), {"stable": True, "descending": True}),
            Sample((np.array([[1, np.nan, 0], [np.nan, 2, 2]], dt),), {"stable": True}),
            Sample((np.array([[1, np.nan, 0], [np.nan, 2, 2]], dt),),
                   {"stable": True, "descending": True, "dim": 0})]


def _topk(dt, rng):
    return [
        Sample((make((3, 5), dt, rng), 2), {}),
        Sample((make((3, 5), dt, rng), 3), {"dim": 0, "largest": False}),
        Sample((make((4, 3), dt, rng, noncontig=True), 0), {"dim": -1}),
        Sample((make((5,), dt, rng), 5), {}),
        Sample((make((5,), dt, rng), 6), {}),
    ]


def _kthvalue(dt, rng):
    return [
        Sample((make((3, 5), dt, rng), 2), {}),
        Sample((make((3, 5), dt, rng), 3), {"dim": 0, "keepdim": True}),
        Sample((make((4, 3), dt, rng, noncontig=True), 1), {"dim": 0}),
        Sample((make((), dt, rng), 1), {}),
        Sample((make((5,), dt, rng), 6), {}),
    ]


def _unique(dt, rng):
    data = np.array([[3, 1, 3, 1], [2, 2, 0, 1], [3, 1, 3, 1]], dt)
    out = []
    for kw in ({}, {"return_inverse": True}, {"return_counts": True},
               {"return_inverse": True, "return_counts": True, "dim": 0},
               {"return_inverse": True, "return_counts": True, "dim": 1}):
        out.append(Sample((data,), kw))
    return out + [Sample((np.zeros((0,), dt),), {"return_counts": True})]


def _unique_consecutive(dt, rng):
    data = np.array([[3, 3, 1, 1], [3, 3, 1, 1], [2, 0, 0, 1]], dt)
    return [Sample((data,), kw) for kw in (
        {}, {"return_inverse": True, "return_counts": True},
        {"return_inverse": True, "return_counts": True, "dim": 0},
        {"return_counts": True, "dim": 1})]


def _searchsorted(dt, rng):
    seq = np.sort(make((6,), dt, rng)).astype(dt)
    seq2 = np.sort(make((2, 5), dt, rng), axis=-1).astype(dt)
    return [
        Sample((seq, make((3, 2), dt, rng)), {}),
        Sample((seq, seq[[1, 3]].copy()), {"right": True}),
        Sample((seq, seq[[1, 3]].copy()), {"side": "right", "out_int32": True}),
        Sample((seq2, make((2, 3), dt, rng)), {}),
        Sample((seq, 0.25), {}),
        Sample((seq2, make((3, 3), dt, rng)), {}),  # leading dims differ
    ]


def _bucketize(dt, rng):
    bounds = np.sort(make((5,), dt, rng)).astype(dt)
    return [
        Sample((make((3, 4), dt, rng), bounds), {}),
        Sample((bounds[[0, 2]].copy(), bounds), {"right": True}),
        Sample((bounds[[0, 2]].copy(), bounds), {"out_int32": True}),
    ]


def _repeat_interleave(dt, rng):
    return [
        Sample((make((3, 2), dt, rng), 2), {}),
        Sample((make((3, 2), dt, rng), _i(1, 0, 3)), {"dim": 0}),
        Sample((make((3, 2), dt, rng), _i(2)), {"dim": -1}),
        Sample((make((), dt, rng), 3), {}),
        Sample((make((3, 2), dt, rng), _i(1, 2)), {"dim": 0}),  # size mismatch
    ]


def _tri(dt, rng):
    return [
        Sample((make((4, 5), dt, rng),), {}),
        Sample((make((2, 3, 4), dt, rng),), {"diagonal": 1}),
        Sample((make((4, 3), dt, rng, noncontig=True),), {"diagonal": -1}),
        Sample((make((0, 3), dt, rng),), {}),
        Sample((make((3,), dt, rng),), {}),
    ]


def _one_hot(dt, rng):
    return [
        Sample((_i(0, 2, 1),), {}),
        Sample((_i([0, 2], [1, 1]),), {"num_classes": 4}),
        Sample((np.zeros(0, np.int64),), {"num_classes": 3}),
        Sample((_i(-1, 0),), {}),
        Sample((_i(3),), {"num_classes": 2}),
        Sample((np.zeros(0, np.int64),), {}),
        Sample((np.array([1, 0], np.int32),), {}),
    ]


def _inplace(name):
    """``(a * 1).name_(...)``: the in-place method on a non-leaf copy of ``a``."""
    return lambda L, a, *args, **kw: getattr(a * 1, name + "_")(*args, **kw)


def _key(fn):
    return lambda L, *args, key: fn(key)(L, *args)


_INT_AND_FLOAT = FLOAT_DTYPES + INT_DTYPES

OPS = [
    OpInfo("getitem_basic", lambda L, a, key: a[key], _getitem_basic, dtypes=ALL_FLOAT),
    OpInfo("getitem_advanced", _key(_get), _getitem_adv, dtypes=FLOAT_DTYPES + ("int64",)),
    OpInfo("getitem_list", lambda L, a, key: a[key], _getitem_list),
    OpInfo("setitem", _key(_set), _setitem, dtypes=ALL_FLOAT),
    OpInfo("index_put", _index_put_fn(False), _index_put),
    OpInfo("index_put_", _index_put_fn(True), _index_put),
    OpInfo("gather", lambda L, a, d, i: L.gather(a, d, i), _gather, dtypes=_INT_AND_FLOAT),
    OpInfo("scatter", lambda L, a, d, i, s: L.scatter(a, d, i, s), _scatter_samples),
    OpInfo("scatter_", _inplace("scatter"), _scatter_samples),
    # torch's own backward fails when src is larger than index: values only
    OpInfo("scatter_src_larger", lambda L, a, d, i, s: a.scatter_add(d, i, s).scatter(d, i, s),
           lambda dt, rng: [Sample((make((3, 4), dt, rng), 1, _i([3, 0], [1, 2]),
                                    make((3, 4), dt, rng)))], grad=False),
    OpInfo("scatter_value", lambda L, a, d, i, v: a.scatter(d, i, v), _scatter_value,
           dtypes=_INT_AND_FLOAT),
    OpInfo("scatter_reduce_legacy", lambda L, a, d, i, s: a.scatter(d, i, s, reduce="add"),
           lambda dt, rng: _scatter_samples(dt, rng, unique=False), grad=False),
    OpInfo("scatter_multiply", lambda L, a, d, i, v: a.scatter(d, i, v, reduce="multiply"),
           _scatter_value, grad=False),
    OpInfo("scatter_add", lambda L, a, d, i, s: L.scatter_add(a, d, i, s),
           lambda dt, rng: _scatter_samples(dt, rng, unique=False)),
    OpInfo("scatter_add_", _inplace("scatter_add"),
           lambda dt, rng: _scatter_samples(dt, rng, unique=False)),
    OpInfo("scatter_reduce", lambda L, a, d, i, s, **kw: L.scatter_reduce(a, d, i, s, **kw),
           lambda dt, rng: [s for s in _scatter_reduce(dt, rng) if "prod" not in s.name]),
    OpInfo("scatter_reduce_prod", lambda L, a, d, i, s, **kw: a.scatter_reduce(d, i, s, **kw),
           lambda dt, rng: [s for s in _scatter_reduce(dt, rng) if "prod" in s.name],
           dtypes=_INT_AND_FLOAT, grad=False),
    OpInfo("scatter_reduce_", _inplace("scatter_reduce"),
           lambda dt, rng: _scatter_reduce(dt, rng)[:4]),
    OpInfo("index_select", lambda L, a, d, i: L.index_select(a, d, i), _index_select,
           dtypes=_INT_AND_FLOAT),
    OpInfo("index_add", lambda L, a, d, i, s, **kw: L.index_add(a, d, i, s, **kw), _index_add),
    OpInfo("index_add_", _inplace("index_add"), _index_add),
    OpInfo("index_copy", lambda L, a, d, i, s: L.index_copy(a, d, i, s), _index_copy),
    OpInfo("index_copy_", _inplace("index_copy"), _index_copy),
    OpInfo("index_fill", lambda L, a, d, i, v: L.index_fill(a, d, i, v), _index_fill),
    OpInfo("index_fill_", _inplace("index_fill"), _index_fill),
    OpInfo("take", lambda L, a, i: L.take(a, i), _take, dtypes=_INT_AND_FLOAT),
    OpInfo("take_along_dim", lambda L, a, i, **kw: L.take_along_dim(a, i, **kw),
           _take_along_dim),
    OpInfo("put", lambda L, a, i, s, **kw: L.put(a, i, s, **kw), _put),
    OpInfo("put_", _inplace("put"), _put),
    OpInfo("masked_fill", lambda L, a, m, v: L.masked_fill(a, m, v), _masked_fill,
           dtypes=ALL_FLOAT + INT_DTYPES),
    OpInfo("masked_fill_", _inplace("masked_fill"), _masked_fill),
    OpInfo("masked_select", lambda L, a, m: L.masked_select(a, m), _masked_select,
           dtypes=_INT_AND_FLOAT),
    OpInfo("masked_scatter", lambda L, a, m, s: L.masked_scatter(a, m, s), _masked_scatter),
    OpInfo("masked_scatter_", _inplace("masked_scatter"),
           lambda dt, rng: _masked_scatter(dt, rng)[:1]),
    OpInfo("nonzero", lambda L, a: L.nonzero(a), _nonzero, dtypes=_INT_AND_FLOAT, grad=False),
    OpInfo("nonzero_tuple", lambda L, a: L.nonzero(a, as_tuple=True), _nonzero, grad=False),
    OpInfo("argwhere", lambda L, a: L.argwhere(a), _nonzero, grad=False),
    OpInfo("sort", lambda L, a, **kw: L.sort(a, **kw), _sort, dtypes=ALL_FLOAT + INT_DTYPES),
    OpInfo("sort_stable_ties", lambda L, a, **kw: L.sort(a, **kw), _sort_ties, grad=False),
    OpInfo("argsort", lambda L, a, **kw: L.argsort(a, **kw), _sort, dtypes=_INT_AND_FLOAT,
           grad=False),
    OpInfo("msort", lambda L, a: L.msort(a), lambda dt, rng: [Sample((make((3, 4), dt, rng),))]),
    OpInfo("topk", lambda L, a, k, **kw: L.topk(a, k, **kw), _topk),
    OpInfo("kthvalue", lambda L, a, k, **kw: L.kthvalue(a, k, **kw), _kthvalue),
    OpInfo("unique", lambda L, a, **kw: L.unique(a, **kw), _unique, dtypes=_INT_AND_FLOAT,
           grad=False),
    OpInfo("unique_consecutive", lambda L, a, **kw: L.unique_consecutive(a, **kw),
           _unique_consecutive, dtypes=_INT_AND_FLOAT, grad=False),
    OpInfo("searchsorted", lambda L, s, v, **kw: L.searchsorted(s, v, **kw), _searchsorted,
           dtypes=_INT_AND_FLOAT, grad=False),
    OpInfo("bucketize", lambda L, a, b, **kw: L.bucketize(a, b, **kw), _bucketize,
           dtypes=_INT_AND_FLOAT, grad=False),
    OpInfo("repeat_interleave", lambda L, a, r, **kw: L.repeat_interleave(a, r, **kw),
           _repeat_interleave, dtypes=_INT_AND_FLOAT),
    OpInfo("repeat_interleave_counts", lambda L, r: L.repeat_interleave(r),
           lambda dt, rng: [Sample((_i(1, 0, 3),)), Sample((np.zeros(0, np.int64),))],
           grad=False),
    OpInfo("tril", lambda L, a, **kw: L.tril(a, **kw), _tri, dtypes=ALL_FLOAT + ("int64",)),
    OpInfo("triu", lambda L, a, **kw: L.triu(a, **kw), _tri, dtypes=ALL_FLOAT + ("int64",)),
    OpInfo("tril_", _inplace("tril"), _tri),
    OpInfo("triu_", _inplace("triu"), _tri),
    OpInfo("one_hot", lambda L, t, **kw: _one_hot_fn(L)(t, **kw), _one_hot, grad=False),
]


def _one_hot_fn(L):
    if L.__name__ == "torch":
        return L.nn.functional.one_hot
    from ember.ops.indexing import one_hot
    return one_hot
