r"""Metrics of predictive distributions: classification, calibration, regression, OOD.

- classification: accuracy, NLL = −(1/N) Σ log p(y_i|x_i), and the expected calibration error
  (Guo et al. 2017) over M equal-width confidence bins B_m,
  ECE = Σ_m (|B_m|/N) |acc(B_m) − conf(B_m)| (:func:`reliability_diagram` gives the bins);
- regression with Gaussian noise σ_y: RMSE of the predictive mean and the test
  log-likelihood log (1/S) Σ_s N(y; f_s(x), σ_y²) (Hernández-Lobato & Adams 2015), both
  reported in the original units when the targets were normalised;
- out-of-distribution detection: the AUROC of a score (e.g. the predictive entropy), the
  probability that a random positive scores above a random negative (ties count ½).

Probabilities are (N, C) tensors, labels (N,) integer tensors.

References:
    Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks", ICML 2017.
    Hernández-Lobato & Adams, "Probabilistic Backpropagation for Scalable Learning of
    Bayesian Neural Networks", ICML 2015.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ._checks import check_int

__all__ = [
    "ECE_BINS",
    "accuracy",
    "auroc",
    "classification_metrics",
    "expected_calibration_error",
    "gaussian_log_likelihood",
    "negative_log_likelihood",
    "regression_metrics",
    "reliability_diagram",
    "rmse",
]

#: the default number of confidence bins of the ECE.
ECE_BINS = 15

_TINY = 1e-12


def _check_probs(probs: Tensor, labels: Tensor) -> None:
    if probs.dim() != 2 or labels.shape != probs.shape[:1]:
        raise ValueError(
            f"probs must be (N, C) and labels (N,); got {tuple(probs.shape)} and "
            f"{tuple(labels.shape)}"
        )
    if len(labels) == 0:
        raise ValueError("probs and labels are empty")


def accuracy(probs: Tensor, labels: Tensor) -> float:
    """The fraction of examples whose most probable class is the label.

    Example:
        >>> accuracy(torch.tensor([[0.9, 0.1], [0.3, 0.7]]), torch.tensor([0, 0]))
        0.5
    """
    _check_probs(probs, labels)
    return (probs.argmax(-1) == labels).double().mean().item()


def negative_log_likelihood(probs: Tensor, labels: Tensor) -> float:
    """−(1/N) Σ log p(y_i | x_i) of predictive probabilities (floored at 1e-12).

    Example:
        >>> round(negative_log_likelihood(torch.tensor([[0.5, 0.5]]), torch.tensor([1])), 4)
        0.6931
    """
    _check_probs(probs, labels)
    p = probs.double().gather(1, labels.long().reshape(-1, 1)).squeeze(1)
    return (-p.clamp_min(_TINY).log()).mean().item()


def reliability_diagram(
    probs: Tensor, labels: Tensor, num_bins: int = ECE_BINS
) -> dict[str, list[float]]:
    """Bin statistics of the confidence c = max_k p_k in ``num_bins`` equal-width bins.

    Bin m holds the examples with c in (m/M, (m+1)/M] (c = 0 goes to the first bin).

    Returns:
        ``edges`` (M + 1), and per bin ``count``, ``confidence`` (mean c) and
        ``accuracy`` (fraction correct); the means are NaN for an empty bin.

    Example:
        >>> stats = reliability_diagram(torch.tensor([[0.9, 0.1], [0.2, 0.8]]),
        ...                             torch.tensor([0, 0]), num_bins=2)
        >>> stats["count"], stats["accuracy"], [round(c, 2) for c in stats["confidence"]]
        ([0, 2], [nan, 0.5], [nan, 0.85])
    """
    _check_probs(probs, labels)
    num_bins = check_int(
        "num_bins", num_bins, owner="reliability_diagram", sep="; ", integral=True
    )
    conf, pred = probs.double().max(-1)
    correct = (pred == labels).double()
    idx = (torch.ceil(conf * num_bins).long() - 1).clamp(0, num_bins - 1)
    count = torch.bincount(idx, minlength=num_bins).double()
    conf_sum = torch.zeros(num_bins, dtype=torch.float64).index_add_(0, idx, conf)
    acc_sum = torch.zeros(num_bins, dtype=torch.float64).index_add_(0, idx, correct)
    safe = count.clamp_min(1)
    nan = torch.full_like(count, math.nan)
    return {
        "edges": torch.linspace(0, 1, num_bins + 1, dtype=torch.float64).tolist(),
        "count": [int(c) for c in count.tolist()],
        "confidence": torch.where(count > 0, conf_sum / safe, nan).tolist(),
        "accuracy": torch.where(count > 0, acc_sum / safe, nan).tolist(),
    }


def expected_calibration_error(probs: Tensor, labels: Tensor, num_bins: int = ECE_BINS) -> float:
    """ECE = Σ_m (|B_m|/N) |acc(B_m) − conf(B_m)| over equal-width confidence bins
    (Guo et al. 2017; the bins of :func:`reliability_diagram`).

    Example:
        >>> probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7]])
        >>> round(expected_calibration_error(probs, torch.tensor([0, 1, 1])), 4)
        0.3667
    """
    stats = reliability_diagram(probs, labels, num_bins)
    n = sum(stats["count"])
    return sum(
        c / n * abs(a - f)
        for c, a, f in zip(stats["count"], stats["accuracy"], stats["confidence"], strict=True)
        if c > 0
    )


def classification_metrics(
    probs: Tensor, labels: Tensor, num_bins: int = ECE_BINS
) -> dict[str, float]:
    """``accuracy``, ``nll`` and ``ece`` of predictive probabilities (N, C)."""
    return {
        "accuracy": accuracy(probs, labels),
        "nll": negative_log_likelihood(probs, labels),
        "ece": expected_calibration_error(probs, labels, num_bins),
    }


def rmse(prediction: Tensor, target: Tensor) -> float:
    """sqrt((1/N) Σ (ŷ_i − y_i)²).

    Example:
        >>> round(rmse(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0])) ** 2, 6)
        12.5
    """
    if prediction.shape != target.shape or target.numel() == 0:
        raise ValueError(
            f"prediction and target must have the same non-empty shape; got "
            f"{tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    return (prediction.double() - target.double()).square().mean().sqrt().item()


def gaussian_log_likelihood(means: Tensor, noise_std: Tensor | float, target: Tensor) -> Tensor:
    r"""Per-example log (1/S) Σ_s N(y; μ_s, σ²) of an S-sample Gaussian predictive mixture.

    Args:
        means: (S, N) predictive means f_{w_s}(x) (or (N,) for S = 1).
        noise_std: σ > 0 (a scalar, or broadcastable to (S, N)).
        target: (N,) observed y.

    Returns:
        (N,) float64 log-likelihoods.

    Example:
        >>> ll = gaussian_log_likelihood(torch.zeros(1, 1), 1.0, torch.zeros(1))
        >>> round(ll.item(), 4)
        -0.9189
    """
    means = means.double().reshape(-1, target.shape[-1]) if means.dim() < 2 else means.double()
    sigma = torch.as_tensor(noise_std, dtype=torch.float64, device=means.device)
    if (sigma <= 0).any():
        raise ValueError(f"noise_std must be > 0, got {noise_std!r}")
    y = target.double()
    log_pdf = -0.5 * ((y - means) / sigma) ** 2 - sigma.log() - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(log_pdf, 0) - math.log(means.shape[0])


def regression_metrics(
    means: Tensor, noise_std: Tensor | float, target: Tensor, y_std: float = 1.0
) -> dict[str, float]:
    """``rmse`` of the predictive mean and mean test ``log_likelihood``, in original units:
    the targets were divided by ``y_std``, so RMSE × y_std and LL − log y_std."""
    if not y_std > 0:
        raise ValueError(f"y_std must be > 0, got {y_std!r}")
    means = means.reshape(-1, target.shape[-1])
    ll = gaussian_log_likelihood(means, noise_std, target)
    return {
        "rmse": rmse(means.double().mean(0), target.double()) * y_std,
        "log_likelihood": ll.mean().item() - math.log(y_std),
    }


def auroc(labels: Tensor | np.ndarray, scores: Tensor | np.ndarray) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative), ties ½.

    The Mann–Whitney statistic from average ranks (the order of arguments follows
    ``sklearn.metrics.roc_auc_score(y_true, y_score)``).

    Args:
        labels: (N,) with values 0 (negative) and 1 (positive), both present.
        scores: (N,) real scores, larger = more positive (e.g. the predictive entropy with
            out-of-distribution examples as positives).

    Raises:
        ValueError: shapes differ, labels not in {0, 1}, or one class missing.

    Example:
        >>> auroc(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8]))
        0.75
    """
    from scipy.stats import rankdata

    y = np.asarray(labels.cpu() if isinstance(labels, Tensor) else labels).reshape(-1)
    s = np.asarray(scores.detach().cpu() if isinstance(scores, Tensor) else scores, np.float64)
    s = s.reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels and scores must have the same length; got {y.shape}, {s.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    n_pos = int((y == 1).sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"auroc needs both classes; got {n_pos} positive and {n_neg} negative")
    ranks = rankdata(s)  # average ranks for ties
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
