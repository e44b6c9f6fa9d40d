"""torch.jit.trace: the closed forms trace (checked against eager on an input that takes
other branches than the traced one); numerics that branch on tensor values raise."""

import math

import pytest
import torch

import reparam

F64 = torch.float64
# torch 2.13 deprecates torch.jit.trace; TracerWarnings (shape checks read into Python,
# constants) are not what these tests judge: they compare the trace with eager on inputs
# that take other branches.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
]


def t(*values):
    return torch.tensor(values, dtype=F64)


def _traced(fn, example):
    return torch.jit.trace(fn, example, check_trace=False)


# name → (function, traced example, other input): the other input sits in other regimes
# (series vs continued fraction, κ below vs above the asymptotic switch at 150).
TRACE_SAFE = {
    "Gamma.cdf": (
        lambda a, x: reparam.Gamma(a, 1.5, validate_args=False).cdf(x),
        (t(2.0, 3.0), t(1.0, 2.0)),
        (t(1e-3, 5e3), t(1e-5, 4.9e3)),
    ),
    "Chi2.cdf": (
        lambda df, x: reparam.Chi2(df, validate_args=False).cdf(x),
        (t(2.0, 3.0), t(1.0, 2.0)),
        (t(0.01, 1e4), t(1e-3, 1.01e4)),
    ),
    "VonMises.entropy": (
        lambda loc, k: reparam.VonMises(loc, k, validate_args=False).entropy(),
        (t(0.0, 1.0), t(1.0, 2.0)),
        (t(0.3, -1.0), t(0.01, 2e3)),
    ),
    "VonMises.variance": (
        lambda loc, k: reparam.VonMises(loc, k, validate_args=False).variance,
        (t(0.0, 1.0), t(1.0, 2.0)),
        (t(0.3, -1.0), t(0.01, 2e3)),
    ),
}


@pytest.mark.parametrize("name", list(TRACE_SAFE))
def test_trace_safe_closed_forms_agree_with_eager_on_other_inputs(name):
    fn, example, other = TRACE_SAFE[name]
    traced = _traced(fn, example)
    torch.testing.assert_close(traced(*other), fn(*other), rtol=1e-12, atol=0)
    torch.testing.assert_close(traced(*example), fn(*example), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["VonMises.entropy", "VonMises.variance"])
def test_von_mises_moments_trace_with_a_gradient_and_the_trace_check(name):
    """check_trace re-traces under no_grad: the graph must not depend on grad mode."""
    fn, example, other = TRACE_SAFE[name]
    loc, kappa = example
    traced = torch.jit.trace(fn, (loc, kappa.clone().requires_grad_()))  # check_trace on
    torch.testing.assert_close(traced(*other), fn(*other), rtol=1e-12, atol=0)


def _cdf_with_concentration_gradient(a, x):
    return reparam.Gamma(a.clone().requires_grad_(), 1.0).cdf(x)


def _student_t_rsample(df):
    return reparam.StudentT(df, 0.0, 1.0).rsample((3,))


UNTRACEABLE = {
    "Gamma.cdf with the concentration's gradient": (
        _cdf_with_concentration_gradient,
        (t(2.0, 3.0), t(1.0, 2.0)),
        "Gamma-function numerics",
    ),
    "Chi2.cdf with the gradient in df": (
        lambda df, x: reparam.Chi2(df.clone().requires_grad_()).cdf(x),
        (t(2.0, 3.0), t(1.0, 2.0)),
        "Gamma-function numerics",
    ),
    "StudentT.rsample": (_student_t_rsample, (t(3.0, 4.0),), "Gamma-function numerics"),
    "Gamma.rsample": (lambda a: reparam.Gamma(a, 1.0).rsample((2,)), (t(3.0),), "Gamma"),
    "Beta.rsample": (lambda a: reparam.Beta(a, a).rsample((2,)), (t(3.0),), "Gamma"),
    "VonMises.cdf": (
        lambda loc, k, x: reparam.VonMises(loc, k).cdf(x),
        (t(0.0), t(1.0), t(0.5)),
        "von Mises CDF numerics",
    ),
    "VonMises.rsample": (
        lambda loc, k: reparam.VonMises(loc, k).rsample((2,)),
        (t(0.0), t(1.0)),
        "von Mises CDF numerics",
    ),
}


@pytest.mark.parametrize("name", list(UNTRACEABLE))
def test_value_dependent_numerics_raise_a_clear_error_under_tracing(name):
    fn, example, what = UNTRACEABLE[name]
    with pytest.raises(RuntimeError, match=rf"{what}.*cannot be traced with torch\.jit\.trace"):
        _traced(fn, example)
    assert torch.isfinite(fn(*example)).all()  # eagerly, it works


def test_mean_resultant_is_unchanged_outside_tracing():
    """The branch-free form used under tracing equals the eager one."""
    from reparam.distributions._von_mises_math import mean_resultant

    kappa = t(1e-3, 0.5, 10.0, 149.0, 151.0, 1e6)
    traced = _traced(lambda k: torch.stack(mean_resultant(k)), (t(1.0),))
    torch.testing.assert_close(
        traced(kappa), torch.stack(mean_resultant(kappa)), rtol=1e-13, atol=0
    )
    assert math.isfinite(traced(kappa).sum().item())
