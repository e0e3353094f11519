"""ember.func against torch.func on the same functions, in float64."""

import numpy as np
import pytest
import torch
import torch.func as tf

import ember
import ember.func as ef

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-10, atol=1e-12)


def _close(mine, theirs):
    """Same pytree structure and values (ember tensors vs torch tensors)."""
    if isinstance(theirs, dict):
        assert isinstance(mine, dict) and list(mine) == list(theirs)
        for k in theirs:
            _close(mine[k], theirs[k])
    elif isinstance(theirs, (tuple, list)):
        assert type(mine) is type(theirs) and len(mine) == len(theirs)
        for a, b in zip(mine, theirs):
            _close(a, b)
    else:
        assert tuple(mine.shape) == tuple(theirs.shape)
        assert mine.requires_grad == theirs.requires_grad
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), **TOL)


def _pair(*shapes):
    arrays = [RNG.standard_normal(s) for s in shapes]
    return [ember.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


def _mlps():
    """The same small MLP (with a buffer) in ember and torch, float64."""
    def build(lib):
        m = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
        m.register_buffer("scale", lib.tensor([1.5, -0.5], dtype=lib.float64))
        return m.double()
    e, t = build(ember), build(torch)
    for (_, pe), (_, pt) in zip(e.named_parameters(), t.named_parameters()):
        a = RNG.standard_normal(tuple(pt.shape))
        pe.data.copy_(ember.tensor(a))
        pt.data.copy_(torch.tensor(a))
    return e, t


def _loss(lib, fc):
    """An MLP's mean squared error as a function of its parameters (functional_call)."""
    def loss(model, params, x, y):
        out = fc(model, params, (x,)) * model.scale
        return ((out - y) ** 2).mean()
    return loss


def _params(e, t, grad=False):
    pe = {k: v.detach().requires_grad_(grad) for k, v in e.named_parameters()}
    pt = {k: v.detach().requires_grad_(grad) for k, v in t.named_parameters()}
    return pe, pt


def test_functional_call_substitutes_restores_and_passes_gradients():
    e, t = _mlps()
    pe, pt = _params(e, t, grad=True)
    pe = {k: v * 2 for k, v in pe.items()}
    pt = {k: v * 2 for k, v in pt.items()}
    (xe,), (xt,) = _pair((5, 3))
    before = {k: v for k, v in e.named_parameters()}
    oe, ot = ef.functional_call(e, pe, xe), tf.functional_call(t, pt, xt)
    _close(oe, ot)
    assert {k: v for k, v in e.named_parameters()} == before  # originals back in place
    _close(e(xe), t(xt))
    oe.sum().backward()
    ot.sum().backward()
    for k in pt:
        assert pe[k].grad is None  # non-leaf substitutes: the gradient went through them
    le, lt = _params(e, t, grad=True)
    ef.functional_call(e, ({k: v for k, v in le.items() if "0." in k},
                           {k: v for k, v in le.items() if "2." in k}), (xe,)).sum().backward()
    tf.functional_call(t, ({k: v for k, v in lt.items() if "0." in k},
                           {k: v for k, v in lt.items() if "2." in k}), (xt,)).sum().backward()
    for k in lt:
        np.testing.assert_allclose(le[k].grad.numpy(), lt[k].grad.numpy(), **TOL)
    assert all(p.grad is None for p in e.parameters())


def test_functional_call_buffers_kwargs_tied_weights_and_errors():
    class Tied(ember.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = ember.nn.Linear(2, 2, bias=False)
            self.b = ember.nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x, shift=0.0):
            return self.b(self.a(x)) + shift

    m = Tied().double()
    x = ember.ones(1, 2, dtype=ember.float64)
    w = ember.eye(2, dtype=ember.float64) * 3
    assert ef.functional_call(m, {"a.weight": w}, (x,), {"shift": 1.0}).tolist() == [[10., 10.]]
    untied = ef.functional_call(m, {"a.weight": w}, x, tie_weights=False)
    np.testing.assert_allclose(untied.detach().numpy(), (x @ w.T @ m.a.weight.T).detach().numpy())
    with pytest.raises(ValueError, match="tied"):
        ef.functional_call(m, {"a.weight": w, "b.weight": w * 2}, x)
    with pytest.raises(RuntimeError, match="Missing key"):
        ef.functional_call(m, {"a.weight": w}, x, tie_weights=False, strict=True)
    with pytest.raises(ValueError, match="multiple dictionaries"):
        ef.functional_call(m, ({"a.weight": w}, {"a.weight": w}), x)
    # buffers: a training BatchNorm updates the substituted running stats, not its own
    (xe, me), (xt, mt) = _pair((6, 3), (3,))
    bn_e, bn_t = ember.nn.BatchNorm1d(3).double(), torch.nn.BatchNorm1d(3).double()
    _close(ef.functional_call(bn_e, {"running_mean": me}, xe),
           tf.functional_call(bn_t, {"running_mean": mt}, xt))
    _close((me, bn_e.running_mean), (mt, bn_t.running_mean))
    assert bn_e.running_mean.tolist() == [0.0, 0.0, 0.0]
    bn_e.eval()
    bn_t.eval()
    _close(ef.functional_call(bn_e, {"running_var": me.exp()}, xe),
           tf.functional_call(bn_t, {"running_var": mt.exp()}, xt))


def test_grad_grad_and_value_argnums_and_aux():
    (xe, ye), (xt, yt) = _pair((3,), (3,))

    def f(lib):
        return lambda x, y: ((lib.sin(x) * y) ** 2).sum()

    def f_aux(lib):
        return lambda x, y: (f(lib)(x, y), {"c": lib.cos(x)})

    for argnums in (0, 1, (0, 1), (1, 0), -1):
        _close(ef.grad(f(ember), argnums)(xe, ye), tf.grad(f(torch), argnums)(xt, yt))
        _close(ef.grad_and_value(f(ember), argnums)(xe, ye),
               tf.grad_and_value(f(torch), argnums)(xt, yt))
    _close(ef.grad(f_aux(ember), has_aux=True)(xe, ye),
           tf.grad(f_aux(torch), has_aux=True)(xt, yt))
    _close(ef.grad_and_value(f_aux(ember), (0, 1), has_aux=True)(xe, ye),
           tf.grad_and_value(f_aux(torch), (0, 1), has_aux=True)(xt, yt))
    _close(ef.grad(lambda d: (d["a"] * d["b"][0]).sum())({"a": xe, "b": [ye]}),
           tf.grad(lambda d: (d["a"] * d["b"][0]).sum())({"a": xt, "b": [yt]}))
    with pytest.raises(RuntimeError, match="scalar"):
        ef.grad(lambda x: x * 2)(xe)
    # an output independent of the input: zeros, as torch
    _close(ef.grad(lambda x, y: (y ** 2).sum())(xe, ye),
           tf.grad(lambda x, y: (y ** 2).sum())(xt, yt))


def test_nested_grad_closures_and_outer_autograd():
    (xe,), (xt,) = _pair((4,))

    def f(lib):
        return lambda x: (lib.exp(x) * x ** 3).sum()

    def third(g, lib):
        return g(lambda x: g(lambda x: g(f(lib))(x).sum())(x).sum())

    _close(third(ef.grad, ember)(xe), third(tf.grad, torch)(xt))
    # the inner function closes over the outer variable (no perturbation confusion)
    def mixed(g):
        return g(lambda x: g(lambda y: (x * y ** 2).sum())(x).sum())
    _close(mixed(ef.grad)(xe), mixed(tf.grad)(xt))
    # the outer input is a constant for the inner grad, which closes over the outer one
    (ce,), (ct,) = _pair((4,))

    def outer(g):
        return g(lambda w: g(lambda c: (w * c ** 2).sum())(xe if g is ef.grad else xt).sum())
    _close(outer(ef.grad)(ce), outer(tf.grad)(ct))
    # closed-over tensors that require grad keep the result differentiable, as in torch
    (we,), (wt,) = _pair((4,))
    we.requires_grad_(True)
    wt.requires_grad_(True)
    ge = ef.grad(lambda x: (we * x ** 2).sum())(xe)
    gt = tf.grad(lambda x: (wt * x ** 2).sum())(xt)
    _close(ge, gt)
    ge.sum().backward()
    gt.sum().backward()
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), **TOL)


def test_vjp_and_jvp():
    (xe, ye), (xt, yt) = _pair((3,), (2, 3))
    (ue, ve), (ut, vt) = _pair((2, 3), (3,))

    def f(lib):
        return lambda x, y: (lib.tanh(x * y), (x ** 2).sum())

    oe, fn_e = ef.vjp(f(ember), xe, ye)
    ot, fn_t = tf.vjp(f(torch), xt, yt)
    _close(oe, ot)
    for s in (1.0, -2.0):  # the vjp function may be called repeatedly
        _close(fn_e((ue * s, ember.tensor(s, dtype=ember.float64))),
               fn_t((ut * s, torch.tensor(s, dtype=torch.float64))))
    oe, fn_e, aux_e = ef.vjp(lambda x: (x.sin(), x.cos()), xe, has_aux=True)
    ot, fn_t, aux_t = tf.vjp(lambda x: (x.sin(), x.cos()), xt, has_aux=True)
    _close((oe, fn_e(ve), aux_e), (ot, fn_t(vt), aux_t))
    with pytest.raises(RuntimeError, match="structure"):
        fn_e((ve, ve))
    _close(ef.jvp(f(ember), (xe, ye), (ve, ue)), tf.jvp(f(torch), (xt, yt), (vt, ut)))
    _close(ef.jvp(f_aux := (lambda x: (x.exp(), x.sin())), (xe,), (ve,), has_aux=True),
           tf.jvp(f_aux, (xt,), (vt,), has_aux=True))
    oe, lin_e = ef.linearize(f(ember), xe, ye)
    ot, lin_t = tf.linearize(f(torch), xt, yt)
    _close(oe, ot)
    for s in (1.0, 3.0):
        _close(lin_e(ve * s, ue), lin_t(vt * s, ut))
    # functionalize keeps what the function computes and does to its inputs
    def bump(x):
        x.add_(1)
        return x * 2
    ae, at = xe.clone(), xt.clone()
    _close(ef.functionalize(bump)(ae), tf.functionalize(bump)(at))
    _close(ae, at)


def test_jacrev_jacfwd_pytrees_and_argnums():
    (xe, ye), (xt, yt) = _pair((3,), (2, 3))

    def f(lib):
        return lambda x, y: {"a": lib.tanh(x * y), "b": (x ** 2).sum()}

    for e_jac, t_jac in ((ef.jacrev, tf.jacrev), (ef.jacfwd, tf.jacfwd)):
        for argnums in (0, 1, (0, 1)):
            _close(e_jac(f(ember), argnums)(xe, ye), t_jac(f(torch), argnums)(xt, yt))
        _close(e_jac(lambda d: d["x"].exp() * d["y"])({"x": xe, "y": ye}),
               t_jac(lambda d: d["x"].exp() * d["y"])({"x": xt, "y": yt}))
    _close(ef.jacrev(lambda x: (x.sin(), x), has_aux=True)(xe),
           tf.jacrev(lambda x: (x.sin(), x), has_aux=True)(xt))
    _close(ef.jacfwd(ef.jacrev(ember.sin))(xe), tf.jacfwd(tf.jacrev(torch.sin))(xt))


def test_jacrev_and_hessian_of_mlp_loss_wrt_params():
    e, t = _mlps()
    pe, pt = _params(e, t)
    (xe, ye), (xt, yt) = _pair((5, 3), (5, 2))
    le, lt = _loss(ember, ef.functional_call), _loss(torch, tf.functional_call)
    _close(ef.jacrev(le, 1)(e, pe, xe, ye), tf.jacrev(lt, 1)(t, pt, xt, yt))
    _close(ef.grad(le, 1)(e, pe, xe, ye), tf.grad(lt, 1)(t, pt, xt, yt))
    he, ht = ef.hessian(le, 1)(e, pe, xe, ye), tf.hessian(lt, 1)(t, pt, xt, yt)
    _close(he, ht)
    assert he["0.weight"]["2.bias"].shape == (4, 3, 2)
    _close(ef.hessian(le, 2)(e, pe, xe, ye), tf.hessian(lt, 2)(t, pt, xt, yt))


def test_vmap_in_dims_out_dims_nesting_and_errors():
    (xe, ye, ze), (xt, yt, zt) = _pair((4, 3), (3, 4), (3,))

    def f(x, y, z):
        return x * y + z, (x - z).sum()

    for in_dims in (0, (0, 1, None), (-2, -1, None)):
        if in_dims == 0:
            args_e, args_t = (xe, ye.T, ze.expand(4, 3)), (xt, yt.T, zt.expand(4, 3))
        else:
            args_e, args_t = (xe, ye, ze), (xt, yt, zt)
        for out_dims in (0, (1, 0), -1):
            _close(ef.vmap(f, in_dims, out_dims)(*args_e), tf.vmap(f, in_dims, out_dims)(*args_t))
    _close(ef.vmap(lambda d, s: d["a"] @ d["b"] * s, ({"a": 0, "b": None}, None))(
        {"a": xe, "b": ye}, 2.0),
        tf.vmap(lambda d, s: d["a"] @ d["b"] * s, ({"a": 0, "b": None}, None))(
        {"a": xt, "b": yt}, 2.0))
    outer = (lambda v, ve: v(v(lambda a, b: a * b.sum(), (0, None)), (None, 0)))
    _close(outer(ef.vmap, None)(xe, ye), outer(tf.vmap, None)(xt, yt))
    # per-sample gradients: vmap of grad, and grad through vmap
    _close(ef.vmap(ef.grad(lambda r: (r.sin() ** 2).sum()))(xe),
           tf.vmap(tf.grad(lambda r: (r.sin() ** 2).sum()))(xt))
    _close(ef.grad(lambda x: ef.vmap(lambda r: r.dot(r.exp()))(x).sum())(xe),
           tf.grad(lambda x: tf.vmap(lambda r: r.dot(r.exp()))(x).sum())(xt))
    with pytest.raises(ValueError):
        ef.vmap(f, (0, 0))(xe, ye, ze)
    with pytest.raises(ValueError):
        ef.vmap(f)(xe, ye, ze)  # sizes 4 and 3
    with pytest.raises(ValueError):
        ef.vmap(lambda a: a, None)(xe)
    with pytest.raises(ValueError):
        ef.vmap(lambda a: a, 2)(xe)
    with pytest.raises(ValueError):
        ef.vmap(lambda a, n: a * n)(xe, 3)


def test_per_sample_gradients_vmap_of_grad_over_functional_call():
    e, t = _mlps()
    pe, pt = _params(e, t)
    (xe, ye), (xt, yt) = _pair((6, 3), (6, 2))

    def per_sample(lib, fc, f):
        def loss(params, x, y):
            return _loss(lib, fc)(e if lib is ember else t, params, x[None], y[None])
        return f.vmap(f.grad(loss), in_dims=(None, 0, 0))

    _close(per_sample(ember, ef.functional_call, ef)(pe, xe, ye),
           per_sample(torch, tf.functional_call, tf)(pt, xt, yt))


def test_model_ensembling_stack_module_state_vmap_functional_call():
    pairs = [_mlps() for _ in range(3)]
    (xe,), (xt,) = _pair((5, 3))
    params_e, buf_e = ef.stack_module_state([p[0] for p in pairs])
    params_t, buf_t = tf.stack_module_state([p[1] for p in pairs])
    _close((params_e, buf_e), (params_t, buf_t))
    base_e, base_t = pairs[0][0], pairs[0][1]

    def call(fc, base):
        return lambda p, b, x: fc(base, (p, b), (x,))
    _close(ef.vmap(call(ef.functional_call, base_e), (0, 0, None))(params_e, buf_e, xe),
           tf.vmap(call(tf.functional_call, base_t), (0, 0, None))(params_t, buf_t, xt))
    ye = ef.vmap(call(ef.functional_call, base_e), (0, 0, None))(params_e, buf_e, xe)
    yt = tf.vmap(call(tf.functional_call, base_t), (0, 0, None))(params_t, buf_t, xt)
    ye.sum().backward()
    yt.sum().backward()
    for k in params_t:
        np.testing.assert_allclose(params_e[k].grad.numpy(), params_t[k].grad.numpy(), **TOL)
    with pytest.raises(RuntimeError, match="same class"):
        ef.stack_module_state([ember.nn.Linear(2, 2), ember.nn.Conv1d(1, 1, 1)])


def test_replace_all_batch_norm_modules_then_vmap():
    (xe,), (xt,) = _pair((2, 5, 3))
    me = ember.nn.Sequential(ember.nn.Linear(3, 3), ember.nn.BatchNorm1d(3)).double()
    mt = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3)).double()
    me.load_state_dict({k: ember.tensor(v.numpy()) for k, v in mt.state_dict().items()})
    assert ef.replace_all_batch_norm_modules_(me) is me
    tf.replace_all_batch_norm_modules_(mt)
    assert me[1].running_mean is None and not me[1].track_running_stats
    assert dict(me.named_buffers()) == {}
    _close(ef.vmap(me)(xe), tf.vmap(mt)(xt))


def test_vmap_randomness():
    x = ember.zeros(3, 4)
    same = ef.vmap(lambda r: r + ember.rand(4), randomness="same")(x)
    assert np.all(same.numpy() == same.numpy()[0])
    different = ef.vmap(lambda r: r + ember.rand(4), randomness="different")(x)
    assert not np.all(different.numpy() == different.numpy()[0])
    with pytest.raises(RuntimeError, match="randomness error mode"):
        ef.vmap(lambda r: ember.nn.functional.dropout(r, 0.5))(x)
    with pytest.raises(RuntimeError, match="randomness"):
        ef.vmap(lambda r: r, randomness="maybe")
    ef.vmap(lambda r: ember.nn.functional.dropout(r, 0.5, training=False))(x)  # no draw


def test_reachable_as_ember_func_and_torch_func_under_run():
    from ember.run import install_torch_alias, uninstall_torch_alias
    assert ember.func.grad is ef.grad and "func" in dir(ember)
    install_torch_alias()
    try:
        import importlib
        alias = importlib.import_module("torch")
        assert alias.func.vmap is ef.vmap
        from torch.func import functional_call  # noqa: PLC0415 (through the alias)
        assert functional_call is ef.functional_call
    finally:
        uninstall_torch_alias()
