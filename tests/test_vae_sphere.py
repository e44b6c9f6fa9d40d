"""The hyperspherical VAE: posterior="vmf" | "power-spherical" (z on S^{d−1}, uniform
prior, analytic KL), as a user builds it (VAE's own construction, float32). Training
with Adam and the IS-above-ELBO check: test_vae.py's training test, which covers them."""

import math

import pytest
import torch

from reparam.distributions import PowerSpherical, SphericalUniform, VonMisesFisher
from reparam.vae import SPHERE_POSTERIORS, VAE

FAMILIES = {"vmf": VonMisesFisher, "power-spherical": PowerSpherical}


@pytest.mark.parametrize("posterior", SPHERE_POSTERIORS)
def test_posterior_and_prior_live_on_the_sphere(posterior):
    vae = VAE((1, 8, 8), latent_dim=5, hidden=(16,), posterior=posterior)
    x = torch.rand(6, 1, 8, 8).round()
    q = vae.encode(x)
    assert isinstance(q, FAMILIES[posterior])
    assert isinstance(vae.prior, SphericalUniform)
    assert (q.concentration >= 1).all()  # softplus + 1
    z = q.rsample((7,))
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(7, 6))
    torch.testing.assert_close(vae.sample(3, mean=True).shape, torch.Size((3, 1, 8, 8)))
    prior_z = vae.prior.sample((100,))
    torch.testing.assert_close(prior_z.norm(dim=-1), torch.ones(100))


@pytest.mark.parametrize("posterior", SPHERE_POSTERIORS)
def test_the_elbo_kl_is_the_monte_carlo_kl(posterior):
    """KL(q‖U) used by the ELBO against (1/S) Σ log q(z_s) − log p(z_s), within 5 SE."""
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), latent_dim=4, hidden=(16,), posterior=posterior).double()
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64).round()
    q = vae.encode(x)
    exact = torch.distributions.kl_divergence(q, vae.prior)
    z, log_q = q.rsample_and_log_prob((20000,))
    terms = (log_q - vae.prior.log_prob(z)).detach()
    se = terms.std(0) / math.sqrt(terms.shape[0])
    assert ((terms.mean(0) - exact).abs() <= 5 * se).all(), (terms.mean(0), exact, se)


@pytest.mark.parametrize("posterior", SPHERE_POSTERIORS)
@pytest.mark.parametrize("objective", ["elbo", "iwae", "dreg"])
def test_every_objective_trains_the_concentration(posterior, objective):
    vae = VAE((1, 8, 8), latent_dim=3, hidden=(16,), posterior=posterior, objective=objective, k=3)
    x = torch.rand(4, 1, 8, 8).round()
    out = vae.training_step(x, 0)
    out["loss"].backward()
    grads = [p.grad for p in vae.encoder_head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # the concentration's row of the head (the last output) gets a gradient
    assert vae.encoder_head.weight.grad[-1].abs().sum() > 0


@pytest.mark.parametrize("posterior", SPHERE_POSTERIORS)
def test_config_round_trip(posterior):
    vae = VAE((1, 8, 8), latent_dim=3, hidden=(8,), posterior=posterior)
    again = VAE.from_config(vae.config)
    assert again.posterior == posterior
    again.load_state_dict(vae.state_dict())
    x = torch.rand(2, 1, 8, 8).round()
    torch.testing.assert_close(again.encode(x).loc, vae.encode(x).loc)


@pytest.mark.parametrize("posterior", SPHERE_POSTERIORS)
def test_a_one_dimensional_sphere_posterior_is_refused(posterior):
    with pytest.raises(ValueError, match=r"posterior '.*' needs latent_dim >= 2; got 1"):
        VAE((1, 8, 8), latent_dim=1, hidden=(8,), posterior=posterior)


@pytest.mark.parametrize("posterior", SPHERE_POSTERIORS)
def test_pathwise_gradient_through_the_decoder_is_unbiased(posterior):
    """∇ E_q[log p(x|z)] in q's direction and concentration through a real decoder: the
    pathwise estimate (what training uses) against the score-function estimate with a
    leave-one-out baseline (unbiased by construction), within 5 standard errors."""
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), latent_dim=4, hidden=(16,), posterior=posterior).double()
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64).round()
    with torch.no_grad():
        v = vae.encode(x).loc.clone()
    v.requires_grad_()
    kappa = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    family = FAMILIES[posterior]

    def q():
        return family(v / v.norm(dim=-1, keepdim=True), kappa)

    def f(z):
        return vae.log_px_given_z(x, z)

    n, groups = 2000, 20
    pathwise, score = [], []
    for _ in range(groups):
        g = torch.autograd.grad(f(q().rsample((n,))).mean(), (v, kappa))
        pathwise.append(torch.cat([g[0].flatten(), g[1]]))
        dist = q()
        z = dist.sample((n,))
        fz = f(z).detach()
        baseline = (fz.sum(0) - fz) / (n - 1)
        g = torch.autograd.grad(((fz - baseline) * dist.log_prob(z)).mean(), (v, kappa))
        score.append(torch.cat([g[0].flatten(), g[1]]))
    p, s = torch.stack(pathwise), torch.stack(score)
    se = (p.var(0) / groups + s.var(0) / groups).sqrt()
    z_scores = (p.mean(0) - s.mean(0)) / se
    assert (z_scores.abs() < 5).all(), z_scores
