"""Convolutions and pooling against torch: values, gradients, gradcheck, modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.nn._layers_compare import compare, gradchecks

R = np.random.default_rng(0)
X2 = R.standard_normal((2, 4, 7, 6))

CONV2D = [
    ((6, 4, 3, 2), {}),
    ((6, 4, 3, 3), dict(stride=2, padding=1)),
    ((6, 2, 3, 2), dict(groups=2, dilation=(2, 1), padding=(2, 1))),
    ((6, 2, 2, 2), dict(padding="same", groups=2)),
    ((6, 2, 3, 2), dict(stride=(2, 3), groups=2, padding="valid")),
    ((4, 1, 3, 3), dict(groups=4, padding=1)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("wshape,kw", CONV2D)
def test_conv2d(wshape, kw, dtype):
    w, b = R.standard_normal(wshape), R.standard_normal(wshape[0])
    compare(lambda L, x, w, b: L.nn.functional.conv2d(x, w, b, **kw), [X2, w, b], dtype=dtype)


def test_conv1d_3d_unbatched_noncontig():
    x = np.ascontiguousarray(R.standard_normal((9, 4))).T  # (4, 9) transposed view
    compare(lambda L, x, w: L.nn.functional.conv1d(x, w, stride=2),
            [x, R.standard_normal((5, 4, 3))])
    compare(lambda L, x, w, b: L.nn.functional.conv3d(x, w, b, padding=1),
            [R.standard_normal((1, 2, 3, 4, 3)), R.standard_normal((3, 2, 2, 2, 2)),
             R.standard_normal(3)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, output_padding=1),
                                dict(groups=2, dilation=2), dict(stride=3, output_padding=2)])
def test_conv_transpose(kw, dtype):
    g = kw.get("groups", 1)
    x, w, b = R.standard_normal((2, 4, 5)), R.standard_normal((4, 3, 3)), R.standard_normal(3 * g)
    compare(lambda L, x, w, b: L.nn.functional.conv_transpose1d(x, w, b, **kw), [x, w, b],
            dtype=dtype)
    x2, w2 = R.standard_normal((2, 4, 3, 4)), R.standard_normal((4, 3, 3, 2))
    compare(lambda L, x, w, b: L.nn.functional.conv_transpose2d(x, w, b, **kw), [x2, w2, b],
            dtype=dtype)


@pytest.mark.parametrize("fn", [
    lambda L, x, w: L.nn.functional.conv2d(x, w, stride=2, padding=1, groups=2),
    lambda L, x, w: L.nn.functional.conv2d(x, w, dilation=2, padding="same", groups=2),
    lambda L, x, w: L.nn.functional.conv_transpose2d(x, w, stride=2, padding=1,
                                                     output_padding=1, groups=2),
])
def test_conv_gradcheck(fn):
    gradchecks(fn, [R.standard_normal((1, 2, 4, 4)), R.standard_normal((2, 1, 2, 2))])


@pytest.mark.parametrize("call", [
    lambda L: L.nn.functional.conv2d(L.zeros(1, 3, 4, 4), L.zeros(2, 2, 3, 3)),
    lambda L: L.nn.functional.conv2d(L.zeros(1, 2, 2, 2), L.zeros(2, 2, 3, 3)),
    lambda L: L.nn.functional.conv2d(L.zeros(2, 4), L.zeros(2, 2, 3, 3)),
    lambda L: L.nn.functional.conv2d(L.zeros(1, 2, 5, 5), L.zeros(2, 2, 3, 3), stride=2,
                                     padding="same"),
    lambda L: L.nn.functional.conv2d(L.zeros(1, 2, 5, 5), L.zeros(2, 2, 3, 3, dtype=L.float64)),
])
def test_conv_errors(call):
    with pytest.raises(Exception) as expected:
        call(torch)
    with pytest.raises(expected.type):
        call(ember)


MAXPOOL = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
           dict(kernel_size=(3, 2), stride=2, ceil_mode=True, dilation=(2, 1)),
           dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", MAXPOOL)
def test_max_pool2d(kw, dtype):
    for x in (X2, X2[0]):
        compare(lambda L, x: L.nn.functional.max_pool2d(x, return_indices=True, **kw), [x],
                dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=(3, 2), stride=(2, 1), ceil_mode=True)])
@pytest.mark.parametrize("extra", [dict(), dict(count_include_pad=False),
                                   dict(divisor_override=3)])
def test_avg_pool2d(kw, extra, dtype):
    compare(lambda L, x: L.nn.functional.avg_pool2d(x, **kw, **extra), [X2], dtype=dtype)


def test_pool1d():
    x = R.standard_normal((3, 9))
    compare(lambda L, x: L.nn.functional.max_pool1d(x, 3, 2, 1, ceil_mode=True), [x])
    compare(lambda L, x: L.nn.functional.avg_pool1d(x, 3, 2, 1, ceil_mode=True,
                                                    count_include_pad=False), [x])
    compare(lambda L, x: L.nn.functional.adaptive_avg_pool1d(x, 4), [x])
    compare(lambda L, x: L.nn.functional.adaptive_max_pool1d(x, 4, return_indices=True), [x])


@pytest.mark.parametrize("size", [(3, 4), 2, (None, 4), (5, 1), (7, 6)])
def test_adaptive_pool2d(size):
    compare(lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, size), [X2])
    compare(lambda L, x: L.nn.functional.adaptive_max_pool2d(x, size, return_indices=True), [X2])


def test_max_unpool2d():
    _, idx = torch.nn.functional.max_pool2d(torch.from_numpy(X2), 2, return_indices=True)
    y = torch.nn.functional.max_pool2d(torch.from_numpy(X2), 2).numpy()
    compare(lambda L, y, i: L.nn.functional.max_unpool2d(y, i, 2, output_size=(7, 6)),
            [y, idx.numpy()])


@pytest.mark.parametrize("fn", [
    lambda L, x: L.nn.functional.max_pool2d(x, 3, 2, 1),
    lambda L, x: L.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, 3),
    lambda L, x: L.nn.functional.adaptive_max_pool2d(x, 3),
])
def test_pool_gradcheck(fn):
    gradchecks(fn, [R.standard_normal((1, 2, 5, 5))])


def test_pool_errors():
    for call in (lambda L: L.nn.functional.max_pool2d(L.zeros(1, 1, 4, 4), 2, padding=2),
                 lambda L: L.nn.functional.max_pool2d(L.zeros(4, 4), 2),
                 lambda L: L.nn.functional.avg_pool2d(L.zeros(1, 1, 2, 2), 3)):
        with pytest.raises(RuntimeError):
            call(torch)
        with pytest.raises(RuntimeError):
            call(ember)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,args,kw,shape", [
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=1), (2, 4, 9)),
    ("Conv2d", (4, 6, 3), dict(padding=1, groups=2, bias=False), (2, 4, 5, 5)),
    ("Conv2d", (4, 6, (3, 2)), dict(padding=(1, 2), padding_mode="reflect"), (2, 4, 5, 5)),
    ("Conv2d", (4, 6, 3), dict(padding="same", padding_mode="circular"), (2, 4, 5, 5)),
    ("Conv2d", (4, 6, 3), dict(padding=1, padding_mode="replicate"), (4, 5, 5)),
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, output_padding=1), (2, 4, 5)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, groups=2), (2, 4, 3, 3)),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 4, 5, 5)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, count_include_pad=False), (2, 4, 5, 5)),
    ("AvgPool1d", (2,), dict(), (2, 4, 5)),
    ("AdaptiveAvgPool2d", ((2, 3),), dict(), (2, 4, 5, 5)),
    ("AdaptiveMaxPool2d", (3,), dict(), (2, 4, 5, 5)),
])
def test_modules(name, args, kw, shape, dtype):
    tm = getattr(torch.nn, name)(*args, **kw).to(getattr(torch, dtype))
    em = getattr(ember.nn, name)(*args, **kw).to(getattr(ember, dtype))
    assert repr(em) == repr(tm)
    compare(lambda L, x: (tm if L is torch else em)(x), [R.standard_normal(shape)], dtype=dtype,
            modules=(tm, em))


def test_conv_transpose_output_size_and_init():
    tm = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    em = ember.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    compare(lambda L, x: (tm if L is torch else em)(x, output_size=(8, 7)),
            [R.standard_normal((1, 2, 4, 4))], modules=(tm, em))
    conv = ember.nn.Conv2d(8, 4, 3)
    bound = 1 / np.sqrt(8 * 9)  # kaiming_uniform_(a=sqrt(5)) gives U(+-1/sqrt(fan_in))
    assert np.abs(conv.weight._data).max() <= bound and np.abs(conv.bias._data).max() <= bound
    assert np.abs(conv.weight._data).max() > 0.8 * bound
