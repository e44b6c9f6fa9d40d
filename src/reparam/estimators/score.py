r"""The score-function (REINFORCE) estimator and its baselines.

.. math:: \hat g = \frac1N \sum_i \bigl(f(z_i) - b_i\bigr)\,\nabla_\theta \log q(z_i;\theta),
          \qquad z_i \sim q

with a baseline b_i free of z_i (so E[b_i ∇ log q(z_i)] = 0 and the estimator stays
unbiased): leave-one-out (:class:`LeaveOneOut`) or a running mean (:class:`RunningMean`).

References:
    Williams, "Simple statistical gradient-following algorithms for connectionist
    reinforcement learning", Machine Learning 8, 1992.
    Kool, van Hoof & Welling, "Buy 4 REINFORCE samples, get a baseline for free!",
    ICLR workshop 2019.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution

from .base import Estimator, Function, _evaluate, _option, register_estimator

__all__ = ["Baseline", "LeaveOneOut", "RunningMean", "ScoreFunction", "score_surrogate"]


class Baseline(ABC):
    """A control variate b for the score-function estimator.

    A baseline maps the values ``fz`` (shape ``(N, *S)``) to b broadcastable to them;
    b_i must not depend on z_i, which keeps the estimator unbiased. ``update`` is called
    after every estimate (stateful baselines learn from it; stateless ones ignore it).
    """

    #: the smallest number of samples the baseline works with.
    min_samples: ClassVar[int] = 1
    name: ClassVar[str] = "baseline"

    @abstractmethod
    def __call__(self, fz: Tensor) -> Tensor | float:
        """b for the detached values ``fz`` with shape (N, *S)."""

    def update(self, fz: Tensor) -> None:  # noqa: B027  (optional hook)
        """Learn from the detached values of the latest estimate (default: nothing)."""


class LeaveOneOut(Baseline):
    r"""Leave-one-out baseline: b_i is the mean of the other N − 1 values.

    .. math:: b_i = \frac{1}{N-1}\sum_{j\ne i} f(z_j)

    Unbiased because z_j is independent of z_i; needs N ≥ 2.

    References:
        Kool, van Hoof & Welling, "Buy 4 REINFORCE samples, get a baseline for free!",
        ICLR workshop 2019.
    """

    min_samples = 2
    name = "loo"

    def __call__(self, fz: Tensor) -> Tensor:
        n = fz.shape[0]
        return (fz.sum(0, keepdim=True) - fz) / (n - 1)

    def __repr__(self) -> str:
        return "LeaveOneOut()"


class RunningMean(Baseline):
    r"""Exponential moving average of past values of f, a baseline free of the current z.

    .. math:: b_t = d\, b_{t-1} + (1 - d)\, \bar f_{t-1}, \qquad b_1 = \bar f_0

    The first call uses b = 0 (no baseline); each call then updates the state with the
    mean of its values. Because b_t depends only on earlier, independent samples, the
    estimator stays unbiased.

    Args:
        decay: d in [0, 1): the weight kept by the old average.

    Raises:
        ValueError: ``decay`` is outside [0, 1).

    Example:
        >>> b = RunningMean(decay=0.5)
        >>> b.update(torch.tensor([1.0, 3.0]))
        >>> b.value
        tensor(2.)
    """

    name = "running_mean"

    def __init__(self, decay: float = 0.9) -> None:
        if not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"RunningMean: decay must be in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.value: Tensor | None = None
        self.count = 0

    def __call__(self, fz: Tensor) -> Tensor | float:
        if self.value is None:
            return 0.0
        if self.value.shape != fz.shape[1:]:
            raise ValueError(
                f"RunningMean: the values' shape {tuple(fz.shape[1:])} (after the sample "
                f"dimension) differs from the running mean's {tuple(self.value.shape)}"
            )
        return self.value

    def update(self, fz: Tensor) -> None:
        new = fz.detach().mean(0)
        if self.value is None:
            self.value = new
        else:
            self.value = self.decay * self.value + (1.0 - self.decay) * new
        self.count += 1

    def reset(self) -> None:
        """Forget the running average."""
        self.value, self.count = None, 0

    def __repr__(self) -> str:
        return f"RunningMean(decay={self.decay})"


_BASELINES: dict[str, type[Baseline]] = {"loo": LeaveOneOut}


def _as_baseline(baseline: str | Baseline | None) -> Baseline | None:
    return _option(
        baseline,
        Baseline,
        _BASELINES,
        f"unknown baseline {baseline!r}; use None, one of {sorted(_BASELINES)}, or a "
        "Baseline instance such as RunningMean()",
    )


def score_surrogate(
    value: Tensor,
    fz: Tensor,
    log_q: Tensor,
    batch_shape: torch.Size,
    baseline: Baseline | None,
    elementwise: bool,
) -> Tensor:
    r"""mean(value) + mean((sg f − b)·(log q − sg log q)): the score-function term.

    Args:
        value: the values whose mean is returned (f itself, or f with a pathwise graph).
        fz: f's values, shape (N, *S) (detached here).
        log_q: the log-density (or log-weight) whose score multiplies f, shape
            (N, *batch_shape).
        batch_shape: q's batch shape; without ``elementwise`` log q is summed over it.
        baseline: subtracted from f (and updated), or None.
        elementwise: weight each value by the score of its own batch element.
    """
    num_samples = fz.shape[0]
    batch_dims = len(batch_shape)
    if elementwise:
        if tuple(fz.shape[1:]) != tuple(batch_shape):
            raise ValueError(
                f"elementwise=True needs f to return shape (num_samples, *batch_shape) = "
                f"{(num_samples, *batch_shape)}; got {tuple(fz.shape)}"
            )
    else:
        if batch_dims:
            log_q = log_q.sum(tuple(range(1, 1 + batch_dims)))
        log_q = log_q.reshape((num_samples,) + (1,) * (fz.dim() - 1))
    centred = fz.detach()
    if baseline is not None:
        centred = centred - baseline(centred)
        baseline.update(fz.detach())
    score_term = (centred * (log_q - log_q.detach())).mean(0)
    return value.mean(0) + score_term


@register_estimator
class ScoreFunction(Estimator):
    r"""Score-function (REINFORCE) estimator with an optional baseline; needs ``log_prob``.

    .. math::
        \nabla_\theta \mathbb E_q[f(z)] \approx \frac1N \sum_{i=1}^N
        \bigl(f(z_i) - b_i\bigr) \nabla_\theta \log q(z_i; \theta), \qquad z_i \sim q

    The surrogate is mean(f) + mean((f − b)·(log q − stop_grad(log q))), whose value is
    exactly mean(f) and whose gradient is the estimator above (plus the gradient of f's
    own parameters, if any).

    By default log q(z_i) is the joint density of all batch elements (``log_prob``
    summed over ``batch_shape``), which is right for any f. If f's value at batch
    index b depends only on z[..., b], pass ``elementwise=True``: each value is then
    weighted by the score of its own batch element only, dropping terms that have zero
    mean but add variance; f must then return shape ``(N, *batch_shape)``.

    Args:
        baseline: None, ``"loo"`` (:class:`LeaveOneOut`) or a :class:`Baseline` such as
            :class:`RunningMean`; a stateful baseline is updated after every call.
        elementwise: treat the batch elements as separate problems (see above).

    References:
        Williams, "Simple statistical gradient-following algorithms for connectionist
        reinforcement learning", Machine Learning 8, 1992.
        Mohamed et al., "Monte Carlo Gradient Estimation in Machine Learning", 2020,
        arXiv:1906.10652.

    Example:
        >>> from reparam import Normal
        >>> from reparam.estimators import expectation
        >>> loc = torch.tensor(1.0, requires_grad=True)
        >>> est = ScoreFunction(baseline="loo")
        >>> value = expectation(lambda z: z**2, Normal(loc, 2.0), 100, est)
        >>> value.backward()
        >>> loc.grad.shape
        torch.Size([])
    """

    name = "score"

    def __init__(
        self, baseline: str | Baseline | None = None, *, elementwise: bool = False
    ) -> None:
        self.baseline = _as_baseline(baseline)
        self.elementwise = bool(elementwise)

    @property
    def label(self) -> str:
        return self.name if self.baseline is None else f"{self.name}+{self.baseline.name}"

    def check(self, q: Distribution) -> None:
        if type(q).log_prob is Distribution.log_prob:
            raise ValueError(
                f"the score-function estimator needs log_prob; {type(q).__name__} has none"
            )

    def _checked_baseline(self, num_samples: int) -> Baseline | None:
        baseline = self.baseline
        if baseline is not None and num_samples < baseline.min_samples:
            raise ValueError(
                f"the {baseline.name!r} baseline needs num_samples >= "
                f"{baseline.min_samples}, got {num_samples}"
            )
        return baseline

    def _surrogate(self, f: Function, q: Distribution, num_samples: int) -> Tensor:
        baseline = self._checked_baseline(num_samples)
        with torch.no_grad():
            z = q.sample(torch.Size((num_samples,)))
        try:
            log_q = q.log_prob(z)
        except NotImplementedError as err:
            raise ValueError(
                f"the score-function estimator needs log_prob; {type(q).__name__} has none"
            ) from err
        fz = _evaluate(f, z, num_samples)
        return score_surrogate(fz, fz, log_q, q.batch_shape, baseline, self.elementwise)

    def __repr__(self) -> str:
        args = [] if self.baseline is None else [f"baseline={self.baseline!r}"]
        if self.elementwise:
            args.append("elementwise=True")
        return f"ScoreFunction({', '.join(args)})"
