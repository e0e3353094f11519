"""Recurrent layers: RNN (tanh/relu), LSTM (with projections), GRU and their cells.

Parameters carry torch's names and shapes (``weight_ih_l0``, ``bias_hh_l1_reverse``,
``weight_hr_l0``...), so state dicts copy across. Each layer and direction is one op
(``ember/ops/rnn.py``: the whole time loop in a kernel, forward and backward); a cell is
that op on a sequence of one step. Packed sequences are run padded, with each sequence's
length: the state of a sequence that has ended is carried, so the last state of each
sequence is its true final state.

``_cell`` is the step written with ember ops, for layers whose matmuls are not plain
GEMMs (the dynamically quantized LSTM of ``ember.ao``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ... import _dtype
from ..._tensor import Tensor
from ...ops.rnn import gru_cell, lstm_cell, rnn_layer, rnn_relu_cell, rnn_tanh_cell
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, _long, _packed_rows, _unpack_sorted
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_CELLS = {"GRU": gru_cell, "RNN_TANH": rnn_tanh_cell, "RNN_RELU": rnn_relu_cell}


def _param(shape, dtype, device=None) -> Parameter:
    import ember
    return Parameter(ember.empty(shape, dtype=dtype or _dtype.get_default_dtype(),
                                 device=device))


def _cell(mode: str, xw: Tensor, gh: Tensor, h: Tensor, c: Tensor | None, w_hr=None):
    """One step from the projected input ``xw`` and projected state ``gh``: ``(h, c)``."""
    if mode == "LSTM":
        i, f, g, o = (xw + gh).chunk(4, -1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return (h @ w_hr.mT if w_hr is not None else h), c
    if mode == "GRU":
        r_i, z_i, n_i = xw.chunk(3, -1)
        r_h, z_h, n_h = gh.chunk(3, -1)
        r, z = (r_i + r_h).sigmoid(), (z_i + z_h).sigmoid()
        n = (n_i + r * n_h).tanh()
        return n + z * (h - n), None
    pre = xw + gh
    return (pre.tanh() if mode == "RNN_TANH" else pre.relu()), None


class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU (torch's ``RNNBase``)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1 or \
                isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError("hidden_size must be an integer greater than zero")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be an integer greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        self._flat_weights_names = []
        self._all_weights = []  # names per layer and direction, as torch (its pickles need it)
        for layer in range(num_layers):
            for direction in range(directions):
                in_size = input_size if layer == 0 else real_hidden * directions
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gate_size, in_size)),
                          ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name + suffix, _param(shape, dtype, device))
                    self._flat_weights_names.append(name + suffix)
                self._all_weights.append([name + suffix for name, _ in shapes])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    def __getstate__(self) -> dict:
        # torch's RNNBase keeps the weight list in its __dict__, and its __setstate__
        # reads it from the pickle: ours carry it too, so torch loads them
        return {**self.__dict__, "_flat_weights": self._flat_weights}

    def __setstate__(self, state: dict) -> None:
        # torch's pickles carry the weight list; here it is a property over the names
        super().__setstate__({k: v for k, v in state.items() if k != "_flat_weights"})

    @property
    def all_weights(self) -> list:
        per = len(self._flat_weights_names) // (self.num_layers * (1 + self.bidirectional))
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def flatten_parameters(self) -> None:
        """A no-op (cuDNN weight packing has no CPU counterpart)."""

    def _weights(self, layer: int, direction: int):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = self.__getattr__
        return (get("weight_ih" + suffix), get("weight_hh" + suffix),
                get("bias_ih" + suffix) if self.bias else None,
                get("bias_hh" + suffix) if self.bias else None,
                get("weight_hr" + suffix) if self.proj_size else None)

    def _run_direction(self, x: Tensor, weights, h: Tensor, c, reverse: bool, lengths):
        """One layer in one direction over ``x (T, B, F)``: outputs ``(T, B, H)`` and the
        final ``(h, c)``; ``lengths`` (B,) ends sequences early (packed input)."""
        out = rnn_layer(self.mode, x, h, c, *weights, lengths=lengths, reverse=reverse)
        return out if len(out) == 3 else (*out, None)

    def _check_hidden(self, hx: Tensor, expected: tuple, what: str = "hidden") -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(f"Expected {what} size {expected}, got {list(hx.shape)}")

    def forward(self, input, hx=None):
        import ember
        is_lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        lengths = None
        unbatched = False
        if packed:
            x, lengths = _unpack_sorted(input, 0.0, None)
            lengths = ember.from_numpy(np.asarray(lengths, dtype=np.int64))
        else:
            if input.ndim not in (2, 3):
                raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                                 f"{input.ndim}D input instead")
            unbatched = input.ndim == 2
            x = input.unsqueeze(1) if unbatched else (
                input.transpose(0, 1) if self.batch_first else input)
        directions = 2 if self.bidirectional else 1
        batch = x.shape[1]
        out_size = self.proj_size or self.hidden_size
        h_shape = (self.num_layers * directions, batch, out_size)
        c_shape = (self.num_layers * directions, batch, self.hidden_size)
        if hx is None:
            h0 = ember.zeros(h_shape, dtype=x.dtype)
            c0 = ember.zeros(c_shape, dtype=x.dtype) if is_lstm else None
        else:
            h0, c0 = hx if is_lstm else (hx, None)
            if unbatched:
                if h0.ndim != 2:
                    raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but "
                                       f"got {h0.ndim}-D tensor")
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
            elif h0.ndim != 3:
                raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got "
                                   f"{h0.ndim}-D tensor")
            if packed and input.sorted_indices is not None:
                h0 = h0.index_select(1, input.sorted_indices)
                c0 = c0.index_select(1, input.sorted_indices) if c0 is not None else None
            self._check_hidden(h0, h_shape)
            if is_lstm:
                self._check_hidden(c0, c_shape, "cell")
        if x.shape[2] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[2]}")
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                i = layer * directions + d
                out, h, c = self._run_direction(x, self._weights(layer, d), h0[i],
                                                c0[i] if is_lstm else None, d == 1, lengths)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = ember.cat(outs, 2) if directions == 2 else outs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_n = ember.stack(h_n)
        c_n = ember.stack(c_n) if is_lstm else None
        if packed:
            flat = x.reshape((x.shape[0] * batch,) + tuple(x.shape[2:]))
            rows = _long(_packed_rows(input.batch_sizes._data))
            output = PackedSequence(flat.index_select(0, rows), input.batch_sizes,
                                    input.sorted_indices, input.unsorted_indices)
            if input.unsorted_indices is not None:
                h_n = h_n.index_select(1, input.unsorted_indices)
                c_n = c_n.index_select(1, input.unsorted_indices) if is_lstm else None
        elif unbatched:
            output, h_n = x.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if is_lstm else None
        else:
            output = x.transpose(0, 1) if self.batch_first else x
        return output, ((h_n, c_n) if is_lstm else h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


def _rnn_args(args, kwargs):
    """torch's RNN signature: positional ``(input_size, hidden_size, num_layers, ...)``."""
    names = ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
             "bidirectional"]
    kwargs = dict(kwargs)
    for name, value in zip(names, args):
        if name in kwargs:
            raise TypeError(f"got multiple values for argument '{name}'")
        kwargs[name] = value
    return kwargs


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or relu)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs = _rnn_args(args, kwargs)
        nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", **kwargs)


class LSTM(RNNBase):
    """Long short-term memory; ``proj_size > 0`` projects the hidden state (LSTMP)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", **_rnn_args(args, kwargs))


class GRU(RNNBase):
    """Gated recurrent unit."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("GRU", **_rnn_args(args, kwargs))


class RNNCellBase(Module):
    """One time step of an RNN/LSTM/GRU, with torch's parameter names."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.mode, self.input_size, self.hidden_size, self.bias = (mode, input_size,
                                                                   hidden_size, bias)
        gates = _GATES[mode] * hidden_size
        self.weight_ih = _param((gates, input_size), dtype, device)
        self.weight_hh = _param((gates, hidden_size), dtype, device)
        if bias:
            self.bias_ih = _param((gates,), dtype, device)
            self.bias_hh = _param((gates,), dtype, device)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def forward(self, input: Tensor, hx=None):
        import ember
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got "
                             f"{input.ndim}D instead")
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        is_lstm = self.mode == "LSTM"
        if hx is None:
            zeros = ember.zeros((x.shape[0], self.hidden_size), dtype=x.dtype)
            h, c = zeros, (zeros if is_lstm else None)
        else:
            h, c = hx if is_lstm else (hx, None)
            if unbatched:
                h = h.unsqueeze(0)
                c = c.unsqueeze(0) if c is not None else None
        if is_lstm:
            h, c = lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih,
                             self.bias_hh)
        else:
            h = _CELLS[self.mode](x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if unbatched:
            h = h.squeeze(0)
            c = c.squeeze(0) if c is not None else None
        return (h, c) if is_lstm else h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, bias, device, dtype)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)


class GRUCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)
