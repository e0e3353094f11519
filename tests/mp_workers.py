"""Functions that tests/test_multiprocessing.py runs in child processes: a module without
torch, so that a spawned child imports only ember."""

from __future__ import annotations

import numpy as np

import ember


def data(seed: int):
    g = np.random.RandomState(seed)
    x = g.randn(64, 5).astype(np.float32)
    y = (x @ np.arange(1.0, 6.0, dtype=np.float32))[:, None]
    return ember.tensor(x), ember.tensor(y)


def train(model, seed: int, steps: int = 20) -> None:
    """SGD on the shared model, in place (what each Hogwild worker runs)."""
    x, y = data(seed)
    opt = ember.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        ember.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def loss(model) -> float:
    x, y = data(0)
    with ember.no_grad():
        return ember.nn.functional.mse_loss(model(x), y).item()


def child_writes(rank: int, arg: ember.Tensor, queue, done) -> None:
    arg.add_(rank + 1)
    got = queue.get()
    got.copy_(ember.arange(3.0) * 10)
    done.put(True)


def fill_row(rank: int, out: ember.Tensor) -> None:
    if rank == 2:
        raise ValueError("rank two fails")
    out[rank] = rank + 1
