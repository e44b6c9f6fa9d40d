"""Guides: shapes, one-pass log q, initial values, moments, gradients, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from reparam.distributions import (
    DiagonalNormal,
    LowRankMultivariateNormal,
    MultivariateNormal,
    ReparamDistribution,
)
from reparam.flows import FlowDistribution
from reparam.vi import (
    GUIDES,
    FlowGuide,
    FullRankGuide,
    LowRankGuide,
    MeanFieldGuide,
    make_guide,
)

D = 4
CASES = {
    "meanfield": ("meanfield", {}, DiagonalNormal),
    "fullrank": ("fullrank", {}, MultivariateNormal),
    "lowrank": ("lowrank", {"rank": 2}, LowRankMultivariateNormal),
    "iaf": ("flow", {"flow": "iaf", "transforms": 2, "hidden_features": (16,)}, FlowDistribution),
    "nsf": ("flow", {"flow": "nsf", "transforms": 2, "hidden_features": (16,)}, FlowDistribution),
}


def _guide(case, **extra):
    name, kw, _ = CASES[case]
    return make_guide(name, D, **kw, **extra)


def test_registry():
    assert set(GUIDES) == {"meanfield", "fullrank", "lowrank", "flow"}
    assert GUIDES["meanfield"] is MeanFieldGuide
    assert GUIDES["flow"] is FlowGuide
    assert isinstance(make_guide("lowrank", 5, rank=3), LowRankGuide)
    assert make_guide("lowrank", 5, rank=3).cov_factor.shape == (5, 3)


@pytest.mark.parametrize("case", list(CASES))
def test_shapes_and_type(case):
    guide = _guide(case)
    assert isinstance(guide, torch.nn.Module)
    assert guide.dim == D
    q = guide()
    assert isinstance(q, ReparamDistribution)
    assert isinstance(q, CASES[case][2])
    assert q.event_shape == (D,)
    assert q.batch_shape == ()
    assert q.rsample((6,)).shape == (6, D)
    z, log_q = q.rsample_and_log_prob((3, 5))
    assert z.shape == (3, 5, D)
    assert log_q.shape == (3, 5)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rsample_and_log_prob_equals_log_prob(case, dtype):
    guide = _guide(case).to(dtype)
    # move away from the initial (near-identity) state so the check is not trivial
    with torch.no_grad():
        for p in guide.parameters():
            p.add_(0.3 * torch.randn_like(p))
    q = guide()
    z, log_q = q.rsample_and_log_prob((64,))
    assert z.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(log_q, q.log_prob(z), rtol=tol, atol=tol)


def test_initial_values():
    loc = torch.arange(D, dtype=torch.float32)
    mf = MeanFieldGuide(D, init_loc=loc, init_scale=0.3)()
    torch.testing.assert_close(mf.loc, loc)
    torch.testing.assert_close(mf.scale, torch.full((D,), 0.3))
    fr = FullRankGuide(D, init_loc=loc, init_scale=0.3)()
    torch.testing.assert_close(fr.scale_tril, 0.3 * torch.eye(D))
    torch.testing.assert_close(fr.loc, loc)
    lr = LowRankGuide(D, rank=3, init_loc=2.0, init_scale=0.3)
    torch.testing.assert_close(lr().loc, torch.full((D,), 2.0))
    torch.testing.assert_close(lr.cov_diag, torch.full((D,), 0.09 / 2))
    assert (lr.cov_factor != 0).all()
    fl = FlowGuide(D, init_scale=0.3)
    torch.testing.assert_close(fl.scale, torch.full((D,), 0.3))
    torch.testing.assert_close(fl().base.loc, torch.zeros(D))
    # large scales do not overflow the inverse softplus
    torch.testing.assert_close(MeanFieldGuide(2, init_scale=50.0).scale, torch.full((2,), 50.0))


def test_lowrank_initial_variance_is_about_init_scale_squared():
    # E[diag Σ] = s²: diag = D + Σ_j W_ij², W_ij ~ N(0, s²/(2r)); average over 400 coords
    s, r = 0.5, 4
    var = LowRankGuide(400, rank=r, init_scale=s)().variance
    # Var of Σ_j W_ij² is r · 2 (s²/(2r))² per coordinate; the mean of 400 has sd below
    se = math.sqrt(2 * r * (s * s / (2 * r)) ** 2 / 400)
    assert abs(var.mean().item() - s * s) < 5 * se


@pytest.mark.parametrize("case", ["meanfield", "fullrank", "lowrank"])
def test_samples_have_the_guide_covariance(case):
    guide = _guide(case).double()
    with torch.no_grad():
        for p in guide.parameters():
            p.add_(0.5 * torch.randn_like(p))
    q = guide()
    n = 20000
    z = q.rsample((n,)).detach()
    cov = q.covariance_matrix.detach()
    diag = cov.diagonal()
    # sample mean: se √(Σ_ii / n); sample covariance: se √((Σ_ii Σ_jj + Σ_ij²) / n)
    assert ((z.mean(0) - q.mean.detach()).abs() <= 5 * (diag / n).sqrt()).all()
    se = ((diag[:, None] * diag[None, :] + cov.pow(2)) / n).sqrt()
    assert ((torch.cov(z.T) - cov).abs() <= 5 * se).all()


@pytest.mark.parametrize("case", ["meanfield", "fullrank", "lowrank"])
def test_entropy_matches_monte_carlo(case):
    guide = _guide(case).double()
    with torch.no_grad():
        for p in guide.parameters():
            p.add_(0.5 * torch.randn_like(p))
    q = guide()
    _, log_q = q.rsample_and_log_prob((20000,))
    neg = -log_q.detach()
    se = neg.std() / math.sqrt(neg.numel())
    assert abs(q.entropy().item() - neg.mean().item()) < 5 * se.item()


@pytest.mark.parametrize("case", list(CASES))
def test_parameters_get_gradients(case):
    guide = _guide(case)
    opt = torch.optim.SGD(guide.parameters(), lr=0.05)
    target = torch.linspace(-1.0, 1.0, D)
    for _step in range(2):
        opt.zero_grad()
        z, log_q = guide().rsample_and_log_prob((32,))
        # −ELBO of an anisotropic Gaussian target
        loss = (0.5 * ((z - target) / torch.linspace(0.5, 2.0, D)).pow(2).sum(-1) + log_q).mean()
        loss.backward()
        for name, p in guide.named_parameters():
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all(), name
        opt.step()
    # after one step every parameter (flows: also the zero-initialized output layers'
    # upstream weights) receives a non-zero gradient
    for name, p in guide.named_parameters():
        assert p.grad.abs().sum() > 0, name


def test_fullrank_scale_tril_is_cholesky():
    """L = diag(softplus ρ)(I + strictly-lower A): lower-triangular, positive diagonal s,
    off-diagonal entries relative to their row's scale."""
    guide = FullRankGuide(D)
    with torch.no_grad():
        guide.unit_tril.copy_(torch.randn(D, D) * 3)
        guide.rho.copy_(torch.randn(D))
    L = guide.scale_tril
    s = F.softplus(guide.rho)
    assert (L.triu(1) == 0).all()
    torch.testing.assert_close(L.diagonal(), s)
    torch.testing.assert_close(L.tril(-1), s[:, None] * guide.unit_tril.tril(-1))


def test_flow_transforms_are_forward_fast():
    for flow in ("iaf", "nsf"):
        guide = FlowGuide(3, flow=flow, transforms=3)
        assert len(guide.transforms) == 3
        assert all(t.fast in ("forward", "both") for t in guide.transforms)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("cls", [MeanFieldGuide, FullRankGuide, LowRankGuide, FlowGuide])
@pytest.mark.parametrize("dim", [0, -1, 2.5, True, "3"])
def test_bad_dim(cls, dim):
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        cls(dim)


@pytest.mark.parametrize("cls", [MeanFieldGuide, FullRankGuide, LowRankGuide, FlowGuide])
@pytest.mark.parametrize("scale", [0.0, -1.0, math.nan, math.inf, "0.1", None])
def test_bad_init_scale(cls, scale):
    with pytest.raises(ValueError, match="init_scale"):
        cls(3, init_scale=scale)


@pytest.mark.parametrize("cls", [MeanFieldGuide, FullRankGuide, LowRankGuide])
def test_bad_init_loc(cls):
    with pytest.raises(ValueError, match=r"init_loc must have shape \(3,\)"):
        cls(3, init_loc=torch.zeros(4))
    with pytest.raises(ValueError, match="init_loc must be finite"):
        cls(3, init_loc=torch.tensor([0.0, math.nan, 0.0]))
    with pytest.raises(ValueError, match="init_loc"):
        cls(3, init_loc="abc")


def test_bad_guide_options():
    with pytest.raises(ValueError, match="rank must be an integer >= 1"):
        LowRankGuide(3, rank=0)
    with pytest.raises(ValueError, match="unknown flow 'maf'; choose one of iaf, nsf"):
        FlowGuide(3, flow="maf")
    with pytest.raises(ValueError, match="transforms must be an integer >= 1"):
        FlowGuide(3, transforms=0)
    with pytest.raises(ValueError, match="hidden_features"):
        FlowGuide(3, hidden_features="32")
    with pytest.raises(ValueError, match="hidden_features"):
        FlowGuide(3, hidden_features=(0,))
    with pytest.raises(ValueError, match="unknown guide 'normal'; choose one of meanfield"):
        make_guide("normal", 3)
