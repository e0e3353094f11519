"""The meta device end to end: tensors with shape, dtype and strides and no storage.

Factories with ``device="meta"`` (or the meta default device) make them, ops on them run
their ``meta`` functions, in-place initialisers check their arguments and write nothing,
modules take ``device="meta"`` as a factory kwarg, and ``Module.to_empty`` gives a model
built on the meta device its memory. torch is the oracle for printing and errors; the
models of ``bench/models.py`` and ``examples/digits_demo.py`` run forward on the meta
device with the shapes they have on the CPU, and a model of a billion parameters is built
and run there without allocating its parameters.
"""

from __future__ import annotations

import copy
import json
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
from bench import models
from tests.test_end_to_end import _demo

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Constructors called on both libraries: ``make(L, device)``.
FACTORIES = {
    "zeros": lambda L, d: L.zeros(2, 3, device=d),
    "ones_int": lambda L, d: L.ones((4,), dtype=L.int32, device=d),
    "empty": lambda L, d: L.empty(2, 0, 3, device=d),
    "full": lambda L, d: L.full((2, 2), 7, device=d),
    "empty_strided": lambda L, d: L.empty_strided((2, 3), (1, 2), device=d),
    "scalar_tensor": lambda L, d: L.scalar_tensor(1.5, device=d),
    "eye": lambda L, d: L.eye(3, 2, dtype=L.float64, device=d),
    "arange": lambda L, d: L.arange(1, 10, 3, device=d),
    "arange_float": lambda L, d: L.arange(0, 1, 0.25, device=d),
    "linspace": lambda L, d: L.linspace(0, 1, 5, device=d),
    "logspace": lambda L, d: L.logspace(0, 2, 3, device=d),
    "tensor": lambda L, d: L.tensor([[1, 2], [3, 4]], device=d),
    "as_tensor": lambda L, d: L.as_tensor([0.5, 1.5], device=d),
    "rand": lambda L, d: L.rand(3, 2, dtype=L.float16, device=d),
    "randn": lambda L, d: L.randn(5, device=d),
    "randint": lambda L, d: L.randint(0, 10, (2, 3), device=d),
    "randperm": lambda L, d: L.randperm(6, device=d),
    "normal_float": lambda L, d: L.normal(0.0, 1.0, (2, 2), device=d),
}


def _meta_like_torch(e: ember.Tensor, t: torch.Tensor) -> None:
    assert e.is_meta and t.is_meta
    assert e.device == ember.device("meta")
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    assert e.stride() == t.stride()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factories_on_meta_match_torch(name):
    make = FACTORIES[name]
    _meta_like_torch(make(ember, "meta"), make(torch, "meta"))
    cpu = make(ember, None)  # the same call on the CPU has the same metadata
    meta = make(ember, "meta")
    assert (cpu.shape, cpu.dtype, cpu.stride()) == (meta.shape, meta.dtype, meta.stride())


def _torch_default_device_reaches() -> dict:
    """Which factories torch's ``with device("meta")`` reaches, asked when this module is
    collected: ``transformers``' ``from_pretrained`` (tests/test_llm_models.py) leaves
    torch's device context skipping ``linspace`` for the rest of the process."""
    out = {}
    for name, make in FACTORIES.items():
        with torch.device("meta"):
            out[name] = make(torch, None).is_meta
    return out


TORCH_REACHES = _torch_default_device_reaches()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_default_device_follows_torch(name):
    """``with device("meta")`` and ``set_default_device("meta")`` reach exactly the
    constructors torch's default device reaches (not ``normal(float, float)``)."""
    make = FACTORIES[name]
    expected = TORCH_REACHES[name]
    with ember.device("meta"):
        assert make(ember, None).is_meta == expected
    ember.set_default_device("meta")
    try:
        assert make(ember, None).is_meta == expected
    finally:
        ember.set_default_device(None)
    assert not make(ember, None).is_meta


@pytest.mark.parametrize("make", [
    lambda L, out: L.zeros(2, out=out), lambda L, out: L.arange(5, out=out),
    lambda L, out: L.rand(2, 2, out=out), lambda L, out: L.eye(3, out=out),
    lambda L, out: L.normal(0.0, 1.0, (4,), out=out),
    lambda L, out: L.zeros(2, out=out, device="meta"),
], ids=["zeros", "arange", "rand", "eye", "normal", "device-meta"])
@pytest.mark.parametrize("where", ["meta", "cpu"])
def test_factories_write_out_on_its_device(make, where):
    """With ``out=`` a factory runs on out's device; another explicit ``device`` fails."""
    def run(L):
        out = L.empty(3, device=where)
        try:
            return make(L, out), out
        except RuntimeError as exc:
            return exc, out
    (t, t_out), (e, e_out) = run(torch), run(ember)
    if isinstance(t, Exception):
        assert isinstance(e, RuntimeError) and str(e) == str(t)
        return
    assert t is t_out and e is e_out and e.is_meta == t.is_meta
    assert (tuple(e.shape), str(e.dtype)[6:]) == (tuple(t.shape), str(t.dtype)[6:])


def test_factories_allocate_nothing():
    """A 64 GB tensor on the meta device is metadata only."""
    t = ember.empty(1 << 34, dtype=ember.float32, device="meta")
    assert t.is_meta and t.numel() == 1 << 34 and t.nbytes == 1 << 36
    assert not isinstance(t._data, np.ndarray)


LIKE = {
    "zeros_like": lambda L, x, **k: L.zeros_like(x, **k),
    "ones_like": lambda L, x, **k: L.ones_like(x, **k),
    "empty_like": lambda L, x, **k: L.empty_like(x, **k),
    "full_like": lambda L, x, **k: L.full_like(x, 3.0, **k),
    "rand_like": lambda L, x, **k: L.rand_like(x, **k),
    "randn_like": lambda L, x, **k: L.randn_like(x, **k),
    "randint_like": lambda L, x, **k: L.randint_like(x, 5, **k),
    "new_empty": lambda L, x, **k: x.new_empty((2, 5), **k),
    "new_zeros": lambda L, x, **k: x.new_zeros(4, **k),
    "new_full": lambda L, x, **k: x.new_full((3,), 1.0, **k),
    "new_tensor": lambda L, x, **k: x.new_tensor([1.0, 2.0], **k),
}


@pytest.mark.parametrize("name", sorted(LIKE))
def test_like_and_new_factories_keep_the_device(name):
    """``*_like`` and ``Tensor.new_*`` make their result where their input is, or on
    ``device=``; meta results keep the input's layout as torch's do."""
    make = LIKE[name]
    t_meta = torch.empty(4, 3, dtype=torch.float64, device="meta").t()
    e_meta = ember.empty(4, 3, dtype=ember.float64, device="meta").t()
    _meta_like_torch(make(ember, e_meta), make(torch, t_meta))
    t_cpu, e_cpu = torch.zeros(4, 3).t(), ember.zeros(4, 3).t()
    _meta_like_torch(make(ember, e_cpu, device="meta"), make(torch, t_cpu, device="meta"))
    with ember.device("meta"):  # the default device is not theirs
        assert not make(ember, e_cpu).is_meta


def test_empty_like_from_meta_to_cpu_keeps_layout():
    meta = ember.empty(4, 3, device="meta").t()
    cpu = ember.empty_like(meta, device="cpu")
    ref = torch.empty_like(torch.empty(4, 3, device="meta").t(), device="cpu")
    assert not cpu.is_meta and isinstance(cpu._data, np.ndarray)
    assert (tuple(cpu.shape), cpu.stride()) == (tuple(ref.shape), ref.stride())


def test_to_meta_keeps_shape_layout_and_requires_grad():
    x = ember.ones(4, 3, requires_grad=True)
    y = x.t().to("meta")
    ref = torch.ones(4, 3, requires_grad=True).t().to("meta")
    _meta_like_torch(y, ref)
    assert y.requires_grad
    assert y.to("meta") is y
    z = x.to("meta", ember.float64)
    assert z.is_meta and z.dtype is ember.float64
    assert x.to(device=ember.device("meta")).is_meta


def test_ops_on_meta_tensors_give_meta_results():
    a = ember.empty(2, 3, device="meta", requires_grad=True)
    b = ember.empty(3, 4, device="meta")
    out = (a @ b).relu().sum(dim=1)
    ta = torch.empty(2, 3, device="meta", requires_grad=True)
    ref = (ta @ torch.empty(3, 4, device="meta")).relu().sum(dim=1)
    _meta_like_torch(out, ref)
    assert out.requires_grad == ref.requires_grad


@pytest.mark.parametrize("make", [
    lambda L: L.empty(3, 4, device="meta"),
    lambda L: L.empty(3, 4, dtype=L.int64, device="meta"),
    lambda L: L.empty((), device="meta"),
    lambda L: L.empty(0, device="meta"),
    lambda L: L.empty(2, dtype=L.float64, device="meta", requires_grad=True),
    lambda L: L.nn.Parameter(L.empty(2, 5, device="meta")),
], ids=["float", "int64", "0-d", "empty", "float64-requires-grad", "parameter"])
def test_meta_tensors_print_as_in_torch(make):
    assert repr(make(ember)) == repr(make(torch)).replace("torch.", "ember.")


def test_meta_scalars_format_as_their_repr():
    assert f"{ember.empty((), device='meta')}" == \
        f"{torch.empty((), device='meta')}".replace("torch.", "ember.")


def test_meta_tensors_print_dtype_against_the_default_dtype():
    ember.set_default_dtype(ember.float64)
    torch.set_default_dtype(torch.float64)
    try:
        for dt in ("float32", "float64"):
            e = ember.empty(2, dtype=getattr(ember, dt), device="meta")
            t = torch.empty(2, dtype=getattr(torch, dt), device="meta")
            assert repr(e) == repr(t).replace("torch.", "ember.")
    finally:
        ember.set_default_dtype(ember.float32)
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("call", [
    lambda t, s: t.numpy(),
    lambda t, s: t.item(),
    lambda t, s: s.item(),
    lambda t, s: bool(s),
    lambda t, s: int(s),
    lambda t, s: [0, 1][s],
    lambda t, s: t.tolist(),
    lambda t, s: t.cpu(),
    lambda t, s: t.to("cpu"),
], ids=["numpy", "item-3", "item", "bool", "int", "index", "tolist", "cpu", "to-cpu"])
def test_meta_data_access_raises_as_torch(call):
    """There is no data: torch's exception types and messages."""
    def args(L):
        return L.empty(3, device="meta"), L.empty((), dtype=L.int64, device="meta")
    with pytest.raises(Exception) as expected:
        call(*args(torch))
    with pytest.raises(type(expected.value)) as got:
        call(*args(ember))
    assert str(got.value) == str(expected.value)


def _rng_state() -> bytes:
    return ember.get_rng_state()._data.tobytes()


@pytest.mark.parametrize("fill", [
    lambda t: t.uniform_(-1, 1), lambda t: t.normal_(0, 2), lambda t: t.random_(0, 5),
    lambda t: t.bernoulli_(0.3), lambda t: t.exponential_(), lambda t: t.geometric_(0.5),
    lambda t: t.log_normal_(), lambda t: t.cauchy_(), lambda t: t.zero_(),
    lambda t: t.fill_(2.0), lambda t: t.copy_(ember.empty(4, device="meta")),
    lambda t: nn.init.uniform_(t), lambda t: nn.init.normal_(t),
    lambda t: nn.init.trunc_normal_(t), lambda t: nn.init.constant_(t, 0.5),
    lambda t: nn.init.ones_(t), lambda t: nn.init.zeros_(t), lambda t: nn.init.eye_(t),
    lambda t: nn.init.xavier_uniform_(t), lambda t: nn.init.xavier_normal_(t),
    lambda t: nn.init.kaiming_uniform_(t), lambda t: nn.init.kaiming_normal_(t),
    lambda t: nn.init.orthogonal_(t), lambda t: nn.init.sparse_(t, 0.5),
])
def test_inplace_initialisers_on_meta_draw_nothing(fill):
    t = ember.empty(3, 4, device="meta")
    before = _rng_state()
    assert fill(t) is t
    assert t.is_meta and tuple(t.shape) == (3, 4)
    assert _rng_state() == before  # nothing was drawn


@pytest.mark.parametrize("bad", [
    lambda t, d: t.copy_(ember.empty(5, device=d)),
    lambda t, d: t.add_(ember.empty(2, 3, 4, device=d)),
    lambda t, d: t.normal_(0, -1.0),
    lambda t, d: t.random_(5, 2),
    lambda t, d: nn.init.kaiming_uniform_(t[0]),
    lambda t, d: nn.init.eye_(t.unsqueeze(0)),
], ids=["copy_", "add_", "normal_", "random_", "kaiming_uniform_", "eye_"])
def test_inplace_ops_on_meta_still_check(bad):
    """Shapes and parameters are checked on the meta device as on the CPU."""
    with pytest.raises(Exception) as on_cpu:
        bad(ember.empty(3, 4), "cpu")
    with pytest.raises(type(on_cpu.value)):
        bad(ember.empty(3, 4, device="meta"), "meta")


MODULES = {
    "Linear": lambda **k: nn.Linear(3, 4, **k),
    "Bilinear": lambda **k: nn.Bilinear(3, 2, 4, **k),
    "Embedding": lambda **k: nn.Embedding(10, 4, **k),
    "LayerNorm": lambda **k: nn.LayerNorm(4, **k),
    "RMSNorm": lambda **k: nn.RMSNorm(4, **k),
    "GroupNorm": lambda **k: nn.GroupNorm(2, 4, **k),
    "BatchNorm2d": lambda **k: nn.BatchNorm2d(4, **k),
    "Conv2d": lambda **k: nn.Conv2d(3, 4, 3, **k),
    "ConvTranspose1d": lambda **k: nn.ConvTranspose1d(3, 4, 3, **k),
    "LSTM": lambda **k: nn.LSTM(3, 4, num_layers=2, **k),
    "GRUCell": lambda **k: nn.GRUCell(3, 4, **k),
    "PReLU": lambda **k: nn.PReLU(**k),
    "MultiheadAttention": lambda **k: nn.MultiheadAttention(8, 2, **k),
    "Transformer": lambda **k: nn.Transformer(8, 2, 1, 1, 16, **k),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_take_device_meta(name):
    """``device="meta"`` as a factory kwarg: every parameter and buffer is meta, with the
    shapes and dtypes the module has on the CPU; parameters stay Parameters."""
    meta, cpu = MODULES[name](device="meta"), MODULES[name]()
    meta_state = dict(meta.named_parameters()) | dict(meta.named_buffers())
    cpu_state = dict(cpu.named_parameters()) | dict(cpu.named_buffers())
    assert meta_state.keys() == cpu_state.keys()
    for key, t in meta_state.items():
        assert t.is_meta, key
        assert (t.shape, t.dtype) == (cpu_state[key].shape, cpu_state[key].dtype), key
    for p in meta.parameters():
        assert isinstance(p, nn.Parameter) and p.requires_grad
    assert all(p.is_meta for p in copy.deepcopy(meta).parameters())


def test_to_empty_materialises_a_meta_model():
    ember.manual_seed(0)
    src = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    model = nn.Sequential(nn.Linear(3, 8, device="meta"), nn.BatchNorm1d(8, device="meta"),
                          nn.Linear(8, 2, device="meta"))
    weight = model[0].weight
    assert model.to_empty(device=None)[0].weight.is_meta  # None: stays where it is
    model.to_empty(device="cpu")
    assert model[0].weight is weight  # parameters keep their identity (optimizers stay valid)
    for key, t in list(model.named_parameters()) + list(model.named_buffers()):
        assert not t.is_meta and isinstance(t._data, np.ndarray), key
    assert model[1].num_batches_tracked.dtype is ember.int64
    model.load_state_dict(src.state_dict())
    x = ember.randn(5, 3)
    np.testing.assert_array_equal(model.eval()(x).detach().numpy(),
                                  src.eval()(x).detach().numpy())


def test_load_state_dict_across_the_meta_device_as_torch():
    """Into a meta model: a no-op with torch's warning, or the tensors themselves with
    ``assign=True`` (the usual way to materialise a meta model); out of a meta state dict:
    torch's error."""
    ember.manual_seed(0)
    src = nn.Linear(2, 3)
    model = nn.Linear(2, 3, device="meta")
    with pytest.warns(UserWarning, match="for weight: copying from a non-meta parameter in the "
                      "checkpoint to a meta parameter in the current model, which is a no-op"):
        model.load_state_dict(src.state_dict())
    assert model.weight.is_meta
    model.load_state_dict(src.state_dict(), assign=True)
    assert isinstance(model.weight, nn.Parameter) and model.weight.requires_grad
    x = ember.randn(4, 2)
    np.testing.assert_array_equal(model(x).detach().numpy(), src(x).detach().numpy())
    with pytest.raises(RuntimeError) as expected:
        torch.nn.Linear(2, 3).load_state_dict(torch.nn.Linear(2, 3, device="meta").state_dict())
    with pytest.raises(RuntimeError) as got:
        nn.Linear(2, 3).load_state_dict(nn.Linear(2, 3, device="meta").state_dict())
    assert str(got.value) == str(expected.value).replace("torch.", "ember.")


def test_module_to_meta_and_back_as_torch():
    model = nn.Linear(3, 2).to("meta")
    assert model.weight.is_meta and isinstance(model.weight, nn.Parameter)
    with pytest.raises(NotImplementedError) as expected:
        torch.nn.Linear(3, 2, device="meta").to("cpu")
    with pytest.raises(NotImplementedError) as got:
        model.to("cpu")
    assert str(got.value) == str(expected.value)
    assert nn.Linear(3, 2).to("meta", ember.float64).weight.dtype is ember.float64


# ---- whole models ---------------------------------------------------------------------------

def _shapes(model) -> dict:
    return {k: (tuple(t.shape), t.dtype) for k, t in model.state_dict().items()}


def _same_model_on_meta_and_cpu(build, make_input):
    ember.manual_seed(0)
    cpu_model = build()
    cpu_out = cpu_model(make_input(None))
    with ember.device("meta"):
        meta_model = build()
        meta_out = meta_model(make_input(None))
    assert all(p.is_meta for p in meta_model.parameters())
    assert _shapes(meta_model) == _shapes(cpu_model)
    assert meta_out.is_meta and not cpu_out.is_meta
    assert (tuple(meta_out.shape), meta_out.dtype, meta_out.stride()) == \
        (tuple(cpu_out.shape), cpu_out.dtype, cpu_out.stride())
    assert meta_out.requires_grad == cpu_out.requires_grad


def test_bench_gpt_runs_on_meta():
    """bench/models.py's GPT with its real configuration (the forward makes its causal
    mask and positions with factories, which follow the meta default device)."""
    _same_model_on_meta_and_cpu(lambda: models.gpt(ember),
                                lambda d: ember.randint(0, 96, (2, 64), device=d))


def test_digits_cnn_runs_on_meta():
    demo = _demo()
    _same_model_on_meta_and_cpu(demo.DigitsCNN, lambda d: ember.rand(16, 1, 8, 8, device=d))


def test_meta_gpt_shapes_match_torch_meta():
    with ember.device("meta"):
        e_model = models.gpt(ember)
        e_out = e_model(ember.randint(0, 96, (2, 32)))
    with torch.device("meta"):
        t_model = models.gpt(torch)
        t_out = t_model(torch.randint(0, 96, (2, 32)))
    assert {k: tuple(v.shape) for k, v in e_model.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in t_model.state_dict().items()}
    _meta_like_torch(e_out, t_out)


_BIG_MODEL = textwrap.dedent("""
    import json, resource, sys
    sys.path.insert(0, {root!r})
    import ember
    from bench import models

    def peak_mb():
        try:
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
        except OSError:  # not Linux: getrusage's peak (bytes on macOS, KB elsewhere)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return peak / (1 << 20 if sys.platform == "darwin" else 1024)

    with ember.device("meta"):  # warm up: imports and first-call paths
        models.gpt(ember, layers=1)(ember.randint(0, 96, (1, 8)))
    before = peak_mb()
    with ember.device("meta"):
        model = models.gpt(ember, width=2048, heads=16, layers=20, context=1024)
        out = model(ember.randint(0, 96, (1, 1024)))
    print(json.dumps({{"grown_mb": peak_mb() - before,
                      "params": sum(p.numel() for p in model.parameters()),
                      "nbytes": sum(p.nbytes for p in model.parameters()),
                      "out_shape": list(out.shape), "out_meta": out.is_meta}}))
""")


def test_billion_parameter_model_allocates_nothing():
    """A GPT of ~1e9 parameters (4 GB of float32 if real) is built and run forward on a
    1024-token sequence on the meta device; the peak resident memory of a fresh process
    grows by less than 50 MB meanwhile."""
    result = subprocess.run([sys.executable, "-c", _BIG_MODEL.format(root=str(ROOT))],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["params"] > 1_000_000_000 and report["nbytes"] > 4_000_000_000
    assert report["grown_mb"] < 50, f"peak resident memory grew by {report['grown_mb']:.1f} MB"
    assert report["out_shape"] == [1, 1024, 96] and report["out_meta"]


def test_modes_see_every_op_of_a_meta_forward_including_factories():
    """A dispatch mode on a meta forward sees the factories too (the GPT's causal mask and
    positions are made inside forward), with ``device`` in their keyword arguments, and
    ``op.apply`` of the recorded call gives a meta tensor again -- what a capture on meta
    tensors needs."""
    class Record(ember._dispatch.DispatchMode):
        def __init__(self):
            self.calls = []

        def __ember_dispatch__(self, op, args, kwargs):
            out = op.apply(*args, **kwargs)
            self.calls.append((op, kwargs.get("device"), out))
            return out

    with ember.device("meta"):
        model = models.gpt(ember)
        with Record() as rec:
            model(ember.randint(0, 96, (2, 32)))
    factories = [(op.aten, dev) for op, dev, _ in rec.calls if op.kind == "factory"]
    assert factories and all(dev == ember.device("meta") for _, dev in factories), factories
    assert all(o.is_meta for _, _, out in rec.calls
               for o in (out if isinstance(out, tuple) else (out,)) if isinstance(o, ember.Tensor))
