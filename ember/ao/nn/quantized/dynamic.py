"""Dynamically quantized modules (``torch.ao.nn.quantized.dynamic``): int8 weights,
float activations quantized per batch inside ``forward``, float outputs."""

from __future__ import annotations

import numpy as np

from .... import nn
from ...._quantized_pickle import CELL_PARAMS, LINEAR_PACKED, ScriptObject
from ...._tensor import Tensor, _make
from ....nn.modules.module import _load_plan
from ....nn.modules.rnn import RNNBase, _cell
from ....ops.quantized import QuantizedTensor, qint8, quantize_per_channel, quantize_per_tensor
from ._packed import PackedLinear

__all__ = ["Linear", "LSTM", "GRU", "CellParams", "PackedParameter"]


def quantize_weight(weight: Tensor, observer) -> QuantizedTensor:
    """``weight`` quantized with the parameters ``observer`` (which has seen it) gives,
    per tensor or per channel as the observer's scheme says (torch's ``_quantize_weight``)."""
    scale, zero_point = observer.calculate_qparams()
    if observer.qscheme.name.startswith("per_tensor"):
        return quantize_per_tensor(weight.detach().float(), float(scale._data[0]),
                                   int(zero_point._data[0]), observer.dtype)
    return quantize_per_channel(weight.detach().float(), scale._data.astype(np.float64),
                                zero_point._data.astype(np.int64), observer.ch_axis,
                                observer.dtype)


def _weight_observer(mod: nn.Module):
    from ...quantization.qconfig import default_dynamic_qconfig
    qconfig = getattr(mod, "qconfig", None) or default_dynamic_qconfig
    return qconfig.weight()


class LinearPackedParams(nn.Module):
    """Holds the packed weight and bias (torch's ``LinearPackedParams``); its state dict
    entry is ``_packed_params`` = ``(weight, bias)`` as torch's."""

    _version = 3  # torch's: its loader reads the state dict's version metadata

    def __init__(self, dtype=qint8):
        super().__init__()
        self.dtype = dtype
        self.packed: PackedLinear | None = None

    def set_weight_bias(self, weight: QuantizedTensor, bias: Tensor | None) -> None:
        self.packed = PackedLinear(weight, bias)

    def _weight_bias(self):
        return self.packed.weight, self.packed.bias

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "dtype"] = self.dtype
        destination[prefix + "_packed_params"] = self._weight_bias()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        self.dtype = state_dict.get(prefix + "dtype", self.dtype)
        key = prefix + "_packed_params"
        if key in state_dict:
            self.set_weight_bias(*state_dict[key])
        elif strict:
            missing_keys.append(key)
        super()._load_from_state_dict(
            {k: v for k, v in state_dict.items() if k not in (prefix + "dtype", key)}, prefix,
            local_metadata, False, missing_keys, unexpected_keys, error_msgs)

    def __repr__(self) -> str:
        return repr(self._weight_bias())


class Linear(nn.Module):
    """``torch.ao.nn.quantized.dynamic.Linear``: ``y = x @ W.T + b`` with W int8 (per
    tensor or per channel, symmetric) and x quantized to 7-bit uint8 per call."""

    _FLOAT_MODULE = nn.Linear
    _version = 4  # torch's (older versions kept weight/bias outside ``_packed_params``)

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype=qint8) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bias = _make(np.zeros(out_features, np.float32)) if bias_ else None
        weight = quantize_per_tensor(_make(np.zeros((out_features, in_features), np.float32)),
                                     1.0, 0, qint8)
        self._packed_params = LinearPackedParams(dtype)
        self._packed_params.set_weight_bias(weight, bias)
        self.version = 4
        self.register_buffer("scale", _make(np.array(1.0, np.float32)))
        self.register_buffer("zero_point", _make(np.array(0, np.int64)))

    def forward(self, x: Tensor) -> Tensor:
        return self._packed_params.packed.linear_dynamic(x, reduce_range=True)

    def weight(self) -> QuantizedTensor:
        return self._packed_params.packed.weight

    def bias(self) -> Tensor | None:
        return self._packed_params.packed.bias

    def set_weight_bias(self, w: QuantizedTensor, b: Tensor | None) -> None:
        self._packed_params.set_weight_bias(w, b)

    def _get_name(self) -> str:
        return "DynamicQuantizedLinear"

    def __repr__(self) -> str:  # torch hides the packed parameters
        return f"{self._get_name()}({self.extra_repr()})"

    def extra_repr(self) -> str:
        qscheme = self.weight().qscheme()
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"dtype={self._packed_params.dtype}, qscheme={qscheme}")

    @classmethod
    def from_float(cls, mod: nn.Module, use_precomputed_fake_quant: bool = False) -> Linear:
        """The quantized twin of a float ``nn.Linear`` (its qconfig's weight observer)."""
        if not isinstance(mod, nn.Linear):
            raise AssertionError(f"nn.quantized.dynamic.Linear.from_float only works for "
                                 f"nn.Linear, got {type(mod).__name__}")
        observer = _weight_observer(mod)
        if observer.dtype is not qint8:
            raise RuntimeError(f"Unsupported dtype specified for dynamic quantized Linear: "
                               f"{observer.dtype}")
        observer(mod.weight)
        qlinear = cls(mod.in_features, mod.out_features, dtype=observer.dtype)
        qlinear.set_weight_bias(quantize_weight(mod.weight, observer),
                                None if mod.bias is None else mod.bias.detach())
        return qlinear


class CellParams:
    """One layer's and direction's packed weights (torch's ``CellParamsBase`` of kind
    ``quantized_dynamic``): the input and hidden projections, each an int8 weight with its
    float bias, and whether activations are quantized to 7 bits (``reduce_range``)."""

    def __init__(self, ih: PackedLinear, hh: PackedLinear, reduce_range: bool = True):
        self.ih, self.hh, self.reduce_range = ih, hh, reduce_range

    def to_script_object(self) -> ScriptObject:
        """torch's serialized form: ``("quantized_dynamic", [bias_ih, bias_hh], [],
        [reduce_range], [packed ih, packed hh])`` (zero biases where the layer has none:
        torch's cell always holds two)."""
        def bias(p: PackedLinear) -> Tensor:
            return p.bias if p.bias is not None else _make(p.bias_arr.copy())
        packed = [ScriptObject(LINEAR_PACKED, (p.weight, p.bias)) for p in (self.ih, self.hh)]
        return ScriptObject(CELL_PARAMS, ("quantized_dynamic", [bias(self.ih), bias(self.hh)],
                                          [], [int(self.reduce_range)], packed))

    @classmethod
    def from_script_object(cls, obj) -> CellParams:
        """The cell a checkpoint's ``CellParamsBase`` object describes (int8 kind only)."""
        if not isinstance(obj, ScriptObject) or getattr(obj, "qualified_name", None) != \
                CELL_PARAMS:
            raise TypeError(f"expected a {CELL_PARAMS} object, got {obj!r}")
        kind, _, _, ints, packed = obj.state
        if kind != "quantized_dynamic" or len(packed) != 2:
            raise RuntimeError(f"ember's dynamic quantized LSTM/GRU holds int8 cell params "
                               f"(kind 'quantized_dynamic'), got kind {kind!r}")
        ih, hh = (PackedLinear(*p.state) for p in packed)
        return cls(ih, hh, bool(ints[0]) if ints else False)  # torch: no ints, no reduction


class PackedParameter(nn.Module):
    """Holds one ``CellParams`` (torch's ``PackedParameter``); its state dict entry
    ``param`` is the cell's ``torch.ScriptObject`` form."""

    def __init__(self, param: CellParams):
        super().__init__()
        self.param = param

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "param"] = self.param.to_script_object()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        key = prefix + "param"
        if key in state_dict:
            try:
                cell = CellParams.from_script_object(state_dict[key])
            except (TypeError, RuntimeError) as exc:
                error_msgs.append(f"While copying {key}: {exc}")
            else:
                shapes = [tuple(p.weight.shape) for p in (cell.ih, cell.hh)]
                want = [tuple(p.weight.shape) for p in (self.param.ih, self.param.hh)]
                if shapes != want:
                    error_msgs.append(f"size mismatch for {key}: copying weights of shapes "
                                      f"{shapes} from checkpoint, the shapes in current model "
                                      f"are {want}.")
                else:
                    _load_plan.get().append(lambda: setattr(self, "param", cell))
        elif strict:
            missing_keys.append(key)
        super()._load_from_state_dict({k: v for k, v in state_dict.items() if k != key},
                                      prefix, local_metadata, False, missing_keys,
                                      unexpected_keys, error_msgs)


class _RNNBase(RNNBase):
    """LSTM/GRU with int8 weights (``torch.ao.nn.quantized.dynamic.LSTM``/``GRU``).

    The float module's forward (shapes, hidden states, packing, directions, layers) is
    reused. As in torch's quantized LSTM, the input projection runs once over the whole
    sequence (one activation scale for all steps) and the hidden projection once per
    step (that step's hidden state's range). The weights are ``_all_weight_values``, one
    ``PackedParameter`` per layer and direction, so the state dict has torch's keys
    (``_all_weight_values.<i>.param``) and values."""

    _FLOAT_MODULE: type = RNNBase
    _version = 2  # torch's: cells with reduce_range

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=qint8) -> None:
        """Random weights (the float module's initialisation), quantized per tensor."""
        if dtype is not qint8:
            raise RuntimeError(f"Unsupported dtype for dynamic RNN quantization: {dtype}")
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional)
        self._quantize_weights(self, lambda: _weight_observer(self))

    def _quantize_weights(self, mod: RNNBase, make_observer) -> None:
        """Replace this module's weights by ``mod``'s float ones quantized, each weight
        through its own observer from ``make_observer()``."""
        cells = []
        for layer in range(mod.num_layers):
            for d in range(2 if mod.bidirectional else 1):
                w_ih, w_hh, b_ih, b_hh, _ = RNNBase._weights(mod, layer, d)  # float ones
                packed = []
                for w, b in ((w_ih, b_ih), (w_hh, b_hh)):
                    observer = make_observer()
                    observer(w)
                    packed.append(PackedLinear(quantize_weight(w, observer),
                                               None if b is None else b.detach()))
                cells.append(PackedParameter(CellParams(*packed)))
        self._parameters.clear()
        self._flat_weights_names, self._all_weights = [], []
        self.dtype = qint8
        self._all_weight_values = nn.ModuleList(cells)

    def _weights(self, layer: int, direction: int) -> CellParams:
        return self._all_weight_values[layer * (2 if self.bidirectional else 1) +
                                       direction].param

    def _run_direction(self, x: Tensor, cell: CellParams, h: Tensor, c, reverse: bool, alive):
        import ember
        xw = cell.ih.linear_dynamic(x, cell.reduce_range)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for t in steps:
            h_new, c_new = _cell(self.mode, xw[t], cell.hh.linear_dynamic(h, cell.reduce_range),
                                 h, c)
            if alive is not None:
                h_new = ember.where(alive[t], h_new, h)
                c_new = ember.where(alive[t], c_new, c) if c is not None else None
            h, c = h_new, c_new
            outputs[t] = h
        return ember.stack(outputs), h, c

    def _get_name(self) -> str:
        return "DynamicQuantized" + self._FLOAT_MODULE.__name__

    def __repr__(self) -> str:  # torch hides the packed weights
        return f"{self._get_name()}({self.extra_repr()})"

    @classmethod
    def from_float(cls, mod: RNNBase, use_precomputed_fake_quant: bool = False) -> _RNNBase:
        """The quantized twin of a float LSTM/GRU: each weight through its own observer."""
        if type(mod) is not cls._FLOAT_MODULE:
            raise AssertionError(f"nn.quantized.dynamic.{cls.__name__}.from_float only works "
                                 f"for nn.{cls._FLOAT_MODULE.__name__}")
        if mod.proj_size:
            raise NotImplementedError("dynamic quantization of LSTM with proj_size")
        q = cls.__new__(cls)
        nn.Module.__init__(q)
        for name in ("mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first",
                     "dropout", "bidirectional", "proj_size"):
            setattr(q, name, getattr(mod, name))
        q._quantize_weights(mod, lambda: _weight_observer(mod))
        q.eval()
        return q


class LSTM(_RNNBase):
    """``torch.ao.nn.quantized.dynamic.LSTM``."""

    _FLOAT_MODULE = nn.LSTM

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(_RNNBase):
    """``torch.ao.nn.quantized.dynamic.GRU``."""

    _FLOAT_MODULE = nn.GRU

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("GRU", *args, **kwargs)
