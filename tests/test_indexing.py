"""Indexing semantics beyond the conformance table: views and version counters, in-place
writes through setitem, gradients through setitem, torch's errors and messages, named
result tuples, and the scatter-add kernel against ``np.add.at``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import ember
from ember._dispatch import DispatchMode
from ember.ops.indexing import _add_at
from tests.dispatch_log import OpNames


def _pair(arr):
    return ember.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


# ---- views -----------------------------------------------------------------------------------

def test_basic_index_is_a_view_sharing_version():
    x = ember.zeros(3, 4)
    row = x[1]
    assert row._base is x and row._vc is x._vc
    row.add_(1.0)
    assert x._data[1].tolist() == [1.0] * 4
    assert x._version == row._version == 1
    elem = x[2, 3]  # a 0-d view, not a copy
    elem.add_(5.0)
    assert x._data[2, 3] == 5.0


def test_advanced_index_is_a_copy():
    x = ember.zeros(3, 4)
    rows = x[ember.tensor([0, 1])]
    rows.add_(1.0)
    assert not x._data.any() and rows._base is None and x._version == 0


def test_setitem_writes_in_place_and_bumps_version():
    x = ember.zeros(3, 4)
    view = x[0]
    ptr = x.data_ptr()
    x[0, 1:3] = 7.0
    assert x.data_ptr() == ptr and x._version == 1 and view._version == 1
    assert view.tolist() == [0.0, 7.0, 7.0, 0.0]


def test_setitem_through_views_and_noncontiguous_targets():
    e, t = _pair(np.arange(12.0).reshape(3, 4))
    for lib_x in (e, t):
        lib_x.t()[1] = 0.0          # non-contiguous view of a transpose
        lib_x[2][1:] = -1.0         # setitem on a view writes the base
        lib_x[0, 0] += 10           # getitem, iadd, setitem
    np.testing.assert_array_equal(e._data, t.numpy())


def test_setitem_casts_value_like_torch():
    e, t = _pair(np.zeros(4, np.int64))
    for lib, x in ((ember, e), (torch, t)):
        x[0] = 2.7
        x[1:3] = lib.tensor([1.9, -1.9])
    np.testing.assert_array_equal(e._data, t.numpy())


def test_saved_tensor_overwritten_by_setitem_raises():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    z = y * y  # saves y
    y[0] = 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


# ---- gradients through setitem ------------------------------------------------------------------

def test_setitem_gradients_reach_old_self_and_value():
    rng = np.random.default_rng(0)
    a, v = rng.standard_normal((3, 4)), rng.standard_normal((1, 4))
    grads = []
    for lib in (ember, torch):
        ta = lib.tensor(a, requires_grad=True)
        tv = lib.tensor(v, requires_grad=True)
        y = ta * 2
        y[lib.tensor([0, 2])] = tv * 3  # value broadcast over two rows
        (y * y).sum().backward()
        grads.append((ta.grad.numpy(), tv.grad.numpy()))
    for e, t in zip(*grads):
        np.testing.assert_allclose(e, t, rtol=1e-12)


def test_setitem_on_leaf_requiring_grad_raises():
    x = ember.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 1.0


def test_setitem_value_requiring_grad_into_plain_tensor():
    v = ember.tensor([1.0, 2.0], requires_grad=True)
    x = ember.zeros(2, 3)
    x[:, 1] = v
    assert x.requires_grad and x.grad_fn is not None
    (x * ember.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    assert v.grad.tolist() == [2.0, 5.0]


def test_repeated_indices_accumulate_gradient():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[ember.tensor([0, 0, 2, 0])].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


# ---- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("key, exc", [
    ((slice(None, None, -1),), ValueError),
    ((5,), IndexError),
    ((0, 0, 0), IndexError),
    (([0, 5],), IndexError),
    ((1.5,), IndexError),
])
def test_getitem_errors_match_torch(key, exc):
    e, t = _pair(np.zeros((3, 4)))
    with pytest.raises(exc) as expected:
        t[key]
    with pytest.raises(exc) as actual:
        e[key]
    assert str(actual.value) == str(expected.value)


@pytest.mark.parametrize("key,value_shape", [
    ((slice(None),), (2, 4)),            # basic key: expand's error, naming both shapes
    ((slice(None), 0), (2,)),
    ((0,), (2, 4)),                      # more value dims than the region
    ("tensor", (3,)),                    # advanced key: index_put's error
])
def test_setitem_shape_mismatch_matches_torch(key, value_shape):
    """torch's error for a value that does not fit the indexed region, on meta tensors too
    (the meta function makes the same check)."""
    e, t = _pair(np.zeros((3, 4)))
    messages = []
    for x, lib in ((e, ember), (t, torch), (e.to("meta"), ember)):
        k = lib.tensor([0, 1]) if key == "tensor" else key
        with pytest.raises(RuntimeError) as info:
            x[k] = lib.ones(value_shape, dtype=x.dtype, device=x.device)
        messages.append(str(info.value))
    assert messages[0] == messages[1] == messages[2]


# ---- dispatch, named tuples -------------------------------------------------------------------

def test_index_tensors_are_seen_by_modes():
    seen = []

    class Record(DispatchMode):
        def __ember_dispatch__(self, op, args, kwargs):
            seen.append((op.name, args))
            return op.apply(*args, **kwargs)

    x, idx = ember.zeros(3, 4), ember.tensor([2, 0])
    with Record():
        x[idx, 1:]
    name, args = seen[-1]
    assert name == "index" and args[0] is x and args[-1] is idx




def _i(*values):
    return ember.tensor(list(values))


# (name, fn(x) on a 3x4 float64 tensor, the ops its backward dispatches)
BACKWARDS = [
    ("getitem_basic", lambda x: x[1:, None, ::2], ["view_scatter"]),
    ("getitem_advanced", lambda x: x[_i(0, 2, 0)], ["index_scatter"]),
    ("getitem_mask", lambda x: x[x > 3], ["index_scatter"]),
    ("gather", lambda x: x.gather(1, _i([0, 0], [1, 3], [2, 2])), ["index_scatter"]),
    ("index_select", lambda x: x.index_select(1, _i(3, 0, 3)), ["index_scatter"]),
    ("sort", lambda x: x.sort(1).values, ["index_scatter"]),
    ("topk", lambda x: x.topk(2).values, ["index_scatter"]),
    ("kthvalue", lambda x: x.kthvalue(2, 0).values, ["index_scatter"]),
    ("narrow", lambda x: x.narrow(1, 1, 2), ["view_scatter"]),
    ("select", lambda x: x.select(0, 1), ["view_scatter"]),
    ("diagonal", lambda x: x.diagonal(1), ["view_scatter"]),
    ("unfold", lambda x: x.unfold(1, 2, 1), ["index_scatter"]),
    ("as_strided", lambda x: x.as_strided((2, 2), (1, 1)), ["index_scatter"]),
    ("cat", lambda x: ember.cat([x, ember.zeros(1, 4)]), ["splitwithsizes"]),
    ("stack", lambda x: ember.stack([x, ember.zeros(3, 4)]), ["unbind"]),
    ("split_one_piece", lambda x: x.split(2, 1)[1], ["view_scatter"]),
    ("unbind_one_slice", lambda x: x.unbind(0)[2], ["view_scatter"]),
    ("flip", lambda x: x.flip(0), ["flip"]),
    ("roll", lambda x: x.roll(1, 0), ["roll"]),
    ("tril", lambda x: x.tril(), ["tril"]),
    ("masked_fill", lambda x: x.masked_fill(_i(True, False, True, False), 0.0), ["maskedfill"]),
    ("index_put", lambda x: x.index_put((_i(0, 2),), ember.ones(4).double()), ["indexput"]),
    ("permute", lambda x: x.permute(1, 0), ["permute"]),
    ("reshape", lambda x: x.reshape(4, 3), ["reshape"]),
    ("unsqueeze", lambda x: x.unsqueeze(1), ["squeeze"]),
    ("diag_embed", lambda x: ember.diag_embed(x), ["diagonal"]),
]


def _backward_ops(fn, create_graph: bool) -> list:
    x = ember.from_numpy(np.arange(1.0, 13.0).reshape(3, 4)).requires_grad_()
    y = fn(x)
    g = ember.ones_like(y)
    with OpNames() as mode:
        ember.autograd.grad(y, x, g, create_graph=create_graph)
    return mode.names


@pytest.mark.parametrize("name,fn,ops", BACKWARDS, ids=[b[0] for b in BACKWARDS])
def test_backward_is_one_op_seen_alike_with_and_without_create_graph(name, fn, ops):
    """Backward rules are written in ember ops: a mode sees the same ops whether or not the
    backward records a graph, and a gather's or a view's backward is one op."""
    assert _backward_ops(fn, create_graph=False) == ops
    assert _backward_ops(fn, create_graph=True) == ops


def test_cpu_indices_index_a_meta_tensor_as_in_torch():
    for key in ((_i(0, 2), slice(1, None)), ([1, 1, 0],), (None, _i([0, 1], [2, 2]), slice(None))):
        m = ember.empty(3, 4, device="meta")[key]
        t = torch.empty(3, 4, device="meta")[tuple(
            torch.from_numpy(k.numpy()) if isinstance(k, ember.Tensor) else k for k in key)]
        assert m.device.type == "meta" and tuple(m.shape) == tuple(t.shape)
        assert [s for s, n in zip(m.stride(), m.shape) if n > 1] == \
            [s for s, n in zip(t.stride(), t.shape) if n > 1]
    x = ember.empty(3, 4, device="meta")
    x[_i(0, 2)] = 1.0
    assert x.device.type == "meta" and tuple(x.shape) == (3, 4)


def _meta_i(lib, *values):
    return lib.tensor(list(values)).to("meta")


# (name, fn(lib, x) on a 3x4 float32 meta tensor)
META_OPS = [
    ("index_add", lambda L, x: x.index_add(0, _meta_i(L, 0, 2), L.ones(2, 4).to("meta"))),
    ("index_copy", lambda L, x: x.index_copy(1, _meta_i(L, 3, 0), L.ones(3, 2).to("meta"))),
    ("index_fill", lambda L, x: x.index_fill(1, _meta_i(L, 0, 2), 1.0)),
    ("take", lambda L, x: L.take(x, _meta_i(L, [0, 5]))),
    ("put", lambda L, x: x.put(_meta_i(L, 0, 5), L.ones(2).to("meta"))),
    ("masked_scatter", lambda L, x: x.masked_scatter(x > 2, L.ones(12).to("meta"))),
    ("repeat_interleave", lambda L, x: x.repeat_interleave(2, 0)),
    ("gather", lambda L, x: x.gather(1, _meta_i(L, [0, 1], [1, 1], [2, 0]))),
    ("topk", lambda L, x: x.topk(2)),
    ("one_hot", lambda L, x: L.nn.functional.one_hot(_meta_i(L, 0, 2), 4)),
    ("searchsorted", lambda L, x: L.searchsorted(x[0], x)),
    ("block_diag", lambda L, x: L.block_diag(x, x[0])),
]


@pytest.mark.parametrize("name,fn", META_OPS, ids=[m[0] for m in META_OPS])
def test_indexing_ops_on_meta_tensors_match_torch(name, fn):
    """The wrappers that compute an index from an index's values build a meta one instead:
    shapes and dtypes as torch's on the meta device."""
    outs = fn(ember, ember.empty(3, 4, device="meta"))
    expected = fn(torch, torch.empty(3, 4, device="meta"))
    outs, expected = (o if isinstance(o, tuple) else (o,) for o in (outs, expected))
    assert [(tuple(o.shape), str(o.dtype).split(".")[1], o.device.type) for o in outs] == \
        [(tuple(o.shape), str(o.dtype).split(".")[1], "meta") for o in expected]


@pytest.mark.parametrize("fn", [lambda L, x: x.nonzero(), lambda L, x: L.unique(x),
                                lambda L, x: x[x > 0], lambda L, x: x.masked_select(x > 0)],
                         ids=["nonzero", "unique", "mask", "masked_select"])
def test_value_dependent_shapes_are_refused_on_meta_tensors(fn):
    """A meta tensor has no values, so ops whose result's shape depends on them raise a
    NotImplementedError, as torch's meta kernels do."""
    with pytest.raises(NotImplementedError):
        fn(torch, torch.empty(3, 4, device="meta"))
    with pytest.raises(NotImplementedError):
        fn(ember, ember.empty(3, 4, device="meta"))


def test_sort_topk_kthvalue_return_named_tuples():
    x = ember.tensor([[3.0, 1.0, 2.0]])
    for result in (x.sort(), ember.topk(x, 2), x.kthvalue(2)):
        values, indices = result
        assert result.values is values and result.indices is indices
        again = pickle.loads(pickle.dumps(result))
        assert type(again) is type(result)
    assert type(x.sort()) is type(ember.sort(x, descending=True))
    assert x.sort().values.tolist() == [[1.0, 2.0, 3.0]]


# ---- the scatter-add kernel against np.add.at ---------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "int64", "bfloat16"])
@pytest.mark.parametrize("n", [3, 200])  # sparse (add.at path) and dense (bincount path)
def test_add_at_matches_numpy_reference(dtype, n):
    rng = np.random.default_rng(1)
    np_dtype = ember.bfloat16.np if dtype == "bfloat16" else np.dtype(dtype)
    pos = rng.integers(0, 40, n)
    vals = (rng.standard_normal(n) * 4).astype(np_dtype)
    if np.dtype(np_dtype).kind == "c":
        vals = vals + 1j * vals[::-1]
    flat = np.zeros(40, np_dtype)
    expected = np.zeros(40, np.complex128 if dtype == "complex64" else np.float64)
    np.add.at(expected, pos, vals.astype(expected.dtype))
    _add_at(flat, pos, vals)
    tol = {"bfloat16": 5e-2, "float32": 1e-5, "complex64": 1e-5}.get(dtype, 1e-12)
    np.testing.assert_allclose(flat.astype(expected.dtype), expected, rtol=tol, atol=tol)
