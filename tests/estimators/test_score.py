"""Tests of reparam.estimators.score: baselines and the score function on its own cases."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Distribution, constraints

from reparam import LeaveOneOut, Normal, RunningMean, ScoreFunction, expectation

DTYPE = torch.float64


def test_running_mean_state_updates():
    b = RunningMean(decay=0.5)
    assert b.value is None
    assert b.count == 0
    q = Normal(torch.tensor(1.0, requires_grad=True), 2.0)
    est = ScoreFunction(baseline=b)
    seen = []

    def f(z):
        out = z**2
        seen.append(out.detach().mean(0))
        return out

    expectation(f, q, 10, est)
    assert b.count == 1
    torch.testing.assert_close(b.value, seen[0])
    expectation(f, q, 10, est)
    assert b.count == 2
    torch.testing.assert_close(b.value, 0.5 * seen[0] + 0.5 * seen[1])
    b.reset()
    assert b.value is None
    assert b.count == 0


def test_running_mean_passed_to_expectation_keeps_state():
    b = RunningMean()
    q = Normal(torch.tensor(1.0, requires_grad=True), 2.0)
    for _ in range(3):
        expectation(lambda z: z, q, 4, "score", baseline=b)
    assert b.count == 3


def test_leave_one_out_values():
    fz = torch.tensor([1.0, 2.0, 6.0])
    torch.testing.assert_close(LeaveOneOut()(fz), torch.tensor([4.0, 3.5, 1.5]))


def test_loo_needs_two_samples():
    q = Normal(torch.tensor(0.0, requires_grad=True), 1.0)
    with pytest.raises(ValueError, match="num_samples >= 2"):
        expectation(lambda z: z, q, 1, "score", baseline="loo")


def test_running_mean_bad_decay():
    with pytest.raises(ValueError, match="decay"):
        RunningMean(decay=1.0)


def test_score_on_bernoulli_is_unbiased():
    # d/dp E[z] = 1 for z ~ Bernoulli(p), a case only the score function handles.
    p = torch.tensor(0.3, dtype=DTYPE, requires_grad=True)
    est = ScoreFunction(baseline="loo")
    reps = 200
    grads = torch.stack(
        [
            torch.autograd.grad(expectation(lambda z: z, Bernoulli(p), 8, est), p)[0]
            for _ in range(reps)
        ]
    )
    assert abs(grads.mean().item() - 1.0) <= 5 * grads.std().item() / math.sqrt(reps)


class _NoLogProb(Distribution):
    arg_constraints: dict = {}
    support = constraints.real

    def __init__(self):
        super().__init__(torch.Size(), validate_args=False)

    def sample(self, sample_shape=()):
        return torch.randn(sample_shape)


def test_score_without_log_prob():
    with pytest.raises(ValueError, match="log_prob"):
        expectation(lambda z: z, _NoLogProb(), 4, "score")
