"""Module API behaviour compared with torch.nn: registration, iteration order, state_dict,
hooks, reprs, containers."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

import ember
from ember import nn


class _Net:
    """The same small network in both libraries (shared submodule, buffer, ModuleList)."""

    @staticmethod
    def build(lib):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = lib.nn.Linear(3, 4)
                self.act = lib.nn.ReLU()
                self.blocks = lib.nn.ModuleList([lib.nn.Linear(4, 4), lib.nn.Tanh()])
                self.shared = self.fc1
                self.register_buffer("running", lib.zeros(4))
                self.register_buffer("scratch", lib.ones(2), persistent=False)
                self.scale = lib.nn.Parameter(lib.ones(1))

            def forward(self, x):
                return self.blocks[1](self.blocks[0](self.act(self.fc1(x)))) * self.scale
        return Net()


def _copy_params(src: torch.nn.Module, dst: nn.Module) -> None:
    for (n1, p1), (n2, p2) in zip(src.named_parameters(), dst.named_parameters()):
        assert n1 == n2
        p2._data[...] = p1.detach().numpy()


def test_names_orders_and_dedup_match_torch():
    t, e = _Net.build(torch), _Net.build(ember)
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in t.named_parameters(remove_duplicate=False)]
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in e.named_modules(prefix="m", remove_duplicate=False)] == \
        [n for n, _ in t.named_modules(prefix="m", remove_duplicate=False)]
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in e.named_children()] == [n for n, _ in t.named_children()]
    assert list(e.state_dict()) == list(t.state_dict())
    assert [n for n, _ in e.named_parameters(recurse=False)] == \
        [n for n, _ in t.named_parameters(recurse=False)]
    assert repr(e) == repr(t)


def test_forward_and_gradients_match_torch():
    t, e = _Net.build(torch).double(), _Net.build(ember).double()
    _copy_params(t, e)
    x = np.random.default_rng(0).standard_normal((5, 3))
    yt = t(torch.from_numpy(x))
    ye = e(ember.from_numpy(x.copy()))
    np.testing.assert_allclose(ye._data, yt.detach().numpy(), rtol=1e-12)
    yt.sum().backward()
    ye.sum().backward()
    for (_, pt), (_, pe) in zip(t.named_parameters(), e.named_parameters()):
        np.testing.assert_allclose(pe.grad._data, pt.grad.numpy(), rtol=1e-10)


def test_strict_load_failure_changes_nothing():
    m = nn.Linear(3, 2)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    bad = {"weight": ember.zeros(2, 3), "bias": ember.zeros(5)}
    with pytest.raises(RuntimeError) as err:
        m.load_state_dict(bad)
    tm = torch.nn.Linear(3, 2)
    with pytest.raises(RuntimeError) as terr:
        tm.load_state_dict({"weight": torch.zeros(2, 3), "bias": torch.zeros(5)})
    assert str(err.value).split(": copying")[0] == str(terr.value).split(": copying")[0]
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v._data, before[k]._data)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        m.load_state_dict({"weight": ember.zeros(2, 3), "bias": ember.zeros(2), "x": ember.ones(1)})
    np.testing.assert_array_equal(m.weight._data, before["weight"]._data)


def test_load_state_dict_keys_match_torch():
    t, e = _Net.build(torch), _Net.build(ember)
    sd_t = t.state_dict()
    del sd_t["fc1.bias"]
    sd_t["extra.weight"] = torch.ones(1)
    res_t = t.load_state_dict(sd_t, strict=False)
    sd_e = {k: ember.from_numpy(v.numpy().copy()) for k, v in sd_t.items()}
    res_e = e.load_state_dict(sd_e, strict=False)
    assert res_e.missing_keys == res_t.missing_keys
    assert res_e.unexpected_keys == res_t.unexpected_keys
    np.testing.assert_array_equal(e.fc1.weight._data, t.fc1.weight.detach().numpy())
    assert repr(e.load_state_dict(e.state_dict())) == "<All keys matched successfully>"


def test_forward_hooks_order_and_removal():
    calls = []
    m = nn.Linear(2, 2)
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre1"))
    m.register_forward_pre_hook(lambda mod, args: calls.append("pre0"), prepend=True)
    m.register_forward_hook(lambda mod, args, out: calls.append("post"))
    m.register_forward_hook(lambda mod, args, kwargs, out: out * 0, with_kwargs=True)
    out = m(ember.ones(1, 2))
    assert calls == ["pre0", "pre1", "post"]
    assert not out._data.any()
    h1.remove()
    calls.clear()
    m(ember.ones(1, 2))
    assert calls == ["pre0", "post"]


def _backward_hook_log(lib):
    lin = lib.nn.Linear(3, 2).double()
    log = []
    lin.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", go[0].numpy().copy())))
    lin.register_full_backward_hook(
        lambda mod, gi, go: log.append(("full", gi[0].numpy().copy(), go[0].numpy().copy())))
    with lib.no_grad():
        lin.weight.copy_(lib.ones(2, 3, dtype=lib.float64))
    x = lib.ones(4, 3, dtype=lib.float64, requires_grad=True)
    (lin(x) * lib.arange(8, dtype=lib.float64).reshape(4, 2)).sum().backward()
    return log


def test_full_backward_hooks_match_torch():
    lt, le = _backward_hook_log(torch), _backward_hook_log(ember)
    assert [r[0] for r in le] == [r[0] for r in lt] == ["pre", "full"]
    for rt, re_ in zip(lt, le):
        for a, b in zip(rt[1:], re_[1:]):
            np.testing.assert_allclose(b, a)


def test_attribute_routing_and_errors():
    m = nn.Module()
    m.w = nn.Parameter(ember.ones(2))
    assert "w" in m._parameters
    with pytest.raises(TypeError):
        m.w = ember.ones(2)
    m.w = None
    assert m._parameters["w"] is None
    m.sub = nn.ReLU()
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nope'"):
        m.nope
    with pytest.raises(KeyError):
        m.register_buffer("a.b", ember.ones(1))
    m.b = nn.Buffer(ember.ones(1), persistent=False)
    assert "b" in m._buffers and "b" in m._non_persistent_buffers_set
    assert type(m.b) is ember.Tensor


def test_train_eval_apply_zero_grad_to():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    m.eval()
    assert not m[1].training
    m.train()
    assert all(mod.training for mod in m.modules())
    m(ember.ones(1, 2)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert not m[0].weight.grad._data.any()
    m.zero_grad()
    assert m[0].weight.grad is None
    w = m[0].weight
    m.double()
    assert m[0].weight is w and w.dtype == ember.float64
    with pytest.raises(TypeError):
        m.to(ember.int64)
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "Dropout", "Sequential"]


def test_parameter_and_copies():
    p = nn.Parameter(ember.ones(2))
    assert repr(p) == repr(torch.nn.Parameter(torch.ones(2))).replace("torch", "ember")
    assert type(copy.deepcopy(p)) is nn.Parameter
    q = pickle.loads(pickle.dumps(p))
    assert type(q) is nn.Parameter and q.requires_grad
    m = nn.Linear(2, 2)
    m.tied = m.weight
    c = copy.deepcopy(m)
    assert c.tied is c.weight and c.weight is not m.weight


def test_containers_match_torch():
    def build(lib):
        seq = lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Tanh())
        seq.append(lib.nn.Sigmoid())
        seq.insert(1, lib.nn.Identity())
        ml = lib.nn.ModuleList([lib.nn.Linear(2, 2) for _ in range(3)])
        ml.append(lib.nn.ReLU())
        del ml[0]
        md = lib.nn.ModuleDict({"x": lib.nn.ReLU()})
        md.update([("y", lib.nn.Flatten())])
        pl = lib.nn.ParameterList([lib.ones(2, 3), lib.nn.Parameter(lib.ones(2))])
        named = lib.nn.Sequential(OrderedDict([("a", lib.nn.ReLU()), ("b", lib.nn.Tanh())]))
        return seq, ml, md, pl, seq[1:], seq[-1], named
    for a, b in zip(build(ember), build(torch)):
        assert repr(a) == repr(b)
    e_seq = build(ember)[0]
    assert len(e_seq) == 4 and isinstance(build(ember)[3][0], nn.Parameter)
    with pytest.raises(IndexError):
        e_seq[10]


def test_state_dict_keep_vars_and_submodule_lookup():
    m = nn.Sequential(nn.Linear(2, 3))
    assert m.state_dict(keep_vars=True)["0.weight"] is m[0].weight
    assert m.state_dict()["0.weight"] is not m[0].weight
    assert m.get_submodule("0") is m[0]
    assert m.get_parameter("0.bias") is m[0].bias
    with pytest.raises(AttributeError):
        m.get_submodule("1")


def _hook_log(lib):
    """state_dict pre hooks, a load pre hook that renames an old checkpoint's keys, and the
    legacy register_backward_hook name, as a migration script would use them."""
    log = []
    m = lib.nn.Sequential(lib.nn.Linear(2, 2))
    m[0].register_state_dict_pre_hook(lambda mod, prefix, keep_vars: log.append(
        (prefix, keep_vars)))

    def rename(mod, sd, prefix, metadata, strict, missing, unexpected, errors):
        for key in [k for k in sd if k.startswith(prefix + "w_")]:
            sd[prefix + key[len(prefix) + 2:]] = sd.pop(key)
    handle = m[0].register_load_state_dict_pre_hook(rename)
    log.append(list(m.state_dict(keep_vars=True)))
    old = {"0.w_weight": lib.ones(2, 2), "0.w_bias": lib.zeros(2)}
    log.append(repr(m.load_state_dict(old)))
    log.append(m[0].weight.detach().numpy().tolist())
    handle.remove()
    with pytest.raises(RuntimeError, match="Missing key"):
        m.load_state_dict({"0.w_weight": lib.ones(2, 2), "0.w_bias": lib.zeros(2)})
    m[0]._register_load_state_dict_pre_hook(
        lambda sd, prefix, *rest: log.append(("private", prefix)))
    m.load_state_dict(m.state_dict())
    return log


def test_state_dict_and_load_pre_hooks_match_torch():
    assert _hook_log(ember) == _hook_log(torch)


def test_register_backward_hook_is_a_full_hook():
    m = nn.Linear(3, 2)
    seen = []
    m.register_backward_hook(lambda mod, gi, go: seen.append((len(gi), tuple(gi[0].shape))))
    m(ember.ones(4, 3, requires_grad=True)).sum().backward()
    assert seen == [(1, (4, 3))]  # the gradient of the module's input, not of addmm's args


def _mixed_input_hook_log(lib):
    class Two(lib.nn.Module):
        def forward(self, a, b, scale):
            return a * 2 * scale, b * 3
    log = []
    m = Two()
    m.register_full_backward_hook(lambda mod, gi, go: log.append(
        [None if g is None else g.tolist() for g in gi + go]))
    a = lib.ones(2, requires_grad=True)
    x, y = m(a, lib.ones(2), 0.5)
    (x.sum() + y.sum()).backward()
    return log, a.grad.tolist()


def test_full_backward_hook_with_inputs_that_need_no_grad_matches_torch():
    assert _mixed_input_hook_log(ember) == _mixed_input_hook_log(torch)
