"""ember.optim against torch.optim: same initial parameters, same gradient function, same steps.

Gradients come from a fixed smooth convex loss computed in NumPy on each side's own
parameters, f(p) = sum(c/2 p^2 - cos p + d p), so each side follows its own trajectory and
any difference in the update rule shows up in the parameters.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
import ember.optim as eoptim

SHAPES = [(3, 4), (5,), ()]
STEPS = 20


def _problem(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    coef = [(1.5 + rng.random(s), rng.standard_normal(s)) for s in SHAPES]
    return init, coef


def _loss_and_grad(p: np.ndarray, c) -> tuple[float, np.ndarray]:
    a, d = c
    loss = float(np.sum(0.5 * a * p * p - np.cos(p) + d * p))
    return loss, np.asarray(a * p + np.sin(p) + d, dtype=p.dtype)


def _pair(init):
    e = [ember.tensor(a.copy(), requires_grad=True) for a in init]
    t = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    return e, t


def _set_grads(e_params, t_params, coef, skip=()):
    """Assign each side the gradient at its own parameters; params in ``skip`` get none."""
    for i, (ep, tp, c) in enumerate(zip(e_params, t_params, coef)):
        if i in skip:
            continue
        ep.grad = ember.from_numpy(_loss_and_grad(ep._data.copy(), c)[1])
        tp.grad = torch.from_numpy(_loss_and_grad(tp.detach().numpy().copy(), c)[1])


def _assert_params_close(e_params, t_params, atol=1e-6, rtol=1e-6):
    for ep, tp in zip(e_params, t_params):
        assert ep.dtype.name == str(tp.dtype).split(".")[1]
        np.testing.assert_allclose(ep._data, tp.detach().numpy(), rtol=rtol, atol=atol)


def _to_numpy(v):
    if isinstance(v, torch.Tensor):
        return v.detach().numpy()
    return v._data if isinstance(v, ember.Tensor) else v


def _assert_state_close(e_opt, t_opt, atol=1e-6, check_dtype=True):
    """Same state keys per parameter index, same values and the same dtypes."""
    es, ts = e_opt.state_dict()["state"], t_opt.state_dict()["state"]
    assert sorted(es) == sorted(ts)
    for idx in ts:
        assert sorted(es[idx]) == sorted(ts[idx])
        for key, tv in ts[idx].items():
            ev = es[idx][key]
            if isinstance(tv, torch.Tensor):
                assert isinstance(ev, ember.Tensor), key
                assert ev._data.dtype == tv.detach().numpy().dtype or not check_dtype, key
                np.testing.assert_allclose(ev._data, tv.detach().numpy(), atol=atol, rtol=1e-6)
            else:
                assert ev == tv, key


def _run(name, kwargs, dtype=np.float64, steps=STEPS, skip=(), atol=1e-6, rtol=1e-6):
    init, coef = _problem(dtype)
    e_params, t_params = _pair(init)
    e_opt = getattr(eoptim, name)(e_params, **kwargs)
    t_opt = getattr(torch.optim, name)(t_params, **kwargs)
    for _ in range(steps):
        _set_grads(e_params, t_params, coef, skip)
        e_opt.step()
        t_opt.step()
        _assert_params_close(e_params, t_params, atol, rtol)
    _assert_state_close(e_opt, t_opt)
    return e_opt, t_opt


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6, maximize=True)),
    ("Adam", dict(lr=0.05, foreach=False, capturable=False, differentiable=False)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("Adamax", dict(lr=0.05)),
    ("Adamax", dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.05, maximize=True)),
    ("RAdam", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-6)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("name,kwargs", CASES,
                         ids=[f"{n}-{'-'.join(map(str, k.items()))}" for n, k in CASES])
def test_trajectory_matches_torch(name, kwargs):
    _run(name, kwargs)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
                                  "RMSprop", "Adagrad", "Adadelta"])
def test_float32_and_missing_grad(name):
    # float32 rounds like torch's; the parameter that never gets a gradient gets no state
    kwargs = {"lr": 0.01, "momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    _run(name, kwargs, dtype=np.float32, skip=(1,), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9)),
                                         ("Adam", dict(lr=0.05, amsgrad=True)),
                                         ("RMSprop", dict(lr=0.01, centered=True)),
                                         ("Adagrad", dict(lr=0.1))])
def test_complex_params(name, kwargs):
    rng = np.random.default_rng(1)
    init = [rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))]
    e_params, t_params = _pair(init)
    e_opt = getattr(eoptim, name)(e_params, **kwargs)
    t_opt = getattr(torch.optim, name)(t_params, **kwargs)
    for _ in range(10):
        for ep, tp in zip(e_params, t_params):
            ep.grad = ember.from_numpy(ep._data * (1 - 0.5j) + 1)
            tp.grad = tp.detach() * (1 - 0.5j) + 1
        e_opt.step()
        t_opt.step()
    np.testing.assert_allclose(e_params[0]._data, t_params[0].detach().numpy(), atol=1e-6)


def _groups(params, options):
    return [dict(params=[p], **o) for p, o in zip(params, options)]


@pytest.mark.parametrize("name,options", [
    ("SGD", [dict(lr=0.1), dict(momentum=0.9, nesterov=True), dict(weight_decay=0.2)]),
    ("Adam", [dict(), dict(lr=0.01, betas=(0.5, 0.6)), dict(amsgrad=True, weight_decay=0.1)]),
    ("RMSprop", [dict(centered=True), dict(momentum=0.9), dict(alpha=0.5)]),
])
def test_param_groups_with_own_options(name, options):
    init, coef = _problem()
    e_params, t_params = _pair(init)
    e_opt = getattr(eoptim, name)(_groups(e_params, options), lr=0.05)
    t_opt = getattr(torch.optim, name)(_groups(t_params, options), lr=0.05)
    for _ in range(STEPS):
        _set_grads(e_params, t_params, coef)
        e_opt.step()
        t_opt.step()
    _assert_params_close(e_params, t_params)
    assert repr(e_opt) == repr(t_opt)
    assert [sorted(g) for g in e_opt.state_dict()["param_groups"]] == \
        [sorted(g) for g in t_opt.state_dict()["param_groups"]]


def test_add_param_group_later():
    init, coef = _problem()
    e_params, t_params = _pair(init)
    e_opt = eoptim.Adagrad(e_params[:2], lr=0.1)
    t_opt = torch.optim.Adagrad(t_params[:2], lr=0.1)
    for step in range(10):
        if step == 4:
            e_opt.add_param_group({"params": e_params[2], "lr": 0.3})
            t_opt.add_param_group({"params": t_params[2], "lr": 0.3})
        _set_grads(e_params, t_params, coef)
        e_opt.step()
        t_opt.step()
    _assert_params_close(e_params, t_params)
    _assert_state_close(e_opt, t_opt)


def _raises_like(fn_e, fn_t, same_message=True):
    with pytest.raises(Exception) as t_err:
        fn_t()
    with pytest.raises(type(t_err.value)) as e_err:
        fn_e()
    if same_message:
        assert str(e_err.value) == str(t_err.value)


def test_argument_errors_match_torch():
    e, t = _pair(_problem()[0])
    _raises_like(lambda: eoptim.SGD([], lr=0.1), lambda: torch.optim.SGD([], lr=0.1))
    _raises_like(lambda: eoptim.SGD(e[0], lr=0.1), lambda: torch.optim.SGD(t[0], lr=0.1),
                 same_message=False)  # the message names the tensor type
    _raises_like(lambda: eoptim.SGD([{"params": [e[0]]}, {"params": [e[0], e[1]]}]),
                 lambda: torch.optim.SGD([{"params": [t[0]]}, {"params": [t[0], t[1]]}]))
    _raises_like(lambda: eoptim.SGD([{"params": {e[0]}}]),
                 lambda: torch.optim.SGD([{"params": {t[0]}}]))
    _raises_like(lambda: eoptim.SGD(e, lr=-1), lambda: torch.optim.SGD(t, lr=-1))
    _raises_like(lambda: eoptim.SGD(e, nesterov=True), lambda: torch.optim.SGD(t, nesterov=True))
    _raises_like(lambda: eoptim.Adam(e, betas=(1.0, 0.9)),
                 lambda: torch.optim.Adam(t, betas=(1.0, 0.9)))
    _raises_like(lambda: eoptim.Adam(e, eps=-1.0), lambda: torch.optim.Adam(t, eps=-1.0))
    _raises_like(lambda: eoptim.RMSprop(e, alpha=-1.0), lambda: torch.optim.RMSprop(t, alpha=-1.0))
    _raises_like(lambda: eoptim.Adadelta(e, rho=2.0), lambda: torch.optim.Adadelta(t, rho=2.0))
    _raises_like(lambda: eoptim.LBFGS([{"params": [e[0]]}, {"params": [e[1]]}]),
                 lambda: torch.optim.LBFGS([{"params": [t[0]]}, {"params": [t[1]]}]))
    nonleaf_e = e[0] * 2
    nonleaf_t = t[0] * 2
    _raises_like(lambda: eoptim.SGD([nonleaf_e]), lambda: torch.optim.SGD([nonleaf_t]))


def test_named_params():
    e, t = _pair(_problem()[0])
    e_opt = eoptim.SGD([("a", e[0]), ("b", e[1])], lr=0.1)
    t_opt = torch.optim.SGD([("a", t[0]), ("b", t[1])], lr=0.1)
    assert e_opt.state_dict()["param_groups"] == t_opt.state_dict()["param_groups"]
    _raises_like(lambda: e_opt.add_param_group({"params": [e[2]]}),
                 lambda: t_opt.add_param_group({"params": [t[2]]}))


def test_duplicate_params_warn():
    e, t = _pair(_problem()[0])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        eoptim.SGD([e[0], e[0]], lr=0.1)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    init, coef = _problem()
    e, t = _pair(init)
    e_opt, t_opt = eoptim.SGD(e, lr=0.1), torch.optim.SGD(t, lr=0.1)
    _set_grads(e, t, coef, skip=(2,))
    e_grad = e[0].grad
    e_opt.zero_grad(set_to_none=set_to_none)
    t_opt.zero_grad(set_to_none=set_to_none)
    for ep, tp in zip(e, t):
        assert (ep.grad is None) == (tp.grad is None)
        if tp.grad is not None:
            np.testing.assert_array_equal(ep.grad._data, tp.grad.numpy())
    if not set_to_none:
        assert e[0].grad is e_grad  # zeroed in place
    e_opt.step()  # zero gradients still step (momentum-free SGD: no change), None skips
    t_opt.step()
    _assert_params_close(e, t)


def test_step_bumps_version_and_keeps_identity():
    init, coef = _problem()
    e, t = _pair(init)
    data = [p._data for p in e]
    versions = [p._version for p in e]
    opt = eoptim.Adam(e, lr=0.1)
    _set_grads(e, t, coef, skip=(1,))
    opt.step()
    assert [p._data is d for p, d in zip(e, data)] == [True] * 3
    assert [p._version > v for p, v in zip(e, versions)] == [True, False, True]


def _ember_to_torch(obj):
    if isinstance(obj, ember.Tensor):
        return torch.from_numpy(np.array(obj._data))
    if isinstance(obj, dict):
        return {k: _ember_to_torch(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_ember_to_torch(v) for v in obj)
    return obj


def _torch_to_ember(obj):
    if isinstance(obj, torch.Tensor):
        return ember.from_numpy(obj.detach().numpy().copy())
    if isinstance(obj, dict):
        return {k: _torch_to_ember(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_torch_to_ember(v) for v in obj)
    return obj


ROUND_TRIP = [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
              ("Adam", dict(lr=0.05, amsgrad=True)), ("AdamW", dict(lr=0.05)),
              ("Adamax", dict(lr=0.05)), ("NAdam", dict(lr=0.05)), ("RAdam", dict(lr=0.05)),
              ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
              ("Adagrad", dict(lr=0.1, lr_decay=0.01)), ("Adadelta", dict(lr=0.5))]


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
def test_state_dict_round_trips_through_torch(name, kwargs):
    init, coef = _problem()
    e, t = _pair(init)
    e_opt = getattr(eoptim, name)(e, **kwargs)
    t_opt = getattr(torch.optim, name)(t, **kwargs)
    for _ in range(6):
        _set_grads(e, t, coef)
        e_opt.step()
        t_opt.step()
    # ember -> torch: a torch optimizer resumed from ember's state follows ember
    e_sd = e_opt.state_dict()
    t2 = [torch.tensor(p._data.copy(), requires_grad=True) for p in e]
    t2_opt = getattr(torch.optim, name)(t2, **kwargs)
    t2_opt.load_state_dict(_ember_to_torch(e_sd))
    # torch -> ember: an ember optimizer resumed from torch's state follows torch
    e2 = [ember.tensor(p.detach().numpy().copy(), requires_grad=True) for p in t]
    e2_opt = getattr(eoptim, name)(e2, lr=123.0)
    e2_opt.load_state_dict(_torch_to_ember(t_opt.state_dict()))
    assert e2_opt.param_groups[0]["lr"] == kwargs["lr"]
    for _ in range(10):
        _set_grads(e, t2, coef)
        _set_grads(e2, t, coef)
        for opt in (e_opt, t2_opt, e2_opt, t_opt):
            opt.step()
    _assert_params_close(e, t2)
    _assert_params_close(e2, t)
    # loading casts NAdam's float32 mu_product to the parameters' dtype, in torch as in ember
    _assert_state_close(e_opt, t2_opt, check_dtype=False)
    _assert_state_close(e2_opt, t_opt, check_dtype=False)


def test_load_state_dict_errors_and_copies():
    e, t = _pair(_problem()[0])
    opt = eoptim.Adam(e, lr=0.1)
    _set_grads(e, t, _problem()[1])
    opt.step()
    sd = opt.state_dict()
    other = eoptim.Adam(e[:2], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        other.load_state_dict(sd)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        eoptim.Adam([{"params": e[:1]}, {"params": e[1:]}]).load_state_dict(sd)
    fresh = eoptim.Adam(e, lr=0.5)
    fresh.load_state_dict(sd)
    assert fresh.state[e[0]]["exp_avg"] is not opt.state[e[0]]["exp_avg"]
    assert fresh.param_groups[0]["params"][0] is e[0]


def test_hooks():
    calls = []
    e, t = _pair(_problem()[0])
    opt = eoptim.SGD(e, lr=0.1)
    h1 = opt.register_step_pre_hook(lambda o, a, k: calls.append(("pre", o is opt)))
    opt.register_step_post_hook(lambda o, a, k: calls.append(("post", o is opt)))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load"))
    opt.step()
    h1.remove()
    opt.step()
    assert calls == [("pre", True), ("post", True), ("post", True)]
    assert opt.state_dict()["extra"] == 1
    opt.load_state_dict(opt.state_dict())
    assert calls[-1] == "load"


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("history_size", [3, 100])
def test_lbfgs(line_search_fn, history_size):
    init, coef = _problem()
    e, t = _pair(init)
    kwargs = dict(lr=0.8, max_iter=8, history_size=history_size, line_search_fn=line_search_fn)
    e_opt, t_opt = eoptim.LBFGS(e, **kwargs), torch.optim.LBFGS(t, **kwargs)

    def closure(params, make):
        def run():
            loss = 0.0
            for p, c in zip(params, coef):
                arr = p._data.copy() if isinstance(p, ember.Tensor) else p.detach().numpy()
                f, g = _loss_and_grad(arr.copy(), c)
                p.grad = make(g)
                loss += f
            return loss
        return run

    for _ in range(3):
        e_loss = e_opt.step(closure(e, ember.from_numpy))
        t_loss = t_opt.step(closure(t, torch.from_numpy))
        assert e_loss == pytest.approx(t_loss, rel=1e-9)
        _assert_params_close(e, t, atol=1e-8)
    e_state, t_state = e_opt.state[e[0]], t_opt.state[t[0]]
    assert e_state["func_evals"] == t_state["func_evals"]
    assert e_state["n_iter"] == t_state["n_iter"]


def test_repr_matches_torch():
    e, t = _pair(_problem()[0])
    for name in ["SGD", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "RMSprop", "Adagrad",
                 "Adadelta", "LBFGS"]:
        assert repr(getattr(eoptim, name)(e)) == repr(getattr(torch.optim, name)(t))


def test_step_runs_closure_with_grad_enabled():
    e, _ = _pair(_problem()[0])
    opt = eoptim.SGD(e, lr=0.1)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = opt.step(lambda: seen.append(ember.is_grad_enabled()) or 3.0)
    assert loss == 3.0 and seen == [True]
