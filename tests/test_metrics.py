"""reparam.metrics: ECE, AUROC and regression metrics by hand."""

import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

from reparam.metrics import (
    auroc,
    classification_metrics,
    expected_calibration_error,
    gaussian_log_likelihood,
    negative_log_likelihood,
    regression_metrics,
    reliability_diagram,
    rmse,
)


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
