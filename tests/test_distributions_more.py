"""The second batch of ember.distributions against torch.distributions in float64:
MultivariateNormal (three parametrizations, KL), Gamma, Beta, Dirichlet, Poisson, Binomial,
TransformedDistribution/LogNormal -- values, log_prob/entropy gradients, sample shapes and
moments, and the ValueError messages of argument validation."""
import numpy as np
import pytest
import torch
import torch.distributions as td

import ember
import ember.distributions as ed

from .distribution_pairs import both, close, m_tensor

RNG = np.random.default_rng(1)
LOC = RNG.normal(size=(2, 3))
_A = RNG.normal(size=(2, 3, 3))
COV = _A @ _A.transpose(0, 2, 1) + 0.5 * np.eye(3)
TRIL = np.tril(RNG.normal(size=(3, 3)), -1) + np.diag(RNG.uniform(0.5, 1.5, size=3))
POS = RNG.uniform(0.5, 3.0, size=(2, 3))
POS2 = RNG.uniform(0.5, 3.0, size=(2, 3))
P01 = RNG.uniform(0.1, 0.9, size=(2, 3))
SIMPLEX = RNG.dirichlet(np.ones(3), size=2)


def _build(name: str, grad: bool = False):
    """(ember dist, torch dist, value pair, list of (ember, torch) parameters)."""
    if name.startswith("mvn"):
        (el, tl) = both(LOC, grad)
        kind = name[4:]
        matrix = {"covariance_matrix": COV, "precision_matrix": np.linalg.inv(COV),
                  "scale_tril": TRIL}[kind]
        (em, tm) = both(matrix, grad)
        return (ed.MultivariateNormal(el, **{kind: em}), td.MultivariateNormal(tl, **{kind: tm}),
                both(LOC[::-1].copy() + 0.3), [(el, tl), (em, tm)])
    if name == "gamma":
        (ec, tc), (er, tr) = both(POS, grad), both(POS2, grad)
        return ed.Gamma(ec, er), td.Gamma(tc, tr), both(POS2 * 0.8), [(ec, tc), (er, tr)]
    if name == "beta":
        (ea, ta), (eb, tb) = both(POS, grad), both(POS2, grad)
        return ed.Beta(ea, eb), td.Beta(ta, tb), both(P01), [(ea, ta), (eb, tb)]
    if name == "dirichlet":
        (ec, tc) = both(POS, grad)
        return ed.Dirichlet(ec), td.Dirichlet(tc), both(SIMPLEX), [(ec, tc)]
    if name == "poisson":
        (er, tr) = both(POS, grad)
        return ed.Poisson(er), td.Poisson(tr), both(np.round(POS2 * 2)), [(er, tr)]
    if name == "binomial":
        (ep, tp) = both(P01, grad)
        return (ed.Binomial(7, ep), td.Binomial(7, tp), both(np.round(P01 * 7)), [(ep, tp)])
    if name == "lognormal":
        (el, tl), (es, ts) = both(LOC, grad), both(POS2 * 0.1, grad)
        return ed.LogNormal(el, es), td.LogNormal(tl, ts), both(POS), [(el, tl), (es, ts)]
    (ep, tp) = both(LOC, grad)
    count = np.array([3.0, 5.0, 9.0])
    return (ed.Binomial(ember.tensor(count), logits=ep), td.Binomial(torch.tensor(count),
            logits=tp), both(np.minimum(np.round(POS * 2), count)), [(ep, tp)])


MVN = ["mvn_covariance_matrix", "mvn_precision_matrix", "mvn_scale_tril"]
NAMES = MVN + ["gamma", "beta", "dirichlet", "poisson", "binomial", "binomial_logits",
               "lognormal"]
HAS_ENTROPY = [n for n in NAMES if n not in ("poisson", "binomial_logits")]


@pytest.mark.parametrize("name", NAMES)
def test_values_match_torch(name):
    e, t, (ev, tv), _ = _build(name)
    assert tuple(e.batch_shape) == tuple(t.batch_shape)
    assert tuple(e.event_shape) == tuple(t.event_shape)
    close(e.log_prob(ev), t.log_prob(tv))
    close(e.mean, t.mean)
    close(e.variance, t.variance)
    if name in HAS_ENTROPY:
        close(e.entropy(), t.entropy())
    if name.startswith("mvn"):
        for attr in ("covariance_matrix", "precision_matrix", "scale_tril"):
            close(getattr(e, attr), getattr(t, attr), 1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_and_entropy_gradients_match_torch(name):
    e, t, (ev, tv), params = _build(name, grad=True)
    el, tl = e.log_prob(ev).sum(), t.log_prob(tv).sum()
    if name in HAS_ENTROPY:
        el, tl = el + e.entropy().sum(), tl + t.entropy().sum()
    el.backward()
    tl.backward()
    for ep, tp in params:
        close(ep.grad, tp.grad, 1e-8)


def test_mvn_rsample_is_loc_plus_scale_tril_times_eps():
    (el, _), (et, _) = both(LOC, True), both(TRIL, True)
    ember.manual_seed(2)
    x = ed.MultivariateNormal(el, scale_tril=et).rsample((5,))
    assert tuple(x.shape) == (5, 2, 3)
    x.sum().backward()
    eps = np.linalg.solve(TRIL, (x.detach().numpy() - LOC)[..., None])[..., 0]
    np.testing.assert_allclose(el.grad.numpy(), np.full((2, 3), 5.0))
    np.testing.assert_allclose(et.grad.numpy(), np.ones((3, 1)) * eps.sum((0, 1)), atol=1e-10)


def test_kl_mvn_matches_torch():
    e1, t1, _, p1 = _build("mvn_covariance_matrix", grad=True)
    e2, t2, _, p2 = _build("mvn_scale_tril", grad=True)
    ek, tk = ed.kl_divergence(e1, e2), td.kl_divergence(t1, t2)
    close(ek, tk)
    ek.sum().backward()
    tk.sum().backward()
    for ep, tp in p1 + p2:
        close(ep.grad, tp.grad, 1e-8)
    close(ed.kl_divergence(e1, e1), torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="different event shapes"):
        ed.kl_divergence(e1, ed.MultivariateNormal(ember.zeros(2, dtype=ember.float64),
                                                   ember.eye(2, dtype=ember.float64)))


@pytest.mark.parametrize("name", NAMES)
def test_sample_shapes_and_reproducibility(name):
    e, t, _, _ = _build(name)
    ember.manual_seed(7)
    s = e.sample((5, 2))
    assert tuple(s.shape) == tuple(t.sample((5, 2)).shape)
    assert not s.requires_grad and s.dtype == ember.float64
    ember.manual_seed(7)
    assert bool((e.sample((5, 2)) == s).all())
    assert bool(e.support.check(s).all())


@pytest.mark.parametrize("name", NAMES)
def test_sample_moments(name):
    e, _, _, _ = _build(name)
    ember.manual_seed(1)
    n = 40000
    s = e.sample((n,)).numpy()
    var = e.variance.detach().numpy()
    np.testing.assert_allclose(s.mean(0), e.mean.detach().numpy(),
                               atol=float(5 * np.sqrt(var.max() / n)))
    np.testing.assert_allclose(s.var(0), var, rtol=0.06)
    if name.startswith("mvn"):
        centered = s - s.mean(0)
        cov = np.einsum("nbi,nbj->bij", centered, centered) / n
        np.testing.assert_allclose(cov, e.covariance_matrix.detach().numpy(),
                                   atol=0.06 * float(var.max()))


def test_binomial_enumerate_support_and_inhomogeneous_errors():
    e, t, _, _ = _build("binomial")
    assert e.enumerate_support().tolist() == t.enumerate_support().tolist()
    e, _, _, _ = _build("binomial_logits")
    with pytest.raises(NotImplementedError, match="Inhomogeneous total count"):
        e.entropy()


def test_expand_matches_torch():
    for name in ["mvn_scale_tril", "gamma", "beta", "dirichlet", "poisson", "binomial",
                 "lognormal"]:
        e, t, (ev, tv), _ = _build(name)
        shape = (4,) + tuple(t.batch_shape)
        close(e.expand(shape).log_prob(ev), t.expand(shape).log_prob(tv))


@pytest.mark.parametrize("build", [
    lambda m: m.MultivariateNormal(m_tensor(m, [0.0, 0.0]), m_tensor(m, [[1.0, 2.0],
                                                                         [2.0, 1.0]])),
    lambda m: m.MultivariateNormal(m_tensor(m, [0.0, 0.0]), m_tensor(m, [[1.0, 0.5],
                                                                         [0.0, 1.0]])),
    lambda m: m.MultivariateNormal(m_tensor(m, [0.0, 0.0]),
                                   scale_tril=m_tensor(m, [[1.0, 0.5], [0.0, 1.0]])),
    lambda m: m.MultivariateNormal(m_tensor(m, [0.0, 0.0])),
    lambda m: m.MultivariateNormal(m_tensor(m, 0.0), m_tensor(m, [[1.0]])),
    lambda m: m.MultivariateNormal(m_tensor(m, [0.0]), precision_matrix=m_tensor(m, [1.0])),
    lambda m: m.MultivariateNormal(m_tensor(m, [0.0, 0.0]),
                                   m_tensor(m, [[1.0, 0.0], [0.0, 1.0]])).log_prob(
                                       m_tensor(m, [0.0, 0.0, 0.0])),
    lambda m: m.Gamma(m_tensor(m, [1.0]), m_tensor(m, [-1.0])),
    lambda m: m.Gamma(1.0, 1.0).log_prob(m_tensor(m, -1.0)),
    lambda m: m.Beta(m_tensor(m, [1.0]), m_tensor(m, [0.0])),
    lambda m: m.Beta(2.0, 2.0).log_prob(m_tensor(m, 1.5)),
    lambda m: m.Dirichlet(m_tensor(m, 1.0)),
    lambda m: m.Dirichlet(m_tensor(m, [1.0, -1.0])),
    lambda m: m.Dirichlet(m_tensor(m, [1.0, 1.0])).log_prob(m_tensor(m, [0.5, 0.6])),
    lambda m: m.Poisson(m_tensor(m, [-1.0])),
    lambda m: m.Poisson(m_tensor(m, [1.0])).log_prob(m_tensor(m, [0.5])),
    lambda m: m.Binomial(5, m_tensor(m, [0.5]), logits=m_tensor(m, [0.0])),
    lambda m: m.Binomial(m_tensor(m, [2.5]), m_tensor(m, [0.5])),
    lambda m: m.Binomial(3, m_tensor(m, [0.5])).log_prob(m_tensor(m, [4.0])),
    lambda m: m.LogNormal(0.0, m_tensor(m, [-1.0])),
    lambda m: m.LogNormal(0.0, 1.0).log_prob(m_tensor(m, [-1.0])),
    lambda m: m.TransformedDistribution(m.Normal(0.0, 1.0), "exp"),
    lambda m: m.TransformedDistribution(m.Normal(0.0, 1.0), [m.transforms.ExpTransform(), 1]),
    lambda m: m.TransformedDistribution(m.Normal(0.0, 1.0),
                                        m.transforms.AffineTransform(0.0, 1.0, event_dim=1)),
    lambda m: m.TransformedDistribution(m.Normal(0.0, 1.0), m.transforms.SigmoidTransform())
    .log_prob(m_tensor(m, 1.5)),
])
def test_validation_errors_match_torch(build):
    with pytest.raises(ValueError) as te:
        build(td)
    with pytest.raises(ValueError) as ee:
        build(ed)
    assert str(ee.value).replace("ember", "torch") == str(te.value)


def _transforms(m, lib, loc, scale):
    """The same list of transform chains in ``m`` (ember's or torch's transforms module)."""
    t = m.transforms
    return [[t.ExpTransform()], [t.AffineTransform(loc, scale)], [t.AffineTransform(0.5, -2.0)],
            [t.SigmoidTransform()], [t.TanhTransform()],
            [t.ComposeTransform([t.AffineTransform(loc, scale), t.TanhTransform()])],
            [t.SigmoidTransform(), t.AffineTransform(1.0, 3.0)],
            [t.ExpTransform().inv.inv, t.AffineTransform(loc, scale).inv]]


@pytest.mark.parametrize("index", range(8))
def test_transformed_distribution_matches_torch(index):
    (el, tl), (es, ts) = both(LOC, True), both(POS, True)
    (eal, tal), (eas, tas) = both(LOC[0] * 0.3, True), both(POS2[1] * 0.5, True)
    e_parts = _transforms(ed, ember, eal, eas)[index]
    t_parts = _transforms(td, torch, tal, tas)[index]
    e = ed.TransformedDistribution(ed.Normal(el, es), e_parts)
    t = td.TransformedDistribution(td.Normal(tl, ts), t_parts)
    assert (tuple(e.batch_shape), tuple(e.event_shape)) == (tuple(t.batch_shape), ())
    ember.manual_seed(0)
    x = ed.Normal(el, es).sample((4,))
    tx = torch.tensor(x.numpy())
    ey, ty = x, tx
    for ep, tp in zip(e_parts, t_parts):
        close(ep.log_abs_det_jacobian(ey, ep(ey)), tp.log_abs_det_jacobian(ty, tp(ty)), 1e-9)
        close(ep.inv(ep(ey)), tp.inv(tp(ty)), 1e-9)
        ey, ty = ep(ey), tp(ty)
    close(ey, ty, 1e-12)
    ey = ember.tensor(ty.detach().numpy())
    ty = ty.detach()
    close(e.log_prob(ey), t.log_prob(ty), 1e-8)
    e.log_prob(ey).sum().backward()
    t.log_prob(ty).sum().backward()
    for ep, tp in [(el, tl), (es, ts), (eal, tal), (eas, tas)]:
        assert (ep.grad is None) == (tp.grad is None)
        if tp.grad is not None:
            close(ep.grad, tp.grad, 1e-7)
    s = e.rsample((3,))
    assert tuple(s.shape) == (3, 2, 3) and s.requires_grad
    assert bool(e.support.check(e.sample((50,))).all())


def test_transformed_event_dims_match_torch():
    (el, tl), (es, ts) = both(LOC, True), both(POS, True)
    (eal, tal), (eas, tas) = both(LOC[1], True), both(POS2[0], True)
    e = ed.TransformedDistribution(ed.Normal(el, es), ed.transforms.AffineTransform(
        eal, eas, event_dim=1))
    t = td.TransformedDistribution(td.Normal(tl, ts), td.transforms.AffineTransform(
        tal, tas, event_dim=1))
    assert (tuple(e.batch_shape), tuple(e.event_shape)) == ((2,), (3,))
    (ev, tv) = both(POS2)
    close(e.log_prob(ev), t.log_prob(tv))
    e.log_prob(ev).sum().backward()
    t.log_prob(tv).sum().backward()
    for ep, tp in [(el, tl), (es, ts), (eal, tal), (eas, tas)]:
        close(ep.grad, tp.grad, 1e-9)
    close(e.expand((4, 2)).log_prob(ev), t.expand((4, 2)).log_prob(tv))


def test_standard_gamma_grad_matches_torch():
    from ember.distributions._sampling import standard_gamma_grad
    alpha = np.repeat([0.05, 0.5, 1.0, 2.5, 10.0, 200.0], 50)
    x = np.maximum(RNG.standard_gamma(alpha), np.finfo(float).tiny)
    expected = torch._standard_gamma_grad(torch.tensor(alpha), torch.tensor(x)).numpy()
    np.testing.assert_allclose(standard_gamma_grad(alpha, x), expected, rtol=2e-3)


@pytest.mark.parametrize("name", ["gamma", "beta", "dirichlet"])
def test_rsample_gradients_are_unbiased(name):
    # d/dtheta E[x + x^2] by Monte Carlo through rsample vs the exact moments' gradient.
    e, t, _, params = _build(name, grad=True)
    assert e.has_rsample and t.has_rsample
    ember.manual_seed(0)
    x = e.rsample((20000,))
    assert tuple(x.shape) == (20000,) + tuple(t.batch_shape + t.event_shape)
    (x.mean(0).sum() + x.pow(2).mean(0).sum()).backward()
    mc = [p.grad.numpy().copy() for p, _ in params]
    for p, _ in params:
        p.grad = None
    (e.mean.sum() + (e.variance + e.mean.pow(2)).sum()).backward()
    for g, (p, _) in zip(mc, params):
        exact = p.grad.numpy()
        np.testing.assert_allclose(g, exact, atol=0.03 * float(np.abs(exact).max()))


@pytest.mark.parametrize("name", ["gamma", "beta", "dirichlet", "poisson", "binomial"])
def test_kl_matches_torch(name):
    e1, t1, _, p1 = _build(name, grad=True)
    (ea, ta), (eb, tb) = both(POS2[::-1].copy()), both(P01[::-1].copy())
    e2, t2 = {"gamma": lambda: (ed.Gamma(ea, eb), td.Gamma(ta, tb)),
              "beta": lambda: (ed.Beta(ea, eb), td.Beta(ta, tb)),
              "dirichlet": lambda: (ed.Dirichlet(ea), td.Dirichlet(ta)),
              "poisson": lambda: (ed.Poisson(ea), td.Poisson(ta)),
              "binomial": lambda: (ed.Binomial(7, eb), td.Binomial(7, tb))}[name]()
    ek, tk = ed.kl_divergence(e1, e2), td.kl_divergence(t1, t2)
    assert float(tk.detach().abs().min()) > 1e-4
    close(ek, tk)
    ek.sum().backward()
    tk.sum().backward()
    for ep, tp in p1:
        close(ep.grad, tp.grad, 1e-9)


def test_kl_binomial_total_counts():
    (ep, tp) = both(P01)
    close(ed.kl_divergence(ed.Binomial(9, ep), ed.Binomial(7, ep)),
          td.kl_divergence(td.Binomial(9, tp), td.Binomial(7, tp)))
    with pytest.raises(NotImplementedError, match="q.total_count > p.total_count"):
        ed.kl_divergence(ed.Binomial(5, ep), ed.Binomial(7, ep))


def test_transformed_cdf_icdf_and_kl_match_torch():
    (el, tl), (es, ts) = both(LOC, True), both(POS, True)
    (ev, tv) = both(POS2 * 0.3)
    e, t = ed.LogNormal(el, es), td.LogNormal(tl, ts)
    close(e.cdf(ev), t.cdf(tv))
    (eq, tq) = both(P01)
    close(e.icdf(eq), t.icdf(tq), 1e-8)
    flip_e = ed.TransformedDistribution(ed.Normal(el, es), [ed.transforms.AffineTransform(
        1.0, -2.0), ed.transforms.SigmoidTransform()])
    flip_t = td.TransformedDistribution(td.Normal(tl, ts), [td.transforms.AffineTransform(
        1.0, -2.0), td.transforms.SigmoidTransform()])
    close(flip_e.cdf(eq), flip_t.cdf(tq))
    close(flip_e.icdf(eq), flip_t.icdf(tq), 1e-8)
    e2, t2 = ed.LogNormal(el.detach() * 0.5, 1.3), td.LogNormal(tl.detach() * 0.5, 1.3)
    ek, tk = ed.kl_divergence(e, e2), td.kl_divergence(t, t2)
    close(ek, tk)
    ek.sum().backward()
    tk.sum().backward()
    close(es.grad, ts.grad, 1e-9)
    other = ed.TransformedDistribution(ed.Normal(el, es), ed.transforms.TanhTransform())
    with pytest.raises(NotImplementedError):
        ed.kl_divergence(e, other)
    assert ed.transforms.AffineTransform(el, 2.0) == ed.transforms.AffineTransform(el, 2.0)
    assert ed.transforms.AffineTransform(el, 2.0) != ed.transforms.AffineTransform(el, 3.0)
