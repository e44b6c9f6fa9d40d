"""reparam.bnn: training reduces the loss; bad input; the metrics stay importable."""

import math

import pytest
import torch

from reparam import bnn, metrics
from reparam.bnn import BNNClassifier, BNNRegressor, make_prior
from reparam.nn import GaussianPrior, ScaleMixturePrior


def _steps(model, batch, n):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(n):
        out = model.training_step(batch, step)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    return losses


@pytest.mark.parametrize("estimator", ["weight", "local", "flipout"])
def test_classifier_steps_reduce_loss(estimator):
    x = torch.randn(64, 1, 4, 4)
    y = (x.flatten(1).sum(1) > 0).long()
    model = BNNClassifier((1, 4, 4), 2, hidden=(16,), estimator=estimator, dataset_size=64)
    batch = model.pack(x, y)
    xb, yb = model.unpack(batch)
    assert torch.equal(xb, x)
    assert torch.equal(yb, y)
    losses = _steps(model, batch, 40)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    out = model.validation_step(batch)
    assert {"loss", "nll", "kl", "accuracy"} <= set(out)


def test_conv_classifier_and_mixture_prior():
    model = BNNClassifier((1, 8, 8), 10, hidden=(8,), arch="conv", prior="mixture",
                          dataset_size=10)  # fmt: skip
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    assert isinstance(model.prior, ScaleMixturePrior)
    clone = BNNClassifier.from_config(model.config)
    clone.load_state_dict(model.state_dict())
    assert clone.config == model.config


@pytest.mark.parametrize("noise", ["learned", 0.5])
def test_regressor_steps_reduce_loss(noise):
    x = torch.randn(128, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(128)
    model = BNNRegressor(3, hidden=(16,), dataset_size=128, noise=noise)
    losses = _steps(model, model.pack(x, y), 60)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    metrics = model.evaluate(x, y, num_samples=10, y_std=2.0)
    assert metrics["rmse"] > 0
    assert math.isfinite(metrics["log_likelihood"])
    assert BNNRegressor.from_config(model.config).config == model.config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"estimator": "reinforce"}, "estimator"),
        ({"prior": "laplace"}, "prior"),
        ({"arch": "rnn"}, "arch"),
        ({"dataset_size": 0}, "dataset_size"),
        ({"hidden": ()}, "hidden"),
    ],
)
def test_classifier_bad_input(kwargs, match):
    args = {"dataset_size": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        BNNClassifier((4,), 3, **args)


def test_bad_prior_scale_and_noise():
    with pytest.raises(ValueError, match="scale"):
        make_prior("gaussian", -1.0)
    with pytest.raises(ValueError, match="noise"):
        BNNRegressor(2, dataset_size=5, noise=-0.1)
    assert isinstance(make_prior("gaussian", 0.5), GaussianPrior)


def test_metrics_are_reexported():
    for name in metrics.__all__:
        assert getattr(bnn, name) is getattr(metrics, name)
