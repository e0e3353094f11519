"""Every layer of torch.nn that ember provides, built with the same arguments in both
libraries: the same parameter and buffer names, shapes and dtypes, the same repr and
state_dict keys, and the same default initialisation (compared statistically: mean, std
and the share of values beyond two standard deviations, which tells uniform from normal,
to five standard errors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

LAYERS = [
    ("Linear", (64, 48), {}), ("Linear", (64, 48), dict(bias=False)),
    ("Bilinear", (20, 30, 40), {}),
    ("Conv1d", (8, 16, 5), dict(stride=2, padding=2, groups=2)),
    ("Conv2d", (8, 16, 3), dict(padding="same")),
    ("Conv2d", (8, 16, (3, 5)), dict(stride=(2, 1), dilation=2, groups=4, bias=False,
                                     padding_mode="reflect")),
    ("ConvTranspose1d", (8, 16, 5), dict(stride=2, output_padding=1)),
    ("ConvTranspose2d", (8, 16, 3), dict(groups=2, stride=2, padding=1, output_padding=1)),
    ("MaxPool1d", (3,), {}), ("MaxPool2d", (3,), dict(stride=2, padding=1, return_indices=True)),
    ("AvgPool1d", (3,), {}), ("AvgPool2d", (3,), dict(count_include_pad=False)),
    ("AdaptiveAvgPool1d", (4,), {}), ("AdaptiveAvgPool2d", ((4, None),), {}),
    ("AdaptiveMaxPool2d", (3,), dict(return_indices=True)),
    ("BatchNorm1d", (16,), {}), ("BatchNorm2d", (16,), dict(momentum=None, affine=False)),
    ("LayerNorm", ((4, 5),), {}), ("GroupNorm", (4, 16), {}), ("RMSNorm", (8,), {}),
    ("Dropout", (), {}), ("Dropout2d", (0.3,), {}),
    ("Embedding", (100, 32), {}), ("Embedding", (100, 32), dict(padding_idx=3, max_norm=1.0)),
    ("RNN", (10, 20), dict(num_layers=2, nonlinearity="relu", bidirectional=True)),
    ("LSTM", (10, 20), dict(num_layers=2, batch_first=True, dropout=0.5, proj_size=5)),
    ("GRU", (10, 20), dict(bias=False, bidirectional=True)),
    ("MultiheadAttention", (32, 4), {}),
    ("MultiheadAttention", (32, 4), dict(kdim=10, vdim=12, add_bias_kv=True, batch_first=True)),
    ("TransformerEncoderLayer", (32, 4, 64), {}),
    ("TransformerDecoderLayer", (32, 4, 64), dict(norm_first=True, activation="gelu")),
    ("Upsample", (), dict(scale_factor=2, mode="bilinear")), ("PixelShuffle", (2,), {}),
    ("PReLU", (3,), {}), ("Fold", ((4, 5), 2), {}), ("Unfold", (2,), dict(padding=1)),
    ("CosineSimilarity", (), {}), ("PairwiseDistance", (), {}), ("Softmax2d", (), {}),
]


def _stats(values: np.ndarray) -> tuple[float, float, float]:
    mean, std = values.mean(), values.std()
    return mean, std, float((np.abs(values - mean) > 2 * std).mean()) if std else 0.0


def _pooled(lib, name: str, args: tuple, kw: dict, param: str) -> np.ndarray:
    """The values of ``param`` over enough fresh builds to hold about 3000 numbers."""
    first = getattr(lib.nn, name)(*args, **kw).get_parameter(param).detach().numpy()
    builds = min(40, -(-3000 // first.size))
    rest = [getattr(lib.nn, name)(*args, **kw).get_parameter(param).detach().numpy().ravel()
            for _ in range(builds - 1)]
    return np.concatenate([first.ravel()] + rest).astype(np.float64)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,args,kw", LAYERS, ids=[f"{n}-{i}" for i, (n, _, _) in
                                                       enumerate(LAYERS)])
def test_layer_names_repr_and_default_init_match_torch(name, args, kw):
    tm, em = getattr(torch.nn, name)(*args, **kw), getattr(ember.nn, name)(*args, **kw)
    assert repr(em) == repr(tm)
    assert [(n, tuple(p.shape), p.requires_grad) for n, p in em.named_parameters()] == \
        [(n, tuple(p.shape), p.requires_grad) for n, p in tm.named_parameters()]
    assert [(n, tuple(b.shape), str(b.dtype)[6:]) for n, b in em.named_buffers()] == \
        [(n, tuple(b.shape), str(b.dtype)[6:]) for n, b in tm.named_buffers()]
    assert list(em.state_dict()) == list(tm.state_dict())
    for pname, _ in tm.named_parameters():
        t, e = _pooled(torch, name, args, kw, pname), _pooled(ember, name, args, kw, pname)
        (tmean, tstd, ttail), (emean, estd, etail) = _stats(t), _stats(e)
        if tstd == 0:  # a constant initialisation (ones, zeros, 0.25)
            np.testing.assert_array_equal(e, t, err_msg=pname)
            continue
        tol = 5 / np.sqrt(len(t))  # five standard errors of the two estimates' difference
        assert abs(estd - tstd) < tol * tstd, (pname, estd, tstd)
        assert abs(emean - tmean) < 1.5 * tol * tstd, (pname, emean, tmean)
        assert abs(etail - ttail) < 0.3 * tol, (pname, etail, ttail)
        assert np.abs(e).max() <= 1.05 * np.abs(t).max() or ttail > 0.01, pname  # bounds
