"""ember.explain against Captum: the same model and weights in torch and in ember, the same
attribution call, the same numbers (float64); plus the properties the methods promise
(completeness of integrated gradients, SmoothGrad's mean and variance)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("captum")

import torch
from captum import attr as captum_attr

import ember
import ember.explain as ex


def _net(lib):
    """conv(1->4) - tanh - maxpool - linear(36->5), written once for torch and ember."""
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(36, 5)

        def forward(self, x, scale=1.0):
            h = F.max_pool2d(lib.tanh(self.conv(x)), 2)
            return self.fc(h.flatten(1)) * scale

    return Net().double()


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    t = _net(torch)
    e = _net(ember)
    e.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy())
                       for k, v in t.state_dict().items()})
    return t, e


@pytest.fixture(scope="module")
def data():
    x = np.random.default_rng(0).normal(size=(3, 1, 6, 6))
    return torch.from_numpy(x), ember.from_numpy(x.copy())


def _close(got, want, atol=1e-10):
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert isinstance(g, ember.Tensor)
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy().astype(np.float64),
                                   rtol=1e-7, atol=atol)


TARGETS = [3, [0, 4, 2], "tensor"]


def _target(spec, lib):
    return lib.tensor([1, 0, 4]) if spec == "tensor" else spec


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("use_abs", [True, False])
def test_saliency(nets, data, target, use_abs):
    (tm, em), (tx, ex_) = nets, data
    want = captum_attr.Saliency(tm).attribute(tx, target=_target(target, torch), abs=use_abs)
    got = ex.Saliency(em).attribute(ex_, target=_target(target, ember), abs=use_abs)
    _close(got, want)
    assert not ex_.requires_grad and ex_.grad is None  # the caller's input is left alone


@pytest.mark.parametrize("target", TARGETS)
def test_input_x_gradient(nets, data, target):
    (tm, em), (tx, ex_) = nets, data
    want = captum_attr.InputXGradient(tm).attribute(tx, target=_target(target, torch))
    _close(ex.InputXGradient(em).attribute(ex_, target=_target(target, ember)), want)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_left",
                                    "riemann_right", "riemann_middle"])
@pytest.mark.parametrize("baseline", [None, 0.25, "tensor"])
def test_integrated_gradients(nets, data, method, baseline):
    (tm, em), (tx, ex_) = nets, data
    base = np.linspace(-1, 1, 36).reshape(1, 1, 6, 6)
    bt, be = (torch.from_numpy(base), ember.from_numpy(base)) if baseline == "tensor" else \
        (baseline, baseline)
    want, wdelta = captum_attr.IntegratedGradients(tm).attribute(
        tx, baselines=bt, target=2, n_steps=7, method=method, return_convergence_delta=True)
    got, gdelta = ex.IntegratedGradients(em).attribute(
        ex_, baselines=be, target=2, n_steps=7, method=method, return_convergence_delta=True)
    # Captum multiplies by step sizes rounded to float32: a relative 1e-7 difference.
    _close(got, want, atol=1e-7)
    _close(gdelta, wdelta, atol=1e-6)


def test_integrated_gradients_batching_and_no_multiply(nets, data):
    (tm, em), (tx, ex_) = nets, data
    target = [1, 2, 3]
    want = captum_attr.IntegratedGradients(tm, multiply_by_inputs=False).attribute(
        tx, target=target, n_steps=10, internal_batch_size=7)
    got = ex.IntegratedGradients(em, multiply_by_inputs=False).attribute(
        ex_, target=target, n_steps=10, internal_batch_size=7)
    _close(got, want, atol=1e-7)
    full = ex.IntegratedGradients(em, multiply_by_inputs=False).attribute(
        ex_, target=target, n_steps=10)
    _close(got, full)


def test_integrated_gradients_completeness(nets, data):
    """On a smooth model (average pooling: no kinks) Gauss-Legendre is all but exact."""
    _, net = nets
    _, x = data
    em = lambda t: net.fc(ember.nn.functional.avg_pool2d(ember.tanh(net.conv(t)), 2).flatten(1))
    base = ember.full_like(x, -0.3)
    attr, delta = ex.IntegratedGradients(em).attribute(x, baselines=base, target=4, n_steps=64,
                                                       return_convergence_delta=True)
    with ember.no_grad():
        gap = (em(x)[:, 4] - em(base)[:, 4]).numpy()
    sums = attr.numpy().reshape(3, -1).sum(1)
    np.testing.assert_allclose(delta.numpy(), sums - gap, rtol=1e-9, atol=1e-12)
    assert np.abs(delta.numpy()).max() < 1e-9 * np.abs(gap).max()
    np.testing.assert_allclose(sums, gap, rtol=1e-9)
    _, coarse = ex.IntegratedGradients(em).attribute(x, baselines=base, target=4, n_steps=2,
                                                     method="riemann_left",
                                                     return_convergence_delta=True)
    assert np.abs(coarse.numpy()).max() > 100 * np.abs(delta.numpy()).max()


def test_multiple_inputs_and_forward_args(data):
    def fwd(lib):
        return lambda a, b, w: lib.stack([lib.tanh((a * b).flatten(1) * w).sum(1),
                                          ((a ** 2).flatten(1) * w).sum(1)], 1)

    tx, ex_ = data
    y = np.random.default_rng(5).normal(size=(3, 1, 6, 6))
    w = np.random.default_rng(6).normal(size=(3, 36))  # per example: expanded with the batch
    tin, ein = (tx, torch.from_numpy(y)), (ex_, ember.from_numpy(y))
    targs, eargs = (torch.from_numpy(w),), (ember.from_numpy(w),)
    for name in ("Saliency", "InputXGradient"):
        want = getattr(captum_attr, name)(fwd(torch)).attribute(
            tin, target=1, additional_forward_args=targs)
        got = getattr(ex, name)(fwd(ember)).attribute(ein, target=1,
                                                      additional_forward_args=eargs)
        assert isinstance(got, tuple)
        _close(got, want)
    want = captum_attr.IntegratedGradients(fwd(torch)).attribute(
        tin, baselines=(0.5, torch.zeros(1, 1, 6, 6, dtype=torch.float64)), target=0,
        additional_forward_args=targs, n_steps=5)
    got = ex.IntegratedGradients(fwd(ember)).attribute(
        ein, baselines=(0.5, ember.zeros(1, 1, 6, 6, dtype=ember.float64)), target=0,
        additional_forward_args=eargs, n_steps=5)
    _close(got, want, atol=1e-7)


@pytest.mark.parametrize("window,stride,per_eval,baseline", [
    ((1, 2, 2), 1, 1, None),
    ((1, 3, 3), (1, 2, 2), 4, 0.5),  # the last windows are cut at the border
    ((1, 6, 1), 1, 2, "tensor"),
])
def test_occlusion(nets, data, window, stride, per_eval, baseline):
    (tm, em), (tx, ex_) = nets, data
    bt, be = (tx.mean(0, keepdim=True), ex_.mean(0, keepdim=True)) if baseline == "tensor" \
        else (baseline, baseline)
    want = captum_attr.Occlusion(tm).attribute(tx, window, strides=stride, baselines=bt,
                                               target=[0, 1, 2],
                                               perturbations_per_eval=per_eval)
    got = ex.Occlusion(em).attribute(ex_, window, strides=stride, baselines=be,
                                     target=[0, 1, 2], perturbations_per_eval=per_eval)
    assert got.dtype == ember.float64
    _close(got, want, atol=1e-6)  # Captum divides in float32


def test_occlusion_errors(nets, data):
    _, em = nets
    _, x = data
    with pytest.raises(AssertionError):
        ex.Occlusion(em).attribute(x, (1, 7, 7), target=0)
    with pytest.raises(AssertionError):
        ex.Occlusion(em).attribute(x, (1, 2, 2), strides=(1, 3, 3), target=0)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("summation", [True, False])
def test_layer_grad_cam(nets, data, relu, summation):
    (tm, em), (tx, ex_) = nets, data
    want = captum_attr.LayerGradCam(tm, tm.conv).attribute(
        tx, target=torch.tensor([4, 1, 0]), relu_attributions=relu,
        attr_dim_summation=summation)
    got = ex.LayerGradCam(em, em.conv).attribute(
        ex_, target=ember.tensor([4, 1, 0]), relu_attributions=relu,
        attr_dim_summation=summation)
    _close(got, want)
    assert ex.GradCAM is ex.LayerGradCam


def test_layer_grad_cam_on_layer_input_and_interpolate(nets, data):
    (tm, em), (tx, ex_) = nets, data
    want = captum_attr.LayerGradCam(tm, tm.fc).attribute(tx, target=2,
                                                        attribute_to_layer_input=True)
    got = ex.LayerGradCam(em, em.fc).attribute(ex_, target=2, attribute_to_layer_input=True)
    _close(got, want)
    cam = captum_attr.LayerGradCam(tm, tm.conv).attribute(tx, target=2)
    want = captum_attr.LayerAttribution.interpolate(cam, (12, 12))
    got = ex.LayerAttribution.interpolate(ex.LayerGradCam(em, em.conv).attribute(ex_, target=2),
                                          (12, 12))
    _close(got, want)


class _SharedNoise:
    """The same Gaussian noise, in the same order, for Captum's NoiseTunnel and ours."""

    def __init__(self, lib):
        self.rng, self.lib = np.random.default_rng(7), lib

    def __call__(self, x, stdev, k):
        x = x.repeat_interleave(k, dim=0)
        return x + self.lib.from_numpy(self.rng.normal(0, stdev, tuple(x.shape)))


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
@pytest.mark.parametrize("method", ["Saliency", "IntegratedGradients"])
def test_noise_tunnel_with_identical_noise(nets, data, monkeypatch, nt_type, method):
    (tm, em), (tx, ex_) = nets, data
    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input",
                        staticmethod(_SharedNoise(torch)))
    monkeypatch.setattr(ex.NoiseTunnel, "_add_noise", staticmethod(_SharedNoise(ember)))
    kwargs = dict(nt_type=nt_type, nt_samples=5, nt_samples_batch_size=2, stdevs=0.3)
    if method == "IntegratedGradients":
        kwargs.update(n_steps=4, return_convergence_delta=True)
    want = captum_attr.NoiseTunnel(getattr(captum_attr, method)(tm)).attribute(
        tx, target=torch.tensor([0, 3, 1]), **kwargs)
    got = ex.NoiseTunnel(getattr(ex, method)(em)).attribute(
        ex_, target=ember.tensor([0, 3, 1]), **kwargs)
    if method == "IntegratedGradients":
        (got, gdelta), (want, wdelta) = got, want
        assert tuple(gdelta.shape) == (15,)
        _close(gdelta, wdelta, atol=1e-6)
    _close(got, want, atol=1e-7)


def test_noise_tunnel_statistics():
    """For f(x) = sum x^2 the gradient at x + noise is 2x + 2 noise: SmoothGrad tends to
    2x and VarGrad to 4 stdev^2."""
    ember.manual_seed(0)
    x = ember.tensor([[0.5, -1.0, 2.0], [0.0, 1.5, -0.25]], dtype=ember.float64)
    f = lambda t: (t * t).sum(1)
    sg = ex.NoiseTunnel(ex.Saliency(f))
    n, sd = 4000, 0.5
    mean = sg.attribute(x, nt_samples=n, stdevs=sd, abs=False)
    np.testing.assert_allclose(mean.numpy(), 2 * x.numpy(), atol=6 * 2 * sd / n ** 0.5)
    var = sg.attribute(x, nt_type="vargrad", nt_samples=n, stdevs=sd, abs=False)
    np.testing.assert_allclose(var.numpy(), 4 * sd ** 2, rtol=0.15)
    sq = sg.attribute(x, nt_type="smoothgrad_sq", nt_samples=n, stdevs=sd, abs=False)
    np.testing.assert_allclose(sq.numpy(), 4 * x.numpy() ** 2 + 4 * sd ** 2, rtol=0.15,
                               atol=0.1)
    with pytest.raises(AssertionError):
        sg.attribute(x, nt_type="median")


def test_target_errors(nets, data):
    _, em = nets
    _, x = data
    with pytest.raises(AssertionError, match="Target not provided"):
        ex.Saliency(em).attribute(x)
    with pytest.raises(AssertionError):
        ex.Saliency(em).attribute(x, target=[1, 2])


def test_not_imported_by_import_ember():
    import subprocess
    import sys
    code = "import sys, ember; print('ember.explain' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def explain_digits(monkeypatch):
    import importlib
    import os
    examples = os.path.join(os.path.dirname(__file__), os.pardir, "examples")
    monkeypatch.syspath_prepend(os.path.abspath(examples))
    return importlib.import_module("explain_digits")


def test_example_png_writer_roundtrip(explain_digits, tmp_path):
    from PIL import Image
    rgb = np.random.default_rng(8).random((5, 7, 3))
    explain_digits.write_png(rgb, str(tmp_path / "x.png"))
    got = np.asarray(Image.open(tmp_path / "x.png"))
    np.testing.assert_array_equal(got, (rgb * 255).round().astype(np.uint8))


def test_example_heatmap_grid(explain_digits, tmp_path):
    from PIL import Image
    pytest.importorskip("matplotlib")
    ember.manual_seed(0)
    model = explain_digits.DigitsCNN()
    images = ember.rand(3, 1, 8, 8)
    path = explain_digits.save_heatmap(model, images, [1, 2, 3], str(tmp_path / "grid.png"))
    w, h = Image.open(path).size
    assert (w, h) == (800, 600)  # 4 panels of 2 inches by 3 rows of 2 inches, 100 dpi
