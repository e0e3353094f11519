"""ember.distributions against torch.distributions on the same float64 parameters:
log_prob, entropy, moments, cdf/icdf, KL values, gradients of log_prob and rsample,
sample shapes and moments, and the ValueError messages of argument validation."""
import numpy as np
import pytest
import torch
import torch.distributions as td

import ember
import ember.distributions as ed

from .distribution_pairs import both, close, m_tensor

RNG = np.random.default_rng(0)
LOC = RNG.normal(size=(2, 3))
SCALE = RNG.uniform(0.5, 2.0, size=(2, 3))
PROBS = RNG.dirichlet(np.ones(4), size=3)
P01 = RNG.uniform(0.1, 0.9, size=(2, 3))


def _build(name: str, grad: bool = False):
    """(ember dist, torch dist, value pair, list of (ember, torch) parameters)."""
    if name == "normal":
        (el, tl), (es, ts) = both(LOC, grad), both(SCALE, grad)
        return ed.Normal(el, es), td.Normal(tl, ts), both(LOC + 0.3), [(el, tl), (es, ts)]
    if name == "uniform":
        (el, tl), (eh, th) = both(LOC, grad), both(LOC + SCALE, grad)
        return ed.Uniform(el, eh), td.Uniform(tl, th), both(LOC + 0.4 * SCALE), [(el, tl)]
    if name == "exponential":
        (er, tr) = both(SCALE, grad)
        return ed.Exponential(er), td.Exponential(tr), both(SCALE * 0.7), [(er, tr)]
    if name == "laplace":
        (el, tl), (es, ts) = both(LOC, grad), both(SCALE, grad)
        return ed.Laplace(el, es), td.Laplace(tl, ts), both(LOC + 0.3), [(el, tl), (es, ts)]
    if name == "bernoulli":
        (ep, tp) = both(P01, grad)
        return (ed.Bernoulli(ep), td.Bernoulli(tp), both((P01 > 0.5).astype(float)),
                [(ep, tp)])
    if name == "bernoulli_logits":
        (ep, tp) = both(LOC, grad)
        return (ed.Bernoulli(logits=ep), td.Bernoulli(logits=tp),
                both((LOC > 0).astype(float)), [(ep, tp)])
    if name == "categorical":
        (ep, tp) = both(PROBS, grad)
        value = np.array([0, 3, 2])
        return (ed.Categorical(ep), td.Categorical(tp),
                (ember.tensor(value), torch.tensor(value)), [(ep, tp)])
    (ep, tp) = both(LOC.T.copy(), grad)
    value = np.array([1, 0, 1])
    return (ed.Categorical(logits=ep), td.Categorical(logits=tp),
            (ember.tensor(value), torch.tensor(value)), [(ep, tp)])


NAMES = ["normal", "uniform", "exponential", "laplace", "bernoulli", "bernoulli_logits",
         "categorical", "categorical_logits"]


@pytest.mark.parametrize("name", NAMES)
def test_values_match_torch(name):
    e, t, (ev, tv), _ = _build(name)
    assert tuple(e.batch_shape) == tuple(t.batch_shape)
    assert tuple(e.event_shape) == tuple(t.event_shape)
    close(e.log_prob(ev), t.log_prob(tv))
    close(e.entropy(), t.entropy())
    if not name.startswith("categorical"):
        close(e.mean, t.mean)
        close(e.variance, t.variance)
        close(e.stddev, t.stddev)
    if name in ("normal", "uniform", "exponential", "laplace"):
        close(e.cdf(ev), t.cdf(tv))
        q = np.full(LOC.shape, 0.3)
        close(e.icdf(ember.tensor(q, dtype=ember.float64)),
              t.icdf(torch.tensor(q, dtype=torch.float64)), 1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_and_entropy_gradients_match_torch(name):
    e, t, (ev, tv), params = _build(name, grad=True)
    (e.log_prob(ev).sum() + e.entropy().sum()).backward()
    (t.log_prob(tv).sum() + t.entropy().sum()).backward()
    for ep, tp in params:
        close(ep.grad, tp.grad, 1e-9)


def test_rsample_gradients_are_the_reparameterization():
    # rsample = loc + eps * scale, so d/dloc sum = n and d/dscale sum = sum(eps).
    (el, _), (es, _) = both(LOC, True), both(SCALE, True)
    ember.manual_seed(3)
    x = ed.Normal(el, es).rsample((5,))
    x.sum().backward()
    eps = (x.detach() - el.detach()) / es.detach()
    close(el.grad, ember.full((2, 3), 5.0, dtype=ember.float64))
    close(es.grad, eps.sum(0))
    (lo, _), (hi, _) = both(LOC, True), both(LOC + SCALE, True)
    u = ed.Uniform(lo, hi).rsample((4,))
    u.sum().backward()
    frac = ((u.detach() - lo.detach()) / (hi.detach() - lo.detach())).sum(0)
    close(hi.grad, frac)
    close(lo.grad, 4 - frac)


@pytest.mark.parametrize("name", NAMES)
def test_sample_shapes_and_reproducibility(name):
    e, t, _, _ = _build(name)
    ember.manual_seed(7)
    s = e.sample((5, 2))
    assert tuple(s.shape) == tuple(t.sample((5, 2)).shape)
    assert not s.requires_grad
    ember.manual_seed(7)
    assert bool((e.sample((5, 2)) == s).all())


@pytest.mark.parametrize("name", NAMES)
def test_sample_moments(name):
    e, _, _, _ = _build(name)
    ember.manual_seed(1)
    n = 20000
    s = e.sample((n,)).double()
    if name.startswith("categorical"):
        probs = e.probs.detach().numpy()
        freq = np.stack([(s.numpy() == k).mean(0) for k in range(probs.shape[-1])], -1)
        np.testing.assert_allclose(freq, probs, atol=5 * np.sqrt(0.25 / n))
        return
    sd = e.stddev.detach().numpy()
    np.testing.assert_allclose(s.mean(0).numpy(), e.mean.detach().numpy(),
                               atol=float(5 * sd.max() / np.sqrt(n)))
    np.testing.assert_allclose(s.std(0).numpy(), sd, rtol=0.05)


def _other(name: str):
    """A second (ember, torch) distribution of the family of ``name``, other parameters."""
    (ea, ta), (eb, tb) = both(RNG.normal(size=(2, 3))), both(RNG.uniform(0.5, 2, size=(2, 3)))
    if name == "normal":
        return ed.Normal(ea, eb), td.Normal(ta, tb)
    if name == "exponential":
        return ed.Exponential(eb), td.Exponential(tb)
    if name == "bernoulli":
        return ed.Bernoulli(logits=ea), td.Bernoulli(logits=ta)
    (ec, tc) = both(RNG.normal(size=(3, 4)))
    return ed.Categorical(logits=ec), td.Categorical(logits=tc)


def test_kl_divergence_matches_torch():
    for name in ["normal", "exponential", "bernoulli", "categorical"]:
        e1, t1, _, p1 = _build(name, grad=True)
        e2, t2 = _other(name)
        ek, tk = ed.kl_divergence(e1, e2), td.kl_divergence(t1, t2)
        assert float(tk.detach().abs().min()) > 1e-3
        close(ek, tk)
        ek.sum().backward()
        tk.sum().backward()
        close(p1[0][0].grad, p1[0][1].grad, 1e-9)
    el, tl = both(np.array([0.0, 0.5]))
    eh, th = both(np.array([1.0, 1.0]))
    close(ed.kl_divergence(ed.Uniform(el + 0.2, eh), ed.Uniform(el, eh)),
          td.kl_divergence(td.Uniform(tl + 0.2, th), td.Uniform(tl, th)))
    with pytest.raises(NotImplementedError):
        ed.kl_divergence(ed.Normal(0.0, 1.0), ed.Bernoulli(0.5))


def test_register_kl_dispatches_to_subclasses():
    class MyNormal(ed.Normal):
        pass

    @ed.register_kl(MyNormal, ed.Normal)
    def _kl(p, q):
        return ember.tensor(42.0)

    assert float(ed.kl_divergence(MyNormal(0.0, 1.0), ed.Normal(0.0, 1.0))) == 42.0
    assert float(ed.kl_divergence(ed.Normal(0.0, 1.0), ed.Normal(0.0, 1.0))) == 0.0


def test_enumerate_support_and_expand_match_torch():
    e, t, _, _ = _build("categorical")
    assert e.enumerate_support().tolist() == t.enumerate_support().tolist()
    e, t, _, _ = _build("bernoulli")
    assert e.enumerate_support(expand=False).tolist() == t.enumerate_support(False).tolist()
    e, t, (ev, tv), _ = _build("normal")
    close(e.expand((4, 2, 3)).log_prob(ev), t.expand((4, 2, 3)).log_prob(tv))
    e, t, (ev, tv), _ = _build("categorical")
    close(e.expand((2, 3)).log_prob(ev), t.expand((2, 3)).log_prob(tv))


@pytest.mark.parametrize("build", [
    lambda m: m.Normal(0.0, -1.0),
    lambda m: m.Bernoulli(1.5),
    lambda m: m.Normal(0.0, 1.0).log_prob(0.5),
    lambda m: m.Bernoulli(0.5).log_prob(m_tensor(m, [0.5])),
    lambda m: m.Categorical(m_tensor(m, [0.2, 0.8])).log_prob(m_tensor(m, [2.0])),
    lambda m: m.Categorical(),
    lambda m: m.Uniform(1.0, 0.0),
])
def test_validation_errors_match_torch(build):
    with pytest.raises(ValueError) as te:
        build(td)
    with pytest.raises(ValueError) as ee:
        build(ed)
    assert str(ee.value).replace("ember", "torch") == str(te.value)


def test_validate_args_false_skips_checks():
    assert ed.Normal(0.0, -1.0, validate_args=False).scale.item() == -1.0


def test_independent_matches_torch():
    e, t, (ev, tv), params = _build("normal", grad=True)
    ei, ti = ed.Independent(e, 1), td.Independent(t, 1)
    assert (tuple(ei.batch_shape), tuple(ei.event_shape)) == ((2,), (3,))
    assert ei.has_rsample and tuple(ei.rsample((4,)).shape) == (4, 2, 3)
    (ei.log_prob(ev).sum() + ei.entropy().sum()).backward()
    (ti.log_prob(tv).sum() + ti.entropy().sum()).backward()
    close(ei.log_prob(ev), ti.log_prob(tv))
    for ep, tp in params:
        close(ep.grad, tp.grad, 1e-9)
    close(ei.expand((5, 2)).log_prob(ev), ti.expand((5, 2)).log_prob(tv))
    with pytest.raises(ValueError):
        ed.Independent(e, 3)


def test_one_hot_categorical_matches_torch():
    (ep, tp) = both(PROBS, True)
    e, t = ed.OneHotCategorical(ep), td.OneHotCategorical(tp)
    value = np.eye(4)[[0, 3, 2]]
    (ev, tv) = both(value)
    close(e.log_prob(ev), t.log_prob(tv))
    close(e.entropy(), t.entropy())
    close(e.mean, t.mean)
    close(e.variance, t.variance)
    close(e.mode, t.mode)
    e.log_prob(ev).sum().backward()
    t.log_prob(tv).sum().backward()
    close(ep.grad, tp.grad, 1e-9)
    assert e.enumerate_support().tolist() == t.enumerate_support().tolist()
    ember.manual_seed(0)
    s = e.sample((7,))
    assert tuple(s.shape) == (7, 3, 4) and bool((s.sum(-1) == 1).all())
    with pytest.raises(ValueError) as te:
        t.log_prob(tv * 2)
    with pytest.raises(ValueError) as ee:
        e.log_prob(ev * 2)
    assert str(ee.value).split(" of the")[0] == str(te.value).split(" of the")[0]
