"""The hot-path rewrites of the torch twins keep their values: each is compared with the
formula it replaced (written out here), at the edges of its parameter and noise range."""

import math

import pytest
import torch

import reparam
from reparam.distributions.generalized_pareto import _SERIES
from reparam.distributions.standard import StandardUniform

DTYPES = (torch.float32, torch.float64)


def _slow_expm1_over(xi, e):
    """(e^{ξe} − 1)/ξ as it was written before (nan_to_num, ones_like)."""
    t = torch.nan_to_num(xi * e, nan=0.0, posinf=math.inf, neginf=-math.inf)
    small = t.abs() < _SERIES
    safe = torch.where(small, torch.ones_like(xi), xi)
    return torch.where(small, e * (1 + t * (0.5 + t / 6)), torch.expm1(t) / safe)


@pytest.mark.parametrize("dtype", DTYPES)
def test_generalized_pareto_from_noise_is_the_slow_formula(dtype):
    torch.manual_seed(0)
    xi = torch.cat([torch.linspace(-2, 2, 41), torch.tensor([0.0, 1e-7, -1e-7, 1e-5])]).to(dtype)
    u = torch.cat([torch.rand(6, dtype=dtype), torch.tensor([0.0, 1.0], dtype=dtype)])
    xi_b, u_b = torch.broadcast_tensors(xi, u[:, None])
    loc = torch.linspace(-1, 1, xi.numel(), dtype=dtype).requires_grad_()
    scale = torch.linspace(0.5, 3, xi.numel(), dtype=dtype).requires_grad_()
    conc = xi.clone().requires_grad_()
    z = reparam.GeneralizedPareto(loc, scale, conc).from_noise(u_b)
    loc2, scale2, conc2 = (t.detach().clone().requires_grad_() for t in (loc, scale, conc))
    slow = loc2 + scale2 * _slow_expm1_over(conc2, -torch.log1p(-u_b))
    assert torch.equal(z.isnan(), slow.isnan())
    assert torch.equal(z.nan_to_num(), slow.nan_to_num())
    w = torch.randn(z.shape, dtype=dtype)
    finite = torch.isfinite(slow)
    grads = torch.autograd.grad((torch.where(finite, z, 0) * w).sum(), (loc, scale, conc))
    slow_grads = torch.autograd.grad(
        (torch.where(finite, slow, 0) * w).sum(), (loc2, scale2, conc2)
    )
    for a, b in zip(grads, slow_grads, strict=True):  # NaN where u = 1 meets ξ ≤ 0, in both
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_standard_uniform_draw_is_the_clamped_rand(dtype):
    torch.manual_seed(3)
    got = StandardUniform().sample(torch.Size((1000,)), dtype=dtype, device="cpu")
    torch.manual_seed(3)
    want = StandardUniform.clamp(torch.rand(1000, dtype=dtype))
    assert torch.equal(got, want)


def _slow_cb(q, u):
    """ContinuousBernoulli's icdf and log density as written before (ones/zeros_like, the
    region mask recomputed, log q through the default 0 − (−log q))."""
    p = q.probs
    lo, hi = q._lims
    outside = (p <= lo) | (p > hi)
    cut = torch.where(outside, p, torch.full_like(p, lo))
    exact = (torch.log1p(-cut + u * (2.0 * cut - 1.0)) - torch.log1p(-cut)) / (
        torch.log(cut) - torch.log1p(-cut)
    )
    z = torch.where(outside, exact, u)
    below = torch.where(cut <= 0.5, cut, torch.zeros_like(cut))
    above = torch.where(cut >= 0.5, cut, torch.ones_like(cut))
    log_norm = torch.log(torch.abs(torch.log1p(-cut) - torch.log(cut))) - torch.where(
        cut <= 0.5, torch.log1p(-2.0 * below), torch.log(2.0 * above - 1.0)
    )
    x = (p - 0.5).pow(2)
    taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
    log_norm = torch.where(outside, log_norm, taylor)
    logits, zb = torch.broadcast_tensors(q.logits, z)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, zb, reduction="none")
    return z, torch.zeros_like(u) - (-(-bce + log_norm))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["probs", "logits"])
def test_continuous_bernoulli_sample_and_log_prob_are_the_slow_formula(dtype, form):
    torch.manual_seed(1)
    if form == "probs":
        v = torch.cat([torch.linspace(0, 1, 101), torch.tensor([0.499, 0.5, 0.501, 0.4995])])
    else:
        v = torch.cat([torch.linspace(-30, 30, 101), torch.tensor([0.0, 1e-3, -4e-3])])
    v = v.to(dtype).requires_grad_()
    q = reparam.ContinuousBernoulli(**{form: v}, validate_args=False)
    u = torch.rand(4, v.numel(), dtype=dtype)
    u[0, :3] = torch.tensor([0.0, 1.0, 0.5])
    z_slow, lp_slow = _slow_cb(q, u)
    for z, lp in (q.from_noise_and_log_prob(u), (q.from_noise(u), q.log_prob(q.from_noise(u)))):
        assert torch.equal(z, z_slow)
        assert torch.equal(lp, lp_slow)
    torch.manual_seed(2)
    z, lp = q.rsample_and_log_prob((3,))
    torch.manual_seed(2)
    z_slow, lp_slow = _slow_cb(q, q.sample_noise((3,)))
    assert torch.equal(z, z_slow)
    assert torch.equal(lp, lp_slow)
    # The gradient shares log(1 − c) and log c between the sample and log C, so it is
    # rounded differently: both float32 gradients are judged against the float64 one.
    w = torch.randn(z.shape, dtype=dtype)
    (g,) = torch.autograd.grad(((z * w).sum() + lp.sum()), v, retain_graph=True)
    (g_slow,) = torch.autograd.grad(((z_slow * w).sum() + lp_slow.sum()), v)
    v64 = v.detach().double().requires_grad_()
    q64 = reparam.ContinuousBernoulli(**{form: v64}, validate_args=False)
    torch.manual_seed(2)
    z64, lp64 = _slow_cb(q64, q.sample_noise((3,)).double())
    (g64,) = torch.autograd.grad(((z64 * w.double()).sum() + lp64.sum()), v64)
    if dtype == torch.float64:  # rounding only: 1e-12 of the largest gradient
        torch.testing.assert_close(g, g64, rtol=1e-10, atol=1e-12 * g64.abs().max().item())
    else:  # no worse than the formula it replaces (λ near ½ cancels in float32)
        assert (g - g64).abs().max() <= 2 * (g_slow - g64).abs().max()
