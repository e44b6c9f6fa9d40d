"""reparam.bnn: training reduces the loss; ECE, AUROC and regression metrics by hand."""

import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

from reparam.bnn import (
    BNNClassifier,
    BNNRegressor,
    auroc,
    classification_metrics,
    expected_calibration_error,
    gaussian_log_likelihood,
    make_prior,
    negative_log_likelihood,
    regression_metrics,
    reliability_diagram,
    rmse,
)
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


# ----------------------------------------------------------------------------- metrics
def test_ece_hand_computed_overconfident():
    # confidences 0.9, 0.9 (bin 13 of 15; one right) | 0.7 right (bin 10) | 0.75 wrong (bin 11)
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.75, 0.25]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 1])
    expected = 0.5 * abs(0.5 - 0.9) + 0.25 * abs(1 - 0.7) + 0.25 * abs(0 - 0.75)
    assert expected_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-12)
    stats = reliability_diagram(probs, labels)
    assert stats["count"][13] == 2
    assert stats["count"][10] == 1
    assert stats["count"][11] == 1
    assert sum(stats["count"]) == 4
    assert len(stats["edges"]) == 16
    assert stats["accuracy"][13] == 0.5
    assert stats["confidence"][13] == pytest.approx(0.9)
    assert math.isnan(stats["accuracy"][0])


def test_ece_of_calibrated_predictions_is_near_zero():
    g = torch.Generator().manual_seed(1)
    n = 200_000
    conf = 0.5 + 0.5 * torch.rand(n, generator=g, dtype=torch.float64)
    correct = torch.rand(n, generator=g, dtype=torch.float64) < conf
    probs = torch.stack([conf, 1 - conf], 1)
    labels = torch.where(correct, 0, 1)
    ece = expected_calibration_error(probs, labels)
    # E|acc_b − conf_b| is of the order of the binomial standard error in each bin
    stats = reliability_diagram(probs, labels)
    se = sum(
        c / n * math.sqrt(f * (1 - f) / c)
        for c, f in zip(stats["count"], stats["confidence"], strict=True)
        if c
    )
    assert ece < 5 * se
    # the same predictions made overconfident (confidence pushed up) are not calibrated
    sharp = torch.stack([conf.sqrt(), 1 - conf.sqrt()], 1)
    assert expected_calibration_error(sharp, labels) > 0.05 > 5 * se


def test_accuracy_and_nll():
    probs = torch.tensor([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]])
    labels = torch.tensor([0, 0, 1])
    m = classification_metrics(probs, labels)
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["nll"] == pytest.approx(-(math.log(0.8) + math.log(0.4) + math.log(0.5)) / 3)
    assert negative_log_likelihood(torch.tensor([[1.0, 0.0]]), torch.tensor([1])) < 30
    with pytest.raises(ValueError, match="labels"):
        classification_metrics(probs, labels[:2])


def test_auroc_hand_computed_and_sklearn():
    labels = torch.tensor([0, 0, 1, 1, 0, 1])
    scores = torch.tensor([0.1, 0.4, 0.35, 0.8, 0.8, 0.9])
    # positives 0.35, 0.8, 0.9 vs negatives 0.1, 0.4, 0.8: pairs won 1+0+0, 1+1+0.5, 1+1+1
    assert auroc(labels, scores) == pytest.approx((1 + 2.5 + 3) / 9)
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels.numpy(), scores.numpy()))
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (500,), generator=g)
    s = torch.randn(500, generator=g) + y
    assert auroc(y, s) == pytest.approx(roc_auc_score(y.numpy(), s.numpy()), abs=1e-12)
    with pytest.raises(ValueError, match="both classes"):
        auroc(torch.zeros(3), torch.rand(3))


def test_regression_metrics_by_hand():
    assert rmse(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0])) == pytest.approx(
        math.sqrt(12.5)
    )
    means = torch.tensor([[0.0, 1.0], [2.0, 1.0]])  # S = 2, N = 2
    y = torch.tensor([1.0, 1.0])
    sigma = 0.5

    def normal_pdf(v, m):
        return math.exp(-0.5 * ((v - m) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))

    ll0 = math.log(0.5 * (normal_pdf(1, 0) + normal_pdf(1, 2)))
    ll1 = math.log(normal_pdf(1, 1))
    got = gaussian_log_likelihood(means, sigma, y)
    assert got.tolist() == pytest.approx([ll0, ll1])
    m = regression_metrics(means, sigma, y, y_std=3.0)
    assert m["rmse"] == pytest.approx(0.0)
    assert m["log_likelihood"] == pytest.approx((ll0 + ll1) / 2 - math.log(3.0))
