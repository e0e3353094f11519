"""Dynamic int8 quantization against torch's ``quantize_dynamic`` on the same weights:
the same int8 weights, outputs within one quantisation step (in practice float rounding),
the int8 kernel against its NumPy reference, and accuracy on scikit-learn's digits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import ember
from ember.ao.nn.quantized._packed import choose_qparams
from ember.ops import _kernels_quant as kq

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")


def _copy_weights(t_mod: torch.nn.Module, e_mod: ember.nn.Module) -> None:
    e_mod.load_state_dict({k: ember.tensor(v.detach().numpy())
                           for k, v in t_mod.state_dict().items()})


def _step(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """One activation quantisation step carried through the layer: the output change a
    one-step change of every input can cause."""
    a_scale = (max(x.max(), 0) - min(x.min(), 0)) / 127
    return a_scale * np.abs(weight).sum(axis=1)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("shape,in_f,out_f,bias", [
    ((3, 16), 16, 8, True), ((5, 64), 64, 33, True), ((2, 3, 40), 40, 7, False),
    ((17, 256), 256, 128, True), ((1, 100), 100, 4, True)])
def test_dynamic_linear_matches_torch(per_channel, shape, in_f, out_f, bias):
    torch.manual_seed(0)
    t_lin = torch.nn.Linear(in_f, out_f, bias=bias)
    e_lin = ember.nn.Linear(in_f, out_f, bias=bias)
    _copy_weights(t_lin, e_lin)
    tq_cfg = torch.ao.quantization.per_channel_dynamic_qconfig if per_channel else \
        torch.ao.quantization.default_dynamic_qconfig
    eq_cfg = ember.ao.quantization.per_channel_dynamic_qconfig if per_channel else \
        ember.ao.quantization.default_dynamic_qconfig
    t_q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(t_lin),
                                                 {torch.nn.Linear: tq_cfg})[0]
    e_q = ember.ao.quantization.quantize_dynamic(ember.nn.Sequential(e_lin),
                                                 {ember.nn.Linear: eq_cfg})[0]
    assert repr(e_q).replace("ember", "torch") == repr(t_q)
    tw, ew = t_q.weight(), e_q.weight()
    np.testing.assert_array_equal(ew.int_repr().numpy(), tw.int_repr().numpy())
    np.testing.assert_array_equal(ew.dequantize().numpy(), tw.dequantize().numpy())
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 2 + 0.3).astype(np.float32)
    want = t_q(torch.from_numpy(x)).numpy()
    got = e_q(ember.tensor(x)).numpy()
    assert got.shape == want.shape and got.dtype == np.float32
    # within one quantisation step (by far): only float rounding differs
    assert np.all(np.abs(got - want) <= _step(x.reshape(-1, in_f), ew.dequantize().numpy()))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # and a real approximation of the float layer
    np.testing.assert_allclose(got, e_lin(ember.tensor(x)).detach().numpy(), atol=0.1)
    with pytest.raises(RuntimeError, match="larger than or equal to 2"):
        e_q(ember.tensor(x.reshape(-1)[:in_f]))


def test_activation_qparams_equal_torchs():
    """fbgemm's choice of the per-batch activation scale and zero point."""
    rng = np.random.default_rng(3)
    for lo, hi in [(-1.0, 2.0), (0.5, 3.0), (-4.0, -0.1), (0.0, 0.0), (-1e-6, 2e-6),
                   (-3.3, 1e-3), *[tuple(sorted(rng.standard_normal(2) * 5)) for _ in range(20)]]:
        for reduce_range in (False, True):
            x = torch.tensor([lo, hi], dtype=torch.float32)
            t_scale, t_zp = torch._choose_qparams_per_tensor(x, reduce_range)
            scale, zp = choose_qparams(np.float32(lo), np.float32(hi), 0, 255, reduce_range)
            assert (float(scale), zp) == (np.float32(t_scale), t_zp), (lo, hi, reduce_range)


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 7, 5), (4, 64, 8), (9, 130, 13), (32, 96, 4)])
def test_int8_kernel_equals_numpy_reference(m, k, n):
    rng = np.random.default_rng(m * k * n)
    xq = rng.integers(0, 256, (m, k)).astype(np.uint8)
    wq = rng.integers(-128, 128, (n, k)).astype(np.int8)
    padded = np.zeros((-(-n // 4) * 4, k), np.int8)
    padded[:n] = wq
    col_sum = wq.astype(np.int32).sum(1, dtype=np.int32)
    w_scale = rng.uniform(0.01, 0.1, n).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    out = np.empty((m, n), np.float32)
    kq.qlinear_s8(xq, np.float32(0.02), np.int32(7), padded, col_sum, w_scale, bias, out)
    np.testing.assert_array_equal(
        out, kq.qlinear_s8_reference(xq, 0.02, 7, wq, col_sum, w_scale, bias))
    x = rng.standard_normal((m, k)).astype(np.float32)
    q = np.empty((m, k), np.uint8)
    kq.quantize_u8(x, np.float32(1 / np.float32(0.02)), np.float32(100), q)
    want = ember.quantize_per_tensor(ember.tensor(x), float(np.float32(0.02)), 100,
                                     ember.quint8).int_repr().numpy()
    np.testing.assert_array_equal(q, want)
    assert kq.min_max(x) == (x.min(), x.max())


@pytest.mark.parametrize("cls,kwargs", [("LSTM", dict(num_layers=2, bidirectional=True)),
                                        ("GRU", dict(batch_first=True)), ("LSTM", {})])
def test_dynamic_rnn_matches_torch(cls, kwargs):
    torch.manual_seed(1)
    t_rnn = getattr(torch.nn, cls)(6, 8, **kwargs)
    e_rnn = getattr(ember.nn, cls)(6, 8, **kwargs)
    _copy_weights(t_rnn, e_rnn)
    t_q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(t_rnn),
                                                 {getattr(torch.nn, cls)}, dtype=torch.qint8)
    e_q = ember.quantization.quantize_dynamic(ember.nn.Sequential(e_rnn),
                                              {getattr(ember.nn, cls)}, dtype=ember.qint8)
    assert repr(e_q).replace("ember", "torch") == repr(t_q)
    x = np.random.default_rng(0).standard_normal((5, 3, 6)).astype(np.float32)
    t_out, t_h = t_q(torch.from_numpy(x))
    e_out, e_h = e_q(ember.tensor(x))
    np.testing.assert_allclose(e_out.numpy(), t_out.detach().numpy(), atol=1e-6)
    t_h = t_h if isinstance(t_h, tuple) else (t_h,)
    e_h = e_h if isinstance(e_h, tuple) else (e_h,)
    for a, b in zip(e_h, t_h, strict=True):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), atol=1e-6)


def test_module_paths_and_state_dict_round_trip():
    lin = ember.ao.nn.quantized.dynamic.Linear(5, 3)
    assert ember.quantization.quantize_dynamic is ember.ao.quantization.quantize_dynamic
    float_lin = ember.nn.Linear(5, 3)
    q = ember.ao.nn.quantized.dynamic.Linear.from_float(float_lin)
    lin.load_state_dict(q.state_dict())
    x = ember.randn(4, 5)
    np.testing.assert_array_equal(lin(x).numpy(), q(x).numpy())
    assert list(q.state_dict()) == ["scale", "zero_point", "_packed_params.dtype",
                                    "_packed_params._packed_params"]


# ---- accuracy on scikit-learn's digits ----------------------------------------------------

def digits(seed: int = 0):
    """Digits scaled to [0, 1], split 75/25 (features, labels) x (train, test)."""
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    split = len(x) * 3 // 4
    tr, te = order[:split], order[split:]
    return (ember.tensor(x[tr]), ember.tensor(y[tr])), (ember.tensor(x[te]), ember.tensor(y[te]))


def accuracy(model, x, y) -> float:
    with ember.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def trained_mlp():
    (x, y), test = digits()
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Linear(64, 128), ember.nn.ReLU(),
                                ember.nn.Linear(128, 64), ember.nn.ReLU(),
                                ember.nn.Linear(64, 10))
    opt = ember.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        ember.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval(), test


def test_digits_mlp_accuracy_under_dynamic_int8():
    model, (x, y) = trained_mlp()
    float_acc = accuracy(model, x, y)
    assert float_acc > 0.95
    q = ember.ao.quantization.quantize_dynamic(model, {ember.nn.Linear}, dtype=ember.qint8)
    assert type(q[0]).__name__ == "Linear" and q[0]._get_name() == "DynamicQuantizedLinear"
    assert abs(accuracy(q, x, y) - float_acc) <= 0.005
