"""Tests of reparam.diagnostics.gradient_stats.

Closed form checked here: f(z) = z² on q = N(μ, σ²), pathwise, N samples per estimate.
With z = μ + σε the per-sample gradients are

    ∂/∂μ (μ + σε)² = 2μ + 2σε          mean 2μ, variance 4σ²             (Gaussian)
    ∂/∂σ (μ + σε)² = 2με + 2σε²        mean 2σ, variance 4μ² + 8σ² = 4(μ² + 2σ²)

(Var[ε²] = 2, Cov[ε, ε²] = 0). Writing the centred ∂σ term as X = aε + b(ε² − 1) with
a = 2μ, b = 2σ, its fourth central moment is E[X⁴] = 3a⁴ + 60a²b² + 60b⁴ (from
E[ε⁴] = 3, E[ε²(ε² − 1)²] = 10, E[(ε² − 1)⁴] = 60). An estimate averages N samples:
variance v/N and fourth central moment (m₄ + 3(N − 1)v²)/N³. The sample variance s²
of R estimates with variance σ² and fourth central moment μ₄ has
Var[s²] = (μ₄ − σ⁴ (R − 3)/(R − 1)) / R; the tests allow 5 of its standard deviations.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from reparam import GradientStats, Normal, RunningMean, gradient_stats

MU, SIGMA = 1.0, 2.0
REPEATS = 2000


def _variance_tolerance(v: float, m4: float, n: int, repeats: int) -> tuple[float, float]:
    """(variance of the mean of n samples, 5 standard deviations of its sample variance)."""
    var = v / n
    mu4 = (m4 + 3 * (n - 1) * v**2) / n**3
    var_s2 = (mu4 - var**2 * (repeats - 3) / (repeats - 1)) / repeats
    return var, 5 * math.sqrt(var_s2)


@pytest.mark.parametrize("n", [1, 4])
def test_pathwise_variance_z2_matches_closed_form(n):
    mu = torch.tensor(MU, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(SIGMA, dtype=torch.float64, requires_grad=True)
    stats = gradient_stats(
        lambda z: z**2, Normal(mu, sigma), {"mu": mu, "sigma": sigma}, "pathwise", n, REPEATS
    )
    a, b = 2 * MU, 2 * SIGMA
    v_mu, tol_mu = _variance_tolerance(4 * SIGMA**2, 3 * (4 * SIGMA**2) ** 2, n, REPEATS)
    v_sigma, tol_sigma = _variance_tolerance(
        a**2 + 2 * b**2, 3 * a**4 + 60 * a**2 * b**2 + 60 * b**4, n, REPEATS
    )
    assert v_sigma == pytest.approx(4 * (MU**2 + 2 * SIGMA**2) / n)
    assert abs(stats.variance["mu"].item() - v_mu) <= tol_mu
    assert abs(stats.variance["sigma"].item() - v_sigma) <= tol_sigma
    # means: the exact gradient (2μ, 2σ) within 5 standard errors
    assert abs(stats.mean["mu"].item() - 2 * MU) <= 5 * math.sqrt(v_mu / REPEATS)
    assert abs(stats.mean["sigma"].item() - 2 * SIGMA) <= 5 * math.sqrt(v_sigma / REPEATS)
    torch.testing.assert_close(
        stats.snr["mu"], stats.mean["mu"].abs() / stats.variance["mu"].sqrt()
    )
    assert stats.estimator == "pathwise"
    assert stats.num_samples == n
    assert stats.repeats == REPEATS
    assert stats.seconds_per_estimate > 0


def test_user_grads_untouched():
    mu = torch.tensor(MU, requires_grad=True)
    sigma = torch.tensor(SIGMA, requires_grad=True)
    gradient_stats(lambda z: z**2, Normal(mu, sigma), [mu, sigma], repeats=5)
    assert mu.grad is None
    assert sigma.grad is None
    mu.grad = torch.tensor(7.0)
    gradient_stats(lambda z: z**2, Normal(mu, sigma), [mu, sigma], "score", 3, repeats=5)
    assert mu.grad.item() == 7.0
    assert sigma.grad is None


def test_q_from_callable_with_transformed_params():
    loc = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    rho = torch.zeros(3, dtype=torch.float64, requires_grad=True)

    def q():
        return Normal(loc, F.softplus(rho))

    stats = gradient_stats(lambda z: z**2, q, {"loc": loc, "rho": rho}, repeats=200)
    assert stats.mean["loc"].shape == (3,)
    assert stats.variance["rho"].shape == (3,)
    # ∂/∂ρ E[z²] = 2σ · sigmoid(ρ) = 2 log 2 · 1/2 at ρ = 0; ∂/∂loc = 0.
    sd = stats.variance["rho"].sqrt() / math.sqrt(200)
    assert torch.all((stats.mean["rho"] - math.log(2)).abs() <= 5 * sd)


def test_distribution_built_from_transformed_params_reused():
    rho = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    q = Normal(torch.tensor(0.0, dtype=torch.float64), F.softplus(rho))  # graph shared by repeats
    stats = gradient_stats(lambda z: z**2, q, [rho], "score", 4, repeats=50, baseline="loo")
    assert stats.estimator == "score+loo"
    assert torch.isfinite(stats.mean["0"])


def test_running_mean_state_persists_across_repeats():
    b = RunningMean()
    mu = torch.tensor(MU, requires_grad=True)
    stats = gradient_stats(lambda z: z, Normal(mu, SIGMA), [mu], "score", 2, 7, baseline=b)
    assert b.count == 7
    assert stats.estimator == "score+running_mean"


def test_zero_variance_gives_infinite_snr():
    mu = torch.tensor(MU, requires_grad=True)
    stats = gradient_stats(lambda z: z, Normal(mu, SIGMA), {"mu": mu}, repeats=3)
    assert stats.variance["mu"].item() == 0
    assert math.isinf(stats.snr["mu"].item())


def test_summary_and_as_dict():
    mu = torch.tensor(MU, requires_grad=True)
    sigma = torch.tensor(SIGMA, requires_grad=True)
    stats = gradient_stats(
        lambda z: z**2, Normal(mu, sigma), {"mu": mu, "sigma": sigma}, repeats=4
    )
    assert isinstance(stats, GradientStats)
    text = stats.summary()
    assert "pathwise" in text
    assert "mu" in text
    assert "sigma" in text
    d = json.loads(json.dumps(stats.as_dict()))
    assert set(d) >= {"mean", "variance", "snr", "seconds_per_estimate", "estimator"}
    assert set(d["mean"]) == {"mu", "sigma"}
    with pytest.raises(AttributeError):
        stats.repeats = 5  # frozen


@pytest.mark.parametrize("repeats", [1, 0, 2.5])
def test_bad_repeats(repeats):
    mu = torch.tensor(MU, requires_grad=True)
    with pytest.raises(ValueError, match="repeats"):
        gradient_stats(lambda z: z, Normal(mu, SIGMA), [mu], repeats=repeats)


def test_bad_params_and_q():
    mu = torch.tensor(MU, requires_grad=True)
    with pytest.raises(ValueError, match="require grad"):
        gradient_stats(lambda z: z, Normal(mu, SIGMA), [torch.tensor(1.0)])
    with pytest.raises(ValueError, match="at least one"):
        gradient_stats(lambda z: z, Normal(mu, SIGMA), [])
    with pytest.raises(TypeError, match="q must be"):
        gradient_stats(lambda z: z, 3, [mu])
