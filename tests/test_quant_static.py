"""Static int8 (prepare/calibrate/convert) and quantization-aware training: fake
quantization against torch's, BN folding against the unfused module, and accuracy on
scikit-learn's digits (static within 0.5 points of float, QAT within 0.3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
import ember.nn.functional as F
from tests.test_quant_dynamic import accuracy, digits

aq = ember.ao.quantization


def test_fake_quantize_equals_torch_values_and_straight_through_gradient():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(500) * 3).astype(np.float32)
    t = torch.from_numpy(x).requires_grad_()
    want = torch.fake_quantize_per_tensor_affine(t, 0.05, 10, 0, 127)
    want.sum().backward()
    e = ember.tensor(x, requires_grad=True)
    got = aq.fake_quantize_per_tensor_affine(e, 0.05, 10, 0, 127)
    got.sum().backward()
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=1e-6)
    np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())  # 1 inside, 0 clamped


def test_fuse_conv_bn_relu_equals_unfused_eval():
    ember.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    model.train()
    model(ember.randn(8, 3, 6, 6))  # running statistics that are not the defaults
    model.eval()
    fused = aq.fuse_modules(model, [["0", "1", "2"]])
    assert isinstance(fused[0], ember.ao.nn.intrinsic.ConvReLU2d)
    assert isinstance(fused[1], nn.Identity) and isinstance(fused[2], nn.Identity)
    x = ember.randn(2, 3, 6, 6)
    with ember.no_grad():
        np.testing.assert_allclose(fused(x).numpy(), model(x).numpy(), atol=1e-5)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = aq.QuantStub(), aq.DeQuantStub()
        self.fc1, self.relu1 = nn.Linear(64, 128), nn.ReLU()
        self.fc2, self.relu2 = nn.Linear(128, 64), nn.ReLU()
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.relu2(self.fc2(self.relu1(self.fc1(self.quant(x)))))
        return self.dequant(self.fc3(x))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = aq.QuantStub(), aq.DeQuantStub()
        self.conv1, self.relu1 = nn.Conv2d(1, 8, 3, padding=1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = self.relu1(self.conv1(self.quant(x)))
        x = F.max_pool2d(self.relu2(self.conv2(x)), 2)
        return self.dequant(self.fc(x.flatten(1)))


FUSE = {MLP: [["fc1", "relu1"], ["fc2", "relu2"]],
        CNN: [["conv1", "relu1"], ["conv2", "relu2"]]}


def _train(model, x, y, steps: int, lr: float = 1e-2):
    opt = ember.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def _data(cls):
    (x, y), (xt, yt) = digits()
    if cls is CNN:
        x, xt = x.reshape(-1, 1, 8, 8), xt.reshape(-1, 1, 8, 8)
    return x, y, xt, yt


@pytest.mark.parametrize("cls,steps", [(MLP, 60), (CNN, 40)])
def test_static_int8_accuracy_on_digits(cls, steps):
    x, y, xt, yt = _data(cls)
    ember.manual_seed(0)
    model = _train(cls(), x, y, steps)
    float_acc = accuracy(model, xt, yt)
    assert float_acc > 0.9
    model.qconfig = aq.get_default_qconfig("x86")
    prepared = aq.prepare(aq.fuse_modules(model, FUSE[cls]))
    with ember.no_grad():
        prepared(x)  # calibration
    quantized = aq.convert(prepared)
    assert type(quantized.quant).__name__ == "Quantize"
    assert quantized.fc.weight().is_quantized if cls is CNN else quantized.fc3.weight().is_quantized
    with ember.no_grad():
        assert quantized.quant(xt[:2]).is_quantized
    assert abs(accuracy(quantized, xt, yt) - float_acc) <= 0.005


def test_qat_accuracy_on_digits_and_convert():
    x, y, xt, yt = _data(MLP)
    ember.manual_seed(0)
    model = _train(MLP(), x, y, 50)
    float_acc = accuracy(model, xt, yt)
    model.qconfig = aq.get_default_qat_qconfig("x86")
    qat = aq.prepare_qat(aq.fuse_modules(model, FUSE[MLP]))
    assert type(qat.fc1).__name__ == "LinearReLU" and hasattr(qat.fc1, "weight_fake_quant")
    _train(qat, x, y, 15, lr=2e-3)  # fine-tune with fake-quantized weights and outputs
    qat_acc = accuracy(qat.eval(), xt, yt)
    quantized = aq.convert(qat)
    assert type(quantized.fc1).__name__ == "LinearReLU"
    assert quantized.fc1._get_name() == "QuantizedLinearReLU"
    acc = accuracy(quantized, xt, yt)
    # the goal: converting after QAT loses at most 0.3 points (fine-tuning may gain)
    assert float_acc - acc <= 0.003
    # and the integer model predicts what the fake-quantized one did (one test image of slack)
    assert abs(acc - qat_acc) <= 1 / len(yt) + 1e-6


def test_learnable_fake_quantize_trains_its_scale():
    fq = aq.LearnableFakeQuantize(quant_min=0, quant_max=255, dtype=ember.quint8)
    x = ember.randn(256) * 2
    fq(x)  # the observer initialises scale and zero point
    aq.disable_observer(fq)
    before = fq.scale.detach().clone()
    opt = ember.optim.SGD(fq.parameters(), lr=1e-3)
    for _ in range(5):
        opt.zero_grad()
        ((fq(x) - x) ** 2).mean().backward()
        assert fq.scale.grad is not None and float(fq.scale.grad.abs().sum()) > 0
        opt.step()
    assert not np.array_equal(fq.scale.detach().numpy(), before.numpy())
