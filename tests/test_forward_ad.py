"""Forward-mode AD (``ember.autograd.forward_ad``, ``ember.func.jvp``/``jacfwd``) against
torch's, and against finite differences in float64."""

import importlib
import pkgutil

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as tfw
import torch.func as tf
import torch.nn.functional as TF

import ember
import ember.autograd.forward_ad as efw
import ember.func as ef
import ember.nn.functional as EF
from tests.conformance.harness import TensorList

RNG = np.random.default_rng(0)


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _close(mine, theirs, atol=1e-6, rtol=1e-5):
    np.testing.assert_allclose(_np(mine), _np(theirs), atol=atol, rtol=rtol)


def _dual_run(lib, fwd, fn, primals, tangents):
    """``fn`` on dual tensors made from numpy ``primals``/``tangents``: (primal, tangent)."""
    with fwd.dual_level():
        duals = [fwd.make_dual(lib.tensor(p), lib.tensor(t)) for p, t in zip(primals, tangents)]
        out = fwd.unpack_dual(fn(lib, *duals))
        return _np(out.primal), _np(out.tangent)


def _fd(fn, primals, tangents, eps=1e-6):
    """Central finite difference of ``fn`` (on ember tensors) along the tangents."""
    plus = fn(ember, *[ember.tensor(p + eps * t) for p, t in zip(primals, tangents)])
    minus = fn(ember, *[ember.tensor(p - eps * t) for p, t in zip(primals, tangents)])
    return (_np(plus) - _np(minus)) / (2 * eps)


def _conv(L, x, w):
    F = EF if L is ember else TF
    return F.conv2d(x, w, padding=1, stride=(1, 2))


def _linear(L, x, w, b):
    F = EF if L is ember else TF
    return F.linear(x, w, b).cumsum(1).flip(0)


def _layer_norm(L, x, w, b):
    F = EF if L is ember else TF
    return F.layer_norm(x, (5,), w, b)


CASES = {
    "elementwise": (lambda L, x, y: (x * y).sin() + x.exp() / (1 + y * y) - x.tanh() ** 3,
                    [(3, 4), (4,)]),
    "reductions": (lambda L, x: L.stack([x.sum(1), x.mean(1), x.amax(1), x.norm(dim=1),
                                         x.logsumexp(1), x.var(1)]), [(3, 5)]),
    "matmul": (lambda L, a, b: L.matmul(a, b) @ b.transpose(-1, -2), [(2, 3, 4), (4, 4)]),
    "softmax": (lambda L, x: L.softmax(x, -1) * L.log_softmax(x, 0), [(3, 6)]),
    "conv2d": (_conv, [(2, 3, 6, 7), (4, 3, 3, 3)]),
    "layer_norm": (_layer_norm, [(2, 3, 5), (5,), (5,)]),
    "linear_with_dual_bias": (_linear, [(3, 4), (5, 4), (5,)]),
    "views": (lambda L, x: x.t()[1:, ::2].reshape(-1).unsqueeze(0).expand(2, -1) * x.sum(),
              [(4, 3)]),
    "cat_index_where": (lambda L, x, y: L.where(x > 0, L.cat([x, y], 0)[:3], y[[0, 1, 0]]) ** 2,
                        [(3, 4), (3, 4)]),
    "max_relu_gelu": (lambda L, x: L.max(EF.gelu(x) if L is ember else TF.gelu(x), 1)[0]
                      + x.relu().sum(1), [(4, 5)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_of_ops_matches_torch_and_finite_differences(name):
    fn, shapes = CASES[name]
    primals = [RNG.standard_normal(s) for s in shapes]
    tangents = [RNG.standard_normal(s) for s in shapes]
    p_e, t_e = _dual_run(ember, efw, fn, primals, tangents)
    p_t, t_t = _dual_run(torch, tfw, fn, primals, tangents)
    _close(p_e, p_t, atol=1e-10)
    _close(t_e, t_t, atol=1e-9, rtol=1e-7)
    _close(t_e, _fd(fn, primals, tangents), atol=1e-5, rtol=1e-5)
    p32 = [p.astype(np.float32) for p in primals]
    t32 = [t.astype(np.float32) for t in tangents]
    _, t_e32 = _dual_run(ember, efw, fn, p32, t32)
    assert t_e32.dtype == np.float32
    _close(t_e32, t_t, atol=1e-4, rtol=1e-3)


def _mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.GELU(),
                         nn.LayerNorm(8), nn.Linear(8, 3))


def _same_mlps():
    torch.manual_seed(0)
    t = _mlp(torch).double()
    e = _mlp(ember).double()
    e.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return e, t


def test_mlp_jvp_and_reverse_mode_at_the_same_time():
    """Tangents through an nn.Sequential, while ordinary backward runs in the same level
    and gives the gradients it gives without one."""
    e, t = _same_mlps()
    x, v = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    results = {}
    for lib, fwd, model in ((ember, efw, e), (torch, tfw, t)):
        with fwd.dual_level():
            xd = fwd.make_dual(lib.tensor(x, requires_grad=True), lib.tensor(v))
            out = model(xd)
            tangent = fwd.unpack_dual(out).tangent
            (out ** 2).sum().backward()
        results[lib] = (_np(out), _np(tangent), _np(model[0].weight.grad))
    for a, b in zip(results[ember], results[torch]):
        _close(a, b, atol=1e-10)
    e.zero_grad()
    (e(ember.tensor(x, requires_grad=True)) ** 2).sum().backward()
    _close(e[0].weight.grad, results[torch][2], atol=1e-10)


def _cnn(lib):
    nn = lib.nn
    lib.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(36, 5)).double()


def test_cnn_in_training_mode_and_transformer_layer():
    """A CNN with batch norm in training mode against torch (the running statistics take
    no tangent), and a transformer encoder layer (torch's attention kernel has no forward
    AD) against finite differences."""
    e, t = _cnn(ember), _cnn(torch)
    e.load_state_dict({k: ember.tensor(v.numpy()) for k, v in t.state_dict().items()})
    x, v = RNG.standard_normal((2, 3, 8, 8)), RNG.standard_normal((2, 3, 8, 8))
    tangents = []
    for lib, fwd, model in ((ember, efw, e), (torch, tfw, t)):
        with fwd.dual_level():
            tangents.append(fwd.unpack_dual(model(fwd.make_dual(lib.tensor(x),
                                                                lib.tensor(v)))).tangent)
            assert fwd.unpack_dual(model[1].running_mean).tangent is None
    _close(tangents[0], tangents[1], atol=1e-10)
    _close(e[1].running_var, t[1].running_var, atol=1e-12)
    layer = ember.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double()
    x, v = RNG.standard_normal((2, 5, 8)), RNG.standard_normal((2, 5, 8))
    fn = lambda L, a: layer(a)  # noqa: E731
    _, tangent = _dual_run(ember, efw, fn, [x], [v])
    _close(tangent, _fd(fn, [x], [v]), atol=1e-7)


def test_jvp_and_jacfwd_wrt_module_parameters_through_functional_call():
    e, t = _same_mlps()
    x = RNG.standard_normal((3, 5))
    tangents = {k: RNG.standard_normal(tuple(v.shape)) for k, v in t.named_parameters()}
    res = []
    for lib, model in ((ember, e), (torch, t)):
        params = {k: v.detach() for k, v in model.named_parameters()}

        def f(p, lib=lib, model=model):
            return lib.func.functional_call(model, p, (lib.tensor(x),))
        _, jv = lib.func.jvp(f, (params,), ({k: lib.tensor(v) for k, v in tangents.items()},))
        res.append((jv, lib.func.jacfwd(f)(params)["2.weight"]))
    for a, b in zip(*res):
        _close(a, b, atol=1e-12)


def test_views_and_inplace_writes_carry_tangents_like_torch():
    p, v = RNG.standard_normal(3), RNG.standard_normal(3)

    def program(lib, fwd):
        with fwd.dual_level():
            x = fwd.make_dual(lib.tensor(p), lib.tensor(v))
            setitem = lib.zeros(3, dtype=lib.float64)
            setitem[1] = x[0] * 2  # a dual value written into a plain tensor
            z = x.clone()
            view = z[:2]
            view.mul_(x[:2])  # in place through a view: the base's tangent changes
            base = lib.zeros(3, dtype=lib.float64)
            early_view = base[1:]
            base.copy_(x.exp())  # a view made before its base became dual
            overwritten = x * 2
            overwritten.copy_(lib.ones(3, dtype=lib.float64))  # no tangent any more
            acc = lib.zeros(3, dtype=lib.float64)
            acc += x.sin()
            acc.t_()
            detached = x.detach()
            tangents = [fwd.unpack_dual(a).tangent for a in
                        (setitem, z, view, base, early_view, overwritten, acc)]
            return [_np(a) for a in tangents] + [fwd.unpack_dual(detached).tangent]

    mine, theirs = program(ember, efw), program(torch, tfw)
    assert mine[-1] is None and theirs[-1] is None
    for a, b in zip(mine[:-1], theirs[:-1]):
        _close(a, b, atol=1e-12)


def test_api_errors_levels_and_unpacked_dual_tensor():
    p, v = ember.randn(3), ember.randn(3)
    with pytest.raises(RuntimeError, match="no level exists, make sure to enter_dual_level"):
        efw.make_dual(p, v)
    assert efw.unpack_dual(p) == (p, None)
    with efw.dual_level() as level:
        assert level == 0
        with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported"):
            efw.enter_dual_level()
        with pytest.raises(RuntimeError, match="different size than that of the original"):
            efw.make_dual(p, ember.randn(4))
        with pytest.raises(ValueError, match="Expected tangent to be floating point"):
            efw.make_dual(p, ember.ones(3, dtype=ember.int64))
        with pytest.raises(ValueError, match="Expected primal to be floating point"):
            efw.make_dual(ember.ones(3, dtype=ember.int64), v)
        x = efw.make_dual(p, v)
        with pytest.raises(RuntimeError, match="already has a forward gradient at the same"):
            efw.make_dual(x, v)
        with pytest.raises(RuntimeError, match="Invalid level"):
            efw.make_dual(p, v, level=3)
        unpacked = efw.unpack_dual(x, level=0)
        assert isinstance(unpacked, efw.UnpackedDualTensor)
        assert unpacked._fields == ("primal", "tangent")
        assert unpacked.tangent is v
        assert efw.unpack_dual(unpacked.primal).tangent is None
        _close(unpacked.primal, p)
        assert efw.unpack_dual(x.argmax()).tangent is None  # integer outputs are not dual
        strided = ember.randn(4, 3).t()  # a tangent of another layout is copied into the
        flat = efw.make_dual(ember.randn(3, 4), strided).view(-1)  # primal's, as torch's
        _close(efw.unpack_dual(flat).tangent, strided.reshape(-1))
    assert efw.unpack_dual(x).tangent is None  # the level is gone
    with pytest.raises(RuntimeError, match="Dual level must be a positive number"):
        efw.exit_dual_level()
    assert efw.enter_dual_level() == 0
    with pytest.raises(RuntimeError, match="not the last one that was created"):
        efw.exit_dual_level(level=2)
    efw.exit_dual_level()
    assert not ember._state.STATE.modes


def test_func_jvp_matches_torch_with_pytrees_aux_and_errors():
    x, y, v, w = (RNG.standard_normal(s) for s in ((3,), (3, 3), (3,), (3, 3)))

    def f(L):
        def fn(a, pair):
            out = {"m": pair[0] @ a.sin(), "s": (a * pair[1]).sum()}
            return out, a.cos()
        return fn

    res = {}
    for lib, F in ((ember, ef), (torch, tf)):
        t = lib.tensor
        res[lib] = F.jvp(f(lib), (t(x), (t(y), t(x))), (t(v), (t(w), t(v))), has_aux=True)
    (po_e, to_e, aux_e), (po_t, to_t, aux_t) = res[ember], res[torch]
    for k in ("m", "s"):
        _close(po_e[k], po_t[k], atol=1e-12)
        _close(to_e[k], to_t[k], atol=1e-12)
    _close(aux_e, aux_t, atol=1e-12)
    assert not to_e["m"].requires_grad
    const = ef.jvp(lambda a: ember.ones(2), (ember.tensor(x),), (ember.tensor(v),))[1]
    _close(const, np.zeros(2))
    with pytest.raises(RuntimeError, match="independent of the inputs"):
        ef.jvp(lambda a: ember.ones(2), (ember.tensor(x),), (ember.tensor(v),), strict=True)
    with pytest.raises(RuntimeError, match="Expected primals to be a tuple"):
        ef.jvp(lambda a: a, ember.tensor(x), (ember.tensor(v),))
    with pytest.raises(RuntimeError, match="the same python structure"):
        ef.jvp(lambda a, b: a, (ember.tensor(x), ember.tensor(x)), (ember.tensor(v),))


def test_jacfwd_matches_torch_argnums_aux_and_jacrev():
    x, y = RNG.standard_normal((2, 3)), RNG.standard_normal(3)

    def fn(a, b):
        return (a * b).tanh().sum(0), a.exp()

    jac = {}
    for lib, F in ((ember, ef), (torch, tf)):
        jac[lib] = F.jacfwd(fn, argnums=(0, 1), has_aux=True)(lib.tensor(x), lib.tensor(y))
    (j_e, aux_e), (j_t, aux_t) = jac[ember], jac[torch]
    for a, b in zip(j_e, j_t):
        assert tuple(a.shape) == tuple(b.shape)
        _close(a, b, atol=1e-12)
    _close(aux_e, aux_t)
    _close(ef.jacfwd(lambda a: fn(a, ember.tensor(y))[0])(ember.tensor(x)),
           ef.jacrev(lambda a: fn(a, ember.tensor(y))[0])(ember.tensor(x)), atol=1e-12)


def _nested(lib, F, x, v, w):
    """``jvp`` of a ``jvp``, and ``jacfwd`` of a ``jacfwd`` (a level inside a level)."""
    def f(a):
        return (a.sin() * a).exp()

    t = lib.tensor
    return (F.jvp(lambda a: F.jvp(f, (a,), (t(v),))[1], (t(x),), (t(w),))[1],
            F.jacfwd(F.jacfwd(lambda a: a.sin().prod()))(t(x)))


def test_nested_jvp_and_jacfwd_fall_back_to_reverse_mode_inside_a_level():
    x, v, w = (RNG.standard_normal(3) for _ in range(3))
    for a, b in zip(_nested(ember, ef, x, v, w), _nested(torch, tf, x, v, w)):
        _close(a, b, atol=1e-12)


def _grad_through_inplace(lib, x, v):
    """Tangent of a gradient whose backward reads values saved by in-place ops (the target
    before ``mul_``, the result of ``exp_``)."""
    fwd = lib.autograd.forward_ad
    with fwd.dual_level():
        xd = fwd.make_dual(lib.tensor(x, requires_grad=True), lib.tensor(v))
        y = xd.sin()
        y.mul_(xd)
        y.exp_()
        (g,) = lib.autograd.grad(y.sum(), xd)
        return fwd.unpack_dual(g).tangent


def test_forward_over_reverse_hvp_matches_torch():
    """Hessian-vector products: ``jvp(grad(f))``, and by hand (tangents through a backward
    pass, tanh's backward reading its saved output), against torch's Hessian."""
    x, v = RNG.standard_normal(4), RNG.standard_normal(4)

    def f(a):
        return (a.tanh() ** 2).sum() * a.sigmoid().prod() + (a.exp() @ a.sin())

    hess = tf.hessian(f)(torch.tensor(x))
    expected = hess @ torch.tensor(v)
    _, hvp = ef.jvp(ef.grad(f), (ember.tensor(x),), (ember.tensor(v),))
    _close(hvp, expected, atol=1e-12)
    with efw.dual_level():
        xd = efw.make_dual(ember.tensor(x, requires_grad=True), ember.tensor(v))
        (g,) = ember.autograd.grad(f(xd), xd)
        _close(efw.unpack_dual(g).tangent, expected, atol=1e-12)
    _close(ef.hessian(f)(ember.tensor(x)), hess, atol=1e-12)
    _close(_grad_through_inplace(ember, x, v), _grad_through_inplace(torch, x, v), atol=1e-12)
    _, hvp_fn = ember.autograd.functional.hvp(f, ember.tensor(x), ember.tensor(v))
    _close(hvp_fn, expected, atol=1e-12)


def _functional_jvp(lib, x, v):
    """``autograd.functional.jvp`` with ``create_graph``: its result differentiated again
    w.r.t. the input and the tangent."""
    xt, vt = lib.tensor(x, requires_grad=True), lib.tensor(v, requires_grad=True)
    out, jv = lib.autograd.functional.jvp(lambda a: (a.sin() * a).tanh() @ a.exp(), xt, vt,
                                          create_graph=True)
    jv.backward()
    return out, jv, xt.grad, vt.grad


def test_autograd_functional_jvp_by_forward_mode_matches_torch():
    x, v = RNG.standard_normal(4), RNG.standard_normal(4)
    for a, b in zip(_functional_jvp(ember, x, v), _functional_jvp(torch, x, v)):
        _close(a, b, atol=1e-12)
    jvp = ember.autograd.functional.jvp
    _, jv = jvp(lambda a: a.sum(0), ember.tensor(x), ember.tensor(v))
    assert not jv.requires_grad
    _close(jv, v.sum())
    for args, message in (((ember.tensor(x), ember.tensor(v[:2])), "v has invalid size"),
                          (((ember.tensor(x),), (ember.tensor(v),) * 2),
                           "v is a tuple of invalid length"),
                          ((ember.tensor(x), None), "can only be None")):
        with pytest.raises(RuntimeError, match=message):
            jvp(lambda a: a, *args)


def _table():
    """The conformance table's differentiable entries (``tests/conformance/ops_*.py``)."""
    pkg = importlib.import_module("tests.conformance")
    return [op for info in pkgutil.iter_modules(pkg.__path__) if info.name.startswith("ops_")
            for op in importlib.import_module(f"tests.conformance.{info.name}").OPS if op.grad]


# ember's backward of the fused recurrent layers and of ctc_loss is not differentiable (as
# torch's), so their JVP raises; svdvals and the spectral norms run a kernel without
# singular vectors when the input does not require grad, and get no tangent
_RAISES = ("lstm_", "gru_", "rnn_tanh_", "rnn_relu_", "F.ctc_loss")
_NO_TANGENT = ("svdvals", "matrix_norm_svd")
# torch's JVP takes the tangent of the triangular/Cholesky factor as given, not its
# triangle: these are checked against finite differences instead
_FINITE_DIFFERENCES = ("triangular_solve_legacy", "cholesky_inverse")


def _sample_duals(lib, fwd, op, args, tangents, eps=None):
    """``args`` as ``lib`` tensors, each differentiable one dual (or, with ``eps``, moved
    by ``eps`` along its tangent)."""
    it = iter(tangents)

    def convert(a, i):
        if not isinstance(a, np.ndarray):
            return a
        if a.dtype.kind != "f" or i in op.skip_grad_args:
            return lib.tensor(a)
        t = next(it)
        if eps is None:
            return fwd.make_dual(lib.tensor(a), lib.tensor(t))
        return lib.tensor(a + eps * t if eps else a)
    return [[convert(x, i) for x in a.arrays] if isinstance(a, TensorList) else convert(a, i)
            for i, a in enumerate(args)]


def _outputs(out):
    return [o for o in (out if isinstance(out, (tuple, list)) else [out])]


def _table_jvp(lib, fwd, op, sample, tangents):
    with fwd.dual_level():
        out = op.fn(lib, *_sample_duals(lib, fwd, op, sample.args, tangents), **sample.kwargs)
        result = []
        for o in _outputs(out):
            t = fwd.unpack_dual(o).tangent if o.is_floating_point() else None
            if t is not None and lib is torch and t._is_zerotensor():
                t = torch.zeros_like(o)
            result.append(None if t is None else _np(t))
        return result


def _check_against_torch_vjp(op, sample, tangents, mine):
    """For an op whose gradient is defined rather than derived (a straight-through
    estimator) and that torch gives no JVP: ember's JVP is the transpose of torch's VJP,
    <u, J t> = <J^T u, t> for random cotangents ``u``."""
    args = _sample_duals(torch, None, op, sample.args, tangents, 0)
    leaves = [a for i, a in enumerate(args) if isinstance(a, torch.Tensor)
              and a.is_floating_point() and i not in op.skip_grad_args]
    for a in leaves:
        a.requires_grad_(True)
    outs = [o for o in _outputs(op.fn(torch, *args, **sample.kwargs)) if o.is_floating_point()]
    rng = np.random.default_rng(2)
    for _ in range(2):
        us = [rng.standard_normal(tuple(o.shape)) for o in outs]
        vjps = torch.autograd.grad(outs, leaves, [torch.tensor(u) for u in us],
                                   retain_graph=True, allow_unused=True)
        lhs = sum(float(np.sum(u * m)) for u, m in zip(us, mine) if m is not None)
        rhs = sum(float(np.sum(_np(v) * t)) for v, t in zip(vjps, tangents) if v is not None)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("op", _table(), ids=str)
def test_jvp_over_the_conformance_table(op):
    """Every differentiable entry's first float64 sample: ember's JVP is torch's (or, where
    torch has no forward AD for the op, the finite difference along the tangent)."""
    sample = op.samples("float64", np.random.default_rng(0))[0]
    rng = np.random.default_rng(1)
    leaves = [x for i, a in enumerate(sample.args) if i not in op.skip_grad_args
              for x in (a.arrays if isinstance(a, TensorList) else [a])]
    tangents = [rng.standard_normal(x.shape).astype(x.dtype) for x in leaves
                if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
    if not tangents:
        pytest.skip("no floating-point input")
    try:
        op.fn(ember, *_sample_duals(ember, efw, op, sample.args, tangents, 0), **sample.kwargs)
    except Exception:
        pytest.skip("an error-parity sample")
    if op.name.startswith(_RAISES):
        with pytest.raises(RuntimeError, match="not supported|not implemented"):
            _table_jvp(ember, efw, op, sample, tangents)
        return
    mine = _table_jvp(ember, efw, op, sample, tangents)
    if op.name in _NO_TANGENT:
        assert all(t is None for t in mine)
        return
    try:
        assert op.name not in _FINITE_DIFFERENCES
        theirs = _table_jvp(torch, tfw, op, sample, tangents)
    except (AssertionError, NotImplementedError, RuntimeError):
        if not op.gradcheck:  # a straight-through gradient: no finite difference
            _check_against_torch_vjp(op, sample, tangents, mine)
            return
        eps = 1e-6
        plus, minus = (_outputs(op.fn(ember, *_sample_duals(ember, efw, op, sample.args,
                                                            tangents, e), **sample.kwargs))
                       for e in (eps, -eps))
        theirs = [(_np(p) - _np(m)) / (2 * eps) if p.is_floating_point() else None
                  for p, m in zip(plus, minus)]
        mine = [np.zeros_like(t) if m is None and t is not None else m
                for m, t in zip(mine, theirs)]
        atol = 1e-6
    else:
        atol = 1e-7
    for a, b in zip(mine, theirs):
        if a is None or b is None:  # one side has no tangent: the other's must be zero
            assert not np.any(a if b is None else b)
        else:
            _close(a, b, atol=atol, rtol=1e-6)
