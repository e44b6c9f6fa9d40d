"""The torch twins InverseGamma, LogisticNormal and FisherSnedecor against torch.distributions,
closed-form gradients and their KL divergences."""

import math

import numpy as np
import pytest
import torch
import torch.distributions as td
from torch.distributions import kl_divergence

import reparam

F64 = torch.float64


def _t(values):
    return torch.tensor(values, dtype=F64)


def _per_sample_grad_check(make, params, stat, want, n=4000, seed=0):
    """Pathwise gradients of E[stat(z)] in each parameter within 5 standard errors of
    ``want``: every sample gets its own copy of the parameters (leaves of shape (n,))."""
    torch.manual_seed(seed)
    leaves = {k: torch.full((n,), v, dtype=F64, requires_grad=True) for k, v in params.items()}
    z = make(**leaves).rsample()
    stat(z).sum().backward()
    for name, expected in want.items():
        g = leaves[name].grad
        se = g.std().item() / math.sqrt(n)
        assert abs(g.mean().item() - expected) <= 5 * se + 1e-12, (name, g.mean(), expected, se)


# ----------------------------------------------------------------------------- InverseGamma
def test_inverse_gamma_matches_torch():
    a = _t([0.5, 1.0, 1.5, 2.0, 3.0, 7.0])
    rate = _t([2.0, 0.5, 1.0, 3.0, 1.5, 0.2])
    ours, ref = reparam.InverseGamma(a, rate), td.InverseGamma(a, rate)
    value = _t([[0.3, 1.0, 2.0, 5.0, 0.7, 0.01]])
    torch.testing.assert_close(ours.log_prob(value), ref.log_prob(value))
    torch.testing.assert_close(ours.cdf(value), ref.cdf(value))
    for name in ("mean", "variance", "mode", "entropy"):
        got, want = getattr(ours, name), getattr(ref, name)
        if name == "entropy":
            got, want = got(), want()
        torch.testing.assert_close(got, want, equal_nan=True, msg=name)
    assert torch.isposinf(ours.mean[:2]).all()
    assert torch.isposinf(ours.variance[:4]).all()


def test_inverse_gamma_is_rate_over_the_gamma_of_the_same_noise():
    a, rate = _t([0.7, 4.0]), _t([2.0, 0.5])
    q = reparam.InverseGamma(a, rate)
    for noise in ("mc", "antithetic", "qmc"):
        u = q.sample_noise((64,), noise=noise)
        x = reparam.Gamma(a, torch.ones_like(rate)).from_noise(u.clone())
        torch.testing.assert_close(q.from_noise(u), rate / x)
        z, lp = q.from_noise_and_log_prob(u)
        torch.testing.assert_close(lp, td.InverseGamma(a, rate).log_prob(z))


def test_inverse_gamma_samples_match_the_law():
    torch.manual_seed(1)
    n = 20000
    z = reparam.InverseGamma(_t(6.0), _t(2.0)).rsample((n,))
    # E[1/z] = a / rate; Var[1/z] = a / rate²
    inv = 1 / z
    se = math.sqrt(6.0 / 4.0 / n)
    assert abs(inv.mean().item() - 3.0) <= 5 * se


@pytest.mark.parametrize(("a", "rate"), [(0.6, 1.5), (3.0, 0.4)])
def test_inverse_gamma_pathwise_gradient_of_mean_log(a, rate):
    """E[log z] = log rate − ψ(a): ∂/∂a = −ψ'(a), ∂/∂rate = 1/rate."""
    _per_sample_grad_check(
        reparam.InverseGamma,
        {"concentration": a, "rate": rate},
        torch.log,
        {"concentration": -torch.special.polygamma(1, _t(a)).item(), "rate": 1 / rate},
    )


def test_inverse_gamma_pathwise_gradient_of_mean():
    """E[z] = rate/(a − 1): ∂/∂a = −rate/(a − 1)², ∂/∂rate = 1/(a − 1) (a = 6 keeps the
    gradient's variance finite)."""
    a, rate = 6.0, 2.0
    want = {"concentration": -rate / (a - 1) ** 2, "rate": 1 / (a - 1)}
    _per_sample_grad_check(
        reparam.InverseGamma, {"concentration": a, "rate": rate}, lambda z: z, want
    )


def test_inverse_gamma_kl_is_the_gamma_kl_of_the_reciprocals():
    ap, bp = _t([0.5, 2.0, 7.0]), _t([1.0, 3.0, 0.4])
    aq, bq = _t([1.5, 2.0, 3.0]), _t([0.5, 1.0, 2.0])
    p, q = reparam.InverseGamma(ap, bp), reparam.InverseGamma(aq, bq)
    want = kl_divergence(td.Gamma(ap, bp), td.Gamma(aq, bq))
    torch.testing.assert_close(kl_divergence(p, q), want)
    torch.testing.assert_close(kl_divergence(p, td.InverseGamma(aq, bq)), want)
    torch.testing.assert_close(kl_divergence(td.InverseGamma(ap, bp), q), want)
    torch.testing.assert_close(kl_divergence(p, p), torch.zeros(3, dtype=F64))


def test_inverse_gamma_kl_matches_monte_carlo():
    torch.manual_seed(2)
    p, q = reparam.InverseGamma(_t(3.0), _t(2.0)), reparam.InverseGamma(_t(2.0), _t(1.0))
    z = p.sample((40000,))
    ratio = p.log_prob(z) - q.log_prob(z)
    se = ratio.std().item() / math.sqrt(z.numel())
    assert abs(ratio.mean().item() - kl_divergence(p, q).item()) <= 5 * se


# ----------------------------------------------------------------------------- LogisticNormal
def test_logistic_normal_log_prob_matches_torch():
    torch.manual_seed(3)
    loc = torch.randn(2, 4, dtype=F64)
    scale = torch.rand(2, 4, dtype=F64) + 0.3
    ours, ref = reparam.LogisticNormal(loc, scale), td.LogisticNormal(loc, scale)
    assert ours.batch_shape == ref.batch_shape
    assert ours.event_shape == ref.event_shape
    z = ref.sample((7,))
    torch.testing.assert_close(ours.log_prob(z), ref.log_prob(z))
    z, lp = ours.rsample_and_log_prob((7,))
    torch.testing.assert_close(lp, ref.log_prob(z))
    torch.testing.assert_close(z.sum(-1), torch.ones(7, 2, dtype=F64))


def test_logistic_normal_samples_match_torchs():
    torch.manual_seed(4)
    loc, scale = _t([0.5, -1.0, 0.2]), _t([0.8, 0.5, 1.5])
    n = 20000
    ours = reparam.LogisticNormal(loc, scale).rsample((n,))
    ref = td.LogisticNormal(loc, scale).sample((n,))
    se = torch.sqrt(ours.var(0) / n + ref.var(0) / n)
    assert ((ours.mean(0) - ref.mean(0)).abs() <= 5 * se).all()


def test_logistic_normal_pathwise_gradient_against_quadrature():
    """K = 1: z₁ = σ(x), x ~ N(μ, s²); ∂E[z₁]/∂μ = E[σ'(x)], ∂E[z₁]/∂s = E[σ'(x) ε]
    by Gauss–Hermite quadrature."""
    mu, s = 0.4, 1.3
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    sig = 1 / (1 + np.exp(-(mu + s * nodes)))
    dsig = sig * (1 - sig)
    want = {"loc": float((weights * dsig).sum()), "scale": float((weights * dsig * nodes).sum())}
    n = 4000
    torch.manual_seed(5)
    loc = torch.full((n, 1), mu, dtype=F64, requires_grad=True)
    scale = torch.full((n, 1), s, dtype=F64, requires_grad=True)
    reparam.LogisticNormal(loc, scale).rsample()[..., 0].sum().backward()
    for name, leaf in (("loc", loc), ("scale", scale)):
        g = leaf.grad[:, 0]
        se = g.std().item() / math.sqrt(n)
        assert abs(g.mean().item() - want[name]) <= 5 * se, (name, g.mean(), want[name])


def test_logistic_normal_refuses_a_scalar_loc():
    with pytest.raises(ValueError, match="at least one dimension"):
        reparam.LogisticNormal(0.0, 1.0)


def test_logistic_normal_kl_is_the_normal_kl():
    loc_p, scale_p = _t([0.3, -1.0]), _t([0.5, 2.0])
    loc_q, scale_q = _t([0.0, 0.4]), _t([1.0, 0.7])
    p, q = reparam.LogisticNormal(loc_p, scale_p), reparam.LogisticNormal(loc_q, scale_q)
    want = kl_divergence(td.Normal(loc_p, scale_p), td.Normal(loc_q, scale_q)).sum(-1)
    torch.testing.assert_close(kl_divergence(p, q), want)
    torch.testing.assert_close(kl_divergence(p, td.LogisticNormal(loc_q, scale_q)), want)


# ----------------------------------------------------------------------------- FisherSnedecor
def test_fisher_snedecor_matches_torch():
    df1 = _t([0.5, 1.0, 2.0, 3.0, 4.0, 9.0])
    df2 = _t([1.0, 2.0, 3.0, 4.0, 5.0, 12.0])
    ours, ref = reparam.FisherSnedecor(df1, df2), td.FisherSnedecor(df1, df2)
    value = _t([[0.3, 1.0, 2.0, 5.0, 0.7, 0.01]])
    torch.testing.assert_close(ours.log_prob(value), ref.log_prob(value))
    for name in ("mean", "variance", "mode"):
        torch.testing.assert_close(getattr(ours, name), getattr(ref, name), equal_nan=True)
    assert torch.isnan(ours.mean[:2]).all()
    assert torch.isnan(ours.variance[:4]).all()
    assert torch.isnan(ours.mode[:3]).all()


def test_fisher_snedecor_is_the_ratio_of_chi2s_of_the_same_noise():
    df1, df2 = _t([0.7, 4.0]), _t([3.0, 12.0])
    q = reparam.FisherSnedecor(df1, df2)
    for noise in ("mc", "antithetic", "qmc"):
        u = q.sample_noise((64,), noise=noise)
        assert u.shape == (64, 2, 2)
        g1 = reparam.Chi2(df1).from_noise(u[..., 0].clone())
        g2 = reparam.Chi2(df2).from_noise(u[..., 1].clone())
        torch.testing.assert_close(q.from_noise(u), (g1 / df1) / (g2 / df2))
        z, lp = q.from_noise_and_log_prob(u)
        torch.testing.assert_close(lp, td.FisherSnedecor(df1, df2).log_prob(z))


@pytest.mark.parametrize(("df1", "df2"), [(0.8, 1.5), (5.0, 3.0)])
def test_fisher_snedecor_pathwise_gradient_of_mean_log(df1, df2):
    """E[log z] = ψ(ν₁/2) − ψ(ν₂/2) + log ν₂ − log ν₁."""
    trigamma = lambda x: torch.special.polygamma(1, _t(x)).item()  # noqa: E731
    want = {"df1": 0.5 * trigamma(df1 / 2) - 1 / df1, "df2": -0.5 * trigamma(df2 / 2) + 1 / df2}
    _per_sample_grad_check(reparam.FisherSnedecor, {"df1": df1, "df2": df2}, torch.log, want)


def test_fisher_snedecor_pathwise_gradient_of_mean():
    """E[z] = ν₂/(ν₂ − 2): ∂/∂ν₁ = 0, ∂/∂ν₂ = −2/(ν₂ − 2)² (ν₂ = 12: finite variance)."""
    df1, df2 = 3.0, 12.0
    want = {"df1": 0.0, "df2": -2 / (df2 - 2) ** 2}
    _per_sample_grad_check(reparam.FisherSnedecor, {"df1": df1, "df2": df2}, lambda z: z, want)
