"""VonMises and TruncatedNormal on grids that reach the extremes.

Per-sample gradients against float64 central differences of the quantile at fixed u
(Richardson-extrapolated for von Mises), gradients of E[f(z)] against finite differences
of scipy quadrature (5 SE, grouped estimates), finiteness in float32 and float64, KS
tests against scipy.stats, closed forms against quadrature, and bad input.

Stated accuracies (asserted below; the numerics themselves are exact to ~1e-12 against
mpmath, see the module docstrings):
- VonMises ∂z/∂κ: relative error ≤ 1e-6 against Richardson-extrapolated differences,
  above their rounding floor 16ε·π/h (measured median 1e-11 … 6e-9).
- TruncatedNormal ∂z/∂θ: relative error ≤ 1e-6 against central differences, above their
  rounding floor 64ε·(|z| + |θ|)/h (far in a tail ∂z/∂μ is O(1/α²) and the floor,
  not the formula, limits the comparison).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import torch
from scipy import integrate, special

import reparam

from .examples_circular_truncated import vonmises_circle

F64 = torch.float64
EPS = torch.finfo(F64).eps
KAPPAS = [1e-2, 0.1, 1.0, 10.0, 100.0, 1e3]
LARGE_KAPPAS = [1e4, 1e6]  # the κ-independent bulk quadrature beyond κ = 10³
INF = math.inf

# (loc, scale, low, high): standard, one-sided far upper tails, narrow, mirrored tails.
TRUNCATIONS = {
    "standard": (0.3, 1.5, -1.0, 2.0),
    "alpha10": (0.0, 1.0, 10.0, INF),
    "alpha30": (1.0, 2.0, 61.0, INF),
    "alpha50": (0.0, 1.0, 50.0, INF),
    "lower30": (0.0, 1.0, -INF, -30.0),
    "lower50_two_sided": (2.0, 0.5, -30.0, -23.0),
    "narrow": (0.2, 1.0, 0.5, 0.51),
    "narrow_tail": (0.0, 1.0, 10.0, 10.05),
    "narrow_around_0": (0.0, 1.0, -1e-3, 1e-3),
    "untruncated": (0.5, 2.0, -INF, INF),
}
NAMES = ("loc", "scale", "low", "high")


def u_grid(n: int = 101) -> torch.Tensor:
    """u from 1e-6 to 1 − 1e-6, denser towards both ends (logit-spaced)."""
    return torch.sigmoid(torch.linspace(-13.8, 13.8, n, dtype=F64))


def extreme_u(dtype: torch.dtype) -> torch.Tensor:
    """Noise at and near both clamp edges of StandardUniform, plus the middle."""
    tiny, eps = torch.finfo(dtype).tiny, torch.finfo(dtype).eps
    return torch.tensor(
        [tiny, 1e-30, 1e-12, eps, 1e-4, 0.5, 1 - 1e-4, 1 - eps, 1 - eps / 2], dtype=dtype
    ).clamp(min=tiny, max=1 - eps / 2)


# ================================================================== VonMises
def von_mises_quantile(kappa: float, u: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return reparam.VonMises(0.0, torch.tensor(kappa, dtype=F64)).from_noise(u)


@pytest.mark.parametrize("kappa", KAPPAS + LARGE_KAPPAS)
def test_von_mises_dz_dkappa_matches_finite_differences(kappa):
    u = u_grid()
    loc = torch.tensor(0.0, dtype=F64, requires_grad=True)
    conc = torch.full_like(u, kappa).requires_grad_()
    z = reparam.VonMises(loc, conc).from_noise(u)
    dz_dkappa, dz_dloc = torch.autograd.grad(z.sum(), (conc, loc))
    assert dz_dloc.item() == u.numel()  # ∂z/∂μ = 1 for every sample

    def central(h):
        return (von_mises_quantile(kappa + h, u) - von_mises_quantile(kappa - h, u)) / (2 * h)

    h = 1e-3 * kappa
    fd = (4 * central(h / 2) - central(h)) / 3  # Richardson: O(h⁴)
    # The differences' noise floor: z is rounded to ~ε·π (which matters near ±π, where
    # the quantile moves little with κ).
    floor = 16 * EPS * math.pi / h
    err = (dz_dkappa - fd).abs()
    assert bool((err <= 1e-6 * fd.abs() + floor).all()), (
        f"κ={kappa}: worst {((err - floor) / fd.abs()).max():.2e}"
    )


def _von_mises_lower_cdf(y: float, kappa: float) -> float:
    """F(y) for y ≤ 0 at μ = 0 by scipy quadrature on 64 panels below y (relative)."""
    log_norm = math.log(2 * math.pi * special.i0e(kappa))

    def density(t):
        return math.exp(-2 * kappa * math.sin(0.5 * t) ** 2 - log_norm)

    # The mass sits within a few 1/(κ sin|y|) (the tail) or 1/√κ (the bulk) of y.
    width = min(y + math.pi, 40 / max(kappa * math.sin(-y), math.sqrt(kappa), 1e-300))
    edges = np.linspace(y - width, y, 65)
    return sum(
        integrate.quad(density, a, b, epsabs=0, epsrel=1e-13)[0]
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    )


@pytest.mark.parametrize("kappa", KAPPAS + LARGE_KAPPAS)
def test_von_mises_cdf_matches_quadrature_and_inverts(kappa):
    """F by scipy quadrature of the density (relative, also in the tails), cdf(icdf(u)) = u."""
    q = reparam.VonMises(torch.tensor(0.0, dtype=F64), torch.tensor(kappa, dtype=F64))
    u = torch.tensor([1e-9, 1e-4, 0.02, 0.3, 0.5, 0.8, 0.999], dtype=F64)
    x = q.icdf(u)
    log_q = q.log_prob(x)
    for xi, ui, lq in zip(x.tolist(), u.tolist(), log_q.tolist(), strict=True):
        y = -abs(xi)  # the lower half, where F is small: relative accuracy
        ref = _von_mises_lower_cdf(y, kappa)
        got = q.cdf(torch.tensor(y, dtype=F64)).item()
        assert abs(got / ref - 1) < 1e-9, (kappa, y, got, ref)
        # The quantile solved F(x) = u up to the rounding of x (~ε|x| in x).
        v = min(ui, 1 - ui)
        assert abs(v - ref) <= 1e-9 * v + 4 * EPS * abs(xi) * math.exp(lq), (kappa, y, v, ref)


@pytest.mark.parametrize("loc", [0.0, 2.5, -3.0])
def test_von_mises_cdf_icdf_with_location_and_their_gradients(loc):
    kappa = 3.0
    u = torch.linspace(0.01, 0.99, 25, dtype=F64)
    ps = [torch.tensor(v, dtype=F64, requires_grad=True) for v in (loc, kappa)]
    q = reparam.VonMises(*ps)
    z = q.icdf(u)
    assert bool((z[1:] > z[:-1]).all())  # monotone on [−π, π)
    torch.testing.assert_close(q.cdf(z), u, rtol=1e-11, atol=1e-13)
    ref = vonmises_circle(loc, kappa)
    np.testing.assert_allclose(q.cdf(z).detach().numpy(), ref.cdf(z.detach().numpy()), rtol=1e-9)
    # Gradients of icdf and cdf in (μ, κ) against central differences.
    grads = torch.autograd.grad(z.sum(), ps)
    pts = torch.tensor([-2.9, -1.0, 0.4, 2.0], dtype=F64)
    cdf_grads = torch.autograd.grad(q.cdf(pts).sum(), ps)
    for i, h in enumerate((1e-6, 1e-6)):
        plus = [loc, kappa]
        minus = [loc, kappa]
        plus[i] += h
        minus[i] -= h
        with torch.no_grad():
            qp = reparam.VonMises(*torch.tensor(plus, dtype=F64))
            qm = reparam.VonMises(*torch.tensor(minus, dtype=F64))
            fd = ((qp.icdf(u) - qm.icdf(u)).sum() / (2 * h)).item()
            fd_cdf = ((qp.cdf(pts) - qm.cdf(pts)).sum() / (2 * h)).item()
        assert grads[i].item() == pytest.approx(fd, rel=1e-6, abs=1e-8)
        assert cdf_grads[i].item() == pytest.approx(fd_cdf, rel=1e-6, abs=1e-8)


def _von_mises_expectation(f, loc: float, kappa: float) -> float:
    """∫ f(z) q(z) dz over [−π, π] by scipy quadrature."""
    log_norm = math.log(2 * math.pi * special.i0e(kappa))

    def integrand(t):
        return f(t) * math.exp(-2 * kappa * math.sin(0.5 * (t - loc)) ** 2 - log_norm)

    width = min(1.0, 1 / math.sqrt(kappa))
    pts = sorted({min(max(loc + j * width, -math.pi), math.pi) for j in range(-8, 9)})
    return integrate.quad(
        integrand, -math.pi, math.pi, points=pts, epsabs=1e-14, epsrel=1e-12, limit=200
    )[0]


def _assert_within_5se(name, estimates, exact, reference_error=0.0):
    """Mean of grouped estimates within 5 standard errors (+ the reference's own error)."""
    mean = estimates.mean(0)
    se = estimates.std(0) / math.sqrt(estimates.shape[0])
    err = (mean - exact).abs()
    assert bool((err <= 5 * se + reference_error + 1e-10 * (1 + exact.abs())).all()), (
        f"{name}: mean {mean.tolist()} exact {exact.tolist()} se {se.tolist()}"
    )


@pytest.mark.parametrize("kappa", KAPPAS)
def test_von_mises_expectation_gradients_match_quadrature(kappa):
    """∇(μ, κ) E[cos z] and E[sin z]: pathwise means vs differences of quadrature, 5 SE."""
    loc0 = 0.7
    groups, per_group = 100, 100
    loc = torch.full((groups,), loc0, dtype=F64, requires_grad=True)
    conc = torch.full((groups,), kappa, dtype=F64, requires_grad=True)
    z = reparam.VonMises(loc, conc).rsample((per_group,))
    for name, f_torch, f_np in (("cos", torch.cos, math.cos), ("sin", torch.sin, math.sin)):
        est = torch.autograd.grad(f_torch(z).mean(0).sum(), (loc, conc), retain_graph=True)
        h_loc, h_kappa = 1e-4, 1e-3 * kappa
        exact = [
            (
                _von_mises_expectation(f_np, loc0 + h_loc, kappa)
                - _von_mises_expectation(f_np, loc0 - h_loc, kappa)
            )
            / (2 * h_loc),
            (
                _von_mises_expectation(f_np, loc0, kappa + h_kappa)
                - _von_mises_expectation(f_np, loc0, kappa - h_kappa)
            )
            / (2 * h_kappa),
        ]
        for param, g, e in zip(("loc", "concentration"), est, exact, strict=True):
            _assert_within_5se(
                f"κ={kappa} E[{name} z] d/d{param}", g[:, None], torch.tensor([e], dtype=F64)
            )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_von_mises_finite_everywhere_on_the_grid(dtype):
    kappas = torch.tensor(KAPPAS + LARGE_KAPPAS, dtype=dtype)
    u = torch.cat([extreme_u(dtype), torch.rand(2000, dtype=dtype)])[:, None]
    loc = torch.full_like(kappas, 3.0).requires_grad_()
    conc = kappas.clone().requires_grad_()
    q = reparam.VonMises(loc, conc)
    z, log_q = q.from_noise_and_log_prob(u.expand(-1, kappas.numel()))
    assert z.dtype == log_q.dtype == dtype
    assert bool(torch.isfinite(z).all())
    assert bool(torch.isfinite(log_q).all())
    assert bool(((z >= -math.pi) & (z <= math.pi)).all())
    grads = torch.autograd.grad(z.sum() + log_q.sum(), (loc, conc))
    for g in grads:
        assert bool(torch.isfinite(g).all())
    # Per sample as well (a sum could hide opposite infinities).
    conc_each = kappas.expand(u.shape[0], -1).clone().requires_grad_()
    z_each = reparam.VonMises(torch.zeros_like(conc_each), conc_each).from_noise(
        u.expand(-1, kappas.numel())
    )
    (g_each,) = torch.autograd.grad(z_each.sum(), conc_each)
    assert bool(torch.isfinite(g_each).all())


@pytest.mark.parametrize("kappa", [0.05, 1.0, 8.0, 100.0, 1e3])
def test_von_mises_samples_pass_ks_against_scipy(kappa):
    """scipy's von Mises law (wrapped into [−π, π), see examples_circular_truncated.py)."""
    loc = 2.0
    q = reparam.VonMises(torch.tensor(loc, dtype=F64), torch.tensor(kappa, dtype=F64))
    z = q.sample((4000,)).numpy()
    assert st.kstest(z, vonmises_circle(loc, kappa).cdf).pvalue > 1e-4


@pytest.mark.parametrize("kappa", [100.0, 1e3, 1e5])
def test_von_mises_circular_moments_and_entropy_match_quadrature(kappa):
    q = reparam.VonMises(torch.tensor(0.0, dtype=F64), torch.tensor(kappa, dtype=F64))
    e_cos = _von_mises_expectation(math.cos, 0.0, kappa)
    log_norm = math.log(2 * math.pi * special.i0e(kappa))
    entropy = -_von_mises_expectation(
        lambda t: -2 * kappa * math.sin(0.5 * t) ** 2 - log_norm, 0.0, kappa
    )
    assert q.variance.item() == pytest.approx(1 - e_cos, rel=1e-9)
    assert q.entropy().item() == pytest.approx(entropy, rel=1e-10, abs=1e-12)


def test_von_mises_variance_and_entropy_gradients():
    conc = torch.tensor([0.01, 1.0, 50.0, 500.0, 5e4], dtype=F64, requires_grad=True)
    q = reparam.VonMises(torch.zeros(5, dtype=F64), conc)
    g_var, g_ent = (torch.autograd.grad(v.sum(), conc)[0] for v in (q.variance, q.entropy()))
    h = 1e-6 * conc.detach()
    for fn, g in (
        (lambda k: reparam.VonMises(0.0, k).variance, g_var),
        (lambda k: reparam.VonMises(0.0, k).entropy(), g_ent),
    ):
        with torch.no_grad():
            fd = (fn(conc.detach() + h) - fn(conc.detach() - h)) / (2 * h)
        torch.testing.assert_close(g, fd, rtol=1e-5, atol=0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_von_mises_rejects_bad_concentration(bad):
    with pytest.raises(ValueError, match=r"'concentration'"):
        reparam.VonMises(torch.zeros(2), torch.tensor([1.0, bad]))


# ================================================================== TruncatedNormal
def truncated_normal(params, dtype=F64, requires_grad=False, **kw):
    ps = {
        n: torch.tensor(v, dtype=dtype).requires_grad_(requires_grad and math.isfinite(v))
        for n, v in zip(NAMES, params, strict=True)
    }
    return reparam.TruncatedNormal(**ps, **kw), ps


@pytest.mark.parametrize("case", list(TRUNCATIONS))
def test_truncated_normal_dz_dtheta_matches_finite_differences(case):
    params = TRUNCATIONS[case]
    u = u_grid()
    leaves = {
        n: torch.full_like(u, v).requires_grad_(math.isfinite(v))
        for n, v in zip(NAMES, params, strict=True)
    }
    z = reparam.TruncatedNormal(**leaves).from_noise(u)
    lo, hi = params[2], params[3]
    assert bool(((z >= lo) & (z <= hi)).all())
    wanted = [n for n in NAMES if leaves[n].requires_grad]
    grads = dict(
        zip(wanted, torch.autograd.grad(z.sum(), [leaves[n] for n in wanted]), strict=True)
    )
    for i, name in enumerate(NAMES):
        if name not in grads:
            continue
        theta = params[i]
        h = 1e-5 * max(1.0, abs(theta))
        with torch.no_grad():
            plus, minus = list(params), list(params)
            plus[i] += h
            minus[i] -= h
            fd = (
                truncated_normal(plus)[0].from_noise(u) - truncated_normal(minus)[0].from_noise(u)
            ) / (2 * h)
        # The differences' noise: z and θ rounded (to ε|z|, ε|θ|).
        floor = 64 * EPS * (z.detach().abs() + abs(theta)) / h
        err = (grads[name] - fd).abs()
        ok = err <= 1e-6 * fd.abs() + floor
        assert bool(ok.all()), f"{case}.{name}: worst {((err - floor) / fd.abs()).max():.2e}"


def _truncated_density(loc, scale, low, high):
    """q(z) = φ(ζ)/(σ Z) with log Z from scipy's log_ndtr on the side of the tail."""
    a, b = (low - loc) / scale, (high - loc) / scale
    if a >= 0:
        la, lb = special.log_ndtr(-a), special.log_ndtr(-b)
    else:
        la, lb = special.log_ndtr(b), special.log_ndtr(a)
    log_z = (
        la + np.log(-np.expm1(lb - la))
        if (a >= 0 or b <= 0)
        else np.log(special.ndtr(b) - special.ndtr(a))
    )

    def density(z):
        zeta = (z - loc) / scale
        return math.exp(-0.5 * zeta * zeta - 0.5 * math.log(2 * math.pi) - math.log(scale) - log_z)

    return density


def _truncated_expectation(f, loc, scale, low, high, *, with_error=False):
    """∫ f q over the effective support (e^{−45} of the peak is left out), by quad
    (and quad's error estimate if asked)."""
    a, b = (low - loc) / scale, (high - loc) / scale
    lo_z = max(a, -12.0) if b > 0 else b - 90 / max(-b, 2.0)
    hi_z = min(b, 12.0) if a < 0 else a + 90 / max(a, 2.0)
    lo_z, hi_z = max(lo_z, a), min(hi_z, b)
    lo, hi = loc + scale * lo_z, loc + scale * hi_z
    density = _truncated_density(loc, scale, low, high)
    pts = list(np.linspace(lo, hi, 9)[1:-1])
    value, error = integrate.quad(
        lambda z: f(z) * density(z), lo, hi, points=pts, epsabs=1e-15, epsrel=1e-13, limit=200
    )
    return (value, error) if with_error else value


@pytest.mark.parametrize("case", list(TRUNCATIONS))
def test_truncated_normal_expectation_gradients_match_quadrature(case):
    """∇θ E[z − c] and E[(z − c)²] (c a point of the interval): pathwise means vs
    differences of scipy quadrature, within 5 SE."""
    params = TRUNCATIONS[case]
    loc0, scale0, low0, high0 = params
    c = low0 if math.isfinite(low0) else (high0 if math.isfinite(high0) else loc0 + scale0)
    groups, per_group = 100, 100
    leaves = {
        n: torch.full((groups,), v, dtype=F64).requires_grad_(math.isfinite(v))
        for n, v in zip(NAMES, params, strict=True)
    }
    z = reparam.TruncatedNormal(**leaves).rsample((per_group,))
    wanted = [n for n in NAMES if leaves[n].requires_grad]
    for fname, f in (("z - c", lambda x: x - c), ("(z - c)^2", lambda x: (x - c) ** 2)):
        est = torch.autograd.grad(
            f(z).mean(0).sum(), [leaves[n] for n in wanted], retain_graph=True
        )
        for name, g in zip(wanted, est, strict=True):
            i = NAMES.index(name)
            h = 1e-4 * max(1.0, abs(params[i]))
            plus, minus = list(params), list(params)
            plus[i] += h
            minus[i] -= h
            up, up_err = _truncated_expectation(f, *plus, with_error=True)
            down, down_err = _truncated_expectation(f, *minus, with_error=True)
            exact = torch.tensor([(up - down) / (2 * h)], dtype=F64)
            # + the quadratures' own error through the difference (it matters only
            # where the derivative is ~0, e.g. in σ for a window symmetric about μ).
            _assert_within_5se(
                f"{case} E[{fname}] d/d{name}", g[:, None], exact, (up_err + down_err) / (2 * h)
            )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("case", list(TRUNCATIONS))
def test_truncated_normal_finite_everywhere_on_the_grid(case, dtype):
    params = TRUNCATIONS[case]
    u = torch.cat([extreme_u(dtype), torch.rand(500, dtype=dtype)])
    leaves = {
        n: torch.full(u.shape, v, dtype=dtype).requires_grad_()
        for n, v in zip(NAMES, params, strict=True)
    }
    q = reparam.TruncatedNormal(**leaves)
    z, log_q = q.from_noise_and_log_prob(u)
    assert z.dtype == log_q.dtype == dtype
    assert bool(torch.isfinite(z).all())
    assert bool(torch.isfinite(log_q).all())
    low, high = leaves["low"].detach(), leaves["high"].detach()
    assert bool(((z >= low) & (z <= high)).all())
    grads = torch.autograd.grad(z.sum() + log_q.sum(), list(leaves.values()))
    for g in grads:
        assert bool(torch.isfinite(g).all())  # 0 for an infinite bound, never NaN
    for value in (q.mean, q.variance, q.entropy(), q.cdf(z.detach()), q.icdf(u)):
        assert bool(torch.isfinite(value).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("alpha", [1e3, 1e6])
def test_truncated_normal_finite_extremely_far_out(alpha, dtype):
    """Beyond the grid: samples on the support, finite gradients and moments."""
    u = torch.cat([extreme_u(dtype), torch.rand(100, dtype=dtype)])
    for lo, hi in ((alpha, INF), (-INF, -alpha), (alpha, alpha + 1.0)):
        leaves = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in (0.0, 1.0, lo, hi)]
        q = reparam.TruncatedNormal(*leaves)
        z = q.from_noise(u)
        assert bool(((z >= lo) & (z <= hi)).all())
        grads = torch.autograd.grad(z.sum(), leaves)
        assert all(bool(torch.isfinite(g).all()) for g in grads)
        m, v = q.mean.item(), q.variance.item()
        assert lo <= m <= hi
        assert 0 < v < 1 / alpha**2 * (1 + 1e-3)


@pytest.mark.parametrize("case", [c for c in TRUNCATIONS if c != "narrow_around_0"])
def test_truncated_normal_samples_pass_ks_against_scipy(case):
    loc, scale, low, high = TRUNCATIONS[case]
    q, _ = truncated_normal(TRUNCATIONS[case])
    ref = st.truncnorm((low - loc) / scale, (high - loc) / scale, loc=loc, scale=scale)
    z = q.sample((4000,)).numpy()
    assert st.kstest(z, ref.cdf).pvalue > 1e-4


@pytest.mark.parametrize("case", list(TRUNCATIONS))
def test_truncated_normal_closed_forms_match_quadrature(case):
    """mean, variance, entropy, cdf and log_prob in the tails, against scipy quadrature."""
    params = TRUNCATIONS[case]
    q, _ = truncated_normal(params)
    loc, scale, low, high = params
    c = low if math.isfinite(low) else (high if math.isfinite(high) else loc + scale)
    m1 = _truncated_expectation(lambda x: x - c, *params)
    var = _truncated_expectation(lambda x: (x - c - m1) ** 2, *params)
    density = _truncated_density(*params)
    ent = _truncated_expectation(lambda x: -math.log(density(x)), *params)
    assert q.mean.item() == pytest.approx(c + m1, rel=1e-12, abs=1e-12)
    assert q.variance.item() == pytest.approx(var, rel=1e-9)
    assert q.entropy().item() == pytest.approx(ent, rel=1e-9, abs=1e-10)
    z = q.icdf(torch.tensor([0.01, 0.3, 0.7, 0.99], dtype=F64))
    for zi in z.tolist():
        lp = q.log_prob(torch.tensor(zi, dtype=F64)).item()
        assert lp == pytest.approx(math.log(density(zi)), rel=1e-11, abs=1e-11)
    # The lower tail of the CDF, relatively (quadrature from the bound).
    for zi, ui in zip(z[:2].tolist(), (0.01, 0.3), strict=True):
        lo_z = low if math.isfinite(low) else zi - 40 * scale
        ref = integrate.quad(density, lo_z, zi, epsabs=0, epsrel=1e-12)[0]
        assert q.cdf(torch.tensor(zi, dtype=F64)).item() == pytest.approx(ref, rel=1e-8)
        assert ref == pytest.approx(ui, rel=1e-8)


def test_truncated_normal_cdf_and_icdf_gradients_match_differences():
    params = (0.3, 1.5, -1.0, 2.0)
    q, ps = truncated_normal(params, requires_grad=True)
    u = torch.tensor([0.05, 0.4, 0.9], dtype=F64, requires_grad=True)
    pts = torch.tensor([-0.5, 0.4, 1.7], dtype=F64, requires_grad=True)
    leaves = [ps[n] for n in NAMES]
    g_icdf = torch.autograd.grad(q.icdf(u).sum(), [*leaves, u])
    g_cdf = torch.autograd.grad(q.cdf(pts).sum(), [*leaves, pts])
    for i in range(4):
        h = 1e-6
        plus, minus = list(params), list(params)
        plus[i] += h
        minus[i] -= h
        with torch.no_grad():
            qp, qm = truncated_normal(plus)[0], truncated_normal(minus)[0]
            fd_icdf = ((qp.icdf(u) - qm.icdf(u)).sum() / (2 * h)).item()
            fd_cdf = ((qp.cdf(pts) - qm.cdf(pts)).sum() / (2 * h)).item()
        assert g_icdf[i].item() == pytest.approx(fd_icdf, rel=1e-6, abs=1e-9)
        assert g_cdf[i].item() == pytest.approx(fd_cdf, rel=1e-6, abs=1e-9)
    with torch.no_grad():
        density = q.log_prob(pts).exp()
        dz_du = 1 / q.log_prob(q.icdf(u)).exp()
    torch.testing.assert_close(g_cdf[4], density)
    torch.testing.assert_close(g_icdf[4], dz_du)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"scale": 0.0}, r"'scale'.*> 0"),
        ({"scale": -1.0}, r"'scale'.*> 0"),
        ({"low": 2.0, "high": 2.0}, r"'low' and 'high'.*low < high"),
        ({"low": 3.0, "high": 2.0}, r"'low' and 'high'"),
        ({"low": INF}, r"'low' and 'high'"),
        ({"high": -INF}, r"'low' and 'high'"),
        ({"low": math.nan}, r"'low'.*NaN"),
    ],
)
def test_truncated_normal_rejects_bad_parameters(overrides, pattern):
    values = {"loc": 0.0, "scale": 1.0, "low": -1.0, "high": 1.0, **overrides}
    with pytest.raises(ValueError, match=pattern):
        reparam.TruncatedNormal(
            **{k: torch.tensor([v, 0.5]) if k == "loc" else v for k, v in values.items()}
        )
