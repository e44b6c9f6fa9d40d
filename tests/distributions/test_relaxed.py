"""RelaxedBernoulli, RelaxedOneHotCategorical (Concrete / Gumbel-softmax) and the exact
Bernoulli / Categorical.

References are independent of the code under test: torch.distributions' densities, the
closed-form CDF of the binary Concrete, scipy quadrature in t = logit(z) (where t is
Logistic(ℓ/λ, 1/λ)), and for K = 3 a 2-D trapezoid rule over the Gumbel differences
d_k = g_k − g_3, whose density 2 e^{−d₁−d₂} / (1 + e^{−d₁} + e^{−d₂})³ is θ-free and analytic
(the trapezoid rule then converges exponentially; the grid is checked to integrate to 1).
Statistical checks use 5 standard errors from the same run (conftest seeds every test).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import torch
from scipy.integrate import quad
from scipy.special import expit, logit, softmax

import reparam
from reparam import Bernoulli, Categorical, RelaxedBernoulli, RelaxedOneHotCategorical
from reparam.distributions import StandardUniform

F64 = torch.float64


def _assert_within_se(name, estimates, exact, sigmas=5.0):
    """Mean of ``estimates`` (groups along dim 0) equals ``exact`` within ``sigmas`` SE."""
    g = estimates.shape[0]
    mean = estimates.mean(0)
    se = estimates.std(0) / math.sqrt(g)
    exact = torch.as_tensor(exact, dtype=mean.dtype)
    err = (mean - exact).abs()
    tol = sigmas * se + 1e-9 * (1 + exact.abs())
    assert (err <= tol).all(), (
        f"{name}: mean {mean.tolist()} exact {exact.tolist()} se {se.tolist()} "
        f"max |err|/se {(err / se).max().item():.2f}"
    )


def _grouped_gradients(make, params, f, groups=200, per_group=100):
    """``groups`` independent pathwise estimates of ∇ E[f(z)] (each a mean of ``per_group``)."""
    leaves = {k: v.expand(groups, *v.shape).clone().requires_grad_() for k, v in params.items()}
    z = make(**leaves).rsample((per_group,))
    grads = torch.autograd.grad(f(torch, z).mean(0).sum(), list(leaves.values()))
    return dict(zip(leaves, grads, strict=True))


# --------------------------------------------------------------------------- references
def _binary_concrete_expect(f, lam, ell):
    """E[f(z)] for the binary Concrete by quadrature in t = logit(z) ~ Logistic(ℓ/λ, 1/λ)."""

    def integrand(t):
        w = -abs(lam * t - ell)
        return f(expit(t)) * lam * math.exp(w) / (1 + math.exp(w)) ** 2

    mode = ell / lam
    opts = dict(epsabs=1e-13, epsrel=1e-13, limit=200)
    return quad(integrand, -np.inf, mode, **opts)[0] + quad(integrand, mode, np.inf, **opts)[0]


def _binary_concrete_cdf(s, lam, ell):
    return expit(lam * logit(s) - ell)


class _GumbelDifferences:
    """Trapezoid rule over (d₁, d₂) = (g₁ − g₃, g₂ − g₃) for K = 3 Gumbel-softmax.

    z = softmax(((ℓ₁ − ℓ₃ + d₁)/λ, (ℓ₂ − ℓ₃ + d₂)/λ, 0)) and d has the θ-free density
    p(d) = 2 e^{−d₁−d₂} / (1 + e^{−d₁} + e^{−d₂})³, so E[f(z)] = Σ f(z(d)) p(d) h².
    """

    def __init__(self, half_width=40.0, step=0.08):
        d = np.arange(-half_width, half_width + step / 2, step)
        self.d1, self.d2 = np.meshgrid(d, d, indexing="ij")
        log_p = (
            math.log(2.0)
            - self.d1
            - self.d2
            - 3 * np.logaddexp(np.logaddexp(0.0, -self.d1), -self.d2)
        )
        self.weight = np.exp(log_p) * step * step

    def z(self, lam, logits):
        y = np.stack(
            [
                (logits[0] - logits[2] + self.d1) / lam,
                (logits[1] - logits[2] + self.d2) / lam,
                np.zeros_like(self.d1),
            ]
        )
        return softmax(y, axis=0)

    def expect(self, f, lam, logits):
        return float((f(np, self.z(lam, logits)) * self.weight).sum())


def _fd(fun, x, h):
    return (fun(x + h) - fun(x - h)) / (2 * h)


# f(xp, z) with z's last axis the categories (torch) or first axis (numpy grid).
def _cat_linear(xp, z):
    z0, z1, z2 = (z.unbind(-1) if xp is torch else z)[:3]
    return 1.0 * z0 - 2.0 * z1 + 0.5 * z2


def _cat_nonlinear(xp, z):
    z0, z1, z2 = (z.unbind(-1) if xp is torch else z)[:3]
    return z0 * z1 + xp.sin(2.0 * z2)


# --------------------------------------------------------------------------- densities
def test_relaxed_bernoulli_log_prob_matches_torch():
    lam = torch.tensor([0.1, 0.7, 3.0], dtype=F64).repeat_interleave(3)
    ell = torch.tensor([-4.0, 0.5, 3.0], dtype=F64).repeat(3)
    q = RelaxedBernoulli(lam, logits=ell)
    ref = torch.distributions.RelaxedBernoulli(lam, logits=ell)
    grid = torch.linspace(1e-6, 1 - 1e-6, 101, dtype=F64).unsqueeze(-1).expand(101, 9)
    torch.testing.assert_close(q.log_prob(grid), ref.log_prob(grid), rtol=1e-10, atol=1e-10)
    z, log_q = q.rsample_and_log_prob((500,))
    # Compare where z keeps its digits: log q(z) has condition number ~1/(1 − z) in z, so
    # within 1e-6 of 0 or 1 the rounded z no longer determines log q to 1e-9.
    ok = (z > 1e-6) & (z < 1 - 1e-6)
    assert ok.float().mean() > 0.6
    torch.testing.assert_close(log_q[ok], ref.log_prob(z)[ok], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(q.log_prob(z)[ok], log_q[ok], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("lam", [0.2, 1.0, 3.0])
def test_relaxed_categorical_log_prob_matches_torch(lam):
    logits = torch.tensor([[0.5, -1.0, 1.2, 0.0], [2.0, 0.0, -3.0, 1.0]], dtype=F64)
    q = RelaxedOneHotCategorical(lam, logits=logits)
    ref = torch.distributions.RelaxedOneHotCategorical(torch.tensor(lam, dtype=F64), logits=logits)
    z, log_q = q.rsample_and_log_prob((300,))
    ok = (z > 1e-300).all(-1)
    assert ok.float().mean() > 0.9
    torch.testing.assert_close(log_q[ok], ref.log_prob(z)[ok], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(q.log_prob(z), ref.log_prob(z), rtol=1e-9, atol=1e-9)


def _ks_pvalue_rounded(z, lam, ell):
    """KS p-value of float64 samples against the binary Concrete, read as the distribution
    of the correctly rounded variable: each double is the atom of the reals that round to
    it (at λ = 0.05, ~14% of z rounds to exactly 1.0, which breaks the continuous KS).
    D = sup |ECDF − F_r| is attained at a distinct sample value v or just below it, where
    F_r(v) = F(midpoint(v, next double)) and F_r(v⁻) = F(midpoint(previous double, v)).
    The continuous-F p-value is conservative for a discontinuous F_r."""

    def cdf_mid(a, b):  # F at the midpoint of the doubles 0 < a < b, 1 − mid computed exactly
        half = (b - a) / 2
        log_mid = np.log(a) + np.log1p(half / a)
        with np.errstate(invalid="ignore", divide="ignore"):
            log_1m_mid = np.log((1 - b) + half)
        return np.where(b > 1, 1.0, expit(lam * (log_mid - log_1m_mid) - ell))

    v, counts = np.unique(z, return_counts=True)
    assert v[0] > np.finfo(np.float64).tiny
    after = np.cumsum(counts) / z.size
    before = after - counts / z.size
    at_v = cdf_mid(v, np.nextafter(v, 2.0))
    below_v = cdf_mid(np.nextafter(v, -1.0), v)
    d = max(np.abs(after - at_v).max(), np.abs(before - below_v).max())
    return st.kstwo.sf(d, z.size)


def test_relaxed_bernoulli_ks_against_closed_form_cdf():
    """KS per (λ, ℓ) against P(z ≤ s) = σ(λ logit s − ℓ), including λ = 0.05 and 5."""
    lam = np.repeat([0.05, 0.5, 5.0], 3)
    ell = np.tile([-3.0, 0.0, 2.5], 3)
    q = RelaxedBernoulli(torch.tensor(lam), logits=torch.tensor(ell))
    z = q.sample((4000,)).numpy()
    for j in range(lam.size):
        p = _ks_pvalue_rounded(z[:, j], lam[j], ell[j])
        assert p > 1e-4, f"λ={lam[j]}, ℓ={ell[j]}: KS p-value {p:.2e}"


def test_relaxed_bernoulli_cdf_icdf_closed_forms():
    lam, ell = np.array([0.3, 2.0]), np.array([1.0, -0.5])
    q = RelaxedBernoulli(torch.tensor(lam), logits=torch.tensor(ell))
    u = torch.linspace(0.01, 0.99, 21, dtype=F64).unsqueeze(-1).expand(21, 2)
    want_icdf = expit((ell + logit(u.numpy())) / lam)
    np.testing.assert_allclose(q.icdf(u).numpy(), want_icdf, rtol=1e-13)
    torch.testing.assert_close(q.icdf(u), q.from_noise(u), rtol=0, atol=0)
    z = q.sample((50,))
    want_cdf = _binary_concrete_cdf(z.numpy(), lam, ell)
    np.testing.assert_allclose(q.cdf(z).numpy(), want_cdf, rtol=1e-12)


@pytest.mark.parametrize("lam", [0.1, 1.0, 5.0])
def test_relaxed_categorical_argmax_is_categorical(lam):
    """Gumbel-max: argmax z ~ Categorical(softmax ℓ) for every λ (frequencies, 5 SE)."""
    logits = torch.tensor([0.5, -1.0, 1.2, 0.0], dtype=F64)
    n = 20000
    z = RelaxedOneHotCategorical(lam, logits=logits).sample((n,))
    freq = torch.bincount(z.argmax(-1), minlength=4).to(F64) / n
    p = torch.softmax(logits, -1)
    se = (p * (1 - p) / n).sqrt()
    assert ((freq - p).abs() <= 5 * se).all(), (freq, p, se)


def _p_first_above_half(lam, logits):
    """P(z₁ > 1/2) for K = 3 by 1-D quadrature: z₁ > 1/2 ⟺ d₁ > b(d₂) = λ softplus((Δℓ₂ +
    d₂)/λ) − Δℓ₁, and ∫_b^∞ p(d₁, d₂) dd₁ = e^{−d₂}[(1 + e^{−d₂})⁻² − (1 + e^{−d₂} + e^{−b})⁻²]."""
    dl1, dl2 = logits[0] - logits[2], logits[1] - logits[2]

    def inner(d2):
        b = lam * np.logaddexp(0.0, (dl2 + d2) / lam) - dl1
        e = math.exp(d2)  # multiply through by e^{2 d₂}: stable for d₂ → −∞
        return e * ((e + 1) ** -2 - (e + 1 + math.exp(-b) * e) ** -2)

    return quad(inner, -60, 60, epsabs=1e-13, epsrel=1e-13, limit=200)[0]


@pytest.mark.parametrize("lam", [0.3, 1.0, 2.0])
def test_relaxed_categorical_marginal_of_one_coordinate(lam):
    logits = np.array([0.3, -0.6, 1.0])
    exact = _p_first_above_half(lam, logits)
    n = 20000
    z = RelaxedOneHotCategorical(lam, logits=torch.tensor(logits)).sample((n,))
    freq = (z[:, 0] > 0.5).double().mean().item()
    se = math.sqrt(exact * (1 - exact) / n)
    assert abs(freq - exact) <= 5 * se, (freq, exact, se)


def test_marginal_reference_reduces_to_gumbel_max():
    """As λ → 0, P(z₁ > 1/2) → P(argmax = 1) = softmax(ℓ)₁ (checks the reference itself)."""
    logits = np.array([0.3, -0.6, 1.0])
    p1 = softmax(logits)[0]
    assert abs(_p_first_above_half(1e-4, logits) - p1) < 1e-3


@pytest.mark.parametrize("lam", [0.7, 1.5])
def test_relaxed_categorical_density_integrates_to_one(lam):
    """∫ q(z) dz over the simplex = 1, in log-ratio coordinates x (z = softmax(x₁, x₂, 0),
    |det ∂(z₁, z₂)/∂x| = z₁ z₂ z₃), by the trapezoid rule."""
    logits = torch.tensor([0.3, -0.6, 1.0], dtype=F64)
    q = RelaxedOneHotCategorical(lam, logits=logits)
    step = 0.1
    x = torch.arange(-60.0, 60.0 + step / 2, step, dtype=F64)
    x1, x2 = torch.meshgrid(x, x, indexing="ij")
    y = torch.stack([x1, x2, torch.zeros_like(x1)], -1)
    log_z = torch.log_softmax(y, -1)
    total = torch.exp(q.log_prob(log_z.exp()) + log_z.sum(-1)).sum() * step * step
    assert abs(total.item() - 1) < 1e-8


def test_gumbel_difference_grid_is_a_density():
    grid = _GumbelDifferences()
    assert abs(grid.weight.sum() - 1) < 1e-12
    # P(d₁ > 0) = P(g₁ > g₃) = 1/2 and E[d₁] = 0.
    on_axis = np.abs(grid.d1) < 1e-9
    half = grid.weight[(grid.d1 > 0) & ~on_axis].sum() + 0.5 * grid.weight[on_axis].sum()
    assert abs(half - 0.5) < 1e-12
    assert abs((grid.weight * grid.d1).sum()) < 1e-10


# --------------------------------------------------------------------------- gradients
_BERNOULLI_FS = {
    "z^2": (lambda z: z * z, lambda xp, z: z * z),
    "cos4z": (lambda z: math.cos(4 * z), lambda xp, z: xp.cos(4 * z)),
}


@pytest.mark.parametrize("fname", list(_BERNOULLI_FS))
def test_relaxed_bernoulli_pathwise_gradient_matches_quadrature(fname):
    f_np, f_t = _BERNOULLI_FS[fname]
    lam = np.repeat([0.2, 1.0, 3.0], 3)
    ell = np.tile([-1.5, 0.4, 2.5], 3)
    params = {"temperature": torch.tensor(lam), "logits": torch.tensor(ell)}
    est = _grouped_gradients(
        lambda temperature, logits: RelaxedBernoulli(temperature, logits=logits), params, f_t
    )
    for name in ("temperature", "logits"):
        exact = np.empty(lam.size)
        for j in range(lam.size):
            h = 1e-4 * max(1.0, abs(params[name][j].item()))
            if name == "temperature":
                exact[j] = _fd(lambda t, j=j: _binary_concrete_expect(f_np, t, ell[j]), lam[j], h)
            else:
                exact[j] = _fd(lambda e, j=j: _binary_concrete_expect(f_np, lam[j], e), ell[j], h)
        _assert_within_se(f"{fname}.{name}", est[name], exact)


@pytest.fixture(scope="module")
def gumbel_grid():
    return _GumbelDifferences()


@pytest.mark.parametrize("f", [_cat_linear, _cat_nonlinear], ids=["linear", "nonlinear"])
def test_relaxed_categorical_pathwise_gradient_matches_quadrature(f, gumbel_grid):
    """K = 3: pathwise gradients in ℓ and λ vs central differences (h = 1e-4) of the 2-D
    trapezoid reference over the Gumbel differences."""
    lam = np.array([0.4, 1.5])
    logits = np.array([[0.3, -0.6, 1.0], [-1.0, 0.5, 0.0]])
    params = {"temperature": torch.tensor(lam), "logits": torch.tensor(logits)}
    est = _grouped_gradients(
        lambda temperature, logits: RelaxedOneHotCategorical(temperature, logits=logits),
        params,
        f,
    )
    h = 1e-4
    exact_lam = np.empty(2)
    exact_logits = np.empty((2, 3))
    for j in range(2):
        exact_lam[j] = _fd(lambda t, j=j: gumbel_grid.expect(f, t, logits[j]), lam[j], h)
        for k in range(3):
            step = np.eye(3)[k]
            exact_logits[j, k] = _fd(
                lambda s, j=j, step=step: gumbel_grid.expect(f, lam[j], logits[j] + s * step), 0, h
            )
    _assert_within_se(f"{f.__name__}.temperature", est["temperature"], exact_lam)
    _assert_within_se(f"{f.__name__}.logits", est["logits"], exact_logits)


# --------------------------------------------------------------------------- λ → 0
def test_relaxed_bernoulli_small_temperature_approaches_bernoulli():
    """Same noise: z_λ → 1[ℓ + logit u > 0] ~ Bernoulli(σ(ℓ)). E|z_λ − z_hard| =
    E σ(−|ℓ + L|/λ) ≤ max p_L · ∫σ(−|v|/λ) dv = λ ln2 / 2, so E f(z_λ) → Σ p f."""
    ell = torch.tensor([-1.0, 0.5, 2.0], dtype=F64)
    n = 20000
    u = StandardUniform().sample((n, 3), dtype=F64, device="cpu")
    hard = RelaxedBernoulli(1.0, logits=ell, hard=True).from_noise(u)
    p = torch.sigmoid(ell)
    _assert_within_se("hard mean", hard, p)
    f = lambda z: (z - 0.3) ** 2  # noqa: E731  (Lipschitz 1.4 on [0, 1])
    exact_f = p * f(torch.tensor(1.0)) + (1 - p) * f(torch.tensor(0.0))
    for lam in (0.1, 0.01, 0.001):
        soft = RelaxedBernoulli(lam, logits=ell).from_noise(u)
        gap = (soft - hard).abs()
        bound = lam * math.log(2) / 2
        assert (gap.mean(0) <= bound + 5 * gap.std(0) / math.sqrt(n)).all(), (lam, gap.mean(0))
        diff = (f(soft).mean(0) - exact_f).abs()
        se = f(soft).std(0) / math.sqrt(n)
        assert (diff <= 1.4 * bound + 5 * se).all(), (lam, diff, se)


def test_relaxed_categorical_small_temperature_approaches_categorical():
    """Same noise: z_λ → one-hot(argmax(ℓ + g)); E‖z_λ − z_hard‖₁ ≤ K(K − 1)λ/2 (each pair
    contributes E e^{−|v_j − v_k|/λ} ≤ λ/2, the Gumbel difference having density ≤ 1/4)."""
    logits = torch.tensor([0.5, -1.0, 1.2, 0.0], dtype=F64)
    n, k = 20000, 4
    u = StandardUniform().sample((n, k), dtype=F64, device="cpu")
    hard = RelaxedOneHotCategorical(1.0, logits=logits, hard=True).from_noise(u)
    p = torch.softmax(logits, -1)
    _assert_within_se("hard mean", hard, p)
    values = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64)  # f(z) = values·z, Lipschitz 3 (ℓ₁)
    exact_f = (p * values).sum()
    for lam in (0.1, 0.01, 0.001):
        soft = RelaxedOneHotCategorical(lam, logits=logits).from_noise(u)
        gap = (soft - hard).abs().sum(-1)
        bound = k * (k - 1) * lam / 2
        assert gap.mean() <= bound + 5 * gap.std() / math.sqrt(n), (lam, gap.mean())
        fz = soft @ values
        diff = (fz.mean() - exact_f).abs()
        assert diff <= 3 * bound + 5 * fz.std() / math.sqrt(n), (lam, diff)


# --------------------------------------------------------------------------- straight-through
def _hard_pair(cls, lam, logits):
    lam = torch.tensor(lam, dtype=F64, requires_grad=True)
    logits = torch.tensor(logits, dtype=F64, requires_grad=True)
    return lam, logits, cls(lam, logits=logits), cls(lam, logits=logits, hard=True)


@pytest.mark.parametrize(
    ("cls", "lam", "logits"),
    [
        (RelaxedBernoulli, [0.3, 1.0, 2.0], [-1.0, 0.2, 3.0]),
        (RelaxedOneHotCategorical, [0.3, 2.0], [[0.5, -1.0, 1.2], [0.0, 0.0, -2.0]]),
    ],
    ids=["bernoulli", "categorical"],
)
def test_straight_through(cls, lam, logits):
    lam, logits, soft_q, hard_q = _hard_pair(cls, lam, logits)
    eps = soft_q.sample_noise((500,))
    soft, hard = soft_q.from_noise(eps), hard_q.from_noise(eps)
    assert ((hard == 0) | (hard == 1)).all()
    if cls is RelaxedBernoulli:
        assert torch.equal(hard, (soft > 0.5).to(F64))
    else:
        assert (hard.sum(-1) == 1).all()
        assert torch.equal(hard.argmax(-1), soft.argmax(-1))
    # d z_hard / dθ is the relaxed gradient for the same noise (any cotangent v).
    v = torch.randn_like(soft)
    g_soft = torch.autograd.grad((v * soft).sum(), (lam, logits))
    g_hard = torch.autograd.grad((v * hard).sum(), (lam, logits))
    for a, b in zip(g_soft, g_hard, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=0)
    # The hard value has no density: log_prob_from_noise gives the soft sample's.
    torch.testing.assert_close(
        hard_q.log_prob_from_noise(eps, hard), soft_q.log_prob_from_noise(eps, soft)
    )
    assert hard_q.rsample((3,)).requires_grad
    assert hard_q.expand((2, *hard_q.batch_shape)).hard


# --------------------------------------------------------------------------- stability
def _extreme_noise(q, n, dtype):
    """Random noise plus the clamped extremes u = tiny and u = 1 − eps/2."""
    eps = q.sample_noise((n,))
    edge = StandardUniform.clamp(torch.tensor([0.0, 1.0], dtype=dtype))
    eps[0] = edge[0]
    eps[1] = edge[1]
    return eps


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
@pytest.mark.parametrize("kind", ["bernoulli", "categorical"])
def test_no_nan_or_inf_at_extremes(kind, hard, dtype):
    """λ ∈ {0.05, 0.5, 5} × logits ±30: samples, log q from noise and gradients are finite."""
    temps = torch.tensor([0.05, 0.5, 5.0], dtype=dtype).repeat_interleave(3)
    if kind == "bernoulli":
        lam = temps.clone().requires_grad_()
        logits = torch.tensor([-30.0, 0.0, 30.0], dtype=dtype).repeat(3).requires_grad_()
        q = RelaxedBernoulli(lam, logits=logits, hard=hard)
    else:
        rows = [[30.0, -30.0, 0.0], [-30.0, -30.0, 30.0], [0.0, 0.0, 0.0]]
        lam = temps.clone().requires_grad_()
        logits = torch.tensor(rows * 3, dtype=dtype).requires_grad_()
        q = RelaxedOneHotCategorical(lam, logits=logits, hard=hard)
    eps = _extreme_noise(q, 256, dtype)
    z, log_q = q.from_noise_and_log_prob(eps)
    assert z.dtype == log_q.dtype == dtype
    assert torch.isfinite(z).all()
    assert torch.isfinite(log_q).all()
    v = torch.randn_like(z)
    grads = torch.autograd.grad((v * z).sum() + log_q.sum(), (lam, logits))
    for g in grads:
        assert torch.isfinite(g).all()
    if not hard:
        # log_prob(z) in z-coordinates: never NaN (±inf only for the Bernoulli, where z
        # rounded to exactly 0 or 1; finite for the categorical, which reads 0 as tiny).
        lp = q.log_prob(z.detach())
        assert not torch.isnan(lp).any()
        if kind == "categorical":
            assert torch.isfinite(lp).all()


def test_relaxed_bernoulli_log_prob_limits_at_0_and_1():
    """q(z) ~ λ e^{∓ℓ} t^{λ−1} at the ends (t = z or 1 − z): +inf, λe^{∓ℓ}, 0 for λ <, =, > 1."""
    lam = torch.tensor([0.5, 1.0, 2.0], dtype=F64, requires_grad=True)
    ell = torch.tensor([0.7, 0.7, 0.7], dtype=F64, requires_grad=True)
    q = RelaxedBernoulli(lam, logits=ell)
    at0 = q.log_prob(torch.zeros(3, dtype=F64))
    at1 = q.log_prob(torch.ones(3, dtype=F64))
    assert at0[0] == at1[0] == math.inf
    assert at0[2] == at1[2] == -math.inf
    torch.testing.assert_close(at0[1], torch.tensor(-0.7, dtype=F64))
    torch.testing.assert_close(at1[1], torch.tensor(0.7, dtype=F64))
    near = q.log_prob(torch.tensor([1e-12, 1e-12, 1e-12], dtype=F64))
    torch.testing.assert_close(near[1], torch.tensor(-0.7, dtype=F64), atol=1e-10, rtol=0)
    # the λ = 1 entry's gradient is finite and no entry's gradient is NaN
    g = torch.autograd.grad(at0[1] + at1[1], (lam, ell))
    assert all(torch.isfinite(x).all() for x in g)
    interior = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    g = torch.autograd.grad(q.log_prob(interior).sum(), (lam, ell))
    assert not any(torch.isnan(x).any() for x in g)


# --------------------------------------------------------------------------- parameters
def test_probs_and_logits_properties():
    p = torch.tensor([0.2, 0.7], dtype=F64)
    a = RelaxedBernoulli(0.5, probs=p)
    b = RelaxedBernoulli(0.5, logits=torch.logit(p))
    assert torch.equal(a.probs, p)
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(b.probs, p)
    assert isinstance(a.temperature, torch.Tensor)
    assert a.temperature.shape == (2,)
    pc = torch.tensor([[0.2, 0.3, 0.5]], dtype=F64)
    c = RelaxedOneHotCategorical(torch.tensor([0.5, 1.0], dtype=F64), probs=pc)
    assert (c.batch_shape, c.event_shape) == ((2,), (3,))
    torch.testing.assert_close(c.probs, pc.expand(2, 3))
    torch.testing.assert_close(c.logits.exp(), pc.expand(2, 3))
    d = RelaxedOneHotCategorical(0.5, logits=pc.log() + 3.0)
    torch.testing.assert_close(d.probs, pc)
    big = c.expand((4, 2))
    assert (big.probs.shape, big.temperature.shape) == ((4, 2, 3), (4, 2))


def test_float32_parameters_give_float32():
    q = RelaxedOneHotCategorical(0.5, logits=torch.zeros(3))
    assert q.temperature.dtype == q.rsample().dtype == torch.float32


_BAD_RELAXED = [
    (RelaxedBernoulli, (0.0,), {"logits": torch.zeros(3)}, r"'temperature'.*> 0"),
    (RelaxedBernoulli, (-1.0,), {"probs": torch.full((3,), 0.5)}, r"'temperature'.*> 0"),
    (RelaxedBernoulli, (math.nan,), {"logits": torch.zeros(3)}, r"'temperature'.*finite"),
    (RelaxedBernoulli, (1.0,), {}, r"exactly one of `probs` or `logits`; got neither"),
    (
        RelaxedBernoulli,
        (1.0,),
        {"probs": torch.full((2,), 0.5), "logits": torch.zeros(2)},
        r"exactly one of `probs` or `logits`; got both",
    ),
    (RelaxedBernoulli, (1.0,), {"probs": torch.tensor([0.5, 1.5])}, r"'probs'.*\[0, 1\].*1\.5"),
    (RelaxedBernoulli, (1.0,), {"probs": torch.tensor([-0.1])}, r"'probs'.*-0\.1"),
    (RelaxedBernoulli, (1.0,), {"probs": torch.tensor([math.nan])}, r"'probs'.*nan"),
    (RelaxedBernoulli, (1.0,), {"logits": torch.tensor([math.inf])}, r"'logits'.*finite"),
    (RelaxedBernoulli, (torch.ones(2),), {"logits": torch.zeros(3)}, r"broadcast"),
    (RelaxedOneHotCategorical, (0.0,), {"logits": torch.zeros(3)}, r"'temperature'.*> 0"),
    (RelaxedOneHotCategorical, (1.0,), {}, r"exactly one.*got neither"),
    (
        RelaxedOneHotCategorical,
        (1.0,),
        {"probs": torch.tensor([0.5, 0.5]), "logits": torch.zeros(2)},
        r"exactly one.*got both",
    ),
    (RelaxedOneHotCategorical, (1.0,), {"logits": torch.tensor(0.3)}, r"'logits'.*shape \(\)"),
    (RelaxedOneHotCategorical, (1.0,), {"logits": torch.zeros(4, 1)}, r"'logits'.*K >= 2"),
    (
        RelaxedOneHotCategorical,
        (torch.ones(2),),
        {"logits": torch.zeros(3, 4)},
        r"'temperature' \(2,\) does not broadcast with the batch shape \(3,\)",
    ),
    (
        RelaxedOneHotCategorical,
        (1.0,),
        {"probs": torch.tensor([0.0, 0.0])},
        r"'probs' must have a positive sum.*row of zeros",
    ),
    (RelaxedOneHotCategorical, (1.0,), {"probs": torch.tensor([1.5, -0.5])}, r"'probs'.*-0\.5"),
    (RelaxedOneHotCategorical, (1.0,), {"probs": torch.tensor([1.5, math.inf])}, r"'probs'.*inf"),
    (RelaxedOneHotCategorical, (1.0,), {"logits": torch.tensor([0.0, math.nan])}, r"'logits'"),
]


@pytest.mark.parametrize(("cls", "args", "kwargs", "pattern"), _BAD_RELAXED)
def test_relaxed_bad_input(cls, args, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        cls(*args, **kwargs)


def test_relaxed_validate_args_false_skips_value_checks():
    RelaxedBernoulli(-1.0, probs=torch.tensor([1.5]), validate_args=False)
    RelaxedOneHotCategorical(0.0, probs=torch.tensor([0.5, 0.6]), validate_args=False)
    with pytest.raises(ValueError, match="exactly one"):
        RelaxedBernoulli(1.0, validate_args=False)


# --------------------------------------------------------------------------- exact discrete
def _score_gradients(make, leaf, f, groups=200, per_group=50):
    """``groups`` independent score-function estimates of ∇ E[f(z)] via reparam.expectation."""
    out = []
    for _ in range(groups):
        x = leaf.clone().requires_grad_()
        value = reparam.expectation(f, make(x), per_group, "score")
        out.append(torch.autograd.grad(value, x)[0])
    return torch.stack(out)


def test_bernoulli_score_estimator_unbiased():
    def f(z):
        return (z - 0.3) ** 2 + torch.sin(2 * z)

    for kind, value in (("probs", [0.2, 0.75]), ("logits", [-1.0, 1.5])):
        leaf = torch.tensor(value, dtype=F64)

        def make(x, kind=kind):
            return Bernoulli(**{kind: x})

        est = _score_gradients(make, leaf, lambda z: f(z).sum(-1))
        x = leaf.clone().requires_grad_()
        p = x if kind == "probs" else torch.sigmoid(x)
        one, zero = torch.tensor(1.0, dtype=F64), torch.tensor(0.0, dtype=F64)
        exact = torch.autograd.grad((p * f(one) + (1 - p) * f(zero)).sum(), x)[0]
        _assert_within_se(f"Bernoulli.{kind}", est, exact)


def test_categorical_score_estimator_unbiased():
    values = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64)
    leaf = torch.tensor([0.5, -1.0, 1.2, 0.0], dtype=F64)
    est = _score_gradients(lambda x: Categorical(logits=x), leaf, lambda z: values[z])
    p = torch.softmax(leaf, -1)
    exact = p * (values - (p * values).sum())
    _assert_within_se("Categorical.logits", est, exact)
    probs_leaf = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    est = _score_gradients(lambda x: Categorical(probs=x), probs_leaf, lambda z: values[z])
    # Σ_k p_k f_k is linear in p (on the simplex, via Categorical's own normalization the
    # score of p is e_k/p_k − 1): the gradient's mean is f − E f.
    exact = values - (probs_leaf * values).sum()
    _assert_within_se("Categorical.probs", est, exact)


def test_discrete_are_torch_distributions_without_rsample():
    b = Bernoulli(probs=torch.tensor([0.3, 0.6]))
    c = Categorical(logits=torch.zeros(2, 3))
    assert isinstance(b, torch.distributions.Bernoulli)
    assert isinstance(c, torch.distributions.Categorical)
    assert not b.has_rsample
    assert not c.has_rsample
    bb, cc = b.expand((4, 2)), c.expand((5, 2))
    assert (type(bb), bb.batch_shape) == (Bernoulli, (4, 2))
    assert (type(cc), cc.batch_shape) == (Categorical, (5, 2))
    with pytest.raises(ValueError, match="pathwise estimator needs a reparameterized"):
        reparam.expectation(lambda z: z, b, 4, "pathwise")


def test_categorical_mixes_a_mixture_same_family():
    w = torch.tensor([0.3, 0.7], dtype=F64)
    loc, scale = torch.tensor([-1.0, 2.0], dtype=F64), torch.tensor([0.5, 1.5], dtype=F64)
    mix = torch.distributions.MixtureSameFamily(
        Categorical(probs=w), torch.distributions.Normal(loc, scale)
    )
    x = torch.linspace(-3, 4, 9, dtype=F64)
    want = torch.logsumexp(
        w.log() + torch.distributions.Normal(loc, scale).log_prob(x[:, None]), -1
    )
    torch.testing.assert_close(mix.log_prob(x), want)
    assert mix.expand((3,)).sample((2,)).shape == (2, 3)


_BAD_DISCRETE = [
    (Bernoulli, {}, r"Bernoulli: pass exactly one of `probs` or `logits`; got neither"),
    (Bernoulli, {"probs": 0.5, "logits": 0.0}, r"got both"),
    (Bernoulli, {"probs": torch.tensor([0.2, 1.2])}, r"'probs' must lie in \[0, 1\].*1\.2"),
    (Bernoulli, {"probs": torch.tensor([math.nan])}, r"'probs'.*nan"),
    (Bernoulli, {"logits": torch.tensor([0.0, math.nan])}, r"'logits' must not be NaN.*nan"),
    (Categorical, {}, r"got neither"),
    (Categorical, {"probs": torch.ones(3) / 3, "logits": torch.zeros(3)}, r"got both"),
    (Categorical, {"probs": torch.zeros(2, 3)}, r"'probs' must have a positive sum.*\(0,\)"),
    (Categorical, {"probs": torch.tensor([1.2, -0.2])}, r"'probs' must be finite and >= 0"),
    (Categorical, {"probs": torch.tensor([1.0, math.nan])}, r"'probs' must be finite.*nan"),
    (Categorical, {"probs": torch.tensor(1.0)}, r"'probs'.*at least one dimension"),
    (Categorical, {"logits": torch.tensor([0.0, math.nan])}, r"'logits'.*NaN.*nan"),
    (Categorical, {"logits": torch.tensor([0.0, math.inf])}, r"'logits'.*\+inf.*inf"),
    (Categorical, {"logits": torch.full((2,), -math.inf)}, r"'logits'.*all -inf"),
]


@pytest.mark.parametrize(("cls", "kwargs", "pattern"), _BAD_DISCRETE)
def test_discrete_bad_input(cls, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        cls(**kwargs)


def test_discrete_accepts_valid_edges():
    assert Bernoulli(probs=torch.tensor([0.0, 1.0])).sample((3,)).shape == (3, 2)
    assert Bernoulli(logits=torch.tensor([-math.inf, math.inf])).probs.tolist() == [0.0, 1.0]
    c = Categorical(logits=torch.tensor([0.0, -math.inf]))
    assert (c.sample((10,)) == 0).all()
