"""The autograd engine's behaviour, checked against torch: accumulation, retain_graph,
create_graph, ``inputs=``, hooks, custom Functions, version counters, grad modes,
anomaly detection and ``autograd.functional``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember

RNG = np.random.default_rng(0)


def both(arr, requires_grad=True):
    """The same float64 leaf in ember and in torch."""
    return (ember.tensor(arr, dtype=ember.float64, requires_grad=requires_grad),
            torch.tensor(arr, dtype=torch.float64, requires_grad=requires_grad))


def close(e, t):
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_accumulates_across_backward_calls():
    data = RNG.standard_normal(5)
    (e, t) = both(data)
    for _ in range(2):
        (e * e * 3).sum().backward()
        (t * t * 3).sum().backward()
    close(e.grad, t.grad)


def test_shared_subexpression_and_broadcast_grad():
    (ea, ta), (eb, tb) = both(RNG.standard_normal((3, 4))), both(RNG.standard_normal(4))
    for a, b in ((ea, eb), (ta, tb)):
        y = a * b
        z = (y + y * a - b / (a * a + 1)).sum()
        z.backward()
    close(ea.grad, ta.grad)
    close(eb.grad, tb.grad)


def test_second_backward_through_freed_graph_raises_and_retain_graph_allows_it():
    e, _ = both(RNG.standard_normal(3))
    y = (e.exp() * e).sum()
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_backward_non_scalar_needs_gradient():
    e, t = both(RNG.standard_normal(3))
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        (e * 2).backward()
    g = RNG.standard_normal(3)
    (e * e).backward(ember.tensor(g))
    (t * t).backward(torch.tensor(g))
    close(e.grad, t.grad)


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        ember.tensor([1.0, 2.0]).sum().backward()


def test_create_graph_gives_higher_order_derivatives():
    e, t = both(RNG.standard_normal(4))
    results = []
    for x, lib in ((e, ember), (t, torch)):
        y = (x.exp() * x * x).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x, create_graph=True)
        (ggg,) = lib.autograd.grad(gg.sum(), x)
        results.append((g, gg, ggg))
    for a, b in zip(*results):
        close(a, b)


def test_grad_allow_unused_and_unused_error():
    (ea, _), (eb, _) = both([1.0, 2.0]), both([3.0])
    out = ember.autograd.grad((ea * 2).sum(), (ea, eb), allow_unused=True)
    assert out[1] is None
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        ember.autograd.grad((ea * 2).sum(), (ea, eb))
    (m,) = ember.autograd.grad((ea * 2).sum(), (eb,), materialize_grads=True)
    np.testing.assert_array_equal(m.numpy(), [0.0])


def test_grad_does_not_touch_dot_grad_and_works_on_non_leaves():
    e, t = both(RNG.standard_normal(3))
    res = []
    for x, lib in ((e, ember), (t, torch)):
        mid = x.exp()
        y = (mid * mid).sum()
        res.append(lib.autograd.grad(y, (mid, x)))
        assert x.grad is None
    for a, b in zip(*res):
        close(a, b)


def test_backward_inputs_restricts_accumulation():
    (ea, ta), (eb, tb) = both([1.0, 2.0]), both([3.0, 4.0])
    (ea * eb).sum().backward(inputs=[ea])
    (ta * tb).sum().backward(inputs=[ta])
    close(ea.grad, ta.grad)
    assert eb.grad is None and tb.grad is None


def test_retain_grad_and_hooks_order():
    e, t = both(RNG.standard_normal(3))
    seen = {"ember": [], "torch": []}
    for x, name in ((e, "ember"), (t, "torch")):
        mid = x * 2
        mid.retain_grad()
        mid.register_hook(lambda g, n=name: seen[n].append(g.detach().clone()) or g * 3)
        x.register_hook(lambda g, n=name: seen[n].append(g.detach().clone()))
        (mid * mid).sum().backward()
        seen[name].append(mid.grad)
        seen[name].append(x.grad)
    assert len(seen["ember"]) == len(seen["torch"]) == 4
    for a, b in zip(seen["ember"], seen["torch"]):
        close(a, b)


def test_hook_handle_remove():
    e, _ = both([1.0, 2.0])
    calls = []
    h = e.register_hook(lambda g: calls.append(1))
    h.remove()
    (e * 2).sum().backward()
    assert calls == []


def test_post_accumulate_grad_hook():
    e, _ = both([1.0, 2.0])
    seen = []
    e.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.numpy().copy()))
    (e * 5).sum().backward()
    np.testing.assert_array_equal(seen[0], [5.0, 5.0])


def test_node_hooks_and_next_functions():
    calls = {"ember": [], "torch": []}
    (ea, ta), (eb, tb) = both([1.0, 2.0]), both([3.0, 4.0], requires_grad=False)
    for a, b, name in ((ea, eb, "ember"), (ta, tb, "torch")):
        y = a * b
        assert y.grad_fn.name() == "MulBackward0"
        nxt = y.grad_fn.next_functions
        assert "AccumulateGrad" in type(nxt[0][0]).__name__ and nxt[0][0].variable is a
        assert nxt[1][0] is None
        y.grad_fn.register_hook(lambda gi, go, n=name: calls[n].append(
            [None if g is None else g.detach().numpy().tolist() for g in gi]))
        y.sum().backward()
    assert calls["ember"] == calls["torch"]


def test_inplace_on_saved_tensor_raises_version_error():
    e, t = both([1.0, 2.0])
    for x in (e, t):
        y = x.exp()
        y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_inplace_on_leaf_requiring_grad_raises():
    e, _ = both([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        e.mul_(2)
    with ember.no_grad():
        e.mul_(2)
    np.testing.assert_array_equal(e.detach().numpy(), [2.0, 4.0])
    assert e._version == 1


def test_inplace_on_non_leaf_records_graph():
    e, t = both(RNG.standard_normal(3))
    for x in (e, t):
        y = x * 2
        y.mul_(x)
        y.add_(1)
        y.exp_()
        y.sum().backward()
    close(e.grad, t.grad)


def test_version_counter_shared_with_views():
    e = ember.zeros(4)
    v = e.reshape(2, 2)
    e.add_(1)
    assert v._version == e._version == 1


def test_no_grad_enable_grad_set_grad_enabled_and_decorators():
    e, _ = both([1.0])
    with ember.no_grad():
        assert not (e * 2).requires_grad
        with ember.enable_grad():
            assert (e * 2).requires_grad
    ember.set_grad_enabled(False)
    assert not ember.is_grad_enabled()
    ember.set_grad_enabled(True)
    with ember.set_grad_enabled(False):
        assert not (e * 2).requires_grad
    assert ember.is_grad_enabled()

    @ember.no_grad()
    def f(x):
        return x * 2

    @ember.no_grad
    def g(x):
        return x * 2

    @ember.inference_mode()
    def h(x):
        return x * 2

    def gen(x):
        for _ in range(2):
            yield x * 2
    assert not any(fn(e).requires_grad for fn in (f, g, h))
    assert not any(y.requires_grad for y in ember.no_grad()(gen)(e))
    assert ember.is_grad_enabled()


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="floating point and complex dtype"):
        ember.tensor([1, 2]).requires_grad_()
    e, _ = both([1.0])
    y = e * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        y.requires_grad = False
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d._version == y._version
    assert y.is_leaf is False and e.is_leaf is True


class _Exp(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        y = x.exp() * scale
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False)
        return g * y, None


def test_custom_function_forward_backward_and_double_backward():
    e, t = both(RNG.standard_normal(3))
    y = _Exp.apply(e, 2.0)
    assert y.grad_fn.name() == "_ExpBackward"
    (g,) = ember.autograd.grad(y.sum(), e, create_graph=True)
    (gg,) = ember.autograd.grad(g.sum(), e)
    close(g, 2 * t.exp())
    close(gg, 2 * t.exp())
    assert ember.autograd.gradcheck(lambda x: _Exp.apply(x, 3.0), (e,))


def test_dispatch_modes_see_a_custom_function_as_one_op():
    from ember._dispatch import OPS, DispatchMode

    class Seen(DispatchMode):
        def __init__(self):
            self.names = []

        def __ember_dispatch__(self, op, args, kwargs):
            self.names.append(op.name)
            return op.apply(*args, **kwargs)

    e, t = both(RNG.standard_normal(3))
    for grad in (True, False):
        with ember.set_grad_enabled(grad), Seen() as seen:
            y = _Exp.apply(e, 2.0)
        assert seen.names == ["_Exp"]
        assert (y.grad_fn is not None) == grad
        close(y, t.exp() * 2)
    assert "_Exp" not in OPS


def _setup_context_function(lib):
    class ScaleAndKeep(lib.autograd.Function):
        """setup_context style, vjp, an input returned as-is, a non-tensor output."""

        @staticmethod
        def forward(x, w, b, k):
            return x * w * k, b, "tag"

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, w, _, k = inputs
            ctx.save_for_backward(x, w)
            ctx.k = k

        @staticmethod
        def vjp(ctx, g, g_b, g_tag):
            x, w = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, True, True, False)
            return g * w * ctx.k, g * x * ctx.k, g_b * 2, None
    return ScaleAndKeep


def test_custom_function_setup_context_vjp_and_returned_input_like_torch():
    data = [RNG.standard_normal(3) for _ in range(3)]
    results = {}
    for k, lib in enumerate((ember, torch)):
        x, w, b = (both(d)[k] for d in data)
        y, b_out, tag = _setup_context_function(lib).apply(x, w, b, 3.0)
        assert tag == "tag" and b_out is not b and b_out.grad_fn is not None
        assert b_out._version == b._version and b.grad_fn is None
        (y.sum() + (b_out * b_out).sum()).backward()
        results[lib] = (y, x.grad, w.grad, b.grad)
    for ours, theirs in zip(results[ember], results[torch]):
        close(ours, theirs)


def test_custom_function_marking_a_leaf_dirty_raises_like_torch():
    errors = []
    for lib in (ember, torch):
        class AddOne(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.add_(1)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g

        x = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            AddOne.apply(x)
        errors.append(str(info.value))
        with lib.no_grad():
            y = AddOne.apply(x)  # a new alias: x requires grad
            assert y is not x and not y.requires_grad and y._version == x._version == 4
        z = lib.zeros(2)
        assert AddOne.apply(z) is z and z._version == 2
    assert errors[0] == errors[1]


def test_custom_function_ctx_keeps_attributes_without_grad():
    class ReadBack(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            assert ctx.needs_input_grad == (True,)  # also under no_grad, as in torch
            ctx.factor = 2.0
            return x * ctx.factor

        @staticmethod
        def backward(ctx, g):
            return g * ctx.factor

    e, t = both(RNG.standard_normal(3))
    with ember.no_grad():
        close(ReadBack.apply(e), t * 2)
    ReadBack.apply(e).sum().backward()
    np.testing.assert_array_equal(e.grad.numpy(), [2.0] * 3)


def test_custom_function_mark_dirty_non_differentiable_and_once_differentiable():
    class AddOneInplace(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    class SortLike(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = ember.tensor(np.argsort(x.detach().numpy()))
            ctx.mark_non_differentiable(idx)
            return x * 1, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            return g

    class Once(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @ember.autograd.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 * x

    e, _ = both([1.0, 2.0])
    y = e * 1
    z = AddOneInplace.apply(y)
    assert z is y and y._version == 2  # the add_ and the marking, as in torch
    z.sum().backward()
    np.testing.assert_array_equal(e.grad.numpy(), [1.0, 1.0])
    v, idx = SortLike.apply(e)
    assert v.requires_grad and not idx.requires_grad
    v = ember.tensor([1.0, 1.0], dtype=ember.float64, requires_grad=True)
    (g,) = ember.autograd.grad(Once.apply(e), e, v, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked with "
                                           "@once_differentiable"):
        g.sum().backward()


def test_detect_anomaly_names_the_op_and_shows_forward_trace():
    e = ember.tensor([0.0, 1.0], requires_grad=True)
    with ember.autograd.detect_anomaly():
        y = (e.log() * 0).sum()  # log(0) * 0 -> nan in the gradient of log
        with warnings.catch_warnings(record=True) as caught, \
                pytest.raises(RuntimeError, match="LogBackward0.*returned nan"):
            warnings.simplefilter("always")
            y.backward()
    assert any("test_autograd.py" in str(w.message) for w in caught)


def test_gradcheck_detects_a_wrong_gradient():
    class Wrong(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g * 3  # should be 2x

    e, _ = both([0.5, 1.5])
    assert not ember.autograd.gradcheck(Wrong.apply, (e,), raise_exception=False)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        ember.autograd.gradcheck(Wrong.apply, (e,))


def _f(x, y):
    return (x.exp() * y).sum() + (x * x * y).sum()


def _vec_f(x):
    return x.exp() * x


def _functional_call(lib, name, xd, yd, vd):
    F = lib.autograd.functional
    x, y, v = (lib.tensor(d, dtype=lib.float64) for d in (xd, yd, vd))
    if name == "jacobian":
        return F.jacobian(_vec_f, x)
    if name == "hessian":
        return F.hessian(_f, (x, y))
    if name in ("vjp", "jvp"):
        return getattr(F, name)(_vec_f, x, v)
    return getattr(F, name)(lambda a: _f(a, y), x, v)


@pytest.mark.parametrize("name", ["jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"])
def test_autograd_functional_matches_torch(name):
    xd, yd = RNG.standard_normal(3), RNG.standard_normal(3)
    vd = RNG.standard_normal(3)
    res = [_functional_call(lib, name, xd, yd, vd) for lib in (ember, torch)]

    def flat(o):
        if isinstance(o, (tuple, list)):
            return [z for item in o for z in flat(item)]
        return [o]
    fe, ft = flat(res[0]), flat(res[1])
    assert len(fe) == len(ft)
    for a, b in zip(fe, ft):
        close(a, b)


def test_inplace_on_views_rewrites_the_base_graph_like_torch():
    data = RNG.standard_normal(6)
    grads, values = [], []
    for lib in (ember, torch):
        x = lib.tensor(data, requires_grad=True)
        y = x * 2
        y[1:3].mul_(x[:2])
        y[0] = x[3] * 5
        y.reshape(2, 3)[1][0] = 7.0
        y.reshape(3, 2)[:, 1].add_(x[::2])
        (y * y).sum().backward()
        grads.append(x.grad)
        values.append(y)
    close(grads[0], grads[1])
    close(values[0], values[1])
    leaf = ember.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable that requires grad"):
        leaf[0].mul_(2)


def test_set_grad_enabled_as_decorator_applies_inside_only():
    for lib in (ember, torch):
        @lib.set_grad_enabled(False)
        def double(x):
            return x * 2

        assert lib.is_grad_enabled()  # decorating does not switch the mode
        assert not double(lib.ones(1, requires_grad=True)).requires_grad
        assert lib.is_grad_enabled()


def _error(fn):
    try:
        fn()
    except RuntimeError as exc:
        return str(exc)
    raise AssertionError("no RuntimeError")


@pytest.mark.parametrize("case", ["saved_output", "saved_input", "saved_leaf", "function"])
def test_version_error_names_the_producing_op_like_torch(case):
    def run(lib):
        x = lib.ones(3, requires_grad=True)
        if case == "saved_output":
            y = x.exp()  # exp saves its output
            y.add_(1)
            out = y
        elif case == "saved_input":
            a = x * 2
            out = a * a  # mul saves its inputs; a's producer is now the add_
            a.add_(1)
        elif case == "saved_leaf":
            w = lib.ones(3)
            out = x * w
            w.add_(1)
        else:
            class Square(lib.autograd.Function):
                @staticmethod
                def forward(ctx, t):
                    ctx.save_for_backward(t)
                    return t * t

                @staticmethod
                def backward(ctx, g):
                    (t,) = ctx.saved_tensors
                    return 2 * g * t
            a = x * 1
            out = Square.apply(a)
            a.mul_(3)
        out.sum().backward()

    ours, theirs = _error(lambda: run(ember)), _error(lambda: run(torch))
    assert ours.split(" Hint:")[0] == theirs.split(" Hint:")[0]
    assert "set_detect_anomaly(True, check_nan=False)" in ours


def test_custom_function_returning_too_few_gradients_raises():
    for lib in (ember, torch):
        class TwoInputs(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a * b

            @staticmethod
            def backward(ctx, g):
                return g  # one gradient for two inputs

        x = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match=r"returned an incorrect number of gradients "
                                               r"\(expected 2, got 1\)"):
            TwoInputs.apply(x, x).sum().backward()


def test_detect_anomaly_warns_when_enabled_and_nests_as_a_decorator():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        mode = ember.autograd.detect_anomaly()
    depth = []

    @mode
    def recurse(n):
        depth.append(ember.autograd.anomaly_mode.is_anomaly_enabled())
        return recurse(n - 1) if n else None

    recurse(3)
    assert depth == [True] * 4
    assert not ember.autograd.anomaly_mode.is_anomaly_enabled()


def test_grad_checks_outputs_before_inputs_like_torch():
    for lib in (ember, torch):
        x = lib.ones(3)
        with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
            lib.autograd.grad((x * 2).sum(), x)


@pytest.mark.parametrize("how", ["backward", "grad", "saved_tensors"])
def test_freed_graph_raises_torchs_message(how):
    def run(lib):
        class Keep(lib.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                ctx.save_for_backward(t)
                return t * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2

        x = lib.ones(3, requires_grad=True)
        y = (x.exp() * x).sum() if how != "saved_tensors" else Keep.apply(x).sum()
        if how == "grad":
            lib.autograd.grad(y, x)
            lib.autograd.grad(y, x)
        else:
            y.backward()
            if how == "backward":
                y.backward()
            else:
                return y.grad_fn.next_functions[0][0].saved_tensors
    assert _error(lambda: run(ember)) == _error(lambda: run(torch))


def test_leaf_hook_replaces_the_accumulated_gradient():
    e, t = both(RNG.standard_normal(3))
    for x in (e, t):
        x.register_hook(lambda g: g * 10)
        (x * x).sum().backward()
    close(e.grad, t.grad)



def test_backward_makes_its_gradients_with_dispatched_ops_like_torch():
    """The implicit root gradient is ``ones_like`` and ``materialize_grads``' zeros are
    ``zeros_like``: ops a dispatch mode sees, as torch's dispatch modes see them."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from ember._dispatch import DispatchMode

    class EmberSeen(DispatchMode):
        def __init__(self):
            self.names = []

        def __ember_dispatch__(self, op, args, kwargs):
            self.names.append(op.aten)
            return op.apply(*args, **kwargs)

    class TorchSeen(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(func._overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    xs, unused = both(RNG.standard_normal(3)), both(RNG.standard_normal(2))
    results = []
    for lib, mode, x, u in ((ember, EmberSeen, xs[0], unused[0]),
                            (torch, TorchSeen, xs[1], unused[1])):
        y = (x * 2).sum()
        with mode() as seen:
            y.backward(retain_graph=True)
            grads = lib.autograd.grad(y, [x, u], materialize_grads=True)
        assert seen.names[0] == "ones_like" and seen.names.count("ones_like") == 2
        assert seen.names[-1] == "zeros_like"
        results.append((x.grad, *grads))
    for e, t in zip(*results):
        close(e, t)


def test_a_gradient_that_is_not_a_tensor_raises_like_torch():
    def message(lib, x, how):
        y = (x * 2).sum()
        with pytest.raises(TypeError) as info:
            if how == "backward":
                lib.autograd.backward([y], [2.0])
            else:
                lib.autograd.grad([y], [x], [2.0])
        return str(info.value)

    e, t = both(RNG.standard_normal(3))
    for how in ("backward", "grad"):
        assert message(ember, e, how) == message(torch, t, how)


def _hook_every_node(loss, hook) -> None:
    """``hook(node)`` as a pre-hook of every node of ``loss``'s graph."""
    stack, nodes = [loss.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in nodes:
            continue
        nodes.add(node)
        node.register_prehook(lambda grads, node=node: hook(node))
        stack.extend(n for n, _ in node.next_functions)


def test_backward_runs_the_nodes_in_torchs_order():
    """Chains and branches: the engine's ready queue picks nodes in torch's order."""
    orders = []
    for lib in (ember, torch):
        x = lib.tensor(RNG.standard_normal(4), requires_grad=True)
        a = x.exp()
        d = (a * 2 + a.sin().cos()) * x
        loss = (d + a.tanh()).sum()
        seen = []
        _hook_every_node(loss, lambda node, seen=seen: seen.append(node.name()))
        loss.backward()
        orders.append(seen)
    assert orders[0] == orders[1]


def test_saved_tensors_are_released_as_each_node_runs_like_torch():
    """Without retain_graph a node's saved tensors go as soon as it has run, as torch's
    engine releases them: a later node's pre-hook cannot read them any more."""
    messages = []
    for lib in (ember, torch):
        x = lib.tensor(RNG.standard_normal(3), requires_grad=True)
        a = x.exp()
        b = a.sin()
        sin_node = b.grad_fn

        def read_saved(grads, sin_node=sin_node, lib=lib):
            with pytest.raises(RuntimeError) as info:
                sin_node.saved_tensors if lib is ember else sin_node._saved_self
            messages.append(str(info.value))
        a.grad_fn.register_prehook(read_saved)
        b.sum().backward()
    assert len(messages) == 2 and messages[0] == messages[1]
