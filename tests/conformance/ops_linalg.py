"""Conformance entries for matrix products: matmul and its 1-D/batched/broadcast cases, mm,
bmm, mv, dot, addmm and friends, tensordot, einsum, kron, cross, trace, multi_dot."""

from __future__ import annotations

from tests.conformance.harness import OpInfo, Sample, make


def _pairs(*cases):
    """Samples of two (or more) tensors; a case is a tuple of shapes, or of (shape, dtype)
    and (shape, "noncontig") specs, optionally followed by a dict of kwargs."""
    def samples(dt, rng):
        out = []
        for case in cases:
            kwargs = case[-1] if isinstance(case[-1], dict) else {}
            specs = case[:-1] if isinstance(case[-1], dict) else case
            arrays = []
            for spec in specs:
                if len(spec) == 2 and isinstance(spec[1], str):
                    shape, how = spec
                    arrays.append(make(shape, dt, rng, noncontig=True) if how == "noncontig"
                                  else make(shape, how, rng))
                else:
                    arrays.append(make(spec, dt, rng))
            out.append(Sample(tuple(arrays), kwargs, name=str(case)))
        return out
    return samples


_MATMUL = _pairs(
    ((3, 4), (4, 5)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((4,), (4,)),
    ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((2, 3, 4), (4, 2)),
    ((3, 4), (2, 4, 2)), ((2, 2, 3), (2, 3, 2)), (((4, 3), "noncontig"), ((3, 2), "noncontig")),
    (((2, 4, 3), "noncontig"), (3,)), ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((3,), (0, 3)),
    ((64, 10), (20, 5)), ((2, 3), (2, 3)), ((3,), (4,)), ((2, 3), (4,)), ((5,), (2, 3)),
    ((2, 3, 4), (5,)), ((5,), (2, 3, 4)), ((2, 2, 3, 4), (3, 5)), ((2, 3), (2, 4, 5)),
    ((2, 2, 3), (3, 4, 5)), ((2, 3, 4), (3, 4, 5)), ((), (3,)), ((2, 3), ()),
    ((2, 3), ((3, 2), "float32")), ((3,), ((3,), "float32")),
    ((2, 2, 3), ((2, 3, 2), "float32")), (((2, 3), "int64"), ((3, 2), "int64")),
    (((2, 3), "bool"), ((3, 2), "bool")))

_ALL_NUMERIC = ("float16", "bfloat16", "float32", "float64", "int64")

OPS = [
    OpInfo("matmul_products", lambda L, a, b: L.matmul(a, b), _MATMUL, atol=1e-5),
    OpInfo("matmul_operator", lambda L, a, b: (a @ b, b.mT @ a.mT), _pairs(
        ((2, 3), (3, 4)), ((2, 2, 3), (3, 2)))),
    OpInfo("matmul_numeric_dtypes", lambda L, a, b: L.matmul(a, b), _pairs(
        ((2, 3), (3, 4)), ((3,), (3, 2))), dtypes=_ALL_NUMERIC),
    OpInfo("mm", lambda L, a, b: L.mm(a, b), _pairs(
        ((2, 3), (3, 4)), (((3, 2), "noncontig"), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)),
        ((2, 3), (2, 3)), ((2, 3), ((3, 2), "float32")), ((1, 2, 3), (3, 2)))),
    OpInfo("mm_method", lambda L, a, b: a.mm(b), _pairs(((2, 3), (3, 1)))),
    OpInfo("bmm", lambda L, a, b: L.bmm(a, b), _pairs(
        ((2, 3, 4), (2, 4, 2)), (((2, 4, 3), "noncontig"), ((2, 4, 2), "noncontig")),
        ((2, 3), (2, 3, 3)), ((2, 3, 4), (4, 3)), ((2, 3, 4), (2, 3, 4)),
        ((2, 3, 4), (3, 4, 2)), ((0, 2, 3), (0, 3, 1)))),
    OpInfo("mv", lambda L, a, b: L.mv(a, b), _pairs(
        ((2, 3), (3,)), (((3, 2), "noncontig"), (2,)), ((2, 3), (4,)), ((3,), (3,)),
        ((2, 3), (3, 1)))),
    OpInfo("dot_vdot", lambda L, a, b: (L.dot(a, b), L.vdot(a, b), a.dot(b)), _pairs(
        ((3,), (3,)), ((0,), (0,)), ((3,), (4,)), ((2, 3), (2, 3)),
        ((3,), ((3,), "float32")))),
    OpInfo("inner", lambda L, a, b: L.inner(a, b), _pairs(
        ((2, 3), (4, 3)), ((3,), (3,)), ((), (2, 3)), ((2, 2, 3), (3,)), ((2, 3), (4,)))),
    OpInfo("outer", lambda L, a, b: (L.outer(a, b), L.ger(a, b)), _pairs(
        ((3,), (2,)), ((0,), (2,)), ((2, 3), (3,)), ((3,), (3, 1)))),
    OpInfo("addmm", lambda L, c, a, b, **kw: L.addmm(c, a, b, **kw), _pairs(
        ((2, 4), (2, 3), (3, 4)), ((4,), (2, 3), (3, 4), {"beta": 0.5, "alpha": 2.0}),
        ((2, 1), (2, 3), (3, 4), {"alpha": -1.0}), ((), (2, 3), (3, 4), {"beta": 0.0}),
        ((3, 3), (2, 3), (3, 2)), ((2, 2), (2, 3), (2, 3)), ((2, 4, 1), (2, 3), (3, 4)))),
    OpInfo("addmv", lambda L, c, a, b, **kw: L.addmv(c, a, b, **kw), _pairs(
        ((2,), (2, 3), (3,)), ((1,), (2, 3), (3,), {"beta": 2.0, "alpha": 0.5}),
        ((2,), (2, 3), (4,)))),
    OpInfo("baddbmm", lambda L, c, a, b, **kw: L.baddbmm(c, a, b, **kw), _pairs(
        ((2, 3, 2), (2, 3, 4), (2, 4, 2)), ((3, 1), (2, 3, 4), (2, 4, 2), {"beta": 0.5}),
        ((2, 3, 3), (2, 3, 4), (2, 4, 4)))),
    OpInfo("addbmm", lambda L, c, a, b, **kw: L.addbmm(c, a, b, **kw), _pairs(
        ((3, 2), (2, 3, 4), (2, 4, 2)), ((2,), (2, 3, 4), (2, 4, 2), {"alpha": 3.0}),
        ((3, 2), (2, 3, 4), (3, 4, 2)))),
    OpInfo("addmm_method", lambda L, c, a, b: c.addmm(a, b, beta=2.0), _pairs(
        ((2, 2), (2, 3), (3, 2)))),
    OpInfo("tensordot", lambda L, a, b, **kw: L.tensordot(a, b, **kw), dtypes=_ALL_NUMERIC,
           samples=_pairs(
        ((2, 3, 4), (3, 4, 2)), ((2, 3), (3, 2), {"dims": 1}),
        ((2, 3, 4), (4, 2, 3), {"dims": ([1, 2], [2, 0])}),
        ((2, 3), (4, 5), {"dims": 0}), ((2, 3), (3, 2), {"dims": ([-1], [0])}),
        ((2, 3), (3, 2), {"dims": 2}), ((2, 3), (3, 2), {"dims": -1}),
        ((2, 3), (2, 3), {"dims": ([0], [1])}), ((2, 0), (0, 3), {"dims": 1}))),
    OpInfo("kron", lambda L, a, b: L.kron(a, b), dtypes=_ALL_NUMERIC, samples=_pairs(
        ((2, 3), (2, 2)), ((2,), (3, 2)), ((), (2,)), ((2, 1, 2), (2, 2)))),
    OpInfo("kron_promotes", lambda L, a, b: L.kron(a, b), _pairs(((2,), ((2,), "float32"))),
           dtypes=("float64",), grad=False),
    OpInfo("cross", lambda L, a, b, **kw: L.cross(a, b, **kw), _pairs(
        ((2, 3), (2, 3), {"dim": 1}), ((3, 2), (3, 2), {"dim": 0}),
        ((1, 3), (4, 3), {"dim": -1}), ((2, 2), (2, 2), {"dim": 1}))),
    OpInfo("trace", lambda L, a: L.trace(a), _pairs(
        ((3, 3),), ((2, 4),), (((4, 3), "noncontig"),), ((2, 3, 3),), ((0, 2),))),
    OpInfo("trace_int", lambda L, a: a.trace(), _pairs((((3, 3), "int32"),)), grad=False),
    OpInfo("chain_matmul", lambda L, *ms: L.chain_matmul(*ms), _pairs(
        ((2, 3), (3, 4), (4, 1)), ((2, 3), (3, 2)), ((3, 1), (1, 4), (4, 2), (2, 5)))),
    OpInfo("linalg_multi_dot", lambda L, *ms: L.linalg.multi_dot(list(ms)), _pairs(
        ((4,), (4, 3), (3, 2)), ((2, 3), (3, 5), (5,)), ((3,), (3,)),
        ((2, 3), (3, 4), (4, 1), (1, 5)), ((3,), (3, 2, 2)))),
    OpInfo("einsum", lambda L, eq, *ops: L.einsum(eq, *ops), lambda dt, rng: [
        Sample((eq,) + tuple(make(s, dt, rng) for s in shapes), name=eq)
        for eq, shapes in (
            ("ij,jk->ik", ((2, 3), (3, 4))), ("bij,bjk->bik", ((2, 2, 3), (2, 3, 2))),
            ("i,i->", ((3,), (3,))), ("i,j->ij", ((3,), (2,))), ("ij->ji", ((2, 3),)),
            ("ii->i", ((3, 3),)), ("ii", ((3, 3),)), ("ij->", ((2, 3),)), ("ij->i", ((2, 3),)),
            ("ij,jk", ((2, 3), (3, 2))), ("...ij,...jk", ((2, 2, 3), (1, 3, 2))),
            ("b...,b->...", ((2, 3, 2), (2,))), ("ij,jk,kl->il", ((2, 3), (3, 2), (2, 4))),
            ("iij->j", ((2, 2, 3),)), ("ij,ij->ij", ((2, 3), (2, 1))),
            ("i,->i", ((3,), ())), ("ij, jk -> ik", ((2, 3), (3, 2))),
            ("ij,jk->ik", ((2, 3), (2, 3))), ("ij,jk->ik", ((2, 3),)), ("ij->k", ((2, 3),)),
            ("ij->", ((2, 3, 4),)), ("ii->", ((2, 3),)), ("i1->", ((2, 3),)),
            ("Ab,bC->AC", ((2, 3), (3, 2))), ("ij,ik->jk", ((0, 2), (0, 3))))],
           dtypes=_ALL_NUMERIC),
    OpInfo("einsum_list_and_sublist", lambda L, a, b: (
        L.einsum("ij,jk->ik", [a, b]), L.einsum(a, [0, 1], b, [1, 2], [0, 2]),
        L.einsum(a, [Ellipsis, 1], b, [1, 2])), _pairs(((2, 3), (3, 2)))),
    OpInfo("einsum_dtype", lambda L, a, b: L.einsum("i,i->", a, b), _pairs(
        ((3,), ((3,), "float32"))), dtypes=("float64",)),
]
