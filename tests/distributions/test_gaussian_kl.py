"""The registered Gaussian KLs against torch's closed forms and Monte Carlo.

Monte Carlo comparisons use a fixed seed (conftest) and a 5-standard-error band from the
same samples (a false failure has probability ~6e-7 per comparison).
"""

import math

import pytest
import torch
import torch.distributions as td
from torch.distributions import kl_divergence

import reparam

from .examples_multivariate import COV_DIAG, COV_FACTOR, LOC, SCALE, SPD, TRIL

DT = torch.float64


def t(x):
    return torch.tensor(x, dtype=DT)


# Two different distributions per family (p uses the registry values, q shifted ones).
def _family(name, shift):
    loc = t(LOC) + shift
    if name == "DiagonalNormal":
        return reparam.DiagonalNormal(loc, t(SCALE) * (1 + shift))
    if name == "MVN-covariance":
        return reparam.MultivariateNormal(loc, covariance_matrix=t(SPD) * (1 + shift))
    if name == "MVN-precision":
        return reparam.MultivariateNormal(loc, precision_matrix=t(SPD) * (1 + shift))
    if name == "MVN-scale_tril":
        return reparam.MultivariateNormal(loc, scale_tril=t(TRIL) * (1 + shift))
    if name == "LowRank":
        return reparam.LowRankMultivariateNormal(
            loc, t(COV_FACTOR) * (1 - shift), t(COV_DIAG) * (1 + shift)
        )
    raise AssertionError(name)


FAMILIES = ["DiagonalNormal", "MVN-covariance", "MVN-precision", "MVN-scale_tril", "LowRank"]


def _as_torch(d):
    """The torch.distributions equivalent with a closed-form KL."""
    if isinstance(d, reparam.DiagonalNormal):
        return td.MultivariateNormal(d.loc, scale_tril=torch.diag_embed(d.scale))
    if isinstance(d, reparam.MultivariateNormal):
        return td.MultivariateNormal(d.loc, scale_tril=d.scale_tril)
    if isinstance(d, reparam.LowRankMultivariateNormal):
        return td.LowRankMultivariateNormal(d.loc, d.cov_factor, d.cov_diag)
    if isinstance(d, reparam.Normal):
        return td.Normal(d.loc, d.scale)
    if isinstance(d, reparam.Independent):
        return td.Independent(_as_torch(d.base_dist), d.reinterpreted_batch_ndims)
    raise AssertionError(type(d))


def _monte_carlo(p, q, n=40000):
    """(estimate, standard error) of E_p[log p − log q]."""
    z = p.sample((n,))
    diff = p.log_prob(z) - q.log_prob(z)
    return diff.mean(0), diff.std(0) / math.sqrt(n)


def _check(p, q):
    kl = kl_divergence(p, q)
    assert kl.shape == torch.broadcast_shapes(p.batch_shape, q.batch_shape)
    torch.testing.assert_close(kl, kl_divergence(_as_torch(p), _as_torch(q)), rtol=1e-9, atol=1e-9)
    est, se = _monte_carlo(p, q)
    assert ((kl - est).abs() <= 5 * se).all(), (kl, est, se)
    return kl


@pytest.mark.parametrize("p_name", FAMILIES)
@pytest.mark.parametrize("q_name", FAMILIES)
def test_gaussian_pairs_match_torch_and_monte_carlo(p_name, q_name):
    kl = _check(_family(p_name, 0.0), _family(q_name, 0.3))
    assert (kl > 0).all()


@pytest.mark.parametrize("name", FAMILIES)
def test_kl_with_itself_is_zero(name):
    p = _family(name, 0.0)
    torch.testing.assert_close(kl_divergence(p, p), torch.zeros(2, dtype=DT), atol=1e-12, rtol=0)


def test_same_law_in_different_families_has_zero_kl():
    diag = reparam.DiagonalNormal(t(LOC), t(SCALE))
    mvn = reparam.MultivariateNormal(t(LOC), scale_tril=torch.diag_embed(t(SCALE)))
    low = reparam.LowRankMultivariateNormal(t(LOC), torch.zeros(2, 3, 1, dtype=DT), t(SCALE) ** 2)
    for p in (diag, mvn, low):
        for q in (diag, mvn, low):
            torch.testing.assert_close(kl_divergence(p, q), torch.zeros(2, dtype=DT))


def test_kl_broadcasts_batch_shapes():
    p = reparam.MultivariateNormal(t(LOC[0]), covariance_matrix=t(SPD[0]))
    q = _family("LowRank", 0.3)
    kl = kl_divergence(p, q)
    assert kl.shape == (2,)
    want = kl_divergence(_as_torch(p).expand((2,)), _as_torch(q))
    torch.testing.assert_close(kl, want)


def test_normal_normal():
    p = reparam.Normal(t(LOC), t(SCALE))
    q = reparam.Normal(t(LOC) + 0.3, t(SCALE) * 1.3)
    _check(p, q)
    torch.testing.assert_close(kl_divergence(p, p), torch.zeros(2, 3, dtype=DT))


def test_normal_against_torch_normal_both_ways():
    p = reparam.Normal(t(LOC), t(SCALE))
    q = td.Normal(t(LOC) + 0.3, t(SCALE) * 1.3)
    want = kl_divergence(td.Normal(p.loc, p.scale), q)
    torch.testing.assert_close(kl_divergence(p, q), want)
    want = kl_divergence(q, td.Normal(p.loc, p.scale))
    torch.testing.assert_close(kl_divergence(q, p), want)


def test_independent_independent():
    p = reparam.Independent(reparam.Normal(t(LOC), t(SCALE)), 1)
    q = reparam.Independent(reparam.Normal(t(LOC) + 0.3, t(SCALE) * 1.3), 1)
    _check(p, q)
    pm = reparam.Independent(_family("MVN-covariance", 0.0), 1)
    qm = reparam.Independent(_family("LowRank", 0.3), 1)
    kl = _check(pm, qm)
    assert kl.shape == ()
    with pytest.raises(NotImplementedError):
        kl_divergence(p, reparam.Independent(reparam.Normal(t(LOC), t(SCALE)), 2))


def test_independent_normal_against_diagonal_normal():
    p = reparam.Independent(reparam.Normal(t(LOC), t(SCALE)), 1)
    q = _family("DiagonalNormal", 0.3)
    want = kl_divergence(reparam.DiagonalNormal(t(LOC), t(SCALE)), q)
    torch.testing.assert_close(kl_divergence(p, q), want)
    want = kl_divergence(q, reparam.DiagonalNormal(t(LOC), t(SCALE)))
    torch.testing.assert_close(kl_divergence(q, p), want)


def test_event_shape_mismatch_raises():
    p = reparam.DiagonalNormal(torch.zeros(3), torch.ones(3))
    q = reparam.MultivariateNormal(torch.zeros(2), scale_tril=torch.eye(2))
    with pytest.raises(ValueError, match="event shapes"):
        kl_divergence(p, q)


def test_kl_is_differentiable():
    loc = t(LOC).requires_grad_()
    a = t(SPD).requires_grad_()
    p = reparam.MultivariateNormal(loc, covariance_matrix=a)
    q = reparam.LowRankMultivariateNormal(torch.zeros(3, dtype=DT), t(COV_FACTOR), t(COV_DIAG))
    kl_divergence(p, q).sum().backward()
    assert torch.isfinite(loc.grad).all()
    assert torch.isfinite(a.grad).all()
