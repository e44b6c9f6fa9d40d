"""Family-specific tests of the matrix and multivariate families (issue 15).

Statistical checks use fixed seeds and tolerances of 5 standard errors of the estimate
(or KS / χ² p-values above 1e-4); the parameter grids of the stability tests are
stated in each test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import torch

import reparam

F64 = torch.float64


def _t(x, dtype=F64, grad=False):
    return torch.tensor(x, dtype=dtype).requires_grad_(grad)


def _assert_within_se(name, estimates, exact, sigmas=5.0):
    """``estimates``: (groups, *) independent estimates; ``exact``: the closed form."""
    mean = estimates.mean(0)
    se = estimates.std(0) / math.sqrt(estimates.shape[0])
    err = (mean - exact).abs()
    tol = sigmas * se + 1e-9 * (1 + exact.abs())
    assert bool((err <= tol).all()), f"{name}: mean {mean} exact {exact} se {se}"


def _grouped_grad(make, theta, f, groups=200, per_group=50):
    """``groups`` independent estimates of ∇θ E[f(z)] (means over ``per_group``)."""
    leaf = theta.detach().expand(groups, *theta.shape).clone().requires_grad_()
    z = make(leaf).rsample((per_group,))
    (g,) = torch.autograd.grad(f(z).mean(0).sum(), leaf)
    return g


# ------------------------------------------------------------ OneHotCategoricalStraightThrough
OHC = reparam.OneHotCategoricalStraightThrough


def test_one_hot_st_frequencies_match_probs_chi2():
    logits = _t([[0.2, -1.0, 0.5, 2.0], [3.0, 0.0, -0.7, -5.0]])
    q = OHC(logits=logits)
    z = q.sample((20000,))
    assert bool(((z == 0) | (z == 1)).all())
    assert bool((z.sum(-1) == 1).all())
    counts = z.sum(0).numpy()
    probs = torch.softmax(logits, -1).numpy()
    for j in range(2):
        keep = probs[j] * 20000 > 5
        expected = probs[j][keep] * 20000
        observed = counts[j][keep]
        expected = expected * observed.sum() / expected.sum()
        assert st.chisquare(observed, expected).pvalue > 1e-4


def test_one_hot_st_matches_torch():
    logits = _t([[0.2, -1.0, 0.5], [1.5, 0.0, -0.7]])
    ours = OHC(logits=logits)
    ref = torch.distributions.OneHotCategoricalStraightThrough(logits=logits)
    z = ref.sample((50,))
    torch.testing.assert_close(ours.log_prob(z), ref.log_prob(z))
    for name in ("mean", "mode", "variance"):
        torch.testing.assert_close(getattr(ours, name), getattr(ref, name))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    probs = _t([[0.2, 0.0, 0.8]])
    torch.testing.assert_close(
        OHC(probs=probs).entropy(),
        torch.distributions.OneHotCategoricalStraightThrough(probs=probs).entropy(),
    )
    torch.testing.assert_close(ours.enumerate_support(), ref.enumerate_support())


def test_one_hot_st_gradient_is_that_of_the_mean():
    """E[c·z] = c·p: the straight-through gradient is unbiased (exact per sample) for
    linear f; checked within 5 SE for two weight vectors."""
    logits = _t([0.3, -1.2, 2.0, 0.1])
    exact_leaf = logits.clone().requires_grad_()
    for c in (_t([1.0, -2.0, 0.5, 3.0]), _t([0.0, 1.0, 0.0, 0.0])):
        est = _grouped_grad(lambda t: OHC(logits=t), logits, lambda z, c=c: (z * c).sum(-1))
        (exact,) = torch.autograd.grad((torch.softmax(exact_leaf, -1) * c).sum(), exact_leaf)
        _assert_within_se("OHCST", est, exact)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
def test_one_hot_st_extreme_logits_finite(dtype):
    # grid: logits of magnitude up to 80, a −inf category, K = 2 and K = 50
    rows = [[80.0, -80.0], [0.0, -float("inf")], [-80.0, 80.0]]
    wide = torch.linspace(-40, 40, 50).tolist()
    for logits in (rows, [wide]):
        leaf = _t(logits, dtype, grad=True)
        q = OHC(logits=leaf)
        z, log_q = q.rsample_and_log_prob((64,))
        assert torch.isfinite(z).all()
        assert torch.isfinite(log_q).all()
        assert torch.isfinite(q.entropy()).all()
        (z * torch.arange(z.shape[-1], dtype=dtype)).sum().backward()
        assert torch.isfinite(leaf.grad).all()


def test_one_hot_st_wrap_gives_the_reparam_family():
    logits = _t([0.1, 0.5, -0.2], grad=True)
    q = reparam.wrap(torch.distributions.OneHotCategoricalStraightThrough(logits=logits))
    assert type(q) is OHC
    q.rsample().sum().backward()  # reaches the caller's tensor
    assert logits.grad is not None


# ------------------------------------------------------------------------ MultivariateStudentT
MVT = reparam.MultivariateStudentT
_L3 = [[1.2, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.4, 0.2, 0.6]]
_MU3 = [0.3, -1.2, 2.0]


@pytest.mark.parametrize("df", [0.5, 3.0, 30.0])
def test_mvt_mahalanobis_over_d_is_fisher_ks(df):
    q = MVT(_t(df), _t(_MU3), _t(_L3))
    z = q.sample((4000,))
    m = torch.linalg.solve_triangular(q.scale_tril, (z - q.loc).unsqueeze(-1), upper=False)
    stat = m.squeeze(-1).pow(2).sum(-1) / 3
    assert st.kstest(stat.numpy(), st.f(3, df).cdf).pvalue > 1e-4


def test_mvt_log_prob_and_entropy_match_scipy():
    q = MVT(_t(4.5), _t(_MU3), _t(_L3))
    ref = st.multivariate_t(_MU3, (q.scale_tril @ q.scale_tril.mT).numpy(), df=4.5)
    z = q.sample((20,))
    np.testing.assert_allclose(q.log_prob(z).numpy(), ref.logpdf(z.numpy()), rtol=1e-10)
    np.testing.assert_allclose(q.entropy().item(), ref.entropy(), rtol=1e-10)
    torch.testing.assert_close(q.variance, q.covariance_matrix.diagonal() * 4.5 / 2.5)
    eye = torch.eye(3, dtype=F64)
    torch.testing.assert_close(q.precision_matrix @ q.covariance_matrix, eye)


def test_mvt_undefined_moments_as_pyro():
    q = MVT(_t([0.5, 1.5, 3.0]), torch.zeros(3, 2, dtype=F64), torch.eye(2, dtype=F64))
    assert torch.isnan(q.mean[0]).all()
    assert torch.isfinite(q.mean[1:]).all()
    assert torch.isnan(q.variance[0]).all()
    assert torch.isinf(q.variance[1]).all()
    torch.testing.assert_close(q.variance[2], torch.full((2,), 3.0, dtype=F64))


@pytest.mark.parametrize("df", [5.0, 12.0])
def test_mvt_gradient_of_second_moment(df):
    """E‖z‖² = ν/(ν − 2) tr(L Lᵀ) + ‖μ‖²: its gradient in ν, μ and L within 5 SE."""
    mu, L = _t(_MU3), _t(_L3)
    leaves = [_t(df, grad=True), mu.clone().requires_grad_(), L.clone().requires_grad_()]
    exact = torch.autograd.grad(
        leaves[0] / (leaves[0] - 2) * leaves[2].pow(2).sum() + leaves[1].pow(2).sum(), leaves
    )
    groups = 200
    big = [x.detach().expand(groups, *x.shape).clone().requires_grad_() for x in leaves]
    z = MVT(*big).rsample((50,))
    est = torch.autograd.grad(z.pow(2).sum(-1).mean(0).sum(), big)
    for name, e, x in zip(("df", "loc", "scale_tril"), est, exact, strict=True):
        _assert_within_se(f"MVT.{name}", e.reshape(groups, -1), x.reshape(-1))


@pytest.mark.parametrize("df", [0.3, 2.0, 40.0])
def test_mvt_gradient_of_log1p_mahalanobis(df):
    """E log(1 + m/ν) = ψ((ν+d)/2) − ψ(ν/2) (m/ν = χ²_d/χ²_ν): its total gradient in ν
    (pathwise through z plus the explicit ν of the integrand) within 5 SE."""
    nu = _t(df, grad=True)
    (exact,) = torch.autograd.grad(torch.digamma((nu + 3) / 2) - torch.digamma(nu / 2), nu)
    mu, L = _t(_MU3), _t(_L3)
    leaf = _t(df).expand(200).clone().requires_grad_()
    z = MVT(leaf, mu, L).rsample((50,))
    m = torch.linalg.solve_triangular(L, (z - mu).unsqueeze(-1), upper=False)
    f = torch.log1p(m.squeeze(-1).pow(2).sum(-1) / leaf)
    (est,) = torch.autograd.grad(f.mean(0).sum(), leaf)
    _assert_within_se("MVT.df", est, exact)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
def test_mvt_extreme_grid_finite(dtype):
    # grid: ν ∈ {1e-2, 0.5, 1e4}; d ∈ {2, 50}; L = diag(1e-4 … 1e4) (ill-conditioned)
    for d in (2, 50):
        diag = torch.logspace(-4, 4, d, dtype=dtype)
        L = torch.diag(diag) + torch.tril(torch.full((d, d), 0.1, dtype=dtype), -1) * diag
        df = _t([1e-2, 0.5, 1e4], dtype, grad=True)
        loc = torch.zeros(3, d, dtype=dtype, requires_grad=True)
        scale = L.expand(3, d, d).clone().requires_grad_()
        q = MVT(df, loc, scale)
        z, log_q = q.rsample_and_log_prob((32,))
        assert torch.isfinite(z).all()
        assert torch.isfinite(log_q).all()
        grads = torch.autograd.grad(z.tanh().sum() + log_q.sum(), [df, loc, scale])
        assert all(torch.isfinite(g).all() for g in grads)


# ------------------------------------------------------------------------------ ProjectedNormal
PN = reparam.ProjectedNormal


def _pn_marginal(d, rho, n=4001):
    """The law of t = cos θ = z·μ/‖μ‖ for a concentration of norm ρ, on a grid of θ ∈ [0, π]:
    (θ, density of θ, [mass, E t, E t²]), from log_prob times the area of the slice
    (Simpson's rule; smooth in θ)."""
    from scipy.integrate import cumulative_simpson, simpson

    theta = torch.linspace(0, math.pi, n, dtype=F64)
    z = torch.zeros(n, d, dtype=F64)
    z[:, 0], z[:, 1] = torch.cos(theta), torch.sin(theta)
    mu = torch.zeros(d, dtype=F64)
    mu[0] = rho
    log_area = math.log(2) + (d - 1) / 2 * math.log(math.pi) - math.lgamma((d - 1) / 2)
    dens = (PN(mu).log_prob(z) + log_area).exp() * torch.sin(theta) ** (d - 2)
    th, f = theta.numpy(), dens.numpy()
    moments = [simpson(np.cos(th) ** j * f, x=th) for j in range(3)]
    return th, cumulative_simpson(f, x=th, initial=0.0), moments


@pytest.mark.parametrize(("d", "rho"), [(2, 0.7), (3, 2.0), (5, 1.0), (12, 4.0)])
def test_pn_cosine_to_the_mean_ks_and_normalized(d, rho):
    theta, cdf, (mass, _, _) = _pn_marginal(d, rho)
    assert abs(mass - 1) < 1e-8  # log_prob integrates to 1 over the sphere
    mu = torch.zeros(d, dtype=F64)
    mu[0] = rho
    angle = torch.arccos(PN(mu).sample((3000,))[:, 0].clamp(-1, 1)).numpy()
    assert st.kstest(angle, lambda x: np.interp(x, theta, cdf)).pvalue > 1e-4


def test_pn_closed_forms_match_the_quadrature():
    from reparam.distributions.projected_normal import log_m, log_ray_integral

    t = torch.linspace(-40, 40, 161, dtype=F64)
    for k in (1, 2):
        torch.testing.assert_close(log_m(k, t), log_ray_integral(k, t), rtol=1e-12, atol=1e-11)
    # Pyro's closed form for d = 4: M₃ = (2 + t²) + t(3 + t²) M₀ (where it does not cancel)
    t = torch.linspace(-2, 20, 45, dtype=F64)
    m0 = math.sqrt(math.pi / 2) * torch.special.erfcx(-t / math.sqrt(2))
    closed = torch.log(2 + t * t + t * (3 + t * t) * m0)
    torch.testing.assert_close(log_ray_integral(3, t), closed, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize(("d", "rho"), [(3, 1.5), (6, 0.5)])
def test_pn_gradients_of_two_expectations(d, rho):
    """E[a·z] and E[(a·z)²] from the marginal of t (quadrature; ∂/∂ρ by central
    differences): the pathwise gradients in μ within 5 SE."""
    mu = torch.zeros(d, dtype=F64)
    mu[0] = rho
    a = torch.linspace(1.0, -0.5, d, dtype=F64)
    h = 1e-4
    (_, m1, m2), (_, p1, p2), (_, n1, n2) = (
        _pn_marginal(d, r)[2] for r in (rho, rho + h, rho - h)
    )
    dm1, dm2 = (p1 - n1) / (2 * h), (p2 - n2) / (2 * h)
    a0, a_perp2 = a[0], a[1:].pow(2).sum()
    # z = t e₀ + √(1 − t²) w (w uniform on the orthogonal sphere): E a·z = a₀ E t and
    # E (a·z)² = a₀² E t² + |a⊥|² (1 − E t²)/(d − 1); ∂/∂μ_j for j ≠ 0 by rotation.
    grad1 = torch.zeros(d, dtype=F64)
    grad1[0] = a0 * dm1
    grad1[1:] = a[1:] * m1 / rho
    grad2 = torch.zeros(d, dtype=F64)
    grad2[0] = a0**2 * dm2 - a_perp2 * dm2 / (d - 1)
    # rotating μ towards e_j by δ changes E(a·z)² by 2 a₀ a_j δ/ρ (E t² − (1 − E t²)/(d − 1))
    grad2[1:] = 2 * a0 * a[1:] / rho * (m2 - (1 - m2) / (d - 1))
    for f, exact in ((lambda z: z @ a, grad1), (lambda z: (z @ a) ** 2, grad2)):
        est = _grouped_grad(PN, mu, f)
        _assert_within_se("PN.concentration", est, exact)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
def test_pn_extreme_grid_finite(dtype):
    # grid: ‖μ‖ ∈ {0, 1e-3, 1, 30, 1e3}; d ∈ {2, 3, 5, 50}
    for d in (2, 3, 5, 50):
        base = torch.linspace(1.0, -1.0, d, dtype=dtype)
        base = base / base.norm()
        mu = torch.tensor([0.0, 1e-3, 1.0, 30.0, 1e3], dtype=dtype)[:, None] * base
        mu = mu.requires_grad_()
        q = PN(mu)
        z, log_q = q.rsample_and_log_prob((64,))
        assert torch.isfinite(z).all()
        assert torch.isfinite(log_q).all()
        (g,) = torch.autograd.grad(z[..., 0].sum() + log_q.sum(), mu)
        assert torch.isfinite(g).all()
        assert torch.isfinite(q.log_prob(-q.mean)).all()  # the far side of the sphere


# ------------------------------------------------------------------------------------ Wishart
W = reparam.Wishart
_SIGMA3 = torch.tensor([[2.0, 0.3, -0.2], [0.3, 1.0, 0.1], [-0.2, 0.1, 0.5]], dtype=F64)


@pytest.mark.parametrize("df", [2.2, 5.0, 40.0])
def test_wishart_diagonal_and_trace_are_chi2_ks(df):
    z = W(_t(df), covariance_matrix=_SIGMA3).sample((4000,))
    for i in range(3):
        ratio = (z[:, i, i] / _SIGMA3[i, i]).numpy()
        assert st.kstest(ratio, st.chi2(df).cdf).pvalue > 1e-4
    trace = W(_t(df), covariance_matrix=torch.eye(3, dtype=F64)).sample((4000,))
    trace = trace.diagonal(dim1=-2, dim2=-1).sum(-1).numpy()
    assert st.kstest(trace, st.chi2(3 * df).cdf).pvalue > 1e-4


def test_wishart_matches_torch():
    df = _t([3.5, 6.0])
    ours = W(df, covariance_matrix=_SIGMA3)
    ref = torch.distributions.Wishart(df, covariance_matrix=_SIGMA3)
    z = ours.sample((20,))  # torch's own rsample warns on every draw (torch 2.13)
    torch.testing.assert_close(ours.log_prob(z), ref.log_prob(z))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    for name in ("mean", "variance", "mode"):
        torch.testing.assert_close(getattr(ours, name), getattr(ref, name), equal_nan=True)
    torch.testing.assert_close(ours.precision_matrix, ref.precision_matrix)


@pytest.mark.parametrize("df", [2.6, 6.0])
def test_wishart_gradients_of_mean_and_log_det(df):
    """E[z] = νΣ (gradient in ν and L) and E log|z| = ψ_d(ν/2) + d log 2 + log|Σ| (in ν)."""
    from reparam.distributions.wishart import mvdigamma

    L = torch.linalg.cholesky(_SIGMA3)
    nu, leaf_l = _t(df, grad=True), L.clone().requires_grad_()
    weights = torch.tensor([[1.0, -0.5, 2.0], [0.0, 1.0, 0.3], [0.7, 0.0, -1.0]], dtype=F64)
    exact = torch.autograd.grad((nu * leaf_l @ leaf_l.mT * weights).sum(), [nu, leaf_l])
    groups = 200
    big_nu = nu.detach().expand(groups).clone().requires_grad_()
    big_l = L.expand(groups, 3, 3).clone().requires_grad_()
    z = W(big_nu, scale_tril=big_l).rsample((50,))
    est = torch.autograd.grad((z * weights).sum((-2, -1)).mean(0).sum(), [big_nu, big_l])
    _assert_within_se("Wishart.df (mean)", est[0], exact[0])
    _assert_within_se(
        "Wishart.scale_tril (mean)", est[1].reshape(groups, -1), exact[1].reshape(-1)
    )
    (exact_ld,) = torch.autograd.grad(mvdigamma(nu / 2, 3), nu)
    est_ld = _grouped_grad(
        lambda t: W(t, scale_tril=L), _t(df), lambda z: torch.linalg.slogdet(z).logabsdet
    )
    _assert_within_se("Wishart.df (log det)", est_ld, exact_ld)


def test_wishart_kl_against_monte_carlo_and_special_cases():
    p = W(_t([3.0, 8.0]), covariance_matrix=_SIGMA3)
    q = W(_t([4.5, 5.0]), scale_tril=torch.diag(_t([1.5, 0.7, 1.1])))
    kl = torch.distributions.kl_divergence(p, q)
    z, log_p = p.rsample_and_log_prob((20000,))
    diff = (log_p - q.log_prob(z)).detach()
    se = diff.std(0) / math.sqrt(diff.shape[0])
    assert ((diff.mean(0) - kl).abs() <= 5 * se).all(), (diff.mean(0), kl, se)
    torch.testing.assert_close(torch.distributions.kl_divergence(p, p), torch.zeros(2, dtype=F64))
    # d = 1: W_1(ν, σ²) is Gamma(ν/2, rate 1/(2σ²)); torch's twin on either side
    nu_p, nu_q, s_p, s_q = _t(3.0), _t(5.5), _t(0.7), _t(2.0)
    p1 = torch.distributions.Wishart(nu_p, covariance_matrix=s_p.reshape(1, 1))
    q1 = W(nu_q, covariance_matrix=s_q.reshape(1, 1))
    gamma = torch.distributions.kl_divergence(
        torch.distributions.Gamma(nu_p / 2, 1 / (2 * s_p)),
        torch.distributions.Gamma(nu_q / 2, 1 / (2 * s_q)),
    )
    torch.testing.assert_close(torch.distributions.kl_divergence(p1, q1), gamma)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
def test_wishart_extreme_grid_finite(dtype):
    # grid: ν ∈ {d − 1 + 1e-3, d − 1 + 0.5, 1e4}; d ∈ {2, 50}; Σ with eigenvalues 1e-4 … 1e4
    for d in (2, 50):
        eig = torch.logspace(-2, 2, d, dtype=F64)  # L's diagonal: Σ's eigenvalues 1e-4 … 1e4
        L = (torch.diag(eig) + torch.tril(torch.full((d, d), 0.01, dtype=F64), -1)).to(dtype)
        df = torch.tensor([d - 1 + 1e-3, d - 1 + 0.5, 1e4], dtype=dtype, requires_grad=True)
        scale = L.expand(3, d, d).clone().requires_grad_()
        q = W(df, scale_tril=scale)
        z, log_q = q.rsample_and_log_prob((8,))
        assert torch.isfinite(z).all()
        assert torch.isfinite(log_q).all()
        grads = torch.autograd.grad(
            z.diagonal(dim1=-2, dim2=-1).log().sum() + log_q.sum(), [df, scale]
        )
        assert all(torch.isfinite(g).all() for g in grads)


def test_wishart_errors_and_wrap():
    with pytest.raises(ValueError, match="exactly one of"):
        W(_t(4.0), covariance_matrix=_SIGMA3, scale_tril=torch.eye(3, dtype=F64))
    with pytest.raises(ValueError, match="exactly one of .*none"):
        W(_t(4.0))
    with pytest.raises(ValueError, match=r"'df'.*> 2"):
        W(_t(2.0), covariance_matrix=_SIGMA3)
    with pytest.raises(ValueError, match=r"shape \(\*, d, d\)"):
        W(_t(4.0), covariance_matrix=torch.ones(3, 2, dtype=F64))
    df, cov = _t(4.0, grad=True), _SIGMA3.clone().requires_grad_()
    q = reparam.wrap(torch.distributions.Wishart(df, covariance_matrix=cov))
    assert type(q) is W
    q.rsample().sum().backward()  # gradients reach the caller's tensors
    assert torch.isfinite(df.grad)
    assert torch.isfinite(cov.grad).all()


# ------------------------------------------------------------------------------- LKJCholesky
LKJ = reparam.LKJCholesky


def _corr(L, i, j):
    return (L @ L.mT)[..., i, j]


@pytest.mark.parametrize(("d", "eta"), [(2, 0.5), (3, 1.0), (6, 4.0)])
def test_lkj_off_diagonal_correlations_are_beta_ks(d, eta):
    """r_ij ~ 2 Beta(b, b) − 1, b = η − 1 + d/2, for the first and the last pair (the
    last row tests the whole onion; torch's sampler fails there for d ≥ 3)."""
    L = LKJ(d, _t(eta)).sample((4000,))
    b = eta - 1 + d / 2
    for i, j in ((1, 0), (d - 1, d - 2)):
        r = _corr(L, i, j).numpy()
        assert st.kstest(r, st.beta(b, b, loc=-1, scale=2).cdf).pvalue > 1e-4


def test_lkj_log_prob_matches_torch():
    eta = _t([0.3, 1.0, 5.0])
    ours, ref = LKJ(4, eta), torch.distributions.LKJCholesky(4, eta)
    L, log_q = ours.rsample_and_log_prob((20,))
    torch.testing.assert_close(ours.log_prob(L), ref.log_prob(L))
    torch.testing.assert_close(log_q, ref.log_prob(L))


@pytest.mark.parametrize(("d", "eta"), [(2, 0.3), (4, 2.0), (10, 30.0)])
def test_lkj_gradients_of_two_expectations(d, eta):
    """E r² = 1/(2η + d − 1) (first and last pair) and E log|R| = Σ_k ψ(β_k) − ψ(k/2 + β_k):
    pathwise gradients in η within 5 SE."""
    nu = _t(eta, grad=True)
    (exact_r2,) = torch.autograd.grad(1 / (2 * nu + d - 1), nu)
    k = torch.arange(1, d, dtype=F64)
    beta = nu + (d - 2) / 2 - (k - 1) / 2
    (exact_ld,) = torch.autograd.grad(
        (torch.digamma(beta) - torch.digamma(k / 2 + beta)).sum(), nu
    )
    make = lambda t: LKJ(d, t)  # noqa: E731
    for i, j in ((1, 0), (d - 1, d - 2)):
        est = _grouped_grad(make, _t(eta), lambda L, i=i, j=j: _corr(L, i, j).pow(2))
        _assert_within_se(f"LKJ r{i}{j}²", est, exact_r2)
    log_det = lambda L: 2 * L.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # noqa: E731
    _assert_within_se("LKJ log det", _grouped_grad(make, _t(eta), log_det), exact_ld)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
def test_lkj_extreme_grid_finite(dtype):
    # grid: η ∈ {1e-2, 1, 1e3}; d ∈ {2, 50}
    for d in (2, 50):
        eta = torch.tensor([1e-2, 1.0, 1e3], dtype=dtype, requires_grad=True)
        q = LKJ(d, eta)
        L, log_q = q.rsample_and_log_prob((16,))
        assert torch.isfinite(L).all()
        assert torch.isfinite(log_q).all()
        (g,) = torch.autograd.grad(_corr(L, d - 1, 0).pow(2).sum() + log_q.sum(), eta)
        assert torch.isfinite(g).all()


def test_lkj_errors():
    for dim in (1, 2.0, True):
        with pytest.raises(ValueError, match="'dim'"):
            LKJ(dim, _t(1.0))
    with pytest.raises(ValueError, match="'concentration'"):
        LKJ(3, _t(-1.0))
