"""Quantized tensors and quantized models' state dicts in checkpoints, both directions:
ember's files load in torch (``torch.load(weights_only=True)``) into torch's quantized
model and give ember's outputs; torch's files load here; ember -> ember keeps the integers,
scales, zero points and axis exactly."""

from __future__ import annotations

import io
import pickle
import zipfile as zipfile_module

import numpy as np
import pytest
import torch

import ember
from ember._utils import _rebuild_qtensor
from tests.test_quant_dynamic import _step

pytestmark = [pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions"),
              pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated")]

eq, tq = ember.ao.quantization, torch.ao.quantization


def _ember_mlp(seed: int) -> ember.nn.Module:
    ember.manual_seed(seed)
    return ember.nn.Sequential(ember.nn.Linear(16, 32), ember.nn.ReLU(),
                               ember.nn.Linear(32, 8))


def _torch_mlp(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 8))


def _quantize_ember(model, per_channel: bool):
    cfg = eq.per_channel_dynamic_qconfig if per_channel else eq.default_dynamic_qconfig
    return eq.quantize_dynamic(model, {ember.nn.Linear: cfg}, dtype=ember.qint8)


def _quantize_torch(model, per_channel: bool):
    cfg = tq.per_channel_dynamic_qconfig if per_channel else tq.default_dynamic_qconfig
    return tq.quantize_dynamic(model, {torch.nn.Linear: cfg}, dtype=torch.qint8)


def _saved(save, obj) -> io.BytesIO:
    buf = io.BytesIO()
    save(obj, buf)
    buf.seek(0)
    return buf


def _assert_same_weights(e_model, t_model) -> None:
    for i in (0, 2):
        ew, tw = e_model[i].weight(), t_model[i].weight()
        assert ew.dtype.name == str(tw.dtype).removeprefix("torch.")
        assert ew.qscheme().name == str(tw.qscheme()).removeprefix("torch.")
        np.testing.assert_array_equal(ew.int_repr().numpy(), tw.int_repr().numpy())
        np.testing.assert_array_equal(ew.dequantize().numpy(), tw.dequantize().numpy())
        np.testing.assert_array_equal(e_model[i].bias().detach().numpy(),
                                      t_model[i].bias().detach().numpy())


def _assert_same_outputs(e_model, t_model) -> None:
    """Outputs within one activation quantisation step of the first layer (carried
    through), and in practice equal up to float rounding."""
    x = (np.random.default_rng(0).standard_normal((5, 16)) * 2).astype(np.float32)
    got = e_model(ember.tensor(x)).numpy()
    want = t_model(torch.from_numpy(x)).numpy()
    step = _step(x, e_model[0].weight().dequantize().numpy())
    bound = np.abs(e_model[2].weight().dequantize().numpy()) @ step
    assert np.all(np.abs(got - want) <= bound)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("per_channel", [False, True])
def test_ember_dynamic_state_dict_loads_in_torch(per_channel):
    e_model = _quantize_ember(_ember_mlp(0), per_channel)
    loaded = torch.load(_saved(ember.save, e_model.state_dict()), weights_only=True)
    t_model = _quantize_torch(_torch_mlp(1), per_channel)  # other weights, overwritten
    t_model.load_state_dict(loaded)
    assert loaded["0._packed_params.dtype"] is torch.qint8
    _assert_same_weights(e_model, t_model)
    _assert_same_outputs(e_model, t_model)


@pytest.mark.parametrize("per_channel", [False, True])
def test_torch_dynamic_state_dict_loads_in_ember(per_channel):
    t_model = _quantize_torch(_torch_mlp(0), per_channel)
    loaded = ember.load(_saved(torch.save, t_model.state_dict()), weights_only=True)
    e_model = _quantize_ember(_ember_mlp(1), per_channel)
    e_model.load_state_dict(loaded)
    assert loaded["2._packed_params.dtype"] is ember.qint8
    _assert_same_weights(e_model, t_model)
    _assert_same_outputs(e_model, t_model)


def _assert_identical(a, b) -> None:
    assert type(b) is type(a) and b.dtype is a.dtype and b.qscheme() is a.qscheme()
    assert b.shape == a.shape
    np.testing.assert_array_equal(b.int_repr().numpy(), a.int_repr().numpy())
    if a.qscheme() is ember.per_tensor_affine:
        assert (b.q_scale(), b.q_zero_point()) == (a.q_scale(), a.q_zero_point())
    else:
        np.testing.assert_array_equal(b.q_per_channel_scales().numpy(),
                                      a.q_per_channel_scales().numpy())
        np.testing.assert_array_equal(b.q_per_channel_zero_points().numpy(),
                                      a.q_per_channel_zero_points().numpy())
        assert b.q_per_channel_axis() == a.q_per_channel_axis()


def _quantized_tensors() -> dict:
    x = ember.tensor((np.random.default_rng(1).standard_normal((3, 4, 5)) * 3)
                     .astype(np.float32))
    scales = ember.tensor(np.array([0.05, 0.011, 0.3, 0.02], np.float64))
    return {
        "qint8": ember.quantize_per_tensor(x, 0.037, -3, ember.qint8),
        "quint8": ember.quantize_per_tensor(x, 0.05, 128, ember.quint8),
        "qint32": ember.quantize_per_tensor(x, 1e-4, 7, ember.qint32),
        "channel": ember.quantize_per_channel(x, scales, ember.tensor([0, 3, -2, 1]), 1,
                                              ember.qint8),
        "channel_u8": ember.quantize_per_channel(
            x, scales[:3], ember.tensor([128, 100, 0]), 0, ember.quint8),
        "view": ember.quantize_per_tensor(x, 0.05, 2, ember.qint8)[1:, ::2],
    }


def test_ember_round_trip_is_exact_and_matches_torch():
    tensors = _quantized_tensors()
    back = ember.load(_saved(ember.save, tensors), weights_only=True)
    for name, q in tensors.items():
        _assert_identical(q, back[name])
    in_torch = torch.load(_saved(ember.save, tensors), weights_only=True)
    for name, q in tensors.items():  # torch reads the same integers and parameters
        t = in_torch[name]
        np.testing.assert_array_equal(t.int_repr().numpy(), q.int_repr().numpy())
        np.testing.assert_array_equal(t.dequantize().numpy(), q.dequantize().numpy())
    again = ember.load(_saved(torch.save, in_torch), weights_only=True)
    for name, q in tensors.items():  # and torch's file of them gives them back exactly
        _assert_identical(q, again[name])


@pytest.mark.parametrize("zipfile", [True, False])  # torch's zip and legacy formats
def test_torch_quantized_tensors_load_exactly(zipfile):
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(2)) * 2
    want = {"t": torch.quantize_per_tensor(x, 0.02, 5, torch.quint8),
            "c": torch.quantize_per_channel(x, torch.tensor([0.1, 0.02, 0.03, 0.5],
                                                            dtype=torch.float64),
                                            torch.tensor([1, 0, -1, 2]), 0, torch.qint8)}
    got = ember.load(_saved(lambda obj, f: torch.save(
        obj, f, _use_new_zipfile_serialization=zipfile), want), weights_only=True)
    for name, t in want.items():
        np.testing.assert_array_equal(got[name].int_repr().numpy(), t.int_repr().numpy())
        np.testing.assert_array_equal(got[name].dequantize().numpy(), t.dequantize().numpy())
    assert got["c"].q_per_channel_axis() == 0


class _ConvNet(ember.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = eq.QuantStub(), eq.DeQuantStub()
        self.conv, self.relu = ember.nn.Conv2d(2, 4, 3, padding=1), ember.nn.ReLU()
        self.fc = ember.nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        x = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.fc(x.flatten(1)))


def _static_convnet(seed: int, calibration: ember.Tensor):
    ember.manual_seed(seed)
    model = _ConvNet().eval()
    model.qconfig = eq.get_default_qconfig("x86")
    prepared = eq.prepare(eq.fuse_modules(model, [["conv", "relu"]]))
    with ember.no_grad():
        prepared(calibration)
    return eq.convert(prepared)


class _TorchConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv, self.relu = torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU()
        self.fc = torch.nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        x = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.fc(x.flatten(1)))


def _torch_static_convnet(seed: int, calibration: torch.Tensor):
    torch.manual_seed(seed)
    model = _TorchConvNet().eval()
    model.qconfig = tq.get_default_qconfig("x86")
    prepared = tq.prepare(tq.fuse_modules(model, [["conv", "relu"]]))
    with torch.no_grad():
        prepared(calibration)
    return tq.convert(prepared)


def test_static_quantized_conv_model_round_trip():
    x = ember.randn(6, 2, 5, 5)
    model = _static_convnet(0, x)
    state = model.state_dict()
    assert state["conv.weight"].is_quantized
    other = _static_convnet(1, x * 3)
    other.load_state_dict(ember.load(_saved(ember.save, state), weights_only=True))
    for key in ("conv", "fc"):
        _assert_identical(getattr(model, key).weight(), getattr(other, key).weight())
    assert (other.quant.scale, other.quant.zero_point) == (model.quant.scale,
                                                           model.quant.zero_point)
    with ember.no_grad():
        np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())


def _assert_same_static_outputs(e_model, t_model, x: np.ndarray) -> None:
    """The same integers in the same layout: outputs within one output quantisation step
    (a float-rounding tie may requantize one step apart), most of them equal."""
    assert list(e_model.state_dict()) == list(t_model.state_dict())
    for key in ("conv", "fc"):
        np.testing.assert_array_equal(getattr(e_model, key).weight().int_repr().numpy(),
                                      getattr(t_model, key).weight().int_repr().numpy())
    with ember.no_grad():
        got = e_model(ember.tensor(x)).numpy()
    with torch.no_grad():
        want = t_model(torch.from_numpy(x)).numpy()
    assert np.all(np.abs(got - want) <= e_model.fc.scale * 1.001)
    assert np.mean(got == want) > 0.9


def test_static_conv_model_ember_to_torch_and_back():
    x = (np.random.default_rng(3).standard_normal((6, 2, 5, 5))).astype(np.float32)
    e_model = _static_convnet(0, ember.tensor(x))
    t_model = _torch_static_convnet(1, torch.from_numpy(x) * 3)
    t_model.load_state_dict(torch.load(_saved(ember.save, e_model.state_dict()),
                                       weights_only=True))
    _assert_same_static_outputs(e_model, t_model, x)
    t_model = _torch_static_convnet(2, torch.from_numpy(x))
    e_model = _static_convnet(3, ember.tensor(x) * 3)
    e_model.load_state_dict(ember.load(_saved(torch.save, t_model.state_dict()),
                                       weights_only=True))
    _assert_same_static_outputs(e_model, t_model, x)


def test_rebuild_qtensor_rejects_bad_input():
    from ember._quantized_pickle import QStorage
    storage = QStorage(np.arange(6, dtype=np.int8), ember.qint8)
    with pytest.raises(pickle.UnpicklingError, match="quantized storage"):
        _rebuild_qtensor(np.arange(6, dtype=np.int8), 0, (2, 3), (3, 1),
                         (ember.per_tensor_affine, 0.1, 0), False, None)
    with pytest.raises(ValueError, match="axis 2 out of range"):
        _rebuild_qtensor(storage, 0, (2, 3), (3, 1),
                         (ember.per_channel_affine, [0.1, 0.2], [0, 0], 2), False, None)
    with pytest.raises(ValueError, match="length must equal size"):
        _rebuild_qtensor(storage, 0, (2, 3), (3, 1),
                         (ember.per_channel_affine, [0.1], [0], 0), False, None)
    with pytest.raises(RuntimeError, match="does not fit"):
        _rebuild_qtensor(storage, 4, (2, 3), (3, 1),
                         (ember.per_tensor_affine, 0.1, 0), False, None)
    with pytest.raises(RuntimeError, match="qscheme"):
        _rebuild_qtensor(storage, 0, (2, 3), (3, 1),
                         (ember.per_tensor_symmetric, 0.1, 0), False, None)


def test_weights_only_stays_strict():
    """Allowing ``_rebuild_qtensor`` allows nothing else: a pickle that calls an
    unrelated global next to a quantized tensor is refused."""
    payload = _saved(ember.save, {"q": _quantized_tensors()["qint8"], "f": print})
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        ember.load(payload, weights_only=True)


# ---- dynamically quantized LSTM/GRU: torch.ScriptObject packed parameters ------------------

_RNN_CASES = [("LSTM", dict(num_layers=2, bidirectional=True), False),
              ("GRU", dict(batch_first=True), False), ("LSTM", {}, True)]  # True: per channel
_RNN_IDS = ["lstm", "gru", "lstm-per-channel"]


def _torch_qrnn(cls: str, kwargs: dict, seed: int, per_channel: bool = False):
    torch.manual_seed(seed)
    rnn = torch.nn.Sequential(getattr(torch.nn, cls)(6, 8, **kwargs))
    cfg = tq.per_channel_dynamic_qconfig if per_channel else tq.default_dynamic_qconfig
    return tq.quantize_dynamic(rnn, {getattr(torch.nn, cls): cfg}, dtype=torch.qint8)


def _ember_qrnn(cls: str, kwargs: dict, seed: int, per_channel: bool = False):
    ember.manual_seed(seed)
    rnn = ember.nn.Sequential(getattr(ember.nn, cls)(6, 8, **kwargs))
    cfg = eq.per_channel_dynamic_qconfig if per_channel else eq.default_dynamic_qconfig
    return eq.quantize_dynamic(rnn, {getattr(ember.nn, cls): cfg}, dtype=ember.qint8)


def _assert_same_rnn_outputs(e_model, t_model) -> None:
    """The same int8 weights and biases: the same outputs and final states (float
    rounding apart)."""
    x = np.random.default_rng(4).standard_normal((5, 3, 6)).astype(np.float32)
    e_out, e_h = e_model(ember.tensor(x))
    t_out, t_h = t_model(torch.from_numpy(x))
    np.testing.assert_allclose(e_out.numpy(), t_out.detach().numpy(), atol=1e-6)
    for a, b in zip(e_h if isinstance(e_h, tuple) else (e_h,),
                    t_h if isinstance(t_h, tuple) else (t_h,), strict=True):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("cls,kwargs,per_channel", _RNN_CASES, ids=_RNN_IDS)
def test_torch_dynamic_rnn_state_dict_loads_in_ember(cls, kwargs, per_channel):
    """torch's file (``CellParamsBase`` script objects) loads here, by default
    (``weights_only=True``: ember recognises exactly the packed-parameter objects)."""
    t_model = _torch_qrnn(cls, kwargs, 0, per_channel)
    loaded = ember.load(_saved(torch.save, t_model.state_dict()))
    e_model = _ember_qrnn(cls, kwargs, 1)  # per tensor: loading brings the scheme
    assert list(e_model.state_dict()) == list(t_model.state_dict()) == list(loaded)
    assert e_model.state_dict()._metadata == t_model.state_dict()._metadata
    assert str(e_model.load_state_dict(loaded)) == "<All keys matched successfully>"
    want = ember.per_channel_affine if per_channel else ember.per_tensor_affine
    assert e_model[0]._all_weight_values[0].param.hh.weight.qscheme() is want
    _assert_same_rnn_outputs(e_model, t_model)
    direct = ember.nn.Sequential(getattr(ember.ao.nn.quantized.dynamic, cls)(6, 8, **kwargs))
    assert str(direct.load_state_dict(loaded)) == "<All keys matched successfully>"
    _assert_same_rnn_outputs(direct, t_model)  # the constructor builds torch's layout


@pytest.mark.parametrize("cls,kwargs,per_channel", _RNN_CASES, ids=_RNN_IDS)
def test_ember_dynamic_rnn_state_dict_loads_in_torch(cls, kwargs, per_channel):
    """ember's file is torch's layout: ``torch.load(weights_only=False)`` gives script
    objects torch's quantized LSTM/GRU takes; torch's weights-only loader refuses them (as
    it refuses its own files of these) unless ``torch.ScriptObject`` is allowed."""
    e_model = _ember_qrnn(cls, kwargs, 0, per_channel)
    with pytest.raises(pickle.UnpicklingError, match="ScriptObject"):
        torch.load(_saved(ember.save, e_model.state_dict()), weights_only=True)
    loaded = torch.load(_saved(ember.save, e_model.state_dict()), weights_only=False)
    t_model = _torch_qrnn(cls, kwargs, 1)
    assert str(t_model.load_state_dict(loaded)) == "<All keys matched successfully>"
    _assert_same_rnn_outputs(e_model, t_model)
    with torch.serialization.safe_globals([torch.ScriptObject]):  # torch's opt-in
        loaded = torch.load(_saved(ember.save, e_model.state_dict()), weights_only=True)
    t_model = _torch_qrnn(cls, kwargs, 2)
    t_model.load_state_dict(loaded)
    _assert_same_rnn_outputs(e_model, t_model)
    back = _ember_qrnn(cls, kwargs, 2)  # and ember -> ember
    back.load_state_dict(ember.load(_saved(ember.save, e_model.state_dict())))
    for a, b in zip(back[0]._all_weight_values, e_model[0]._all_weight_values, strict=True):
        for pa, pb in ((a.param.ih, b.param.ih), (a.param.hh, b.param.hh)):
            _assert_identical(pb.weight, pa.weight)
            np.testing.assert_array_equal(pa.bias.numpy(), pb.bias.numpy())
        assert a.param.reduce_range is b.param.reduce_range is True


def _script_object_pickle(qualified_name: str, state_pickle: bytes,
                          builds: int = 1) -> io.BytesIO:
    """A checkpoint whose object is ``torch.ScriptObject`` built (BUILD ``builds`` times)
    with the given state."""
    build = state_pickle + pickle.dumps(qualified_name, 2)[2:-1] + b"\x86b"
    body = b"\x80\x02ctorch\nScriptObject\n)\x81" + build * builds + b"."
    buf = io.BytesIO()
    with zipfile_module.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", body)
    buf.seek(0)
    return buf


def test_script_objects_are_checked():
    """Only the two packed-parameter classes, with states of their structure, are read;
    a cell of another kind (fp16) is refused when loaded into a module."""
    state = pickle.dumps(("quantized_dynamic", [], [], [1], []), 2)[2:-1]
    obj = ember.load(_script_object_pickle("__torch__.torch.classes.rnn.CellParamsBase", state))
    assert obj.state == ("quantized_dynamic", [], [], [1], [])
    with pytest.raises(pickle.UnpicklingError, match="set twice"):
        ember.load(_script_object_pickle("__torch__.torch.classes.rnn.CellParamsBase", state, 2))
    with pytest.raises(pickle.UnpicklingError, match="reads only the quantized"):
        ember.load(_script_object_pickle("__torch__.Evil", state))
    with pytest.raises(pickle.UnpicklingError, match="must be"):
        ember.load(_script_object_pickle(
            "__torch__.torch.classes.quantized.LinearPackedParamsBase", state))
    bad_list = pickle.dumps(("quantized_dynamic", [1.5], [], [1], []), 2)[2:-1]
    with pytest.raises(pickle.UnpicklingError, match="must hold tensors"):
        ember.load(_script_object_pickle("__torch__.torch.classes.rnn.CellParamsBase",
                                         bad_list))
    fp16 = _script_object_pickle("__torch__.torch.classes.rnn.CellParamsBase",
                                 pickle.dumps(("quantized_dynamic_fp16", [], [], [], []), 2)[2:-1])
    model = _ember_qrnn("GRU", {}, 0)
    with pytest.raises(RuntimeError, match="quantized_dynamic_fp16"):
        model.load_state_dict({"0._all_weight_values.0.param": ember.load(fp16)})
