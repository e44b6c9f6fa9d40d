"""Targeted numerical checks for the univariate explicit families: tails, edges, validation."""

import math
import sys

import numpy as np
import pytest
import torch

import reparam
from reparam.distributions import StandardUniform

from .examples_univariate import EXAMPLES

MINE = [
    "LogNormal",
    "Laplace",
    "Logistic",
    "Cauchy",
    "Gumbel",
    "Exponential",
    "Uniform",
    "Weibull",
    "Kumaraswamy",
    "HalfNormal",
]
BY_NAME = {e["name"]: e for e in EXAMPLES}
UNIFORM_NOISE = [n for n in MINE if n not in ("LogNormal", "HalfNormal")]


def make(name, dtype=torch.float64, validate_args=True, **overrides):
    ex = BY_NAME[name]
    values = {**ex["params"], **overrides}
    ps = {k: torch.tensor(v, dtype=dtype) for k, v in values.items()}
    return ex["make"](**ps, validate_args=validate_args)


def edge_noise(q, dtype):
    """Uniform noise at and near both clamp edges, shaped (n, *batch_shape)."""
    finfo = torch.finfo(dtype)
    u = torch.tensor(
        [0.0, finfo.tiny, 1e-30, 1e-12, 1e-6, 0.5, 1 - 1e-6, 1 - finfo.eps, 1.0], dtype=dtype
    )
    u = StandardUniform.clamp(u)
    return u.reshape(-1, *([1] * len(q.batch_shape))).expand(-1, *q.batch_shape)


@pytest.mark.parametrize("name", UNIFORM_NOISE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_edge_noise_gives_finite_samples_and_log_q(name, dtype):
    q = make(name, dtype)
    u = edge_noise(q, dtype)
    z, log_q = q.from_noise_and_log_prob(u)
    assert torch.isfinite(z).all(), z
    assert torch.isfinite(log_q).all(), log_q
    assert q.support.check(z).all()


@pytest.mark.parametrize("name", UNIFORM_NOISE)
def test_float32_edges_agree_with_float64(name):
    """The same float32 u gives the float64 answer to float32 precision: no lost tails."""
    q32, q64 = make(name, torch.float32), make(name, torch.float64)
    u32 = edge_noise(q32, torch.float32)
    z32, lq32 = q32.from_noise_and_log_prob(u32)
    z64, lq64 = q64.from_noise_and_log_prob(u32.double())
    torch.testing.assert_close(z32.double(), z64, rtol=2e-5, atol=1e-30)
    torch.testing.assert_close(lq32.double(), lq64, rtol=2e-5, atol=1e-4)


@pytest.mark.parametrize("name", MINE)
def test_float32_log_prob_from_noise_matches_log_prob(name):
    """The CPU version of the CUDA check: both routes to log q agree in float32."""
    q = make(name, torch.float32)
    eps = q.sample_noise((256,))
    z, log_q = q.from_noise_and_log_prob(eps)
    torch.testing.assert_close(log_q, q.log_prob(z), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", UNIFORM_NOISE)
def test_icdf_is_from_noise(name):
    """g is the inverse CDF, so QMC points can be pushed through either."""
    q = make(name)
    u = q.sample_noise((32,))
    torch.testing.assert_close(q.icdf(u), q.from_noise(u), rtol=1e-12, atol=0)
    torch.testing.assert_close(q.cdf(q.from_noise(u)), u, rtol=1e-10, atol=1e-12)


def test_kumaraswamy_tails_are_exact():
    """z ≈ (u/b)^{1/a} as u → 0, and 1 − zᵃ = (1 − u)^{1/b} as u → 1, without cancellation."""
    a, b = torch.tensor([2.0]), torch.tensor([3.0])
    q = reparam.Kumaraswamy(a, b)
    u = torch.tensor([[1e-30], [1e-20]])
    torch.testing.assert_close(q.from_noise(u), (u / b).pow(1 / a), rtol=1e-5, atol=0)
    u = torch.tensor([[1 - 2.0**-24]])
    log_q = q.from_noise_and_log_prob(u)[1]
    # log q = log ab + (a − 1)/a log w + (b − 1)/b log(1 − u), w = 1 − (1 − u)^{1/b}
    w = 1 - math.exp(math.log(2.0**-24) / 3)
    want = math.log(6) + 0.5 * math.log(w) + (2 / 3) * math.log(2.0**-24)
    assert log_q.item() == pytest.approx(want, rel=1e-5)


def test_kumaraswamy_log_prob_near_one_uses_log1mexp():
    q = reparam.Kumaraswamy(torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0))
    z = torch.tensor(1 - 1e-12, dtype=torch.float64)
    d = 1 - z.item()  # exact; 1 − z² = d (2 − d), log q = log 6 + log z + 2 log(1 − z²)
    want = math.log(6) + math.log1p(-d) + 2 * math.log(d * (2 - d))
    assert q.log_prob(z).item() == pytest.approx(want, rel=1e-9)


def test_cauchy_log_prob_does_not_overflow_in_float32():
    q = reparam.Cauchy(torch.tensor(0.0), torch.tensor(1.0))
    z = torch.tensor([1e30, -1e30, 0.0])
    want = [-math.log(math.pi) - 2 * math.log(1e30)] * 2 + [-math.log(math.pi)]
    torch.testing.assert_close(q.log_prob(z), torch.tensor(want), rtol=1e-6, atol=0)


def test_gumbel_weibull_laplace_tails_in_float32():
    u = StandardUniform.clamp(torch.tensor([0.0, 1.0]))
    z = reparam.Laplace(torch.tensor(0.0), torch.tensor(1.0)).from_noise(u)
    torch.testing.assert_close(
        z, torch.tensor([math.log(2 * u[0].item()), -math.log(2 * 2.0**-24)])
    )
    z = reparam.Gumbel(torch.tensor(0.0), torch.tensor(1.0)).from_noise(u)
    assert torch.isfinite(z).all()
    assert z[0] < -4
    assert z[1] > 16
    z = reparam.Weibull(torch.tensor(1.0), torch.tensor(3.0)).from_noise(u)
    assert z[0] > 0
    assert torch.isfinite(z).all()


# ------------------------------------------------------------------------ validation
def test_uniform_rejects_low_not_below_high():
    with pytest.raises(ValueError, match=r"'low' and 'high'.*low < high.*low=tensor\(\[2\.\]"):
        reparam.Uniform(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="low < high"):
        reparam.Uniform(3.0, 1.0)
    q = reparam.Uniform(3.0, 1.0, validate_args=False)  # checks are skipped
    assert q.batch_shape == ()


def test_uniform_log_prob_outside_support():
    q = reparam.Uniform(torch.tensor(0.0), torch.tensor(2.0), validate_args=False)
    lp = q.log_prob(torch.tensor([-0.1, 0.0, 1.0, 2.0, 2.5]))
    assert lp[0] == lp[3] == lp[4] == -math.inf
    torch.testing.assert_close(lp[1:3], torch.full((2,), -math.log(2)))
    with pytest.raises(ValueError, match="support"):
        reparam.Uniform(torch.tensor(0.0), torch.tensor(2.0), validate_args=True).log_prob(
            torch.tensor(2.5)
        )


@pytest.mark.parametrize(
    ("name", "outside"),
    [
        ("HalfNormal", -0.5),
        ("Exponential", -0.5),
        ("LogNormal", -0.5),
        ("LogNormal", 0.0),
        ("Weibull", -0.5),
        ("Kumaraswamy", 1.5),
        ("Kumaraswamy", -0.5),
    ],
)
def test_log_prob_outside_support_is_minus_inf_only_without_validation(name, outside):
    q = make(name, validate_args=False)
    value = torch.full(q.batch_shape, outside, dtype=torch.float64)
    lp = q.log_prob(value)
    assert (lp == -math.inf).all(), lp
    with pytest.raises(ValueError, match="support"):
        make(name, validate_args=True).log_prob(value)


def test_half_normal_log_prob_at_zero_is_finite():
    q = reparam.HalfNormal(torch.tensor(2.0, dtype=torch.float64))
    want = math.log(2) - 0.5 * math.log(2 * math.pi) - math.log(2.0)
    assert q.log_prob(torch.tensor(0.0, dtype=torch.float64)).item() == pytest.approx(want)


def test_half_normal_fold_density_counts_both_branches():
    """log q from ε and −ε are equal and equal log_prob(σ|ε|)."""
    q = reparam.HalfNormal(torch.tensor([0.7], dtype=torch.float64))
    eps = torch.tensor([[1.3], [-1.3]], dtype=torch.float64)
    z, log_q = q.from_noise_and_log_prob(eps)
    torch.testing.assert_close(z[0], z[1])
    torch.testing.assert_close(log_q[0], log_q[1])
    torch.testing.assert_close(log_q, q.log_prob(z))


def test_cauchy_mean_is_nan_variance_inf_and_mode_is_loc():
    q = reparam.Cauchy(torch.tensor([0.5, 1.0]), torch.tensor([1.0, 2.0]))
    assert torch.isnan(q.mean).all()
    assert torch.isposinf(q.variance).all()
    assert torch.isposinf(q.stddev).all()
    torch.testing.assert_close(q.mode, q.loc)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("Weibull", {"concentration": [0.5, 1.0, 3.0]}),
        ("Kumaraswamy", {"concentration1": [1.0, 2.0, 3.0], "concentration0": [2.0, 1.0, 3.0]}),
        ("LogNormal", {}),
        ("Gumbel", {}),
        ("Exponential", {}),
        ("HalfNormal", {}),
    ],
)
def test_mode_maximizes_density(name, kwargs):
    q = make(name, **kwargs)
    mode = q.mode
    lp = q.log_prob(mode)
    for step in (1e-3, -1e-3):
        moved = (mode + step).clamp(min=1e-300)
        if name == "Kumaraswamy":
            moved = moved.clamp(max=1 - 1e-12)
        inside = q.support.check(moved)
        assert (lp[inside] >= q.log_prob(moved)[inside] - 1e-9).all()


# ------------------------------------------------------------------------ gradients
def test_cauchy_scale_gradient():
    """γ is left out of the generic statistical tests (ε·cos z is not integrable); check
    its pathwise gradient here: autograd against finite differences, and unbiasedness for
    f(z) = 1/(1 + z²), whose pathwise gradient ε f'(z) is bounded and whose expectation
    is (1 + γ)/((1 + γ)² + μ²) in closed form."""
    loc = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    scale = torch.tensor([0.5, 1.0, 2.5], dtype=torch.float64, requires_grad=True)
    eps = reparam.Cauchy(loc, scale).sample_noise((3,))
    assert torch.autograd.gradcheck(
        lambda s: reparam.Cauchy(loc, s, validate_args=False).from_noise_and_log_prob(eps),
        (scale,),
    )

    groups, per_group = 400, 100
    s = scale.detach().expand(groups, 3).clone().requires_grad_()
    z = reparam.Cauchy(loc, s, validate_args=False).rsample((per_group,))
    (grad,) = torch.autograd.grad((1 / (1 + z * z)).mean(0).sum(), s)
    s0 = scale.detach().clone().requires_grad_()
    exact = (1 + s0) / ((1 + s0) ** 2 + loc**2)
    (want,) = torch.autograd.grad(exact.sum(), s0)
    se = grad.std(0) / math.sqrt(groups)
    assert ((grad.mean(0) - want).abs() <= 5 * se).all(), (grad.mean(0), want, se)


@pytest.mark.parametrize("name", MINE)
def test_log_q_gradients_are_finite_in_float32(name):
    ex = BY_NAME[name]
    ps = {
        k: torch.tensor(v, dtype=torch.float32, requires_grad=True)
        for k, v in ex["params"].items()
    }
    q = ex["make"](**ps, validate_args=True)
    z, log_q = q.rsample_and_log_prob((1000,))
    grads = torch.autograd.grad((z.tanh() + log_q).sum(), list(ps.values()))
    assert all(torch.isfinite(g).all() for g in grads)


def test_kumaraswamy_reference_matches_scipy_beta_when_a_is_one():
    """Kumaraswamy(1, b) is Beta(1, b): a check of the family against scipy directly."""
    import scipy.stats as st

    q = reparam.Kumaraswamy(torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.5))
    z = q.sample((50,))
    np.testing.assert_allclose(
        q.log_prob(z).numpy(), st.beta(1.0, 2.5).logpdf(z.numpy()), rtol=1e-10, atol=1e-12
    )
    assert q.entropy().item() == pytest.approx(st.beta(1.0, 2.5).entropy(), rel=1e-10)


@pytest.mark.skipif(sys.platform.startswith("win"), reason="torch.compile needs a C++ toolchain")
def test_kumaraswamy_compiles():
    """The family with the most branches (log1mexp, masks) compiles with fullgraph=True."""

    def step(eps, a, b):
        z, log_q = reparam.Kumaraswamy(a, b, validate_args=False).from_noise_and_log_prob(eps)
        return z.sum() + log_q.sum()

    a = torch.tensor([0.5, 1.0, 2.5], requires_grad=True)
    b = torch.tensor([2.0, 1.0, 0.7], requires_grad=True)
    eps = edge_noise(reparam.Kumaraswamy(a, b), torch.float32)
    compiled = torch.compile(step, fullgraph=True, backend="inductor")
    got, want = compiled(eps, a, b), step(eps, a, b)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(torch.autograd.grad(got, (a, b)), torch.autograd.grad(want, (a, b)))


def test_cdf_left_tails_keep_their_digits():
    x = torch.tensor([-40.0, -1e8], dtype=torch.float64)
    laplace = reparam.Laplace(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0))
    torch.testing.assert_close(laplace.cdf(x[:1]), 0.5 * torch.exp(x[:1]), rtol=1e-12, atol=0)
    cauchy = reparam.Cauchy(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0))
    torch.testing.assert_close(
        cauchy.cdf(x[1:]),
        torch.full((1,), 1 / (math.pi * 1e8), dtype=torch.float64),
        rtol=1e-12,
        atol=0,
    )
    lognormal = reparam.LogNormal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0))
    u = torch.tensor([1e-20], dtype=torch.float64)
    torch.testing.assert_close(lognormal.cdf(lognormal.icdf(u)), u, rtol=1e-10, atol=0)


def test_kumaraswamy_log_w_survives_flushed_subnormals():
    """u at the float32 clamp makes log(1 − u)/b subnormal; with a = 1 the naive form gives
    log w = −inf and 0·inf = NaN in log q once subnormals are flushed (torch.compile)."""
    q = reparam.Kumaraswamy(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 0.5]))
    u = StandardUniform.clamp(torch.zeros(1, 2))
    try:
        torch.set_flush_denormal(True)
        z, log_q = q.from_noise_and_log_prob(u)
    finally:
        torch.set_flush_denormal(False)
    assert torch.isfinite(log_q).all(), log_q
    tiny = torch.finfo(torch.float32).tiny
    want = math.log(1 * 3) + (3 - 1) / 3 * math.log1p(-tiny)  # a = 1: log q = log b + …
    assert log_q[0, 0].item() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("y", [-1e-30, -1e-12, -1e-6, -2e-5, -0.1, -0.69, -0.7, -5.0, -50.0])
def test_kumaraswamy_log1mexp_div_matches_mpmath_free_reference(y):
    from reparam.distributions.kumaraswamy import _log1mexp_div

    b = torch.tensor(2.0, dtype=torch.float64)
    got = _log1mexp_div(torch.tensor(2.0 * y, dtype=torch.float64), b).item()
    want = math.log(-math.expm1(y))
    assert got == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("name", UNIFORM_NOISE)
def test_edge_noise_with_flushed_subnormals(name):
    """Kernels that flush subnormals (compiled code, set_flush_denormal) keep log q finite."""
    q = make(name, torch.float32)
    if name == "Weibull":
        q = make(name, torch.float32, concentration=[1.0, 1.0, 3.0])
    u = edge_noise(q, torch.float32)
    try:
        torch.set_flush_denormal(True)
        z, log_q = q.from_noise_and_log_prob(u)
    finally:
        torch.set_flush_denormal(False)
    assert torch.isfinite(log_q).all(), log_q
    assert q.support.check(z).all()
