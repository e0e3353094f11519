"""Checkpoint files that lie about their sizes, and saves onto links or interrupted by a kill.

Crafted legacy (pre-1.6) and zip checkpoints whose storage records are shorter, longer or
far larger (deflated) than the storage they declare must raise torch's RuntimeError before
any uninitialised memory is returned or the record is decompressed beyond its storage.
Saving writes through a symlink and keeps the file's mode, as ``torch.save`` does, and a
save killed by SIGKILL leaves no partial file behind.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import signal
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import pytest
import torch

import ember


class _Storage:
    """Stands for the one storage of a crafted legacy file."""


def _legacy_file(numel: int, count: int, payload: bytes) -> bytes:
    """A pre-1.6 checkpoint of one float32 tensor whose pickle declares ``numel`` elements
    and whose raw record says ``count`` elements followed by ``payload``."""
    storage = _Storage()

    class Crafter(pickle.Pickler):
        def persistent_id(self, obj):
            if obj is storage:
                return ("storage", torch.FloatStorage, "0", "cpu", numel, None)
            return None

    class Rebuild:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2,
                    (storage, 0, (numel,), (1,), False, collections.OrderedDict()))

    buf = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, buf, protocol=2)
    Crafter(buf, protocol=2).dump(Rebuild())
    pickle.dump(["0"], buf, protocol=2)
    return buf.getvalue() + struct.pack("<q", count) + payload


def _outcome(lib, data: bytes) -> tuple[str, str]:
    try:
        lib.load(io.BytesIO(data), weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- the outcome is what is compared
        return type(exc).__name__, str(exc)
    return "ok", ""


def test_legacy_crafter_makes_valid_files():
    data = _legacy_file(4, 4, struct.pack("<4f", 0, 1, 2, 3))
    assert torch.load(io.BytesIO(data)).tolist() == [0, 1, 2, 3]
    assert ember.load(io.BytesIO(data)).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("count", [2, 6], ids=["shorter", "longer"])
def test_legacy_record_of_the_wrong_size_raises_like_torch(count):
    # shorter: ember returned the storage's uninitialised tail; longer: a broadcast ValueError
    data = _legacy_file(4, count, struct.pack(f"<{count}f", *range(count)))
    ours, theirs = _outcome(ember, data), _outcome(torch, data)
    assert theirs[0] == ours[0] == "RuntimeError"
    assert "storage has wrong byte size" in theirs[1] and "storage has wrong byte size" in ours[1]
    assert f"expected 16 got {count * 4}" in ours[1]


def test_legacy_storage_larger_than_the_file_is_refused_before_allocating():
    data = _legacy_file(1 << 40, 1 << 40, b"")  # declares 4 TiB in a file of ~300 bytes
    kind, message = _outcome(ember, data)
    assert kind == "RuntimeError" and "more than the file holds" in message


def test_legacy_truncated_record_raises_like_torch():
    data = _legacy_file(4, 4, struct.pack("<4f", 0, 1, 2, 3))[:-4]
    ours, theirs = _outcome(ember, data), _outcome(torch, data)
    assert theirs[0] == ours[0] == "RuntimeError"
    assert "expected 4 more bytes" in theirs[1] and "expected 4 more bytes" in ours[1]


def _rezip(checkpoint: bytes, record: bytes, compress_type: int) -> bytes:
    """``checkpoint`` with its storage record ``data/0`` replaced by ``record``."""
    src = zipfile.ZipFile(io.BytesIO(checkpoint))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename.endswith("data/0"):
                dst.writestr(info.filename, record, compress_type=compress_type)
            else:
                dst.writestr(info.filename, src.read(info))
    return out.getvalue()


def _four_floats() -> bytes:
    buf = io.BytesIO()
    torch.save({"a": torch.arange(4.0)}, buf)
    return buf.getvalue()


@pytest.mark.parametrize("compress_type", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED],
                         ids=["stored", "deflated"])
@pytest.mark.parametrize("size", [8, 24, 1016], ids=["shorter", "longer", "much-longer"])
def test_zip_record_of_the_wrong_size_raises_like_torch(size, compress_type):
    # longer records were accepted silently (the surplus ignored)
    data = _rezip(_four_floats(), bytes(size), compress_type)
    ours, theirs = _outcome(ember, data), _outcome(torch, data)
    assert theirs[0] == ours[0] == "RuntimeError"
    expected = f"record size ({size} bytes) does not match expected size (16 bytes"
    assert expected in theirs[1] and expected in ours[1]


def test_deflated_record_is_never_decompressed_beyond_its_storage(tmp_path):
    # a 64 KiB file holding a 64 MiB deflated record for a 16-byte storage: it was fully
    # inflated (1 GiB in the report: 2 GB of memory) before its size was looked at
    chunk, n_chunks = bytes(1 << 20), 64
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(io.BytesIO(_four_floats())) as src, \
            zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("data/0"):
                dst.writestr(info.filename, src.read(info))
    with zipfile.ZipFile(path, "a") as dst:  # the record declares its true 64 MiB size
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(info, "w", force_zip64=True) as rec:
            for _ in range(n_chunks):
                rec.write(chunk)
    assert os.path.getsize(path) < (1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError, match=r"record size \(67108864 bytes\)"):
            ember.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < (8 << 20), f"loading allocated {peak} bytes"


def test_save_writes_through_a_symlink_and_keeps_the_mode_like_torch(tmp_path):
    for lib in (torch, ember):
        target = tmp_path / f"{lib.__name__}-real.pt"
        link = tmp_path / f"{lib.__name__}-link.pt"
        lib.save({"w": lib.zeros(2)}, target)
        os.chmod(target, 0o640)
        link.symlink_to(target.name)
        lib.save({"w": lib.ones(3)}, link)
        assert link.is_symlink(), lib.__name__  # ember replaced the link by a file
        assert oct(os.stat(target).st_mode & 0o777) == "0o640", lib.__name__
        assert ember.load(target)["w"].tolist() == [1.0, 1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ember-link.pt", "ember-real.pt", "torch-link.pt", "torch-real.pt"]


def test_new_file_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        ember.save(ember.zeros(1), tmp_path / "a.pt")
        torch.save(torch.zeros(1), tmp_path / "b.pt")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.pt").st_mode & 0o777 == 0o640
    assert os.stat(tmp_path / "b.pt").st_mode & 0o777 == 0o640


def _has_o_tmpfile(directory) -> bool:
    try:
        os.close(os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o600))
    except (AttributeError, OSError):
        return False
    return os.path.isdir("/proc/self/fd")


def test_killed_save_leaves_no_partial_file(tmp_path):
    if not _has_o_tmpfile(tmp_path):
        pytest.skip("O_TMPFILE is not available on this file system")
    path = tmp_path / "ckpt.pt"
    ember.save({"w": ember.zeros(2)}, path)
    before = path.read_bytes()
    # the child writes part of a 32 MB archive, says so, and waits to be killed mid-save
    code = textwrap.dedent(f"""
        import sys, time
        import ember, ember.serialization as s
        write = s._write_archive
        def slow(out, name, records):
            out.write(bytes(16 << 20)); out.flush()
            print("writing", flush=True); time.sleep(60)
        s._write_archive = slow
        ember.save({{"w": ember.zeros(8 << 20)}}, {str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no orphan .tmp
    assert path.read_bytes() == before


def test_failed_save_leaves_the_old_file_and_nothing_else(tmp_path):
    path = tmp_path / "ckpt.pt"
    ember.save({"w": ember.zeros(2)}, path)
    with pytest.raises(pickle.PicklingError):
        ember.save({"f": lambda: 0}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
    assert ember.load(path)["w"].tolist() == [0.0, 0.0]
