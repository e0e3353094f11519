"""torch's import paths and pickle names: every name ember covers resolves at torch's path
under ``ember.run``'s alias, pickles name torch's paths, whole pickled modules move between
torch and ember both ways, and torch's safe-globals API and load environment variables
behave as torch's."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import pickle
import pkgutil
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
import torch

import ember
from ember import serialization
from ember._torch_names import torch_name
from ember.run import install_torch_alias, uninstall_torch_alias

PROGRAM = __file__.rsplit("/", 1)[0] + "/programs/pickled_model.py"

# torch's documented modules and the ember namespace where a name counts as covered
_NAMESPACES = {"torch.nn.modules": "ember.nn", "torch.nn.utils": "ember.nn.utils",
               "torch.optim": "ember.optim", "torch.utils.data": "ember.utils.data",
               "torch.autograd": "ember.autograd", "torch.nn.parameter": "ember.nn",
               "torch.nn.functional": "ember.nn.functional", "torch.nn.init": "ember.nn.init",
               "torch.serialization": "ember.serialization"}
_SKIP = ("datapipes", "_", "profiler", "variable")

# named by the issue: must resolve whatever the rest covers
_REQUIRED = [("torch.nn.modules.activation", "MultiheadAttention"),
             ("torch.nn.modules.linear", "NonDynamicallyQuantizableLinear"),
             ("torch.nn.modules.batchnorm", "BatchNorm2d"),
             ("torch.nn.modules.instancenorm", "InstanceNorm1d"),
             ("torch.nn.modules.utils", "_pair"),
             ("torch.nn.modules.utils", "consume_prefix_in_state_dict_if_present"),
             ("torch.nn.parameter", "Parameter"), ("torch._utils", "_rebuild_tensor_v2"),
             ("torch._utils", "_rebuild_parameter"),
             ("torch.utils.data.dataloader", "get_worker_info"),
             ("torch.serialization", "safe_globals"), ("torch.serialization", "add_safe_globals"),
             ("torch.serialization", "get_safe_globals"),
             ("torch.serialization", "clear_safe_globals")]


def _torch_modules() -> list[str]:
    names = []
    for root in _NAMESPACES:
        mod = importlib.import_module(root)
        names.append(root)
        for info in pkgutil.walk_packages(getattr(mod, "__path__", []), root + "."):
            tail = info.name[len(root) + 1:].split(".")
            if not any(p.startswith(_SKIP) for p in tail):
                names.append(info.name)
    return names


def _covered() -> list[tuple[str, str, object]]:
    """(torch module, name, torch's object) for every public name of torch's documented
    modules that ember has in the matching public namespace."""
    out = []
    for modname in _torch_modules():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = importlib.import_module(modname)
        except ImportError:
            continue
        space = importlib.import_module(next(v for k, v in _NAMESPACES.items()
                                             if modname == k or modname.startswith(k + ".")))
        for name in getattr(mod, "__all__", []):
            if hasattr(space, name) and not inspect.ismodule(getattr(space, name)):
                out.append((modname, name, getattr(mod, name)))
    return out


COVERED = _covered()


def _resolve_under_alias(pairs):
    install_torch_alias()
    try:
        found, missing = {}, []
        for modname, name in pairs:
            try:
                found[modname, name] = getattr(importlib.import_module(modname), name)
            except (ImportError, AttributeError) as exc:
                missing.append(f"{modname}.{name}: {exc}")
        return found, missing
    finally:
        uninstall_torch_alias()


def test_every_covered_name_resolves_at_torchs_path():
    assert len(COVERED) > 300  # the enumeration itself works
    pairs = [(m, n) for m, n, _ in COVERED] + _REQUIRED
    found, missing = _resolve_under_alias(pairs)
    assert not missing, "\n".join(missing)
    for m, n in pairs:  # it is ember's object (not torch's leaking through)
        mod = getattr(found[m, n], "__module__", None)
        assert mod is None or not mod.startswith("torch"), (m, n, mod)


def test_pickles_name_torchs_paths():
    """Every covered class and Python function pickles under the name torch pickles it."""
    found, _ = _resolve_under_alias([(m, n) for m, n, _ in COVERED])
    wrong = []
    for m, n, theirs in COVERED:
        ours = found.get((m, n))
        if not (isinstance(theirs, type) or type(theirs).__name__ == "function"):
            continue
        if theirs.__qualname__ != n:  # torch's alias of a private function
            continue
        expected = (theirs.__module__, theirs.__qualname__)
        if torch_name(ours) != expected:
            wrong.append(f"{m}.{n}: ember writes {torch_name(ours)}, torch {expected}")
    assert not wrong, "\n".join(wrong)


def _run(mode: str, path, under_ember: bool) -> dict:
    cmd = [sys.executable] + (["-m", "ember.run"] if under_ember else []) + \
        [PROGRAM, mode, str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("saver", ["torch", "ember"])
def test_whole_pickled_model_moves_between_torch_and_ember(tmp_path, saver):
    """torch.save(model) (conv, batch norm, attention, LSTM/GRU, transformer, norms,
    embedding, a loss and a torch function as attributes) loads in the other library
    with weights_only=False and gives the same outputs."""
    path = tmp_path / "model.pt"
    saved = _run("save", path, under_ember=saver == "ember")
    loaded = _run("load", path, under_ember=saver == "torch")
    np.testing.assert_allclose(loaded["out"], saved["out"], rtol=1e-5, atol=1e-6)
    assert loaded["loss"] == pytest.approx(saved["loss"], rel=1e-5)
    assert loaded["training"] is False
    assert loaded["attn"] == ("ember.nn.modules.attention" if saver == "torch"
                              else "torch.nn.modules.activation")
    if saver == "ember":  # the file names torch's paths only
        with zipfile.ZipFile(path) as zf:
            pkl = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
        assert b"ember" not in pkl and b"torch.nn.modules.activation" in pkl


class Point:
    """A user class inside a checkpoint (importable by torch and ember alike)."""

    def __init__(self, x, y):
        self.x, self.y = x, y


def _point_file() -> bytes:
    buf = io.BytesIO()
    ember.save({"p": Point(1, ember.tensor([2.0, 3.0]))}, buf)
    return buf.getvalue()


def _load_both(data: bytes, **kwargs):
    """ember.load and torch.load on the same bytes: each result or the exception type."""
    results = []
    for load in (ember.load, torch.load):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = load(io.BytesIO(data), **kwargs)
            results.append(("ok", obj["p"].x, obj["p"].y.tolist()))
        except Exception as exc:  # compared by type with torch's below
            results.append(type(exc).__name__)
    return results


@pytest.fixture
def clean_safe_globals():
    serialization.clear_safe_globals()
    torch.serialization.clear_safe_globals()
    yield
    serialization.clear_safe_globals()
    torch.serialization.clear_safe_globals()


def test_safe_globals_as_torch(clean_safe_globals):
    data = _point_file()
    ours, theirs = _load_both(data)
    assert ours == theirs == "UnpicklingError"
    with serialization.safe_globals([Point]), torch.serialization.safe_globals([Point]):
        assert serialization.get_safe_globals() == [Point]
        ours, theirs = _load_both(data)
        assert ours == theirs == ("ok", 1, [2.0, 3.0])
    assert serialization.get_safe_globals() == []
    assert _load_both(data) == ["UnpicklingError"] * 2
    # the (object, "module.qualname") form names the global as the file does
    entry = (Point, f"{__name__}.Point")
    serialization.add_safe_globals([entry])
    torch.serialization.add_safe_globals([entry])
    assert serialization.get_safe_globals() == [entry]
    assert _load_both(data) == [("ok", 1, [2.0, 3.0])] * 2
    serialization.clear_safe_globals()
    assert serialization.get_safe_globals() == []
    with pytest.raises(pickle.UnpicklingError):
        ember.load(io.BytesIO(data))


def test_safe_global_ember_class_matches_torchs_name(clean_safe_globals):
    # ember writes torch's name for its classes; allowing ember's class allows that name
    buf = io.BytesIO()
    ember.save(ember.nn.Identity(), buf)
    with pytest.raises(pickle.UnpicklingError):
        ember.load(io.BytesIO(buf.getvalue()))
    with serialization.safe_globals([ember.nn.Identity]):
        assert isinstance(ember.load(io.BytesIO(buf.getvalue())), ember.nn.Identity)


@pytest.mark.parametrize("env, kwargs", [
    ({"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}, {}),
    ({"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "true"}, {"weights_only": True}),
    ({"TORCH_FORCE_WEIGHTS_ONLY_LOAD": "1"}, {"weights_only": False}),
    ({"TORCH_FORCE_WEIGHTS_ONLY_LOAD": "0"}, {"weights_only": False}),
    ({"TORCH_FORCE_WEIGHTS_ONLY_LOAD": "yes", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}, {}),
    ({}, {"pickle_module": pickle}),
    ({}, {"pickle_module": pickle, "weights_only": True}),
])
def test_weights_only_environment_as_torch(monkeypatch, clean_safe_globals, env, kwargs):
    for key in ("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_WEIGHTS_ONLY_LOAD"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ours, theirs = _load_both(_point_file(), **kwargs)
    assert ours == theirs


def test_torch_builtin_functions_in_pickles_resolve():
    """torch pickles its built-in functions under its C namespaces."""
    buf = io.BytesIO()
    torch.save({"a": torch.relu, "b": torch.nn.functional.gelu, "c": torch.special.expit,
                "d": torch.nn.functional.silu}, buf)
    got = ember.load(io.BytesIO(buf.getvalue()), weights_only=False)
    assert got == {"a": ember.relu, "b": ember.nn.functional.gelu,
                   "c": ember.special.expit, "d": ember.nn.functional.silu}
