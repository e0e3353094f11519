"""Bad sizes raise torch's exception type (and the gist of its message), never an empty or
wrongly shaped result: ``F.pad`` cropping more than a dim holds, reflect/replicate padding
of empty dims or to nothing, allocations no machine can make, sizes whose byte count
overflows int64, and shapes that do not broadcast."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F


def _outcome(fn) -> tuple[str, object]:
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 -- the outcome is what is compared
        return "error", (exc, str(exc))
    return "ok", tuple(out.shape)


def _compare(ember_fn, torch_fn, gist: str | None = None) -> tuple[str, str]:
    """Same shape, or the same exception type (both messages holding ``gist``); returns
    the two messages."""
    ours, theirs = _outcome(ember_fn), _outcome(torch_fn)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "ok":
        assert ours[1] == theirs[1]
        return "", ""
    (ours_exc, ours_msg), (theirs_exc, theirs_msg) = ours[1], theirs[1]
    assert isinstance(ours_exc, type(theirs_exc)), (ours_msg, theirs_msg)
    if gist is not None:
        assert gist in ours_msg and gist in theirs_msg, (ours_msg, theirs_msg)
    return ours_msg, theirs_msg


PADS_1D = list(itertools.product([-5, -4, -3, -1, 0, 2], repeat=2))


@pytest.mark.parametrize("pad", PADS_1D, ids=str)
def test_constant_pad_cropping_more_than_the_dim_raises_like_torch(pad):
    # (-3, -3) on a dim of 4 gave an empty tensor and (0, -5) a dim of 3; torch raises
    n = 4 + min(pad[0], 0) + min(pad[1], 0)
    gist = "narrow(): length must be non-negative" if n < 0 else None
    _compare(lambda: F.pad(ember.ones(1, 1, 4), pad), lambda: TF.pad(torch.ones(1, 1, 4), pad),
             gist)


@pytest.mark.parametrize("pad", [(-4, -4, 0, 0), (0, 0, -1, -4), (2, 0, -5, 1), (-2, -2, -2, -1)],
                         ids=str)
def test_constant_pad_2d_over_negative(pad):
    _compare(lambda: F.pad(ember.ones(2, 3, 4), pad), lambda: TF.pad(torch.ones(2, 3, 4), pad))


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("shape, pad", [
    ((1, 1, 4), (-4, 0)), ((1, 1, 4), (-1, -3)), ((2, 4), (1, -5)),  # nothing left: too small
    ((1, 1, 4), (-1, -1)), ((1, 1, 4), (-4, 1)),
    ((1, 0, 4), (1, 1)), ((1, 1, 0), (1, 1)), ((0, 1, 4), (1, 1)),  # only the batch may be empty
    ((1, 1, 4, 4), (-4, 0, 0, 0)), ((1, 1, 4, 4), (-4, 0, -4, 0)), ((1, 0, 4, 4), (1, 1, 1, 1)),
    ((1, 1, 4, 4, 4), (0, 0, 0, 0, -4, 0)),
], ids=str)
def test_reflect_replicate_pad_edges_like_torch(mode, shape, pad):
    # output dims of 0 raised NumPy's "cannot reshape" ValueError; empty channels padded
    ours, theirs = _compare(lambda: F.pad(ember.ones(shape), pad, mode=mode),
                            lambda: TF.pad(torch.ones(shape), pad, mode=mode))
    for gist in ("is too small", "other non-zero dimensions"):
        assert (gist in ours) == (gist in theirs), (ours, theirs)


def test_reflect_pad_to_an_empty_dim_has_torch_values_and_gradient():
    x = torch.randn(1, 2, 4, 3, dtype=torch.float64, requires_grad=True)
    e = ember.tensor(x.detach().numpy(), requires_grad=True)
    want, got = TF.pad(x, (-3, 0, 1, 2), mode="reflect"), F.pad(e, (-3, 0, 1, 2), mode="reflect")
    assert tuple(got.shape) == tuple(want.shape) == (1, 2, 7, 0)
    got.sum().backward()
    want.sum().backward()
    assert e.grad.tolist() == x.grad.tolist()


# absurd allocations: 4 PB is beyond any address space, so every allocator refuses it
HUGE = 10**15


@pytest.mark.parametrize("make", [
    lambda lib: lib.empty(HUGE),
    lambda lib: lib.zeros(HUGE, dtype=lib.float64),
    lambda lib: lib.full((HUGE,), 1.0),
    lambda lib: lib.ones(1).expand(HUGE).contiguous(),
    lambda lib: lib.ones(2).repeat(HUGE // 2),
], ids=["empty", "zeros", "full", "expand-contiguous", "repeat"])
def test_impossible_allocation_raises_torchs_runtime_error(make):
    # was NumPy's MemoryError
    _compare(lambda: make(ember), lambda: make(torch), "can't allocate memory")
    with pytest.raises(MemoryError, match=r"you tried to allocate \d+ bytes"):
        make(ember)  # still a MemoryError for code that catches Python's own


@pytest.mark.parametrize("size", [(2**62, 2), (2**61, 2**3), (2**63 - 1,)], ids=str)
def test_byte_count_overflow_raises_torchs_runtime_error(size):
    # was NumPy's ValueError "array is too big"
    _compare(lambda: ember.empty(size), lambda: torch.empty(size),
             "Storage size calculation overflowed")


@pytest.mark.parametrize("size", [(2**63,), (3, 2**64)], ids=str)
def test_dim_beyond_int64_raises_torchs_type_error(size):
    # was NumPy's ValueError "Maximum allowed dimension exceeded"
    _compare(lambda: ember.zeros(size), lambda: torch.zeros(size),
             "Overflow when unpacking long long")


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.functional.mse_loss(lib.ones(0, 4), lib.ones(3, 4)),
    lambda lib: lib.ones(3, 4).masked_fill(lib.ones(0, 4).bool(), 1.0),
    lambda lib: lib.nn.functional.kl_div(lib.ones(3, 4), lib.ones(2, 4), reduction="sum"),
    lambda lib: lib.complex(lib.ones(3), lib.ones(2)),
], ids=["mse_loss", "masked_fill", "kl_div", "complex"])
def test_shapes_that_do_not_broadcast_raise_torchs_runtime_error(make):
    # was NumPy's ValueError "operands could not be broadcast together" (fuzz campaign)
    _compare(lambda: make(ember), lambda: make(torch), "must match the size of tensor")


# found by the parameter fuzz campaign (tests/test_fuzz_params.py): edge inputs where ember
# returned a result (or raised another type) and torch raises
CAMPAIGN_FINDS = {
    "quantile of empty along a dim": lambda L: L.quantile(L.ones(3, 0), 0.5, dim=1),
    "nanquantile of empty along a dim": lambda L: L.nanquantile(L.ones(0, 3), 0.5, dim=1),
    "tril_indices negative row": lambda L: L.tril_indices(-2, 3),
    "triu_indices negative col": lambda L: L.triu_indices(3, -1),
    "cartesian_prod of a 0-d tensor": lambda L: L.cartesian_prod(L.ones(2), L.tensor(1.0)),
    "LSTM on an empty sequence": lambda L: L.nn.LSTM(3, 4)(L.ones(0, 2, 3)),
    "GRU on an empty unbatched sequence": lambda L: L.nn.GRU(3, 4)(L.ones(0, 3)),
    "fftn with more s than dims": lambda L: L.fft.fftn(L.tensor(1.0), s=(2,)),
    "irfftn with more s than dims": lambda L: L.fft.irfftn(L.ones(3), s=(2, 3)),
    "rfftn of a 0-d tensor": lambda L: L.fft.rfftn(L.tensor(1.0)),
    "fftshift of a 0-d tensor": lambda L: L.fft.fftshift(L.tensor(1.0)),
    "roll without shifts": lambda L: L.roll(L.ones(3), []),
}


@pytest.mark.parametrize("name", list(CAMPAIGN_FINDS))
def test_edge_inputs_found_by_the_campaign_raise_like_torch(name):
    make = CAMPAIGN_FINDS[name]
    ours, theirs = _compare(lambda: make(ember), lambda: make(torch))
    assert theirs, f"torch accepts {name}"
    assert ours == theirs


def test_fftn_of_a_0d_tensor_is_0d_like_torch():
    # was shape (1,)
    for fn in ("fftn", "ifftn"):
        got, want = getattr(ember.fft, fn)(ember.tensor(2.0)), getattr(torch.fft, fn)(
            torch.tensor(2.0))
        assert tuple(got.shape) == tuple(want.shape) == ()
        assert got.item() == want.item()


def test_other_value_errors_are_not_rewritten():
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(ember.ones(1, 1, 4))
