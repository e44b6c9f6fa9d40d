"""reparam.importance: log weights, log evidence ± se, ESS, GPD fit, PSIS k̂ and its verdict."""

import math

import pytest
import torch
from torch.distributions import Normal

from reparam import DiagonalNormal
from reparam.importance import (
    ess,
    gpd_fit,
    importance_summary,
    k_hat_verdict,
    log_evidence,
    log_mean_exp,
    log_weights,
    psis,
)
from reparam.vi import diagnostics


def _gaussian_pair(d=3, scale=1.3, log_z=2.0):
    """q = N(0.2, scale²) per coordinate, wider than p̃ = Z · N(0, 1) with log Z known:
    the weights are bounded, so the tail is light (k̂ < 0.5)."""
    target = Normal(0.0, 1.0)
    q = DiagonalNormal(torch.full((d,), 0.2, dtype=torch.float64),
                       torch.full((d,), scale, dtype=torch.float64))  # fmt: skip
    return (lambda z: target.log_prob(z).sum(-1) + log_z), q, log_z


def test_log_evidence_of_gaussians_within_5_se():
    log_p, q, log_z = _gaussian_pair()
    torch.manual_seed(0)
    lw = log_weights(log_p, q, 20000, chunk=3000)
    assert lw.shape == (20000,) and lw.dtype == torch.float64  # noqa: PT018
    est, se = log_evidence(lw)
    assert abs(est.item() - log_z) < 5 * se.item()
    assert log_mean_exp(lw).item() == pytest.approx(est.item(), abs=1e-12)
    s = importance_summary(lw, log_z=log_z)
    assert s["elbo"] < log_z  # KL(q‖p) = 3 (log(1/1.3) + (1.3² + 0.2²)/2 − ½) = 0.31
    assert s["kl"] == pytest.approx(log_z - s["elbo"]) and s["kl_se"] == s["elbo_se"]  # noqa: PT018
    assert 0 < s["ess"] <= 20000 and s["verdict"] == "good"  # noqa: PT018


def test_exact_proposal_has_constant_weights():
    q = Normal(torch.zeros(()), torch.ones(()))
    lw = log_weights(lambda z: q.log_prob(z) + 0.5, q, 100)
    assert torch.allclose(lw, torch.full((100,), 0.5, dtype=torch.float64))
    assert ess(lw).item() == pytest.approx(100)
    assert log_evidence(lw)[1].item() == pytest.approx(0.0, abs=1e-12)


def test_log_weights_batched_sampler_and_chunks():
    """A sampler callable with a batch dimension; the chunks see the draws in order."""
    calls = []

    def draw(c):
        calls.append(c)
        z = torch.randn(c, 4)
        return z, -0.5 * z.pow(2)

    torch.manual_seed(1)
    lw = log_weights(lambda z: torch.zeros_like(z), draw, 10, chunk=4, dtype=None)
    assert calls == [4, 4, 2] and lw.shape == (10, 4) and lw.dtype == torch.float32  # noqa: PT018
    torch.manual_seed(1)
    assert torch.equal(lw[:4], 0.5 * torch.randn(4, 4).pow(2))
    for bad in ({"num_samples": 0}, {"num_samples": 3, "chunk": 0}):
        with pytest.raises(ValueError, match="must be"):
            log_weights(lambda z: z, draw, **{"num_samples": 3, **bad})


def test_summary_nan_policy_and_small_n():
    s = importance_summary(torch.tensor([0.0, 1.0, -math.inf]))
    assert math.isnan(s["ess"]) and math.isnan(s["k_hat"]) and s["verdict"] == "unreliable"  # noqa: PT018
    assert s["kl"] is None
    with pytest.raises(ValueError, match="shape"):
        importance_summary(torch.zeros(2, 2))


def test_vi_diagnostics_reexports_the_estimators():
    for name in ("psis", "gpd_fit", "k_hat_verdict", "K_HAT_GOOD", "K_HAT_OK"):
        assert hasattr(diagnostics, name)
    assert diagnostics.psis is psis


def _gpd(n, k, sigma=1.0, seed=0):
    u = torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return sigma * torch.expm1(-k * torch.log1p(-u)) / k  # F⁻¹(u) = σ((1−u)^{−k} − 1)/k


@pytest.mark.parametrize("k", [-0.3, 0.2, 0.5, 0.9])
def test_gpd_fit_recovers_known_shape_and_scale(k):
    # The ML-type estimator's asymptotic sd: sd(k̂) = (1 + k)/√n, sd(σ̂/σ) = √(2(1 + k)/n)
    # (Zhang & Stephens 2009 reach this efficiency); tolerance 5 sd.
    n = 20000
    k_hat, sigma_hat = gpd_fit(_gpd(n, k, sigma=2.0), prior_weight=0)
    assert abs(k_hat - k) < 5 * (1 + k) / math.sqrt(n)
    assert abs(sigma_hat / 2.0 - 1) < 5 * math.sqrt(2 * (1 + k) / n)


def test_gpd_fit_prior_shrinks_towards_half():
    x = _gpd(50, 0.9)
    k0, _ = gpd_fit(x, prior_weight=0)
    k1, _ = gpd_fit(x)
    assert k1 == pytest.approx((50 * k0 + 5) / 60)


@pytest.mark.parametrize("k", [0.2, 0.6, 1.0])
def test_psis_k_hat_on_pareto_weights(k):
    # Weights with an exact Pareto tail w = (1 − U)^{−k}: the exceedances over any threshold
    # are GPD with shape k. Over R replicates the mean k̂ must match k (after the prior's
    # known shrinkage (M k + 5)/(M + 10)) within 5 standard errors of the mean.
    s, reps = 4000, 20
    m = math.ceil(min(0.2 * s, 3 * math.sqrt(s)))
    ks = []
    for r in range(reps):
        u = torch.rand(s, generator=torch.Generator().manual_seed(r), dtype=torch.float64)
        ks.append(psis(-k * torch.log1p(-u))[1])
    ks = torch.tensor(ks)
    target = (m * k + 5) / (m + 10)
    assert abs(ks.mean().item() - target) < 5 * ks.std().item() / math.sqrt(reps)


def test_psis_smoothing_properties():
    u = torch.rand(1000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    lw = -0.8 * torch.log1p(-u) + 3.0  # heavy tail, shifted
    out, k_hat = psis(lw)
    m = math.ceil(min(0.2 * 1000, 3 * math.sqrt(1000)))
    order = torch.argsort(lw)
    assert out.shape == lw.shape
    assert out.dtype == lw.dtype
    assert torch.equal(out[order[:-m]], lw[order[:-m]])  # the body is untouched
    assert not torch.equal(out[order[-m:]], lw[order[-m:]])  # the tail is replaced
    assert out.max() <= lw.max() + 1e-12  # truncated at the largest raw weight
    assert torch.all(out[order[-m:]].diff() >= 0)  # the ranks are kept
    assert torch.all(out[order[-m:]] >= lw[order[-m - 1]])  # above the threshold
    assert 0.5 < k_hat < 1.2
    # invariant to a constant shift of the log weights
    out2, k2 = psis(lw - 100.0)
    assert k2 == pytest.approx(k_hat)
    assert torch.allclose(out2, out - 100.0)


def test_psis_degenerate_and_bad_input():
    flat = torch.zeros(100)
    out, k_hat = psis(flat)
    assert k_hat == -math.inf
    assert torch.equal(out, flat)
    with pytest.raises(ValueError, match="1-D"):
        psis(torch.zeros(10, 10))
    with pytest.raises(ValueError, match="at least 25"):
        psis(torch.zeros(24))
    with pytest.raises(ValueError, match="NaN"):
        psis(torch.tensor([float("nan")] + [0.0] * 99))
    with pytest.raises(ValueError, match="all log weights are -inf"):
        psis(torch.full((100,), -math.inf))
    with pytest.raises(ValueError, match="floating"):
        psis(torch.zeros(100, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 5"):
        gpd_fit(torch.ones(4))
    with pytest.raises(ValueError, match="zero"):
        gpd_fit(torch.zeros(10))


def test_k_hat_verdict():
    assert k_hat_verdict(0.2) == "good"
    assert k_hat_verdict(0.6) == "ok"
    assert k_hat_verdict(0.7) == "ok"
    assert k_hat_verdict(0.71) == "unreliable"
    assert k_hat_verdict(-math.inf) == "good"
    assert k_hat_verdict(math.nan) == "unreliable"
