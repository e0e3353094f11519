"""Devices, the CUDA/backends/accelerator stubs, thread and determinism settings, autocast
and GradScaler, each against what torch's CPU build does."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

import ember

torch.set_num_threads(1)


def _outcome(fn):
    """(value or repr, exception type or None), warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(), None
        except Exception as exc:
            return None, type(exc)


def _same_outcome(fn):
    (t, t_exc), (e, e_exc) = _outcome(lambda: fn(torch)), _outcome(lambda: fn(ember))
    assert e_exc is t_exc, f"torch: {t_exc}, ember: {e_exc}"
    return e, t


DEVICE_CASES = [
    lambda L: L.device("cuda:0"), lambda L: L.device("cuda", 1), lambda L: L.device(0),
    lambda L: L.device("cpu:0"), lambda L: L.device("cpu", 0), lambda L: L.device("cuda:-1"),
    lambda L: L.device("cuda:x"), lambda L: L.device("foo"), lambda L: L.device("cuda:0", 1),
    lambda L: L.device("cuda", -1), lambda L: L.device("CPU"), lambda L: L.device(" cpu"),
    lambda L: L.device("cuda:01"), lambda L: L.device("cuda:1 "), lambda L: L.device(1.0),
    lambda L: L.device("meta"), lambda L: L.device("cuda", "1"), lambda L: L.device(None),
    lambda L: L.device(L.device("mps", 2)), lambda L: L.device(type="cpu", index=None),
    lambda L: L.device("cpu") == "cpu", lambda L: L.device("cpu") == L.device("cpu", 0),
    lambda L: L.device("cpu") == L.device("cpu"), lambda L: L.device("cpu") == 1,
    lambda L: str(L.device("cuda", 1)), lambda L: L.device("cuda", 1).index,
    lambda L: L.device("cuda", 1).type, lambda L: L.device("cpu").index,
    lambda L: pickle.loads(pickle.dumps(L.device("cuda:1"))),
    lambda L: hash(L.device("cpu")) == hash(L.device("cpu")),
    lambda L: L.zeros(2, device="cuda"), lambda L: L.zeros(2, device="xpu"),
    lambda L: L.ones(2).cuda(), lambda L: L.zeros(2, device=0),
    lambda L: L.zeros(2, device=-1), lambda L: L.zeros(2, device=L.device("cpu", 0)).device,
    lambda L: L.get_default_device(),
]


@pytest.mark.parametrize("i", range(len(DEVICE_CASES)))
def test_device_like_torch(i):
    e, t = _same_outcome(DEVICE_CASES[i])
    if t is not None:
        assert repr(e) == repr(t)


STUBS = [
    lambda L: L.cuda.is_available(), lambda L: L.cuda.device_count(),
    lambda L: L.cuda.manual_seed(1), lambda L: L.cuda.manual_seed_all(1),
    lambda L: L.cuda.synchronize(), lambda L: L.cuda.empty_cache(),
    lambda L: L.cuda.current_device(), lambda L: L.cuda.get_device_name(),
    lambda L: L.cuda.is_initialized(), lambda L: L.cuda.is_bf16_supported(),
    lambda L: L.cuda.get_device_properties(0), lambda L: L.cuda.memory_allocated(),
    lambda L: L.cuda.max_memory_allocated(), lambda L: L.cuda.seed(),
    lambda L: L.cuda.initial_seed(), lambda L: L.cuda.get_rng_state(),
    lambda L: L.cuda.get_device_capability(), lambda L: L.cuda.Stream(),
    lambda L: L.backends.mps.is_available(), lambda L: L.backends.mps.is_built(),
    lambda L: L.backends.cudnn.is_available(), lambda L: L.backends.cudnn.enabled,
    lambda L: L.backends.cudnn.benchmark, lambda L: L.backends.cudnn.deterministic,
    lambda L: L.backends.cudnn.version(), lambda L: L.backends.cudnn.allow_tf32,
    lambda L: L.backends.cuda.matmul.allow_tf32, lambda L: L.backends.cuda.is_built(),
    lambda L: L.backends.cuda.matmul.allow_fp16_reduced_precision_reduction,
    lambda L: L.backends.cuda.matmul.allow_bf16_reduced_precision_reduction,
    lambda L: L.backends.cuda.flash_sdp_enabled(), lambda L: L.backends.cuda.math_sdp_enabled(),
    lambda L: L.backends.cuda.mem_efficient_sdp_enabled(), lambda L: L.backends.mkldnn.enabled,
    lambda L: L.accelerator.is_available(), lambda L: L.accelerator.current_accelerator(),
    lambda L: L.accelerator.device_count(), lambda L: L.accelerator.current_device_index(),
    lambda L: L.cpu.is_available(), lambda L: L.cpu.device_count(),
    lambda L: L.are_deterministic_algorithms_enabled(),
    lambda L: L.is_deterministic_algorithms_warn_only_enabled(),
    lambda L: L.get_float32_matmul_precision(), lambda L: L.get_deterministic_debug_mode(),
    lambda L: L.set_num_threads(0), lambda L: L.set_num_threads(-1),
    lambda L: L.set_num_threads(1.5), lambda L: L.set_num_interop_threads(0),
    lambda L: L.is_autocast_enabled(), lambda L: L.is_autocast_enabled("cpu"),
    lambda L: L.get_autocast_dtype("cpu"), lambda L: L.amp.is_autocast_available("cpu"),
]


@pytest.mark.parametrize("i", range(len(STUBS)))
def test_stub_like_torch(i):
    e, t = _same_outcome(STUBS[i])
    if t is not None:
        assert repr(e).replace("ember.", "torch.") == repr(t)


def test_backends_we_do_not_link_are_unavailable():
    # torch's own build links oneDNN, MKL and OpenMP; ember uses none of them.
    assert not ember.backends.mkldnn.is_available()
    assert not ember.backends.mkl.is_available()
    assert not ember.backends.openmp.is_available()


def test_flags_are_settable():
    ember.backends.cudnn.benchmark = True
    ember.backends.cuda.matmul.allow_tf32 = True
    try:
        assert ember.backends.cudnn.benchmark and ember.backends.cuda.matmul.allow_tf32
        with ember.backends.cudnn.flags(enabled=False, deterministic=True):
            assert not ember.backends.cudnn.enabled and ember.backends.cudnn.deterministic
        assert ember.backends.cudnn.enabled and not ember.backends.cudnn.deterministic
    finally:
        ember.backends.cudnn.benchmark = False
        ember.backends.cuda.matmul.allow_tf32 = False


def test_threads_and_settings():
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        assert ember.get_num_threads() == 1
        ember.set_num_interop_threads(3)
        assert ember.get_num_interop_threads() == 3
    finally:
        ember.set_num_threads(old)
    for lib in (torch, ember):
        lib.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert ember.are_deterministic_algorithms_enabled()
        assert ember.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
    finally:
        for lib in (torch, ember):
            lib.use_deterministic_algorithms(False)
    try:
        for lib in (torch, ember):
            lib.set_float32_matmul_precision("high")
        assert ember.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
        with pytest.warns(UserWarning):
            ember.set_float32_matmul_precision("bad")
        assert ember.get_float32_matmul_precision() == "high"
    finally:
        for lib in (torch, ember):
            lib.set_float32_matmul_precision("highest")


def test_numba_follows_thread_count():
    numba = pytest.importorskip("numba")
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        assert numba.get_num_threads() == 1
    finally:
        ember.set_num_threads(old)


# ---- autocast ------------------------------------------------------------------------------

def _warning_kinds(fn):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        obj = fn()
    return obj, sorted(w.category.__name__ for w in rec)


@pytest.mark.parametrize("make", [
    lambda L: L.autocast("cuda"), lambda L: L.autocast("cpu"),
    lambda L: L.autocast("cpu", dtype=L.float16), lambda L: L.autocast("cpu", dtype=L.float32),
    lambda L: L.cuda.amp.autocast(), lambda L: L.cpu.amp.autocast(),
    lambda L: L.amp.autocast("cpu", enabled=False), lambda L: L.amp.GradScaler(),
    lambda L: L.amp.GradScaler("cpu"), lambda L: L.cuda.amp.GradScaler(),
])
def test_amp_constructors_warn_like_torch(make):
    (t, t_warn), (e, e_warn) = _warning_kinds(lambda: make(torch)), _warning_kinds(
        lambda: make(ember))
    assert e_warn == t_warn
    for attr in ("_enabled", "fast_dtype", "device"):
        if hasattr(t, attr):
            assert repr(getattr(e, attr)).replace("ember.", "torch.") == repr(getattr(t, attr))


def test_autocast_bad_device_type():
    for lib in (torch, ember):
        with pytest.raises(RuntimeError):
            lib.autocast("xyz")


def _mm_inputs(lib):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    return lib.from_numpy(a).requires_grad_(), lib.from_numpy(b).requires_grad_()


def test_cpu_autocast_casts_matmul_inputs():
    results = {}
    for lib in (torch, ember):
        a, b = _mm_inputs(lib)
        with lib.autocast("cpu", dtype=lib.float16):
            assert lib.is_autocast_enabled("cpu")
            y = a @ b
            z = a + 1.0
            with lib.autocast("cpu", enabled=False):
                inner = a @ b
            after = lib.matmul(a, b)
        y.float().sum().backward()
        results[lib] = (y, z, inner, after, a.grad)
        assert not lib.is_autocast_enabled("cpu")
    for e, t in zip(results[ember], results[torch]):
        assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_allclose(e.detach()._data.astype(np.float64),
                                   t.detach().double().numpy(), rtol=2e-3, atol=2e-3)


def test_autocast_decorator():
    @ember.autocast("cpu", dtype=ember.float16)
    def f(a, b):
        return a @ b

    a, b = _mm_inputs(ember)
    assert f(a, b).dtype is ember.float16
    assert (a @ b).dtype is ember.float32


# ---- GradScaler ------------------------------------------------------------------------------

def test_disabled_grad_scaler_is_transparent():
    with pytest.warns(UserWarning, match="Disabling"):
        scaler = ember.amp.GradScaler()
    p = ember.nn.Parameter(ember.ones(2))
    opt = ember.optim.SGD([p], lr=0.5)
    loss = (p * 2).sum()
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0
    loss.backward()
    scaler.unscale_(opt)
    assert scaler.step(opt) is None
    scaler.update()
    assert p.tolist() == [0.0, 0.0] and scaler.state_dict() == {}
    assert not scaler.is_enabled()


def test_cpu_grad_scaler_matches_torch():
    """Same steps on both libraries, including a step whose gradient is inf (skipped)."""
    history = {}
    for lib in (torch, ember):
        p = lib.nn.Parameter(lib.tensor([1.0, -2.0]))
        opt = lib.optim.SGD([p], lr=0.1)
        scaler = lib.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
        record = []
        for step in range(5):
            opt.zero_grad()
            w = lib.tensor([1.0, float("inf") if step == 2 else 3.0])
            loss = (p * p * w).sum()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            record.append((scaler.get_scale(), p.detach().tolist()))
        record.append(scaler.state_dict())
        history[lib] = record
    assert history[ember] == history[torch]


def test_grad_scaler_stage_errors_and_state_dict():
    p = ember.nn.Parameter(ember.tensor([1.0]))
    opt = ember.optim.SGD([p], lr=0.1)
    s = ember.amp.GradScaler("cpu")
    s.scale(p.sum()).backward()
    s.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        s.unscale_(opt)
    s.step(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        s.step(opt)
    s.update()
    other = ember.amp.GradScaler("cpu", init_scale=1.0)
    other.load_state_dict(s.state_dict())
    assert other.state_dict() == s.state_dict()
    scaled = s.scale([ember.ones(1), (ember.full((1,), 2.0),)])
    assert isinstance(scaled, list) and isinstance(scaled[1], tuple)
    assert scaled[0].tolist() == [2.0 ** 16] and scaled[1][0].tolist() == [2.0 ** 17]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
def test_cpu_autocast_linear_returns_autocast_dtype(dtype, shape):
    """The float32 bias is cast with the other inputs, so the result stays low precision."""
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in (shape, (5, 4), (5,)))
    outs = {}
    for lib in (torch, ember):
        with lib.autocast("cpu", dtype=getattr(lib, dtype)):
            outs[lib] = lib.nn.functional.linear(*(lib.from_numpy(a) for a in (x, w, b)))
    assert str(outs[ember].dtype).replace("ember", "torch") == str(outs[torch].dtype)
    np.testing.assert_allclose(outs[ember].float().numpy(), outs[torch].float().numpy(),
                               rtol=2e-2, atol=5e-2)
