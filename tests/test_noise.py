"""Tests of reparam.noise: every strategy is unbiased, keeps the base marginal, reduces variance.

Statistical tests (seeded by conftest; tolerances from standard errors, never tuned):

- unbiasedness: R independent replications of the n-sample mean of f(z); their mean must
  match the exact E[f] (closed-form moments) within 5 standard errors of that mean
  (two-sided false-failure rate 6e-7 under a normal approximation, by the CLT over R);
- marginals: the draws at a fixed sample position across the R independent replications
  are i.i.d. from that position's marginal, so a Kolmogorov–Smirnov test against the base
  applies exactly; it must not reject at α = 1e-6 (about 5σ);
- variance reduction: each variance is the sample variance over R replications, with its
  standard error estimated from the squared deviations (the delta method for the variance
  of a sample variance, Var[s²] ≈ Var[(x − x̄)²]/R). "The strategy reduces the variance by
  at least a factor k" is asserted with both variances pushed 5 standard errors towards
  each other: (v_mc − 5 se_mc) > k (v_s + 5 se_s). So the claim holds even at the edges
  of both 5-SE bands; k is the factor claimed, not a tuned tolerance.
"""

from __future__ import annotations

import math

import pytest
import scipy.stats as st
import torch

import reparam
from reparam import (
    DiagonalNormal,
    Exponential,
    Independent,
    Kumaraswamy,
    MultivariateNormal,
    Normal,
    StandardNormal,
    StandardUniform,
    TransformedDistribution,
)
from reparam.noise import (
    QMC_MAX_DIM,
    Antithetic,
    MonteCarlo,
    NoiseStrategy,
    SobolQMC,
    draw_noise,
    get_noise,
    noise_names,
    register_noise,
)

DTYPE = torch.float64
STRATEGIES = ("mc", "antithetic", "qmc")
N = 16  # samples per replication (even, a power of 2)
R = 400  # independent replications
KS_ALPHA = 1e-6


@pytest.fixture(autouse=True)
def _one_thread():
    # SobolEngine's scrambling runs tiny multi-threaded kernels; on a loaded machine each
    # pays a thread wake-up of milliseconds. One thread gives the same numbers, faster.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=DTYPE)


FAMILIES = {
    "Normal": lambda: Normal(_t([0.3, -1.0]), _t([0.5, 2.0])),
    "DiagonalNormal": lambda: DiagonalNormal(_t([0.0, 1.0, -0.5]), _t([1.0, 0.3, 2.0])),
    "Kumaraswamy": lambda: Kumaraswamy(_t([0.7, 2.0]), _t([1.5, 3.0])),
    "Exponential": lambda: Exponential(_t([0.5, 2.0])),
    "MultivariateNormal": lambda: MultivariateNormal(
        _t([0.5, -0.2, 1.0]),
        scale_tril=_t([[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [-0.3, 0.2, 1.5]]),
    ),
}
BASE_CDF = {"normal": st.norm.cdf, "uniform": st.uniform.cdf}


def _replications(q, strategy: str, f, n: int = N, reps: int = R) -> torch.Tensor:
    """``reps`` independent n-sample means of f(z), shape (reps, *batch, *event)."""
    return torch.stack([f(q.rsample((n,), noise=strategy)).mean(0) for _ in range(reps)])


def _variance_and_se(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    sq = (x - x.mean(0)) ** 2
    return x.var(0), sq.std(0) / math.sqrt(x.shape[0])


def _assert_reduces(v_mc, se_mc, v_s, se_s, factor: float) -> None:
    assert torch.all(v_mc - 5 * se_mc > factor * (v_s + 5 * se_s)), (v_mc, se_mc, v_s, se_s)


# --------------------------------------------------------------------------- unbiased
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_unbiased_first_and_second_moment(family, strategy):
    q = FAMILIES[family]()
    mean, var = q.mean.detach(), q.variance.detach()
    for f, exact in ((lambda z: z, mean), (lambda z: z * z, var + mean**2)):
        est = _replications(q, strategy, f)
        m = est.mean(0)
        se = est.std(0) / math.sqrt(R)
        # atol: antithetic pairs can make an estimate exact up to rounding (variance 0)
        assert torch.all((m - exact).abs() <= 5 * se + 1e-12 * (1 + exact.abs())), (m, exact)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_coordinate_has_the_base_marginal(family, strategy):
    q = FAMILIES[family]()
    eps = torch.stack([draw_noise(q, (N,), strategy) for _ in range(2 * R)])
    cdf = BASE_CDF[q.noise.name]
    positions = (0, N // 2 - 1, N // 2, N - 1)  # both halves of the antithetic pairs
    for i in positions:
        for values in eps[:, i].reshape(2 * R, -1).T:
            p = st.kstest(values.numpy(), cdf).pvalue
            assert p > KS_ALPHA, (family, strategy, i, p)


def test_rsample_and_log_prob_with_noise_matches_log_prob():
    for family, make in FAMILIES.items():
        q = make()
        for strategy in STRATEGIES:
            z, log_q = q.rsample_and_log_prob((N,), noise=strategy)
            torch.testing.assert_close(log_q, q.log_prob(z), msg=f"{family} {strategy}")
            assert q.sample_noise((N,), noise=strategy).shape == q.noise_shape((N,))


# --------------------------------------------------------------------------- structure
def test_antithetic_pairs_are_reflections():
    q = Normal(torch.zeros(3), 1.0)
    eps = draw_noise(q, (6, 2), "antithetic")
    assert eps.shape == (6, 2, 3)
    assert torch.equal(eps[3:], -eps[:3])
    u = draw_noise(Kumaraswamy(2.0, 3.0), (8,), "antithetic")
    torch.testing.assert_close(u[4:], 1 - u[:4])


def test_antithetic_is_exact_for_odd_functions_of_normal_noise():
    q = Normal(_t(1.5), _t(2.0))
    est = _replications(q, "antithetic", lambda z: z - 1.5, reps=20)
    assert est.abs().max() < 1e-14


@pytest.mark.parametrize("n", [16, 64])
def test_qmc_points_are_stratified(n):
    # The first 2^m scrambled Sobol' points put exactly one point in each [k/n, (k+1)/n)
    # of every coordinate (a (0, m, 1)-net in each one-dimensional projection).
    q = Kumaraswamy(torch.ones(5, dtype=DTYPE), 1.0)  # uniform noise: ε = u
    u = draw_noise(q, (n,), "qmc")
    cells = (u * n).floor().long().sort(0).values
    assert torch.equal(cells, torch.arange(n)[:, None].expand(n, 5))


def test_qmc_is_reproducible_under_manual_seed_and_fresh_per_call():
    q = Normal(torch.zeros(4), 1.0)
    torch.manual_seed(7)
    a = draw_noise(q, (8,), "qmc")
    b = draw_noise(q, (8,), "qmc")
    torch.manual_seed(7)
    assert torch.equal(draw_noise(q, (8,), "qmc"), a)
    assert not torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_qmc_stays_finite_and_inside_the_base_support(dtype):
    normal = Normal(torch.zeros(64, dtype=dtype), 1.0)
    eps = draw_noise(normal, (1024,), "qmc")
    assert eps.dtype == dtype
    assert torch.isfinite(eps).all()
    uniform = Exponential(torch.ones(64, dtype=dtype))
    u = draw_noise(uniform, (1024,), "qmc")
    assert u.dtype == dtype
    assert bool((u > 0).all())
    assert bool((u < 1).all())
    assert torch.isfinite(uniform.rsample((1024,), noise="qmc")).all()


def test_qmc_multi_dimensional_sample_shape_and_batch():
    q = DiagonalNormal(torch.zeros(2, 3), torch.ones(2, 3))
    eps = draw_noise(q, (4, 8), "qmc")
    assert eps.shape == (4, 8, 2, 3)
    assert torch.isfinite(eps).all()
    assert draw_noise(q, (0,), "qmc").shape == (0, 2, 3)


def test_wrappers_and_torch_distributions():
    # noise passes through Independent and TransformedDistribution to the base
    from torch.distributions.transforms import ExpTransform

    for q in (
        Independent(Normal(torch.zeros(3), 1.0), 1),
        TransformedDistribution(Normal(torch.zeros(3), 1.0), ExpTransform()),
    ):
        for strategy in STRATEGIES:
            z = q.rsample((8,), noise=strategy)
            assert z.shape == (8, 3)
            assert torch.isfinite(z).all()


def test_registry_and_custom_strategy():
    assert set(STRATEGIES) <= set(noise_names())
    assert isinstance(get_noise("mc"), MonteCarlo)
    assert isinstance(get_noise("antithetic"), Antithetic)
    assert isinstance(get_noise("qmc"), SobolQMC)
    strategy = SobolQMC()
    assert get_noise(strategy) is strategy

    @register_noise
    class Stratified(NoiseStrategy):
        """One uniform point per stratum of the first sample dimension (1-D bases)."""

        name = "test-stratified"

        def draw(self, q, sample_shape):
            n = sample_shape[0]
            u = (torch.arange(n, dtype=DTYPE) + torch.rand(n, dtype=DTYPE)) / n
            return q.noise.icdf(u.reshape(n, *([1] * len(q.batch_shape)))).expand(
                q.noise_shape(sample_shape)
            )

    try:
        q = Normal(_t(0.0), _t(1.0))
        assert q.rsample((10,), noise="test-stratified").shape == (10,)
        assert "test-stratified" in noise_names()
    finally:
        from reparam import noise as noise_module

        del noise_module._STRATEGIES["test-stratified"]


def test_every_registered_family_takes_noise_strategies():
    from tests.distributions.registry import EXAMPLES

    for ex in EXAMPLES:
        ps = {k: torch.tensor(v, dtype=DTYPE) for k, v in ex.params.items()}
        q = ex.make(**ps, validate_args=True)
        opaque = q.noise.support.is_discrete
        for strategy in ("antithetic", "qmc"):
            if opaque:
                with pytest.raises(ValueError, match=strategy):
                    q.rsample((4,), noise=strategy)
                continue
            z = q.rsample((4,), noise=strategy)
            assert z.shape == (4, *q.batch_shape, *q.event_shape), ex.name
            assert torch.isfinite(z).all(), (ex.name, strategy)


# --------------------------------------------------------------------------- variance
def test_qmc_reduces_variance_of_sin_by_ten_at_n64():
    # E[sin z], z ~ N(0.5, 1): a smooth integrand; scrambled Sobol' at n = 64 gives a
    # variance O(n^-3) against O(n^-1): at least 10× is claimed (measured: ~10^3).
    q = Normal(_t(0.5), _t(1.0))
    v_mc, se_mc = _variance_and_se(_replications(q, "mc", torch.sin, n=64))
    v_q, se_q = _variance_and_se(_replications(q, "qmc", torch.sin, n=64))
    _assert_reduces(v_mc, se_mc, v_q, se_q, 10.0)


@pytest.mark.parametrize(
    ("family", "f", "strategy", "factor"),
    [
        # monotone in ε (tanh; z and 1 − e^−z for the uniform-noise families): antithetic
        # pairs are negatively correlated, so at least no increase (factor 1) is claimed
        ("Normal", torch.tanh, "antithetic", 1.0),
        ("Exponential", lambda z: -torch.expm1(-z), "antithetic", 1.0),
        ("Kumaraswamy", lambda z: z, "antithetic", 1.0),
        ("Normal", torch.tanh, "qmc", 2.0),
        ("Exponential", lambda z: -torch.expm1(-z), "qmc", 2.0),
        ("Kumaraswamy", lambda z: z, "qmc", 2.0),
        ("DiagonalNormal", lambda z: torch.sin(z), "qmc", 2.0),
        ("MultivariateNormal", lambda z: torch.sin(z), "qmc", 2.0),
    ],
)
def test_strategies_reduce_variance_on_smooth_integrands(family, f, strategy, factor):
    q = FAMILIES[family]()
    v_mc, se_mc = _variance_and_se(_replications(q, "mc", f))
    v_s, se_s = _variance_and_se(_replications(q, strategy, f))
    _assert_reduces(v_mc, se_mc, v_s, se_s, factor)


# --------------------------------------------------------------------------- bad input
def test_unknown_noise_name():
    q = Normal(0.0, 1.0)
    for call in (
        lambda: draw_noise(q, (4,), "sobol"),
        lambda: q.rsample((4,), noise="sobol"),
        lambda: q.sample_noise((4,), noise="sobol"),
        lambda: q.rsample_and_log_prob((4,), noise="sobol"),
    ):
        with pytest.raises(ValueError, match=r"unknown noise 'sobol'.*antithetic, mc, qmc"):
            call()


@pytest.mark.parametrize("shape", [(3,), (5, 2), ()])
def test_antithetic_needs_an_even_first_sample_dimension(shape):
    with pytest.raises(ValueError, match=r"antithetic.*even.*sample_shape="):
        draw_noise(Normal(0.0, 1.0), shape, "antithetic")


def test_qmc_dimension_too_large():
    q = Normal(torch.zeros(QMC_MAX_DIM + 1), 1.0)
    with pytest.raises(ValueError, match=rf"qmc.*at most {QMC_MAX_DIM}.*d = {QMC_MAX_DIM + 1}"):
        draw_noise(q, (2,), "qmc")


@pytest.mark.parametrize("strategy", ["antithetic", "qmc"])
def test_opaque_seed_noise_is_refused(strategy):
    q = reparam.WrappedRSample(torch.distributions.Gamma(torch.ones(2), torch.ones(2)))
    assert isinstance(q, reparam.WrappedRSample)
    with pytest.raises(ValueError, match=rf"noise='{strategy}'.*WrappedRSample.*SeedNoise"):
        q.rsample((4,), noise=strategy)
    assert q.rsample((4,), noise="mc").shape == (4, 2)


def test_custom_strategy_with_wrong_shape():
    class Broken(NoiseStrategy):
        name = "broken"

        def draw(self, q, sample_shape):
            return torch.zeros(3)

    with pytest.raises(ValueError, match=r"'broken' returned \(3,\).*\(4, 2\)"):
        draw_noise(Normal(torch.zeros(2), 1.0), (4,), Broken())


def test_bases_have_what_the_strategies_use():
    for base in (StandardNormal(), StandardUniform()):
        u = torch.tensor([2.0**-53, 0.25, 0.5, 1 - 2.0**-53], dtype=DTYPE)
        eps = base.icdf(u)
        assert torch.isfinite(eps).all()
        torch.testing.assert_close(base.reflect(base.reflect(eps)), eps)


# --------------------------------------------------------------------------- scrambled Sobol'
@pytest.mark.parametrize("n", [16, 64, 1024])
def test_scrambled_sobol_keeps_the_net_stratification(n):
    """Each 1-D projection has one point per 1/n cell; the first two coordinates form a
    (0, m, 2)-net for n = 4^k: one point in every (1/√n × 1/√n) square."""
    from reparam.noise import scrambled_sobol

    u = scrambled_sobol(n, 5)
    assert u.shape == (n, 5)
    assert u.dtype == torch.float64
    for j in range(5):
        assert torch.equal((u[:, j] * n).floor().sort().values, torch.arange(n).double())
    side = math.isqrt(n)
    if side * side == n:
        cells = (u[:, 0] * side).floor() * side + (u[:, 1] * side).floor()
        assert torch.equal(cells.sort().values, torch.arange(n).double())


def test_scrambled_sobol_is_uniform_and_reproducible():
    from reparam.noise import scrambled_sobol

    torch.manual_seed(3)
    a = scrambled_sobol(16, 3)
    torch.manual_seed(3)
    assert torch.equal(a, scrambled_sobol(16, 3))
    draws = torch.stack([scrambled_sobol(16, 3)[5] for _ in range(2000)])  # one point
    for j in range(3):
        assert st.kstest(draws[:, j].numpy(), "uniform").pvalue > 1e-4


def test_noise_imports_no_distribution_module():
    """noise sits below the distributions: it imports none of reparam (a Protocol stands in)."""
    import ast
    import pathlib

    import reparam.noise

    tree = ast.parse(pathlib.Path(reparam.noise.__file__).read_text())
    modules = [
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.level or "reparam" in (node.module or ""))
    ]
    assert modules == []


def test_a_strategy_needs_only_the_has_noise_protocol():
    """Any object with ``noise``, ``noise_shape`` and ``sample_noise`` can be drawn for."""

    class Bare:
        noise = reparam.distributions.StandardNormal()

        def noise_shape(self, sample_shape=()):
            return torch.Size(sample_shape) + (3,)

        def sample_noise(self, sample_shape=(), *, noise="mc"):
            return torch.randn(self.noise_shape(sample_shape), dtype=torch.float64)

    for name in ("mc", "antithetic", "qmc"):
        eps = draw_noise(Bare(), (8,), name)
        assert eps.shape == (8, 3)
        assert eps.dtype == torch.float64
