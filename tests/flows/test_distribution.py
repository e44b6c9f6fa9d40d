"""FlowDistribution and the Flow builders: shapes, ε-consistency, exact densities, errors."""

from __future__ import annotations

import math

import pytest
import torch

from reparam.distributions import DiagonalNormal, MultivariateNormal, Normal
from reparam.flows import (
    FLOWS,
    IAF,
    MAF,
    NSF,
    ActNorm,
    Flow,
    FlowDistribution,
    MaskedAffineAutoregressive,
    Planar,
    PlanarFlow,
    Radial,
    RadialFlow,
    RealNVP,
    ReversePermutation,
    build_flow,
)

SMALL = (8, 8)

BUILDERS = {
    "maf": lambda d, c: MAF(d, c, transforms=2, hidden_features=SMALL),
    "iaf": lambda d, c: IAF(d, c, transforms=2, hidden_features=SMALL),
    "nsf-ar-inverse": lambda d, c: NSF(d, c, transforms=2, hidden_features=SMALL, bins=4),
    "nsf-ar-forward": lambda d, c: NSF(
        d, c, transforms=2, hidden_features=SMALL, bins=4, fast="forward"
    ),
    "nsf-coupling": lambda d, c: NSF(d, c, transforms=2, hidden_features=SMALL, coupling=True),
    "realnvp": lambda d, c: RealNVP(d, c, transforms=2, hidden_features=SMALL),
    "planar": lambda d, c: PlanarFlow(d, c, transforms=3),
    "radial": lambda d, c: RadialFlow(d, c, transforms=3),
}


def randomize(module: torch.nn.Module, std: float = 0.3) -> torch.nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn_like(p))
    return module


def make(name: str, d: int = 3, c: int = 0) -> Flow:
    torch.manual_seed(0)
    return randomize(BUILDERS[name](d, c).double())


@pytest.fixture(params=sorted(BUILDERS))
def builder(request):
    return request.param


# ---------------------------------------------------------------- shapes and ε
def test_shapes_unconditional(builder):
    q = make(builder)()
    assert isinstance(q, FlowDistribution)
    assert q.batch_shape == ()
    assert q.event_shape == (3,)
    z, log_q = q.rsample_and_log_prob((2, 5))
    assert z.shape == (2, 5, 3)
    assert log_q.shape == (2, 5)
    assert q.rsample().shape == (3,)
    assert q.log_prob(z).shape == (2, 5)
    assert q.sample_noise((4,)).shape == (4, 3)


def test_shapes_conditional(builder):
    flow = make(builder, 3, 2)
    ctx = torch.randn(4, 2, dtype=torch.float64)
    q = flow(ctx)
    assert q.batch_shape == (4,)
    assert q.event_shape == (3,)
    z, log_q = q.rsample_and_log_prob((6,))
    assert z.shape == (6, 4, 3)
    assert log_q.shape == (6, 4)
    torch.testing.assert_close(q.log_prob(z), log_q, rtol=1e-8, atol=1e-8)
    assert q.log_prob(z[0]).shape == (4,)
    assert q.log_prob(z[0, 0]).shape == (4,)  # (D,) broadcasts against the batch


def test_rsample_is_from_noise_of_sample_noise(builder):
    q = make(builder)()
    torch.manual_seed(5)
    z = q.rsample((7,))
    torch.manual_seed(5)
    z2 = q.from_noise(q.sample_noise((7,)))
    torch.manual_seed(5)
    z3, _ = q.rsample_and_log_prob((7,))
    assert torch.equal(z, z2)
    assert torch.equal(z, z3)


def test_log_q_from_noise_equals_log_prob(builder):
    """One forward pass (ε side) and one inverse pass (z side) give the same density."""
    q = make(builder)()
    z, log_q = q.rsample_and_log_prob((64,))
    torch.testing.assert_close(q.log_prob(z), log_q, rtol=1e-8, atol=1e-8)
    eps = q.sample_noise((16,))
    z, log_q = q.from_noise_and_log_prob(eps)
    torch.testing.assert_close(q.log_prob(z), log_q, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(q.log_prob_from_noise(eps, z), log_q, rtol=1e-12, atol=1e-12)
    base = DiagonalNormal(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    ladj = q.log_abs_det_jacobian(eps, z)
    torch.testing.assert_close(base.log_prob(eps) - ladj, log_q, rtol=1e-10, atol=1e-10)


def test_randomized_flow_is_not_standard_normal(builder):
    """Guards the consistency test: the randomized flows really transform."""
    q = make(builder)()
    z = torch.randn(32, 3, dtype=torch.float64)
    normal = DiagonalNormal(
        torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    )
    assert (q.log_prob(z) - normal.log_prob(z)).abs().max() > 1e-3


def test_conditional_batch_matches_single_contexts(builder):
    flow = make(builder, 3, 2)
    ctx = torch.randn(4, 2, dtype=torch.float64)
    q = flow(ctx)
    z, log_q = q.rsample_and_log_prob((5,))
    for i in range(4):
        qi = flow(ctx[i])
        assert qi.batch_shape == ()
        torch.testing.assert_close(qi.log_prob(z[:, i]), log_q[:, i], rtol=1e-8, atol=1e-8)
    # a different context gives a different distribution
    other = flow(ctx.flip(0)).log_prob(z)
    assert (other - log_q).abs().max() > 1e-6


def test_log_prob_gradients_reach_every_parameter(builder):
    flow = make(builder, 3, 2)
    ctx = torch.randn(10, 2, dtype=torch.float64)
    data = torch.randn(10, 3, dtype=torch.float64)
    loss = -flow(ctx).log_prob(data).mean()
    loss.backward()
    for name, p in flow.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name


def test_rsample_gradients_reach_every_parameter(builder):
    flow = make(builder)
    z, log_q = flow().rsample_and_log_prob((10,))
    (z.pow(2).sum() + log_q.sum()).backward()
    for name, p in flow.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().max() > 0, name


# ---------------------------------------------------------------- noise strategies
def test_antithetic_pairs_reflect_in_eps():
    q = make("maf")()
    torch.manual_seed(3)
    eps = q.sample_noise((8,), noise="antithetic")
    assert torch.equal(eps[4:], -eps[:4])
    torch.manual_seed(3)
    z, log_q = q.rsample_and_log_prob((8,), noise="antithetic")
    torch.testing.assert_close(z, q.from_noise(eps))
    torch.testing.assert_close(q.log_prob(z), log_q, rtol=1e-8, atol=1e-8)
    torch.manual_seed(3)
    assert torch.equal(q.rsample((8,), noise="antithetic"), z)


def test_qmc_noise_works_and_is_balanced():
    q = make("realnvp")()
    z, log_q = q.rsample_and_log_prob((64,), noise="qmc")
    assert z.shape == (64, 3)
    assert torch.isfinite(z).all()
    torch.testing.assert_close(q.log_prob(z), log_q, rtol=1e-8, atol=1e-8)
    eps = q.sample_noise((256,), noise="qmc")
    # scrambled Sobol: the sample mean of ε is far closer to 0 than MC's 1/√n = 0.0625
    assert eps.mean(0).abs().max() < 0.02


# ---------------------------------------------------------------- exact normalization
def test_density_of_a_randomized_2d_flow_integrates_to_one():
    """∫ q = 1 by the trapezoid rule on [−B, B]².

    The flow is planar and radial layers only: each moves a point by at most |û_k|
    (planar) or |β_k| (radial), so z lies within S = Σ of those of the base point x₀ and
    the mass outside the box is at most P(‖x₀‖_∞ > B − S) ≤ 4 Φ(−(B − S)) < 1e-14 with
    B = S + 8. The integrand is smooth and decays with all its derivatives at the edges,
    so the trapezoid error is far below the tolerance (Euler–Maclaurin) at this step.
    """
    torch.manual_seed(1)
    layers = [Planar(2), Radial(2), Planar(2), Radial(2), Planar(2)]
    flow = randomize(Flow(layers, 2).double(), std=1.0)
    shift = 0.0
    with torch.no_grad():
        for t in layers:
            if isinstance(t, Planar):
                u_hat = t._params(None)[0]
                shift += float(u_hat.norm())
            else:
                shift += float(t._params(None)[2].abs())
    bound = shift + 8.0
    n = 401
    grid = torch.linspace(-bound, bound, n, dtype=torch.float64)
    zz = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1)
    with torch.no_grad():
        dens = flow().log_prob(zz.reshape(-1, 2)).exp().reshape(n, n)
    total = torch.trapezoid(torch.trapezoid(dens, grid, dim=1), grid)
    assert abs(float(total) - 1.0) < 1e-4  # observed ~2e-7 at this step
    # and the flow is far from its base (the test would pass trivially otherwise)
    normal = torch.exp(-0.5 * zz.pow(2).sum(-1)) / (2 * math.pi)
    assert (dens - normal).abs().max() > 0.02


@pytest.mark.parametrize("name", ["nsf-ar-inverse", "nsf-coupling"])
def test_density_of_a_randomized_spline_flow_integrates_to_one(name):
    """∫ q = 1 on [−10, 10]² for the network flows' spline family.

    A spline layer maps [−B, B] onto itself coordinatewise and is the identity outside
    (B = 5 here), and reversals only swap coordinates, so |z_i| > 10 exactly when the base
    draw has |x_j| > 10 for the matching j: the mass outside the box is below
    4 Φ(−10) ≈ 3e-23. Moderate random weights (σ = 0.1) keep the bins smooth enough for
    the trapezoid rule at this step.
    """
    torch.manual_seed(2)
    flow = randomize(BUILDERS[name](2, 0).double(), std=0.1)
    n = 801
    grid = torch.linspace(-10.0, 10.0, n, dtype=torch.float64)
    zz = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1)
    with torch.no_grad():
        dens = flow().log_prob(zz.reshape(-1, 2)).exp().reshape(n, n)
    total = torch.trapezoid(torch.trapezoid(dens, grid, dim=1), grid)
    assert abs(float(total) - 1.0) < 1e-3  # observed 1.3e-6 (autoregressive), 4e-7 (coupling)
    normal = torch.exp(-0.5 * zz.pow(2).sum(-1)) / (2 * math.pi)
    assert (dens - normal).abs().max() > 0.01  # not the base


# ---------------------------------------------------------------- other bases, expand
def test_full_covariance_base():
    torch.manual_seed(0)
    cov = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 0.5]], dtype=torch.float64)
    base = MultivariateNormal(torch.ones(3, dtype=torch.float64), covariance_matrix=cov)
    layers = [
        randomize(MaskedAffineAutoregressive(3, hidden_features=SMALL).double()),
        ReversePermutation(3),
        randomize(Radial(3).double()),
    ]
    q = FlowDistribution(base, layers)
    z, log_q = q.rsample_and_log_prob((20,))
    torch.testing.assert_close(q.log_prob(z), log_q, rtol=1e-8, atol=1e-8)


def test_expand():
    flow = make("maf", 3, 2)
    ctx = torch.randn(2, 2, dtype=torch.float64)
    q = flow(ctx)
    big = q.expand((5, 2))
    assert big.batch_shape == (5, 2)
    assert big.context.shape == (5, 2, 2)
    assert big.context.untyped_storage().data_ptr() == ctx.untyped_storage().data_ptr()
    z = torch.randn(7, 5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(big.log_prob(z), q.log_prob(z), rtol=1e-12, atol=1e-12)
    z2, log_q = big.rsample_and_log_prob((3,))
    assert z2.shape == (3, 5, 2, 3)
    torch.testing.assert_close(big.log_prob(z2), log_q, rtol=1e-8, atol=1e-8)
    uq = make("planar")().expand((4,))
    assert uq.rsample((2,)).shape == (2, 4, 3)


def test_context_is_expanded_not_copied():
    flow = make("maf", 3, 2)
    q = flow(torch.randn(4, 2, dtype=torch.float64))
    ctx = q._context_for(torch.Size((100, 4)))
    assert ctx.shape == (100, 4, 2)
    assert ctx.stride(0) == 0


# ---------------------------------------------------------------- bad input
def test_bad_base_and_transforms():
    t = [Planar(3)]
    with pytest.raises(ValueError, match="event shape"):
        FlowDistribution(Normal(torch.zeros(3), torch.ones(3)), t)
    with pytest.raises(ValueError, match="ReparamDistribution"):
        FlowDistribution(torch.distributions.Normal(0.0, 1.0), t)
    with pytest.raises(ValueError, match="features"):
        FlowDistribution(DiagonalNormal(torch.zeros(2), torch.ones(2)), t)
    with pytest.raises(ValueError, match="Bijection"):
        FlowDistribution(DiagonalNormal(torch.zeros(3), torch.ones(3)), [torch.nn.Linear(3, 3)])
    with pytest.raises(ValueError, match="features"):
        Flow([Planar(3), Planar(2)], 3)
    with pytest.raises(ValueError, match="context_features"):
        Flow([Planar(3, context_features=2)], 3, context_features=4)


def test_context_errors():
    base = DiagonalNormal(torch.zeros(4, 3), torch.ones(4, 3))
    cond = [Planar(3, context_features=2)]
    with pytest.raises(ValueError, match="context missing"):
        FlowDistribution(base, cond)
    with pytest.raises(ValueError, match="context must have shape"):
        FlowDistribution(base, cond, torch.zeros(5, 2))
    with pytest.raises(ValueError, match="no transform is conditional"):
        FlowDistribution(base, [Planar(3)], torch.zeros(4, 2))
    flow = MAF(3, 2, transforms=1, hidden_features=SMALL)
    with pytest.raises(ValueError, match="context missing"):
        flow()
    with pytest.raises(ValueError, match="context must have shape"):
        flow(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="unconditional"):
        MAF(3, transforms=1, hidden_features=SMALL)(torch.zeros(4, 2))


def test_builder_errors():
    with pytest.raises(ValueError, match="choose one of .*maf.*realnvp"):
        build_flow("glow", 2)
    with pytest.raises(ValueError, match="at least 2 features"):
        RealNVP(1)
    with pytest.raises(ValueError, match="at least 2 features"):
        NSF(1, coupling=True)
    with pytest.raises(ValueError, match="transforms"):
        MAF(2, transforms=0)


def test_build_flow_names():
    assert set(FLOWS) == {"maf", "iaf", "nsf", "realnvp", "planar", "radial"}
    for name, cls in FLOWS.items():
        flow = build_flow(name, 2, context_features=1, transforms=2, hidden_features=SMALL)
        assert type(flow) is cls
        assert len(flow.transforms) >= 2
        assert isinstance(flow.transforms, torch.nn.ModuleList)
        q = flow(torch.randn(3, 1))
        assert q.rsample((2,)).shape == (2, 3, 2)
    nsf = build_flow("NSF", 2, transforms=1, bins=3, bound=2.0, coupling=True)
    assert isinstance(nsf, NSF)


def test_one_feature_flows():
    for name in ("maf", "iaf", "nsf-ar-inverse", "planar", "radial"):
        q = make(name, 1)()
        z, log_q = q.rsample_and_log_prob((10,))
        torch.testing.assert_close(q.log_prob(z), log_q, rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------- ActNorm in a flow
def test_actnorm_initializes_once_in_a_flow_and_is_checkpointed():
    torch.manual_seed(0)

    def build() -> Flow:
        return Flow([MaskedAffineAutoregressive(2, hidden_features=SMALL), ActNorm(2)], 2)

    flow = build()
    data = torch.randn(256, 2) * torch.tensor([3.0, 0.5]) + torch.tensor([1.0, -2.0])
    flow().log_prob(data)  # the density walk meets ActNorm first: it standardizes the data
    act = flow.transforms[1]
    torch.testing.assert_close(act.loc.detach(), data.mean(0))
    torch.testing.assert_close(act.log_scale.detach(), data.std(0, unbiased=False).log())
    loc = act.loc.detach().clone()
    flow().log_prob(data * 5)
    torch.testing.assert_close(act.loc.detach(), loc)
    state = flow.state_dict()
    assert bool(state["transforms.1.initialized"])
    fresh = build()
    fresh.load_state_dict(state)
    fresh().log_prob(data * 5)
    torch.testing.assert_close(fresh.transforms[1].loc.detach(), loc)


# ----------------------------------------------------------------- detached parameters
@pytest.mark.parametrize("name", ["maf", "iaf", "planar"])
def test_detach_params_stops_transform_parameters(name):
    """detach_params(q) (sticking the landing, DReG) evaluates the transforms with
    detached parameters: same log q, no gradient to θ except through z."""
    from reparam.estimators import detach_params
    from reparam.flows import build_flow

    torch.manual_seed(0)
    flow = build_flow(name, 3, context_features=2).double()
    for p in flow.parameters():
        p.data.normal_(0.0, 0.1)
    context = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    q = flow(context)
    z, log_q = q.rsample_and_log_prob((5,))
    stopped = detach_params(q)
    assert not q._stopped
    lq_fixed_z = stopped.log_prob(z.detach())
    torch.testing.assert_close(lq_fixed_z, log_q, rtol=1e-10, atol=1e-10)
    assert not lq_fixed_z.requires_grad
    # Through z the gradient is the chain rule ∂log q/∂z · ∂z/∂θ.
    params = [*flow.parameters(), context]
    g_stop = torch.autograd.grad(
        stopped.log_prob(z).sum(), params, retain_graph=True, allow_unused=True
    )
    zz = z.detach().requires_grad_()
    score_z = torch.autograd.grad(stopped.log_prob(zz).sum(), zz)[0]
    g_chain = torch.autograd.grad(z, params, grad_outputs=score_z, allow_unused=True)
    for a, b in zip(g_stop, g_chain, strict=True):
        if a is None or b is None:
            assert a is None or not a.abs().any()
            assert b is None or not b.abs().any()
        else:
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)
