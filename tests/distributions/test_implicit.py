"""The implicit-reparameterization core: attach_gradients, cdf_gradients, invert_cdf and
the user-facing ImplicitReparameterized (the generic registry tests cover the rest)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import constraints

import reparam
from reparam.distributions.implicit import attach_gradients, cdf_gradients, invert_cdf

F64 = torch.float64


def exponential_cdf(z, rate):
    return -torch.expm1(-rate * z)


def test_attach_gradients_keeps_the_value_and_sets_the_gradient():
    theta = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    z = torch.tensor([[0.5, 3.0], [1.5, -2.0]], dtype=F64)
    g = torch.tensor([[2.0, 3.0], [5.0, 7.0]], dtype=F64)
    out = attach_gradients(z, [(theta, g)])
    assert torch.equal(out.detach(), z)
    out.sum().backward()
    torch.testing.assert_close(theta.grad, g.sum(0))


def test_attach_gradients_skips_constants_and_no_grad_mode():
    theta = torch.tensor(1.0, dtype=F64)
    z = torch.ones(3, dtype=F64)
    assert not attach_gradients(z, [(theta, z)]).requires_grad
    leaf = torch.tensor(1.0, dtype=F64, requires_grad=True)
    with torch.no_grad():
        assert not attach_gradients(z, [(leaf, z)]).requires_grad


def test_cdf_gradients_match_the_closed_form():
    rate = torch.tensor([0.5, 2.0], dtype=F64)
    z = torch.tensor([[0.3, 1.2], [2.0, 0.1]], dtype=F64)
    log_q = rate.log() - rate * z
    got = cdf_gradients(exponential_cdf, z, {"rate": rate}, log_q)
    torch.testing.assert_close(got["rate"], -z / rate)  # z = −log(1 − u)/rate


def test_invert_cdf_solves_to_the_cdfs_resolution_with_and_without_newton():
    u = torch.tensor([1e-12, 1e-3, 0.3, 0.5, 0.999, 1 - 1e-12], dtype=F64)
    loc, scale = 0.5, 2.0

    def cdf(z):
        return torch.sigmoid((z - loc) / scale)

    def log_density(z):
        x = (z - loc) / scale
        return torch.nn.functional.logsigmoid(x) + torch.nn.functional.logsigmoid(-x) - math.log(2)

    exact = loc + scale * torch.logit(u)
    # F is known to ~1 ulp of u, so z only to ulp(u)/q(z): ~1e-4 at u = 1 − 1e-12.
    resolution = 4 * torch.finfo(F64).eps * u / log_density(exact).exp()
    lo, hi = torch.full_like(u, -200.0), torch.full_like(u, 200.0)
    for log_q in (None, log_density):
        z = invert_cdf(cdf, u, lo, hi, log_density=log_q)
        assert ((z - exact).abs() <= 1e-10 * exact.abs() + resolution).all()


def test_implicit_reparameterized_exponential_matches_closed_forms():
    rate = torch.tensor([0.5, 3.0], dtype=F64, requires_grad=True)
    q = reparam.ImplicitReparameterized(
        exponential_cdf,
        {"rate": rate},
        log_prob=lambda z, rate: rate.log() - rate * z,
        support=constraints.positive,
        bracket=(0.0, 1.0),
    )
    u = q.sample_noise((50,))
    z = q.from_noise(u)
    torch.testing.assert_close(z, -torch.log1p(-u) / rate, rtol=1e-12, atol=1e-14)
    (grad,) = torch.autograd.grad(z.sum(), rate)
    torch.testing.assert_close(grad, (-z / rate).sum(0).detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(q.log_prob_from_noise(u, z), q.log_prob(z))


def test_implicit_reparameterized_uses_a_given_icdf_and_autograd_density():
    rate = torch.tensor(2.0, dtype=F64, requires_grad=True)
    calls = []

    def icdf(u, rate):
        calls.append(1)
        return -torch.log1p(-u) / rate

    q = reparam.ImplicitReparameterized(exponential_cdf, {"rate": rate}, icdf=icdf)
    z = q.rsample((10,))
    assert calls
    torch.testing.assert_close(q.log_prob(z), (rate.log() - rate * z).detach())
    (grad,) = torch.autograd.grad(z.sum(), rate)
    torch.testing.assert_close(grad, (-z / rate).sum().detach())


def test_pathwise_gradient_of_a_user_cdf_is_unbiased():
    """E[z] = 1/rate for the Exponential: ∂/∂rate = −1/rate², within 5 SE."""
    rate = torch.tensor(1.7, dtype=F64, requires_grad=True)
    q = reparam.ImplicitReparameterized(
        exponential_cdf, {"rate": rate}, support=constraints.positive, bracket=(0.0, 1.0)
    )
    z = q.rsample((20000,))
    per_sample = torch.autograd.grad(z.sum(), rate)[0] / z.shape[0]
    spread = (z.detach() / rate.detach()).std() / math.sqrt(z.shape[0])
    assert abs(per_sample.item() + 1 / 1.7**2) < 5 * spread.item()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"cdf": 3, "params": {"a": 1.0}}, TypeError, "cdf must be callable"),
        ({"params": {}}, ValueError, "non-empty"),
        ({"params": {"not an id": 1.0}}, ValueError, "identifiers"),
        ({"params": {"a": torch.ones(2), "b": torch.ones(3)}}, ValueError, "broadcast"),
        (
            {"params": {"a": 1.0}, "arg_constraints": {"b": constraints.positive}},
            ValueError,
            r"unknown parameters \['b'\]",
        ),
        ({"params": {"a": 1.0}, "bracket": (1.0, 1.0)}, ValueError, "lo < hi"),
        (
            {"params": {"a": -1.0}, "arg_constraints": {"a": constraints.positive}},
            ValueError,
            "'a'",
        ),
        ({"params": {"a": "x"}}, TypeError, "'a'"),
    ],
)
def test_implicit_reparameterized_bad_input(kwargs, error, match):
    args = {"cdf": lambda z, **p: torch.sigmoid(z), **kwargs}
    with pytest.raises(error, match=match):
        reparam.ImplicitReparameterized(args.pop("cdf"), args.pop("params"), **args)


def test_implicit_reparameterized_expand_keeps_the_functions():
    q = reparam.ImplicitReparameterized(
        lambda z, loc: torch.sigmoid(z - loc), {"loc": torch.zeros(2, dtype=F64)}
    )
    big = q.expand((3, 2))
    assert big.batch_shape == (3, 2)
    z = big.rsample((4,))
    assert z.shape == (4, 3, 2)
    torch.testing.assert_close(big.cdf(z), torch.sigmoid(z))


def _exponential_with_sampler(rate, calls):
    def sampler(shape, rate):
        calls.append(tuple(shape))
        return torch.empty(shape, dtype=rate.dtype).exponential_() / rate

    return reparam.ImplicitReparameterized(
        exponential_cdf,
        {"rate": rate},
        log_prob=lambda z, rate: rate.log() - rate * z,
        sampler=sampler,
        support=constraints.positive,
        bracket=(0.0, 1.0),
    )


def test_a_sampler_replaces_the_numerical_inverse_for_plain_monte_carlo():
    rate = torch.tensor([0.5, 3.0], dtype=F64, requires_grad=True)
    calls = []
    q = _exponential_with_sampler(rate, calls)
    torch.manual_seed(4)
    u = q.sample_noise((1000,))
    torch.manual_seed(4)
    drawn = torch.empty(1000, 2, dtype=F64).exponential_() / rate.detach()
    z = q.from_noise(u)
    assert calls == [(1000, 2)]
    assert torch.equal(z.detach(), drawn)  # the sampler's draws, not a re-inversion
    torch.testing.assert_close(u, exponential_cdf(drawn, rate.detach()))
    (grad,) = torch.autograd.grad(z.sum(), rate)  # implicit: ∂z/∂rate = −z/rate
    torch.testing.assert_close(grad, (-drawn / rate.detach()).sum(0), rtol=1e-12, atol=0)
    # any other noise is inverted numerically, to the same map
    other = u.clone()
    torch.testing.assert_close(q.from_noise(other), z, rtol=1e-9, atol=1e-12)
    assert q.rsample((5,), noise="qmc").shape == (5, 2)
    assert calls == [(1000, 2)]  # qmc did not call the sampler


def test_a_sampler_with_the_wrong_shape_is_named():
    rate = torch.tensor(1.0, dtype=F64)
    q = reparam.ImplicitReparameterized(
        exponential_cdf, {"rate": rate}, sampler=lambda shape, rate: torch.ones(3)
    )
    with pytest.raises(ValueError, match=r"sampler returned shape \(3,\), expected"):
        q.rsample((2,))
    with pytest.raises(TypeError, match="sampler must be callable"):
        reparam.ImplicitReparameterized(exponential_cdf, {"rate": rate}, sampler=1)
