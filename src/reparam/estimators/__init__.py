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

The pathwise estimator takes three variance-reduction options, each unbiased:

- ``noise=``: how ε is drawn (``"mc"``, ``"antithetic"``, ``"qmc"``; :mod:`reparam.noise`);
- ``control_variate=``: a Taylor expansion c of f around z̄ = sg(E_q[z]) whose
  expectation E_q[c] is known in closed form (Miller et al. 2017),

  .. math::
      \hat g = \frac1N \sum_i \nabla_\theta\bigl[f(z_i) - c(z_i)\bigr]
      + \nabla_\theta \mathbb E_q[c],
      \quad c(z) = g^\top (z - \bar z) + \tfrac12 (z - \bar z)^\top H (z - \bar z),

  with g = ∇f(z̄), H = ∇²f(z̄) held constant (``"linear"`` drops the H term), and
  E_q[c] = gᵀ(m(θ) − z̄) + ½ tr(H Σ(θ)) + ½ (m − z̄)ᵀH(m − z̄), m = E_q[z], Σ = Cov_q[z];
- ``entropy=``: the target becomes E_q[f(z)] + H[q] = E_q[f(z) − log q(z)] (the ELBO
  when f = log p(x, z)), with −log q(z) from the noise (``"mc"``), in closed form
  (``"analytic"``) or with q's parameters stopped in log q (``"stl"``, sticking the
  landing: the score term ∇θ log q(z)|_z, of mean zero, is dropped; Roeder et al. 2017).

References:
    Williams, "Simple statistical gradient-following algorithms for connectionist
    reinforcement learning", Machine Learning 8, 1992.
    Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.
    Kool, van Hoof & Welling, "Buy 4 REINFORCE samples, get a baseline for free!",
    ICLR workshop 2019.
    Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient Estimation in Machine
    Learning", JMLR 2020, arXiv:1906.10652.
    Miller, Foti, D'Amour & Adams, "Reducing Reparameterization Gradient Variance",
    NeurIPS 2017, arXiv:1705.07880.
    Roeder, Wu & Duvenaud, "Sticking the Landing: Simple, Lower-Variance Gradient
    Estimators for Variational Inference", NeurIPS 2017, arXiv:1703.09194.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution

from .._checks import check_int
from ..distributions import ReparamDistribution, detach_params, wrap
from ..noise import Antithetic, MonteCarlo, NoiseStrategy, draw_noise, get_noise

__all__ = [
    "ENTROPY_MODES",
    "QUADRATIC_MAX_DIM",
    "Baseline",
    "ControlVariate",
    "Estimator",
    "LeaveOneOut",
    "Pathwise",
    "RunningMean",
    "ScoreFunction",
    "TaylorControlVariate",
    "control_variate_names",
    "detach_params",
    "estimator_names",
    "expectation",
    "get_estimator",
    "register_estimator",
]

Function = Callable[[Tensor], Tensor]


# --------------------------------------------------------------------------- validation
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


# --------------------------------------------------------------------------- control variates
#: the largest number of Hessian-vector products (size of H) the quadratic control
#: variate computes per estimate; H has d² entries and costs d backward passes.
QUADRATIC_MAX_DIM = 1024


def _moment(q: Distribution, name: str, who: str) -> Tensor:
    """q.mean or q.variance, checked to exist and be finite (shape batch + event)."""
    try:
        value = getattr(q, name)
    except NotImplementedError:
        value = None
    if not isinstance(value, Tensor):
        raise ValueError(
            f"control_variate={who!r} needs q's {name} in closed form; {type(q).__name__} has none"
        )
    if not bool(torch.isfinite(value).all()):
        raise ValueError(
            f"control_variate={who!r} needs a finite {name} of q; {type(q).__name__}'s "
            f"{name} is {value.detach().flatten()[:4].tolist()} (use control_variate=None)"
        )
    return value.expand(q.batch_shape + q.event_shape)


def _is_factorized(q: Distribution) -> bool:
    """The event's coordinates are independent (so the covariance is diag(variance))."""
    if len(q.event_shape) == 0:
        return True
    base = getattr(q, "base_dist", None)
    return (
        hasattr(q, "reinterpreted_batch_ndims")
        and isinstance(base, Distribution)
        and _is_factorized(base)
    )


def _covariance_blocks(q: Distribution, who: str) -> tuple[Tensor, bool]:
    """(Σ per batch element, is_diagonal): shape (b, k, k), or the variances (b, k)."""
    b, k = math.prod(q.batch_shape), math.prod(q.event_shape)
    if _is_factorized(q):
        return _moment(q, "variance", who).reshape(b, k), True
    if len(q.event_shape) == 1:
        try:
            cov = q.covariance_matrix
        except (AttributeError, NotImplementedError):
            cov = None
        if isinstance(cov, Tensor):
            if not bool(torch.isfinite(cov).all()):
                raise ValueError(
                    f"control_variate={who!r} needs a finite covariance of q; "
                    f"{type(q).__name__}'s covariance_matrix is not finite"
                )
            return cov.expand(q.batch_shape + (k, k)).reshape(b, k, k), False
    raise ValueError(
        f"control_variate={who!r} needs q's covariance: {type(q).__name__} has event shape "
        f"{tuple(q.event_shape)} with no covariance_matrix and its coordinates are not "
        "known to be independent (use control_variate='linear')"
    )


#: up to this many Hessian-vector products are run one by one; more are batched (vmap),
#: whose fixed set-up cost only pays off for larger d.
_HVP_LOOP_MAX = 8


def _hessian(grad: Tensor, x: Tensor, groups: int, dim: int) -> Tensor:
    """H[g, i, j] = ∂ grad[g, i] / ∂ x[g', j] summed over g' (``dim`` HVPs)."""
    eye = torch.eye(dim, dtype=x.dtype, device=x.device)
    probes = eye[:, None, :].expand(dim, groups, dim).reshape((dim, *x.shape))
    cols = None
    if dim > _HVP_LOOP_MAX:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*performance drop.*")
                (cols,) = torch.autograd.grad(
                    grad, x, probes, retain_graph=True, is_grads_batched=True, allow_unused=True
                )
        except RuntimeError:  # an op without a vmap rule: fall back to the loop
            cols = None
    if cols is None:
        parts = [
            torch.autograd.grad(grad, x, p, retain_graph=True, allow_unused=True)[0]
            for p in probes
        ]
        cols = None if parts[0] is None else torch.stack(parts)
    if cols is None:
        return torch.zeros(groups, dim, dim, dtype=x.dtype, device=x.device)
    hess = cols.reshape(dim, groups, dim).permute(1, 2, 0)
    return 0.5 * (hess + hess.mT)


class ControlVariate(ABC):
    """A control variate for the pathwise estimator: ``cv(f, q, z, fz)`` → adjusted values.

    The adjusted values f(z_i) − c(z_i) + E_q[c] have the same expectation as f(z_i),
    as a function of θ, so both the value and the pathwise gradient stay unbiased for
    any c whose expectation is computed exactly and differentiably in θ.
    """

    name: ClassVar[str] = "cv"

    @abstractmethod
    def __call__(self, f: Function, q: Distribution, z: Tensor, fz: Tensor) -> Tensor:
        """The adjusted values, shape of ``fz``, for samples z = g(ε, θ) and fz = f(z)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class TaylorControlVariate(ControlVariate):
    r"""First- or second-order Taylor expansion of f around z̄ = sg(E_q[z]).

    .. math::
        c(z) = g^\top(z - \bar z) + \tfrac12 (z - \bar z)^\top H (z - \bar z), \qquad
        \mathbb E_q[c] = g^\top(m(\theta) - \bar z) + \tfrac12\operatorname{tr}(H\Sigma(\theta))
        + \tfrac12 (m - \bar z)^\top H (m - \bar z)

    with g = ∇f(z̄) and H = ∇²f(z̄) computed at every estimate and held constant,
    m(θ) = ``q.mean`` and Σ(θ) its covariance, both differentiable. Because z̄ = m in
    value, the last term and its gradient are zero (it is left out). The linear part of
    f then contributes no noise (order 1), and for order 2 the quadratic part neither:
    for a quadratic f the gradient has zero variance.

    Shapes: samples z have shape (N, *batch, *event). If f returns shape (N,) it is
    expanded in all of z at once, flattened to d = prod(batch + event) coordinates. If
    it returns (N, *batch) (batch non-empty), value b is expanded in z's batch element
    b only (d = prod(event)), which is right when f's value b depends only on z[:, b]
    (otherwise the estimator stays unbiased but reduces variance less). f must also
    accept a batch of one sample (it is evaluated at z̄). Σ is ``q.variance`` when the
    event's coordinates are independent (scalar events, ``Independent`` of scalar
    families) and ``q.covariance_matrix`` for a vector event (multivariate normals).

    Args:
        order: 1 (``"linear"``) or 2 (``"quadratic"``: H from d Hessian-vector
            products, batched; d ≤ :data:`QUADRATIC_MAX_DIM`).

    Raises:
        ValueError: a bad order; at use: q without a finite mean (e.g. Cauchy) or,
            for order 2, without a finite covariance; d > QUADRATIC_MAX_DIM; f's values
            not of shape (N,) or (N, *batch).

    References:
        Miller, Foti, D'Amour & Adams, "Reducing Reparameterization Gradient
        Variance", NeurIPS 2017, arXiv:1705.07880.

    Example:
        >>> from reparam import Normal
        >>> loc = torch.tensor(1.0, requires_grad=True)
        >>> est = Pathwise(control_variate="quadratic")
        >>> expectation(lambda z: z**2, Normal(loc, 2.0), 4, est).backward()
        >>> loc.grad  # ∂/∂μ E[z²] = 2μ, exactly, whatever the samples
        tensor(2.)
    """

    def __init__(self, order: int) -> None:
        if order not in (1, 2):
            raise ValueError(f"TaylorControlVariate: order must be 1 or 2, got {order!r}")
        self.order = order

    @property
    def name(self) -> str:  # an instance property over ControlVariate.name
        return "linear" if self.order == 1 else "quadratic"

    def __call__(self, f: Function, q: Distribution, z: Tensor, fz: Tensor) -> Tensor:
        n, batch, event = z.shape[0], q.batch_shape, q.event_shape
        b, k = math.prod(batch), math.prod(event)
        if fz.shape == (n,):
            groups, dim = 1, b * k
        elif len(batch) and fz.shape == (n, *batch):
            groups, dim = b, k
        else:
            raise ValueError(
                f"control_variate={self.name!r} needs f to return shape (num_samples,) = "
                f"{(n,)} or (num_samples, *batch_shape) = {(n, *batch)}; got "
                f"{tuple(fz.shape)}"
            )
        if self.order == 2 and dim > QUADRATIC_MAX_DIM:
            raise ValueError(
                f"control_variate='quadratic' computes a {dim}×{dim} Hessian; d = {dim} "
                f"exceeds QUADRATIC_MAX_DIM = {QUADRATIC_MAX_DIM} (use 'linear')"
            )
        mean = _moment(q, "mean", self.name)
        if self.order == 2:
            cov, diagonal = _covariance_blocks(q, self.name)
        z_bar = mean.detach()
        grad, hess = self._derivatives(f, z_bar, groups, dim)
        delta = (z - z_bar).reshape(n, groups, dim)
        cv = (delta * grad).sum(-1)
        expected = (grad * (mean - z_bar).reshape(groups, dim)).sum(-1)
        if hess is not None:
            cv = cv + 0.5 * torch.einsum("ngi,gij,ngj->ng", delta, hess, delta)
            expected = expected + 0.5 * self._trace(hess, cov, diagonal, groups, b, k)
        return (fz.reshape(n, groups) - cv + expected).reshape(fz.shape)

    def _derivatives(
        self, f: Function, z_bar: Tensor, groups: int, dim: int
    ) -> tuple[Tensor, Tensor | None]:
        """(g, H) of the summed values at z̄, as constants: shapes (G, d), (G, d, d)."""
        with torch.enable_grad():
            x = z_bar.unsqueeze(0).clone().requires_grad_(True)
            total = _evaluate(f, x, 1).sum()
            if not total.requires_grad:  # f does not depend on z
                zeros = torch.zeros(groups, dim, dtype=x.dtype, device=x.device)
                return zeros, None if self.order == 1 else zeros.new_zeros(groups, dim, dim)
            (grad,) = torch.autograd.grad(
                total, x, create_graph=self.order == 2, allow_unused=True
            )
            if grad is None:
                grad = torch.zeros_like(x)
            hess = None
            if self.order == 2:
                if grad.requires_grad:
                    hess = _hessian(grad, x, groups, dim).detach()
                else:  # f is linear in z
                    hess = x.new_zeros(groups, dim, dim)
        return grad.detach().reshape(groups, dim), hess

    @staticmethod
    def _trace(hess: Tensor, cov: Tensor, diagonal: bool, groups: int, b: int, k: int) -> Tensor:
        """tr(H Σ) per group; Σ is block diagonal over the b batch elements."""
        if groups == 1:  # one expansion over all b·k coordinates: H's diagonal blocks
            blocks = hess[0].reshape(b, k, b, k).diagonal(dim1=0, dim2=2).permute(2, 0, 1)
        else:
            blocks = hess
        if diagonal:
            per_element = (blocks.diagonal(dim1=-2, dim2=-1) * cov).sum(-1)
        else:
            per_element = (blocks * cov).sum((-2, -1))  # Σ symmetric: tr(HΣ) = Σ H ⊙ Σ
        return per_element.sum().reshape(1) if groups == 1 else per_element

    def __repr__(self) -> str:
        return f"TaylorControlVariate(order={self.order})"


_CONTROL_VARIATES: dict[str, Callable[[], ControlVariate]] = {
    "linear": lambda: TaylorControlVariate(1),
    "quadratic": lambda: TaylorControlVariate(2),
}


def control_variate_names() -> list[str]:
    """The names accepted by ``control_variate=``."""
    return sorted(_CONTROL_VARIATES)


def _as_control_variate(cv: str | ControlVariate | None) -> ControlVariate | None:
    if cv is None or isinstance(cv, ControlVariate):
        return cv
    if isinstance(cv, str) and cv in _CONTROL_VARIATES:
        return _CONTROL_VARIATES[cv]()
    raise ValueError(
        f"unknown control_variate {cv!r}; use None, one of "
        f"{', '.join(control_variate_names())}, or a ControlVariate instance"
    )


#: the values accepted by ``entropy=`` (besides None).
ENTROPY_MODES = ("analytic", "mc", "stl")


def _check_entropy(entropy: str | None) -> str | None:
    if entropy is None or (isinstance(entropy, str) and entropy in ENTROPY_MODES):
        return entropy
    raise ValueError(f"unknown entropy {entropy!r}; use None or one of {', '.join(ENTROPY_MODES)}")


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
        num_samples = check_int("num_samples", num_samples, noun="an int")
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
    estimator: str | Estimator,
    *,
    baseline: str | Baseline | None = None,
    noise: str | NoiseStrategy | None = None,
    control_variate: str | ControlVariate | None = None,
    entropy: str | None = None,
) -> Estimator:
    """Resolve a name (with its options) or pass an instance through.

    ``baseline`` applies to ``"score"``; ``noise``, ``control_variate`` and ``entropy``
    to ``"pathwise"`` (``noise="mc"`` is accepted by both: it is what the score function
    draws; other strategies would break the independence its baselines rely on).

    Raises:
        ValueError: an unknown name, or an option given where it does not apply (with
            an instance: configure the instance instead).
        TypeError: ``estimator`` is neither a string nor an :class:`Estimator`.
    """
    options = {
        "baseline": baseline,
        "noise": noise,
        "control_variate": control_variate,
        "entropy": entropy,
    }
    given = {k: v for k, v in options.items() if v is not None}
    if isinstance(estimator, Estimator):
        if given:
            raise ValueError(
                f"{', '.join(f'{k}=' for k in given)} applies only with an estimator name; "
                "configure the instance instead, e.g. ScoreFunction(baseline=...) or "
                "Pathwise(noise=...)"
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
    if cls is ScoreFunction and given.get("noise") == "mc":
        del given["noise"]
    allowed = {ScoreFunction: {"baseline"}, Pathwise: {"noise", "control_variate", "entropy"}}
    wrong = sorted(set(given) - allowed.get(cls, set()))
    if wrong:
        raise ValueError(
            f"{', '.join(f'{k}={given[k]!r}' for k in wrong)} does not apply to the "
            f"{estimator!r} estimator"
        )
    return cls(**given)


@register_estimator
class Pathwise(Estimator):
    r"""Pathwise (reparameterization) estimator; needs ``q.has_rsample``.

    .. math::
        \nabla_\theta \mathbb E_q[f(z)] \approx \frac1N \sum_{i=1}^N
        \nabla_\theta f(g(\varepsilon_i, \theta)), \qquad \varepsilon_i \sim p(\varepsilon)

    With the defaults the surrogate is simply (1/N) Σ f(q.rsample()). Options (all keep
    the value and the gradient unbiased; see the module docstring for the formulas):

    Args:
        noise: how ε is drawn: ``"mc"`` (default), ``"antithetic"`` (needs an even
            number of samples), ``"qmc"`` or a :class:`~reparam.noise.NoiseStrategy`.
            A torch distribution is first converted with
            :func:`~reparam.distributions.wrap`; q's noise must be an elementwise base
            (not the opaque seed of a :class:`~reparam.WrappedRSample`).
        control_variate: None, ``"linear"`` or ``"quadratic"`` (a
            :class:`TaylorControlVariate` of order 1 or 2 around E_q[z]) or a
            :class:`ControlVariate`. The surrogate's value is then the control-variate
            estimate, no longer the plain sample mean (same expectation).
        entropy: None, or add H[q] to the target: ``"mc"`` (−log q(z) from the noise,
            ``rsample_and_log_prob``), ``"analytic"`` (``q.entropy()``) or ``"stl"``
            (−log q(z) with q's parameters stopped, :func:`detach_params`). f must then
            return shape (N,) (log q summed over the batch) or (N, *batch_shape)
            (elementwise). The control variate acts on f only.

    Raises:
        ValueError: an unknown noise, control variate or entropy; at use: antithetic
            with an odd number of samples, and what the control variate raises.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.
        Miller, Foti, D'Amour & Adams, "Reducing Reparameterization Gradient
        Variance", NeurIPS 2017, arXiv:1705.07880.
        Roeder, Wu & Duvenaud, "Sticking the Landing", NeurIPS 2017, arXiv:1703.09194.
        Buchholz, Wenzel & Mandt, "Quasi-Monte Carlo Variational Inference", ICML 2018,
        arXiv:1807.01985.

    Example:
        >>> from reparam import Normal
        >>> loc = torch.tensor(1.0, requires_grad=True)
        >>> expectation(lambda z: z, Normal(loc, 2.0), 10, Pathwise()).backward()
        >>> round(loc.grad.item(), 6)  # ∂/∂μ E[z] = 1 for every sample
        1.0
        >>> Pathwise(noise="qmc", control_variate="linear", entropy="stl").label
        'pathwise+qmc+cv-linear+stl'
    """

    name = "pathwise"

    def __init__(
        self,
        noise: str | NoiseStrategy = "mc",
        control_variate: str | ControlVariate | None = None,
        entropy: str | None = None,
    ) -> None:
        self.noise = get_noise(noise)
        self.control_variate = _as_control_variate(control_variate)
        self.entropy = _check_entropy(entropy)

    @property
    def label(self) -> str:
        parts = [self.name]
        if not isinstance(self.noise, MonteCarlo):
            parts.append(self.noise.name)
        if self.control_variate is not None:
            parts.append(f"cv-{self.control_variate.name}")
        if self.entropy == "stl":
            parts.append("stl")
        elif self.entropy is not None:
            parts.append(f"entropy-{self.entropy}")
        return "+".join(parts)

    def check(self, q: Distribution) -> None:
        if not q.has_rsample:
            raise ValueError(
                f"the pathwise estimator needs a reparameterized distribution; "
                f"{type(q).__name__} has no rsample (use estimator='score')"
            )

    def _sample(self, q: Distribution, num_samples: int) -> tuple[Tensor, Tensor | None]:
        """z with shape (N, *batch, *event), and log q(z) when entropy='mc'."""
        shape = torch.Size((num_samples,))
        with_log_q = self.entropy == "mc"
        if isinstance(self.noise, MonteCarlo):
            if not with_log_q:
                return q.rsample(shape), None
            if isinstance(q, ReparamDistribution):
                return q.rsample_and_log_prob(shape)
            z = q.rsample(shape)
            return z, q.log_prob(z)
        if isinstance(self.noise, Antithetic) and num_samples % 2:
            raise ValueError(
                f"noise='antithetic' needs an even num_samples (pairs ε, r(ε)); got {num_samples}"
            )
        rq = wrap(q)
        eps = draw_noise(rq, shape, self.noise)
        return rq.from_noise_and_log_prob(eps) if with_log_q else (rq.from_noise(eps), None)

    def _surrogate(self, f: Function, q: Distribution, num_samples: int) -> Tensor:
        z, log_q = self._sample(q, num_samples)
        fz = _evaluate(f, z, num_samples)
        values = fz if self.control_variate is None else self.control_variate(f, q, z, fz)
        if self.entropy is None:
            return values.mean(0)
        if self.entropy == "analytic":
            try:
                h = q.entropy()
            except NotImplementedError as err:
                raise ValueError(
                    f"entropy='analytic' needs q.entropy(); {type(q).__name__} has none "
                    "(use entropy='mc' or 'stl')"
                ) from err
            return values.mean(0) + self._per_value(h.expand(q.batch_shape), fz, q, batch=True)
        if self.entropy == "stl":
            try:
                log_q = detach_params(q).log_prob(z)
            except NotImplementedError as err:
                raise ValueError(
                    f"entropy='stl' needs q.log_prob; {type(q).__name__} has none "
                    "(use entropy='mc')"
                ) from err
        assert log_q is not None
        return (values - self._per_value(log_q, fz, q, batch=False)).mean(0)

    @staticmethod
    def _per_value(term: Tensor, fz: Tensor, q: Distribution, *, batch: bool) -> Tensor:
        """Match an entropy term of shape ([N,] *batch) to f's values: sum or keep."""
        lead = 0 if batch else 1
        batch_shape = tuple(q.batch_shape)
        if fz.shape[1:] == batch_shape:
            return term
        if fz.dim() == 1:
            return term.reshape(term.shape[:lead] + (-1,)).sum(-1)
        raise ValueError(
            f"entropy= needs f to return shape (num_samples,) or (num_samples, *batch_shape) "
            f"= {(fz.shape[0], *batch_shape)}; got {tuple(fz.shape)}"
        )

    def __repr__(self) -> str:
        args = []
        if not isinstance(self.noise, MonteCarlo):
            args.append(f"noise={self.noise.name!r}")
        if self.control_variate is not None:
            args.append(f"control_variate={self.control_variate.name!r}")
        if self.entropy is not None:
            args.append(f"entropy={self.entropy!r}")
        return f"Pathwise({', '.join(args)})"


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
    noise: str | NoiseStrategy | None = None,
    control_variate: str | ControlVariate | None = None,
    entropy: str | None = None,
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
        noise: for ``estimator="pathwise"``: how ε is drawn, ``"mc"`` (default),
            ``"antithetic"``, ``"qmc"`` or a :class:`~reparam.noise.NoiseStrategy`.
            The score function takes only ``"mc"``.
        control_variate: for ``"pathwise"``: None, ``"linear"`` or ``"quadratic"``
            (see :class:`TaylorControlVariate`).
        entropy: for ``"pathwise"``: None, or estimate E_q[f(z)] + H[q] with
            ``"mc"``, ``"analytic"`` or ``"stl"`` (see :class:`Pathwise`).

    Returns:
        a tensor with shape ``S`` (a scalar when f returns shape ``(N,)``).

    Raises:
        TypeError: f is not callable, or q is not a Distribution.
        ValueError: bad ``num_samples``, an unknown estimator or baseline, f returning
            something other than a floating tensor with leading dimension N, or an
            estimator that q does not support (pathwise without rsample, score without
            log_prob), an option given to the wrong estimator, or one that does not
            apply to q (see :class:`Pathwise`).

    Example:
        >>> from reparam import Normal
        >>> loc = torch.tensor(1.0, requires_grad=True)
        >>> value = expectation(lambda z: z**2, Normal(loc, 2.0), num_samples=100)
        >>> value.backward()  # loc.grad ≈ 2 μ = 2
        >>> value = expectation(lambda z: z**2, Normal(loc, 2.0), 64, noise="qmc")
    """
    est = get_estimator(
        estimator,
        baseline=baseline,
        noise=noise,
        control_variate=control_variate,
        entropy=entropy,
    )
    return est(f, q, num_samples)
