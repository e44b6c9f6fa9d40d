r"""Gradient estimators of ∇θ E_q[f(z)], each written as a surrogate objective.

An estimator turns the expectation E_{q(z; θ)}[f(z)] into a tensor whose *value* is the
Monte Carlo estimate (1/N) Σ_i f(z_i) and whose ``.backward()`` yields the estimator's
gradient. Two estimators are provided (Mohamed, Rosca, Figurnov & Mnih 2020):

- **pathwise** (reparameterization): z_i = g(ε_i, θ), ε_i ~ p(ε),

  .. math:: \hat g = \frac1N \sum_i \nabla_\theta f(g(\varepsilon_i, \theta));

- **score function** (REINFORCE, likelihood ratio): z_i ~ q, no gradient through z,

  .. math:: \hat g = \frac1N \sum_i \bigl(f(z_i) - b_i\bigr)\,\nabla_\theta \log q(z_i;\theta),

  with an optional baseline b_i that does not depend on z_i (so E[b_i ∇ log q(z_i)] = 0
  and the estimator stays unbiased): leave-one-out (``"loo"``) or a running mean.

References:
    Williams, "Simple statistical gradient-following algorithms for connectionist
    reinforcement learning", Machine Learning 8, 1992.
    Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.
    Kool, van Hoof & Welling, "Buy 4 REINFORCE samples, get a baseline for free!",
    ICLR workshop 2019.
    Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient Estimation in Machine
    Learning", JMLR 2020, arXiv:1906.10652.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution

__all__ = [
    "Baseline",
    "Estimator",
    "LeaveOneOut",
    "Pathwise",
    "RunningMean",
    "ScoreFunction",
    "estimator_names",
    "expectation",
    "get_estimator",
    "register_estimator",
]

Function = Callable[[Tensor], Tensor]


# --------------------------------------------------------------------------- validation
def _check_num_samples(num_samples: object) -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
    return num_samples


def _check_f(f: object) -> None:
    if not callable(f):
        raise TypeError(f"f must be callable (samples → values), got {type(f).__name__}")


def _check_q(q: object) -> None:
    if not isinstance(q, Distribution):
        raise TypeError(f"q must be a torch.distributions.Distribution, got {type(q).__name__}")


def _evaluate(f: Function, z: Tensor, num_samples: int) -> Tensor:
    """f(z), checked: a floating tensor whose first dimension is ``num_samples``."""
    fz = f(z)
    if not isinstance(fz, Tensor):
        raise ValueError(
            f"f must return a tensor; for samples of shape {tuple(z.shape)} it returned "
            f"{type(fz).__name__}"
        )
    if not fz.dtype.is_floating_point:
        raise ValueError(f"f must return a floating tensor, got dtype {fz.dtype}")
    if fz.dim() == 0 or fz.shape[0] != num_samples:
        raise ValueError(
            f"f must return values with leading dimension num_samples={num_samples}; for "
            f"samples of shape {tuple(z.shape)} it returned shape {tuple(fz.shape)}"
        )
    return fz


# --------------------------------------------------------------------------- baselines
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
    if baseline is None or isinstance(baseline, Baseline):
        return baseline
    if isinstance(baseline, str) and baseline in _BASELINES:
        return _BASELINES[baseline]()
    raise ValueError(
        f"unknown baseline {baseline!r}; use None, one of {sorted(_BASELINES)}, or a "
        "Baseline instance such as RunningMean()"
    )


# --------------------------------------------------------------------------- estimators
class Estimator(ABC):
    """A gradient estimator: ``estimator(f, q, num_samples)`` returns the surrogate.

    The base class validates the inputs and the values of f; a subclass writes
    ``check(q)`` (raise ValueError when q does not support it) and ``_surrogate``.
    Register a subclass with :func:`register_estimator` to make it available by name.
    """

    name: ClassVar[str] = "estimator"

    @property
    def label(self) -> str:
        """A short description for tables, e.g. ``score+loo``."""
        return self.name

    def check(self, q: Distribution) -> None:  # noqa: B027  (optional hook)
        """Raise ValueError if this estimator cannot be used with q (default: any q)."""

    def __call__(self, f: Function, q: Distribution, num_samples: int = 1) -> Tensor:
        """The surrogate of E_q[f(z)] from ``num_samples`` samples.

        Returns:
            a tensor with shape ``f(z).shape[1:]`` whose value is the mean of f over the
            samples and whose gradient is the estimator.
        """
        _check_f(f)
        _check_q(q)
        num_samples = _check_num_samples(num_samples)
        self.check(q)
        return self._surrogate(f, q, num_samples)

    @abstractmethod
    def _surrogate(self, f: Function, q: Distribution, num_samples: int) -> Tensor: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_ESTIMATORS: dict[str, type[Estimator]] = {}


def register_estimator(cls: type[Estimator]) -> type[Estimator]:
    """Class decorator: make ``cls`` available as ``estimator=cls.name``."""
    _ESTIMATORS[cls.name] = cls
    return cls


def estimator_names() -> list[str]:
    """The names accepted by ``estimator=``."""
    return sorted(_ESTIMATORS)


def get_estimator(
    estimator: str | Estimator, *, baseline: str | Baseline | None = None
) -> Estimator:
    """Resolve a name (with an optional baseline) or pass an instance through.

    Raises:
        ValueError: an unknown name, or a baseline given where it does not apply.
        TypeError: ``estimator`` is neither a string nor an :class:`Estimator`.
    """
    if isinstance(estimator, Estimator):
        if baseline is not None:
            raise ValueError(
                "baseline= applies only with an estimator name; configure the instance "
                "instead, e.g. ScoreFunction(baseline=...)"
            )
        return estimator
    if not isinstance(estimator, str):
        raise TypeError(
            f"estimator must be a name or an Estimator, got {type(estimator).__name__}"
        )
    if estimator not in _ESTIMATORS:
        raise ValueError(
            f"unknown estimator {estimator!r}; valid names: {', '.join(estimator_names())}"
        )
    cls = _ESTIMATORS[estimator]
    if baseline is not None:
        if cls is not ScoreFunction:
            raise ValueError(f"baseline= does not apply to the {estimator!r} estimator")
        return ScoreFunction(baseline=baseline)
    return cls()


@register_estimator
class Pathwise(Estimator):
    r"""Pathwise (reparameterization) estimator; needs ``q.has_rsample``.

    .. math::
        \nabla_\theta \mathbb E_q[f(z)] \approx \frac1N \sum_{i=1}^N
        \nabla_\theta f(g(\varepsilon_i, \theta)), \qquad \varepsilon_i \sim p(\varepsilon)

    The surrogate is simply (1/N) Σ f(q.rsample()).

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.

    Example:
        >>> from reparam import Normal
        >>> loc = torch.tensor(1.0, requires_grad=True)
        >>> expectation(lambda z: z, Normal(loc, 2.0), 10, Pathwise()).backward()
        >>> round(loc.grad.item(), 6)  # ∂/∂μ E[z] = 1 for every sample
        1.0
    """

    name = "pathwise"

    def check(self, q: Distribution) -> None:
        if not q.has_rsample:
            raise ValueError(
                f"the pathwise estimator needs a reparameterized distribution; "
                f"{type(q).__name__} has no rsample (use estimator='score')"
            )

    def _surrogate(self, f: Function, q: Distribution, num_samples: int) -> Tensor:
        z = q.rsample(torch.Size((num_samples,)))
        return _evaluate(f, z, num_samples).mean(0)


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

    def _surrogate(self, f: Function, q: Distribution, num_samples: int) -> Tensor:
        baseline = self.baseline
        if baseline is not None and num_samples < baseline.min_samples:
            raise ValueError(
                f"the {baseline.name!r} baseline needs num_samples >= "
                f"{baseline.min_samples}, got {num_samples}"
            )
        with torch.no_grad():
            z = q.sample(torch.Size((num_samples,)))
        try:
            log_q = q.log_prob(z)
        except NotImplementedError as err:
            raise ValueError(
                f"the score-function estimator needs log_prob; {type(q).__name__} has none"
            ) from err
        fz = _evaluate(f, z, num_samples)
        batch_dims = len(q.batch_shape)
        if self.elementwise:
            if tuple(fz.shape[1:]) != tuple(q.batch_shape):
                raise ValueError(
                    f"elementwise=True needs f to return shape (num_samples, *batch_shape) = "
                    f"{(num_samples, *q.batch_shape)}; got {tuple(fz.shape)}"
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
        return fz.mean(0) + score_term

    def __repr__(self) -> str:
        args = [] if self.baseline is None else [f"baseline={self.baseline!r}"]
        if self.elementwise:
            args.append("elementwise=True")
        return f"ScoreFunction({', '.join(args)})"


def expectation(
    f: Function,
    q: Distribution,
    num_samples: int = 1,
    estimator: str | Estimator = "pathwise",
    *,
    baseline: str | Baseline | None = None,
) -> Tensor:
    r"""Surrogate of E_q[f(z)]: its value is the Monte Carlo mean, its gradient the estimator.

    .. math:: \mathbb E_{q(z;\theta)}[f(z)] \approx \frac1N \sum_{i=1}^N f(z_i)

    Args:
        f: maps samples with shape ``(N, *batch_shape, *event_shape)`` to values with
            shape ``(N, *S)``.
        q: the distribution (a :class:`torch.distributions.Distribution`).
        num_samples: N ≥ 1.
        estimator: ``"pathwise"``, ``"score"`` or an :class:`Estimator` instance.
        baseline: for ``estimator="score"``: None, ``"loo"`` or a :class:`Baseline`
            (pass a :class:`RunningMean` instance and keep it, so its state persists).

    Returns:
        a tensor with shape ``S`` (a scalar when f returns shape ``(N,)``).

    Raises:
        TypeError: f is not callable, or q is not a Distribution.
        ValueError: bad ``num_samples``, an unknown estimator or baseline, f returning
            something other than a floating tensor with leading dimension N, or an
            estimator that q does not support (pathwise without rsample, score without
            log_prob).

    Example:
        >>> from reparam import Normal
        >>> loc = torch.tensor(1.0, requires_grad=True)
        >>> value = expectation(lambda z: z**2, Normal(loc, 2.0), num_samples=100)
        >>> value.backward()  # loc.grad ≈ 2 μ = 2
    """
    return get_estimator(estimator, baseline=baseline)(f, q, num_samples)
