"""Objectives against closed forms on a conjugate Gaussian model.

Model (per data point, D independent latent dimensions):
    p(z) = N(0, 1),  p(x | z) = N(x; a z, s²)   (a = 1 unless a decoder parameter is needed)
so that
    p(z | x) = N(x / (1 + s²), s² / (1 + s²)),     log p(x) = log N(x; 0, 1 + s²),
and for q = N(m, v):
    E_q[log p(x | z)] = −½ log(2π s²) − ((x − m)² + v) / (2 s²),
    KL(q ‖ p) = ½ (v + m² − 1 − log v),
    ∂ELBO/∂m = (x − m)/s² − m,   ∂ELBO/∂σ = −σ/s² − σ + 1/σ   (σ = √v).

Independent replicates of one estimator are the rows of a batch (q's batch dimension):
each row has its own parameters, so one backward pass gives R independent gradient
estimates. Every statistical check allows 5 standard errors.
"""

import math

import pytest
import torch

import reparam
from reparam.objectives import OBJECTIVES, BetaSchedule, dreg, elbo, get_objective, iwae

S2 = 0.5  # s², the likelihood variance
X = torch.tensor([0.8, -1.5], dtype=torch.float64)  # one data point, D = 2
D = X.numel()


def log_likelihood_fn(x, a=None):
    s = math.sqrt(S2)

    def ll(z):
        mean = z if a is None else a * z
        return torch.distributions.Normal(mean, s).log_prob(x).sum(-1)

    return ll


def prior_for(dtype=torch.float64):
    return reparam.DiagonalNormal(torch.zeros(D, dtype=dtype), torch.ones(D, dtype=dtype))


def posterior_params():
    return X / (1 + S2), torch.full_like(X, math.sqrt(S2 / (1 + S2)))


def exact_elbo(m, sigma):
    v = sigma**2
    expected_ll = -0.5 * math.log(2 * math.pi * S2) - ((X - m) ** 2 + v) / (2 * S2)
    kl = 0.5 * (v + m**2 - 1 - torch.log(v))
    return (expected_ll - kl).sum()


def exact_kl(m, sigma):
    v = sigma**2
    return (0.5 * (v + m**2 - 1 - torch.log(v))).sum()


def exact_log_px():
    return torch.distributions.Normal(0.0, math.sqrt(1 + S2)).log_prob(X).sum()


def replicated_q(m, sigma, replicates):
    """q with R identical rows whose parameters are leaves (one gradient per row)."""
    mu = m.expand(replicates, D).clone().requires_grad_()
    sd = sigma.expand(replicates, D).clone().requires_grad_()
    return mu, sd, reparam.DiagonalNormal(mu, sd)


def assert_unbiased(samples, exact, what):
    """mean(samples) within 5 standard errors of ``exact`` (samples: (R, ...))."""
    samples = samples.detach()
    mean = samples.mean(0)
    se = samples.std(0) / math.sqrt(samples.shape[0])
    exact = torch.as_tensor(exact, dtype=samples.dtype).expand_as(mean)
    bad = (mean - exact).abs() > 5 * se + 1e-12
    assert not bad.any(), f"{what}: mean {mean} vs exact {exact}, SE {se}"


# q: a fixed Gaussian, not the posterior (posterior mean ≈ (0.53, −1.0), sd ≈ 0.58)
Q_M = torch.tensor([0.2, -0.5], dtype=torch.float64)
Q_SIGMA = torch.tensor([0.9, 0.7], dtype=torch.float64)


# --------------------------------------------------------------------------- ELBO
@pytest.mark.parametrize(
    ("kl", "stl", "num_samples"),
    [("mc", False, 1), ("analytic", False, 1), ("auto", False, 3), ("mc", True, 2)],
)
def test_elbo_value_and_gradient_unbiased(kl, stl, num_samples):
    R = 4000
    mu, sd, q = replicated_q(Q_M, Q_SIGMA, R)
    bound = elbo(log_likelihood_fn(X), q, prior_for(), num_samples=num_samples, kl=kl, stl=stl)
    assert bound.shape == (R,)
    bound.sum().backward()
    m, sigma = Q_M.clone().requires_grad_(), Q_SIGMA.clone().requires_grad_()
    exact = exact_elbo(m, sigma)
    exact.backward()
    # the hand derivatives, to be sure the closed form is the one we mean
    torch.testing.assert_close(m.grad, (X - Q_M) / S2 - Q_M)
    torch.testing.assert_close(sigma.grad, -Q_SIGMA / S2 - Q_SIGMA + 1 / Q_SIGMA)
    assert_unbiased(bound, exact.detach(), "ELBO value")
    assert_unbiased(mu.grad, m.grad, "∂ELBO/∂μ")
    assert_unbiased(sd.grad, sigma.grad, "∂ELBO/∂σ")


def test_analytic_and_mc_kl_agree_in_expectation():
    R = 4000
    _, _, q = replicated_q(Q_M, Q_SIGMA, R)
    ll, prior = log_likelihood_fn(X), prior_for()
    torch.manual_seed(3)
    mc = elbo(ll, q, prior, kl="mc")
    torch.manual_seed(3)
    analytic = elbo(ll, q, prior, kl="analytic")
    torch.manual_seed(3)
    auto = elbo(ll, q, prior)  # a KL is registered for (DiagonalNormal, DiagonalNormal)
    torch.testing.assert_close(auto, analytic, rtol=0, atol=0)
    # same z, so the difference is KL_analytic − (log q(z) − log p(z)), of mean zero
    diff = (mc - analytic).detach()
    assert diff.std() > 0
    assert_unbiased(diff, 0.0, "MC KL − analytic KL")
    # the analytic KL is the hand-computed one: ELBO(β=0) − ELBO(β=1) = KL, same z
    torch.manual_seed(4)
    b0 = elbo(ll, q, prior, beta=0.0, kl="analytic")
    torch.manual_seed(4)
    b1 = elbo(ll, q, prior, beta=1.0, kl="analytic")
    torch.testing.assert_close((b0 - b1).detach(), exact_kl(Q_M, Q_SIGMA).expand(R))


def test_auto_kl_falls_back_to_mc_when_none_is_registered():
    _, _, q = replicated_q(Q_M, Q_SIGMA, 5)
    laplace = reparam.Independent(reparam.Laplace(torch.zeros(D, dtype=torch.float64), 1.0), 1)
    ll = log_likelihood_fn(X)
    torch.manual_seed(1)
    auto = elbo(ll, q, laplace, num_samples=3)
    torch.manual_seed(1)
    mc = elbo(ll, q, laplace, num_samples=3, kl="mc")
    torch.testing.assert_close(auto, mc, rtol=0, atol=0)
    with pytest.raises(ValueError, match="no KL divergence is registered"):
        elbo(ll, q, laplace, kl="analytic")


def test_beta_weights_the_kl_term():
    _, _, q = replicated_q(Q_M, Q_SIGMA, 3)
    ll, prior = log_likelihood_fn(X), prior_for()
    values = {}
    for beta in (0.0, 1.0, 2.5):
        torch.manual_seed(2)
        values[beta] = elbo(ll, q, prior, beta=beta, kl="mc", num_samples=4).detach()
    # linear in β with the same samples: L(β) = L(0) − β KL̂
    kl_hat = values[0.0] - values[1.0]
    torch.testing.assert_close(values[2.5], values[0.0] - 2.5 * kl_hat)


def test_log_joint_without_prior_matches_the_prior_form():
    _, _, q = replicated_q(Q_M, Q_SIGMA, 4)
    ll, prior = log_likelihood_fn(X), prior_for()

    def log_joint(z):
        return ll(z) + prior.log_prob(z)

    torch.manual_seed(5)
    with_prior = elbo(ll, q, prior, kl="mc", num_samples=2)
    torch.manual_seed(5)
    joint = elbo(log_joint, q, num_samples=2)
    torch.testing.assert_close(joint, with_prior)


@pytest.mark.parametrize("use_prior", [True, False])
def test_stl_gradient_is_zero_at_the_exact_posterior(use_prior):
    R = 64
    m, sigma = posterior_params()
    mu, sd, q = replicated_q(m, sigma, R)
    ll, prior = log_likelihood_fn(X), prior_for()
    if use_prior:
        bound = elbo(ll, q, prior, stl=True)
    else:
        bound = elbo(lambda z: ll(z) + prior.log_prob(z), q, stl=True)
    bound.sum().backward()
    # every sample's gradient (one row each) vanishes, and the bound is log p(x)
    torch.testing.assert_close(mu.grad, torch.zeros_like(mu), rtol=0, atol=1e-12)
    torch.testing.assert_close(sd.grad, torch.zeros_like(sd), rtol=0, atol=1e-12)
    torch.testing.assert_close(bound.detach(), exact_log_px().expand(R))
    # the ordinary MC estimator's gradient does not vanish sample by sample
    mu2, sd2, q2 = replicated_q(m, sigma, R)
    elbo(ll, q2, prior, kl="mc").sum().backward()
    assert sd2.grad.abs().max() > 1e-3


# --------------------------------------------------------------------------- IWAE
@pytest.mark.parametrize("use_prior", [True, False])
def test_iwae_with_k1_equals_the_mc_elbo_from_the_same_samples(use_prior):
    ll, prior = log_likelihood_fn(X), prior_for()
    if not use_prior:
        ll, prior = (lambda z: log_likelihood_fn(X)(z) + prior_for().log_prob(z)), None
    mu, sd, q = replicated_q(Q_M, Q_SIGMA, 7)
    torch.manual_seed(11)
    a = iwae(ll, q, prior, k=1)
    a.sum().backward()
    grads_a = (mu.grad.clone(), sd.grad.clone())
    mu.grad, sd.grad = None, None
    torch.manual_seed(11)
    b = elbo(ll, q, prior, num_samples=1, kl="mc")
    b.sum().backward()
    assert torch.equal(a, b)
    torch.testing.assert_close(grads_a, (mu.grad, sd.grad), rtol=0, atol=0)


def test_iwae_increases_with_k_towards_log_px():
    R = 8000
    _, _, q = replicated_q(Q_M, Q_SIGMA, R)
    ll, prior = log_likelihood_fn(X), prior_for()
    log_px = exact_log_px().item()
    ks = (1, 4, 16, 64)
    estimates = {k: iwae(ll, q, prior, k=k).detach() for k in ks}
    means = {k: v.mean().item() for k, v in estimates.items()}
    ses = {k: v.std().item() / math.sqrt(R) for k, v in estimates.items()}
    # k = 1 is the ELBO, known in closed form
    assert abs(means[1] - exact_elbo(Q_M, Q_SIGMA).item()) < 5 * ses[1]
    for small, large in zip(ks[:-1], ks[1:], strict=True):
        # strictly larger, beyond MC error
        assert means[large] - means[small] > 5 * math.hypot(ses[small], ses[large])
    for k in ks:
        assert means[k] < log_px + 5 * ses[k]
    # far out the bias (≈ χ²(p(z|x) ‖ q) / 2k) is below the MC error: the mean is log p(x)
    R_big = 300
    _, _, q_big = replicated_q(Q_M, Q_SIGMA, R_big)
    big = iwae(ll, q_big, prior, k=4096).detach()
    se_big = big.std().item() / math.sqrt(R_big)
    assert abs(big.mean().item() - log_px) < 5 * se_big
    assert log_px - means[1] > 20 * se_big  # and the ELBO is clearly below it


# --------------------------------------------------------------------------- DReG
def _gradients(objective, k, seed, R):
    """Encoder (μ, σ) and decoder (a) gradients of R replicates, and the bound."""
    torch.manual_seed(seed)
    mu, sd, q = replicated_q(Q_M, Q_SIGMA, R)
    a = torch.ones(R, 1, dtype=torch.float64, requires_grad=True)  # decoder weight per row
    bound = objective(log_likelihood_fn(X, a), q, prior_for(), k=k)
    bound.sum().backward()
    return bound.detach(), {"mu": mu.grad, "sigma": sd.grad, "a": a.grad[:, 0]}


@pytest.mark.parametrize("k", [4, 16])
def test_dreg_gradient_is_unbiased_against_iwae(k):
    R = 3000
    value_d, g_d = _gradients(dreg, k, seed=21, R=R)
    value_i, g_i = _gradients(iwae, k, seed=21, R=R)  # same ε: paired differences
    torch.testing.assert_close(value_d, value_i)  # the value is the IWAE bound
    # decoder: DReG keeps the IWAE gradient Σ w̃_i ∇θ log p(x, z_i), sample by sample
    torch.testing.assert_close(g_d["a"], g_i["a"])
    for name in ("mu", "sigma", "a"):
        diff = g_d[name] - g_i[name]
        assert_unbiased(diff, 0.0, f"DReG − IWAE gradient for {name} (k={k}), paired")
    # and unpaired: DReG from independent draws against the IWAE gradient's mean
    _, g_other = _gradients(dreg, k, seed=23, R=R)
    for name in ("mu", "sigma", "a"):
        se = torch.hypot(g_other[name].std(0), g_i[name].std(0)) / math.sqrt(R)
        gap = (g_other[name].mean(0) - g_i[name].mean(0)).abs()
        assert (gap < 5 * se).all(), f"{name}: |Δ mean| {gap} vs SE {se}"
    assert (g_d["mu"] - g_i["mu"]).abs().max() > 1e-3  # the estimators do differ


def test_dreg_has_lower_encoder_variance_at_k16():
    R = 3000
    _, g_d = _gradients(dreg, 16, seed=22, R=R)
    _, g_i = _gradients(iwae, 16, seed=22, R=R)
    for name in ("mu", "sigma"):
        # equal means (tested above), so compare second moments, paired: E[g_d² − g_i²] < 0
        d = g_d[name] ** 2 - g_i[name] ** 2
        se = d.std(0) / math.sqrt(R)
        assert (d.mean(0) + 5 * se < 0).all(), name
        ratio = g_d[name].var(0) / g_i[name].var(0)
        print(f"k=16 Var[DReG]/Var[IWAE] for {name}: {ratio.tolist()}")


# --------------------------------------------------------------------------- noise, dtype
@pytest.mark.parametrize("noise", ["qmc", "antithetic"])
@pytest.mark.parametrize("name", ["elbo", "iwae", "dreg"])
def test_noise_strategies_are_accepted_and_unbiased(noise, name):
    R = 500
    _, _, q = replicated_q(Q_M, Q_SIGMA, R)
    fn = get_objective(name)
    count = {"num_samples": 4} if name == "elbo" else {"k": 4}
    kl = {"kl": "mc"} if name == "elbo" else {}
    bound = fn(log_likelihood_fn(X), q, prior_for(), noise=noise, **count, **kl).detach()
    assert bound.shape == (R,)
    assert torch.isfinite(bound).all()
    if name == "elbo":
        assert_unbiased(bound, exact_elbo(Q_M, Q_SIGMA), f"ELBO with noise={noise}")


def test_multi_dim_batch_float32_and_torch_distributions():
    loc = torch.zeros(2, 3, 4, requires_grad=True)
    q = torch.distributions.Independent(torch.distributions.Normal(loc, 1.0), 1)
    prior = torch.distributions.Independent(
        torch.distributions.Normal(torch.zeros(4), torch.ones(4)), 1
    )
    x = torch.randn(2, 3, 4)

    def ll(z):
        return torch.distributions.Normal(z, 1.0).log_prob(x).sum(-1)

    for name, kwargs in [("elbo", {"num_samples": 2}), ("iwae", {"k": 3}), ("dreg", {"k": 3})]:
        loc.grad = None
        bound = OBJECTIVES[name](ll, q, prior, **kwargs)
        assert bound.shape == (2, 3)
        assert bound.dtype == torch.float32
        bound.sum().backward()
        assert torch.isfinite(loc.grad).all()
    assert elbo(ll, q, prior, num_samples=4, noise="qmc").shape == (2, 3)


# --------------------------------------------------------------------------- β schedule
def test_beta_schedule_values():
    schedule = BetaSchedule(beta=2.0, warmup_steps=10)
    assert [schedule(t) for t in (0, 1, 5, 10, 11, 1000)] == [0.0, 0.2, 1.0, 2.0, 2.0, 2.0]
    assert BetaSchedule()(0) == 1.0
    assert BetaSchedule(beta=0.5)(123) == 0.5
    assert BetaSchedule(beta=4.0, warmup_steps=3)(2) == pytest.approx(8.0 / 3)
    assert schedule == BetaSchedule(2.0, 10)  # a pure function of its two numbers


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": -1.0}, "beta"),
        ({"beta": float("nan")}, "beta"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"warmup_steps": 2.5}, "warmup_steps"),
    ],
)
def test_beta_schedule_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BetaSchedule(**kwargs)


def test_beta_schedule_rejects_negative_step():
    with pytest.raises(ValueError, match="step"):
        BetaSchedule(1.0, 5)(-1)


# --------------------------------------------------------------------------- bad input
def _setup():
    _, _, q = replicated_q(Q_M, Q_SIGMA, 3)
    return log_likelihood_fn(X), q, prior_for()


@pytest.mark.parametrize("fn", [iwae, dreg])
@pytest.mark.parametrize("k", [0, -2, 1.5, True])
def test_k_below_one_is_rejected(fn, k):
    ll, q, prior = _setup()
    with pytest.raises(ValueError, match=r"k must be an int >= 1"):
        fn(ll, q, prior, k=k)


def test_bad_num_samples_beta_and_modes_are_rejected():
    ll, q, prior = _setup()
    with pytest.raises(ValueError, match="num_samples"):
        elbo(ll, q, prior, num_samples=0)
    with pytest.raises(ValueError, match="beta"):
        elbo(ll, q, prior, beta=-0.1)
    with pytest.raises(ValueError, match=r"unknown kl mode 'exact'.*auto, analytic, mc"):
        elbo(ll, q, prior, kl="exact")
    with pytest.raises(ValueError, match="stl"):
        elbo(ll, q, prior, kl="analytic", stl=True)
    with pytest.raises(ValueError, match="needs a prior"):
        elbo(ll, q, kl="analytic")
    with pytest.raises(ValueError, match="needs a prior"):
        elbo(ll, q, beta=0.5)
    with pytest.raises(ValueError, match="antithetic"):
        elbo(ll, q, prior, num_samples=3, noise="antithetic")
    with pytest.raises(ValueError, match="sobol-ish"):
        iwae(ll, q, prior, k=2, noise="sobol-ish")


def test_unknown_objective_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown objective 'vae'; valid: elbo, iwae, dreg"):
        get_objective("vae")
    assert get_objective("dreg") is dreg
    assert set(OBJECTIVES) == {"elbo", "iwae", "dreg"}


@pytest.mark.parametrize("name", ["elbo", "iwae", "dreg"])
def test_log_likelihood_of_the_wrong_shape_names_the_expected_shape(name):
    ll, q, prior = _setup()
    fn = get_objective(name)
    count = {"num_samples": 5} if name == "elbo" else {"k": 5}

    def summed(z):  # forgot to keep the batch dimension
        return ll(z).sum(-1)

    with pytest.raises(ValueError, match=r"log_likelihood must return shape .* = \(5, 3\)"):
        fn(summed, q, prior, **count)

    def not_summed(z):  # forgot to sum over the event dimension
        return torch.distributions.Normal(z, 1.0).log_prob(X)

    with pytest.raises(ValueError, match=r"\(5, 3\).*got shape \(5, 3, 2\)"):
        fn(not_summed, q, prior, **count)


def test_mismatched_prior_and_non_reparameterized_q_are_rejected():
    ll, q, _ = _setup()
    wrong_event = reparam.DiagonalNormal(torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError, match=r"prior.event_shape must equal q.event_shape = \(2,\)"):
        elbo(ll, q, wrong_event)
    wrong_batch = reparam.DiagonalNormal(torch.zeros(4, D), torch.ones(4, D))
    with pytest.raises(ValueError, match=r"prior.batch_shape \(4,\) must broadcast"):
        iwae(ll, q, wrong_batch, k=2)
    discrete = torch.distributions.Independent(
        torch.distributions.Bernoulli(probs=torch.full((3, D), 0.5)), 1
    )
    with pytest.raises(ValueError, match="reparameterized"):
        dreg(ll, discrete, k=2)
    with pytest.raises(TypeError, match="log_likelihood must be callable"):
        elbo(None, q)


def test_elbo_terms_recombine_into_the_elbo_for_the_same_samples():
    """elbo(β) == recon − β·kl with the same seed, analytic and Monte Carlo KL."""
    import reparam
    from reparam.objectives import elbo, elbo_terms

    x = torch.tensor([[0.3, -1.0], [1.5, 0.2]], dtype=torch.float64)
    q = reparam.DiagonalNormal(x * 0.5, torch.full_like(x, 0.7))
    prior = reparam.DiagonalNormal(torch.zeros(2, dtype=torch.float64), torch.ones(2))

    def log_lik(z):
        return torch.distributions.Normal(z, 1.0).log_prob(x).sum(-1)

    for kl in ("analytic", "mc"):
        torch.manual_seed(5)
        recon, kl_value = elbo_terms(log_lik, q, prior, num_samples=3, kl=kl)
        torch.manual_seed(5)
        value = elbo(log_lik, q, prior, num_samples=3, kl=kl, beta=0.4)
        torch.testing.assert_close(value, recon - 0.4 * kl_value, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- one signature
def _standard(batch=3):
    loc = torch.zeros(batch, D, dtype=torch.float64, requires_grad=True)
    return reparam.DiagonalNormal(loc, torch.ones(batch, D, dtype=torch.float64))


@pytest.mark.parametrize("name", list(OBJECTIVES))
@pytest.mark.parametrize("noise", ["mc", "antithetic", "qmc"])
def test_every_objective_takes_num_samples_and_noise(name, noise):
    q, prior = _standard(), prior_for()
    torch.manual_seed(0)
    bound = get_objective(name)(log_likelihood_fn(X), q, prior, num_samples=4, noise=noise)
    assert bound.shape == (3,)
    assert torch.isfinite(bound).all()


@pytest.mark.parametrize("fn", [iwae, dreg])
def test_k_is_an_alias_of_num_samples(fn):
    q, prior, ll = _standard(), prior_for(), log_likelihood_fn(X)
    torch.manual_seed(1)
    by_k = fn(ll, q, prior, k=4)
    torch.manual_seed(1)
    by_n = fn(ll, q, prior, num_samples=4)
    torch.manual_seed(1)
    both = fn(ll, q, prior, num_samples=4, k=4)
    torch.testing.assert_close(by_k, by_n)
    torch.testing.assert_close(both, by_n)
    with pytest.raises(ValueError, match=r"num_samples=1 and k=4 differ.*alias"):
        fn(ll, q, prior, num_samples=1, k=4)
    with pytest.raises(ValueError, match=r"k must be an int >= 1, got 0"):
        fn(ll, q, prior, k=0)
    with pytest.raises(ValueError, match=r"num_samples must be an int >= 1, got 0"):
        fn(ll, q, prior, num_samples=0)


@pytest.mark.parametrize("entropy", ["analytic", "mc", "stl"])
@pytest.mark.parametrize("noise", ["mc", "qmc"])
def test_log_joint_elbo_is_the_pathwise_entropy_estimate(entropy, noise):
    loc = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    q = reparam.Normal(loc, torch.tensor([0.7, 1.2], dtype=torch.float64))

    def log_joint(z):
        return -0.5 * ((z - 1.0) ** 2).sum(-1)

    torch.manual_seed(2)
    value = reparam.objectives.log_joint_elbo(
        log_joint, q, num_samples=8, noise=noise, entropy=entropy, control_variate="linear"
    )
    (grad,) = torch.autograd.grad(value, loc)
    torch.manual_seed(2)
    est = reparam.Pathwise(noise=noise, control_variate="linear", entropy=entropy)
    expected = est(log_joint, q, 8)
    (expected_grad,) = torch.autograd.grad(expected, loc)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(grad, expected_grad)


def test_log_joint_elbo_bad_entropy():
    q = reparam.Normal(torch.zeros(2), 1.0)
    with pytest.raises(ValueError, match=r"unknown entropy None; use one of analytic, mc, stl"):
        reparam.objectives.log_joint_elbo(lambda z: z.sum(-1), q, entropy=None)
