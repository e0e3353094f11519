"""Forward-mode AD: ``python -m bench.forward_ad``.

``jvp_mlp``: the JVP of a 3-layer tanh MLP (batch 64, width 128) along one tangent of its
input, through ``autograd.forward_ad`` (``make_dual``, ``unpack_dual``), both sides
warmed up past torch's TorchScript profiling runs. ``jacfwd_mlp``: ``func.jacfwd`` of a
32 -> 32 tanh MLP at one point (32 forward runs; torch batches them with vmap). ember
(forward mode) and torch interleaved in one process, plus ember's reverse-mode way of
computing the same thing (``ember_reverse``: the double-vjp trick for the JVP, one
backward per output for the Jacobian), so the ratio of the two ember columns says what
forward mode buys. Values are checked equal first.

torch's ``jvp_mlp`` time is not stable in this process: its forward AD runs TorchScript
decompositions, and on the loaded 2-core test machine a call took 0.4 ms in a torch-only
loop after warm-up but 14-250 ms interleaved with ember; read that ratio with care.
"""

from __future__ import annotations

import sys

import numpy as np

from bench.run import Side, _libs


def _mlp_params(width: int, rng) -> list[np.ndarray]:
    return [(rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
            for _ in range(3)]


def _mlp(lib, params):
    ws = [lib.from_numpy(w.copy()) for w in params]

    def f(x):
        for w in ws:
            x = (x @ w).tanh()
        return x
    return f


def _sides(make_step) -> dict:
    ember, torch = _libs()
    from ember.func import _eager_transforms as transforms
    steps = {"ember": make_step(ember, ember.func), "torch": make_step(torch, torch.func),
             "ember_reverse": make_step(ember, transforms, reverse=True)}
    results = {k: step() for k, step in steps.items()}
    for _ in range(60):  # torch's forward AD runs TorchScript decompositions: their profiling
        steps["torch"]()  # executor is slow (~200 ms a call here) until it has optimized
    for k in ("torch", "ember_reverse"):
        np.testing.assert_allclose(results["ember"], results[k], rtol=1e-3, atol=1e-4)
    return {k: Side(lambda step=step: _discard(step())) for k, step in steps.items()}


def _discard(_result) -> None:
    """A step's value is checked once, not returned: these workloads have no loss."""


def jvp_mlp():
    rng = np.random.default_rng(0)
    params, x, v = (_mlp_params(128, rng), rng.standard_normal((64, 128)).astype(np.float32),
                    rng.standard_normal((64, 128)).astype(np.float32))

    def make_step(lib, F, reverse=False):
        f, xs, vs = _mlp(lib, params), lib.from_numpy(x.copy()), lib.from_numpy(v.copy())

        fwd = lib.autograd.forward_ad

        def step():
            if reverse:  # the double-vjp trick
                return F._Linearized(f, (xs,), False, "jvp").jvp((vs,)).numpy()
            with fwd.dual_level():
                return fwd.unpack_dual(f(fwd.make_dual(xs, vs))).tangent.numpy()
        return step
    return _sides(make_step), False


def jacfwd_mlp():
    rng = np.random.default_rng(1)
    params, x = _mlp_params(32, rng), rng.standard_normal(32).astype(np.float32)

    def make_step(lib, F, reverse=False):
        f, xs = _mlp(lib, params), lib.from_numpy(x.copy())
        jac = F._jacobian(f, 0, False, "jacfwd") if reverse else F.jacfwd(f)
        return lambda: jac(xs).numpy()
    return _sides(make_step), False


WORKLOADS = {"jvp_mlp": jvp_mlp, "jacfwd_mlp": jacfwd_mlp}
ROUNDS = {"jvp_mlp": 15, "jacfwd_mlp": 7}


if __name__ == "__main__":
    from bench.run import main as run_main
    run_main(["--only", *WORKLOADS, *sys.argv[1:]])
