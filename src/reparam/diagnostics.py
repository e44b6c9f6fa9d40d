r"""Gradient diagnostics: mean, variance, signal-to-noise ratio and cost of an estimator.

Repeating an estimator R times gives independent gradient estimates ĝ_1, …, ĝ_R of
∇θ E_q[f(z)]; per parameter element we report

.. math::
    \bar g = \frac1R \sum_r \hat g_r, \qquad
    s^2 = \frac{1}{R-1} \sum_r (\hat g_r - \bar g)^2, \qquad
    \mathrm{SNR} = |\bar g| / s,

and the wall time per estimate (building q, the surrogate and its gradient).

References:
    Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient Estimation in Machine
    Learning", JMLR 2020, arXiv:1906.10652 (section 3 on variance and cost).
    Rainforth et al., "Tighter Variational Bounds are Not Necessarily Better", 2018,
    arXiv:1802.04537 (the gradient SNR).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from ._checks import check_int
from .estimators import Baseline, Estimator, Function, get_estimator

__all__ = ["GradientStats", "gradient_stats"]


@dataclass(frozen=True)
class GradientStats:
    """Summary of ``repeats`` independent gradient estimates, per named parameter.

    Attributes:
        mean: name → elementwise mean of the estimates (shape of the parameter).
        variance: name → elementwise sample variance (unbiased, R − 1 in the denominator).
        snr: name → elementwise |mean| / std (inf where only the variance is 0).
        seconds_per_estimate: mean wall time of one estimate, gradient included.
        estimator: the estimator's label, e.g. ``"pathwise"`` or ``"score+loo"``.
        num_samples: samples per estimate.
        repeats: number of independent estimates.
    """

    mean: dict[str, Tensor] = field(repr=False)
    variance: dict[str, Tensor] = field(repr=False)
    snr: dict[str, Tensor] = field(repr=False)
    seconds_per_estimate: float
    estimator: str
    num_samples: int
    repeats: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (tensors become nested lists of floats)."""

        def lists(d: Mapping[str, Tensor]) -> dict[str, Any]:
            return {k: v.detach().cpu().double().tolist() for k, v in d.items()}

        return {
            "estimator": self.estimator,
            "num_samples": self.num_samples,
            "repeats": self.repeats,
            "seconds_per_estimate": self.seconds_per_estimate,
            "mean": lists(self.mean),
            "variance": lists(self.variance),
            "snr": lists(self.snr),
        }

    def summary(self) -> str:
        """A small text table, one line per parameter (non-scalars show their norms)."""

        def fmt(t: Tensor) -> str:
            t = t.detach().double()
            return f"{t.item():.4g}" if t.numel() == 1 else f"|·|={t.norm().item():.4g}"

        head = (
            f"{self.estimator}, num_samples={self.num_samples}, repeats={self.repeats}, "
            f"{self.seconds_per_estimate * 1e6:.1f} µs/estimate"
        )
        lines = [head, f"  {'parameter':<12} {'mean':>12} {'variance':>12} {'snr':>12}"]
        for name in self.mean:
            lines.append(
                f"  {name:<12} {fmt(self.mean[name]):>12} {fmt(self.variance[name]):>12} "
                f"{fmt(self.snr[name]):>12}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _named_params(params: Sequence[Tensor] | Mapping[str, Tensor]) -> dict[str, Tensor]:
    if isinstance(params, Mapping):
        named = dict(params)
    else:
        named = {str(i): p for i, p in enumerate(params)}
    if not named:
        raise ValueError("params must hold at least one tensor")
    for name, p in named.items():
        if not isinstance(p, Tensor):
            raise TypeError(f"params[{name!r}] must be a tensor, got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(f"params[{name!r}] does not require grad")
    return named


def gradient_stats(
    f: Function,
    q: Distribution | Callable[[], Distribution],
    params: Sequence[Tensor] | Mapping[str, Tensor],
    estimator: str | Estimator = "pathwise",
    num_samples: int = 1,
    repeats: int = 100,
    *,
    baseline: str | Baseline | None = None,
) -> GradientStats:
    """Mean, variance, SNR and cost of an estimator's gradient, over ``repeats`` runs.

    The estimator is resolved once, so a stateful baseline (:class:`RunningMean`)
    carries its state from one repeat to the next, as in training. Gradients are taken
    with :func:`torch.autograd.grad`: the ``.grad`` of the parameters is left untouched.
    A non-scalar expectation is summed before differentiating.

    Args:
        f: the integrand, as in :func:`~reparam.estimators.expectation`.
        q: a distribution, or a zero-argument callable that builds it from ``params``
            (rebuilt for every estimate, e.g. ``lambda: Normal(mu, softplus(rho))``).
        params: tensors requiring grad, as a sequence (named "0", "1", …) or a dict.
        estimator: a name or an :class:`~reparam.estimators.Estimator`.
        num_samples: samples per estimate.
        repeats: independent estimates, at least 2.
        baseline: for ``estimator="score"``, as in ``expectation``.

    Returns:
        a :class:`GradientStats`.

    Raises:
        ValueError: repeats < 2, an empty ``params`` or one that does not require grad,
            plus everything ``expectation`` raises.
        TypeError: ``q`` is neither a distribution nor callable, or a param not a tensor.

    Example:
        >>> from reparam import Normal
        >>> mu = torch.tensor(1.0, requires_grad=True)
        >>> stats = gradient_stats(lambda z: z, Normal(mu, 2.0), [mu], repeats=10)
        >>> stats.mean["0"], stats.variance["0"]
        (tensor(1.), tensor(0.))
    """
    check_int("repeats", repeats, 2, noun="an int")
    named = _named_params(params)
    est = get_estimator(estimator, baseline=baseline)
    if isinstance(q, Distribution):
        build: Callable[[], Distribution] = lambda: q  # noqa: E731
        retain = True  # the graph from params to q's parameters is reused
    elif callable(q):
        build, retain = q, False
    else:
        raise TypeError(f"q must be a Distribution or a callable, got {type(q).__name__}")
    tensors = tuple(named.values())
    grads: list[list[Tensor]] = [[] for _ in tensors]
    elapsed = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        value = est(f, build(), num_samples)
        if value.dim():
            value = value.sum()
        gs = torch.autograd.grad(value, tensors, retain_graph=retain, allow_unused=True)
        elapsed += time.perf_counter() - start
        for store, g, p in zip(grads, gs, tensors, strict=True):
            store.append(torch.zeros_like(p) if g is None else g.detach())
    mean, variance, snr = {}, {}, {}
    for name, store in zip(named, grads, strict=True):
        g = torch.stack(store)
        mean[name] = g.mean(0)
        variance[name] = g.var(0, correction=1)
        snr[name] = mean[name].abs() / variance[name].sqrt()
    return GradientStats(
        mean=mean,
        variance=variance,
        snr=snr,
        seconds_per_estimate=elapsed / repeats,
        estimator=est.label,
        num_samples=num_samples,
        repeats=repeats,
    )
