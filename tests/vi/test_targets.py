"""The 2-D VI targets: finite log densities, log Z and moments by quadrature, their models."""

import math

import pytest
import torch

from reparam.vi import MODELS, get_model
from reparam.vi.targets import (
    TARGETS,
    funnel_log_prob,
    log_normalizer_2d,
    moments_2d,
    target_bounds,
    target_log_normalizer,
    target_log_prob,
)


@pytest.mark.parametrize("name", TARGETS)
def test_target_log_prob_finite(name):
    xmin, xmax, ymin, ymax = target_bounds(name)
    g = torch.Generator().manual_seed(0)
    z = torch.rand(7, 3, 2, generator=g, dtype=torch.float64)
    z = z * torch.tensor([xmax - xmin, ymax - ymin], dtype=torch.float64)
    z = z + torch.tensor([xmin, ymin], dtype=torch.float64)
    lp = target_log_prob(name)(z)
    assert lp.shape == (7, 3)
    assert lp.dtype == torch.float64
    assert torch.isfinite(lp).all()
    assert torch.isfinite(target_log_prob(name)(z.float())).all()
    with pytest.raises(ValueError, match="shape"):
        target_log_prob(name)(torch.zeros(3, 3))


def test_target_bad_name():
    for fn in (target_log_prob, target_bounds, target_log_normalizer):
        with pytest.raises(ValueError, match="unknown target 'nope'"):
            fn("nope")


def test_quadrature_of_a_standard_normal():
    def log_p(z):
        return -0.5 * (z**2).sum(-1) - math.log(2 * math.pi)

    assert abs(log_normalizer_2d(log_p, (-8, 8, -8, 8), 400)) < 1e-12


def test_banana_log_z_matches_quadrature():
    lp, box = target_log_prob("banana"), target_bounds("banana")
    q1, q2 = log_normalizer_2d(lp, box, 1000), log_normalizer_2d(lp, box, 2000)
    # Quadrature error: the grid's (|q1 - q2|) plus the mass outside the box, relative:
    # P(|z1| > 8) = 2Φ(-4) = 6.3e-5 (z1 ~ N(0, 2²)); for |z1| <= 8 the conditional mean
    # of z2 lies in [-1, 15] (sd 1), so the box's y-edges -7 and 22 are >= 6 sd away.
    tail = 2 * 0.5 * math.erfc(4 / math.sqrt(2)) + 2e-9
    assert abs(q2 - target_log_normalizer("banana")) <= tail + abs(q1 - q2) + 1e-9


def test_funnel_normalized_by_quadrature():
    # No box holds the funnel, so integrate the slab |z1| <= 3 (one sd of z1 ~ N(0, 3²)):
    # its mass is Φ(1) − Φ(−1) exactly, up to |z2| > 25 there (>= 5.5 sd: < 1e-7).
    lp = target_log_prob("funnel")
    box = (-3.0, 3.0, -25.0, 25.0)
    q1, q2 = log_normalizer_2d(lp, box, 1000), log_normalizer_2d(lp, box, 2000)
    exact = math.log(math.erf(1 / math.sqrt(2))) + target_log_normalizer("funnel")
    assert abs(q2 - exact) <= 1e-7 + abs(q1 - q2) + 1e-9


@pytest.mark.parametrize("name", ["rings", "u1", "u2", "u3", "u4"])
def test_targets_normalizable(name):
    """log Z converges: a box widened by 2 on every side adds (relatively) < 1e-6."""
    assert target_log_normalizer(name) is None
    lp, (xmin, xmax, ymin, ymax) = target_log_prob(name), target_bounds(name)
    inner = log_normalizer_2d(lp, (xmin, xmax, ymin, ymax), 1000)
    outer = log_normalizer_2d(lp, (xmin - 2, xmax + 2, ymin - 2, ymax + 2), 1400)
    assert math.isfinite(inner)
    assert abs(outer - inner) < 1e-6


def test_wall_leaves_the_paper_box_unchanged():
    z = torch.tensor([[3.9, 0.5], [-3.9, -0.2]])
    far = torch.tensor([[6.0, 0.5], [-6.0, -0.2]])
    u2 = target_log_prob("u2")
    w1 = torch.sin(2 * math.pi * z[:, 0] / 4)
    assert torch.allclose(u2(z), -0.5 * ((z[:, 1] - w1) / 0.4) ** 2)
    assert (u2(far) < -40).all()


def test_banana_moments_by_quadrature():
    # z1 ~ N(0, 4), z2 = (z1² − 4)/4 + ε: E z = 0, Var z2 = Var(z1²)/16 + 1 = 32/16 + 1 = 3,
    # Cov(z1, z2) = E[z1³ − 4 z1]/4 = 0. The box cuts a tail mass of ~6e-5 (see above),
    # which moves the second moments by at most ~6e-5 · (8² + 15²) ≈ 0.02.
    log_z, mean, cov = moments_2d(target_log_prob("banana"), target_bounds("banana"))
    assert log_z == pytest.approx(math.log(4 * math.pi), abs=1e-4)
    assert torch.allclose(mean, torch.zeros(2, dtype=torch.float64), atol=0.02)
    assert torch.allclose(cov, torch.diag(torch.tensor([4.0, 3.0], dtype=torch.float64)),
                          atol=0.02)  # fmt: skip


@pytest.mark.parametrize("name", TARGETS)
def test_targets_are_vi_models_with_log_z(name):
    model = get_model(name, d=2) if name == "funnel" else get_model(name)
    assert name in MODELS and model.dim == 2  # noqa: PT018
    z = torch.randn(6, 2, dtype=torch.float64)
    torch.testing.assert_close(model.log_joint(z), target_log_prob(name)(z))  # no Jacobian
    lz = model.exact["log_evidence"]
    closed = target_log_normalizer(name)
    if closed is not None:
        assert lz == closed
    else:
        quad = log_normalizer_2d(target_log_prob(name), target_bounds(name), 1000)
        assert lz == pytest.approx(quad, abs=1e-9)
    assert model.exact["cov"].shape == (2, 2)


def test_one_funnel():
    z = 3 * torch.randn(50, 2, dtype=torch.float64)
    expected = get_model("funnel", d=2).log_joint(z)
    torch.testing.assert_close(target_log_prob("funnel")(z), expected)
    torch.testing.assert_close(funnel_log_prob(z[:, 0], z[:, 1:]), expected)
