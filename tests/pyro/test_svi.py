"""Pyro SVI with reparam guides converges to the exact posterior; Pyro's Trace_ELBO
gradient equals reparam's own estimator on the same noise.

Each fit is checked on M draws from the fitted guide: the posterior mean within 5
standard errors sd/√M, the variance within 5 standard errors √((m₄ − s⁴)/M) (the
delta-method SE of a sample variance, m₄ the fourth central sample moment).
"""

import math

import pytest
import torch

pyro = pytest.importorskip("pyro")
import pyro.distributions as dist  # noqa: E402
from pyro.distributions import constraints  # noqa: E402
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO  # noqa: E402

import reparam  # noqa: E402
import reparam.pyro as rp  # noqa: E402
from reparam.noise import NoiseStrategy  # noqa: E402

M = 20000
M_FLOW = 5000
COUNTS = torch.tensor([3.0, 5.0, 4.0, 6.0, 2.0, 4.0])
A0, B0 = 2.0, 1.0  # Gamma prior on the Poisson rate
Y = torch.tensor([0.8, 1.9, 1.2, 0.4])
S0, SY = 2.0, 1.0  # Normal prior scale, observation noise


def _moments_match(draws, mean, var):
    d = draws.detach().double()
    m, s2 = d.mean(), d.var()
    se_m = math.sqrt(s2 / len(d))
    se_v = math.sqrt(((d - m) ** 4).mean() - s2**2) / math.sqrt(len(d))
    assert abs(m - mean) < 5 * se_m, (m.item(), mean, se_m)
    assert abs(s2 - var) < 5 * se_v, (s2.item(), var, se_v)


def _fit(model, guide, elbo, steps, lrs=(0.1, 0.01, 0.001), *args):
    """Pyro's default Adam at each learning rate in turn, then the parameters set to their
    average over the last phase (Polyak–Ruppert averaging: the final iterates jitter
    around the optimum by more than the few-per-cent the moment checks resolve)."""
    pyro.clear_param_store()
    for i, lr in enumerate(lrs):
        svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), elbo)
        total = None
        for _ in range(steps):
            svi.step(*args)
            if i == len(lrs) - 1:
                now = {k: v.detach().clone() for k, v in pyro.get_param_store().named_parameters()}
                total = now if total is None else {k: total[k] + now[k] for k in now}
    with torch.no_grad():
        for k, v in pyro.get_param_store().named_parameters():
            v.copy_(total[k] / steps)


def gamma_poisson_model():
    rate = pyro.sample("rate", dist.Gamma(A0, B0))
    with pyro.plate("data", len(COUNTS)):
        pyro.sample("x", dist.Poisson(rate), obs=COUNTS)


def gamma_guide():
    # shape a and mean m (rate a / m): the ELBO's ridge along a is then an axis, which
    # Adam's per-coordinate steps follow
    a = pyro.param("a", torch.tensor(1.0), constraint=constraints.positive)
    m = pyro.param("m", torch.tensor(1.0), constraint=constraints.positive)
    pyro.sample("rate", rp.Gamma(a, a / m))


def normal_model():
    mu = pyro.sample("mu", dist.Normal(0.0, S0))
    with pyro.plate("data", len(Y)):
        pyro.sample("y", dist.Normal(mu, SY), obs=Y)


def normal_posterior():
    prec = 1 / S0**2 + len(Y) / SY**2
    return (Y.sum().item() / SY**2) / prec, 1 / prec


def test_gamma_guide_fits_the_gamma_poisson_posterior():
    pyro.set_rng_seed(0)
    elbo = Trace_ELBO(num_particles=32, vectorize_particles=True)
    with rp.noise("antithetic"):
        _fit(gamma_poisson_model, gamma_guide, elbo, 300, (0.1, 0.01, 0.001))
    a, m = pyro.param("a").detach(), pyro.param("m").detach()
    b = a / m
    assert a.dtype == torch.float32
    a_n, b_n = A0 + COUNTS.sum().item(), B0 + len(COUNTS)
    _moments_match(rp.Gamma(a, b).sample((M,)), a_n / b_n, a_n / b_n**2)


@pytest.mark.parametrize("family", ["Normal", "TruncatedNormal"])
def test_normal_guide_fits_the_normal_normal_posterior(family):
    pyro.set_rng_seed(1)
    mean, var = normal_posterior()

    def guide():
        loc = pyro.param("loc", torch.tensor(0.0))
        scale = pyro.param("scale", torch.tensor(1.0), constraint=constraints.positive)
        if family == "Normal":
            return pyro.sample("mu", rp.Normal(loc, scale))
        # truncation 12 σ away: the same law as the Normal to float precision
        return pyro.sample("mu", rp.TruncatedNormal(loc, scale, loc - 12 * scale, math.inf))

    elbo = TraceMeanField_ELBO(num_particles=64, vectorize_particles=True)
    with rp.noise("qmc"):
        _fit(normal_model, guide, elbo, 300, (0.1, 0.01, 0.001))
    with pyro.plate("draws", M):
        _moments_match(guide(), mean, var)


X = torch.tensor([[1.0, 0.5], [0.8, 1.0], [1.2, 0.9], [0.3, 1.1], [1.0, 1.0]])
YR = torch.tensor([1.1, 0.4, 1.5, -0.2, 0.9])


def regression_model():
    w = pyro.sample("w", dist.Normal(torch.zeros(2), S0).to_event(1))
    with pyro.plate("data", len(YR)):
        mean = w[..., 0] * X[:, 0] + w[..., 1] * X[:, 1]  # batch (particles, 1) × (data,)
        pyro.sample("y", dist.Normal(mean, SY), obs=YR)


def test_flow_autoguide_fits_a_correlated_posterior():
    """Bayesian linear regression: the posterior N(m, Σ) is correlated (mean-field cannot
    fit it); an affine autoregressive flow can, exactly."""
    pyro.set_rng_seed(2)
    cov = torch.linalg.inv(torch.eye(2) / S0**2 + X.T @ X / SY**2).double()
    mean = cov @ (X.T @ YR).double() / SY**2
    guide = rp.AutoReparamFlow(regression_model, flow="maf", transforms=2, hidden_features=(16,))
    elbo = Trace_ELBO(num_particles=32, vectorize_particles=True, max_plate_nesting=1)
    with rp.noise("qmc"):
        _fit(regression_model, guide, elbo, 400, (0.02, 0.003, 0.0005))
    # M_FLOW draws: SGD leaves the flow's variances jittering by a few per cent (Pyro's own
    # AutoMultivariateNormal does the same on this model), so the check uses fewer draws
    # than the mean-field fits, whose two parameters settle closer.
    with torch.no_grad(), pyro.plate("draws", M_FLOW):
        w = guide()["w"]
    assert w.shape == (M_FLOW, 2)
    for j in range(2):
        _moments_match(w[:, j], mean[j].item(), cov[j, j].item())
    _moments_match(w.sum(1), mean.sum().item(), cov.sum().item())  # the correlation


def test_unknown_flow_is_a_named_error():
    with pytest.raises(ValueError, match="AutoReparamFlow: unknown flow 'glow'; choose one of"):
        rp.AutoReparamFlow(gamma_poisson_model, flow="glow")


class Fixed(NoiseStrategy):
    """Hands out a given ε (the noise both estimators must share)."""

    name = "fixed"

    def __init__(self, eps):
        self.eps = eps

    def draw(self, q, sample_shape):
        return self.eps.reshape(q.noise_shape(sample_shape))


@pytest.mark.parametrize("family", ["Gamma", "Normal"])
def test_trace_elbo_gradient_equals_reparam_expectation_on_the_same_noise(family):
    torch.manual_seed(3)
    n = 6
    p1 = torch.tensor([2.0, 3.5], dtype=torch.float64, requires_grad=True)
    p2 = torch.tensor([1.5, 0.7], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([[1.0, 4.0], [2.0, 3.0]], dtype=torch.float64)
    two = torch.tensor(2.0, dtype=torch.float64)
    prior = dist.Gamma(two, 1.0) if family == "Gamma" else dist.Normal(two, 1.0)
    lik = dist.Poisson if family == "Gamma" else dist.Normal

    def make_q():
        cls = rp.Gamma if family == "Gamma" else rp.Normal
        return cls(p1, p2)

    def log_joint(z):  # z: (..., 2)
        obs = lik(z.unsqueeze(-2)) if family == "Gamma" else lik(z.unsqueeze(-2), 1.0)
        return prior.log_prob(z).sum(-1) + obs.log_prob(x).sum((-2, -1))

    def model():
        with pyro.plate("k", 2):
            z = pyro.sample("z", prior)
            with pyro.plate("obs", 2, dim=-2):
                pyro.sample("x", lik(z) if family == "Gamma" else lik(z, 1.0), obs=x)

    def guide():
        with pyro.plate("k", 2):
            pyro.sample("z", make_q())

    eps = make_q().sample_noise((n,))
    elbo = Trace_ELBO(num_particles=n, vectorize_particles=True, max_plate_nesting=2)
    with rp.noise(Fixed(eps.unsqueeze(1))):  # the particle dim is -3: (n, 1, 2)
        loss = elbo.differentiable_loss(model, guide)
    g_pyro = torch.autograd.grad(loss, (p1, p2))

    q = make_q()
    surrogate = reparam.expectation(
        lambda z: log_joint(z) - q.log_prob(z).sum(-1), q, n, noise=Fixed(eps)
    )
    g_ours = torch.autograd.grad(-surrogate, (p1, p2))
    for a, b in zip(g_pyro, g_ours, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert loss.item() == pytest.approx(-surrogate.item(), rel=1e-12)
