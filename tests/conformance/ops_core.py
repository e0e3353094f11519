"""Conformance entries for the core arithmetic written with the dispatcher."""

from __future__ import annotations

from tests.conformance.harness import OpInfo, Sample, make


def _binary(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), make((3, 4), dt, rng))),
        Sample((make((2, 3, 4), dt, rng), make((4,), dt, rng)), name="broadcast"),
        Sample((make((4, 3), dt, rng, noncontig=True), make((4, 1), dt, rng)), name="noncontig"),
        Sample((make((), dt, rng), make((2, 2), dt, rng)), name="0-d"),
        Sample((make((0, 3), dt, rng), make((3,), dt, rng)), name="empty"),
        Sample((make((3,), dt, rng), 2.5), name="scalar"),
    ]


def _unary(dt, rng, positive=False):
    return [
        Sample((make((3, 4), dt, rng, positive=positive),)),
        Sample((make((4, 3), dt, rng, noncontig=True, positive=positive),)),
        Sample((make((), dt, rng, positive=positive),)),
        Sample((make((0, 2), dt, rng, positive=positive),)),
    ]


def _div(dt, rng):
    return [Sample((a, b if not hasattr(b, "shape") else b + 3.0)) for a, b in
            (s.args for s in _binary(dt, rng))]


OPS = [
    OpInfo("add", lambda L, a, b: L.add(a, b), _binary),
    OpInfo("add_alpha", lambda L, a, b: L.add(a, b, alpha=2), _binary),
    OpInfo("sub", lambda L, a, b: a - b, _binary),
    OpInfo("rsub", lambda L, a: 2.0 - a, lambda dt, rng: _unary(dt, rng)),
    OpInfo("mul", lambda L, a, b: a * b, _binary),
    OpInfo("div", lambda L, a, b: a / b, _div),
    OpInfo("neg", lambda L, a: -a, _unary),
    OpInfo("exp", lambda L, a: L.exp(a), _unary),
    OpInfo("log", lambda L, a: L.log(a), lambda dt, rng: _unary(dt, rng, positive=True)),
    OpInfo("pow_scalar", lambda L, a: a ** 3, _unary),
    OpInfo("pow_tensor", lambda L, a, b: L.pow(a, b),
           lambda dt, rng: [Sample((make((3, 2), dt, rng, positive=True),
                                    make((3, 2), dt, rng)))]),
    OpInfo("sum", lambda L, a: a.sum(), _unary),
    OpInfo("sum_dim", lambda L, a: a.sum(-1, keepdim=True), _unary),
    OpInfo("mean_dims", lambda L, a: L.mean(a, (0, 1)),
           lambda dt, rng: [Sample((make((2, 3, 4), dt, rng),))]),
    OpInfo("matmul", lambda L, a, b: a @ b, lambda dt, rng: [
        Sample((make((3, 4), dt, rng), make((4, 5), dt, rng))),
        Sample((make((2, 3, 4), dt, rng), make((4,), dt, rng)), name="mat-vec"),
        Sample((make((4,), dt, rng), make((2, 4, 3), dt, rng)), name="vec-batch"),
        Sample((make((4,), dt, rng), make((4,), dt, rng)), name="dot"),
        Sample((make((2, 1, 3, 4), dt, rng), make((5, 4, 2), dt, rng)), name="broadcast"),
    ]),
    OpInfo("reshape", lambda L, a: a.reshape(2, -1), _unary),
    OpInfo("permute", lambda L, a: a.permute(2, 0, 1),
           lambda dt, rng: [Sample((make((2, 3, 4), dt, rng),))]),
    OpInfo("expand", lambda L, a: a.expand(2, 3, 4),
           lambda dt, rng: [Sample((make((3, 1), dt, rng),))]),
]
