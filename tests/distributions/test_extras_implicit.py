"""Family-specific tests of Chi, GeneralizedNormal, PERT, Horseshoe and Stable: laws
against scipy (KS, closed forms), pathwise gradients of two expectations against closed
forms or quadrature within 5 standard errors, no NaN/inf on extreme parameter grids in
float32 and float64, and the peers' edge values (undefined moments)."""

import math

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st
import torch

import reparam

from .examples_extras_implicit import log_scaled_exp1_reference

F64 = torch.float64
DTYPES = [torch.float32, torch.float64]


def _t(values, dtype=F64):
    return torch.tensor(values, dtype=dtype)


def _grad_within_5se(make, params, stats, n=4000, seed=0):
    """Pathwise gradients of E[f(z)] within 5 standard errors of the exact ones.

    ``params``: name → float (every sample gets its own leaf copy, shape (n,)).
    ``stats``: list of (f, {name: exact ∂E[f]/∂name}).
    """
    for k, (f, want) in enumerate(stats):
        torch.manual_seed(seed + k)
        leaves = {p: torch.full((n,), v, dtype=F64, requires_grad=True) for p, v in params.items()}
        z = make(**leaves).rsample()
        grads = torch.autograd.grad(f(z).sum(), [leaves[p] for p in want])
        for (name, expected), g in zip(want.items(), grads, strict=True):
            se = g.std().item() / math.sqrt(n)
            err = abs(g.mean().item() - expected)
            assert err <= 5 * se + 1e-10 * (1 + abs(expected)), (name, g.mean(), expected, se)


def _assert_finite_grads(q, leaves, n=2000, f=torch.sin):
    has_log_prob = not isinstance(q, reparam.Stable)
    z, log_q = q.rsample_and_log_prob((n,)) if has_log_prob else (q.rsample((n,)), None)
    assert torch.isfinite(z).all(), z[~torch.isfinite(z)]
    if log_q is not None:
        assert torch.isfinite(log_q).all()
    grads = torch.autograd.grad(f(z).sum(), leaves)
    for g in grads:
        assert torch.isfinite(g).all(), g


# ---------------------------------------------------------------------------------- Chi
CHI_DF = [1e-3, 0.05, 0.7, 1.0, 3.0, 30.0, 1e3, 1e5]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_chi_finite_on_extreme_df(dtype):
    torch.manual_seed(0)
    df = _t(CHI_DF, dtype).requires_grad_()
    q = reparam.Chi(df)
    _assert_finite_grads(q, [df], f=lambda z: z.log())
    assert torch.isfinite(q.mean).all()
    assert torch.isfinite(q.variance).all()


def test_chi_is_the_root_of_chi2_of_the_same_noise():
    df = _t([0.3, 2.0, 7.0])
    q = reparam.Chi(df)
    for noise in ("mc", "antithetic", "qmc"):
        u = q.sample_noise((64,), noise=noise)
        x = reparam.Chi2(df).from_noise(u.clone())
        torch.testing.assert_close(q.from_noise(u) ** 2, x)


@pytest.mark.parametrize("df", [0.01, 0.05, 0.5, 200.0])
def test_chi_samples_match_scipy_at_extremes(df):
    torch.manual_seed(1)
    z = reparam.Chi(_t(df)).sample((4000,)).numpy()
    assert st.kstest(z, st.chi(df).cdf).pvalue > 1e-4


def test_chi_closed_forms_match_scipy_at_extremes():
    df = np.array([1e-3, 0.05, 0.5, 200.0, 1e4])
    q = reparam.Chi(_t(df))
    np.testing.assert_allclose(q.mean.numpy(), st.chi(df).mean(), rtol=1e-10)
    np.testing.assert_allclose(q.variance.numpy(), st.chi(df).var(), rtol=1e-7)
    np.testing.assert_allclose(q.entropy().numpy(), st.chi(df).entropy(), rtol=1e-8)
    u = _t([[1e-6], [0.3], [0.999]])
    want = st.chi(df).ppf(u.numpy())
    np.testing.assert_allclose(q.icdf(u).numpy(), want, rtol=1e-8, atol=1e-300)


@pytest.mark.parametrize("df", [0.02, 0.8, 5.0, 300.0])
def test_chi_pathwise_gradients(df):
    """E[log z] = ½(log 2 + ψ(ν/2)) and E[z] = √2 Γ((ν+1)/2)/Γ(ν/2): ∂/∂ν in closed form."""
    d_log = 0.25 * sp.polygamma(1, df / 2)
    mean = reparam.Chi(_t(df)).mean.item()
    d_mean = mean * 0.5 * (sp.digamma((df + 1) / 2) - sp.digamma(df / 2))
    _grad_within_5se(
        reparam.Chi, {"df": df}, [(torch.log, {"df": d_log}), (lambda z: z, {"df": d_mean})]
    )


# ---------------------------------------------------------------------- GeneralizedNormal
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_generalized_normal_finite_on_extreme_grid(dtype):
    """power ∈ {0.1 … 1e3} × scale ∈ {1e-20 … 1e20} (float64 also power 0.02)."""
    torch.manual_seed(0)
    powers = [0.1, 0.5, 1.0, 2.0, 10.0, 1e3] + ([0.02] if dtype == F64 else [])
    p, s = torch.meshgrid(
        _t(powers, dtype), _t([1e-20, 1e-3, 1.0, 1e3, 1e20], dtype), indexing="ij"
    )
    power, scale = p.clone().requires_grad_(), s.clone().requires_grad_()
    loc = torch.zeros_like(scale).requires_grad_()
    q = reparam.GeneralizedNormal(loc, scale, power)
    _assert_finite_grads(q, [loc, scale, power], f=lambda z: torch.sin(z / scale.detach()))
    assert not torch.isnan(q.variance).any()  # float32 overflows where scale²·Γ(3/p)/Γ(1/p) does
    assert torch.isfinite(q.entropy()).all()


def _gennorm_cdf(z, power, loc, scale):
    """scipy's gennorm cdf with P(1/p, y) = y^{1/p}/Γ(1 + 1/p) where y = |x|^p underflows
    (scipy's own returns 0 there, e.g. |x| = 0.1 at p = 500)."""
    x = (z - loc) / scale
    log_y = power * np.log(np.maximum(np.abs(x), 1e-300))
    a = 1 / power
    tiny = log_y < -600
    p_small = np.exp(a * log_y - sp.gammaln(1 + a))
    p = np.where(tiny, p_small, sp.gammainc(a, np.exp(np.maximum(log_y, -600))))
    return np.where(x < 0, 0.5 - 0.5 * p, 0.5 + 0.5 * p)


@pytest.mark.parametrize("power", [0.2, 1.0, 20.0, 500.0])
@pytest.mark.parametrize("noise", ["mc", "qmc"])
def test_generalized_normal_samples_match_scipy_at_extremes(power, noise):
    torch.manual_seed(2)
    q = reparam.GeneralizedNormal(_t(0.5), _t(2.0), _t(power))
    z = q.sample((4000,)) if noise == "mc" else q.rsample((4096,), noise="qmc").detach()
    p = st.kstest(z.numpy(), lambda x: _gennorm_cdf(x, power, 0.5, 2.0)).pvalue
    assert p > 1e-4
    if power < 100:  # scipy's cdf is right where |x|^p does not underflow
        assert st.kstest(z.numpy(), st.gennorm(power, 0.5, 2.0).cdf).pvalue > 1e-4
    value = _t(np.linspace(-1.6, 2.6, 23))
    want = _gennorm_cdf(value.numpy(), power, 0.5, 2.0)
    np.testing.assert_allclose(q.cdf(value).numpy(), want, rtol=1e-9, atol=1e-12)


def test_generalized_normal_special_cases():
    """p = 2: Normal(loc, scale/√2); p = 1: Laplace(loc, scale)."""
    z = torch.linspace(-4, 4, 17, dtype=F64)
    loc, scale = _t(0.3), _t(1.7)
    normal = torch.distributions.Normal(loc, scale / math.sqrt(2))
    laplace = torch.distributions.Laplace(loc, scale)
    torch.testing.assert_close(
        reparam.GeneralizedNormal(loc, scale, 2.0).log_prob(z), normal.log_prob(z)
    )
    torch.testing.assert_close(
        reparam.GeneralizedNormal(loc, scale, 1.0).log_prob(z), laplace.log_prob(z)
    )
    torch.testing.assert_close(
        reparam.GeneralizedNormal(loc, scale, 2.0).variance, normal.variance
    )
    torch.testing.assert_close(
        reparam.GeneralizedNormal(loc, scale, 1.0).entropy(), laplace.entropy()
    )


@pytest.mark.parametrize("power", [0.3, 1.0, 2.0, 50.0])
def test_generalized_normal_pathwise_gradients(power):
    """E[z²] = loc² + scale² Γ(3/p)/Γ(1/p) and E[log|z − loc|] = log scale + ψ(1/p)/p."""
    loc, scale = 0.4, 1.3
    leaves = {
        k: _t(v).requires_grad_() for k, v in {"loc": loc, "scale": scale, "power": power}.items()
    }
    q = reparam.GeneralizedNormal(**leaves)
    exact = torch.autograd.grad(q.mean**2 + q.variance, list(leaves.values()))
    d_sq = {k: g.item() for k, g in zip(leaves, exact, strict=True)}
    d_log = {
        "scale": 1 / scale,
        "power": -sp.digamma(1 / power) / power**2 - sp.polygamma(1, 1 / power) / power**3,
    }
    _grad_within_5se(
        reparam.GeneralizedNormal,
        {"loc": loc, "scale": scale, "power": power},
        [(lambda z: z * z, d_sq), (lambda z: (z - loc).abs().log(), d_log)],
    )


# ---------------------------------------------------------------------------------- PERT
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_pert_finite_on_extreme_grid(dtype):
    """temperature ∈ {1e-3 … 1e6} × width ∈ {1e-20, 1, 1e20}, peak at 1e-6, ½, 1 − 1e-6 of
    the width."""
    torch.manual_seed(0)
    t, w, f = torch.meshgrid(
        _t([1e-3, 0.1, 4.0, 100.0, 1e6], dtype),
        _t([1e-20, 1.0, 1e20], dtype),
        _t([1e-6, 0.5, 1 - 1e-6], dtype),
        indexing="ij",
    )
    low = torch.full_like(w, -1.0) * w
    temperature, low = t.clone().requires_grad_(), low.clone().requires_grad_()
    peak, high = (low + w * f).detach().requires_grad_(), (low + w).detach().requires_grad_()
    q = reparam.PERT(low, peak, high, temperature)
    _assert_finite_grads(q, [low, peak, high, temperature], n=200, f=lambda z: z / w)
    assert torch.isfinite(q.mean).all()
    # the variance is finite wherever its float64 value fits the dtype
    wide = reparam.PERT(*(v.detach().double() for v in (low, peak, high, temperature)))
    fits = wide.variance < torch.finfo(dtype).max / 2
    assert torch.isfinite(q.variance[fits]).all()
    assert not torch.isnan(q.variance).any()


def test_pert_is_the_affine_beta_of_the_same_noise():
    low, peak, high, t = _t([1.0, -3.0]), _t([7.0, -2.5]), _t([11.0, 0.0]), _t([4.0, 0.5])
    q = reparam.PERT(low, peak, high, t)
    a, b = 1 + t * (peak - low) / (high - low), 1 + t * (high - peak) / (high - low)
    for noise in ("mc", "antithetic", "qmc"):
        u = q.sample_noise((64,), noise=noise)
        x = reparam.Beta(a, b).from_noise(u.clone())
        torch.testing.assert_close(q.from_noise(u), low + (high - low) * x)
    assert torch.equal(reparam.PERT(1.0, 7.0, 11.0).temperature, _t(4.0).float())
    torch.testing.assert_close(q.mode, peak)
    torch.testing.assert_close(q.mean, (low + t * peak + high) / (t + 2))


@pytest.mark.parametrize(("peak", "t"), [(1e-4, 4.0), (0.5, 1e-3), (0.9, 300.0)])
def test_pert_samples_and_gradients_at_extremes(peak, t):
    """KS against scipy's scaled Beta; ∂E[z] and ∂E[z²] (closed forms) in all four
    parameters within 5 standard errors."""
    torch.manual_seed(3)
    low, high = -1.0, 2.0
    a = 1 + t * (peak - low) / (high - low)
    b = 1 + t * (high - peak) / (high - low)
    z = reparam.PERT(_t(low), _t(peak), _t(high), _t(t)).sample((4000,)).numpy()
    assert st.kstest(z, st.beta(a, b, loc=low, scale=high - low).cdf).pvalue > 1e-4
    values = {"low": low, "peak": peak, "high": high, "temperature": t}
    leaves = {k: _t(v).requires_grad_() for k, v in values.items()}
    q = reparam.PERT(**leaves)
    stats = []
    for f, moment in ((lambda z: z, q.mean), (lambda z: z * z, q.variance + q.mean**2)):
        grads = torch.autograd.grad(moment, list(leaves.values()))
        stats.append((f, {k: g.item() for k, g in zip(leaves, grads, strict=True)}))
    _grad_within_5se(reparam.PERT, values, stats)


# ----------------------------------------------------------------------------- Horseshoe
def test_log_scaled_exp1_matches_scipy_over_the_float64_range():
    from reparam.distributions._exp_integral import log_scaled_exp1

    x = np.concatenate([np.logspace(-300, 300, 1201), np.linspace(0.01, 12, 600), [2.0, 1.7e308]])
    x = np.append(x, np.nextafter(2.0, 3.0))
    xt = torch.from_numpy(x).requires_grad_()
    value = log_scaled_exp1(xt)
    (deriv,) = torch.autograd.grad(value.sum(), xt)
    want = log_scaled_exp1_reference(x)  # scipy's exp1 below 700, asymptotic series above
    below = x < 700
    np.testing.assert_allclose(  # scipy's expi agrees: E₁(x) = −Ei(−x)
        np.log(-sp.expi(-x[below])) + x[below], want[below], rtol=1e-13, atol=1e-13
    )
    np.testing.assert_allclose(value.detach().numpy(), want, rtol=1e-14, atol=1e-14)
    # d/dx log(eˣE₁) = 1 − 1/(x eˣE₁(x)); its closed form loses digits for large x, where
    # the asymptotic one, −1/x + 1/x² − 3/x³ + …, is exact
    moderate = x < 1e3
    r = 1 / np.where(moderate, 1e3, x)
    d_want = np.where(moderate, 1 - np.exp(-want) / x, -r + r**2 - 3 * r**3)
    np.testing.assert_allclose(deriv.numpy()[moderate], d_want[moderate], rtol=1e-11)
    np.testing.assert_allclose(deriv.numpy()[x > 1e6], d_want[x > 1e6], rtol=1e-12)
    assert torch.isposinf(log_scaled_exp1(torch.zeros(1, dtype=F64))).all()
    xg = torch.tensor([1e-2, 0.3, 1.9, 2.1, 40.0], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(log_scaled_exp1, (xg,))
    x32 = torch.tensor([1e-40, 1.0, 3e38])
    torch.testing.assert_close(log_scaled_exp1(x32), log_scaled_exp1(x32.double()).float())


def test_horseshoe_density_is_the_scale_mixture():
    """q(z) = ∫ N(z; 0, (scale·λ)²) 2/(π(1 + λ²)) dλ at a few z (scipy quad), and ∫ q = 1."""
    from scipy.integrate import quad

    scale = 1.7
    q = reparam.Horseshoe(_t(scale))
    for z in (1e-6, 0.05, 1.0, 30.0, 1e4):

        def mix(lam, z=z):
            return st.norm.pdf(z, scale=scale * lam) * 2 / (np.pi * (1 + lam * lam))

        edge = 10 * z / scale
        want = quad(mix, 0, edge, points=[z / scale], limit=400, epsabs=0, epsrel=1e-12)[0]
        want += quad(mix, edge, np.inf, limit=400, epsabs=0, epsrel=1e-12)[0]
        np.testing.assert_allclose(q.log_prob(_t(z)).exp().item(), want, rtol=1e-9)
    total = 2 * quad(lambda z: q.log_prob(_t(z)).exp().item(), 0, np.inf, limit=400)[0]
    assert abs(total - 1) < 1e-7


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_horseshoe_finite_on_extreme_scales(dtype):
    torch.manual_seed(0)
    scale = _t([1e-30, 1e-8, 1.0, 1e8, 1e30], dtype).requires_grad_()
    q = reparam.Horseshoe(scale)
    _assert_finite_grads(q, [scale], f=lambda z: torch.exp(-((z / scale.detach()) ** 2)))
    assert torch.equal(q.mean, torch.zeros_like(scale))
    assert torch.isnan(q.variance).all()
    assert torch.isnan(q.stddev).all()


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_horseshoe_samples_match_a_numpy_scale_mixture(scale):
    """Two-sample KS against z = scale·|c|·n drawn by numpy (c standard Cauchy)."""
    torch.manual_seed(4)
    rng = np.random.default_rng(4)
    ref = scale * np.abs(rng.standard_cauchy(8000)) * rng.standard_normal(8000)
    for noise in ("mc", "antithetic"):
        z = reparam.Horseshoe(_t(scale)).rsample((8000,), noise=noise).detach().numpy()
        assert st.ks_2samp(z, ref).pvalue > 1e-4, noise


@pytest.mark.parametrize("scale", [0.05, 0.8, 6.0])
def test_horseshoe_pathwise_gradients(scale):
    """E[exp(−b z²)] = E_λ[(1 + c²λ²)^{-1/2}] = (2/π) arccos(c)/√(1 − c²) (c < 1) or
    (2/π) arccosh(c)/√(c² − 1) (c > 1), c = scale·√(2b); ∂/∂scale by autograd."""
    stats = []
    for b in (0.5, 2.0):
        s = _t(scale).requires_grad_()
        c = s * math.sqrt(2 * b)
        if c.item() < 1:
            value = torch.arccos(c) / torch.sqrt(1 - c * c)
        else:
            value = torch.arccosh(c) / torch.sqrt(c * c - 1)
        (d,) = torch.autograd.grad(value * (2 / math.pi), s)
        stats.append((lambda z, b=b: torch.exp(-b * z * z), {"scale": d.item()}))
    _grad_within_5se(reparam.Horseshoe, {"scale": scale}, stats)


# -------------------------------------------------------------------------------- Stable
def _stable_char_fn(t, alpha, beta, scale, loc):
    """(Re, Im) of E[e^{itZ}] in S⁰ for t > 0 (Nolan 1997), differentiable in the
    parameters: exp(−x^α(1 + iβΨ) + i loc t), x = scale·t, Ψ = tan(πα/2)(x^{1−α} − 1)
    = (2/π) k(δ) log x · (e^{δ log x} − 1)/(δ log x) (→ (2/π) log x at α = 1)."""
    from reparam.distributions.stable import _expm1_over, _x_over_tan

    delta = 1 - alpha
    log_x = torch.log(scale * t)
    psi = (2 / math.pi) * _x_over_tan(0.5 * math.pi * delta) * log_x * _expm1_over(delta * log_x)
    x_alpha = torch.exp(alpha * log_x)
    phase = loc * t - x_alpha * beta * psi
    modulus = torch.exp(-x_alpha)
    return modulus * torch.cos(phase), modulus * torch.sin(phase)


def _gauss_legendre(edges, n=48):
    nodes, weights = np.polynomial.legendre.leggauss(n)
    lo, hi = np.array(edges[:-1])[:, None], np.array(edges[1:])[:, None]
    t = (0.5 * (hi - lo) * (nodes + 1) + lo).reshape(-1)
    w = (0.5 * (hi - lo) * weights).reshape(-1)
    return _t(t), _t(w)


_T_NODES, _T_WEIGHTS = _gauss_legendre([0.0, 1e-8, 1e-6, 1e-4, 1e-2, 0.1, 0.5, 1, 2, 4, 7, 10, 14])


def _stable_smooth_expectations(alpha, beta, scale, loc):
    """(E[e^{−Z²/2}], E[Z e^{−Z²/2}]) by Parseval: (2/√2π)∫₀^∞ e^{−t²/2} Re φ(t) dt and
    (2/√2π)∫₀^∞ t e^{−t²/2} Im φ(t) dt, by Gauss–Legendre (differentiable)."""
    re, im = _stable_char_fn(_T_NODES, alpha, beta, scale, loc)
    g = _T_WEIGHTS * torch.exp(-0.5 * _T_NODES**2) * (2 / math.sqrt(2 * math.pi))
    return (g * re).sum(), (g * _T_NODES * im).sum()


STABLE_ALPHAS = [0.1, 0.3, 0.5, 0.9, 0.999, 1.0, 1.001, 1.5, 1.9, 2.0]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_stable_finite_on_extreme_grid(dtype):
    """α ∈ {0.1 … 2} (1 and 2 exactly) × β ∈ {−1, 0, 0.5, 1} × scale ∈ {1e-10, 1, 1e10};
    samples saturate at the dtype's range, gradients of E[atan z] are finite."""
    torch.manual_seed(0)
    a, b, s = torch.meshgrid(
        _t(STABLE_ALPHAS, dtype),
        _t([-1.0, 0.0, 0.5, 1.0], dtype),
        _t([1e-10, 1.0, 1e10], dtype),
        indexing="ij",
    )
    leaves = [v.clone().requires_grad_() for v in (a, b, s, torch.zeros_like(s))]
    q = reparam.Stable(*leaves)
    _assert_finite_grads(q, leaves, n=200, f=lambda z: torch.atan(z / s))
    for noise in ("antithetic", "qmc"):
        assert torch.isfinite(q.rsample((64,), noise=noise)).all()


def test_stable_closed_form_special_cases():
    """α = 2: Normal(loc, √2 scale) for any β; (1, 0): Cauchy(loc, scale); (½, 1): Lévy at
    loc − scale (S⁰ → S¹ shift β·scale·tan(πα/2)) with scale c = scale."""
    torch.manual_seed(5)
    loc, scale = 0.7, 1.6
    cases = [
        ((2.0, 0.8), st.norm(loc, math.sqrt(2) * scale)),
        ((1.0, 0.0), st.cauchy(loc, scale)),
        ((0.5, 1.0), st.levy(loc - scale, scale)),
        ((0.5, -1.0), st.levy_l(loc + scale, scale)),
    ]
    for (alpha, beta), ref in cases:
        q = reparam.Stable(_t(alpha), _t(beta), _t(scale), _t(loc))
        for noise in ("mc", "qmc"):
            z = q.sample((4000,)) if noise == "mc" else q.rsample((4096,), noise="qmc").detach()
            assert st.kstest(z.numpy(), ref.cdf).pvalue > 1e-4, (alpha, beta, noise)


@pytest.mark.parametrize(
    ("alpha", "beta"),
    [(0.1, -1.0), (0.5, 0.3), (0.999, 0.9), (1.0, 0.7), (1.001, -0.6), (1.5, 1.0), (1.9, -0.4)],
)
def test_stable_matches_scipy_levy_stable_s0(alpha, beta, monkeypatch):
    """Two-sample KS against scipy's own S⁰ sampler (its cdf is too slow for 4000 points)."""
    monkeypatch.setattr(st.levy_stable, "parameterization", "S0")
    torch.manual_seed(6)
    z = reparam.Stable(_t(alpha), _t(beta), _t(1.3), _t(-0.4)).sample((4000,)).numpy()
    ref = st.levy_stable.rvs(alpha, beta, loc=-0.4, scale=1.3, size=20000, random_state=6)
    assert st.ks_2samp(z, ref).pvalue > 1e-4


@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 1.0), (1.0, -0.7), (1.5, 0.5), (1.9, -1.0)])
def test_stable_characteristic_function(alpha, beta):
    """Mean of cos(tz), sin(tz) within 5 SE of Re, Im φ(t) (the S⁰ closed form) at t = ½, 2;
    and the pathwise gradient of E[cos tz] in loc (finite variance: |t sin tz| ≤ t)."""
    torch.manual_seed(7)
    n = 20000
    scale, loc = 0.8, 0.3
    for t in (0.5, 2.0):
        loc_leaf = torch.full((n,), loc, dtype=F64, requires_grad=True)
        z = reparam.Stable(_t(alpha), _t(beta), _t(scale), loc_leaf).rsample()
        re, im = _stable_char_fn(_t(t), _t(alpha), _t(beta), _t(scale), _t(loc))
        for est, want in ((torch.cos(t * z), re), (torch.sin(t * z), im)):
            se = est.std().item() / math.sqrt(n)
            assert abs(est.mean().item() - want.item()) <= 5 * se, (t, est.mean(), want, se)
        (g,) = torch.autograd.grad(torch.cos(t * z).sum(), loc_leaf)
        se = g.std().item() / math.sqrt(n)
        assert abs(g.mean().item() + t * im.item()) <= 5 * se  # ∂ Re φ/∂loc = −t Im φ


@pytest.mark.parametrize(
    ("alpha", "beta"),
    [(0.5, 0.6), (0.8, -0.95), (0.8, -1.0), (1.0, 0.5), (1.0, 0.0), (1.0, 1.0), (1.5, -0.7)]
    + [(1.9, 0.9), (1.9, 1.0), (1.99, 0.3), (2.0, 0.3)],
)
def test_stable_pathwise_gradients(alpha, beta):
    """∂E[e^{−z²/2}] and ∂E[z e^{−z²/2}] (by Parseval from the characteristic function,
    differentiated by autograd) in all four parameters within 5 SE; at |β| = 1 not in β,
    at α = 2 not in α: at those ends of the parameter space the pathwise derivative is
    biased (documented in Stable: the derivative of the map concentrates at an end of V
    as |β| → 1 or α → 2)."""
    values = {"stability": alpha, "skew": beta, "scale": 0.9, "loc": 0.4}
    leaves = {k: _t(v).requires_grad_() for k, v in values.items()}
    stats = []
    for f, exact in zip(
        (lambda z: torch.exp(-0.5 * z * z), lambda z: z * torch.exp(-0.5 * z * z)),
        _stable_smooth_expectations(*leaves.values()),
        strict=True,
    ):
        grads = torch.autograd.grad(exact, list(leaves.values()), retain_graph=True)
        want = {k: g.item() for k, g in zip(leaves, grads, strict=True)}
        if abs(beta) == 1:
            del want["skew"]
        if alpha == 2:
            del want["stability"]
        stats.append((f, want))
    _grad_within_5se(reparam.Stable, values, stats, n=6000)


def test_stable_skew_gradient_is_biased_at_the_ends():
    """The documented limitation: at β = −1 (α = 0.8) the per-sample ∂z/∂β are bounded
    and their mean misses ∂E[e^{−z²/2}]/∂β (the limit from β > −1) by ~10×."""
    n = 20000
    torch.manual_seed(9)
    skew = torch.full((n,), -1.0, dtype=F64, requires_grad=True)
    z = reparam.Stable(_t(0.8), skew, _t(0.9), _t(0.4)).rsample()
    (g,) = torch.autograd.grad(torch.exp(-0.5 * z * z).sum(), skew)
    b = _t(-1.0).requires_grad_()
    (exact,) = torch.autograd.grad(_stable_smooth_expectations(_t(0.8), b, _t(0.9), _t(0.4))[0], b)
    assert abs(g.mean().item() - exact.item()) > 0.1


def test_stable_parseval_quadrature_is_converged():
    """The Gauss–Legendre rule above against scipy quad of the same integrands."""
    from scipy.integrate import quad

    for alpha, beta in ((0.5, 0.6), (1.0, 0.5), (1.9, 1.0)):
        got = _stable_smooth_expectations(_t(alpha), _t(beta), _t(0.9), _t(0.4))

        def part(t, k, alpha=alpha, beta=beta):
            re, im = _stable_char_fn(_t(t), _t(alpha), _t(beta), _t(0.9), _t(0.4))
            g = math.exp(-0.5 * t * t) * 2 / math.sqrt(2 * math.pi)
            return g * (re.item() if k == 0 else t * im.item())

        for k in (0, 1):
            want = quad(part, 0, np.inf, args=(k,), limit=400, epsabs=1e-13, epsrel=1e-12)[0]
            assert abs(got[k].item() - want) < 1e-10


def test_stable_mean_variance_and_errors():
    alpha = _t([0.5, 1.0, 1.5, 2.0])
    q = reparam.Stable(alpha, _t(0.5), _t(2.0), _t(1.0))
    assert torch.isnan(q.mean[:2]).all()
    torch.testing.assert_close(q.mean[2:], 1.0 - 2.0 * 0.5 * torch.tan(math.pi / 2 * alpha[2:]))
    assert torch.isposinf(q.variance[:3]).all()
    torch.testing.assert_close(q.variance[3], _t(8.0))
    with pytest.raises(NotImplementedError, match="no closed-form density"):
        q.log_prob(_t(0.0))
    with pytest.raises(NotImplementedError):
        q.rsample_and_log_prob((2,))
    with pytest.raises(ValueError, match="coords"):
        reparam.Stable(1.5, 0.0, coords="S")


def test_stable_matches_pyro():
    """Pyro's Stable (S⁰): the same samples from the same noise away from α = 1 (Pyro
    interpolates within 0.01 of it), and the same mean and variance."""
    pyro_stable = pytest.importorskip("pyro.distributions.stable")
    torch.manual_seed(8)
    alpha = _t([0.3, 0.7, 1.3, 1.8, 2.0])
    beta = _t([0.5, -1.0, 1.0, -0.2, 0.9])
    q = reparam.Stable(alpha, beta, _t(1.5), _t(-0.5))
    eps = q.sample_noise((200,)).clamp(1e-6, 1 - 1e-6)  # inside Pyro's clamp of V
    v, w = math.pi * (eps[..., 0] - 0.5), -torch.log(eps[..., 1])
    theirs = -0.5 + 1.5 * pyro_stable._standard_stable(alpha, beta, v, w, "S0")
    torch.testing.assert_close(q.from_noise(eps), theirs, rtol=1e-8, atol=1e-8)
    ref = pyro_stable.Stable(alpha, beta, _t(1.5), _t(-0.5))
    torch.testing.assert_close(q.mean, ref.mean, equal_nan=True)
    torch.testing.assert_close(q.variance, ref.variance)


def test_stable_is_smooth_through_alpha_one():
    """No 0/0 at α = 1: the same noise at α = 1 ± h moves z by O(h) (h down to 1e-12), and
    ∂z/∂α at α = 1 matches the central difference of z."""
    torch.manual_seed(10)
    beta = _t([-1.0, -0.3, 0.0, 0.8, 1.0])
    eps = reparam.Stable(_t(1.0), beta).sample_noise((500,))

    def z_at(alpha):
        return reparam.Stable(alpha, beta, _t(1.3), _t(0.2)).from_noise(eps)

    alpha = torch.ones_like(beta).requires_grad_()
    z1 = z_at(alpha)
    (dz,) = torch.autograd.grad(z1.sum(), alpha)  # per β column: Σ over samples
    for h in (1e-4, 1e-8, 1e-12):
        up, down = z_at(torch.ones_like(beta) + h), z_at(torch.ones_like(beta) - h)
        slope = ((up - down) / (2 * h)).sum(0)
        tol = 1e-5 if h == 1e-4 else (1e-3 if h == 1e-8 else 1e1)
        torch.testing.assert_close(slope, dz, rtol=tol, atol=tol * 10)
        assert ((up - z1).abs() <= 1e3 * h * (1 + z1.abs()) + 1e-12).all()
