"""Per-op CPU time of the transformer's ops, ember vs torch:
``python -m bench.profile_transformer [--reps N] [--only SUBSTRING ...]``.

The bench GPT (4 layers, d=128, 4 heads, context 128, batch 16, vocab 96, AdamW) and the
attention/norm/elementwise shapes of ``bench.sweep``: softmax and the GPT's masked softmax,
scaled dot-product attention, layer norm, GELU (erf and tanh), SiLU, cross-entropy and
embedding, each forward (under ``no_grad``) and forward + backward (``autograd.grad`` with a
fixed output gradient), the AdamW step over the GPT's parameters, and one whole GPT
training step.

Timed as single-thread process CPU time (``time.process_time``; both libraries set to one
thread), the minimum over ``--reps`` repetitions with ember and torch interleaved in one
process: on a shared, loaded machine CPU time is far steadier than wall clock, and the
minimum is the run least disturbed by other processes (cache evictions, frequency).
Prints one row per case: ember ms, torch ms and the ratio ember / torch.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator

import numpy as np

from bench import models, run

# the bench GPT
B, T, D, H, V = 16, 128, 128, 4, 96


def _randn(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _masked_softmax(lib, x):
    """The bench GPT's attention softmax: causal ``masked_fill`` then softmax."""
    t = x.shape[-1]
    mask = lib.ones(t, t, dtype=lib.bool).tril()
    return lib.nn.functional.softmax(x.masked_fill(~mask, float("-inf")), dim=-1)


def _op_cases() -> Iterator[tuple[str, Callable, Callable, tuple[bool, ...]]]:
    """(label, fn(lib, *tensors), inputs() -> arrays, which inputs need a gradient)."""
    F = lambda lib: lib.nn.functional  # noqa: E731
    scores = (B, H, T, T)
    yield (f"softmax {'x'.join(map(str, scores))}", lambda lib, x: F(lib).softmax(x, dim=-1),
           lambda: [_randn(1, *scores)], (True,))
    yield (f"masked softmax (GPT) {'x'.join(map(str, scores))}", _masked_softmax,
           lambda: [_randn(1, *scores)], (True,))
    yield ("softmax 16x128x512", lambda lib, x: F(lib).softmax(x, dim=-1),
           lambda: [_randn(1, 16, 128, 512)], (True,))
    for shape, causal in (((B, H, T, D // H), True), ((8, 8, 256, 64), False),
                          ((1, 8, 1024, 64), True), ((32, 1, 64, 128), False),
                          ((2, 16, 512, 64), True), ((64, 2, 32, 32), False)):
        yield (f"sdpa B{shape[0]} H{shape[1]} T{shape[2]} D{shape[3]}"
               f"{' causal' if causal else ''}",
               lambda lib, q, k, v, c=causal: F(lib).scaled_dot_product_attention(
                   q, k, v, is_causal=c),
               lambda shape=shape: [_randn(s, *shape) for s in (2, 3, 4)], (True,) * 3)
    for shape in ((B, T, D), (8, 512, 768), (256, 1024)):
        c = shape[-1]
        yield (f"layer_norm {'x'.join(map(str, shape))}",
               lambda lib, x, w, b: F(lib).layer_norm(x, w.shape, w, b),
               lambda shape=shape, c=c: [_randn(2, *shape), 1 + _randn(3, c, scale=0.1),
                                         _randn(4, c, scale=0.1)], (True,) * 3)
    for approx in ("none", "tanh"):
        yield (f"gelu {approx} {B}x{T}x{4 * D}",
               lambda lib, x, a=approx: F(lib).gelu(x, approximate=a),
               lambda: [_randn(5, B, T, 4 * D)], (True,))
    yield (f"silu {B}x{T}x{4 * D}", lambda lib, x: F(lib).silu(x),
           lambda: [_randn(5, B, T, 4 * D)], (True,))
    for n, classes in ((B * T, V), (256, 1000)):
        yield (f"cross_entropy {n}x{classes}", lambda lib, x, y: F(lib).cross_entropy(x, y),
               lambda n=n, c=classes: [_randn(6, n, c),
                                       np.random.default_rng(7).integers(0, c, n)],
               (True, False))
    for rows, width, idx in ((V, D, (B, T)), (10000, 256, (32, 64))):
        yield (f"embedding {rows}x{width}[{idx[0]}x{idx[1]}]",
               lambda lib, i, w: F(lib).embedding(i, w),
               lambda rows=rows, width=width, idx=idx: [
                   np.random.default_rng(8).integers(0, rows, idx), _randn(9, rows, width)],
               (False, True))


class _Timer:
    """Single-thread CPU time of zero-argument callables; the minimum of the repetitions."""

    def __init__(self, reps: int):
        self.reps = reps

    def pair(self, ember_fn: Callable, torch_fn: Callable) -> tuple[float, float]:
        for fn in (ember_fn, torch_fn, ember_fn, torch_fn):  # warm-up (compilation, caches)
            fn()
        best = [math.inf, math.inf]
        for _ in range(self.reps):
            for i, fn in enumerate((ember_fn, torch_fn)):
                start = time.process_time()
                fn()
                best[i] = min(best[i], time.process_time() - start)
        return best[0] * 1e3, best[1] * 1e3


def _op_runners(lib, fn: Callable, arrays: list, grads: tuple) -> tuple[Callable, Callable]:
    """(forward under no_grad, forward + backward) of ``fn`` on ``lib``'s copies of
    ``arrays``."""
    tensors = [lib.from_numpy(a.copy()).requires_grad_(g) for a, g in zip(arrays, grads)]
    wrt = [t for t, g in zip(tensors, grads) if g]
    with lib.no_grad():
        out = fn(lib, *tensors)
    seed = lib.from_numpy(np.asarray(_randn(11, *out.shape)))

    def forward():
        with lib.no_grad():
            fn(lib, *tensors)

    def both():
        lib.autograd.grad(fn(lib, *tensors), wrt, seed)
    return forward, both


def _adamw_runners(lib, model) -> Callable:
    params = list(model.parameters())
    for i, p in enumerate(params):
        p.grad = lib.from_numpy(_randn(20 + i, *p.shape, scale=1e-2))
    opt = lib.optim.AdamW(params, lr=3e-4)
    return opt.step


def _gpt_step(lib, model) -> Callable:
    seq = np.random.default_rng(0).integers(0, V, (B, T + 1))
    x, y = lib.from_numpy(seq[:, :-1].copy()), lib.from_numpy(seq[:, 1:].copy())
    opt = lib.optim.AdamW(model.parameters(), lr=3e-4)

    def step():
        opt.zero_grad()
        lib.nn.functional.cross_entropy(model(x).reshape(-1, V), y.reshape(-1)).backward()
        opt.step()
    return step


def rows(reps: int, only: list[str] | None = None) -> Iterator[tuple[str, float, float]]:
    """(label, ember ms, torch ms) per case."""
    import torch

    import ember
    ember.set_num_threads(1)
    torch.set_num_threads(1)
    timer = _Timer(reps)
    wanted = (lambda label: not only or any(s in label for s in only))
    for label, fn, inputs, grads in _op_cases():
        if not wanted(label):
            continue
        arrays = inputs()
        (ef, eb), (tf, tb) = (_op_runners(lib, fn, arrays, grads) for lib in (ember, torch))
        yield (f"{label} fwd", *timer.pair(ef, tf))
        yield (f"{label} fwd+bwd", *timer.pair(eb, tb))
    torch.manual_seed(0)
    t_model, e_model = models.gpt(torch), models.gpt(ember)
    models.copy_weights(t_model, e_model)
    if wanted("adamw GPT"):
        yield ("adamw step (GPT params)",
               *timer.pair(_adamw_runners(ember, e_model), _adamw_runners(torch, t_model)))
    if wanted("GPT train step"):
        yield ("GPT train step", *timer.pair(_gpt_step(ember, e_model),
                                             _gpt_step(torch, t_model)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--only", nargs="*", help="cases whose label contains one of these")
    args = parser.parse_args(argv)
    run._libs()  # (torch loaded first, as in the other benchmarks)
    print(f"{'op':<46} {'ember ms':>9} {'torch ms':>9} {'ratio':>6}")
    ratios = []
    for label, e, t in rows(args.reps, args.only):
        ratios.append(e / t)
        print(f"{label:<46} {e:9.3f} {t:9.3f} {e / t:6.2f}", flush=True)
    if ratios:
        print(f"geometric mean ratio {math.exp(np.mean(np.log(ratios))):.2f}, "
              f"worst {max(ratios):.2f} (single-thread CPU time, min of {args.reps})")


if __name__ == "__main__":
    main()
