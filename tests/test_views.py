"""Views share memory and the version counter with their base, as torch's do: writes through
a view show in the base and the other way round, strides and storage offsets are torch's,
and a saved tensor overwritten through a view makes backward fail. Checked against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

# (name, fn(lib, x)) on a 3x4 tensor; every result is a view of x in torch.
VIEWS = [
    ("view", lambda L, x: x.view(4, 3)),
    ("view_flat", lambda L, x: x.view(-1)),
    ("reshape_contig", lambda L, x: x.reshape(2, 6)),
    ("view_as", lambda L, x: x.view_as(L.empty(2, 6))),
    ("permute", lambda L, x: x.permute(1, 0)),
    ("transpose", lambda L, x: x.transpose(0, 1)),
    ("swapaxes", lambda L, x: L.swapaxes(x, 0, 1)),
    ("t", lambda L, x: x.t()),
    ("T", lambda L, x: x.T),
    ("mT", lambda L, x: x.mT),
    ("expand", lambda L, x: x[:1].expand(3, 4)),
    ("expand_as", lambda L, x: x[:, :1].expand_as(x)),
    ("slice_steps", lambda L, x: x[::2, 1::2]),
    ("slice_negative_index", lambda L, x: x[-1, ...]),
    ("slice_none", lambda L, x: x[None, 1:, None, ::3]),
    ("contiguous_of_contiguous", lambda L, x: x.contiguous()),
    ("squeeze", lambda L, x: x.unsqueeze(0).squeeze(0)),
    ("unsqueeze", lambda L, x: x.unsqueeze(1)),
    ("flatten", lambda L, x: x.flatten()),
    ("unflatten", lambda L, x: x.unflatten(1, (2, 2))),
    ("ravel", lambda L, x: x.ravel()),
    ("narrow", lambda L, x: x.narrow(1, 1, 2)),
    ("select", lambda L, x: x.select(1, 2)),
    ("select_row", lambda L, x: x.select(0, -1)),
    ("movedim", lambda L, x: x.movedim(0, 1)),
    ("diagonal", lambda L, x: x.diagonal()),
    ("diagonal_offset", lambda L, x: x.diagonal(1)),
    ("diagonal_neg", lambda L, x: x.diagonal(-1, 1, 0)),
    ("unfold", lambda L, x: x.unfold(1, 2, 1)),
    ("unfold_step", lambda L, x: x.unfold(0, 2, 2)),
    ("as_strided", lambda L, x: x.as_strided((2, 2), (1, 4), 1)),
    ("as_strided_of_view", lambda L, x: x[1].as_strided((2,), (2,))),
    ("split", lambda L, x: x.split(2, 1)[1]),
    ("chunk", lambda L, x: x.chunk(3, 0)[2]),
    ("unbind", lambda L, x: x.unbind(1)[3]),
    ("tensor_split", lambda L, x: L.tensor_split(x, (1,), 1)[1]),
    ("hsplit", lambda L, x: L.hsplit(x, 2)[1]),
    ("broadcast_to", lambda L, x: L.broadcast_to(x[0], (2, 4))),
    ("meshgrid", lambda L, x: L.meshgrid(x[0], x[:, 0], indexing="ij")[0]),
    ("atleast_3d", lambda L, x: L.atleast_3d(x)),
    ("view_of_view", lambda L, x: x.t().narrow(0, 1, 2).select(1, 1)),
]


_OVERLAPPING = {"expand": lambda v: v[0], "broadcast_to": lambda v: v[0],
                "meshgrid": lambda v: v.select(1, 0), "unfold": lambda v: v.select(-2, 0),
    "expand_as": lambda v: v[:, 0]}


def _pair():
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    return ember.from_numpy(data.copy()), torch.from_numpy(data.copy())


@pytest.mark.parametrize("name,fn", VIEWS, ids=[v[0] for v in VIEWS])
def test_view_geometry_matches_torch(name, fn):
    x, tx = _pair()
    v, tv = fn(ember, x), fn(torch, tx)
    assert tuple(v.shape) == tuple(tv.shape)
    assert v.stride() == tv.stride()
    assert v.is_contiguous() == tv.is_contiguous()
    assert v.storage_offset() == tv.storage_offset()
    assert v.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    np.testing.assert_array_equal(v.numpy(), tv.numpy())


@pytest.mark.parametrize("name,fn", VIEWS, ids=[v[0] for v in VIEWS])
def test_view_of_meta_tensor_matches_torch(name, fn):
    """A view of a meta tensor (no storage: the op's meta function alone) has the shape and
    strides of torch's view of a real tensor."""
    x, tx = _pair()
    v, tv = fn(ember, x.to("meta")), fn(torch, tx)
    assert v.device.type == "meta"
    assert tuple(v.shape) == tuple(tv.shape)
    assert v.stride() == tv.stride()
    assert v.is_contiguous() == tv.is_contiguous()


@pytest.mark.parametrize("name,fn", VIEWS, ids=[v[0] for v in VIEWS])
def test_write_through_view(name, fn):
    x, tx = _pair()
    v, tv = fn(ember, x), fn(torch, tx)
    if name in _OVERLAPPING:  # writes through aliased elements are undefined: write a part
        v, tv = _OVERLAPPING[name](v), _OVERLAPPING[name](tv)
    v.mul_(-2.0)
    tv.mul_(-2.0)
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    assert x._version == v._version == tx._version
    x.add_(1.0)  # and back: the view sees writes to its base
    tx.add_(1.0)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    assert v._version == tv._version


def test_base_is_the_root():
    x, tx = _pair()
    v = x.t().narrow(0, 1, 2)
    assert v._base is x and tx.t().narrow(0, 1, 2)._base is tx
    assert x._base is None


@pytest.mark.parametrize("fn", [
    lambda L, x: x.t().reshape(-1),
    lambda L, x: x.t().flatten(),
    lambda L, x: x.t().ravel(),
    lambda L, x: L.cat([x, x]),
    lambda L, x: x.repeat(1, 1),
    lambda L, x: x.tile((1, 1)),
    lambda L, x: x.t().contiguous(),
    lambda L, x: x[:, ::2].contiguous(),
    lambda L, x: x.flip(0),
    lambda L, x: L.roll(x, 1),
    lambda L, x: L.diag(x),
    lambda L, x: L.stack([x]),
])
def test_copies_do_not_share_memory(fn):
    original = np.arange(12, dtype=np.float32).reshape(3, 4)
    for lib, x in zip((ember, torch), _pair()):
        fn(lib, x).mul_(0.0)
        np.testing.assert_array_equal(x.numpy(), original)


@pytest.mark.parametrize("fn", [
    lambda L, a: a.view(3, 4),
    lambda L, a: a.narrow(0, 0, 3),
    lambda L, a: a.diagonal(),
    lambda L, a: a.split(2)[0],
    lambda L, a: a.unbind(1)[0],
])
def test_saved_view_modified_in_place_fails_backward(fn):
    for lib in (ember, torch):
        leaf = lib.ones(4, 3, requires_grad=True)
        a = leaf * 1.0
        v = fn(lib, a)
        out = (v * v).sum()  # mul saves v
        # torch refuses either the write (outputs of split/unbind) or the backward
        with pytest.raises(RuntimeError, match="modified by an inplace operation|modified "
                                               "inplace"):
            a.add_(1.0)
            out.backward()


def test_in_place_view_ops_match_torch():
    for name, args in (("unsqueeze_", (1,)), ("squeeze_", ()), ("t_", ()),
                       ("transpose_", (0, 1)), ("swapdims_", (1, 0)),
                       ("as_strided_", ((3, 2), (1, 3)))):
        data = np.arange(6, dtype=np.float64).reshape(2, 1, 3) if name == "squeeze_" else \
            np.arange(6, dtype=np.float64).reshape(2, 3)
        results = []
        for lib in (ember, torch):
            leaf = lib.tensor(data, requires_grad=True)
            y = leaf * 2.0
            same = getattr(y, name)(*args)
            assert same is y
            (y * y).sum().backward()
            results.append((tuple(y.shape), y.detach().numpy().copy(), leaf.grad.numpy().copy()))
        assert results[0][0] == results[1][0], name
        np.testing.assert_allclose(results[0][1], results[1][1])
        np.testing.assert_allclose(results[0][2], results[1][2])


@pytest.mark.parametrize("fn", [
    lambda L, x: x.t().view(-1),                       # view of non-contiguous
    lambda L, x: x.unsqueeze(0).t(),                   # t() of a 3-D tensor
    lambda L, x: x.as_strided((4, 4), (4, 1)),         # outside the storage
    lambda L, x: x.mT.unsqueeze(0).unsqueeze(0).H,     # H of a 4-D tensor
    lambda L, x: x[0].mT,                              # mT of a vector
    lambda L, x: x.view(5, -1),
    lambda L, x: x.view(-1, -1),
    lambda L, x: x.unfold(1, 5, 1),
    lambda L, x: x.expand(2, 4),
    lambda L, x: x.narrow(0, 2, 2),
])
def test_view_errors_match_torch(fn):
    x, tx = _pair()
    with pytest.raises(Exception) as expected:
        fn(torch, tx)
    with pytest.raises(expected.type):
        fn(ember, x)


def test_as_strided_gradient_of_overlapping_windows():
    """as_strided windows that overlap: each input element gets the sum over its copies
    (checked against torch and, independently, by counting the copies)."""
    data = np.random.default_rng(0).standard_normal(7)
    x = ember.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    x.as_strided((3, 3), (2, 1)).sum().backward()
    tx.as_strided((3, 3), (2, 1)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1, 2, 1, 2, 1, 1])


@pytest.mark.parametrize("fn", [
    lambda L, out: L.matmul(L.ones(2, 3), L.full((3, 2), 2.0), out=out),
    lambda L, out: L.cat([L.ones(2), L.zeros(3)], out=out),
    lambda L, out: L.stack([L.ones(2), L.zeros(2)], 1, out=out),
    lambda L, out: L.tensordot(L.ones(2, 3), L.ones(3), 1, out=out),
])
def test_out_argument_is_resized_and_returned(fn):
    out, tout = ember.empty(0), torch.empty(0)
    ours, theirs = fn(ember, out), fn(torch, tout)
    assert ours is out and theirs is tout
    assert tuple(out.shape) == tuple(tout.shape)
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
