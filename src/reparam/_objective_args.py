"""Argument checks of the one objective signature, ``(log_likelihood, q, prior=None, *,
num_samples=1, noise="mc", …)``, shared by :mod:`reparam.objectives`.

Kept apart so that objectives.py holds the bounds themselves: the callable, the
distributions (q reparameterized, a prior whose shapes broadcast to q's), the sample
count (``num_samples`` or its alias ``k``), the ELBO's KL mode, and the shape and dtype
of what ``log_likelihood`` and ``prior.log_prob`` return.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution

from ._checks import check_int

__all__ = [
    "DEFAULT_NUM_SAMPLES",
    "KL_MODES",
    "check_inputs",
    "check_kl_mode",
    "check_values",
    "num_samples_or_k",
]

#: the values ``elbo(kl=...)`` accepts.
KL_MODES = ("auto", "analytic", "mc")


class _DefaultCount(int):
    """1, as the default of ``num_samples``: told apart from an explicit 1 (for ``k``)."""


DEFAULT_NUM_SAMPLES = _DefaultCount(1)


def num_samples_or_k(num_samples: object, k: object = None) -> int:
    """The number of samples from ``num_samples`` or its alias ``k`` (not both, unless equal)."""
    if k is None:
        return check_int("num_samples", num_samples, noun="an int")
    k = check_int("k", k, noun="an int")
    if num_samples is not DEFAULT_NUM_SAMPLES and num_samples != k:
        raise ValueError(
            f"num_samples={num_samples!r} and k={k!r} differ; k is an alias of num_samples, "
            "give one of them"
        )
    return k


def check_inputs(log_likelihood: object, q: object, prior: object) -> None:
    """TypeError/ValueError unless log_likelihood is callable, q a reparameterized
    Distribution and prior None or a Distribution broadcasting to q's shapes."""
    if not callable(log_likelihood):
        raise TypeError(
            f"log_likelihood must be callable (z → log p(x | z)), got "
            f"{type(log_likelihood).__name__}"
        )
    if not isinstance(q, Distribution):
        raise TypeError(f"q must be a torch.distributions.Distribution, got {type(q).__name__}")
    if not q.has_rsample:
        raise ValueError(
            f"q must be reparameterized (has_rsample); {type(q).__name__} is not "
            "(use a relaxed family, or a score-function estimator from reparam.estimators)"
        )
    if prior is None:
        return
    if not isinstance(prior, Distribution):
        raise TypeError(
            f"prior must be a torch.distributions.Distribution or None, got {type(prior).__name__}"
        )
    if prior.event_shape != q.event_shape:
        raise ValueError(
            f"prior.event_shape must equal q.event_shape = {tuple(q.event_shape)}; got "
            f"{tuple(prior.event_shape)}"
        )
    try:
        broadcast = torch.broadcast_shapes(prior.batch_shape, q.batch_shape)
    except RuntimeError:
        broadcast = None
    if broadcast != q.batch_shape:
        raise ValueError(
            f"prior.batch_shape {tuple(prior.batch_shape)} must broadcast to q.batch_shape "
            f"{tuple(q.batch_shape)}"
        )


def check_values(values: object, expected: torch.Size, what: str, z: Tensor) -> Tensor:
    """``values``, checked to be a floating tensor of shape ``expected`` = (S, *batch)."""
    if not isinstance(values, Tensor) or not values.dtype.is_floating_point:
        got = values.dtype if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(f"{what} must return a floating tensor, got {got}")
    if values.shape != expected:
        raise ValueError(
            f"{what} must return shape (num_samples, *q.batch_shape) = {tuple(expected)} "
            f"for z of shape {tuple(z.shape)}; got shape {tuple(values.shape)}"
        )
    return values


def check_kl_mode(kl: str, prior: Distribution | None, stl: bool) -> None:
    """ValueError for an unknown ``kl``, or one that the prior or ``stl`` rules out."""
    if kl not in KL_MODES:
        raise ValueError(f"unknown kl mode {kl!r}; valid: {', '.join(KL_MODES)}")
    if prior is None and kl == "analytic":
        raise ValueError("kl='analytic' needs a prior (log_likelihood is then log p(x|z))")
    if stl and kl == "analytic":
        raise ValueError(
            "stl=True uses the Monte Carlo KL; it cannot be combined with "
            "kl='analytic' (use kl='auto' or 'mc')"
        )
