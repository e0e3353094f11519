"""Recurrent layers as single ONNX ``LSTM``/``GRU``/``RNN`` nodes.

``nn.RNN``/``nn.LSTM``/``nn.GRU`` run one op per layer and direction over the whole
sequence (``lstm_layer``, ``gru_layer``, ``rnn_tanh_layer``, ``rnn_relu_layer``); each is
lowered to one ONNX node, with torch's gate order rearranged to ONNX's by a ``Gather`` on
the weights (which onnxruntime folds), so the file keeps the state-dict's tensors as they
are and takes any sequence length.
"""

from __future__ import annotations

import numpy as np

from ._lowerings import lowers

# ONNX gate order from torch's: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h
_GATES = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}
_MODES = {"lstm_layer": "LSTM", "gru_layer": "GRU", "rnn_tanh_layer": "RNN_TANH",
          "rnn_relu_layer": "RNN_RELU"}


@lowers(*_MODES)
def _lower(cx, node, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse):
    if w_hr is not None:
        raise NotImplementedError("LSTM with projections (proj_size): ONNX's LSTM has none")
    if lengths is not None:
        raise NotImplementedError("packed sequences")
    mode = _MODES[node.name]
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
    return [y] + [b.one("Squeeze", [o, first]) for o in outs[1:]]
