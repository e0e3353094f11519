"""``repr(tensor)`` must match torch's character for character (dtype names aside)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember

_nan, _inf = math.nan, math.inf


def _both(data, dtype="float32"):
    arr = np.array(data, dtype=dtype)
    return ember.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


def _expected(t: torch.Tensor) -> str:
    return repr(t).replace("torch.", "ember.")


CASES = {
    "ints_as_float": ([1.0, 2.0, 3.0], "float32"),
    "fraction": ([1.5, -2.25, 3.125], "float32"),
    "precision": ([1 / 3, 2 / 3, 1.0], "float32"),
    "sci_large": ([1e9, 1.0, 2.0], "float32"),
    "sci_ratio": ([1.0, 1001.0], "float64"),
    "sci_small": ([1e-5, 1.0], "float32"),
    "sci_ints": ([1e10, 2e10], "float64"),
    "nan_inf": ([_nan, _inf, -_inf, 1.5], "float32"),
    "nan_inf_ints": ([_nan, _inf, 2.0], "float64"),
    "all_nan": ([_nan, _nan], "float32"),
    "zeros": ([0.0, 0.0, -0.0], "float32"),
    "negative": ([-1.0, 2.5, -300.25], "float64"),
    "matrix": ([[1.0, 2.5], [-3.0, 4.0]], "float32"),
    "cube": (np.arange(24).reshape(2, 3, 4) / 7, "float32"),
    "4d": (np.arange(16).reshape(2, 2, 2, 2), "int64"),
    "int64": ([1, -20, 300], "int64"),
    "int32": ([[1, 2], [3, 4]], "int32"),
    "uint8": ([0, 255], "uint8"),
    "int8": ([-128, 7], "int8"),
    "int16": ([5], "int16"),
    "bool": ([True, False, True], "bool"),
    "bool_all_true": ([True, True], "bool"),
    "float16": ([1.5, 2.0], "float16"),
    "float64": ([0.1, 0.2], "float64"),
    "scalar_float": (3.5, "float32"),
    "scalar_int": (7, "int64"),
    "scalar_bool": (True, "bool"),
    "scalar_double": (1e-7, "float64"),
    "scalar_nan": (_nan, "float32"),
    "complex64": ([1 + 2j, -3.5 - 1j], "complex64"),
    "complex128": ([[0.5j, 1.0], [2.0 - 0.25j, 1e5]], "complex128"),
    "wrap_floats": (np.linspace(-5, 5, 40), "float32"),
    "wrap_ints": (np.arange(100) * 37, "int64"),
    "wrap_matrix": (np.arange(60).reshape(3, 20) / 3, "float64"),
    "summarize_1d": (np.arange(2000) / 3, "float32"),
    "summarize_2d": (np.arange(3000).reshape(60, 50), "int64"),
    "summarize_3d": (np.arange(2000).reshape(10, 10, 20) / 7, "float64"),
    "summarize_short_rows": (np.arange(1001).reshape(1001, 1), "int32"),
    "empty_1d": (np.zeros(0), "float32"),
    "empty_2d": (np.zeros((0, 3)), "float32"),
    "empty_int": (np.zeros((2, 0)), "int64"),
    "empty_double": (np.zeros(0), "float64"),
}


@pytest.mark.parametrize("name", CASES)
def test_repr_matches_torch(name):
    data, dtype = CASES[name]
    e, t = _both(data, dtype)
    assert repr(e) == _expected(t)
    assert str(e) == str(t).replace("torch.", "ember.")


def test_bfloat16():
    e = ember.tensor([1.5, 2.25, 1e-3], dtype=ember.bfloat16)
    t = torch.tensor([1.5, 2.25, 1e-3], dtype=torch.bfloat16)
    assert repr(e) == _expected(t)


def test_autograd_suffixes():
    e, t = _both([1.0, 2.0])
    e.requires_grad_()
    t.requires_grad_()
    assert repr(e) == _expected(t)
    assert repr(e * 2) == _expected(t * 2)
    assert repr(e + 1) == _expected(t + 1)
    assert repr((e * 2).sum()) == _expected((t * 2).sum())
    assert repr(e.detach()) == _expected(t.detach())


def test_suffix_wraps_to_new_line():
    data = np.arange(12).reshape(1, 12) / 3
    e, t = _both(data, "float64")
    e.requires_grad_()
    t.requires_grad_()
    assert repr(e) == _expected(t)


def test_default_dtype_changes_suffix():
    old = torch.get_default_dtype()
    try:
        for lib in (torch, ember):
            lib.set_default_dtype(lib.float64)
        for data, dtype in (([1.5], "float64"), ([1.5], "float32"), ([1j], "complex128"),
                            ([1j], "complex64")):
            e, t = _both(data, dtype)
            assert repr(e) == _expected(t)
    finally:
        torch.set_default_dtype(old)
        ember.set_default_dtype(ember.float32)


@pytest.mark.parametrize("opts", [
    {"precision": 2}, {"precision": 8}, {"threshold": 5}, {"edgeitems": 1, "threshold": 5},
    {"edgeitems": 0, "threshold": 5}, {"linewidth": 30}, {"sci_mode": True},
    {"sci_mode": False}, {"profile": "short"}, {"profile": "full"},
])
def test_printoptions(opts):
    cases = [(np.arange(30) / 7, "float32"), (np.arange(12).reshape(3, 4), "int64"),
             ([1e-6, 1.0], "float64"), ([1.0, 2.0], "float32"),
             (np.arange(2000).reshape(40, 50) * 1.5, "float64")]
    try:
        torch.set_printoptions(**opts)
        ember.set_printoptions(**opts)
        for data, dtype in cases:
            e, t = _both(data, dtype)
            assert repr(e) == _expected(t), opts
    finally:
        torch.set_printoptions(profile="default")
        ember.set_printoptions(profile="default")


def test_printoptions_context_restores():
    ember.set_printoptions(precision=6)
    try:
        with ember._formatting.printoptions(precision=1), \
                torch._tensor_str.printoptions(precision=1):
            assert repr(ember.tensor([1.25, 2.0])) == repr(torch.tensor([1.25, 2.0]))
        assert ember._formatting.get_printoptions()["precision"] == 6
    finally:
        ember.set_printoptions(profile="default")


def test_noncontiguous_and_views():
    base = np.arange(20, dtype=np.float32).reshape(4, 5) / 4
    e, t = ember.from_numpy(base.copy()), torch.from_numpy(base.copy())
    assert repr(e.t()) == _expected(t.t())
    assert repr(ember.from_numpy(base[1:, ::2])) == _expected(torch.from_numpy(base[1:, ::2]))
