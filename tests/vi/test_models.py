"""The example models of reparam.vi.models: log joints against direct computations."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, HalfCauchy, MultivariateNormal, Normal

from reparam.vi.models import (
    EIGHT_SCHOOLS_SIGMA,
    EIGHT_SCHOOLS_Y,
    MODELS,
    Model,
    eight_schools,
    funnel,
    get_model,
    linear_regression,
    logistic_regression,
)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_joint_is_finite_with_shape_s(name, dtype):
    model = get_model(name)
    assert isinstance(model, Model)
    assert model.name == name
    assert model.dim == model.layout.dim
    z = 0.5 * torch.randn(7, model.dim, dtype=dtype)
    lp = model.log_joint(z)
    assert lp.shape == (7,)
    assert lp.dtype == dtype
    assert torch.isfinite(lp).all()
    # gradients flow to z
    z.requires_grad_(True)
    (g,) = torch.autograd.grad(model.log_joint(z).sum(), z)
    assert torch.isfinite(g).all()
    assert g.abs().sum() > 0


def test_unknown_model_and_bad_arguments():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        get_model("nope")
    with pytest.raises(ValueError, match="noise"):
        linear_regression(noise=0.0)
    with pytest.raises(ValueError, match="d must be"):
        linear_regression(d=0)
    with pytest.raises(ValueError, match="d must be"):
        funnel(d=1)
    with pytest.raises(ValueError, match="prior_scale"):
        logistic_regression(prior_scale=-1.0)


def test_linear_exact_posterior_matches_direct_computation():
    n, d, noise, s = 40, 3, 0.7, 1.5
    model = linear_regression(n=n, d=d, noise=noise, prior_scale=s, seed=3)
    x = model.data["x"].numpy()
    y = model.data["y"].numpy()
    # the normal equations of ridge regression with λ = σ²/s²
    a = x.T @ x + (noise**2 / s**2) * np.eye(d)
    mean = np.linalg.solve(a, x.T @ y)
    cov = noise**2 * np.linalg.inv(a)
    exact = model.exact
    assert exact["gaussian"] is True
    np.testing.assert_allclose(exact["mean"].numpy(), mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(exact["cov"].numpy(), cov, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(
        exact["meanfield_var"].numpy(), 1 / np.diag(np.linalg.inv(cov)), rtol=1e-10
    )
    # Bayes' rule: log p(y, w) = log p(y) + log N(w; m, Σ) for every w
    w = torch.as_tensor(mean) + torch.randn(6, d, dtype=torch.float64)
    post = MultivariateNormal(exact["mean"], covariance_matrix=exact["cov"]).log_prob(w)
    joint = model.log_joint(w)
    np.testing.assert_allclose(joint.numpy(), (exact["log_evidence"] + post).numpy(), rtol=1e-9)


def test_linear_log_joint_matches_torch_distributions():
    model = linear_regression(n=20, d=4, seed=1)
    w = torch.randn(5, 4, dtype=torch.float64)
    x, y = model.data["x"], model.data["y"]
    expected = Normal(0.0, 1.0).log_prob(w).sum(-1) + Normal(w @ x.T, 0.5).log_prob(y).sum(-1)
    torch.testing.assert_close(model.log_joint(w), expected)


def test_logistic_log_joint_matches_torch_distributions():
    model = logistic_regression(prior_scale=2.0)
    assert model.layout.flat_names()[:2] == ["alpha", "beta[0]"]
    assert model.dim == 31
    x, y = model.data["x"], model.data["y"]
    assert x.shape == (569, 30)
    torch.testing.assert_close(x.mean(0), torch.zeros(30, dtype=torch.float64))
    torch.testing.assert_close(x.std(0), torch.ones(30, dtype=torch.float64))
    z = 0.3 * torch.randn(4, 31, dtype=torch.float64)
    logits = z[:, :1] + z[:, 1:] @ x.T
    expected = Normal(0.0, 2.0).log_prob(z).sum(-1) + Bernoulli(logits=logits).log_prob(y).sum(-1)
    torch.testing.assert_close(model.log_joint(z), expected)


def _eight_schools_reference(mu, tau, theta):
    y = torch.tensor(EIGHT_SCHOOLS_Y, dtype=torch.float64)
    sigma = torch.tensor(EIGHT_SCHOOLS_SIGMA, dtype=torch.float64)
    return (
        Normal(0.0, 5.0).log_prob(mu)
        + HalfCauchy(5.0).log_prob(tau)
        + Normal(mu[:, None], tau[:, None]).log_prob(theta).sum(-1)
        + Normal(theta, sigma).log_prob(y).sum(-1)
    )


def test_eight_schools_centred_matches_torch_distributions():
    model = eight_schools(centered=True)
    assert model.layout.flat_names()[:3] == ["mu", "tau", "theta[0]"]
    z = torch.randn(6, 10, dtype=torch.float64)
    mu, log_tau, theta = z[:, 0], z[:, 1], z[:, 2:]
    params, _ = model.layout.constrain(z)
    torch.testing.assert_close(params["tau"], log_tau.exp())
    expected = _eight_schools_reference(mu, log_tau.exp(), theta)
    torch.testing.assert_close(model.log_density(params), expected)
    # the unconstrained log joint adds log|dτ/dz| = z_τ
    torch.testing.assert_close(model.log_joint(z), expected + log_tau)


def test_eight_schools_centred_and_noncentred_agree_after_change_of_variables():
    centred, noncentred = eight_schools(centered=True), eight_schools(centered=False)
    assert noncentred.name == "eight-schools-nc"
    assert noncentred.layout.flat_names()[2] == "eta[0]"
    z_nc = torch.randn(9, 10, dtype=torch.float64)
    mu, log_tau, eta = z_nc[:, 0], z_nc[:, 1], z_nc[:, 2:]
    theta = mu[:, None] + log_tau.exp()[:, None] * eta
    z_c = torch.cat([z_nc[:, :2], theta], -1)
    # p_c(μ, τ, θ) dθ = p_nc(μ, τ, η) dη with dθ = τ^J dη, J = 8
    torch.testing.assert_close(centred.log_joint(z_c), noncentred.log_joint(z_nc) - 8 * log_tau)
    # and back through the layouts' own transforms
    params_c, _ = centred.layout.constrain(z_c)
    params_nc, _ = noncentred.layout.constrain(z_nc)
    torch.testing.assert_close(params_c["tau"], params_nc["tau"])
    torch.testing.assert_close(
        centred.log_density(params_c), noncentred.log_density(params_nc) - 8 * log_tau
    )


def test_funnel_matches_torch_distributions_and_is_normalized():
    model = funnel(d=4)
    assert model.layout.flat_names() == ["v", "x[0]", "x[1]", "x[2]"]
    z = 2 * torch.randn(5, 4, dtype=torch.float64)
    v, x = z[:, 0], z[:, 1:]
    lp_x = Normal(0.0, (v / 2).exp()[:, None]).log_prob(x).sum(-1)
    expected = Normal(0.0, 3.0).log_prob(v) + lp_x
    torch.testing.assert_close(model.log_joint(z), expected)
    # d = 2: the density integrates to 1 (exact["log_evidence"] = 0); quadrature over
    # (v, u) with x = u e^{v/2}, dx = e^{v/2} du, which resolves the funnel's neck
    m2 = funnel(d=2)
    assert m2.exact["log_evidence"] == 0.0
    v = torch.linspace(-25, 25, 1001, dtype=torch.float64)
    u = torch.linspace(-10, 10, 801, dtype=torch.float64)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    grid = torch.stack([vv, uu * (vv / 2).exp()], -1).reshape(-1, 2)
    dens = (m2.log_joint(grid).reshape(vv.shape) + vv / 2).exp()
    total = torch.trapezoid(torch.trapezoid(dens, u, dim=1), v).item()
    assert total == pytest.approx(1.0, abs=1e-6)
    # its exact moments: Var v = 9, Var x = E[e^v] = e^{9/2}
    assert m2.exact["cov"][0, 0] == 9.0
    assert m2.exact["cov"][1, 1].item() == pytest.approx(math.exp(4.5))


# --------------------------------------------------------------------------- k̂ (Yao et al. 2018)
def test_k_hat_small_on_conjugate_model_with_fullrank():
    from reparam.vi.diagnostics import importance_diagnostics
    from reparam.vi.fit import fit
    from reparam.vi.guides import FullRankGuide

    model = linear_regression()
    # sticking the landing: zero gradient variance at q = p, so the fit lands on the
    # exact Gaussian posterior and the importance weights are nearly constant
    result = fit(
        model.log_joint,
        FullRankGuide(model.dim),
        num_particles=8,
        stl=True,
        steps=2000,
        lr=2e-2,
        progress=False,
        seed=0,
    )
    diag = importance_diagnostics(model.log_joint, result.guide(), num_samples=4000, seed=1)
    assert diag["k_hat"] < 0.5
    assert diag["verdict"] == "good"
    # the IS estimate of log p(x) matches the exact evidence within 5 standard errors
    err = abs(diag["log_evidence"] - model.exact["log_evidence"])
    assert err < 5 * diag["log_evidence_se"] + 1e-3


def test_k_hat_large_on_funnel_with_meanfield():
    from reparam.vi.diagnostics import importance_diagnostics
    from reparam.vi.fit import fit
    from reparam.vi.guides import MeanFieldGuide

    model = funnel()
    result = fit(
        model.log_joint,
        MeanFieldGuide(model.dim),
        num_particles=8,
        steps=1500,
        lr=2e-2,
        tol=0.0,
        progress=False,
        seed=0,
    )
    diag = importance_diagnostics(model.log_joint, result.guide(), num_samples=4000, seed=1)
    assert diag["k_hat"] > 0.7
    assert diag["verdict"] == "unreliable"
