"""Flows fitted to 2-D targets by annealed reverse KL (reparam.vi.fit_flow_to_target)."""

import math

import pytest
import torch

from reparam.flows.flow import IAF, PlanarFlow
from reparam.vi import FlowGuide, fit_flow_to_target, target_diagnostics
from reparam.vi.flow_fit import TemperedLogJoint, anneal_beta
from reparam.vi.targets import log_normalizer_2d, target_bounds, target_log_prob


def test_iaf_vi_on_banana_reaches_small_reverse_kl():
    torch.manual_seed(0)
    log_p = target_log_prob("banana")
    log_z = log_normalizer_2d(log_p, target_bounds("banana"), 1000)
    flow = IAF(2, transforms=3, hidden_features=(32, 32))
    kl0 = target_diagnostics(flow, log_p, 4000, log_z=log_z)["kl"]
    fitted = fit_flow_to_target(flow, log_p, epochs=3, steps_per_epoch=100, samples=128,
                                log_z=log_z)  # fmt: skip
    d = fitted.diagnostics
    # Measured with these settings: KL = 0.032 ± 0.002 (seed 0); the threshold 0.1 leaves
    # a 3x margin while the untrained flow (q = N(0, I)) is far above it.
    assert kl0 > 0.5  # measured 0.65
    assert d["kl"] + 4 * d["kl_se"] < 0.1
    assert d["elbo"] <= log_z + 4 * d["elbo_se"]  # the ELBO bounds log Z
    assert 0.5 < d["ess_fraction"] <= 1.0
    assert abs(d["log_evidence"] - log_z) < 5 * d["log_evidence_se"] + 0.01
    assert [r["epoch"] for r in fitted.history] == [1, 2, 3]
    assert fitted.history[-1]["step"] == 300
    assert fitted.history[-1]["loss"] == pytest.approx(-fitted.history[-1]["elbo"])  # β = 1


def test_annealing_schedule_and_elbo_bookkeeping():
    assert anneal_beta(0, 100) == pytest.approx(0.01)
    assert anneal_beta(50, 100) == pytest.approx(0.51)
    assert anneal_beta(99, 100) == 1.0 and anneal_beta(10**6, 100) == 1.0  # noqa: PT018
    assert anneal_beta(0, 0) == 1.0
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="anneal_steps must be an integer >= 0"):
            anneal_beta(0, bad)
    tempered = TemperedLogJoint(lambda z: -z.pow(2).sum(-1), anneal_steps=4, step=1)
    z = torch.ones(3, 2)
    assert torch.allclose(tempered(z), torch.full((3,), -2 * 0.26))
    tempered(z)
    betas, means = tempered.pop()
    assert betas.tolist() == pytest.approx([0.26, 0.51]) and means.tolist() == [-2.0, -2.0]  # noqa: PT018
    # the epoch's ELBO is the β = 1 value: the annealed objective + (1 − β) mean log p̃
    torch.manual_seed(0)
    fitted = fit_flow_to_target(IAF(2, transforms=1), lambda z: -z.pow(2).sum(-1), epochs=1,
                                steps_per_epoch=4, samples=8, anneal_steps=100,
                                eval_samples=0)  # fmt: skip
    row = fitted.history[0]
    assert row["beta"] == pytest.approx(0.025) and fitted.diagnostics is None  # noqa: PT018
    assert row["elbo"] < -row["loss"]  # log p̃ < 0 is down-weighted by β < 1


def test_continuing_a_fit_keeps_the_schedule_and_optimizer():
    log_p = target_log_prob("banana")
    torch.manual_seed(1)
    whole = fit_flow_to_target(IAF(2, transforms=1), log_p, epochs=2, steps_per_epoch=5,
                               samples=16, anneal_steps=8, eval_samples=0)  # fmt: skip
    torch.manual_seed(1)
    first = fit_flow_to_target(IAF(2, transforms=1), log_p, epochs=1, steps_per_epoch=5,
                               samples=16, anneal_steps=8, eval_samples=0)  # fmt: skip
    rest = fit_flow_to_target(first.flow, log_p, epochs=2, steps_per_epoch=5, samples=16,
                              anneal_steps=8, optimizer=first.optimizer,
                              history=first.history, eval_samples=0)  # fmt: skip
    assert [r["step"] for r in rest.history] == [5, 10]
    for a, b in zip(whole.history, rest.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"]) and a["beta"] == b["beta"]  # noqa: PT018


def test_flow_guide_works_as_the_flow():
    torch.manual_seed(0)
    log_p = target_log_prob("banana")
    fitted = fit_flow_to_target(FlowGuide(2, transforms=2, hidden_features=(16,)), log_p,
                                epochs=1, steps_per_epoch=20, samples=32,
                                eval_samples=1000)  # fmt: skip
    assert math.isfinite(fitted.diagnostics["elbo"])
    assert fitted.diagnostics["kl"] is None  # no log Z given


def test_annealed_planar_flow_keeps_both_modes_of_u1():
    """U1 has two symmetric modes. Plain reverse KL locks a planar flow onto one of them
    (measured KL ≈ 0.70 ≈ log 2 for K = 16, seeds 0-2); annealing β_t log p̃ (Rezende &
    Mohamed 2015) keeps both: each half-plane z1 ≷ 0 holds close to half of q's mass."""
    torch.manual_seed(0)
    flow = PlanarFlow(2, transforms=16)
    fit_flow_to_target(flow, target_log_prob("u1"), epochs=16, steps_per_epoch=100,
                       samples=128, anneal_steps=800, eval_samples=0)  # fmt: skip
    with torch.no_grad():
        z = flow().sample(torch.Size([20000]))
    right = (z[:, 0] > 0).double().mean().item()
    # a binomial proportion of 20000 draws has SE <= 0.0036; a lost mode gives ~0 or ~1.
    assert 0.3 < right < 0.7
