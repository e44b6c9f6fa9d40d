"""``wrap``: torch distributions become reparam families, or WrappedRSample."""

import math

import pytest
import torch
import torch.distributions as td
from torch.distributions.transforms import ExpTransform

import reparam
from reparam.distributions import SeedNoise, TransformedDistribution, WrappedRSample, wrap

F64 = torch.float64


def leaf(*values):
    return torch.tensor(values, dtype=F64).requires_grad_()


def _mvn(loc, a):
    cov = a @ a.T + torch.eye(2, dtype=F64)
    return td.MultivariateNormal(loc, covariance_matrix=cov)


# name → (a builder of its parameters, a builder of the torch distribution from them)
TORCH_FAMILIES = {
    "Normal": (lambda: [leaf(0.3, -1.0), leaf(0.5, 2.0)], td.Normal),
    "LogNormal": (lambda: [leaf(0.3, -1.0), leaf(0.5, 2.0)], td.LogNormal),
    "Laplace": (lambda: [leaf(0.3, -1.0), leaf(0.5, 2.0)], td.Laplace),
    "Cauchy": (lambda: [leaf(0.3, -1.0), leaf(0.5, 2.0)], td.Cauchy),
    "Gumbel": (lambda: [leaf(0.3, -1.0), leaf(0.5, 2.0)], td.Gumbel),
    "Exponential": (lambda: [leaf(0.5, 2.0)], td.Exponential),
    "Uniform": (lambda: [leaf(0.3, -1.0), leaf(0.5, 2.0)], td.Uniform),
    "Weibull": (lambda: [leaf(0.5, 2.0), leaf(1.5, 3.0)], td.Weibull),
    "HalfNormal": (lambda: [leaf(0.5, 2.0)], td.HalfNormal),
    "HalfCauchy": (lambda: [leaf(0.5, 2.0)], td.HalfCauchy),
    "Pareto": (lambda: [leaf(0.5, 2.0), leaf(1.5, 3.0)], td.Pareto),
    "ContinuousBernoulli": (
        lambda: [leaf(0.3, -1.5)],
        lambda logits: td.ContinuousBernoulli(logits=logits),
    ),
    "GeneralizedPareto": (
        lambda: [leaf(0.3, -1.0), leaf(0.5, 2.0), leaf(-0.3, 0.4)],
        # float32: torch 2.13's GeneralizedPareto.log_prob fails on float64 parameters
        # (torch.isclose against a float32 zero).
        lambda loc, scale, xi: td.GeneralizedPareto(loc.float(), scale.float(), xi.float()),
    ),
    "Kumaraswamy": (lambda: [leaf(1.5, 2.0), leaf(2.5, 0.7)], td.Kumaraswamy),
    "MultivariateNormal": (
        lambda: [
            leaf(0.3, -1.0),
            torch.tensor([[1.0, 0.2], [0.4, 0.5]], dtype=F64).requires_grad_(),
        ],
        _mvn,
    ),
    "LowRankMultivariateNormal": (
        lambda: [
            leaf(0.3, -1.0),
            torch.tensor([[1.0], [0.5]], dtype=F64).requires_grad_(),
            leaf(0.5, 2.0),
        ],
        td.LowRankMultivariateNormal,
    ),
    "Independent": (
        lambda: [leaf(0.3, -1.0), leaf(0.5, 2.0)],
        lambda loc, scale: td.Independent(td.Normal(loc, scale), 1),
    ),
    "Gamma": (lambda: [leaf(0.7, 2.0), leaf(1.0, 0.5)], td.Gamma),
    "Chi2": (lambda: [leaf(0.7, 5.0)], td.Chi2),
    "InverseGamma": (lambda: [leaf(3.0, 6.0), leaf(1.0, 0.5)], td.InverseGamma),
    "LogisticNormal": (lambda: [leaf(0.3, -1.0), leaf(0.5, 2.0)], td.LogisticNormal),
    "FisherSnedecor": (lambda: [leaf(3.0, 6.0), leaf(5.0, 12.0)], td.FisherSnedecor),
    "Beta": (lambda: [leaf(0.7, 2.0), leaf(1.5, 0.5)], td.Beta),
    "Dirichlet": (lambda: [leaf(0.7, 2.0, 5.0)], td.Dirichlet),
    "StudentT": (lambda: [leaf(3.0, 5.0), leaf(0.0, 1.0), leaf(1.0, 2.0)], td.StudentT),
    "VonMises": (lambda: [leaf(0.3, -1.0), leaf(0.5, 4.0)], td.VonMises),
    "RelaxedBernoulli": (
        lambda: [leaf(0.5, 2.0), leaf(0.3, 0.8)],
        lambda temperature, probs: td.RelaxedBernoulli(temperature, probs=probs),
    ),
    "RelaxedOneHotCategorical": (
        lambda: [leaf(0.7), leaf(0.3, -1.0, 2.0)],
        lambda temperature, logits: td.RelaxedOneHotCategorical(temperature[0], logits=logits),
    ),
    "MixtureSameFamily": (
        lambda: [leaf(0.3, -1.0), leaf(-2.0, 3.0), leaf(0.5, 2.0)],
        lambda logits, loc, scale: td.MixtureSameFamily(
            td.Categorical(logits=logits), td.Normal(loc, scale)
        ),
    ),
    "OneHotCategoricalStraightThrough": (
        lambda: [leaf(0.3, -1.0, 0.5)],
        lambda logits: td.OneHotCategoricalStraightThrough(logits=logits),
    ),
    "LKJCholesky": (lambda: [leaf(0.5, 3.0)], lambda eta: td.LKJCholesky(3, eta)),
    "Wishart": (
        lambda: [leaf(3.5, 6.0), leaf(1.2, 0.3, 0.8)],
        lambda df, t: td.Wishart(
            df, scale_tril=torch.stack([t[0], 0 * t[1], t[1], t[2]]).reshape(2, 2)
        ),
    ),
}
# Same-named families that have no rsample in either library: wrap refuses them.
NO_RSAMPLE = {"Bernoulli", "Categorical"}


# torch 2.13's Wishart.rsample warns "Singular sample detected." on every regular draw
@pytest.mark.filterwarnings("ignore:Singular sample detected:UserWarning")
@pytest.mark.parametrize("name", sorted(TORCH_FAMILIES))
def test_wrap_converts_to_the_reparam_family(name):
    if not hasattr(reparam.distributions, name):
        pytest.skip(f"reparam has no {name} yet")
    make_params, make = TORCH_FAMILIES[name]
    ps = make_params()
    dist = make(*ps)
    q = wrap(dist)
    assert type(q) is getattr(reparam.distributions, name)
    assert q.batch_shape == dist.batch_shape
    assert q.event_shape == dist.event_shape
    z = dist.sample((20,))
    torch.testing.assert_close(q.log_prob(z), dist.log_prob(z))
    z, log_q = q.rsample_and_log_prob((10,))
    torch.testing.assert_close(log_q, dist.log_prob(z))
    (z.sum() + log_q.sum()).backward()
    for p in ps:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


def test_every_torch_family_with_a_same_named_reparam_class_is_covered():
    """Each same-named family converts (TORCH_FAMILIES), refuses (NO_RSAMPLE), or is
    TransformedDistribution (rebuilt around its base; tested below)."""
    same = {
        n
        for n in reparam.distributions.__all__
        if isinstance(getattr(td, n, None), type) and issubclass(getattr(td, n), td.Distribution)
    }
    assert same - set(TORCH_FAMILIES) - NO_RSAMPLE == {"TransformedDistribution"}


def test_wrap_converts_torch_families_without_rsample_where_reparam_has_one():
    for dist in (
        td.VonMises(torch.zeros(2), torch.ones(2)),
        td.MixtureSameFamily(
            td.Categorical(logits=torch.zeros(2)), td.Normal(torch.zeros(2), 1.0)
        ),
    ):
        assert not dist.has_rsample
        assert wrap(dist).has_rsample
    full = td.MixtureSameFamily(
        td.Categorical(logits=torch.zeros(2)),
        td.MultivariateNormal(torch.zeros(2, 3), scale_tril=torch.eye(3).expand(2, 3, 3)),
    )
    with pytest.raises(TypeError, match="MixtureSameFamily has no rsample"):
        wrap(full)


def test_wrap_shares_the_parameter_tensors():
    loc, scale = leaf(0.3, -1.0), leaf(0.5, 2.0)
    q = wrap(td.Normal(loc, scale))
    assert q.loc is loc
    assert q.scale is scale
    q.rsample((3,)).sum().backward()
    torch.testing.assert_close(loc.grad, torch.full((2,), 3.0, dtype=F64))


def test_wrap_keeps_validate_args():
    q = wrap(td.Normal(torch.zeros(2), torch.ones(2), validate_args=False))
    assert not q._validate_args


def test_wrap_transformed_distribution_keeps_transforms():
    loc, scale = leaf(0.3, -1.0), leaf(0.5, 2.0)
    dist = td.TransformedDistribution(td.Normal(loc, scale), [ExpTransform()])
    q = wrap(dist)
    assert type(q) is TransformedDistribution
    assert isinstance(q.base_dist, reparam.Normal)
    assert q.transforms == dist.transforms
    z, log_q = q.rsample_and_log_prob((5,))
    torch.testing.assert_close(log_q, dist.log_prob(z))


def test_wrap_returns_a_reparam_distribution_unchanged():
    q = reparam.Normal(0.0, 1.0)
    assert wrap(q) is q


def test_wrap_rejects_a_distribution_without_rsample():
    with pytest.raises(TypeError, match=r"Bernoulli has no rsample.*score-function"):
        wrap(td.Bernoulli(probs=torch.tensor([0.3])))
    with pytest.raises(TypeError, match="Distribution"):
        wrap(torch.zeros(2))


def test_family_without_counterpart_becomes_wrapped_rsample():
    q = wrap(td.HalfCauchy(torch.ones(2)))
    if hasattr(reparam.distributions, "HalfCauchy"):
        assert type(q).__name__ == "HalfCauchy"
    else:
        assert isinstance(q, WrappedRSample)


# --------------------------------------------------------------------------- WrappedRSample
IMPLICIT = {
    "Gamma": lambda: (td.Gamma, [leaf(0.7, 2.0, 5.0), leaf(1.0, 0.5, 3.0)]),
    "Beta": lambda: (td.Beta, [leaf(0.7, 2.0, 5.0), leaf(1.5, 0.5, 3.0)]),
    "Dirichlet": lambda: (td.Dirichlet, [leaf(0.7, 2.0, 5.0)]),
    "StudentT": lambda: (
        td.StudentT,
        [leaf(3.0, 5.0, 10.0), leaf(0.0, 1.0, -1.0), leaf(1.0, 2.0, 0.5)],
    ),
}


@pytest.mark.parametrize("name", sorted(IMPLICIT))
def test_wrapped_rsample(name):
    cls, ps = IMPLICIT[name]()
    dist = cls(*ps)
    q = WrappedRSample(dist)  # wrap() would convert these to reparam's own families
    assert isinstance(q.noise, SeedNoise)
    assert q.batch_shape == dist.batch_shape
    assert q.event_shape == dist.event_shape
    assert q.noise_event_shape == ()
    eps = q.sample_noise((4, 2))
    assert eps.dtype == torch.int64
    assert eps.shape == (4, 2, *q.batch_shape)
    assert (eps == eps.reshape(-1)[0]).all()  # one seed, repeated
    # Same seed, same sample; the global RNG is left alone.
    state = torch.get_rng_state()
    z = q.from_noise(eps)
    assert torch.equal(torch.get_rng_state(), state)
    assert z.shape == (4, 2, *dist.batch_shape, *dist.event_shape)
    torch.testing.assert_close(q.from_noise(eps), z, rtol=0, atol=0)
    assert not torch.equal(q.from_noise(q.sample_noise((4, 2))), z)
    # The density is the distribution's; the gradient is its rsample's.
    z, log_q = q.from_noise_and_log_prob(eps)
    torch.testing.assert_close(log_q, dist.log_prob(z))
    (z.sum() + log_q.sum()).backward()
    for p in ps:
        assert p.grad is not None
        assert torch.isfinite(p.grad).all()


def test_wrapped_rsample_is_reproducible_under_manual_seed():
    q = WrappedRSample(td.Gamma(torch.ones(3), torch.ones(3)))
    with torch.random.fork_rng():
        torch.manual_seed(11)
        a = q.rsample((5,))
        torch.manual_seed(11)
        b = q.rsample((5,))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_wrapped_rsample_delegates_closed_forms_and_expands():
    dist = td.Gamma(torch.tensor([2.0, 3.0]), torch.tensor([1.0, 2.0]))
    q = WrappedRSample(dist)
    torch.testing.assert_close(q.mean, dist.mean)
    torch.testing.assert_close(q.variance, dist.variance)
    torch.testing.assert_close(q.entropy(), dist.entropy())
    assert q.support is dist.support
    big = q.expand((3, 2))
    assert isinstance(big, WrappedRSample)
    assert big.batch_shape == (3, 2)
    assert big.rsample((4,)).shape == (4, 3, 2)


def test_seed_noise_is_opaque():
    q = WrappedRSample(td.Gamma(torch.ones(2), torch.ones(2)))
    eps = q.sample_noise((3,))
    for method in (q.noise.reflect, q.noise.icdf, q.noise.log_prob):
        with pytest.raises(NotImplementedError, match="opaque"):
            method(eps)
    with pytest.raises(TypeError, match="int64 seed"):
        q.from_noise(torch.rand(3, 2))
    with pytest.raises(TypeError, match="rsample"):
        WrappedRSample(td.Bernoulli(probs=0.5))


@pytest.mark.parametrize("moment", ["z", "z2"])
def test_gamma_concentration_gradient_is_unbiased(moment):
    """The implicit gradient in α (not checkable by finite differences at a fixed seed).

    Mean of 400 estimates (each over 50 samples) of ∇α E[z] = 1/β and
    ∇α E[z²] = (1 + 2α)/β², within 5 standard errors (false-failure rate ~1e-6).
    """
    alpha = torch.tensor([0.7, 2.0, 5.0], dtype=F64)
    beta = torch.tensor([1.0, 0.5, 3.0], dtype=F64)
    groups = alpha.expand(400, 3).clone().requires_grad_()
    z = WrappedRSample(td.Gamma(groups, beta)).rsample((50,))
    f = z if moment == "z" else z * z
    (grad,) = torch.autograd.grad(f.mean(0).sum(), groups)
    exact = 1 / beta if moment == "z" else (1 + 2 * alpha) / beta**2
    se = grad.std(0) / math.sqrt(grad.shape[0])
    assert ((grad.mean(0) - exact).abs() <= 5 * se).all(), (grad.mean(0), exact, se)
