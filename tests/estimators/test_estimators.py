"""Tests of reparam.estimators: honest gradients, surrogate values, baselines, bad inputs.

Note on the statistical tests: every estimate set is drawn under a fixed seed, so the
tests are deterministic. Tolerances come from standard errors, never hand tuning: a
mean must match the exact gradient within 5 standard errors (two-sided false-failure
rate 6e-7 under a normal approximation), and "pathwise has lower variance" must hold by
a one-sided z-score above 5 on the difference of sample variances, whose standard
errors are estimated from the squared deviations. If a test fails after a change of
seed or of sampling order, increase ``REPEATS``; never widen the tolerances.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch.distributions import Bernoulli

from reparam import (
    LeaveOneOut,
    Normal,
    Pathwise,
    RunningMean,
    ScoreFunction,
    expectation,
)
from reparam.estimators import estimator_names, get_estimator

MU, SIGMA = 0.5, 0.5
NUM_SAMPLES = 64
REPEATS = 1000
DTYPE = torch.float64

FUNCTIONS = {
    "z": lambda z: z,
    "z2": lambda z: z * z,
    "exp": torch.exp,
    "sin": torch.sin,
}


def exact_gradient(name: str, mu: float = MU, sigma: float = SIGMA) -> tuple[float, float]:
    """(∂/∂μ, ∂/∂σ) of E_{N(μ, σ²)}[f(z)] in closed form."""
    if name == "z":  # E[z] = μ
        return 1.0, 0.0
    if name == "z2":  # E[z²] = μ² + σ²
        return 2 * mu, 2 * sigma
    if name == "exp":  # E[e^z] = e^{μ + σ²/2}
        e = math.exp(mu + sigma**2 / 2)
        return e, sigma * e
    if name == "sin":  # E[sin z] = sin μ e^{−σ²/2}
        damp = math.exp(-(sigma**2) / 2)
        return math.cos(mu) * damp, -sigma * math.sin(mu) * damp
    raise KeyError(name)


ESTIMATORS = {
    "pathwise": Pathwise,
    "score": ScoreFunction,
    "score+loo": lambda: ScoreFunction(baseline="loo"),
    "score+running_mean": lambda: ScoreFunction(baseline=RunningMean(decay=0.9)),
    # variance reduction through ε (tests/test_noise.py, tests/test_control_variates.py)
    "pathwise+antithetic": lambda: Pathwise(noise="antithetic"),
    "pathwise+qmc": lambda: Pathwise(noise="qmc"),
    "pathwise+cv-linear": lambda: Pathwise(control_variate="linear"),
    "pathwise+cv-quadratic": lambda: Pathwise(control_variate="quadratic"),
}
#: the estimators whose surrogate value is the plain sample mean of f
PLAIN_VALUE = [name for name in ESTIMATORS if "cv-" not in name]


@pytest.fixture(autouse=True)
def _one_thread():
    # SobolEngine's scrambling runs tiny multi-threaded kernels; on a loaded machine each
    # pays a thread wake-up of milliseconds. One thread gives the same numbers, faster.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def estimates(f_name: str, est_name: str) -> torch.Tensor:
    """REPEATS independent gradient estimates (∂μ, ∂σ), shape (REPEATS, 2); cached.

    One estimator instance serves all repeats, so the running mean learns as in training.
    """
    seed = sorted(FUNCTIONS).index(f_name) * 10 + list(ESTIMATORS).index(est_name)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        est = ESTIMATORS[est_name]()
        mu = torch.tensor(MU, dtype=DTYPE, requires_grad=True)
        sigma = torch.tensor(SIGMA, dtype=DTYPE, requires_grad=True)
        out = []
        for _ in range(REPEATS):
            q = Normal(mu, sigma, validate_args=False)  # validation is tested elsewhere
            value = expectation(FUNCTIONS[f_name], q, NUM_SAMPLES, est)
            out.append(torch.stack(torch.autograd.grad(value, (mu, sigma))))
    return torch.stack(out)


def variance_and_se(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample variance per column and its standard error (from the squared deviations)."""
    sq = (g - g.mean(0)) ** 2
    return g.var(0), sq.std(0) / math.sqrt(g.shape[0])


@pytest.mark.parametrize("est_name", list(ESTIMATORS))
@pytest.mark.parametrize("f_name", list(FUNCTIONS))
def test_mean_gradient_matches_exact(f_name, est_name):
    g = estimates(f_name, est_name)
    mean = g.mean(0)
    se = g.std(0) / math.sqrt(g.shape[0])
    exact = torch.tensor(exact_gradient(f_name), dtype=DTYPE)
    # atol covers the zero-variance case (pathwise ∂μ E[z] is exactly 1 every time).
    assert torch.all((mean - exact).abs() <= 5 * se + 1e-12), (mean, exact, se)


@pytest.mark.parametrize("est_name", ["score", "score+loo", "score+running_mean"])
@pytest.mark.parametrize("f_name", list(FUNCTIONS))
def test_pathwise_has_lower_variance(f_name, est_name):
    v_path, se_path = variance_and_se(estimates(f_name, "pathwise"))
    v_score, se_score = variance_and_se(estimates(f_name, est_name))
    z = (v_score - v_path) / torch.sqrt(se_path**2 + se_score**2)
    assert torch.all(z > 5), (v_path, v_score, z)


def test_pathwise_variance_closed_form_is_recovered():
    # f = z: ∂μ = 1 exactly, ∂σ = mean of ε over N samples, variance 1/N.
    g = estimates("z", "pathwise")
    assert torch.all(g[:, 0] == 1)
    var, se = variance_and_se(g[:, 1:])
    assert abs(var.item() - 1 / NUM_SAMPLES) <= 5 * se.item()


@pytest.mark.parametrize(
    ("est_name", "f_names"),
    [
        ("pathwise+qmc", ("z2", "exp", "sin")),
        ("pathwise+antithetic", ("z", "exp")),
        ("pathwise+cv-quadratic", ("exp", "sin")),
    ],
)
def test_variance_reduction_lowers_gradient_variance(est_name, f_names):
    # z-score above 5 on the difference of the two sample variances, per parameter
    # (f = z under antithetic: ∂σ = mean of ε over pairs ε, −ε, exactly 0).
    for f_name in f_names:
        v_path, se_path = variance_and_se(estimates(f_name, "pathwise"))
        v_est, se_est = variance_and_se(estimates(f_name, est_name))
        keep = v_path > 0  # pathwise ∂μ E[z] has no variance to reduce
        z = (v_path - v_est)[keep] / torch.sqrt(se_path**2 + se_est**2)[keep]
        assert torch.all(z > 5), (f_name, v_path, v_est, z)


def test_quadratic_control_variate_is_exact_on_z2():
    g = estimates("z2", "pathwise+cv-quadratic")
    torch.testing.assert_close(
        g, torch.tensor(exact_gradient("z2"), dtype=DTYPE).expand_as(g), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("est_name", PLAIN_VALUE)
def test_surrogate_value_is_sample_mean(est_name):
    loc = torch.tensor(0.3, requires_grad=True)
    q = Normal(loc, 1.5)
    seen = []

    def f(z):
        seen.append(z.detach().clone())
        return torch.sin(z) + z**2

    value = expectation(f, q, 8, ESTIMATORS[est_name]())
    assert value.shape == ()
    assert value.requires_grad
    assert torch.equal(value.detach(), f(seen[0]).mean(0))


@pytest.mark.parametrize("est_name", list(ESTIMATORS))
def test_batched_q(est_name):
    loc = torch.tensor([0.0, 1.0, -2.0], dtype=DTYPE, requires_grad=True)
    scale = torch.tensor([0.5, 1.0, 2.0], dtype=DTYPE, requires_grad=True)
    q = Normal(loc, scale)
    value = expectation(lambda z: z**2, q, 64, ESTIMATORS[est_name]())
    assert value.shape == (3,)
    g_loc, g_scale = torch.autograd.grad(value.sum(), (loc, scale))
    assert g_loc.shape == g_scale.shape == (3,)
    # f reducing over the batch gives a scalar
    value = expectation(lambda z: (z**2).sum(-1), q, 4, ESTIMATORS[est_name]())
    assert value.shape == ()


def test_batched_q_elementwise_score_is_unbiased():
    # With elementwise=True each batch element is its own problem: R independent copies
    # in one batch give R independent estimates of ∂/∂μ E[z²] = 2μ.
    reps = 4000
    loc = torch.full((reps,), MU, dtype=DTYPE, requires_grad=True)
    scale = torch.full((reps,), SIGMA, dtype=DTYPE, requires_grad=True)
    est = ScoreFunction(baseline="loo", elementwise=True)
    value = expectation(lambda z: z**2, Normal(loc, scale), 8, est)
    g_loc, g_scale = torch.autograd.grad(value.sum(), (loc, scale))
    for g, exact in zip((g_loc, g_scale), exact_gradient("z2"), strict=True):
        assert abs(g.mean().item() - exact) <= 5 * g.std().item() / math.sqrt(reps)


def test_elementwise_needs_batch_shaped_values():
    q = Normal(torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError, match="elementwise"):
        expectation(lambda z: z.sum(-1), q, 4, ScoreFunction(elementwise=True))


def test_vector_valued_f():
    q = Normal(torch.tensor(0.0, requires_grad=True), 1.0)
    value = expectation(lambda z: torch.stack([z, z**2], dim=-1), q, 5, "score")
    assert value.shape == (2,)


def test_registry():
    assert {"pathwise", "score"} <= set(estimator_names())
    assert isinstance(get_estimator("score", baseline="loo").baseline, LeaveOneOut)
    est = Pathwise()
    assert get_estimator(est) is est
    assert ScoreFunction(baseline="loo").label == "score+loo"


# --------------------------------------------------------------------------- bad input
def _q():
    return Normal(torch.tensor(0.0, requires_grad=True), 1.0)


def test_f_not_callable():
    with pytest.raises(TypeError, match="f must be callable"):
        expectation(3.0, _q(), 4)


def test_f_returns_non_tensor():
    with pytest.raises(ValueError, match="f must return a tensor"):
        expectation(lambda z: 1.0, _q(), 4)


def test_f_returns_integer_tensor():
    with pytest.raises(ValueError, match="f must return a floating tensor"):
        expectation(lambda z: (z > 0).long(), _q(), 4, "score")


@pytest.mark.parametrize("est_name", ["pathwise", "score"])
def test_f_returns_wrong_shape(est_name):
    with pytest.raises(ValueError, match=r"f must return.*\(4,\).*shape \(\)"):
        expectation(lambda z: z.sum(), _q(), 4, est_name)
    with pytest.raises(ValueError, match=r"num_samples=4.*shape \(1, 4\)"):
        expectation(lambda z: z[None], _q(), 4, est_name)


@pytest.mark.parametrize("n", [0, -1, 2.0, True, "3"])
def test_bad_num_samples(n):
    with pytest.raises(ValueError, match="num_samples"):
        expectation(lambda z: z, _q(), n)


def test_unknown_estimator_lists_names():
    with pytest.raises(ValueError, match="pathwise.*score"):
        expectation(lambda z: z, _q(), 4, "reinforce")


def test_unknown_baseline():
    with pytest.raises(ValueError, match="baseline"):
        expectation(lambda z: z, _q(), 4, "score", baseline="mean")


def test_baseline_with_pathwise():
    with pytest.raises(ValueError, match="baseline"):
        expectation(lambda z: z, _q(), 4, "pathwise", baseline="loo")


def test_q_not_a_distribution():
    with pytest.raises(TypeError, match="q must be a torch.distributions.Distribution"):
        expectation(lambda z: z, object(), 4)


def test_pathwise_without_rsample():
    q = Bernoulli(probs=torch.tensor(0.3, requires_grad=True))
    with pytest.raises(ValueError, match="rsample"):
        expectation(lambda z: z, q, 4, "pathwise")
