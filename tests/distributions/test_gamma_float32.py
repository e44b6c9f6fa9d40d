"""The float32 Gamma numerics: ∂ log x/∂a within 1e-6 relative, on the accuracy grid and
on the native draws of plain Monte Carlo (the float32 pass of ``_gamma_fast``).

References: mpmath at 40 digits on the grid (the helper of test_gamma_family), and the
float64 pass of ``_gamma_math`` (itself within ~1e-14 of mpmath, tested there) at the
very points the float32 code evaluated.
"""

from __future__ import annotations

import math

import pytest
import torch

import reparam
from reparam.distributions._gamma_fast import (
    fast_domain,
    gamma_cdf_and_dlogx32,
    log_cdf_and_dlogx,
)
from reparam.distributions._gamma_math import (
    standard_gamma_cdf_and_dlogx_da,
    standard_gamma_log_quantile,
)
from reparam.distributions._gamma_temme import temme_log_cdf_and_dlogx

from .test_gamma_family import GRID_A, GRID_U, _mpmath_reference

F32_RTOL = 1e-6  # the bound; torch's own float32 gradient is off by up to 1.9e-2


def _grad_log_z(q: reparam.Gamma, u: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """∂ log z/∂a elementwise (one concentration per element)."""
    (g,) = torch.autograd.grad(q._log_z(u).sum(), a)
    return g


def test_float32_grid_derivative_within_1e6_of_mpmath():
    """Gamma(a, 1).from_noise(u) in float32 over GRID_A × GRID_U: ∂ log z/∂a (log space,
    so underflowing z count too) and ∂z/∂a where z and the gradient are normal floats."""
    a_vals = [a for a in GRID_A for _ in GRID_U]
    u_vals = [u for _ in GRID_A for u in GRID_U]
    a = torch.tensor(a_vals, dtype=torch.float32, requires_grad=True)
    u = torch.tensor(u_vals, dtype=torch.float32)
    q = reparam.Gamma(a, torch.tensor(1.0))
    dlog = _grad_log_z(q, u, a).double()
    zs = q.from_noise(u)
    (dz,) = torch.autograd.grad(zs.sum(), a)
    worst_log = worst_z = 0.0
    for i in range(len(a_vals)):
        t_ref, d_ref = _mpmath_reference(float(a.detach()[i]), float(u[i]))
        worst_log = max(worst_log, abs(dlog[i].item() / d_ref - 1))
        dz_ref = math.exp(t_ref) * d_ref if t_ref > -80 else 0.0
        if math.exp(t_ref) > 1e-37 and abs(dz_ref) > 1e-37:
            worst_z = max(worst_z, abs(dz[i].item() / dz_ref - 1))
    assert worst_log < F32_RTOL, worst_log
    assert worst_z < F32_RTOL + 2**-23, worst_z  # + the rounding of z itself


@pytest.mark.parametrize(
    ("low", "high"), [(0.05, 0.5), (0.5, 5.0), (5.0, 20.0), (15.0, 30.0), (50.0, 500.0)]
)
def test_float32_pass_matches_the_float64_pass_on_native_draws(low, high):
    """The float32 pass at 10⁵ of torch's float32 draws (both tails included): ∂ log x/∂a
    within 1e-6 relative, u within 1e-6 of P(a, x) (M and f are float32 sums)."""
    gen = torch.Generator().manual_seed(3)
    a = low + (high - low) * torch.rand(100_000, generator=gen)
    log_x = torch.log(torch._standard_gamma(a, generator=gen).double())
    keep = fast_domain(log_x, a)
    assert keep.double().mean().item() > 0.99
    a, log_x = a[keep], log_x[keep]
    u, dlogx = gamma_cdf_and_dlogx32(log_x, a)
    p_ref, d_ref = standard_gamma_cdf_and_dlogx_da(log_x.double(), a.double())
    assert ((dlogx.double() / d_ref - 1).abs().max().item()) < F32_RTOL
    assert ((u.double() - p_ref).abs().max().item()) < 1e-6  # float32 M, f: ~5e-7


def test_float32_pass_at_its_edges():
    """Region edge x = a + 1 (both sides), x at the floor of the pass, deep upper tails,
    and the ends of its concentration range."""
    a = torch.tensor([0.05, 0.05, 0.5, 1.0, 5.0, 20.0, 20.0, 3.0, 0.05, 20.0])
    x = torch.tensor([1.05, 1.0500001, 1.5, 2.0, 6.0, 21.0, 45.0, 1e-30, 20.0, 3.0])
    x[1] = torch.nextafter(torch.tensor(1.05), torch.tensor(2.0))
    log_x = torch.log(x.double())
    assert bool(fast_domain(log_x, a).all())
    u, dlogx = gamma_cdf_and_dlogx32(log_x, a)
    p_ref, d_ref = standard_gamma_cdf_and_dlogx_da(log_x.double(), a.double())
    assert ((dlogx.double() / d_ref - 1).abs().max().item()) < F32_RTOL
    assert ((u.double() - p_ref).abs().max().item()) < 1e-6  # float32 M, f: ~5e-7


def test_float32_rsample_gradient_is_the_exact_derivative_at_its_sample():
    """What a float32 user gets: rsample + backward (mixed batch: native, below the
    float32 pass's range and the inverse for a < 0.05), gradient = z ∂ log x/∂a at z."""
    a = torch.tensor([0.01, 0.3, 2.0, 15.0, 80.0], requires_grad=True)
    rate = torch.tensor(2.0)
    q = reparam.Gamma(a, rate)
    log_z = q._log_z(q.sample_noise((2000,)))
    (g,) = torch.autograd.grad(log_z.sum(), a, retain_graph=False)
    assert log_z.dtype == torch.float64  # the exact logs of the float32 draws
    # Σ over draws of ∂ log z/∂a, recomputed in float64 at the same log z.
    log_x64 = log_z.detach().double() + math.log(2.0)
    _, d_ref = standard_gamma_cdf_and_dlogx_da(log_x64, a.detach().double().expand(2000, 5))
    torch.testing.assert_close(g.double(), d_ref.sum(0), rtol=F32_RTOL, atol=0)


@pytest.mark.parametrize("a", [20.0, 30.0, 100.0, 1e3, 1e5])
def test_temme_expansion_matches_the_series_and_fraction(a):
    """Temme's expansion (the float32 paths' method from a = 20) against the float64
    series / continued fraction, over u from 1e-30 to 1 − 1e-7: ∂ log x/∂a within 1e-8
    relative (measured 1.5e-9 at a = 20, falling to 1e-14), log F within 2e-8."""
    from reparam.distributions._gamma_math import _accurate

    u = torch.cat(
        [
            torch.logspace(-30, -1, 300, dtype=torch.float64),
            torch.linspace(0.1, 0.9, 300, dtype=torch.float64),
            1 - torch.logspace(-7, -1, 300, dtype=torch.float64),
        ]
    )
    conc = torch.full_like(u, a)
    log_x = standard_gamma_log_quantile(u, conc)
    log_f, upper, dlogx = temme_log_cdf_and_dlogx(log_x, conc)
    assert bool((upper.bool() == (torch.exp(log_x) > conc)).all())
    log_f_ref, d_ref = _accurate(log_x, conc, upper.bool(), True)
    assert ((dlogx / d_ref - 1).abs().max().item()) < 1e-8
    assert ((log_f - log_f_ref).abs().max().item()) < 2e-8


def test_a_draw_without_gradient_gives_the_same_noise_and_sample():
    """Sampling without a gradient skips the derivative's recurrences: same seed, same
    u and the same z as the draw that computes the derivative."""
    conc = torch.tensor([0.3, 2.0, 7.0, 60.0], requires_grad=True)
    q = reparam.Gamma(conc, torch.tensor(1.5))
    torch.manual_seed(5)
    u_grad = q.sample_noise((500,))
    z_grad = q.from_noise(u_grad).detach()
    torch.manual_seed(5)
    with torch.no_grad():
        u_plain = q.sample_noise((500,))
        z_plain = q.from_noise(u_plain)
    assert torch.equal(u_grad, u_plain)
    assert torch.equal(z_grad, z_plain)


def test_float32_pass_is_elementwise_whatever_the_batch_order():
    """The pass sorts by depth (any order within a level): each element's (log F, upper,
    ∂ log x/∂a) is bit for bit the one it gets alone, and a permuted batch gives the
    permuted results."""
    gen = torch.Generator().manual_seed(7)
    a = torch.cat([torch.full((200,), 1.0), 0.05 + 25 * torch.rand(300, generator=gen)])
    log_x = torch.log(torch._standard_gamma(a, generator=gen).double())
    keep = fast_domain(log_x, a)
    a, log_x = a[keep], log_x[keep]
    batch = log_cdf_and_dlogx(log_x, a)
    perm = torch.randperm(a.numel(), generator=gen)
    permuted = log_cdf_and_dlogx(log_x[perm], a[perm])
    for whole, shuffled in zip(batch, permuted, strict=True):
        assert whole is not None
        assert shuffled is not None
        assert torch.equal(whole[perm], shuffled)
    for i in range(0, a.numel(), 37):
        alone = log_cdf_and_dlogx(log_x[i : i + 1], a[i : i + 1])
        for whole, one in zip(batch, alone, strict=True):
            assert whole is not None
            assert one is not None
            assert torch.equal(whole[i : i + 1], one)
