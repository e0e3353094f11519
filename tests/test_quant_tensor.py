"""Quantized tensors and observers against torch: the same integers, dequantized values,
scales and zero points on the same data, torch's printing and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")

QDTYPES = [("qint8", 0, -5), ("quint8", 3, 200), ("qint32", -1000, 1000)]


def _data(rng, n=4000):
    x = (rng.standard_normal(n) * rng.uniform(0.1, 50)).astype(np.float32)
    x[:200] = np.round(x[:200] * 4) / 4  # exact halves: the rounding ties
    return x


@pytest.mark.parametrize("name,zp_a,zp_b", QDTYPES)
def test_quantize_per_tensor_equals_torch(name, zp_a, zp_b):
    rng = np.random.default_rng(0)
    for scale, zp in ((0.1, zp_a), (0.25, zp_b), (float(rng.uniform(1e-3, 1)), zp_a)):
        x = _data(rng)
        t = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, getattr(torch, name))
        e = ember.quantize_per_tensor(ember.tensor(x), scale, zp, getattr(ember, name))
        assert e.dtype is getattr(ember, name) and e.is_quantized
        np.testing.assert_array_equal(e.int_repr().numpy(), t.int_repr().numpy())
        np.testing.assert_array_equal(e.dequantize().numpy(), t.dequantize().numpy())
        assert e.q_scale() == t.q_scale() and e.q_zero_point() == t.q_zero_point()
        assert e.int_repr().dtype == getattr(ember, str(t.int_repr().dtype)[6:])


@pytest.mark.parametrize("name", ["qint8", "quint8", "qint32"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_quantize_per_channel_equals_torch(name, axis):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 5, 3)).astype(np.float32) * 3
    n = w.shape[axis]
    scales = rng.uniform(0.01, 0.5, n)
    zps = rng.integers(-10, 10, n) + (100 if name == "quint8" else 0)
    t = torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(scales),
                                   torch.from_numpy(zps), axis, getattr(torch, name))
    e = ember.quantize_per_channel(ember.tensor(w), ember.tensor(scales), ember.tensor(zps),
                                   axis, getattr(ember, name))
    np.testing.assert_array_equal(e.int_repr().numpy(), t.int_repr().numpy())
    np.testing.assert_array_equal(e.dequantize().numpy(), t.dequantize().numpy())
    np.testing.assert_array_equal(e.q_per_channel_scales().numpy(),
                                  t.q_per_channel_scales().numpy())
    np.testing.assert_array_equal(e.q_per_channel_zero_points().numpy(),
                                  t.q_per_channel_zero_points().numpy())
    assert e.q_per_channel_axis() == t.q_per_channel_axis()
    assert repr(e.qscheme()).replace("ember", "torch") == repr(t.qscheme())
    with pytest.raises(RuntimeError, match="Channel axis out of range"):
        ember.quantize_per_channel(ember.tensor(w), ember.tensor(scales), ember.tensor(zps),
                                   -1, getattr(ember, name))


def test_printing_like_torch():
    x = np.array([[-1.0, 0.0, 1.25], [2.0, 3.5, -0.7]], np.float32)
    t = torch.quantize_per_tensor(torch.from_numpy(x), 0.1, 3, torch.quint8)
    e = ember.quantize_per_tensor(ember.tensor(x), 0.1, 3, ember.quint8)
    assert repr(e).replace("ember", "torch") == repr(t)
    scales, zps = np.array([0.1, 0.2]), np.array([0, 1])
    t = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scales),
                                   torch.from_numpy(zps), 0, torch.qint8)
    e = ember.quantize_per_channel(ember.tensor(x), ember.tensor(scales), ember.tensor(zps), 0,
                                   ember.qint8)
    assert repr(e).replace("ember", "torch") == repr(t)
    # a tensor scale prints with float32's digits, as torch
    t = torch.quantize_per_tensor(torch.from_numpy(x), torch.tensor(0.1), torch.tensor(2),
                                  torch.qint8)
    e = ember.quantize_per_tensor(ember.tensor(x), ember.tensor(0.1), ember.tensor(2),
                                  ember.qint8)
    assert repr(e).replace("ember", "torch") == repr(t)


def test_views_keep_the_quantization_and_arithmetic_is_torchs_error():
    x = np.arange(-6, 6, dtype=np.float32).reshape(3, 4) / 4
    t = torch.quantize_per_tensor(torch.from_numpy(x), 0.05, 10, torch.quint8)
    e = ember.quantize_per_tensor(ember.tensor(x), 0.05, 10, ember.quint8)
    for fn in (lambda a: a[1:], lambda a: a.view(4, 3), lambda a: a.t(), lambda a: a.reshape(-1),
               lambda a: a.clone(), lambda a: a.relu(), lambda a: a.permute(1, 0)[2]):
        got, want = fn(e), fn(t)
        assert got.is_quantized and got.shape == want.shape
        np.testing.assert_array_equal(got.int_repr().numpy(), want.int_repr().numpy())
        assert got.q_scale() == want.q_scale() and got.q_zero_point() == want.q_zero_point()
    with pytest.raises(NotImplementedError, match="QuantizedCPU"):
        e + e
    with pytest.raises(NotImplementedError, match="QuantizedCPU"):
        e.sum()


def test_dequantize_function_and_float_tensor():
    x = ember.tensor([0.5, -1.5])
    assert ember.dequantize(x) is x
    q = ember.quantize_per_tensor(x, 0.5, 0, ember.qint8)
    assert ember.dequantize([q])[0].tolist() == [0.5, -1.5]
    with pytest.raises(RuntimeError):
        ember.quantize_per_tensor(x, 0.5, 0, ember.int8)


def _observer_cases():
    for dt in ("quint8", "qint8"):
        for scheme in ("per_tensor_affine", "per_tensor_symmetric"):
            for rr in (False, True):
                kw = dict(reduce_range=rr)
                yield ("MinMaxObserver", dt, scheme, kw)
                yield ("MovingAverageMinMaxObserver", dt, scheme,
                       dict(kw, averaging_constant=0.3))
        for scheme in ("per_channel_affine", "per_channel_symmetric"):
            for axis in (0, 1):
                yield ("PerChannelMinMaxObserver", dt, scheme, dict(ch_axis=axis))
                yield ("MovingAveragePerChannelMinMaxObserver", dt, scheme,
                       dict(ch_axis=axis, averaging_constant=0.2))
    yield ("MinMaxObserver", "quint8", "per_tensor_affine", dict(quant_min=0, quant_max=127))
    yield ("MinMaxObserver", "qint8", "per_tensor_symmetric",
           dict(quant_min=-100, quant_max=100))


@pytest.mark.parametrize("cls,dt,scheme,kw", list(_observer_cases()),
                         ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(
                             f"{k}{x}" for k, x in v.items()))
def test_observer_qparams_equal_torch(cls, dt, scheme, kw):
    rng = np.random.default_rng(2)
    try:
        t_obs = getattr(torch.ao.quantization, cls)(dtype=getattr(torch, dt),
                                                     qscheme=getattr(torch, scheme), **kw)
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            getattr(ember.ao.quantization, cls)(dtype=getattr(ember, dt),
                                                qscheme=getattr(ember, scheme), **kw)
        return
    e_obs = getattr(ember.ao.quantization, cls)(dtype=getattr(ember, dt),
                                                 qscheme=getattr(ember, scheme), **kw)
    for i in range(4):
        x = (rng.standard_normal((5, 7, 3)) * (i + 1) + rng.uniform(-2, 2)).astype(np.float32)
        t_obs(torch.from_numpy(x))
        e_obs(ember.tensor(x))
    ts, tz = t_obs.calculate_qparams()
    es, ez = e_obs.calculate_qparams()
    np.testing.assert_array_equal(es.numpy(), ts.numpy())
    np.testing.assert_array_equal(ez.numpy(), tz.numpy())
    assert es.dtype == ember.float32 and ez.dtype == ember.int64 and es.shape == ts.shape
    np.testing.assert_array_equal(e_obs.min_val.numpy(), t_obs.min_val.numpy())


@pytest.mark.parametrize("dt,scheme,rr", [("quint8", "per_tensor_affine", False),
                                          ("quint8", "per_tensor_affine", True),
                                          ("qint8", "per_tensor_symmetric", False),
                                          ("qint8", "per_tensor_affine", False)])
@pytest.mark.parametrize("data", ["normal-outliers", "widening", "constant-then-spread"])
def test_histogram_observer_equals_torch(data, dt, scheme, rr):
    """The running histogram (re-binned as the range widens) and the L2 range search give
    torch's histogram, range, scale and zero point on the same batches."""
    rng = np.random.default_rng(3)
    kw = dict(dtype=getattr(torch, dt), qscheme=getattr(torch, scheme), reduce_range=rr)
    t_obs = torch.ao.quantization.HistogramObserver(bins=256, **kw)
    kw.update(dtype=getattr(ember, dt), qscheme=getattr(ember, scheme))
    e_obs = ember.ao.quantization.HistogramObserver(bins=256, **kw)
    for i in range(4):
        if data == "normal-outliers":
            x = rng.standard_normal(2000)
            x[rng.integers(0, 2000, 5)] *= 20
        elif data == "widening":
            x = rng.uniform(-1, 1, 1000) * (i + 1) + 0.3 * i
        else:
            x = np.full(500, 0.7) if i == 0 else rng.laplace(0, 1, 800)
        x = x.astype(np.float32)
        t_obs(torch.from_numpy(x))
        e_obs(ember.tensor(x))
    np.testing.assert_allclose(e_obs.histogram.numpy(), t_obs.histogram.numpy(), rtol=1e-5,
                               atol=1e-3)
    np.testing.assert_array_equal(e_obs.min_val.numpy(), t_obs.min_val.numpy())
    np.testing.assert_array_equal(e_obs.max_val.numpy(), t_obs.max_val.numpy())
    ts, tz = t_obs.calculate_qparams()
    es, ez = e_obs.calculate_qparams()
    np.testing.assert_array_equal(es.numpy(), ts.numpy())
    np.testing.assert_array_equal(ez.numpy(), tz.numpy())


def test_histogram_observer_rejects_per_channel_and_dynamic():
    with pytest.raises(NotImplementedError, match="qscheme"):
        ember.ao.quantization.HistogramObserver(qscheme=ember.per_channel_affine)
    with pytest.raises(NotImplementedError, match="dynamic"):
        ember.ao.quantization.HistogramObserver(is_dynamic=True)


# ---- the quantized primitives as ops (issue 13) ---------------------------------------------

def test_quantize_and_dequantize_are_captured_ops_not_constants():
    """``ember.compile`` records quantize/int_repr/dequantize as ops of one graph, and the
    compiled function follows new inputs (nothing was folded into a constant)."""
    def f(x):
        q = ember.quantize_per_channel(x, ember.tensor([0.1, 0.05, 0.2]),
                                       ember.tensor([0, 3, -2]), 1, ember.qint8)
        return q.dequantize() + q.int_repr().float()

    x = ember.randn(4, 3)
    report = ember.compile.explain(f, x)
    assert report.graph_break_count == 0
    assert report.ops_per_graph[0][:3] == ["quantize_per_channel", "dequantize", "int_repr"]
    compiled = ember.compile(f)
    for _ in range(2):
        x = ember.randn(4, 3)
        np.testing.assert_array_equal(compiled(x).numpy(), f(x).numpy())


def test_quantize_rejects_non_float32_as_torch():
    x = np.ones(3)
    with pytest.raises(RuntimeError, match="Quantize only works on Float Tensor, got Double"):
        ember.quantize_per_tensor(ember.tensor(x), 0.1, 0, ember.quint8)
    with pytest.raises(RuntimeError, match="Double"):
        torch.quantize_per_tensor(torch.from_numpy(x), 0.1, 0, torch.quint8)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_learnable_fake_quantize_gradients_equal_torch(per_channel):
    """Autograd through the learnable (LSQ) fake quantization: the input, scale and zero
    point gradients equal torch's (float32, its only dtype), ties and clamped values
    included."""
    rng = np.random.default_rng(3)
    x = ((rng.integers(-300, 300, (6, 40)) + 0.5) * 0.1).astype(np.float32)
    x[:, ::3] = rng.uniform(-30, 30, x[:, ::3].shape)
    g = rng.standard_normal(x.shape).astype(np.float32)
    n = 6 if per_channel else 1
    scale = rng.uniform(0.05, 0.2, n).astype(np.float32)
    zp = rng.uniform(-20, 140, n).astype(np.float32)
    grads = {}
    for lib in (torch, ember):
        args = [lib.tensor(a, requires_grad=True) for a in (x, scale, zp)]
        if per_channel:
            out = lib._fake_quantize_learnable_per_channel_affine(*args, 0, -128, 127, 0.5)
        else:
            out = lib._fake_quantize_learnable_per_tensor_affine(*args, -128, 127, 0.5)
        out.backward(lib.tensor(g))
        grads[lib] = [out.detach().numpy()] + [a.grad.numpy() for a in args]
    for got, want in zip(grads[ember], grads[torch], strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_learnable_fake_quantize_module_trains_as_torchs():
    """``LearnableFakeQuantize`` follows torch's ``_LearnableFakeQuantize``: the observer
    initialises scale and zero point, then SGD steps on them give torch's values."""
    from torch.ao.quantization import _learnable_fake_quantize as tfq
    from torch.ao.quantization import observer as tobs
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(512) * 2).astype(np.float32)
    t = tfq._LearnableFakeQuantize(tobs.MovingAverageMinMaxObserver, quant_min=0,
                                   quant_max=255, dtype=torch.quint8, use_grad_scaling=True)
    e = ember.ao.quantization.LearnableFakeQuantize(quant_min=0, quant_max=255,
                                                    dtype=ember.quint8, use_grad_scaling=True)
    t(torch.from_numpy(x))
    e(ember.tensor(x))
    t.enable_param_learning()
    ember.ao.quantization.disable_observer(e)
    start = e.scale.detach().numpy().copy()
    for fq, lib in ((t, torch), (e, ember)):
        opt = lib.optim.SGD(fq.parameters(), lr=0.05)
        xt = lib.tensor(x)
        for _ in range(4):
            opt.zero_grad()
            ((fq(xt) - xt) ** 2).sum().backward()
            opt.step()
    assert abs(float(e.scale.detach().numpy()[0] / start[0]) - 1) > 1e-3  # it did train
    np.testing.assert_allclose(e.scale.detach().numpy(), t.scale.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(e.zero_point.detach().numpy(), t.zero_point.detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_compile_captures_a_statically_quantized_model():
    """A converted (static int8) conv + linear model: quantize, the quantized conv and
    linear and dequantize are ops of one graph, and the compiled model follows new inputs
    (before, the layers' outputs would have been captured as constants)."""
    aq = ember.ao.quantization
    nn = ember.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = aq.QuantStub(), aq.DeQuantStub()
            self.conv, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
            self.fc = nn.Linear(4 * 6 * 6, 10)

        def forward(self, x):
            x = self.relu(self.conv(self.quant(x)))
            return self.dequant(self.fc(x.reshape(x.shape[0], -1)))

    ember.manual_seed(0)
    model = Net().eval()
    model.qconfig = aq.get_default_qconfig("x86")
    prepared = aq.prepare(aq.fuse_modules(model, [["conv", "relu"]]))
    with ember.no_grad():
        prepared(ember.randn(8, 3, 6, 6))
    quantized = aq.convert(prepared)
    report = ember.compile.explain(quantized, ember.randn(2, 3, 6, 6))
    assert report.graph_break_count == 0
    assert report.ops_per_graph == [["quantize_per_tensor", "quantized_conv2d", "reshape",
                                     "quantized_linear", "dequantize"]]
    compiled = ember.compile(quantized)
    for _ in range(2):
        x = ember.randn(2, 3, 6, 6)
        np.testing.assert_array_equal(compiled(x).numpy(), quantized(x).numpy())
