"""Fitting flows by maximum likelihood on two moons (VI on targets: tests/vi/test_flow_fit.py)."""

import math

import torch

from reparam.data.toy2d import sample_toy
from reparam.density import DensityEstimator, gaussian_fit, gaussian_nll
from reparam.flows.flow import MAF


def _adam(model, step, n_steps, lr=3e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for s in range(n_steps):
        loss = model.training_step(step(s), s)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_gaussian_nll_of_a_gaussian():
    x = torch.randn(20000, 2, dtype=torch.float64) @ torch.tensor(
        [[2.0, 0.0], [1.0, 0.5]], dtype=torch.float64
    )
    # N(0, Σ) with det Σ = (2 · 0.5)² = 1: NLL = log 2π + 1 (entropy), sd of the NLL ≈ 1.
    expected = math.log(2 * math.pi) + 1
    assert abs(gaussian_nll(x[:10000], x[10000:]) - expected) < 5 / math.sqrt(10000)
    assert gaussian_fit(x).covariance_matrix.shape == (2, 2)


def test_maf_beats_the_gaussian_on_moons():
    g = torch.Generator().manual_seed(0)
    train = sample_toy("moons", 4000, generator=g)
    test = sample_toy("moons", 2000, generator=g)
    model = DensityEstimator(MAF(2, transforms=3, hidden_features=(32, 32)))
    out = model.training_step(train[:8], 0)
    assert set(out) == {"loss", "nll"}
    assert out["loss"].requires_grad
    _adam(model, lambda s: train[torch.randint(0, 4000, (256,), generator=g)], 300)
    with torch.no_grad():
        valid = model.validation_step(test)
        diff = -model.log_prob(test).double() + gaussian_fit(train).log_prob(test.double())
    assert torch.isclose(valid["nll"], -model.log_prob(test).mean())
    # Paired per-point difference flow NLL − Gaussian NLL: the flow must win by more than
    # 5 standard errors (measured: −0.62 to −0.66 ± 0.02 nats for torch seeds 0..2).
    se = diff.std().item() / math.sqrt(len(diff))
    assert diff.mean().item() + 5 * se < 0
