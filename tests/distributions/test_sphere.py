"""The distributions on the sphere: VonMisesFisher, PowerSpherical, SphericalUniform.

- log C_d(κ) and A_d(κ) against scipy.special.ive (mpmath where ive under/overflows)
  on κ ∈ {1e-3, 0.1, 1, 10, 100, 1e4} × d ∈ {2, 3, 5, 10, 100, 1000}, rtol 1e-10;
  their attached derivatives against central differences;
- samples: KS of w = μᵀz against its exact CDF (scipy quadrature) for vMF, of t against
  the Beta for PowerSpherical; mean of z within 5 SE;
- gradients (per-sample pathwise estimates, 5 SE): ∂E[μᵀz]/∂κ = A_d′(κ) (closed form by
  the Bessel recurrence) and = ∂/∂κ (α−β)/(α+β); ∂E[aᵀz]/∂v = A_d ∂(aᵀv/|v|)/∂v with
  loc = v/|v|;
- the same grid: no NaN/inf in samples, log_prob and gradients, float32 and float64;
- KL to the uniform against Monte Carlo (5 SE) and 0 at κ = 0; bad input.
"""

import math

import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sp
import scipy.stats as st
import torch
from torch.distributions import kl_divergence

import reparam
from reparam.distributions._sphere_math import householder, log_sphere_area, vmf_stats

F64 = torch.float64
KAPPAS = [1e-3, 0.1, 1.0, 10.0, 100.0, 1e4]
DIMS = [2, 3, 5, 10, 100, 1000]


def _loc(d, dtype=F64, batch=()):
    v = torch.randn(*batch, d, dtype=F64)
    return (v / v.norm(dim=-1, keepdim=True)).to(dtype)


def _within_se(samples, want, name=""):
    n = samples.shape[0]
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(n)
    err = (mean - want).abs()
    assert bool((err <= 5 * se + 1e-12 * (1 + want.abs())).all()), (name, mean, want, se)


# ----------------------------------------------------------------------------- Bessel
def _reference(kappa, d):
    """(log C_d(κ), A_d(κ)) from scipy's ive (mpmath where ive is not representable)."""
    nu = d / 2 - 1
    i0, i1 = sp.ive(nu, kappa), sp.ive(nu + 1, kappa)
    if 1e-290 < i1 and np.isfinite(i0):
        log_i = math.log(i0) + kappa
        a = i1 / i0
    else:
        import mpmath

        mpmath.mp.dps = 40
        b0, b1 = mpmath.besseli(nu, kappa), mpmath.besseli(nu + 1, kappa)
        log_i, a = float(mpmath.log(b0)), float(b1 / b0)
    log_c = nu * math.log(kappa) - d / 2 * math.log(2 * math.pi) - log_i
    return log_c, a


@pytest.mark.parametrize("d", DIMS)
def test_log_normalizer_and_mean_resultant_match_scipy(d):
    kappa = torch.tensor(KAPPAS, dtype=F64)
    log_c_plus_k, a, one_minus, _ = vmf_stats(kappa, d)
    for j, k in enumerate(KAPPAS):
        log_c, a_ref = _reference(k, d)
        np.testing.assert_allclose(float(log_c_plus_k[j]) - k, log_c, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(float(a[j]), a_ref, rtol=1e-10)
        np.testing.assert_allclose(float(one_minus[j]), 1 - a_ref, rtol=1e-9)
    # κ = 0: log C is minus the log area, A = 0
    log_c0, a0, _, aok0 = vmf_stats(torch.zeros(1, dtype=F64), d)
    assert float(log_c0) == pytest.approx(-log_sphere_area(d), rel=1e-13)
    assert float(a0) == 0.0
    assert float(aok0) == pytest.approx(1 / d, rel=1e-13)


@pytest.mark.parametrize("d", [2, 3, 10, 1000])
def test_attached_derivatives_match_central_differences(d):
    """d log C/dκ = −A and A′ = 1 − A² − (d−1)A/κ against differences of the values."""
    kappa = torch.tensor([0.05, 0.7, 3.0, 40.0, 2e3], dtype=F64, requires_grad=True)
    q = reparam.VonMisesFisher(_loc(d, batch=(5,)), kappa)
    log_c = q.log_prob(q.loc)  # log C_d(κ) + κ at z = μ
    a = (q.mean * q.loc).sum(-1)
    (g_log_c,) = torch.autograd.grad(log_c.sum(), kappa)
    (g_a,) = torch.autograd.grad(a.sum(), kappa)
    k = kappa.detach()
    h = 1e-5 * k
    lp, ap, _, _ = vmf_stats(k + h, d)
    lm, am, _, _ = vmf_stats(k - h, d)
    torch.testing.assert_close(g_log_c, (lp - lm) / (2 * h), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(g_a, (ap - am) / (2 * h), rtol=1e-5, atol=1e-10)


# ----------------------------------------------------------------------------- samples
def _w_cdf(d, kappa):
    """The exact CDF of w = μᵀz = cos θ by scipy quadrature over the angle θ, whose
    density is ∝ e^{κ(cos θ − 1)} sin^{d−2} θ (smooth on [0, π])."""
    # the mode solves κ sin²θ = (d − 2) cos θ
    c = (-(d - 2) + math.sqrt((d - 2) ** 2 + 4 * kappa**2)) / (2 * kappa) if kappa else 0.0
    peak = math.acos(min(1.0, c))

    def density(t):
        return math.exp(kappa * (math.cos(t) - 1) + (d - 2) * math.log(max(math.sin(t), 1e-300)))

    def mass(lo, hi):
        points = [peak] if lo < peak < hi else None
        return si.quad(density, lo, hi, points=points, limit=200, epsabs=0, epsrel=1e-12)[0]

    def cdf(w):
        theta = np.arccos(np.clip(np.atleast_1d(w), -1, 1))
        above = np.array([mass(0.0, t) for t in theta])  # θ below: w above
        below = np.array([mass(t, math.pi) for t in theta])
        return below / (below + above)

    return cdf


@pytest.mark.parametrize(
    ("d", "kappa"), [(2, 0.5), (3, 5.0), (5, 20.0), (10, 1.0), (100, 300.0), (1000, 50.0)]
)
def test_vmf_angle_matches_exact_cdf_ks(d, kappa):
    loc = _loc(d)
    q = reparam.VonMisesFisher(loc, torch.tensor(kappa, dtype=F64))
    z = q.sample((1500,))
    w = (z @ loc).numpy()
    p = st.kstest(w, _w_cdf(d, kappa)).pvalue
    assert p > 1e-4, p
    # noise from elsewhere (here plain normals) goes through the numerical inverse
    eps = torch.randn(300, d, dtype=F64)
    w2 = (q.from_noise(eps) @ loc).numpy()
    assert st.kstest(w2, _w_cdf(d, kappa)).pvalue > 1e-4


def test_vmf_inverse_reproduces_the_wood_draw():
    """from_noise of a copy of the noise (inverted) equals that of the noise (the draw)."""
    q = reparam.VonMisesFisher(_loc(5, batch=(3,)), torch.tensor([0.3, 8.0, 900.0], dtype=F64))
    eps = q.sample_noise((50,))
    torch.testing.assert_close(q.from_noise(eps.clone()), q.from_noise(eps), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("d", "kappa"), [(3, 2.0), (10, 30.0), (100, 1e3)])
def test_mean_of_samples(d, kappa):
    for cls in (reparam.VonMisesFisher, reparam.PowerSpherical):
        q = cls(_loc(d), torch.tensor(kappa, dtype=F64))
        _within_se(q.sample((4000,)), q.mean, cls.__name__)


@pytest.mark.parametrize(("d", "kappa"), [(2, 1.0), (3, 0.2), (7, 10.0), (100, 500.0)])
def test_power_spherical_t_is_beta_ks(d, kappa):
    loc = _loc(d)
    q = reparam.PowerSpherical(loc, torch.tensor(kappa, dtype=F64))
    t = (q.sample((2000,)) @ loc).numpy()
    beta = st.beta((d - 1) / 2 + kappa, (d - 1) / 2)
    assert st.kstest((t + 1) / 2, beta.cdf).pvalue > 1e-4


# ----------------------------------------------------------------------------- gradients
def _per_sample(cls, d, kappa, n, loc=None):
    """n samples, each with its own κ leaf (so its gradient is one estimate)."""
    k = torch.full((n,), kappa, dtype=F64, requires_grad=True)
    loc = _loc(d) if loc is None else loc
    q = cls(loc.expand(n, d), k)
    return q, k, q.rsample()


@pytest.mark.parametrize(("d", "kappa"), [(2, 0.5), (3, 5.0), (10, 1e-3), (10, 20.0), (100, 1e3)])
def test_vmf_kappa_gradient_of_mean_resultant(d, kappa):
    q, k, z = _per_sample(reparam.VonMisesFisher, d, kappa, 3000)
    (z @ q.loc[0]).sum().backward()
    _, a, _, aok = vmf_stats(torch.tensor(kappa, dtype=F64), d)
    exact = 1 - a**2 - (d - 1) * aok * (1 if kappa > 0 else 0)
    _within_se(k.grad, exact, f"vMF d={d} κ={kappa}")


@pytest.mark.parametrize(("d", "kappa"), [(2, 3.0), (4, 0.3), (20, 50.0)])
def test_vmf_loc_gradient(d, kappa):
    """∂E[aᵀz]/∂v = A_d(κ) ∂(aᵀ v/|v|)/∂v, loc = v/|v| from an unconstrained v."""
    n = 3000
    v0 = torch.randn(d, dtype=F64)
    v0[0] = -abs(v0[0]) if d % 2 else abs(v0[0])  # both Householder branches over the d's
    a_vec = torch.randn(d, dtype=F64)
    v = v0.expand(n, d).clone().requires_grad_(True)
    q = reparam.VonMisesFisher(v / v.norm(dim=-1, keepdim=True), torch.tensor(kappa, dtype=F64))
    (q.rsample() @ a_vec).sum().backward()
    u = v0.clone().requires_grad_(True)
    (exact,) = torch.autograd.grad(a_vec @ (u / u.norm()), u)
    a = vmf_stats(torch.tensor(kappa, dtype=F64), d)[1]
    _within_se(v.grad, a * exact, "vMF loc")


@pytest.mark.parametrize(("d", "kappa"), [(2, 0.5), (3, 5.0), (50, 1e-3), (100, 1e3)])
def test_power_spherical_kappa_gradient(d, kappa):
    q, k, z = _per_sample(reparam.PowerSpherical, d, kappa, 3000)
    (z @ q.loc[0]).sum().backward()
    exact = torch.tensor((d - 1) / (kappa + d - 1) ** 2, dtype=F64)  # d/dκ κ/(κ + d − 1)
    _within_se(k.grad, exact, f"PS d={d} κ={kappa}")


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
@pytest.mark.parametrize("d", DIMS)
def test_grid_is_finite(d, dtype):
    for cls in (reparam.VonMisesFisher, reparam.PowerSpherical):
        v = torch.randn(len(KAPPAS), d, dtype=dtype, requires_grad=True)
        kappa = torch.tensor(KAPPAS, dtype=dtype, requires_grad=True)
        q = cls(v / v.norm(dim=-1, keepdim=True), kappa)
        z, log_q = q.rsample_and_log_prob((8,))
        assert z.dtype == log_q.dtype == dtype
        assert torch.isfinite(z).all(), cls.__name__
        assert torch.isfinite(log_q).all(), cls.__name__
        torch.testing.assert_close(z.norm(dim=-1), torch.ones(8, len(KAPPAS), dtype=dtype))
        (z.sum() + log_q.sum() + q.entropy().sum()).backward()
        assert torch.isfinite(v.grad).all(), cls.__name__
        assert torch.isfinite(kappa.grad).all(), cls.__name__
        assert torch.isfinite(q.mean).all()
        assert torch.isfinite(q.variance).all()


# ----------------------------------------------------------------------------- KL
@pytest.mark.parametrize(("d", "kappa"), [(2, 0.7), (3, 10.0), (50, 200.0)])
def test_kl_to_uniform_matches_monte_carlo(d, kappa):
    u = reparam.SphericalUniform(d, dtype=F64)
    for cls in (reparam.VonMisesFisher, reparam.PowerSpherical):
        p = cls(_loc(d), torch.tensor(kappa, dtype=F64))
        mc = p.log_prob(p.sample((4000,))) + log_sphere_area(d)
        _within_se(mc, kl_divergence(p, u), cls.__name__)
        zero = kl_divergence(cls(_loc(d), torch.tensor(0.0, dtype=F64)), u)
        assert abs(float(zero)) < 1e-12


def test_kl_has_gradients_and_checks_dimensions():
    kappa = torch.tensor([1.0, 30.0], dtype=F64, requires_grad=True)
    p = reparam.VonMisesFisher(_loc(3, batch=(2,)), kappa)
    kl_divergence(p, reparam.SphericalUniform(3, dtype=F64)).sum().backward()
    # dKL/dκ = κ A′(κ)
    _, a, _, aok = vmf_stats(kappa.detach(), 3)
    torch.testing.assert_close(kappa.grad, kappa.detach() * (1 - a**2 - 2 * aok))
    with pytest.raises(ValueError, match="dimensions differ"):
        kl_divergence(p, reparam.SphericalUniform(4, dtype=F64))


# ----------------------------------------------------------------------------- misc
def test_spherical_uniform():
    for d in (1, 2, 5):
        q = reparam.SphericalUniform(d, batch_shape=(3,), dtype=F64)
        z = q.sample((2000,))
        torch.testing.assert_close(z.norm(dim=-1), torch.ones(2000, 3, dtype=F64))
        _within_se(z, q.mean, "uniform mean")
        assert float(q.log_prob(z)[0, 0]) == pytest.approx(-log_sphere_area(d))
    assert log_sphere_area(3) == pytest.approx(math.log(4 * math.pi))
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="dimension"):
            reparam.SphericalUniform(bad)


def test_householder_maps_e1_to_loc_stably():
    for loc in ([1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1e-12, 0.0]):
        mu = torch.tensor(loc, dtype=F64)
        mu = mu / mu.norm()
        e = torch.eye(3, dtype=F64)
        h = householder(mu, e)  # rows: images of e1, e2, e3
        torch.testing.assert_close(h[0], mu)
        torch.testing.assert_close(h @ h.T, e)


def test_vmf_at_zero_concentration_is_uniform():
    loc = _loc(4)
    q = reparam.VonMisesFisher(loc, torch.tensor(0.0, dtype=F64))
    z = q.sample((2000,))
    torch.testing.assert_close(q.log_prob(z), torch.full((2000,), -log_sphere_area(4), dtype=F64))
    assert st.kstest((z @ loc).numpy(), _w_cdf(4, 0.0)).pvalue > 1e-4


def test_noise_strategies_give_valid_samples():
    for cls in (reparam.VonMisesFisher, reparam.PowerSpherical):
        q = cls(_loc(6, batch=(2,)), torch.tensor([0.5, 40.0], dtype=F64))
        for strategy in ("antithetic", "qmc"):
            z = q.rsample((16,), noise=strategy)
            torch.testing.assert_close(z.norm(dim=-1), torch.ones(16, 2, dtype=F64))


def test_bad_input():
    loc = torch.tensor([[1.0, 0.0, 0.0]], dtype=F64)
    for cls in (reparam.VonMisesFisher, reparam.PowerSpherical):
        with pytest.raises(ValueError, match=r"'loc'.*unit vector"):
            cls(2 * loc, 1.0, validate_args=True)
        with pytest.raises(ValueError, match=r"'concentration'.*>= 0"):
            cls(loc, -0.5, validate_args=True)
        with pytest.raises(ValueError, match="d >= 2"):
            cls(torch.tensor([[1.0]]), 1.0)
        with pytest.raises(ValueError, match="scalar"):
            cls(torch.tensor(1.0), 1.0)
        with pytest.raises(ValueError, match="cannot be broadcast"):
            cls(loc.expand(2, 3), torch.ones(3))
        cls(loc, 0.0, validate_args=True)  # κ = 0 is allowed (as TFP)
        with pytest.raises(ValueError, match="support"):
            cls(loc, 1.0, validate_args=True).log_prob(torch.tensor([2.0, 0.0, 0.0]))
