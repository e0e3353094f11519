"""``ember.jit.trace``/``save``/``load`` and ``ember.export``: saved programs equal the
eager model, load in a fresh process where the model's source does not exist, honour
dynamic dims, and refuse what they cannot represent with clear errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import ember
import ember.nn as nn
from bench import models
from ember.export import Dim

_MODEL_SOURCE = textwrap.dedent("""
    import ember.nn as nn
    import ember.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4 * 4 * 4, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
            return F.log_softmax(self.fc(x.flatten(1)), dim=-1)
""")


def test_traced_program_runs_in_a_fresh_process_without_the_model_source(tmp_path):
    src = tmp_path / "netdef.py"
    src.write_text(_MODEL_SOURCE)
    sys.path.insert(0, str(tmp_path))
    try:
        import netdef
        ember.manual_seed(0)
        model = netdef.Net().eval()
        x = ember.randn(2, 1, 8, 8)
        traced = ember.jit.trace(model, (x,))
        np.testing.assert_allclose(traced(x).numpy(), model(x).detach().numpy(), rtol=1e-6)
        assert "def forward" in traced.code and "conv" in str(traced.graph)
        ember.jit.save(traced, tmp_path / "net.pt")
        np.save(tmp_path / "x.npy", x.numpy())
        np.save(tmp_path / "ref.npy", model(x).detach().numpy())
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("netdef", None)
    src.unlink()  # the model's source is gone
    code = textwrap.dedent(f"""
        import numpy as np, ember
        m = ember.jit.load({str(tmp_path / 'net.pt')!r})
        out = m(ember.from_numpy(np.load({str(tmp_path / 'x.npy')!r})))
        print(np.abs(out.numpy() - np.load({str(tmp_path / 'ref.npy')!r})).max())
        print(",".join(sorted(m.state_dict())))
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    err, keys = res.stdout.split()
    assert float(err) < 1e-6
    assert keys.split(",") == sorted(model.state_dict())


def test_export_with_dynamic_batch_and_sequence_round_trips(tmp_path):
    ember.manual_seed(0)
    model = models.gpt(ember, vocab=32, width=32, heads=2, layers=1, context=64).eval()
    idx = ember.randint(0, 32, (2, 10))
    ep = ember.export.export(model, (idx,),
                             dynamic_shapes={"idx": {0: Dim("batch"), 1: Dim("seq")}})
    assert ep.dynamic_dims == {0: [0, 1]} and ep.input_specs == ["idx"]
    ember.export.save(ep, tmp_path / "gpt.ep")
    loaded = ember.export.load(tmp_path / "gpt.ep").module()
    for b, t in [(2, 10), (3, 7), (5, 33), (4, 2)]:
        x = ember.randint(0, 32, (b, t))
        with ember.no_grad():
            np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-5,
                                       atol=1e-6)


def test_traced_program_runs_at_other_batch_sizes_and_rejects_other_features(tmp_path):
    """As torch's traced programs: the batch dim is free (the program does not depend on
    it), the feature dim is baked into the weights' shapes; so is the dtype."""
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    traced = ember.jit.trace(model, (ember.randn(4, 3),))
    ember.jit.save(traced, tmp_path / "lin.pt")
    loaded = ember.jit.load(tmp_path / "lin.pt")
    for batch in (2, 5, 17):
        x = ember.randn(batch, 3)
        np.testing.assert_allclose(loaded(x).numpy(), model(x).detach().numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match=r"args\[0\]\.shape\[1\] to be equal to 3, but got 4"):
        traced(ember.randn(4, 4))
    with pytest.raises(RuntimeError, match="dtype"):
        traced(ember.randn(4, 3, dtype=ember.float64))


def test_export_refuses_a_dim_that_cannot_vary():
    def f(x):
        return x * (1.0 / x.shape[0])  # the size becomes a float constant
    with pytest.raises(RuntimeError, match=r"cannot be dynamic"):
        ember.export.export(f, (ember.randn(4, 3),), dynamic_shapes=[{0: Dim("n")}])


def test_trace_refuses_data_dependent_control_flow_naming_the_line():
    def f(x):
        return x * 2 if x.sum() > 0 else x
    with pytest.raises(RuntimeError, match=r"jit.trace: cannot capture .*test_jit_export.py"):
        ember.jit.trace(f, (ember.randn(3),))


def _rewrite(path, edit):
    with zipfile.ZipFile(path) as z:
        doc, arrays = json.loads(z.read("program.json")), z.read("arrays.npz")
    doc, arrays = edit(doc, arrays)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("program.json", json.dumps(doc))
        z.writestr("arrays.npz", arrays)


def test_newer_format_unknown_ops_and_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "m.pt"
    ember.jit.save(ember.jit.trace(nn.Linear(3, 2), (ember.randn(1, 3),)), path)

    _rewrite(path, lambda d, a: ({**d, "version": d["version"] + 1}, a))
    with pytest.raises(RuntimeError, match="newer than this ember reads"):
        ember.jit.load(path)

    def rename(doc, arrays):
        doc["version"] -= 1
        doc["nodes"][0]["op"] = "no_such_op"
        return doc, arrays
    _rewrite(path, rename)
    with pytest.raises(RuntimeError, match="'no_such_op'"):
        ember.jit.load(path)

    def pickled(doc, arrays):  # an object array is stored with pickle: never loaded
        buf = io.BytesIO()
        np.savez(buf, a0=np.array([object()], dtype=object))
        return doc, buf.getvalue()
    _rewrite(path, pickled)
    with pytest.raises(ValueError, match="allow_pickle"):
        ember.jit.load(path)


def test_script_decorator_keeps_programs_running():
    @ember.jit.script
    def gelu(x):
        return x * 0.5 * (1.0 + ember.erf(x / 1.41421))
    x = ember.randn(4)
    np.testing.assert_allclose(gelu(x).numpy(), (x * 0.5 * (1.0 + ember.erf(x / 1.41421))).numpy())
    assert not ember.jit.is_scripting()
