"""Conformance entries for shape ops: views (reshape, transpose, narrow, diagonal, split,
as_strided, ...) and copies (cat, stack, repeat, flip, roll, ...)."""

from __future__ import annotations

from tests.conformance.harness import ALL_FLOAT, OpInfo, Sample, TensorList, make

_VALUE_DTYPES = ALL_FLOAT + ("int64", "bool")


def _one(*shapes, noncontig=False):
    """Samples with one tensor of each shape (the last one non-contiguous if asked)."""
    def samples(dt, rng):
        out = [Sample((make(s, dt, rng),), name=str(s)) for s in shapes]
        if noncontig:
            out.append(Sample((make(shapes[-1], dt, rng, noncontig=True),), name="noncontig"))
        return out
    return samples


def _with(shape, *calls, noncontig=True):
    """One sample per (args, kwargs) call on a tensor of ``shape`` (and a non-contiguous
    one for the first call)."""
    def samples(dt, rng):
        out = [Sample((make(shape, dt, rng),) + tuple(args), dict(kw), name=f"{args}{kw}")
               for args, kw in calls]
        if noncontig and len(shape) >= 2:
            args, kw = calls[0]
            out.append(Sample((make(shape, dt, rng, noncontig=True),) + tuple(args), dict(kw),
                              name="noncontig"))
        return out
    return samples


def _c(*args, **kwargs):
    return args, kwargs


def _lists(*cases):
    """Samples whose first argument is a list of tensors; cases are (shapes, args, kwargs)."""
    def samples(dt, rng):
        out = []
        for shapes, args, kw in cases:
            arrays = [make(s[0], s[1], rng) if _typed(s) else make(s, dt, rng) for s in shapes]
            out.append(Sample((TensorList(arrays),) + tuple(args), dict(kw),
                              name=f"{shapes}{args}{kw}"))
        return out
    return samples


def _typed(spec) -> bool:
    """A ``(shape, dtype_name)`` pair rather than a shape."""
    return len(spec) == 2 and isinstance(spec[1], str)


def _nc(shape, dt, rng):
    return make(shape, dt, rng, noncontig=True)


OPS = [
    # ---- views ------------------------------------------------------------------------------
    OpInfo("view", lambda L, a, *s: a.view(*s), _with(
        (2, 3, 4), _c(6, 4), _c(-1), _c((4, -1, 2)), _c(2, 3, 5), _c(-1, -1), noncontig=False)),
    OpInfo("view_noncontig", lambda L, a: a.view(-1), lambda dt, rng: [
        Sample((_nc((3, 4), dt, rng),))]),
    OpInfo("view_dtype", lambda L, a, d: a.view(getattr(L, d)), lambda dt, rng: [
        Sample((make((2, 4), "float32", rng), d), name=d)
        for d in ("int32", "float32", "float64", "int16", "uint8", "bool")]
        + [Sample((make((3, 3), "float32", rng, noncontig=True), "int16")),
           Sample((make((), "float32", rng), "float64")),
           Sample((make((3,), "float32", rng), "float64"))], dtypes=("float32",), grad=False),
    OpInfo("view_as", lambda L, a, b: a.view_as(b), lambda dt, rng: [
        Sample((make((2, 6), dt, rng), make((3, 4), dt, rng)))], skip_grad_args=(1,)),
    OpInfo("reshape", lambda L, a, *s: L.reshape(a, *s), _with(
        (2, 3, 4), _c((4, 6)), _c((-1,)), _c((2, -1, 3)), _c((5, -1)))),
    OpInfo("reshape_0d", lambda L, a: (a.reshape(1, 1), a.reshape(())), _one(())),
    OpInfo("reshape_empty", lambda L, a: a.reshape(3, 0, -1), _one((0, 4))),
    OpInfo("reshape_as", lambda L, a, b: a.reshape_as(b), lambda dt, rng: [
        Sample((_nc((3, 4), dt, rng), make((2, 6), dt, rng)))], skip_grad_args=(1,)),
    OpInfo("permute", lambda L, a, *d: a.permute(*d), _with(
        (2, 3, 4), _c(2, 0, 1), _c((-1, 0, 1)), _c(0, 1), _c(0, 0, 1))),
    OpInfo("torch_permute", lambda L, a, d: L.permute(a, d), _with((2, 3), _c((1, 0)))),
    OpInfo("transpose", lambda L, a, i, j: L.transpose(a, i, j), _with(
        (2, 3, 4), _c(0, 2), _c(-1, 1), _c(1, 1), _c(0, 3))),
    OpInfo("transpose_0d", lambda L, a: a.transpose(0, -1), _one(())),
    OpInfo("swapaxes", lambda L, a: (L.swapaxes(a, 0, 1), a.swapdims(-1, 0)), _one((2, 3))),
    OpInfo("t", lambda L, a: L.t(a), _one((), (3,), (2, 3), (2, 3, 4), noncontig=True)),
    OpInfo("T_mT_mH", lambda L, a: (a.T, a.mT, a.mH, a.H, L.adjoint(a)),
           _one((2, 3), noncontig=True)),
    OpInfo("mT_batched", lambda L, a: (a.mT, L.adjoint(a)), _one((2, 3, 4), (3,))),
    OpInfo("expand", lambda L, a, *s: a.expand(*s), _with(
        (3, 1), _c(2, 3, 4), _c(-1, 5), _c((4, 3, -1)), _c(2), _c(-1, 3, 2), _c(3, 2))),
    OpInfo("expand_0d", lambda L, a: a.expand(2, 3), _one(())),
    OpInfo("expand_as", lambda L, a, b: a.expand_as(b), lambda dt, rng: [
        Sample((make((1, 3), dt, rng), make((2, 3), dt, rng)))], skip_grad_args=(1,)),
    OpInfo("broadcast_to", lambda L, a, s: L.broadcast_to(a, s), _with(
        (3, 1), _c((2, 3, 2)), _c((4,)))),
    OpInfo("squeeze", lambda L, a, *d: L.squeeze(a, *d), _with(
        (1, 3, 1, 2), _c(), _c(0), _c(-2), _c(1), _c((0, 2)), _c((0, -1)), _c(4))),
    OpInfo("squeeze_0d", lambda L, a: (a.squeeze(), a.squeeze(0)), _one(())),
    OpInfo("unsqueeze", lambda L, a, d: L.unsqueeze(a, d), _with(
        (2, 3), _c(0), _c(2), _c(-1), _c(-3), _c(3))),
    OpInfo("unsqueeze_0d", lambda L, a: a.unsqueeze(-1), _one(())),
    OpInfo("flatten", lambda L, a, *d: L.flatten(a, *d), _with(
        (2, 3, 2), _c(), _c(1), _c(0, 1), _c(-2, -1), _c(1, 1), _c(2, 1))),
    OpInfo("flatten_0d", lambda L, a: a.flatten(), _one(())),
    OpInfo("unflatten", lambda L, a, d, s: L.unflatten(a, d, s), _with(
        (2, 6), _c(1, (2, 3)), _c(-1, (3, -1)), _c(0, (1, 2)), _c(1, (4, 2)))),
    OpInfo("ravel", lambda L, a: L.ravel(a), _one((), (2, 3), noncontig=True)),
    OpInfo("narrow", lambda L, a, *p: L.narrow(a, *p), _with(
        (4, 5), _c(1, 1, 3), _c(0, -2, 2), _c(-1, 0, 0), _c(1, 4, 2), _c(0, 5, 0),
        _c(0, 1, -1))),
    OpInfo("select", lambda L, a, d, i: L.select(a, d, i), _with(
        (3, 4), _c(1, 2), _c(0, -1), _c(-1, 0), _c(1, 4), _c(0, -4))),
    OpInfo("select_1d", lambda L, a: a.select(0, 1), _one((3,))),
    OpInfo("select_0d", lambda L, a: a.select(0, 0), _one(())),
    OpInfo("unbind", lambda L, a, *d: L.unbind(a, *d), _with(
        (3, 2, 2), _c(), _c(1), _c(-1))),
    OpInfo("chunk", lambda L, a, c, *d: L.chunk(a, c, *d), _with(
        (5, 4), _c(2), _c(3, 1), _c(5, -1), _c(6), _c(0))),
    OpInfo("chunk_empty", lambda L, a: a.chunk(3, 0), _one((0, 2))),
    OpInfo("split", lambda L, a, s, *d: L.split(a, s, *d), _with(
        (5, 4), _c(2), _c(3, 1), _c((1, 4)), _c((1, 2, 1), -1), _c((2, 2)), _c(0))),
    OpInfo("split_method", lambda L, a: a.split(2, dim=1), _one((2, 5))),
    OpInfo("tensor_split", lambda L, a, s, *d: L.tensor_split(a, s, *d), _with(
        (5, 4), _c(3), _c(2, 1), _c((1, 3)), _c((1, 7, 2), -1), _c((-2,)), _c(0))),
    OpInfo("hsplit", lambda L, a, s: L.hsplit(a, s), _with(
        (3, 4), _c(2), _c((1, 3)), _c(3))),
    OpInfo("hsplit_1d", lambda L, a: L.hsplit(a, 2), _one((4,))),
    OpInfo("vsplit", lambda L, a, s: L.vsplit(a, s), _with((4, 3), _c(2), _c((3,)), _c(3))),
    OpInfo("vsplit_1d", lambda L, a: L.vsplit(a, 2), _one((4,))),
    OpInfo("dsplit", lambda L, a, s: L.dsplit(a, s), _with((2, 1, 4), _c(2), _c((1,)))),
    OpInfo("dsplit_2d", lambda L, a: L.dsplit(a, 2), _one((2, 4))),
    OpInfo("movedim", lambda L, a, s, d: L.movedim(a, s, d), _with(
        (2, 3, 4), _c(0, 2), _c((0, 1), (2, 0)), _c(-1, 0), _c((0, 1), (1,)),
        _c((0, 0), (1, 2)))),
    OpInfo("moveaxis", lambda L, a: a.moveaxis(1, 0), _one((2, 3))),
    OpInfo("diagonal", lambda L, a, *p: L.diagonal(a, *p), _with(
        (3, 4), _c(), _c(1), _c(-1), _c(5), _c(0, 1, 0), _c(0, 0, 0))),
    OpInfo("diagonal_3d", lambda L, a, *p: a.diagonal(*p), _with(
        (2, 3, 3), _c(0, 1, 2), _c(1, -1, 0), _c(-2, 2, 1))),
    OpInfo("unfold", lambda L, a, *p: a.unfold(*p), _with(
        (3, 5), _c(1, 2, 1), _c(0, 2, 1), _c(1, 2, 2), _c(-1, 3, 3), _c(1, 5, 1),
        _c(1, 6, 1), _c(1, 2, 0))),
    OpInfo("unfold_0d", lambda L, a: a.unfold(0, 1, 1), _one(())),
    OpInfo("as_strided", lambda L, a, *p: L.as_strided(a, *p), _with(
        (3, 4), _c((2, 2), (1, 2)), _c((3, 3), (1, 1)), _c((2,), (3,), 2), _c((2, 2), (4, 1), 6),
        _c((4,), (0,)), _c((10,), (2,)), noncontig=False)),
    OpInfo("as_strided_view_of_view", lambda L, a: a[1].as_strided((2, 2), (1, 1)),
           _one((3, 4))),
    # ---- joining ----------------------------------------------------------------------------
    OpInfo("cat", lambda L, ts, *d: L.cat(ts, *d), _lists(
        ([(2, 3), (1, 3)], (), {}), ([(2, 3), (2, 1), (2, 2)], (1,), {}),
        ([(2, 3), (2, 3)], (-1,), {}), ([(2, 3), (0,), (1, 3)], (), {}),
        ([(0,), (0,)], (), {}), ([(2, 3), (3, 3)], (1,), {}), ([(2, 3), (2, 3, 1)], (), {}),
        ([(), ()], (), {}), ([(2, 3), ((1, 3), "float64"), ((1, 3), "int64")], (), {}),
        ([(2, 3), (0, 3)], (), {}), ([(2, 3)], (2,), {}))),
    OpInfo("cat_noncontig", lambda L, a, b: L.concat([a, b], dim=1), lambda dt, rng: [
        Sample((_nc((3, 2), dt, rng), make((3, 3), dt, rng)))]),
    OpInfo("concatenate", lambda L, a, b: L.concatenate((a, b), 0), lambda dt, rng: [
        Sample((make((1, 2), dt, rng), make((2, 2), dt, rng)))]),
    OpInfo("stack", lambda L, ts, *d: L.stack(ts, *d), _lists(
        ([(2, 3), (2, 3)], (), {}), ([(2, 3), (2, 3), (2, 3)], (2,), {}),
        ([(3,), (3,)], (-1,), {}), ([(), ()], (), {}), ([(2, 3), (3, 2)], (), {}),
        ([(2,), (2,)], (3,), {}), ([(2,), ((2,), "float64")], (), {}))),
    OpInfo("hstack", lambda L, ts: L.hstack(ts), _lists(
        ([(2,), (3,)], (), {}), ([(2, 1), (2, 3)], (), {}), ([(), ()], (), {}))),
    OpInfo("vstack", lambda L, ts: L.vstack(ts), _lists(
        ([(3,), (3,)], (), {}), ([(1, 2), (2, 2)], (), {}), ([(), ()], (), {}))),
    OpInfo("dstack", lambda L, ts: L.dstack(ts), _lists(
        ([(3,), (3,)], (), {}), ([(2, 2), (2, 2)], (), {}), ([(1, 2, 1), (1, 2, 2)], (), {}))),
    OpInfo("column_stack", lambda L, ts: L.column_stack(ts), _lists(
        ([(3,), (3, 2)], (), {}), ([(), ()], (), {}),
        ([(2,), (2,)], (), {}))),
    OpInfo("block_diag", lambda L, ts: L.block_diag(*ts), _lists(
        ([(2, 3), (2,), ()], (), {}), ([(1, 2)], (), {}), ([(2, 2, 1)], (), {}),
        ([(2, 2), ((1, 1), "float64")], (), {}))),
    OpInfo("atleast", lambda L, a: (L.atleast_1d(a), L.atleast_2d(a), L.atleast_3d(a)),
           _one((), (2,), (2, 3), (2, 3, 1))),
    OpInfo("atleast_many", lambda L, a, b: L.atleast_3d(a, b) + L.atleast_2d([a, b]),
           lambda dt, rng: [Sample((make((), dt, rng), make((2,), dt, rng)))]),
    OpInfo("broadcast_tensors", lambda L, a, b, c: L.broadcast_tensors(a, b, c),
           lambda dt, rng: [Sample((make((3, 1), dt, rng), make((2,), dt, rng),
                                    make((), dt, rng))),
                            Sample((make((3, 2), dt, rng), make((2, 1), dt, rng),
                                    make((1,), dt, rng)))]),
    OpInfo("meshgrid", lambda L, a, b, c, ix: L.meshgrid(a, b, c, indexing=ix),
           lambda dt, rng: [Sample((make((2,), dt, rng), make((3,), dt, rng), make((), dt, rng),
                                    ix)) for ix in ("ij", "xy")]
           + [Sample((make((2,), dt, rng), make((2, 2), dt, rng), make((1,), dt, rng), "ij"))]),
    OpInfo("meshgrid_list", lambda L, a, b: L.meshgrid([a, b], indexing="xy"),
           lambda dt, rng: [Sample((make((2,), dt, rng), make((3,), dt, rng)))]),
    OpInfo("cartesian_prod", lambda L, *ts: L.cartesian_prod(*ts), lambda dt, rng: [
        Sample((make((2,), dt, rng), make((3,), dt, rng))),
        Sample((make((2,), dt, rng), make((1,), dt, rng), make((2,), dt, rng))),
        Sample((make((3,), dt, rng),))]),
    # ---- copies -----------------------------------------------------------------------------
    OpInfo("repeat", lambda L, a, *r: a.repeat(*r), _with(
        (2, 3), _c(2, 1), _c(1, 2, 3), _c((3, 1, 1)), _c(0, 2), _c(2), _c(-1, 1))),
    OpInfo("repeat_0d", lambda L, a: a.repeat(2, 3), _one(())),
    OpInfo("tile", lambda L, a, r: L.tile(a, r), _with(
        (2, 3), _c((2,)), _c((2, 1)), _c((2, 1, 2)), _c((-1,)))),
    OpInfo("tile_method", lambda L, a: a.tile(2, 2), _one((3,))),
    OpInfo("flip", lambda L, a, d: L.flip(a, d), _with(
        (2, 3, 2), _c((0,)), _c((1, -1)), _c(()), _c((0, 0)), _c((3,)))),
    OpInfo("flip_method", lambda L, a: (a.flip(0, 1), a.flip(1)), _one((2, 3))),
    OpInfo("fliplr_ud", lambda L, a: (L.fliplr(a), L.flipud(a)), _one((1,), (2, 3),
                                                                      noncontig=True)),
    OpInfo("roll", lambda L, a, s, *d: L.roll(a, s, *d), _with(
        (3, 4), _c(1), _c(-2, 1), _c((1, 2), (0, 1)), _c(5, -1), _c((1, 2), (0,)),
        _c((1, 2)))),
    OpInfo("roll_0d", lambda L, a: a.roll(1), _one(())),
    OpInfo("rot90", lambda L, a, *p: L.rot90(a, *p), _with(
        (2, 3, 2), _c(), _c(2), _c(3, (1, 2)), _c(-1, (2, 0)), _c(4), _c(1, (0, 0)))),
    OpInfo("rot90_1d", lambda L, a: L.rot90(a), _one((3,))),
    OpInfo("diag", lambda L, a, *k: L.diag(a, *k), lambda dt, rng: [
        Sample((make((3,), dt, rng),)), Sample((make((3,), dt, rng), 1)),
        Sample((make((3,), dt, rng), -2)), Sample((make((3, 4), dt, rng),)),
        Sample((_nc((4, 3), dt, rng), 1)), Sample((make((3, 4), dt, rng), -2)),
        Sample((make((3, 4), dt, rng), 6)), Sample((make((2, 2, 2), dt, rng),)),
        Sample((make((), dt, rng),))]),
    OpInfo("diag_embed", lambda L, a, *p: L.diag_embed(a, *p), _with(
        (2, 3), _c(), _c(1), _c(-1, 0, 2), _c(0, 2, 0), _c(0, 1, 1), _c(2, -1, 0))),
    OpInfo("diag_embed_1d", lambda L, a: L.diag_embed(a), _one((3,))),
    OpInfo("tril_triu_indices", lambda L, *p: (L.tril_indices(*p), L.triu_indices(*p)),
           lambda dt, rng: [Sample((3, 3)), Sample((3, 4, 1)), Sample((4, 3, -1)),
                            Sample((0, 3)), Sample((2, 5, 7))], dtypes=("float32",),
           grad=False),
    OpInfo("broadcast_shapes", lambda L, *s: tuple(L.broadcast_shapes(*s)),
           lambda dt, rng: [Sample(((2, 1), (3,))), Sample(((), (2, 3), 3)),
                            Sample(((2, 3), (4,))), Sample(((0,), (1,)))],
           dtypes=("float32",), grad=False),
]
for _op in OPS:  # shape ops move data without arithmetic: check every kind of dtype
    if _op.grad:
        _op.dtypes = _VALUE_DTYPES


def _grad_of(view):
    """The gradient of ``sum(view(a) ** 2)`` with a graph: the backward of a view that
    overlaps itself is an index-scatter, so the gradient of this function runs its backward
    (an index-gather) as well."""
    def fn(L, a):
        if not a.requires_grad:  # the value checks pass tensors that do not require grad
            a = a.detach().requires_grad_()
        with L.enable_grad():  # gradcheck evaluates the function without grad mode
            return L.autograd.grad((view(a) ** 2).sum(), a, create_graph=True)[0]
    return fn


OPS += [
    OpInfo("unfold_double_backward", _grad_of(lambda a: a.unfold(-1, 3, 1)), _one((5,), (2, 4))),
    OpInfo("as_strided_double_backward", _grad_of(lambda a: a.as_strided((3, 2), (1, 1))),
           _one((2, 3))),
]
