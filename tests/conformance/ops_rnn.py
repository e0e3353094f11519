"""Conformance entries for the recurrent ops: one layer in one direction (``lstm_layer``,
``gru_layer``, ``rnn_tanh_layer``, ``rnn_relu_layer``; reversed, projected, without
biases, on a packed batch) against torch's ``torch.lstm``/``torch.gru``/``torch.rnn_*``
on one layer, and the cells (``lstm_cell``, ``gru_cell``, ``rnn_tanh_cell``,
``rnn_relu_cell``) against torch's.

Double backward through these fused ops is not supported (their backward ops' backward
raises, as torch's fused RNN kernels): ``gradgrad=False``.
"""

from __future__ import annotations

from tests.conformance.harness import OpInfo, Sample, make

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_TORCH = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}
LENGTHS = [4, 2, 1]  # the packed samples' lengths (sorted, as pack_padded_sequence wants)


def _is_torch(L) -> bool:
    return L.__name__ == "torch"


def _params(w_ih, w_hh, b_ih, b_hh, w_hr):
    return [w_ih, w_hh] + ([b_ih, b_hh] if b_ih is not None else []) + \
        ([w_hr] if w_hr is not None else [])


def _torch_state(mode, h, c):
    return (h[None], c[None]) if mode == "LSTM" else h[None]


def _layer(mode):
    """``fn(L, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, reverse=False)`` -> ``(out, h_n[, c_n])``:
    ember's op, or torch's one-layer function (reversed = run on the flipped sequence)."""
    def fn(L, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, reverse=False):
        if not _is_torch(L):
            return L.ops.rnn.rnn_layer(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr,
                                       reverse=reverse)
        out, *state = getattr(L, _TORCH[mode])(
            x.flip(0) if reverse else x, _torch_state(mode, h, c),
            _params(w_ih, w_hh, b_ih, b_hh, w_hr), b_ih is not None, 1, 0.0, False, False, False)
        return (out.flip(0) if reverse else out, *(s[0] for s in state))
    return fn


def _packed(mode):
    """The layer on a padded batch with ``LENGTHS``; returns the packed output rows."""
    def fn(L, x, h, c, w_ih, w_hh, b_ih, b_hh):
        if _is_torch(L):
            seq = L.nn.utils.rnn.pack_padded_sequence(x, LENGTHS)
            out, *state = getattr(L, _TORCH[mode])(
                seq.data, seq.batch_sizes, _torch_state(mode, h, c),
                _params(w_ih, w_hh, b_ih, b_hh, None), True, 1, 0.0, False, False)
            return (out, *(s[0] for s in state))
        steps, batch = x.shape[:2]
        lengths = L.tensor(LENGTHS)
        out, *state = L.ops.rnn.rnn_layer(mode, x, h, c, w_ih, w_hh, b_ih, b_hh,
                                          lengths=lengths)
        rows = [t * batch + b for t in range(steps) for b in range(batch) if t < LENGTHS[b]]
        return (out.reshape(steps * batch, -1)[L.tensor(rows)], *state)
    return fn


def _weights(mode, dt, rng, features, hidden, out=None, bias=True):
    gates = _GATES[mode] * hidden
    out = out or hidden
    w = [make((gates, features), dt, rng, -0.6, 0.6), make((gates, out), dt, rng, -0.6, 0.6)]
    b = [make((gates,), dt, rng, -0.5, 0.5), make((gates,), dt, rng, -0.5, 0.5)] if bias \
        else [None, None]
    return w + b


def _layer_samples(mode):
    lstm = mode == "LSTM"

    def samples(dt, rng):
        def state(batch, size):
            return make((batch, size), dt, rng, -1, 1)
        out = [
            Sample((make((3, 2, 3), dt, rng), state(2, 4), state(2, 4) if lstm else None,
                    *_weights(mode, dt, rng, 3, 4), None)),
            Sample((make((4, 3, 2), dt, rng), state(3, 3), state(3, 3) if lstm else None,
                    *_weights(mode, dt, rng, 2, 3), None), {"reverse": True}, name="reverse"),
            Sample((make((2, 3, 2), dt, rng).transpose(1, 0, 2), state(2, 2),  # batch-first
                    state(2, 2) if lstm else None, *_weights(mode, dt, rng, 2, 2, bias=False),
                    None), name="noncontig-no-bias"),
        ]
        if lstm:
            out.append(Sample((make((3, 2, 3), dt, rng), state(2, 2), state(2, 4),
                               *_weights(mode, dt, rng, 3, 4, out=2),
                               make((2, 4), dt, rng, -0.6, 0.6)), {"reverse": True},
                              name="proj-reverse"))
        return out
    return samples


def _packed_samples(mode):
    lstm = mode == "LSTM"

    def samples(dt, rng):
        return [Sample((make((4, 3, 2), dt, rng), make((3, 3), dt, rng, -1, 1),
                        make((3, 3), dt, rng, -1, 1) if lstm else None,
                        *_weights(mode, dt, rng, 2, 3)))]
    return samples


def _cell(name, mode):
    lstm = mode == "LSTM"

    def fn(L, x, h, c, w_ih, w_hh, b_ih, b_hh):
        return getattr(L, name)(x, (h, c) if lstm else h, w_ih, w_hh, b_ih, b_hh)

    def samples(dt, rng):
        return [Sample((make((3, 2), dt, rng), make((3, 4), dt, rng, -1, 1),
                        make((3, 4), dt, rng, -1, 1) if lstm else None,
                        *_weights(mode, dt, rng, 2, 4))),
                Sample((make((2, 3), dt, rng), make((2, 2), dt, rng, -1, 1),
                        make((2, 2), dt, rng, -1, 1) if lstm else None,
                        *_weights(mode, dt, rng, 3, 2, bias=False)), name="no-bias")]
    return OpInfo(name, fn, samples, gradgrad=False)


OPS = [OpInfo(f"{_TORCH[m]}_layer", _layer(m), _layer_samples(m), gradgrad=False)
       for m in _GATES] + \
      [OpInfo(f"{_TORCH[m]}_layer_packed", _packed(m), _packed_samples(m), gradgrad=False)
       for m in ("LSTM", "GRU", "RNN_TANH")] + \
      [_cell(f"{_TORCH[m]}_cell", m) for m in _GATES]
