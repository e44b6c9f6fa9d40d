"""Tests of the pathwise estimator's control variates, entropy modes and ``detach_params``.

Statistical tests follow tests/test_estimators.py: fixed seeds (conftest), a mean of R
independent gradient estimates must match the closed-form gradient within 5 standard
errors, and "lower variance" is a z-score above 5 on the difference of two sample
variances (standard errors from the squared deviations). Exactness claims (a quadratic f
under the quadratic control variate; sticking the landing at q = target) are checked
per estimate to rounding error (1e-10 relative), not statistically.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions.transforms import AffineTransform, ExpTransform

from reparam import (
    Cauchy,
    DiagonalNormal,
    Exponential,
    Independent,
    Kumaraswamy,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    Pathwise,
    TransformedDistribution,
    expectation,
)
from reparam.estimators import (
    QUADRATIC_MAX_DIM,
    TaylorControlVariate,
    control_variate_names,
    detach_params,
)

DTYPE = torch.float64
R = 600  # independent gradient estimates
N = 16  # samples per estimate


@pytest.fixture(autouse=True)
def _one_thread():
    # SobolEngine's scrambling runs tiny multi-threaded kernels; on a loaded machine each
    # pays a thread wake-up of milliseconds. One thread gives the same numbers, faster.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _t(values, grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=DTYPE, requires_grad=grad)


def _gradients(make, params, f, est, n: int = N, reps: int = R) -> torch.Tensor:
    """reps gradient estimates, each the concatenation of the flattened parameter grads."""
    out = []
    for _ in range(reps):
        value = expectation(f, make(*params), n, est)
        grads = torch.autograd.grad(value.sum(), params)
        out.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(out)


def _exact(closed_form, params) -> torch.Tensor:
    grads = torch.autograd.grad(closed_form(*params), params)
    return torch.cat([g.reshape(-1) for g in grads])


def _assert_unbiased(g: torch.Tensor, exact: torch.Tensor) -> None:
    se = g.std(0) / math.sqrt(g.shape[0])
    assert torch.all((g.mean(0) - exact).abs() <= 5 * se + 1e-10 * (1 + exact.abs())), (
        g.mean(0),
        exact,
        se,
    )


def _variance_and_se(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    sq = (g - g.mean(0)) ** 2
    return g.var(0), sq.std(0) / math.sqrt(g.shape[0])


def _assert_lower_variance(g_plain: torch.Tensor, g_cv: torch.Tensor) -> None:
    v_p, se_p = _variance_and_se(g_plain)
    v_c, se_c = _variance_and_se(g_cv)
    z = (v_p - v_c) / torch.sqrt(se_p**2 + se_c**2)
    assert torch.all(z > 5), (v_p, v_c, z)


# --------------------------------------------------------------------------- problems
MU, SIGMA = 0.5, 0.7


def _normal(mu, sigma):
    return Normal(mu, sigma, validate_args=False)


def _z4_closed(mu, sigma):  # E[z⁴] = μ⁴ + 6μ²σ² + 3σ⁴
    return mu**4 + 6 * mu**2 * sigma**2 + 3 * sigma**4


def _exp_closed(mu, sigma):  # E[e^z] = e^{μ + σ²/2}
    return torch.exp(mu + sigma**2 / 2)


A_VEC = [0.4, -0.3, 0.2]
L_MVN = [[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [-0.3, 0.2, 0.6]]


def _mvn(loc, scale_tril):
    return MultivariateNormal(loc, scale_tril=scale_tril, validate_args=False)


def _exp_linear(z):  # e^{aᵀz}
    return torch.exp(z @ _t(A_VEC))


def _exp_linear_closed(loc, scale_tril):  # E = exp(aᵀμ + ½ aᵀΣa), Σ = L Lᵀ
    a = _t(A_VEC)
    return torch.exp(a @ loc + 0.5 * (scale_tril.mT @ a).pow(2).sum())


# --------------------------------------------------------------------------- unbiased
@pytest.mark.parametrize("cv", ["linear", "quadratic"])
@pytest.mark.parametrize(
    ("f", "closed"), [(lambda z: z**4, _z4_closed), (torch.exp, _exp_closed)], ids=["z4", "exp"]
)
def test_unbiased_on_a_gaussian(cv, f, closed):
    params = (_t(MU, True), _t(SIGMA, True))
    g = _gradients(_normal, params, f, Pathwise(control_variate=cv))
    _assert_unbiased(g, _exact(closed, params))


@pytest.mark.parametrize(
    "est",
    [
        Pathwise(control_variate="linear"),
        Pathwise(control_variate="quadratic"),
        Pathwise(noise="qmc", control_variate="quadratic"),
    ],
    ids=lambda e: e.label,
)
def test_unbiased_on_a_multivariate_normal(est):
    params = (_t([0.2, -0.1, 0.3], True), _t(L_MVN, True))
    g = _gradients(_mvn, params, _exp_linear, est)
    _assert_unbiased(g, _exact(_exp_linear_closed, params))


def test_unbiased_on_a_non_gaussian_family():
    # Kumaraswamy(a, b): E[z^k] = b B(1 + k/a, b); f = e^z = Σ z^k / k! (20 terms)
    def closed(a, b):
        return sum(
            b
            * torch.exp(torch.lgamma(1 + k / a) + torch.lgamma(b) - torch.lgamma(1 + k / a + b))
            / math.factorial(k)
            for k in range(20)
        )

    params = (_t(2.0, True), _t(3.0, True))
    make = lambda a, b: Kumaraswamy(a, b, validate_args=False)  # noqa: E731
    g = _gradients(make, params, torch.exp, Pathwise(control_variate="quadratic"))
    _assert_unbiased(g, _exact(closed, params))


# --------------------------------------------------------------------------- exact on quadratics
A_MAT = [[1.0, 0.5, -0.2], [0.1, 2.0, 0.3], [0.0, -0.4, 0.5]]  # not symmetric on purpose
B_VEC = [0.3, -1.0, 0.2]


def _quadratic(z):  # zᵀAz + bᵀz over the last dimension
    return torch.einsum("...i,ij,...j->...", z, _t(A_MAT), z) + z @ _t(B_VEC)


def _quadratic_closed(loc, cov):  # E = tr(AΣ) + μᵀAμ + bᵀμ
    a = _t(A_MAT)
    return (a * cov.mT).sum() + loc @ a @ loc + _t(B_VEC) @ loc


QUADRATIC_CASES = {
    # joint expansion over a vector event with a full covariance
    "MultivariateNormal": (
        _mvn,
        lambda: (_t([0.2, -0.1, 0.3], True), _t(L_MVN, True)),
        _quadratic,
        lambda loc, L: _quadratic_closed(loc, L @ L.mT),
    ),
    "LowRankMultivariateNormal": (
        lambda loc, w, d: LowRankMultivariateNormal(loc, w, d, validate_args=False),
        lambda: (
            _t([0.2, -0.1, 0.3], True),
            _t([[0.5], [-0.2], [0.3]], True),
            _t([1, 2, 0.5], True),
        ),
        _quadratic,
        lambda loc, w, d: _quadratic_closed(loc, w @ w.mT + torch.diag(d)),
    ),
    # joint expansion over a batch of scalars: H has cross-batch entries
    "Normal batch, f → (N,)": (
        _normal,
        lambda: (_t([0.2, -0.1, 0.3], True), _t([0.5, 1.0, 2.0], True)),
        _quadratic,
        lambda loc, s: _quadratic_closed(loc, torch.diag(s**2)),
    ),
    # factorized event: Σ = diag(variance)
    "Independent(Normal)": (
        lambda loc, s: Independent(_normal(loc, s), 1),
        lambda: (_t([0.2, -0.1, 0.3], True), _t([0.5, 1.0, 2.0], True)),
        _quadratic,
        lambda loc, s: _quadratic_closed(loc, torch.diag(s**2)),
    ),
    # one expansion per batch element: f returns (N, *batch_shape)
    "DiagonalNormal, f → (N, batch)": (
        lambda loc, s: DiagonalNormal(loc, s, validate_args=False),
        lambda: (
            _t([[0.2, -0.1, 0.3], [1.0, 0.0, -1.0]], True),
            _t([[0.5, 1, 2], [1, 1, 0.3]], True),
        ),
        _quadratic,
        lambda loc, s: sum(_quadratic_closed(loc[i], torch.diag(s[i] ** 2)) for i in range(2)),
    ),
    # a non-Gaussian family: E[3z² − z] = 3(Var + mean²) − mean
    "Exponential": (
        lambda rate: Exponential(rate, validate_args=False),
        lambda: (_t(1.5, True),),
        lambda z: 3 * z**2 - z,
        lambda rate: 3 * 2 / rate**2 - 1 / rate,
    ),
}


@pytest.mark.parametrize("noise", ["mc", "qmc"])
@pytest.mark.parametrize("case", list(QUADRATIC_CASES))
def test_quadratic_control_variate_has_zero_variance_on_a_quadratic(case, noise):
    make, params, f, closed = QUADRATIC_CASES[case]
    params = params()
    est = Pathwise(noise=noise, control_variate="quadratic")
    g = _gradients(make, params, f, est, n=4, reps=20)
    exact = _exact(closed, params)
    torch.testing.assert_close(g, exact.expand_as(g), rtol=1e-10, atol=1e-10)
    plain = _gradients(make, params, f, Pathwise(), n=4, reps=20)
    assert plain.var(0).max() > 1e-3  # ... where plain pathwise has variance


# --------------------------------------------------------------------------- lower variance
# A Taylor control variate removes the noise of f's expansion and adds that of the
# remainder; it pays off where the expansion is accurate over the bulk of q, i.e. q's
# scale is small against the scale on which f's Hessian changes (here σ = 0.3 for
# exp and sin; at σ = 0.7 the quadratic one makes ∂σ of E[sin z] noisier, as expected).
SMALL_SIGMA = 0.3


@pytest.mark.parametrize("f", [torch.exp, torch.sin], ids=["exp", "sin"])
def test_quadratic_lowers_variance_on_smooth_functions(f):
    params = (_t(MU, True), _t(SMALL_SIGMA, True))
    plain = _gradients(_normal, params, f, Pathwise())
    _assert_lower_variance(
        plain, _gradients(_normal, params, f, Pathwise(control_variate="quadratic"))
    )


def test_quadratic_lowers_variance_on_a_multivariate_normal():
    small = [[SMALL_SIGMA * v for v in row] for row in L_MVN]
    params = (_t([0.2, -0.1, 0.3], True), _t(small, True))
    plain = _gradients(_mvn, params, _exp_linear, Pathwise())
    cv = _gradients(_mvn, params, _exp_linear, Pathwise(control_variate="quadratic"))
    active = plain.var(0) > 0  # scale_tril's upper triangle gets no gradient at all
    _assert_lower_variance(plain[:, active], cv[:, active])


@pytest.mark.parametrize("f", [torch.exp, torch.sin], ids=["exp", "sin"])
def test_linear_lowers_the_scale_gradient_variance(f):
    # For z = μ + σε the linear control variate leaves ∂μ unchanged (it removes ∇f(z̄)·1
    # and adds back its exact mean, the same constant) and takes ∇f(z̄)·ε off ∂σ.
    params = (_t(MU, True), _t(SMALL_SIGMA, True))
    plain = _gradients(_normal, params, f, Pathwise())
    cv = _gradients(_normal, params, f, Pathwise(control_variate="linear"))
    _assert_lower_variance(plain[:, 1:], cv[:, 1:])


def test_linear_is_exact_on_a_linear_function():
    params = (_t([0.2, -0.1, 0.3], True), _t(L_MVN, True))
    f = lambda z: z @ _t(B_VEC)  # noqa: E731
    g = _gradients(_mvn, params, f, Pathwise(control_variate="linear"), n=4, reps=10)
    torch.testing.assert_close(g, g[0].expand_as(g), rtol=0, atol=1e-12)


def test_value_is_unbiased_with_control_variates():
    # the surrogate's value is the control-variate estimate of E[f], not the plain mean
    mu, sigma = _t(MU, True), _t(SIGMA, True)
    for cv in ("linear", "quadratic"):
        values = torch.stack(
            [expectation(torch.exp, _normal(mu, sigma), N, control_variate=cv) for _ in range(R)]
        ).detach()
        exact = _exp_closed(mu, sigma).item()
        assert abs(values.mean().item() - exact) <= 5 * values.std().item() / math.sqrt(R)


# --------------------------------------------------------------------------- entropy and STL
def _log_normal_density(mu_star: float, sigma_star: float):
    return lambda z: torch.distributions.Normal(_t(mu_star), _t(sigma_star)).log_prob(z)


@pytest.mark.parametrize("noise", ["mc", "qmc"])
def test_stl_has_zero_variance_at_the_target(noise):
    # f = log p with q = p: f(z) − log q_{sg θ}(z) is 0 for every z, so is its gradient.
    params = (_t(0.3, True), _t(1.7, True))
    f = _log_normal_density(0.3, 1.7)
    g = _gradients(_normal, params, f, Pathwise(noise=noise, entropy="stl"), reps=20)
    assert g.abs().max() < 1e-12
    g_mc = _gradients(_normal, params, f, Pathwise(noise=noise, entropy="mc"), reps=20)
    assert g_mc.var(0).min() > 1e-6  # the plain estimator keeps the score term's noise


def test_stl_has_zero_variance_at_a_multivariate_target():
    loc, L = [0.2, -0.1, 0.3], L_MVN
    target = torch.distributions.MultivariateNormal(_t(loc), scale_tril=_t(L))
    params = (_t(loc, True), _t(L, True))
    g = _gradients(_mvn, params, target.log_prob, Pathwise(entropy="stl"), reps=20)
    assert g.abs().max() < 1e-10
    diag = (_t([0.2, -0.1], True), _t([0.5, 2.0], True))
    target = torch.distributions.Independent(
        torch.distributions.Normal(_t([0.2, -0.1]), _t([0.5, 2.0])), 1
    )
    make = lambda loc, s: DiagonalNormal(loc, s, validate_args=False)  # noqa: E731
    g = _gradients(make, diag, target.log_prob, Pathwise(entropy="stl"), reps=20)
    assert g.abs().max() < 1e-10


@pytest.mark.parametrize(
    "est",
    [
        Pathwise(entropy="mc"),
        Pathwise(entropy="stl"),
        Pathwise(entropy="analytic"),
        Pathwise(noise="qmc", control_variate="quadratic", entropy="stl"),
        Pathwise(noise="antithetic", entropy="mc"),
    ],
    ids=lambda e: e.label,
)
def test_elbo_gradient_is_unbiased(est):
    # ELBO of q = N(μ, σ²) against p = N(0, 1): E[log p] + H = −(μ² + σ²)/2 + log σ + const
    params = (_t(0.5, True), _t(0.7, True))
    g = _gradients(_normal, params, _log_normal_density(0.0, 1.0), est)
    _assert_unbiased(g, _exact(lambda mu, s: -(mu**2 + s**2) / 2 + torch.log(s), params))


def test_entropy_values_and_shapes():
    loc, scale = _t([0.0, 1.0, 2.0], True), _t([0.5, 1.0, 2.0], True)
    q = Normal(loc, scale)
    h = q.entropy().detach()
    zero = lambda z: torch.zeros(z.shape[0], dtype=DTYPE)  # noqa: E731
    zeros_b = lambda z: torch.zeros(z.shape[:2], dtype=DTYPE)  # noqa: E731
    # f → (N,): log q summed over the batch; f → (N, *batch): elementwise
    torch.testing.assert_close(expectation(zero, q, 4, entropy="analytic").detach(), h.sum())
    torch.testing.assert_close(expectation(zeros_b, q, 4, entropy="analytic").detach(), h)
    for mode in ("mc", "stl"):
        assert expectation(zero, q, 4, entropy=mode).shape == ()
        assert expectation(zeros_b, q, 4, entropy=mode).shape == (3,)
    with pytest.raises(ValueError, match=r"entropy= needs f to return shape.*\(4, 3\).*\(4, 2\)"):
        expectation(lambda z: z[:, :2], q, 4, entropy="mc")


# --------------------------------------------------------------------------- detach_params
def _all_tensors(obj, seen=None):
    """Every tensor reachable through attributes, containers and nested distributions."""
    seen = set() if seen is None else seen
    if isinstance(obj, torch.Tensor):
        yield obj
        return
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _all_tensors(v, seen)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _all_tensors(v, seen)
    elif isinstance(obj, (torch.distributions.Distribution, torch.distributions.Transform)):
        for v in vars(obj).values():
            yield from _all_tensors(v, seen)


DETACH_CASES = {
    "Normal": lambda p: Normal(p[0], p[1]),
    "Kumaraswamy": lambda p: Kumaraswamy(p[1], p[1] + 1),
    "Exponential": lambda p: Exponential(p[1]),
    "MultivariateNormal": lambda p: MultivariateNormal(p[0], scale_tril=torch.diag(p[1])),
    "MultivariateNormal(covariance)": lambda p: MultivariateNormal(
        p[0], covariance_matrix=torch.diag(p[1] ** 2) + 0.1
    ),
    "LowRankMultivariateNormal": lambda p: LowRankMultivariateNormal(p[0], p[1][:, None], p[1]),
    "Independent(Normal)": lambda p: Independent(Normal(p[0], p[1]), 1),
    "TransformedDistribution": lambda p: TransformedDistribution(
        Normal(p[0], 1.0), [AffineTransform(p[0], p[1]), ExpTransform()]
    ),
    "torch Normal": lambda p: torch.distributions.Normal(p[0], p[1]),
    "torch MultivariateNormal": lambda p: torch.distributions.MultivariateNormal(
        p[0], scale_tril=torch.diag(p[1])
    ),
}


@pytest.mark.parametrize("case", list(DETACH_CASES))
def test_detach_params(case):
    params = (_t([0.1, -0.2, 0.3], True), _t([0.5, 1.0, 2.0], True))
    q = DETACH_CASES[case](params)
    for name in ("covariance_matrix", "precision_matrix", "scale_tril"):  # fill lazy caches
        if hasattr(type(q), name):
            getattr(q, name)
    z = q.rsample((5,))
    d = detach_params(q)
    assert type(d) is type(q)
    assert not any(t.requires_grad for t in _all_tensors(d))
    assert any(t.requires_grad for t in _all_tensors(q))  # q itself is untouched
    torch.testing.assert_close(d.log_prob(z), q.log_prob(z))
    # the path through z stays live, the parameters' own path is cut
    g_z_d = torch.autograd.grad(d.log_prob(z).sum(), z, retain_graph=True)[0]
    g_z_q = torch.autograd.grad(q.log_prob(z).sum(), z, retain_graph=True)[0]
    torch.testing.assert_close(g_z_d, g_z_q)
    fixed = z.detach()
    assert not d.log_prob(fixed).requires_grad
    assert q.log_prob(fixed).requires_grad
    for name in ("covariance_matrix", "precision_matrix", "scale_tril"):
        if hasattr(type(q), name):
            assert not getattr(d, name).requires_grad
            assert getattr(q, name).requires_grad


def test_detach_params_on_every_registered_family():
    from tests.distributions.registry import EXAMPLES

    for ex in EXAMPLES:
        ps = {k: torch.tensor(v, dtype=DTYPE, requires_grad=True) for k, v in ex.params.items()}
        q = ex.make(**ps, validate_args=True)
        d = detach_params(q)
        assert type(d) is type(q), ex.name
        assert not any(t.requires_grad for t in _all_tensors(d)), ex.name
        z = q.sample((3,))
        try:
            expected = q.log_prob(z)
        except NotImplementedError:
            continue
        lp = d.log_prob(z)
        assert not lp.requires_grad, ex.name
        torch.testing.assert_close(lp, expected.detach(), msg=ex.name)


# --------------------------------------------------------------------------- bad input
def test_control_variate_needs_a_finite_mean():
    q = Cauchy(_t(0.0, True), _t(1.0, True))
    for cv in ("linear", "quadratic"):
        with pytest.raises(ValueError, match=rf"control_variate='{cv}'.*finite mean.*Cauchy"):
            expectation(torch.sin, q, 4, control_variate=cv)


def test_quadratic_dimension_limit():
    q = Normal(torch.zeros(QUADRATIC_MAX_DIM + 1, dtype=DTYPE, requires_grad=True), 1.0)
    d = QUADRATIC_MAX_DIM + 1
    with pytest.raises(
        ValueError, match=rf"d = {d} exceeds QUADRATIC_MAX_DIM = {QUADRATIC_MAX_DIM}"
    ):
        expectation(lambda z: (z**2).sum(-1), q, 2, control_variate="quadratic")
    # one expansion per batch element (f → (N, *batch)) has d = 1: fine
    expectation(lambda z: z**2, q, 2, control_variate="quadratic").sum().backward()


def test_quadratic_needs_a_covariance():
    # an event of shape (2, 3) from a multivariate family: no covariance_matrix for it
    q = Independent(
        MultivariateNormal(torch.zeros(2, 3, dtype=DTYPE), scale_tril=torch.eye(3, dtype=DTYPE)), 1
    )
    with pytest.raises(ValueError, match=r"control_variate='quadratic' needs q's covariance"):
        expectation(lambda z: (z**2).sum((-2, -1)), q, 2, control_variate="quadratic")
    expectation(lambda z: (z**2).sum((-2, -1)), q, 2, control_variate="linear")  # fine


def test_control_variate_needs_values_per_sample_or_per_batch_element():
    q = Normal(torch.zeros(3, dtype=DTYPE, requires_grad=True), 1.0)
    with pytest.raises(
        ValueError, match=r"control_variate='linear' needs f to return shape.*\(4, 2\)"
    ):
        expectation(lambda z: z[:, :2], q, 4, control_variate="linear")


def test_entropy_errors():
    with pytest.raises(ValueError, match=r"unknown entropy 'exact'"):
        Pathwise(entropy="exact")
    # torch's TransformedDistribution has no closed-form entropy
    q = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(_t(0.0, True), 1.0), ExpTransform()
    )
    with pytest.raises(ValueError, match=r"entropy='analytic' needs q.entropy\(\)"):
        expectation(torch.log, q, 2, entropy="analytic")
    expectation(torch.log, q, 2, entropy="stl")  # log_prob exists: fine


def test_control_variate_registry():
    assert control_variate_names() == ["linear", "quadratic"]
    assert TaylorControlVariate(1).name == "linear"
    assert repr(TaylorControlVariate(2)) == "TaylorControlVariate(order=2)"
    with pytest.raises(ValueError, match="order must be 1 or 2, got 3"):
        TaylorControlVariate(3)
    est = Pathwise(control_variate=TaylorControlVariate(2))
    assert est.label == "pathwise+cv-quadratic"
