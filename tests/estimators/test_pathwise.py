"""Tests of reparam.estimators.pathwise: its options and the shared draw, pathwise_draw."""

from __future__ import annotations

import pytest
import torch

from reparam import Normal, Pathwise, ScoreFunction, expectation
from reparam.estimators import get_estimator, pathwise_draw

DTYPE = torch.float64


def _q():
    return Normal(torch.tensor(0.0, requires_grad=True), 1.0)


def test_pathwise_labels_and_repr():
    assert Pathwise().label == "pathwise"
    assert Pathwise(noise="qmc").label == "pathwise+qmc"
    assert Pathwise(noise="antithetic").label == "pathwise+antithetic"
    assert Pathwise(control_variate="quadratic").label == "pathwise+cv-quadratic"
    assert Pathwise(entropy="stl").label == "pathwise+stl"
    assert Pathwise(entropy="analytic").label == "pathwise+entropy-analytic"
    est = Pathwise(noise="qmc", control_variate="linear", entropy="mc")
    assert est.label == "pathwise+qmc+cv-linear+entropy-mc"
    assert repr(est) == "Pathwise(noise='qmc', control_variate='linear', entropy='mc')"
    assert repr(Pathwise()) == "Pathwise()"


def test_expectation_passes_options_to_pathwise():
    # antithetic pairs make the mean of z exactly μ (z = μ ± σε)
    loc = torch.tensor(0.25, dtype=DTYPE, requires_grad=True)
    value = expectation(lambda z: z, Normal(loc, 2.0), 8, noise="antithetic")
    assert value.item() == pytest.approx(0.25, abs=1e-15)
    est = get_estimator("pathwise", noise="qmc", control_variate="linear", entropy="stl")
    assert est.label == "pathwise+qmc+cv-linear+stl"
    assert isinstance(get_estimator("score", noise="mc"), ScoreFunction)  # mc: a no-op


def test_pathwise_noise_on_a_torch_distribution():
    # a torch distribution is converted by reparam.wrap; gradients reach its tensors
    loc = torch.tensor(0.5, dtype=DTYPE, requires_grad=True)
    scale = torch.tensor(0.5, dtype=DTYPE, requires_grad=True)
    q = torch.distributions.Normal(loc, scale)
    value = expectation(lambda z: z**2, q, 16, noise="qmc")
    g_loc, g_scale = torch.autograd.grad(value, (loc, scale))
    assert torch.isfinite(g_loc)
    assert torch.isfinite(g_scale)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"noise": "sobol"}, r"unknown noise 'sobol'"),
        ({"control_variate": "cubic"}, r"unknown control_variate 'cubic'.*linear, quadratic"),
        ({"entropy": "exact"}, r"unknown entropy 'exact'.*analytic, mc, stl"),
    ],
)
def test_pathwise_unknown_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Pathwise(**kwargs)
    with pytest.raises(ValueError, match=match):
        expectation(lambda z: z, _q(), 4, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"noise": "qmc"}, {"control_variate": "linear"}, {"entropy": "mc"}]
)
def test_pathwise_options_with_score_are_refused(kwargs):
    ((name, value),) = kwargs.items()
    with pytest.raises(ValueError, match=rf"{name}='{value}' does not apply to the 'score'"):
        expectation(lambda z: z, _q(), 4, "score", **kwargs)


def test_options_with_an_estimator_instance_are_refused():
    with pytest.raises(ValueError, match=r"noise=.*configure the instance"):
        expectation(lambda z: z, _q(), 4, Pathwise(), noise="qmc")


def test_antithetic_needs_even_num_samples():
    with pytest.raises(ValueError, match=r"antithetic.*even num_samples.*got 5"):
        expectation(lambda z: z, _q(), 5, noise="antithetic")


def test_noise_on_opaque_seed_noise_is_refused():
    from reparam import WrappedRSample

    q = WrappedRSample(torch.distributions.Gamma(torch.ones(2), torch.ones(2)))
    with pytest.raises(ValueError, match=r"noise='qmc'.*WrappedRSample"):
        expectation(lambda z: z, q, 4, noise="qmc")


@pytest.mark.parametrize("noise", ["mc", "antithetic", "qmc"])
@pytest.mark.parametrize("torch_q", [False, True])
def test_pathwise_draw_log_prob_matches_log_prob(noise, torch_q):
    loc = torch.zeros(3, dtype=DTYPE, requires_grad=True)
    cls = torch.distributions.Normal if torch_q else Normal
    q = cls(loc, torch.full((3,), 2.0, dtype=DTYPE))
    z, log_q = pathwise_draw(q, 8, noise, with_log_prob=True)
    assert z.shape == (8, 3)
    assert z.requires_grad
    torch.testing.assert_close(log_q, q.log_prob(z))
    z_only, none = pathwise_draw(q, 8, noise)
    assert none is None
    assert z_only.shape == (8, 3)


def test_pathwise_draw_is_what_pathwise_samples():
    q = Normal(torch.zeros(2, dtype=DTYPE), 1.0)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        z, _ = pathwise_draw(q, 16, "qmc")
        torch.manual_seed(3)
        value = expectation(lambda x: x, q, 16, Pathwise(noise="qmc"))
    torch.testing.assert_close(value, z.mean(0))


def test_pathwise_draw_refuses_bad_noise():
    with pytest.raises(ValueError, match="unknown noise 'bogus'"):
        pathwise_draw(_q(), 4, "bogus")
    with pytest.raises(ValueError, match=r"antithetic.*even num_samples.*got 3"):
        pathwise_draw(_q(), 3, "antithetic")
