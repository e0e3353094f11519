"""Recurrent layers as single ONNX ``LSTM``/``GRU``/``RNN`` nodes.

Eagerly, ``nn.LSTM`` runs one layer-direction as a Python loop of cell ops; captured that
way the graph would have one copy of the cell per time step and could not take another
sequence length. During export each ``RNNBase`` module's ``_run_direction`` is replaced
(on the instance, and put back afterwards) by one op, ``RecurrentLayer``, which computes
the same thing with the module's own code and is what capture records: one node per
layer and direction, lowered here to one ONNX node with the gates reordered to ONNX's.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import _make
from ._lowerings import lowers


class RecurrentLayer(Op):
    """One layer in one direction of an RNN/LSTM/GRU over ``x (T, B, F)`` from ``h (B, H)``
    (and ``c``): ``(outputs (T, B, H), h_T, c_T)`` (``c_T`` is ``h_T`` for GRU/RNN). An
    export-time op: not in ``OPS``."""

    abstract = True
    name = "onnx_recurrent_layer"
    signature = ("onnx_recurrent_layer(Tensor x, Tensor w_ih, Tensor w_hh, Tensor? b_ih, "
                 "Tensor? b_hh, Tensor h, Tensor? c, str mode, bool reverse) -> "
                 "(Tensor y, Tensor h, Tensor c)")
    differentiable = False

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h, c, mode, reverse):
        from ..autograd import no_grad
        from ..nn.modules.rnn import RNNBase
        wrap = (lambda a: None if a is None else _make(a))
        weights = (wrap(w_ih), wrap(w_hh), wrap(b_ih), wrap(b_hh), None)
        with no_grad():
            y, h_t, c_t = RNNBase._run_direction(SimpleNamespace(mode=mode), wrap(x), weights,
                                                 wrap(h), wrap(c), reverse, None)
        return y._data, h_t._data, (c_t if c_t is not None else h_t)._data


def _layer(module, x, weights, h, c, reverse, alive):
    if alive is not None or weights[4] is not None:  # packed sequences, projections
        return type(module)._run_direction(module, x, weights, h, c, reverse, alive)
    w_ih, w_hh, b_ih, b_hh, _ = weights
    y, h_t, c_t = dispatch(RecurrentLayer, x, w_ih, w_hh, b_ih, b_hh, h, c, module.mode,
                           reverse)
    return y, h_t, (c_t if module.mode == "LSTM" else None)


@contextlib.contextmanager
def single_node_layers(model):
    """While exporting: every RNN/LSTM/GRU of ``model`` records its layers as
    ``RecurrentLayer`` ops."""
    from ..nn.modules.rnn import RNNBase
    patched = [m for m in model.modules() if isinstance(m, RNNBase)]
    for m in patched:
        object.__setattr__(m, "_run_direction",
                           lambda *a, _m=m: _layer(_m, *a))
    try:
        yield
    finally:
        for m in patched:
            m.__dict__.pop("_run_direction", None)


# ONNX gate order from torch's: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h
_GATES = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}


@lowers("onnx_recurrent_layer")
def _lower(cx, node, x, w_ih, w_hh, b_ih, b_hh, h, c, mode, reverse):
    b = cx.b
    hidden = w_hh.shape[1]
    order = _GATES[mode]
    rows = np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in order])
    perm = b.const(rows.astype(np.int64))
    first = b.ints([0])

    def gates(p):  # [G*H, ...] in ONNX's order, with a leading num_directions axis
        return b.one("Unsqueeze", [b.one("Gather", [cx.t(p), perm], axis=0), first])
    ins = [cx.t(x), gates(w_ih), gates(w_hh)]
    if b_ih is not None:
        bias = b.one("Concat", [b.one("Gather", [cx.t(p), perm], axis=0) for p in (b_ih, b_hh)],
                     axis=0)
        ins.append(b.one("Unsqueeze", [bias, first]))
    else:
        ins.append("")
    ins += ["", b.one("Unsqueeze", [cx.t(h), first])]
    attrs = {"hidden_size": hidden, "direction": "reverse" if reverse else "forward"}
    if mode == "LSTM":
        ins.append(b.one("Unsqueeze", [cx.t(c), first]))
        op, n_out = "LSTM", 3
    elif mode == "GRU":
        op, n_out = "GRU", 2
        attrs["linear_before_reset"] = 1  # torch's GRU applies r after the hidden matmul
    else:
        op, n_out = "RNN", 2
        attrs["activations"] = ["Relu" if mode == "RNN_RELU" else "Tanh"]
    outs = b.node(op, ins, n_out, **attrs)
    y = b.one("Squeeze", [outs[0], b.ints([1])])
    finals = [b.one("Squeeze", [o, first]) for o in outs[1:]]
    return [y, finals[0], finals[-1]]
