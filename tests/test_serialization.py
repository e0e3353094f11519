"""ember.save/ember.load against torch's own checkpoint format, both directions; the
weights_only unpickler; atomic saves; corrupted files (fuzzed); safetensors."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
          "uint8", "bool", "complex64", "complex128"]
SAFETENSORS_DTYPES = [d for d in DTYPES if d != "complex128"]  # the format has no C128


def _ember_tensor(dtype: str, shape=(2, 3)):
    arr = (np.arange(int(np.prod(shape))) % 7 - 3).reshape(shape)
    return ember.tensor(arr).to(getattr(ember, dtype))


def _same(e, t):
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    assert tuple(e.shape) == tuple(t.shape)
    t = t.detach()
    tv = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
    ev = e._data.astype(np.float32) if e.dtype == ember.bfloat16 else e._data
    np.testing.assert_array_equal(ev, tv)


def _walk(e, t):
    if isinstance(t, torch.Size):
        assert type(e).__name__ == "Size" and tuple(e) == tuple(t)
    elif isinstance(t, torch.Tensor):
        _same(e, t)
        assert type(e).__name__ == ("Parameter" if isinstance(t, torch.nn.Parameter)
                                    else "Tensor")
    elif isinstance(t, dict):
        assert list(e.keys()) == list(t.keys())
        for k in t:
            _walk(e[k], t[k])
    elif isinstance(t, (list, tuple)):
        assert type(e) is type(t) and len(e) == len(t)
        for a, b in zip(e, t):
            _walk(a, b)
    else:
        assert e == t or str(e).split(".")[-1] == str(t).split(".")[-1]


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_roundtrips_through_torch(tmp_path, dtype):
    path = tmp_path / "x.pt"
    e = _ember_tensor(dtype)
    ember.save({"t": e, "zero_d": e[0, 0], "empty": e[:0]}, path)
    loaded = torch.load(path, weights_only=True)
    _walk({"t": e, "zero_d": e[0, 0], "empty": e[:0]}, loaded)
    torch.save(loaded, path)
    _walk(ember.load(path), loaded)


def test_views_share_storage_with_offsets_and_strides(tmp_path):
    base = ember.tensor(np.arange(24, dtype=np.float32).reshape(4, 6))
    obj = {"base": base, "t": base.permute(1, 0), "row": base[2], "col": base[:, 3],
           "block": base[1:3, 2:5]}
    ember.save(obj, tmp_path / "v.pt")
    t = torch.load(tmp_path / "v.pt", weights_only=True)
    _walk(obj, t)
    ptrs = {k: v.untyped_storage().data_ptr() for k, v in t.items()}
    assert len(set(ptrs.values())) == 1
    assert t["col"].stride() == (6,) and t["col"].storage_offset() == 3
    back = ember.load(tmp_path / "v.pt")
    back["base"][0, 0] = 100.0                      # sharing survives the round trip
    assert back["t"][0, 0].item() == 100.0


@pytest.mark.parametrize("mmap", [False, True])
def test_torch_views_load_as_views_of_one_storage(tmp_path, mmap):
    base = torch.arange(12.0).reshape(3, 4)
    obj = {"base": base, "view": base[1:, 2:].t(), "scalar": base[2, 3], "none": base[:0]}
    torch.save(obj, tmp_path / "v.pt")
    back = ember.load(tmp_path / "v.pt", mmap=mmap)
    _walk(back, obj)
    back["base"][2, 3] = -5.0
    assert back["view"][1, 1].item() == back["scalar"].item() == -5.0


def test_torch_files_load_in_ember_including_optimizer_state_and_parameters(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    obj = {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3,
           "param": torch.nn.Parameter(torch.ones(2)), "size": torch.Size([2, 3]),
           "dtype": torch.float16, "names": ("a", "b"), "nested": [{"x": torch.arange(3)}]}
    torch.save(obj, tmp_path / "t.pt")
    _walk(ember.load(tmp_path / "t.pt"), obj)
    assert ember.load(tmp_path / "t.pt")["model"]["1.num_batches_tracked"].item() == 1


def test_legacy_format_is_read(tmp_path):
    obj = {"a": torch.arange(6.0).reshape(2, 3).t(), "b": torch.tensor([True, False])}
    torch.save(obj, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    _walk(ember.load(tmp_path / "old.pt"), obj)


def test_file_like_objects_and_mmap(tmp_path):
    buf = io.BytesIO()
    ember.save({"a": ember.arange(5)}, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["a"].tolist() == list(range(5))
    buf.seek(0)
    assert ember.load(buf)["a"].tolist() == list(range(5))
    torch.save({"w": torch.arange(1000, dtype=torch.float32)}, tmp_path / "m.pt")
    m = ember.load(tmp_path / "m.pt", mmap=True)
    assert m["w"].sum().item() == sum(range(1000))
    owner, chain = m["w"]._data, []
    while owner is not None and not isinstance(owner, np.memmap):
        chain.append(type(owner).__name__)
        owner = getattr(owner, "base", None)
    assert isinstance(owner, np.memmap), chain            # backed by the file
    before = (tmp_path / "m.pt").read_bytes()
    m["w"][0] = -1.0                                      # copy-on-write, as torch
    assert (tmp_path / "m.pt").read_bytes() == before


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_weights_only_rejects_arbitrary_globals(tmp_path):
    torch.save({"x": torch.ones(1), "evil": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL (posix|os)\.system"):
        ember.load(tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        ember.load(tmp_path / "evil.pt", weights_only=True)


def test_weights_only_false_loads_trusted_objects(tmp_path):
    ember.save({"fn": np.add, "x": ember.ones(2)}, tmp_path / "ok.pt")
    loaded = ember.load(tmp_path / "ok.pt", weights_only=False)
    assert loaded["fn"] is np.add


def test_map_location_and_devices(tmp_path):
    ember.save({"x": ember.ones(2)}, tmp_path / "a.pt")
    assert ember.load(tmp_path / "a.pt", map_location="cpu")["x"].tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="cpu"):
        ember.load(tmp_path / "a.pt", map_location="cuda:0")


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    ember.save({"v": ember.tensor([1.0])}, path)

    class Boom(Exception):
        pass

    def exploding_write(*args, **kwargs):
        raise Boom

    monkeypatch.setattr("ember.serialization._write_archive", exploding_write)
    with pytest.raises(Boom):
        ember.save({"v": ember.tensor([2.0])}, path)
    monkeypatch.undo()
    assert ember.load(path)["v"].tolist() == [1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
    (tmp_path / "plain").write_bytes(b"")  # permissions as any new file, not mkstemp's 0600
    assert path.stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_truncated_and_foreign_files_raise_clear_errors(tmp_path):
    ember.save({"v": ember.arange(100)}, tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    for i, bad in enumerate([data[: len(data) // 2], data[:10], b"", b"hello world"]):
        p = tmp_path / f"bad{i}.pt"
        p.write_bytes(bad)
        with pytest.raises((RuntimeError, pickle.UnpicklingError)):
            ember.load(p)
    with pytest.raises(FileNotFoundError):
        ember.load(tmp_path / "missing.pt")


_GOOD = io.BytesIO()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzzed_checkpoints_never_half_load(tmp_path_factory, data):
    if not _GOOD.getvalue():
        ember.save({"w": ember.arange(16).reshape(4, 4), "b": ember.ones(3),
                    "meta": {"k": [1, 2.5, "s"]}}, _GOOD)
    raw = bytearray(_GOOD.getvalue())
    n = data.draw(st.integers(1, 8))
    for _ in range(n):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        out = ember.load(io.BytesIO(bytes(raw)))
    except (RuntimeError, pickle.UnpicklingError, ValueError):
        return
    # a mutation that left a loadable file must give a well-formed object
    assert isinstance(out, dict)


def test_zip_records_are_aligned_like_torch(tmp_path):
    ember.save({"a": ember.ones(3), "b": ember.zeros(5)}, tmp_path / "al.pt")
    raw = (tmp_path / "al.pt").read_bytes()
    with zipfile.ZipFile(tmp_path / "al.pt") as zf:
        for info in zf.infolist():
            name_len = int.from_bytes(raw[info.header_offset + 26: info.header_offset + 28],
                                      "little")
            extra_len = int.from_bytes(raw[info.header_offset + 28: info.header_offset + 30],
                                       "little")
            assert (info.header_offset + 30 + name_len + extra_len) % 64 == 0


def test_safetensors_roundtrip_with_the_reference_implementation(tmp_path):
    from safetensors.torch import load_file as t_load
    from safetensors.torch import save_file as t_save

    from ember.utils import safetensors as est
    tensors = {d: _ember_tensor(d) for d in SAFETENSORS_DTYPES}
    est.save_file(tensors, tmp_path / "e.safetensors", metadata={"format": "pt"})
    theirs = t_load(tmp_path / "e.safetensors")
    for k in tensors:
        _same(tensors[k], theirs[k])
    t_save(theirs, tmp_path / "t.safetensors")
    ours = est.load_file(tmp_path / "t.safetensors")
    for k in tensors:
        _same(ours[k], theirs[k])
    assert est.load(est.save(tensors)).keys() == tensors.keys()
    with pytest.raises(ValueError, match="non contiguous"):
        est.save({"t": _ember_tensor("float32").permute(1, 0)})
    base = _ember_tensor("float32")
    with pytest.raises(RuntimeError, match="share memory"):
        est.save({"a": base, "b": base[0]})


def _with_pickle(payload: bytes) -> bytes:
    """A valid checkpoint whose data.pkl is replaced by ``payload`` (a crafted file)."""
    buf = io.BytesIO()
    ember.save({"w": ember.ones(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            data = src.read(info.filename)
            z.writestr(info, payload if info.filename.endswith("data.pkl") else data)
    return out.getvalue()


@pytest.mark.parametrize("payload", [
    b"\x80\x02ctorch\nfloat32\nN}X\x04\x00\x00\x00nameX\x03\x00\x00\x00bads\x86b.",  # slots
    b"\x80\x02ctorch\nfloat32\n}b.",
    b"\x80\x02ccollections\nOrderedDict\n}X\x01\x00\x00\x00xK\x01sb.",  # a class
])
def test_weights_only_load_never_changes_objects_outside_the_file(payload):
    """BUILD on an allowed global (issue 16: a crafted file renamed ember.float32 for the
    whole process, so later float checkpoints loaded as other dtypes)."""
    import collections
    with pytest.raises(pickle.UnpicklingError, match="BUILD"):
        ember.load(io.BytesIO(_with_pickle(payload)))
    assert ember.float32.name == "float32" and not hasattr(collections.OrderedDict, "x")
    assert ember.load(io.BytesIO(_with_pickle(pickle.dumps({"a": 1}, protocol=2)))) == {"a": 1}


def test_state_dict_metadata_still_loads_from_torch():
    """torch's state dicts carry ``_metadata`` set by BUILD on the file's own OrderedDict."""
    sd = torch.nn.Linear(3, 2).state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    got = ember.load(io.BytesIO(buf.getvalue()))
    assert got._metadata == sd._metadata
    assert np.array_equal(got["weight"].numpy(), sd["weight"].numpy())
