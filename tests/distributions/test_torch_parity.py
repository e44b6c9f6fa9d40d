"""Behaviours where reparam follows torch.distributions: modes and moments at the edges,
Python numbers as values, normalized category weights, and the representable ranges."""

import math

import pytest
import torch
import torch.distributions as td

import reparam

F64 = torch.float64


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_beta_mode_follows_torch_on_the_boundary(dtype):
    pairs = [(2, 1), (1, 2), (0.5, 0.5), (1, 1), (0.5, 2), (1, 0.5), (3, 4), (0.5, 1), (2, 0.3)]
    a = torch.tensor([p[0] for p in pairs], dtype=dtype)
    b = torch.tensor([p[1] for p in pairs], dtype=dtype)
    ours, ref = reparam.Beta(a, b).mode, td.Beta(a, b).mode
    torch.testing.assert_close(ours, ref, equal_nan=True)
    assert ours[0] == 1
    assert ours[1] == 0


def test_dirichlet_mode_follows_torch_on_the_boundary():
    alpha = torch.tensor(
        [[0.5, 0.3, 0.2], [2.0, 0.5, 3.0], [1.0, 0.5, 0.5], [0.5, 1.0, 2.0], [2.0, 3.0, 4.0]],
        dtype=F64,
    )
    ours = reparam.Dirichlet(alpha).mode
    torch.testing.assert_close(ours, td.Dirichlet(alpha).mode, equal_nan=True)
    assert torch.isnan(ours[2]).all()  # no α > 1, not all < 1


def test_mode_is_differentiable_where_finite():
    a = torch.tensor([2.0, 3.0], dtype=F64, requires_grad=True)
    reparam.Beta(a, torch.tensor([3.0, 0.5], dtype=F64)).mode.sum().backward()
    torch.testing.assert_close(a.grad, torch.tensor([2.0 / 9.0, 0.0], dtype=F64))


def test_cauchy_variance_and_uniform_mode_follow_torch():
    loc, scale = torch.zeros(2, 3), torch.ones(2, 3)
    for name in ("variance", "stddev"):
        ours, ref = getattr(reparam.Cauchy(loc, scale), name), getattr(td.Cauchy(loc, scale), name)
        assert ours.shape == ref.shape
        assert torch.isposinf(ours).all()
        assert torch.isposinf(ref).all()
    ours, ref = reparam.Uniform(loc, scale).mode, td.Uniform(loc, scale).mode
    assert ours.shape == ref.shape
    assert torch.isnan(ours).all()
    assert torch.isnan(ref).all()


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize(
    ("name", "args", "value"),
    [("Gamma", (2.0, 1.5), 0), ("Gamma", (2.0, 1.5), 1.3), ("Chi2", (3.0,), 1.0)],
)
def test_gamma_and_chi2_log_prob_accept_a_number(name, args, value, validate):
    ours = getattr(reparam, name)(*[torch.tensor(a, dtype=F64) for a in args])
    ours._validate_args = validate
    ref = getattr(td, name)(*[torch.tensor(a, dtype=F64) for a in args], validate_args=validate)
    lp = ours.log_prob(value)
    assert lp.dtype == F64
    torch.testing.assert_close(lp, ref.log_prob(value))


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("Gamma", (2.0, 1.5)),
        ("Exponential", (1.5,)),
        ("Weibull", (1.5, 2.0)),
        ("HalfNormal", (1.5,)),
        ("Gumbel", (0.3, 1.5)),
        ("Normal", (0.3, 1.5)),
        ("Kumaraswamy", (2.0, 3.0)),
    ],
)
def test_log_prob_cdf_icdf_accept_a_number_where_torch_does(name, args):
    """Without validation torch (and reparam) take a number; with it only Gamma.log_prob
    does, the others raise ValueError as torch's."""
    params = [torch.tensor(a, dtype=F64) for a in args]
    ours = getattr(reparam, name)(*params, validate_args=False)
    ref = getattr(td, name)(*params, validate_args=False)
    accepted = 0
    for method, value in (("log_prob", 0.4), ("cdf", 0.4), ("icdf", 0.3)):
        got = getattr(ours, method)(value)
        torch.testing.assert_close(got, getattr(ours, method)(torch.tensor(value, dtype=F64)))
        try:
            want = getattr(ref, method)(value)
        except (AttributeError, TypeError, NotImplementedError):
            continue
        accepted += 1
        torch.testing.assert_close(got, torch.as_tensor(want, dtype=F64))
    assert accepted > 0
    validated = getattr(reparam, name)(*params, validate_args=True)
    if name == "Gamma":
        torch.testing.assert_close(validated.log_prob(0.4), ours.log_prob(0.4))
    else:
        with pytest.raises(ValueError, match="must be a Tensor"):
            validated.log_prob(0.4)
        with pytest.raises(ValueError, match="must be a Tensor"):
            getattr(td, name)(*params).log_prob(0.4)


def test_categorical_probs_are_normalized_as_torch_does():
    weights = torch.tensor([[2.0, 3.0, 5.0], [0.1, 0.1, 0.2]], dtype=F64, requires_grad=True)
    ours, ref = reparam.Categorical(probs=weights), td.Categorical(probs=weights)
    torch.testing.assert_close(ours.probs, ref.probs)
    torch.testing.assert_close(ours.probs.sum(-1), torch.ones(2, dtype=F64))
    value = torch.tensor([2, 0])
    torch.testing.assert_close(ours.log_prob(value), ref.log_prob(value))
    ours.log_prob(value).sum().backward()
    assert torch.isfinite(weights.grad).all()


def test_relaxed_one_hot_categorical_probs_are_normalized_as_torch_does():
    weights = torch.tensor([2.0, 3.0, 5.0], dtype=F64)
    ours = reparam.RelaxedOneHotCategorical(torch.tensor(0.7, dtype=F64), probs=weights)
    ref = td.RelaxedOneHotCategorical(torch.tensor(0.7, dtype=F64), probs=weights)
    torch.testing.assert_close(ours.probs, ref.probs)
    z = ref.sample((5,))
    torch.testing.assert_close(ours.log_prob(z), ref.log_prob(z))


@pytest.mark.parametrize("cls", ["RelaxedBernoulli", "RelaxedOneHotCategorical"])
def test_relaxed_arg_constraints_have_probs_as_torch(cls):
    ours, ref = getattr(reparam, cls), getattr(td, cls)
    assert set(ref.arg_constraints) <= set(ours.arg_constraints)
    for name, constraint in ref.arg_constraints.items():
        assert type(ours.arg_constraints[name]) is type(constraint), name
    q = ours(0.5, logits=torch.tensor([0.3, -0.2]))
    for name, constraint in ours.arg_constraints.items():
        assert constraint.check(getattr(q, name)).all(), name


def test_dirichlet_refuses_an_empty_event_dimension():
    with pytest.raises(ValueError, match=r"'concentration' must have K >= 1.*\(0,\)"):
        reparam.Dirichlet(torch.tensor([]))
    with pytest.raises(ValueError, match=r"'concentration'.*\(2, 0\)"):
        reparam.Dirichlet(torch.ones(2, 0))


def test_dirichlet_log_prob_off_the_simplex_is_torchs_formula_without_validation():
    alpha = torch.tensor([[2.0, 3.0, 4.0], [1.0, 1.0, 1.0]], dtype=F64)
    value = torch.tensor([[0.5, 0.7, 0.2], [-0.5, 0.7, 0.8]], dtype=F64)
    ours = reparam.Dirichlet(alpha, validate_args=False).log_prob(value)
    ref = td.Dirichlet(alpha, validate_args=False).log_prob(value)
    torch.testing.assert_close(ours, ref, equal_nan=True)
    with pytest.raises(ValueError, match="within the support"):
        reparam.Dirichlet(alpha, validate_args=True).log_prob(value)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_weibull_samples_and_gradients_stay_finite_beyond_the_representable_range(dtype):
    """Weibull(1, 1e-6) puts ~37 % of its mass beyond the largest float64: the samples are
    clamped (zero gradient there), and the fraction at the clamp is P(z > clamp)."""
    scale = torch.tensor(1.0, dtype=dtype, requires_grad=True)
    k = torch.tensor(1e-6, dtype=dtype, requires_grad=True)
    n = 20000
    z = reparam.Weibull(scale, k).rsample((n,))
    assert torch.isfinite(z).all()
    assert (z >= torch.finfo(dtype).tiny).all()
    z.sum().backward()
    assert torch.isfinite(scale.grad)
    assert torch.isfinite(k.grad)
    top = z.detach().max()
    frac = (z.detach() == top).double().mean().item()
    want = math.exp(-math.exp(1e-6 * math.log(top.item())))  # P(z ≥ top), λ = 1
    se = math.sqrt(want * (1 - want) / n)
    assert abs(frac - want) <= 5 * se, (frac, want)


def test_uniform_arg_constraints_depend_on_the_other_bound_as_torch():
    low, high = torch.tensor([0.0, 1.0]), torch.tensor([2.0, 1.5])
    constraint = reparam.Uniform(low, high).arg_constraints
    ref = td.Uniform(low, high).arg_constraints
    for name in ("low", "high"):
        assert type(constraint[name]) is type(ref[name])
    assert constraint["low"].check(torch.tensor([1.9, 1.4])).all()
    assert constraint["low"].check(torch.tensor([2.1, 1.4])).tolist() == [False, True]
    with pytest.raises(ValueError, match=r"'low' and 'high'.*low < high"):
        reparam.Uniform(low, torch.tensor([2.0, 0.5]))
    with pytest.raises(ValueError, match=r"'high'.*finite"):
        reparam.Uniform(low, torch.tensor([2.0, math.inf]))


def test_mixture_support_checks_every_component_as_torch():
    """Binomial components have a support per batch element and component; a value of
    the batch shape is checked against each (torch's MixtureSameFamilyConstraint)."""
    mix = td.Categorical(probs=torch.full((4, 3), 1 / 3))
    comp = td.Binomial(torch.tensor([[5.0], [10.0], [20.0], [8.0]]), torch.full((4, 3), 0.4))
    ours, ref = reparam.MixtureSameFamily(mix, comp), td.MixtureSameFamily(mix, comp)
    x = ours.sample((6,))
    assert x.shape == (6, 4)
    torch.testing.assert_close(ours.log_prob(x), ref.log_prob(x))
    value = torch.full((4,), 7.0)
    torch.testing.assert_close(ours.support.check(value), ref.support.check(value))


# The explicit twins of issue 15, with parameters where moments are infinite/undefined.
# GeneralizedPareto in float32: torch 2.13's log_prob fails on float64 parameters.
TWINS_F32 = {"GeneralizedPareto"}
TWINS = {
    "HalfCauchy": {"scale": [0.5, 1.0, 2.5]},
    "Pareto": {"scale": [0.5, 1.0, 2.0, 1.5], "alpha": [0.5, 1.5, 3.0, 1.0]},
    "GeneralizedPareto": {
        "loc": [0.3, -1.0, 2.0, 0.0, 0.5],
        "scale": [0.5, 1.0, 2.0, 1.5, 1.0],
        "concentration": [-0.6, 0.0, 0.3, 0.7, 1.2],
    },
    # inside lims (0.4995, 0.5) and outside, both tails
    "ContinuousBernoulli": {"probs": [0.0, 0.2, 0.4995, 0.5, 0.5008, 0.7, 1.0]},
}


@pytest.mark.parametrize("name", list(TWINS))
def test_explicit_twins_match_torch(name):
    dtype = torch.float32 if name in TWINS_F32 else F64
    kw = {k: torch.tensor(v, dtype=dtype) for k, v in TWINS[name].items()}
    ours, ref = getattr(reparam, name)(**kw), getattr(td, name)(**kw)
    assert ours.batch_shape == ref.batch_shape
    torch.manual_seed(0)
    z = ref.sample((200,))
    u = torch.linspace(0.001, 0.999, 200, dtype=dtype).unsqueeze(-1).expand(z.shape)
    torch.testing.assert_close(ours.log_prob(z), ref.log_prob(z))
    torch.testing.assert_close(ours.cdf(z), ref.cdf(z))
    torch.testing.assert_close(ours.icdf(u), ref.icdf(u))
    torch.testing.assert_close(ours.from_noise(u), ref.icdf(u))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    for stat in ("mean", "mode", "variance"):
        try:
            want = getattr(ref, stat)
        except NotImplementedError:  # ContinuousBernoulli's mode: neither has one
            with pytest.raises(NotImplementedError):
                getattr(ours, stat)
            continue
        torch.testing.assert_close(getattr(ours, stat), want, equal_nan=True)
    assert type(ours.support) is type(ref.support)
    assert ours.support.check(z).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_generalized_pareto_is_smooth_through_zero_concentration(dtype):
    """At ξ = 0 (torch's exponential branch) values are the exponential's and the
    gradients in ξ are the limits: ∂z/∂ξ = σe²/2, ∂log q(z)/∂ξ = y²/2 − y."""
    u = torch.tensor([0.01, 0.3, 0.7, 0.99], dtype=dtype)
    e = -torch.log1p(-u)
    for xi0 in (0.0, 1e-9, -1e-9):
        xi = torch.tensor(xi0, dtype=dtype, requires_grad=True)
        q = reparam.GeneralizedPareto(torch.tensor(0.5, dtype=dtype), 2.0, xi)
        z = q.from_noise(u)
        torch.testing.assert_close(z, 0.5 + 2.0 * e)
        (grad,) = torch.autograd.grad(z.sum(), xi)
        torch.testing.assert_close(grad, (2.0 * e * e / 2).sum())
        y = e.detach()  # (z − μ)/σ
        lp = q.log_prob(z.detach())
        torch.testing.assert_close(lp, -math.log(2.0) - y)
        (grad,) = torch.autograd.grad(lp.sum(), xi)
        torch.testing.assert_close(grad, (y * y / 2 - y).sum())
    ref = td.GeneralizedPareto(torch.tensor(0.5), torch.tensor(2.0), torch.tensor(0.0))
    q = reparam.GeneralizedPareto(0.5, 2.0, 0.0)
    z = ref.sample((50,))
    torch.testing.assert_close(q.log_prob(z), ref.log_prob(z))
    torch.testing.assert_close(q.cdf(z), ref.cdf(z))


def test_generalized_pareto_support_depends_on_the_sign_of_concentration():
    loc, scale = torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)
    xi = torch.tensor([-0.5, 0.0, 0.5], dtype=F64)
    q = reparam.GeneralizedPareto(loc, scale, xi)
    z = q.rsample((2000,))
    assert q.support.check(z).all()
    assert (z[:, 0] <= 2).all()
    value = torch.tensor([2.5, 2.5, 2.5], dtype=F64)
    assert q.support.check(value).tolist() == [False, True, True]
    off = reparam.GeneralizedPareto(loc, scale, xi, validate_args=False)
    assert torch.isneginf(off.log_prob(value)[0])
    assert off.cdf(value)[0] == 1
    ends = torch.tensor([2.0, math.inf, math.inf], dtype=F64)
    torch.testing.assert_close(q.icdf(torch.ones(3, dtype=F64)), ends)
    torch.testing.assert_close(q.icdf(torch.zeros(3, dtype=F64)), loc)
    with pytest.raises(ValueError, match="support"):
        reparam.GeneralizedPareto(loc, scale, xi, validate_args=True).log_prob(value)


def test_continuous_bernoulli_from_logits_and_custom_lims_match_torch():
    logits = torch.tensor([-3.0, -0.01, 0.0, 0.002, 2.0], dtype=F64, requires_grad=True)
    ours = reparam.ContinuousBernoulli(logits=logits, lims=(0.49, 0.51))
    ref = td.ContinuousBernoulli(logits=logits, lims=(0.49, 0.51))
    torch.testing.assert_close(ours.probs, ref.probs)
    u = torch.linspace(0.01, 0.99, 30, dtype=F64).unsqueeze(-1).expand(30, 5)
    z, log_q = ours.from_noise_and_log_prob(u)
    torch.testing.assert_close(z, ref.icdf(u))
    torch.testing.assert_close(log_q, ref.log_prob(z))
    for stat in ("mean", "variance"):
        torch.testing.assert_close(getattr(ours, stat), getattr(ref, stat))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    (z.sum() + log_q.sum()).backward()
    assert torch.isfinite(logits.grad).all()
    wide = ours.expand((2, 5))
    assert wide._lims == (0.49, 0.51)
    torch.testing.assert_close(wide.mean, ref.expand((2, 5)).mean)


def test_half_cauchy_scale_gradient_is_unbiased_where_its_variance_is_finite():
    """∂/∂γ E[exp(−z)], z = γ tan(πu/2): the pathwise estimate t·exp(−γt) is bounded, so
    its mean over 200 groups of 50 draws must be within 5 standard errors of the derivative
    of the quadrature (scipy)."""
    import numpy as np
    from scipy import integrate, stats

    gammas = torch.tensor([0.5, 1.0, 2.5], dtype=torch.float64)
    scale = gammas.expand(200, 3).clone().requires_grad_()
    z = reparam.HalfCauchy(scale).rsample((50,))
    (grad,) = torch.autograd.grad(torch.exp(-z).mean(0).sum(), scale)

    def expect(g):
        return integrate.quad(
            lambda x: math.exp(-x) * stats.halfcauchy.pdf(x, scale=g), 0, np.inf
        )[0]

    h = 1e-5
    exact = torch.tensor([(expect(g + h) - expect(g - h)) / (2 * h) for g in gammas.tolist()])
    se = grad.std(0) / math.sqrt(grad.shape[0])
    assert ((grad.mean(0) - exact).abs() <= 5 * se).all(), (grad.mean(0), exact, se)
