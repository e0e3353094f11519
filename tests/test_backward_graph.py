"""Backward rules are written in ember ops, so ``backward()`` dispatches the same ops
whether or not it records a graph for higher-order gradients (``create_graph=True``).

A dispatch mode records the name of every op dispatched during ``backward()`` of three real
models (the digits demo's CNN, the bench's GPT, an LSTM); a fresh, identical model and input
run once without and once with ``create_graph``, and the two op sequences must be equal.
A backward rule that takes a NumPy shortcut when no graph is recorded, or an engine step
computed outside the dispatcher, shows up here as a difference.

The differences torch itself makes are in how gradients reach ``.grad``. The first one
a parameter receives is taken as it is when nothing else holds it in an ordinary backward,
but copied (a recorded ``clone``) under ``create_graph``; so on fresh parameters the
sequences may differ only by ``clone`` ops added under ``create_graph``, one at most per
parameter. Later ones accumulate into the existing ``.grad`` in place (``add_``) in an
ordinary backward, out of place (``add``) under ``create_graph``: a second backward into
the same parameters may differ in exactly that.
"""

from __future__ import annotations

import difflib

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from bench.models import gpt
from tests.dispatch_log import OpNames
from tests.test_end_to_end import _demo


def _cnn_loss(model=None):
    model = model or _demo().DigitsCNN()
    rng = np.random.default_rng(0)
    x = ember.from_numpy(rng.standard_normal((4, 1, 8, 8)).astype(np.float32))
    y = ember.from_numpy(rng.integers(0, 10, size=4))
    return F.cross_entropy(model(x), y)


def _gpt_loss():
    vocab = 32
    model = gpt(ember, vocab=vocab, width=32, heads=2, layers=2, context=16)
    idx = ember.from_numpy(np.random.default_rng(0).integers(0, vocab, size=(2, 16)))
    logits = model(idx[:, :-1])
    return F.cross_entropy(logits.reshape(-1, vocab), idx[:, 1:].reshape(-1))


class _LSTMRegressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def _lstm_loss():
    model = _LSTMRegressor()
    rng = np.random.default_rng(0)
    x = ember.from_numpy(rng.standard_normal((4, 5, 3)).astype(np.float32))
    y = ember.from_numpy(rng.standard_normal((4, 1)).astype(np.float32))
    return F.mse_loss(model(x), y)


def _backward_ops(loss_fn, create_graph: bool) -> list[str]:
    """The ops ``backward()`` dispatches, on a model and input made afresh from seed 0."""
    ember.manual_seed(0)
    loss = loss_fn()
    recorder = OpNames()
    with recorder:
        loss.backward(create_graph=create_graph)
    return recorder.names


def _plus_clones(plain: list[str], graph: list[str]) -> bool:
    """Whether ``graph`` is ``plain`` with ``clone`` ops inserted (none removed)."""
    i = 0
    for name in graph:
        if i < len(plain) and name == plain[i]:
            i += 1
        elif name != "clone":
            return False
    return i == len(plain)


def _differences(plain: list[str], graph: list[str]) -> str:
    """The differing stretches of the two sequences, for the failure message."""
    lines = []
    matcher = difflib.SequenceMatcher(a=plain, b=graph, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            lines.append(f"  at {i1}: {tag} {plain[i1:i2]} -> {graph[j1:j2]}")
    return "\n".join(lines)


@pytest.mark.parametrize("loss_fn", [_cnn_loss, _gpt_loss, _lstm_loss],
                         ids=["digits_cnn", "gpt", "lstm"])
def test_backward_dispatches_the_same_ops_with_create_graph(loss_fn):
    plain = _backward_ops(loss_fn, create_graph=False)
    graph = _backward_ops(loss_fn, create_graph=True)
    assert len(plain) > 10, plain
    ember.manual_seed(0)
    n_params = sum(t.requires_grad for t in _leaves(loss_fn()))
    assert _plus_clones(plain, graph) and len(graph) - len(plain) <= n_params, (
        "backward() dispatches different ops with create_graph=True "
        f"({len(plain)} vs {len(graph)} ops):\n" + _differences(plain, graph))


def _leaves(loss) -> list:
    """The leaf tensors of ``loss``'s graph (a parameter's AccumulateGrad holds it)."""
    seen, stack, leaves = set(), [loss.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):
            leaves.append(node.variable)
        stack.extend(n for n, _ in node.next_functions)
    return leaves


def test_accumulating_into_existing_grads_differs_only_in_place_or_not():
    def second_backward(create_graph: bool) -> list[str]:
        ember.manual_seed(0)
        model = _demo().DigitsCNN()
        _cnn_loss(model).backward(create_graph=create_graph)
        loss = _cnn_loss(model)
        with OpNames() as recorder:
            loss.backward(create_graph=create_graph)
        return recorder.names

    plain, graph = second_backward(False), second_backward(True)
    n_params = len(list(_demo().DigitsCNN().parameters()))
    assert plain.count("add_") == n_params and "add_" not in graph
    assert [n if n != "add_" else "add" for n in plain] == graph, _differences(plain, graph)
