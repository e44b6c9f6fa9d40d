"""PowerSpherical's sampling path against the computation it replaced, float64.

The previous from_noise took both Gammas through ``log_standard_gamma`` at the stacked
concentrations (α, β) = (κ + (d−1)/2, (d−1)/2), with the implicit derivative for both,
and formed t = B − (1 − B), 2√(B(1 − B)) in float64 by autograd; it is written out here
(``_previous``). The current one differentiates only X ~ Gamma(α) and attaches ∂t/∂κ,
∂r/∂κ in closed form. On κ ∈ {1e-3, 1, 1e2, 1e4} × d ∈ {2, 3, 10, 100, 1000}: the same
ε gives z and the gradients of Σ z·w in κ and μ within 1e-12 relative (z ~1e-15), both
for the remembered native draw and for a copy of ε (inverted); log_prob is unchanged.
"""

import math

import pytest
import torch

import reparam
from reparam.distributions._gamma_noise import log_standard_gamma
from reparam.distributions._sphere_math import householder, unit_direction

F64 = torch.float64
KAPPAS = [1e-3, 1.0, 1e2, 1e4]
DIMS = [2, 3, 10, 100, 1000]


def _previous(q, eps, drawn=None):
    """The former PowerSpherical.from_noise, written out."""
    kappa, beta = q.concentration, 0.5 * (q._dim - 1)
    conc = torch.stack((kappa + beta, torch.full_like(kappa, beta)), -1)
    log_x, log_y = log_standard_gamma(eps[..., :2], conc, drawn).unbind(-1)
    log_sum = torch.logaddexp(log_x, log_y)
    log_b, log_1mb = log_x - log_sum, log_y - log_sum
    t = (torch.exp(log_b) - torch.exp(log_1mb)).to(q.loc.dtype)
    radius = (2 * torch.exp(0.5 * (log_b + log_1mb))).to(q.loc.dtype)
    v = unit_direction(torch.special.ndtri(eps[..., 2:]))
    y = torch.cat((t.unsqueeze(-1), radius.unsqueeze(-1) * v), -1)
    return householder(q.loc, y)


def _value_and_grads(fn, loc, kappa, w):
    z = fn()
    g_kappa, g_loc = torch.autograd.grad((z * w).sum(), (kappa, loc))
    return z.detach(), g_kappa, g_loc


def _close(new, old, rtol):
    scale = old.abs().max().clamp(min=1e-300)
    assert bool(((new - old).abs() <= rtol * scale).all()), (new - old).abs().max() / scale


@pytest.mark.parametrize("d", DIMS)
def test_sphere_power_spherical_fast_path_matches_previous(d):
    torch.manual_seed(d)
    n = 64
    v = torch.randn(len(KAPPAS), d, dtype=F64)
    loc = (v / v.norm(dim=-1, keepdim=True)).requires_grad_()
    kappa = torch.tensor(KAPPAS, dtype=F64, requires_grad=True)
    w = torch.linspace(-1.0, 1.0, d, dtype=F64)
    q = reparam.PowerSpherical(loc, kappa)
    eps = q.sample_noise((n,))
    drawn = q._recall_draw(eps)
    assert drawn is not None
    log_x, native_x, _, log_y, native_y = drawn
    old_drawn = (torch.stack((log_x, log_y), -1), torch.stack((native_x, native_y), -1), None)
    # the remembered draw (what rsample uses), then a copy of ε (inverted)
    new = _value_and_grads(lambda: q.from_noise(eps), loc, kappa, w)
    old = _value_and_grads(lambda: _previous(q, eps, old_drawn), loc, kappa, w)
    copy = eps.clone()
    new_inv = _value_and_grads(lambda: q.from_noise(copy), loc, kappa, w)
    old_inv = _value_and_grads(lambda: _previous(q, copy), loc, kappa, w)
    for a, b in ((new, old), (new_inv, old_inv)):
        _close(a[0], b[0], 1e-14)
        for ga, gb in zip(a[1:], b[1:], strict=True):
            assert bool(torch.isfinite(ga).all())
            _close(ga, gb, 1e-12)
    # per-κ gradients, each to 1e-12 of its own size
    _close(new[1], old[1], 1e-12)
    for i in range(len(KAPPAS)):
        assert math.isclose(float(new[1][i]), float(old[1][i]), rel_tol=1e-12, abs_tol=1e-300)


@pytest.mark.parametrize("d", [2, 3, 10, 100, 1000])
def test_sphere_power_spherical_log_prob_unchanged(d):
    torch.manual_seed(0)
    v = torch.randn(len(KAPPAS), d, dtype=F64)
    loc = v / v.norm(dim=-1, keepdim=True)
    kappa = torch.tensor(KAPPAS, dtype=F64)
    q = reparam.PowerSpherical(loc, kappa)
    z = q.sample((8,))
    beta = 0.5 * (d - 1)
    a = kappa + beta
    log_c = -((a + beta) * math.log(2) + beta * math.log(math.pi) + torch.lgamma(a))
    log_c = log_c + torch.lgamma(a + beta)
    want = log_c + torch.xlogy(kappa, 0.5 * ((z + loc) ** 2).sum(-1))
    assert torch.equal(q.log_prob(z), want)
    z2, lp = q.rsample_and_log_prob((8,))
    assert torch.equal(lp, q.log_prob(z2))


@pytest.mark.parametrize("d", [2, 10, 1000])
def test_sphere_power_spherical_fast_path_float32(d):
    """float32: z and ∂/∂μ as before to rounding, ∂/∂κ within the float32
    pass's 1e-6 on ∂ log X/∂α (the previous one recomputed it in float64 here)."""
    torch.manual_seed(d)
    v = torch.randn(len(KAPPAS), d, dtype=F64)
    loc = (v / v.norm(dim=-1, keepdim=True)).float().requires_grad_()
    kappa = torch.tensor(KAPPAS, requires_grad=True)
    w = torch.linspace(-1.0, 1.0, d)
    q = reparam.PowerSpherical(loc, kappa)
    eps = q.sample_noise((256,))
    log_x, native_x, _, log_y, native_y = q._recall_draw(eps)
    old_drawn = (torch.stack((log_x, log_y), -1), torch.stack((native_x, native_y), -1), None)
    new = _value_and_grads(lambda: q.from_noise(eps), loc, kappa, w)
    old = _value_and_grads(lambda: _previous(q, eps, old_drawn), loc, kappa, w)
    # the coordinates of a unit vector, each a difference of O(1) terms: ~1e-7 absolute
    assert float((new[0] - old[0]).abs().max()) <= 1e-6
    _close(new[2], old[2], 1e-5)  # a sum over 256 draws of float32 terms
    assert bool(torch.isfinite(new[1]).all())
    assert bool(((new[1] - old[1]).abs() <= 1e-5 * old[1].abs() + 1e-6).all())
