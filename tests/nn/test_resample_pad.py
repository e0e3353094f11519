"""Padding, interpolation, pixel shuffle and unfold/fold against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.nn._layers_compare import compare, gradchecks

R = np.random.default_rng(0)
X = R.standard_normal((2, 3, 5, 4))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("pad", [(1, 2), (1, 2, 0, 3), (-1, 2, 1, -1), (1, 1, 1, 1, 1, 1)])
def test_constant_pad(pad, dtype):
    compare(lambda L, x: L.nn.functional.pad(x, pad, value=1.5), [X], dtype=dtype)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes(mode):
    compare(lambda L, x: L.nn.functional.pad(x, (1, 2, 3, 1), mode=mode), [X])
    compare(lambda L, x: L.nn.functional.pad(x, (2, 3), mode=mode), [X[0]])
    compare(lambda L, x: L.nn.functional.pad(x, (1, 0, 1, 1, 0, 1), mode=mode),
            [R.standard_normal((1, 2, 3, 3, 2))])
    gradchecks(lambda L, x: L.nn.functional.pad(x, (1, 2, 2, 1), mode=mode),
               [R.standard_normal((1, 1, 3, 3))])


def test_pad_errors():
    for call in (lambda L: L.nn.functional.pad(L.zeros(1, 2, 3), (3, 3), mode="reflect"),
                 lambda L: L.nn.functional.pad(L.zeros(1, 2, 3), (1,))):
        with pytest.raises(Exception) as expected:
            call(torch)
        with pytest.raises(expected.type):
            call(ember)


SIZES = [dict(scale_factor=2), dict(size=(7, 9)), dict(size=(3, 2)),
         dict(scale_factor=(1.5, 0.7))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", SIZES)
@pytest.mark.parametrize("mode,align", [("nearest", None), ("nearest-exact", None),
                                        ("bilinear", False), ("bilinear", True),
                                        ("bicubic", False), ("bicubic", True)])
def test_interpolate(kw, mode, align, dtype):
    compare(lambda L, x: L.nn.functional.interpolate(x, mode=mode, align_corners=align, **kw),
            [X], dtype=dtype)


def test_interpolate_1d_area_and_recompute():
    compare(lambda L, x: L.nn.functional.interpolate(x, mode="linear", scale_factor=2.5), [X[0]])
    compare(lambda L, x: L.nn.functional.interpolate(x, mode="nearest", size=11), [X[0]])
    compare(lambda L, x: L.nn.functional.interpolate(x, mode="area", size=(3, 2)), [X])
    compare(lambda L, x: L.nn.functional.interpolate(x, mode="bilinear", scale_factor=1.7,
                                                     recompute_scale_factor=True), [X])
    gradchecks(lambda L, x: L.nn.functional.interpolate(x, scale_factor=1.5, mode="bicubic"),
               [R.standard_normal((1, 1, 3, 3))])


def test_pixel_shuffle_unfold_fold():
    compare(lambda L, x: L.nn.functional.pixel_shuffle(x, 2), [R.standard_normal((2, 8, 2, 3))])
    compare(lambda L, x: L.nn.functional.pixel_unshuffle(x, 2), [R.standard_normal((2, 4, 6))])
    compare(lambda L, x: L.nn.functional.unfold(x, (2, 3), dilation=(2, 1), padding=1,
                                                stride=2), [X])
    cols = torch.nn.functional.unfold(torch.from_numpy(X), 2, padding=1, stride=(2, 1)).numpy()
    compare(lambda L, c: L.nn.functional.fold(c, (5, 4), 2, padding=1, stride=(2, 1)), [cols])
    gradchecks(lambda L, x: L.nn.functional.fold(L.nn.functional.unfold(x, 2, padding=1), (3, 3),
                                                 2, padding=1), [R.standard_normal((1, 1, 3, 3))])


@pytest.mark.parametrize("name,args,shape", [
    ("ZeroPad2d", ((1, 2, 0, 1),), (1, 2, 3, 3)), ("ConstantPad1d", (2, 3.5), (2, 3)),
    ("ConstantPad2d", ((1, 0, 2, 1), -1.0), (1, 2, 3, 3)), ("ReflectionPad1d", (2,), (1, 2, 4)),
    ("ReflectionPad2d", ((1, 2, 0, 1),), (1, 2, 3, 3)), ("ReplicationPad2d", (2,), (2, 3, 3)),
    ("ReplicationPad1d", ((0, 3),), (1, 2, 3)), ("CircularPad2d", (1,), (1, 2, 3, 3)),
    ("Upsample", (None, 2, "bilinear", True), (1, 2, 3, 3)),
    ("UpsamplingNearest2d", ((5, 4),), (1, 2, 3, 3)),
    ("UpsamplingBilinear2d", (None, 2), (1, 2, 3, 3)),
    ("PixelShuffle", (2,), (1, 8, 2, 2)), ("PixelUnshuffle", (2,), (1, 2, 4, 4)),
])
def test_modules(name, args, shape):
    tm, em = getattr(torch.nn, name)(*args), getattr(ember.nn, name)(*args)
    assert repr(em) == repr(tm)
    compare(lambda L, x: (tm if L is torch else em)(x), [R.standard_normal(shape)])
