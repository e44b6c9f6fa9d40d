"""The fast paths of the von Mises–Fisher angle against the reference quadrature.

- d = 3: the closed-form θ = F⁻¹(Φ(ε₀)) and ∂θ/∂κ against the reference rule's CDF and
  implicit derivative, κ ∈ {1e-3, …, 1e4} (both sides of the series/closed-form switch
  at κ = 1), ε₀ ∈ [−6, 6], float64: F to 1e-12, ∂θ/∂κ to 1e-8 relatively; finite at
  κ ∈ {0, 1e-300, 1e6} and ε₀ = ±38;
- d ≠ 3: the fast rule's one-sided log F, log(1 − F) and ∂θ/∂κ against the reference
  rule (both sides, 8 × 16 nodes) on κ ∈ {1e-3, …, 1e4} × d ∈ {2, …, 1000}, at the θ that
  Newton finds for ε₀ ∈ [−6, 6] (which must satisfy F(θ) = Φ(ε₀) by the reference);
- the backward-only ∂θ/∂κ (inverted noise) equals the one from the draw's nodes;
- vmf_stats' mode-windowed rule (MODE) against the reference rule: log C_d + κ (also to
  1e-13 absolutely: it crosses 0), A_d, 1 − A_d and A_d/κ to 1e-12 relatively on 1000
  κ ∈ [1e-3, 1e4] (and 0, and either side of the series switch κ² = d/2) × d ∈ {2, …,
  1000}, float64; finite at κ ∈ {1e-300, 1e8}.
"""

import math

import numpy as np
import pytest
import torch

import reparam
from reparam.distributions._sphere_math import (
    MODE,
    REFERENCE,
    theta_cdf,
    theta_dkappa,
    vmf_stats,
)
from reparam.distributions._vmf_angle import _side, angle_quantile, d3_angle

F64 = torch.float64
KAPPAS = [1e-3, 0.1, 0.999, 1.0, 1.001, 10.0, 100.0, 1e3, 1e4]
EPS0 = torch.linspace(-6.0, 6.0, 25, dtype=F64)


def _grid(kappas):
    k = torch.tensor(kappas, dtype=F64)[:, None].expand(-1, len(EPS0))
    return k, EPS0.expand_as(k)


def _rel(x, ref):
    return ((x - ref).abs() / ref.abs()).max().item()


def _target(e):
    """(log Φ(ε₀), log Φ(−ε₀))."""
    return torch.special.log_ndtr(e), torch.special.log_ndtr(-e)


def _check_cdf(log_f, log_s, e, tol):
    want_f, want_s = _target(e)
    lower = e <= 0  # compare the smaller tail (full relative precision)
    assert _rel(log_f[lower], want_f[lower]) < tol
    assert _rel(log_s[~lower], want_s[~lower]) < tol


def test_d3_closed_form_matches_reference_quadrature():
    k, e = _grid(KAPPAS)
    theta, g = d3_angle(e, k)
    log_f, log_s, _, _ = theta_cdf(theta, k, 3)
    _check_cdf(log_f, log_s, e, 1e-12)
    _, a, one_minus, _ = vmf_stats(k, 3)
    assert _rel(g, theta_dkappa(theta, k, 3, a, one_minus, REFERENCE)) < 1e-8


def test_d3_closed_form_is_finite_at_extremes():
    k = torch.tensor([0.0, 1e-300, 1e-8, 1.0, 1e6], dtype=F64)[:, None]
    e = torch.tensor([-38.0, -6.0, 0.0, 6.0, 38.0], dtype=F64)
    theta, g = d3_angle(e, k)
    assert bool(torch.isfinite(theta).all())
    assert bool(torch.isfinite(g).all())
    assert bool(((theta >= 0) & (theta <= torch.pi)).all())
    # κ = 0: the uniform, cos θ = 1 − 2F, ∂θ/∂κ the limit −sin θ / 2
    torch.testing.assert_close(torch.cos(theta[0]), 1 - 2 * torch.special.ndtr(e))
    torch.testing.assert_close(g[0], -0.5 * torch.sin(theta[0]))


@pytest.mark.parametrize("d", [2, 4, 5, 10, 100, 1000])
def test_fast_rule_matches_reference_rule(d):
    k, e = _grid([1e-3, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4])
    stats = vmf_stats(k, d)
    theta = angle_quantile(e, k, d, stats)
    log_f, log_s, _, g = _side(theta, k, d, stats)
    ref_f, ref_s, _, _ = theta_cdf(theta, k, d)
    # Newton on the fast rule solved the reference's F (to 1e-8: near θ = π at small κ,
    # π − θ ~ 1e-9 and the rounding of θ itself moves log(1 − F) by ~1e-9)
    _check_cdf(ref_f, ref_s, e, 1e-8)
    lower = e <= 0
    assert _rel(log_f[lower], ref_f[lower]) < 1e-10
    assert _rel(log_s[~lower], ref_s[~lower]) < 1e-10
    assert _rel(g, theta_dkappa(theta, k, d, stats[1], stats[2], REFERENCE)) < 1e-8


@pytest.mark.parametrize("d", [3, 7])
def test_backward_only_gradient_equals_the_draws(d):
    kappa = torch.tensor([0.4, 6.0, 300.0], dtype=F64, requires_grad=True)
    loc = torch.nn.functional.normalize(torch.randn(3, d, dtype=F64), dim=-1)
    q = reparam.VonMisesFisher(loc, kappa)
    torch.manual_seed(0)
    eps = q.sample_noise((40,))
    w = torch.linspace(-1, 1, d, dtype=F64)
    (g_draw,) = torch.autograd.grad((q.from_noise(eps) * w).sum(), kappa)
    (g_inv,) = torch.autograd.grad((q.from_noise(eps.clone()) * w).sum(), kappa)
    torch.testing.assert_close(g_inv, g_draw, rtol=1e-9, atol=1e-12)


STATS_DIMS = [2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 30, 50, 64, 100, 200, 300, 500, 1000]


@pytest.mark.parametrize("d", STATS_DIMS)
def test_mode_rule_matches_reference_rule(d):
    switch = math.sqrt(d / 2)
    k = torch.tensor(
        [0.0, switch * (1 - 1e-12), switch * (1 + 1e-12), *np.geomspace(1e-3, 1e4, 1000)],
        dtype=F64,
    )
    fast, ref = vmf_stats(k, d, MODE), vmf_stats(k, d, REFERENCE)
    for j, (x, want) in enumerate(zip(fast, ref, strict=True)):
        assert bool(torch.isfinite(x).all())
        # log C_d + κ crosses 0 (near κ ~ d): there its error is absolute, ~1e-15
        torch.testing.assert_close(x, want, rtol=1e-12, atol=1e-13 if j == 0 else 0.0)
    huge = vmf_stats(torch.tensor([1e-300, 1e8], dtype=F64), d, MODE)
    assert all(bool(torch.isfinite(x).all()) for x in huge)
