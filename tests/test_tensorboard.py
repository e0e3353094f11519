"""ember.utils.tensorboard.SummaryWriter: every kind of record is read back by TensorBoard's
own EventAccumulator and compared with NumPy and with what torch's SummaryWriter writes for
the same data; one test serves the logs with a real ``tensorboard`` process."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboard")

import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter as TorchWriter

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.utils.tensorboard import SummaryWriter


def _load(logdir) -> EventAccumulator:
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0,
                                                       "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def _both(tmp_path, write):
    """Run ``write(writer, lib)`` with ember's writer and with torch's; their log dirs."""
    dirs = []
    for name, cls, lib in (("ember", SummaryWriter, ember), ("torch", TorchWriter, torch)):
        d = tmp_path / name
        with cls(str(d)) as w:
            write(w, lib)
        dirs.append(d)
    return dirs


def _png(encoded: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))


def test_default_logdir_is_torchs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1")
    w.close()
    pattern = r"runs/[A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2}_" + re.escape(socket.gethostname())
    assert re.fullmatch(pattern + "_lr0.1", w.get_logdir().replace(os.sep, "/"))
    assert any(f.startswith("events.out.tfevents.") for f in os.listdir(w.get_logdir()))


def test_scalars_values_steps_and_walltime(tmp_path):
    values = [0.5, -1.25, 3.0, 1e-3]
    with SummaryWriter(tmp_path) as w:
        for step, v in enumerate(values):
            w.add_scalar("loss/train", v, step * 10, walltime=1000.0 + step)
        w.add_scalar("acc", ember.tensor([0.75]), 7)
        w.add_scalar("lr", np.float64(0.125), 2, new_style=True)
    acc = _load(tmp_path)
    events = acc.Scalars("loss/train")
    assert [e.step for e in events] == [0, 10, 20, 30]
    np.testing.assert_allclose([e.value for e in events], values, rtol=1e-7)
    assert [e.wall_time for e in events] == [1000.0, 1001.0, 1002.0, 1003.0]
    assert [(e.step, e.value) for e in acc.Scalars("acc")] == [(7, 0.75)]
    lr = acc.Tensors("lr")
    assert lr[0].step == 2 and lr[0].tensor_proto.float_val[0] == 0.125
    assert acc.SummaryMetadata("lr").plugin_data.plugin_name == "scalars"
    with pytest.raises(AssertionError):
        SummaryWriter(tmp_path / "bad").add_scalar("x", ember.ones(3))


def test_add_scalars_writes_runs_as_torch(tmp_path):
    def write(w, lib):
        for step in range(3):
            w.add_scalars("run/14h", {"xsinx": step * np.sin(step), "tanx": np.tan(step)}, step)
    ours, theirs = _both(tmp_path, write)
    subdirs = sorted(p.name for p in ours.iterdir() if p.is_dir())
    assert subdirs == sorted(p.name for p in theirs.iterdir() if p.is_dir())
    assert subdirs == ["run_14h_tanx", "run_14h_xsinx"]
    got = [(e.step, e.value) for e in _load(ours / "run_14h_xsinx").Scalars("run/14h")]
    want = [(e.step, e.value) for e in _load(theirs / "run_14h_xsinx").Scalars("run/14h")]
    assert got == want


@pytest.mark.parametrize("bins", ["tensorflow", "auto", 7, [-3.0, -1.0, 0.0, 0.5, 2.0, 4.0]])
def test_histogram_stats_and_buckets(tmp_path, bins):
    values = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)

    def write(w, lib):
        w.add_histogram("w", lib.from_numpy(values), 3, bins=bins)
        w.add_histogram("w", lib.from_numpy(values[:10] * 2), 4, bins=bins, max_bins=3)
    ours, theirs = _both(tmp_path, write)
    got, want = _load(ours).Histograms("w"), _load(theirs).Histograms("w")
    v = values.astype(np.float64).ravel()
    h = got[0].histogram_value
    assert got[0].step == 3
    assert (h.min, h.max, h.num) == (v.min(), v.max(), v.size)
    np.testing.assert_allclose([h.sum, h.sum_squares], [v.sum(), v.dot(v)], rtol=1e-12)
    assert sum(h.bucket) == v.size
    for g, t in zip(got, want):
        assert g.step == t.step and g.histogram_value == t.histogram_value


def test_histogram_raw_and_errors(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_histogram_raw("raw", 0.0, 3.0, 4, 6.0, 14.0, [1.0, 2.0, 3.0], [1, 2, 1], 1)
        with pytest.raises(ValueError):
            w.add_histogram_raw("raw", 0, 1, 1, 1, 1, [1.0], [1, 2])
        with pytest.raises(ValueError):
            w.add_histogram("empty", ember.zeros(0))
    h = _load(tmp_path).Histograms("raw")[0].histogram_value
    assert (h.min, h.max, h.num, h.sum, h.sum_squares) == (0.0, 3.0, 4, 6.0, 14.0)
    assert list(h.bucket_limit) == [1.0, 2.0, 3.0] and list(h.bucket) == [1, 2, 1]


def test_images_pixels_for_every_layout(tmp_path):
    rng = np.random.default_rng(1)
    chw = rng.random((3, 5, 4), dtype=np.float32)
    hwc_u8 = rng.integers(0, 256, (6, 3, 3), dtype=np.uint8)
    hw = rng.random((4, 7))
    batch = rng.random((3, 1, 4, 5), dtype=np.float32)
    as_u8 = lambda a: (a.astype(np.float32) * 255).clip(0, 255).astype(np.uint8)

    def write(w, lib):
        w.add_image("chw", lib.from_numpy(chw), 0)
        w.add_image("hwc", lib.from_numpy(hwc_u8), 1, dataformats="HWC")
        w.add_image("hw", lib.from_numpy(hw), 2, dataformats="HW")
        w.add_images("nchw", lib.from_numpy(batch), 3)
        w.add_images("nhwc", lib.from_numpy(batch.transpose(0, 2, 3, 1).copy()), 4,
                     dataformats="NHWC")
    ours, theirs = _both(tmp_path, write)
    acc, ref = _load(ours), _load(theirs)
    expect = {"chw": as_u8(chw.transpose(1, 2, 0)), "hwc": hwc_u8,
              "hw": np.repeat(as_u8(hw)[:, :, None], 3, 2)}
    for tag, pixels in expect.items():
        img = acc.Images(tag)[0]
        assert (img.height, img.width) == pixels.shape[:2]
        np.testing.assert_array_equal(_png(img.encoded_image_string), pixels)
    grid = _png(acc.Images("nchw")[0].encoded_image_string)
    assert grid.shape == (4, 15, 3)  # one row of three 4x5 images
    np.testing.assert_array_equal(grid[:, 5:10, 0], as_u8(batch[1, 0]))
    for tag in ("chw", "hwc", "hw", "nchw", "nhwc"):
        np.testing.assert_array_equal(_png(acc.Images(tag)[0].encoded_image_string),
                                      _png(ref.Images(tag)[0].encoded_image_string))
    with pytest.raises(AssertionError):
        SummaryWriter(tmp_path / "bad").add_image("x", ember.zeros(3, 4), dataformats="CHW")


def test_figure(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    fig = plt.figure(figsize=(2, 1), dpi=50)
    plt.plot([0, 1], [1, 0])
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 5)
    img = _load(tmp_path).Images("fig")[0]
    assert (img.step, img.width, img.height) == (5, 100, 50)
    assert _png(img.encoded_image_string).shape == (50, 100, 3)


def test_text(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_text("notes", "**ember** — ünïcode", 2)
    events = _load(tmp_path).Tensors("notes/text_summary")
    assert events[0].step == 2
    assert events[0].tensor_proto.string_val[0].decode("utf-8") == "**ember** — ünïcode"


def test_hparams_as_torch(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    def write(w, lib):
        w.add_hparams({"lr": 0.1, "bsize": 16, "opt": "adam"}, {"hparam/acc": 0.75},
                      hparam_domain_discrete={"opt": ["adam", "sgd"]}, run_name="trial")
    ours, theirs = _both(tmp_path, write)
    acc, ref = _load(ours / "trial"), _load(theirs / "trial")
    assert [e.value for e in acc.Scalars("hparam/acc")] == [0.75]
    content = acc.PluginTagToContent("hparams")
    assert content == ref.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["lr"].number_value == 0.1 and start.hparams["opt"].string_value == "adam"
    with pytest.raises(TypeError):
        SummaryWriter(tmp_path / "bad").add_hparams([("lr", 1)], {})


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 10))

    def forward(self, x):
        return self.head(F.relu(self.conv(x)))


def test_graph_nodes_and_shapes(tmp_path):
    model = Net()
    model.train()
    with SummaryWriter(tmp_path) as w:
        w.add_graph(model, ember.randn(2, 1, 6, 6))
    assert model.training  # restored after the capture in eval mode
    acc = _load(tmp_path)
    nodes = {n.name: n for n in acc.Graph().node}
    shape = lambda n: [d.size for d in n.attr["_output_shapes"].list.shape[0].dim]
    assert nodes["input/input.0"].op == "IO Node" and shape(nodes["input/input.0"]) == [2, 1, 6, 6]
    assert shape(nodes["output/output.0"]) == [2, 10]
    for p in ("Net/Conv2d[conv]/weight", "Net/Sequential[head]/Linear[1]/bias"):
        assert p in nodes
    convs = [n for n in nodes.values() if n.name.startswith("Net/Conv2d[conv]/")
             and "conv" in n.op]
    assert len(convs) == 1 and shape(convs[0]) == [2, 4, 6, 6]
    assert "input/input.0" in convs[0].input
    for n in nodes.values():  # a connected graph: every input names a node
        assert all(i in nodes for i in n.input)
    assert acc.RunMetadata("step1").step_stats.dev_stats[0].device == "/device:CPU:0"


def test_embedding_files_as_torch(tmp_path):
    mat = np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)
    imgs = np.random.default_rng(3).random((4, 3, 2, 2)).astype(np.float32)

    def write(w, lib):
        w.add_embedding(lib.from_numpy(mat), metadata=["a", "b", "c", "d"],
                        label_img=lib.from_numpy(imgs), tag="feat/x", global_step=3)
    ours, theirs = _both(tmp_path, write)
    sub = ours / "00003" / "feat%2fx"
    assert sorted(os.listdir(sub)) == sorted(os.listdir(theirs / "00003" / "feat%2fx"))
    rows = [list(map(float, line.split("\t"))) for line in (sub / "tensors.tsv").read_text()
            .splitlines()]
    np.testing.assert_allclose(rows, mat, rtol=1e-6)
    assert (sub / "metadata.tsv").read_text() == "a\nb\nc\nd\n"
    np.testing.assert_array_equal(_png((sub / "sprite.png").read_bytes()),
                                  _png((theirs / "00003" / "feat%2fx" / "sprite.png")
                                       .read_bytes()))
    cfg = "projector_config.pbtxt"
    assert (ours / cfg).read_text() == (theirs / cfg).read_text()


def test_pr_curve_as_torch(tmp_path):
    rng = np.random.default_rng(4)
    labels, preds = rng.integers(0, 2, 50), rng.random(50)

    def write(w, lib):
        w.add_pr_curve("pr", lib.from_numpy(labels), lib.from_numpy(preds), 1, num_thresholds=9)
    ours, theirs = _both(tmp_path, write)
    got, want = _load(ours).Tensors("pr")[0], _load(theirs).Tensors("pr")[0]
    assert got.tensor_proto == want.tensor_proto
    tp = np.array(got.tensor_proto.float_val).reshape(6, 9)[0]
    assert tp[0] == labels.sum()  # at threshold 0 every positive is predicted positive


def test_purge_step_and_reopen_after_close(tmp_path):
    w = SummaryWriter(tmp_path, purge_step=5)
    w.add_scalar("x", 1.0, 5)
    w.close()
    w.close()  # a second close is a no-op
    w.add_scalar("x", 2.0, 6)  # opens a new event file
    w.flush()
    w.close()
    assert len([f for f in os.listdir(tmp_path) if f.startswith("events")]) == 2
    assert [(e.step, e.value) for e in _load(tmp_path).Scalars("x")] == [(5, 1.0), (6, 2.0)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_tensorboard_server_serves_scalars(tmp_path):
    values = [2.5, 1.75, 0.5]
    with SummaryWriter(tmp_path / "exp") as w:
        for step, v in enumerate(values):
            w.add_scalar("loss", v, step)
    exe = Path(sys.executable).with_name("tensorboard")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tensorboard.main"]
    port = _free_port()
    proc = subprocess.Popen(cmd + ["--logdir", str(tmp_path), "--host", "127.0.0.1", "--port",
                                   str(port), "--reload_interval", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run=exp&tag=loss"
    try:
        deadline, rows = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    rows = json.loads(r.read())
                if len(rows) == len(values):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        assert rows is not None and len(rows) == len(values), f"no data from {url}: {rows}"
        assert [r[1] for r in rows] == [0, 1, 2]
        np.testing.assert_allclose([r[2] for r in rows], values)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_clear_import_error_without_tensorboard():
    code = ("import sys; sys.modules['tensorboard'] = None\n"
            "import ember\n"
            "try:\n    import ember.utils.tensorboard\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "needs the tensorboard package" in out.stdout
