"""TransformedDistribution: bijective torch transforms on a reparameterized base."""

import pytest
import torch
import torch.distributions as td
from torch.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    ExpTransform,
    SigmoidTransform,
    StickBreakingTransform,
)

import reparam
from reparam.distributions import TransformedDistribution


def params():
    loc = torch.tensor([0.1, -0.5, 1.0], dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([0.3, 0.6, 1.2], dtype=torch.float64, requires_grad=True)
    return loc, scale


def test_log_prob_matches_torch_transformed_distribution():
    loc, scale = params()
    shift = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    transforms = [SigmoidTransform(), AffineTransform(shift, 3.0), ExpTransform()]
    q = TransformedDistribution(reparam.Normal(loc, scale), transforms)
    ref = td.TransformedDistribution(td.Normal(loc, scale), transforms)
    eps = q.sample_noise((50,))
    z, log_q = q.from_noise_and_log_prob(eps)
    torch.testing.assert_close(log_q, ref.log_prob(z))
    torch.testing.assert_close(q.log_prob(z), ref.log_prob(z))
    torch.testing.assert_close(q.log_prob_from_noise(eps, z), log_q)
    (log_q.sum() + z.sum()).backward()
    assert loc.grad is not None
    assert scale.grad is not None
    assert shift.grad is not None
    assert q.support.check(z).all()


def test_noise_is_the_bases():
    loc, scale = params()
    base = reparam.Normal(loc, scale)
    q = TransformedDistribution(base, ExpTransform())
    assert q.noise is base.noise
    assert q.noise_shape((4,)) == base.noise_shape((4,)) == (4, 3)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        z = q.rsample((4,))
        torch.manual_seed(3)
        x = base.rsample((4,))
    torch.testing.assert_close(z, x.exp())
    eps = q.sample_noise((2,))
    torch.testing.assert_close(q.from_noise(q.noise.reflect(eps)), base.from_noise(-eps).exp())


def test_event_dim_bookkeeping_with_stick_breaking():
    """A base batch dim becomes an event dim: the noise keeps the base's shape."""
    loc, scale = params()
    q = TransformedDistribution(reparam.Normal(loc, scale), StickBreakingTransform())
    assert q.batch_shape == ()
    assert q.event_shape == (4,)
    assert q.noise_event_shape == (3,)
    eps = q.sample_noise((5,))
    assert eps.shape == (5, 3)
    z, log_q = q.from_noise_and_log_prob(eps)
    assert z.shape == (5, 4)
    assert log_q.shape == (5,)
    ref = td.TransformedDistribution(td.Normal(loc, scale), StickBreakingTransform())
    torch.testing.assert_close(log_q, ref.log_prob(z))
    torch.testing.assert_close(z.sum(-1), torch.ones(5, dtype=torch.float64))


def test_transform_parameters_broadcast_the_base():
    shift = torch.tensor([0.0, 1.0, 2.0])
    q = TransformedDistribution(reparam.Normal(0.0, 1.0), AffineTransform(shift, 2.0))
    assert q.batch_shape == (3,)
    assert q.base_dist.batch_shape == (3,)
    z, log_q = q.rsample_and_log_prob((6,))
    ref = td.TransformedDistribution(td.Normal(0.0, 1.0), AffineTransform(shift, 2.0))
    torch.testing.assert_close(log_q, ref.log_prob(z))


def test_expand():
    loc, scale = params()
    q = TransformedDistribution(reparam.Normal(loc, scale), [ExpTransform()])
    big = q.expand((2, 3))
    assert type(big) is TransformedDistribution
    assert big.batch_shape == (2, 3)
    assert big.noise_shape((5,)) == (5, 2, 3)
    z, log_q = big.rsample_and_log_prob((5,))
    torch.testing.assert_close(log_q, q.log_prob(z))


def test_non_bijective_transform_is_rejected():
    with pytest.raises(ValueError, match="bijective"):
        TransformedDistribution(reparam.Normal(0.0, 1.0), [ExpTransform(), AbsTransform()])


def test_non_transform_is_rejected():
    with pytest.raises(ValueError, match="Transform"):
        TransformedDistribution(reparam.Normal(0.0, 1.0), [torch.exp])


def test_base_without_rsample_is_rejected():
    with pytest.raises(TypeError, match="rsample"):
        TransformedDistribution(td.Bernoulli(probs=0.3), ExpTransform())


def test_torch_base_is_wrapped():
    q = TransformedDistribution(td.Normal(torch.zeros(2), 1.0), ExpTransform())
    assert isinstance(q.base_dist, reparam.Normal)
    q = TransformedDistribution(td.Gamma(torch.ones(2), 1.0), ExpTransform())
    assert isinstance(q.base_dist, reparam.Gamma)
    q = TransformedDistribution(td.HalfCauchy(torch.ones(2)), ExpTransform())
    assert isinstance(q.base_dist, reparam.HalfCauchy)
    eps = q.sample_noise((3,))
    torch.testing.assert_close(q.from_noise(eps), q.from_noise(eps))
    z, log_q = q.from_noise_and_log_prob(eps)
    ref = td.TransformedDistribution(td.HalfCauchy(torch.ones(2)), ExpTransform())
    torch.testing.assert_close(log_q, ref.log_prob(z))


def test_is_a_torch_transformed_distribution():
    q = TransformedDistribution(reparam.Normal(0.0, 1.0), ExpTransform())
    assert isinstance(q, td.TransformedDistribution)
    assert isinstance(q, reparam.ReparamDistribution)
    assert q.has_rsample
    assert "ExpTransform" in repr(q)
