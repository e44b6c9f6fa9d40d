"""MultivariateNormal, LowRankMultivariateNormal, DiagonalNormal and Independent against
torch.distributions and scipy.stats.multivariate_normal.

Sample-moment tests use a fixed seed (conftest) and 5-standard-error bands, estimated from
the same samples: each comparison fails with probability ~6e-7 under a correct sampler.
"""

import math

import numpy as np
import pytest
import scipy.stats as st
import torch
import torch.distributions as td

import reparam

from .examples_multivariate import COV_DIAG, COV_FACTOR, LOC, SCALE, SPD, TRIL

DT = torch.float64


def t(x):
    return torch.tensor(x, dtype=DT)


PARAMETERIZATIONS = ["covariance_matrix", "precision_matrix", "scale_tril"]


def _matrix(name):
    return t(TRIL) if name == "scale_tril" else t(SPD)


def _pair(name):
    """(ours, torch's) multivariate normals with the same parameters."""
    kw = {name: _matrix(name)}
    return reparam.MultivariateNormal(t(LOC), **kw), td.MultivariateNormal(t(LOC), **kw)


def _lowrank_pair():
    args = t(LOC), t(COV_FACTOR), t(COV_DIAG)
    return reparam.LowRankMultivariateNormal(*args), td.LowRankMultivariateNormal(*args)


def _assert_close(a, b, **kw):
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, **kw)


# --------------------------------------------------------------------------- vs torch
@pytest.mark.parametrize("name", PARAMETERIZATIONS)
def test_mvn_matches_torch(name):
    q, ref = _pair(name)
    assert q.batch_shape == ref.batch_shape
    assert q.event_shape == ref.event_shape
    z = ref.sample((7,))
    _assert_close(q.log_prob(z), ref.log_prob(z))
    _assert_close(q.log_prob(z[0, 0]), ref.log_prob(z[0, 0]))  # value with less batch
    _assert_close(q.entropy(), ref.entropy())
    _assert_close(q.mean, ref.mean)
    _assert_close(q.variance, ref.variance)
    for attr in PARAMETERIZATIONS:
        _assert_close(getattr(q, attr), getattr(ref, attr))


def test_mvn_matches_scipy():
    q, _ = _pair("covariance_matrix")
    z = q.sample((9,))
    for b in range(2):
        ref = st.multivariate_normal(np.array(LOC[b]), np.array(SPD[b]))
        np.testing.assert_allclose(q.log_prob(z)[:, b].numpy(), ref.logpdf(z[:, b].numpy()))
        np.testing.assert_allclose(q.entropy()[b].item(), ref.entropy())


def test_mvn_from_noise_is_loc_plus_cholesky_times_eps():
    q, _ = _pair("covariance_matrix")
    eps = q.sample_noise((4,))
    L = torch.linalg.cholesky(t(SPD))
    _assert_close(q.from_noise(eps), t(LOC) + (L @ eps.unsqueeze(-1)).squeeze(-1))
    _assert_close(
        q.log_abs_det_jacobian(eps, q.from_noise(eps)),
        L.diagonal(0, -2, -1).log().sum(-1).expand(4, 2),
    )


def test_mvn_matrices_are_lazy_and_expand_keeps_them():
    q = reparam.MultivariateNormal(t(LOC), scale_tril=t(TRIL))
    assert "covariance_matrix" not in q.__dict__
    assert "precision_matrix" not in q.__dict__
    big = q.expand((4, 2))
    assert big.scale_tril.shape == big.covariance_matrix.shape == (4, 2, 3, 3)
    _assert_close(big.precision_matrix[3], q.precision_matrix)
    p = reparam.MultivariateNormal(t(LOC), precision_matrix=t(SPD)).expand((5, 2))
    assert p.precision_matrix.shape == (5, 2, 3, 3)
    _assert_close(p.covariance_matrix[0], torch.linalg.inv(t(SPD)))


def test_mvn_broadcasts_loc_against_the_matrix():
    q = reparam.MultivariateNormal(torch.zeros(3, dtype=DT), covariance_matrix=t(SPD))
    assert q.batch_shape == (2,)
    assert q.loc.shape == (2, 3)
    q = reparam.MultivariateNormal(t(LOC), covariance_matrix=t(SPD[0]))
    assert q.batch_shape == (2,)
    assert q.covariance_matrix.shape == (2, 3, 3)


def test_mvn_argument_errors():
    with pytest.raises(ValueError, match="exactly one.*got none"):
        reparam.MultivariateNormal(t(LOC))
    with pytest.raises(ValueError, match="got covariance_matrix, scale_tril"):
        reparam.MultivariateNormal(t(LOC), covariance_matrix=t(SPD), scale_tril=t(TRIL))
    asym = t(SPD[0]).clone()
    asym[0, 1] += 0.5
    with pytest.raises(ValueError, match="'covariance_matrix'.*symmetric"):
        reparam.MultivariateNormal(t(LOC[0]), covariance_matrix=asym, validate_args=True)
    with pytest.raises(ValueError, match="loc must have shape"):
        reparam.MultivariateNormal(t(1.0), covariance_matrix=t(SPD[0]))


def test_lowrank_matches_torch():
    q, ref = _lowrank_pair()
    assert q.noise_event_shape == (5,)
    z = ref.sample((7,))
    _assert_close(q.log_prob(z), ref.log_prob(z))
    _assert_close(q.entropy(), ref.entropy())
    _assert_close(q.mean, ref.mean)
    _assert_close(q.variance, ref.variance)
    for attr in PARAMETERIZATIONS:
        _assert_close(getattr(q, attr), getattr(ref, attr))


def test_lowrank_matches_scipy():
    q, _ = _lowrank_pair()
    z = q.sample((9,))
    cov = q.covariance_matrix
    for b in range(2):
        ref = st.multivariate_normal(np.array(LOC[b]), cov[b].numpy())
        np.testing.assert_allclose(q.log_prob(z)[:, b].numpy(), ref.logpdf(z[:, b].numpy()))
        np.testing.assert_allclose(q.entropy()[b].item(), ref.entropy())


def test_lowrank_from_noise_uses_rank_plus_dim_noises():
    q, _ = _lowrank_pair()
    eps = q.sample_noise((4,))
    assert eps.shape == (4, 2, 5)
    W, D = t(COV_FACTOR), t(COV_DIAG)
    want = t(LOC) + (W @ eps[..., :2, None]).squeeze(-1) + D.sqrt() * eps[..., 2:]
    _assert_close(q.from_noise(eps), want)
    _assert_close(q.expand((3, 2)).from_noise(eps[:, None].expand(4, 3, 2, 5))[:, 1], want)


def test_diagonal_normal_matches_torch():
    q = reparam.DiagonalNormal(t(LOC), t(SCALE))
    ref = td.Independent(td.Normal(t(LOC), t(SCALE)), 1)
    z = ref.sample((7,))
    _assert_close(q.log_prob(z), ref.log_prob(z))
    _assert_close(q.entropy(), ref.entropy())
    _assert_close(q.covariance_matrix, torch.diag_embed(t(SCALE) ** 2))
    mvn = td.MultivariateNormal(t(LOC), scale_tril=q.scale_tril)
    _assert_close(q.log_prob(z), mvn.log_prob(z))
    _assert_close(q.precision_matrix, mvn.precision_matrix)


def test_independent_matches_torch_and_passes_noise_through():
    base = reparam.Normal(t(LOC), t(SCALE))
    q = reparam.Independent(base, 1)
    ref = td.Independent(td.Normal(t(LOC), t(SCALE)), 1)
    assert (q.batch_shape, q.event_shape) == (ref.batch_shape, ref.event_shape)
    assert q.noise is base.noise
    eps = q.sample_noise((5,))
    _assert_close(q.from_noise(eps), base.from_noise(eps))
    z, lp = q.from_noise_and_log_prob(eps)
    _assert_close(lp, ref.log_prob(z))
    _assert_close(q.entropy(), ref.entropy())
    z2, lp2 = q.rsample_and_log_prob((3,))
    _assert_close(lp2, ref.log_prob(z2))


def test_independent_over_multivariate_and_nested():
    mvn = reparam.MultivariateNormal(t(LOC), scale_tril=t(TRIL))
    q = reparam.Independent(mvn, 1)
    assert q.batch_shape == ()
    assert q.event_shape == (2, 3)
    z = q.rsample((4,))
    _assert_close(q.log_prob(z), mvn.log_prob(z).sum(-1))
    lr = reparam.Independent(_lowrank_pair()[0], 1)
    assert lr.noise_event_shape == (2, 5)
    z, lp = lr.rsample_and_log_prob((3,))
    assert z.shape == (3, 2, 3)
    _assert_close(lp, lr.log_prob(z))
    nested = reparam.Independent(reparam.Independent(reparam.Normal(t(LOC), t(SCALE)), 1), 1)
    assert nested.event_shape == (2, 3)
    assert nested.expand((4,)).rsample((2,)).shape == (2, 4, 2, 3)


def test_independent_argument_errors():
    base = reparam.Normal(t(LOC), t(SCALE))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        reparam.Independent(base, 3)
    with pytest.raises(TypeError, match="base_distribution must be a torch"):
        reparam.Independent(t(LOC), 1)


def test_independent_of_a_discrete_base_works_as_torch_and_refuses_rsample():
    probs = t([[0.2, 0.7, 0.5], [0.9, 0.1, 0.4]])
    q = reparam.Independent(reparam.Bernoulli(probs=probs), 1)
    ref = td.Independent(td.Bernoulli(probs=probs), 1)
    assert (q.batch_shape, q.event_shape) == (ref.batch_shape, ref.event_shape)
    assert not q.has_rsample
    x = q.sample((6,))
    assert x.shape == (6, 2, 3)
    _assert_close(q.log_prob(x), ref.log_prob(x))
    _assert_close(q.entropy(), ref.entropy())
    _assert_close(q.mean, ref.mean)
    assert q.expand((4, 2)).sample().shape == (4, 2, 3)
    with pytest.raises(TypeError, match="Bernoulli has no rsample.*score-function"):
        q.rsample()
    with pytest.raises(TypeError, match="Bernoulli is not a ReparamDistribution.*no noise"):
        q.sample_noise((2,))
    with pytest.raises(TypeError, match="no noise"):
        q.rsample_and_log_prob((2,))


def test_independent_of_a_torch_base_with_rsample_delegates_rsample():
    loc = t(LOC).requires_grad_()
    q = reparam.Independent(td.Normal(loc, t(SCALE)), 1)
    assert q.has_rsample
    z = q.rsample((5,))
    assert z.shape == (5, 2, 3)
    z.sum().backward()
    _assert_close(loc.grad, torch.full_like(loc, 5.0))
    _assert_close(q.log_prob(z), td.Normal(t(LOC), t(SCALE)).log_prob(z).sum(-1))
    with pytest.raises(TypeError, match=r"reparam\.wrap\(base\)"):
        q.from_noise(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="no noise"):
        q.rsample((2,), noise="antithetic")


# --------------------------------------------------------------------------- sampling
def _assert_moments(q, n=20000):
    """Sample mean and covariance within 5 standard errors of the closed forms."""
    z = q.sample((n,))
    mean = z.mean(0)
    se_mean = z.std(0) / math.sqrt(n)
    assert ((mean - q.mean).abs() <= 5 * se_mean).all(), (mean, q.mean)
    c = z - mean
    prods = c.unsqueeze(-1) * c.unsqueeze(-2)  # (n, *batch, d, d)
    cov = prods.mean(0)
    se_cov = prods.std(0) / math.sqrt(n)
    assert ((cov - q.covariance_matrix).abs() <= 5 * se_cov + 1e-12).all(), (
        cov,
        q.covariance_matrix,
    )


@pytest.mark.parametrize("name", PARAMETERIZATIONS)
def test_mvn_sample_moments(name):
    _assert_moments(_pair(name)[0])


def test_lowrank_sample_moments():
    _assert_moments(_lowrank_pair()[0])


def test_diagonal_sample_moments():
    _assert_moments(reparam.DiagonalNormal(t(LOC), t(SCALE)))


def test_float32_is_kept():
    q = reparam.MultivariateNormal(
        torch.zeros(3), precision_matrix=t(SPD[0]).float(), validate_args=True
    )
    z, lp = q.rsample_and_log_prob((4,))
    assert z.dtype == lp.dtype == q.precision_matrix.dtype == torch.float32
    q = reparam.MultivariateNormal(torch.zeros(3, dtype=DT), scale_tril=torch.eye(3))
    assert q.scale_tril.dtype == DT
