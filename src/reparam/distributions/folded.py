"""The folded distribution of a reparameterized base, z = |g(ε, θ)|."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.types import _size

from .base import ReparamDistribution
from .normal import Normal
from .standard import NoiseBase

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["FoldedDistribution"]

_EMPTY = torch.Size()
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class FoldedDistribution(ReparamDistribution):
    r"""The law of |X| for a univariate reparameterized X = g(ε, θ).

    .. math::
        \varepsilon \sim p(\varepsilon), \quad z = |g(\varepsilon, \theta)|, \quad
        \log q(z) = \operatorname{logaddexp}\bigl(\log p_X(z), \log p_X(-z)\bigr)

    The noise is the base's, unchanged (so antithetic and quasi-Monte Carlo noise apply
    through the fold). g is two-to-one, so log q is always the sum of both preimages'
    densities, never the change of variables of ε alone. Where −z lies outside the
    base's support its term is −inf. For a :class:`~reparam.distributions.Normal` base
    (the folded normal) the mean and variance are in closed form; otherwise they, the
    entropy and the inverse CDF raise ``NotImplementedError``. The CDF is
    F_X(z) − F_X(−z) wherever the base has a CDF.

    Args:
        base_dist: a univariate (event shape ``()``) distribution with ``rsample``: a
            :class:`ReparamDistribution`, or a torch distribution, which goes through
            :func:`~reparam.distributions.wrap`.
        validate_args: check samples passed to ``log_prob`` against the support [0, ∞).

    Raises:
        ValueError: the base has a non-empty event shape.
        TypeError: the base has no ``rsample``.

    References:
        Leone, Nelson & Nottingham, "The folded normal distribution", Technometrics 3(4),
        1961; Tsagris, Beneki & Hassani, "On the folded normal distribution",
        Mathematics 2(1), 2014.

    Example:
        >>> from reparam.distributions import Normal
        >>> q = FoldedDistribution(Normal(torch.tensor([-1.0, 2.0]), torch.ones(2)))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool((z >= 0).all())
        (torch.Size([5, 2]), True)
    """

    arg_constraints: dict[str, constraints.Constraint] = {}
    support = constraints.nonnegative
    base_dist: ReparamDistribution

    def __init__(self, base_dist: Distribution, validate_args: bool | None = None) -> None:
        if not isinstance(base_dist, ReparamDistribution):
            from .wrapped import wrap

            base_dist = wrap(base_dist)
        if base_dist.event_shape:
            raise ValueError(
                "FoldedDistribution: only univariate distributions can be folded; base_dist "
                f"has event shape {tuple(base_dist.event_shape)}"
            )
        self.base_dist = base_dist
        super().__init__(base_dist.batch_shape, validate_args=validate_args)

    # ------------------------------------------------------------------ state
    def _check_params(self) -> None:
        """The base validated its parameters when it was built."""

    def _param_items(self) -> dict[str, Tensor]:
        return {}

    def _reference(self) -> Tensor:
        return self.base_dist._reference()

    # ------------------------------------------------------------------ noise and g
    @property
    def noise(self) -> NoiseBase:  # type: ignore[override]  # read-only: the base's
        """The base's noise p(ε)."""
        return self.base_dist.noise

    @property
    def noise_event_shape(self) -> torch.Size:
        return self.base_dist.noise_event_shape

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        return self.base_dist.sample_noise(sample_shape, noise=noise)

    def from_noise(self, eps: Tensor) -> Tensor:
        return self.base_dist.from_noise(eps).abs()

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.log_prob(z)

    # ------------------------------------------------------------------ density
    def _unvalidated(self, method: str, value: Tensor) -> Tensor:
        """The base's ``method`` at ``value`` with its sample validation off: ±z may lie
        outside the base's support, which the callers handle."""
        base = self.base_dist
        validate, base._validate_args = base._validate_args, False
        try:
            return getattr(base, method)(value)
        finally:
            base._validate_args = validate

    def _base_log_prob(self, value: Tensor) -> Tensor:
        """log p_X(value), −inf outside the base's support."""
        support = cast(constraints.Constraint, self.base_dist.support)  # torch: Optional
        if support is constraints.real:
            return self.base_dist.log_prob(value)
        return torch.where(support.check(value), self._unvalidated("log_prob", value), -math.inf)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return torch.logaddexp(self._base_log_prob(value), self._base_log_prob(-value))

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value = value.clamp(min=0)
        upper = self._unvalidated("cdf", value).clamp(0, 1)
        lower = self._unvalidated("cdf", -value).clamp(0, 1)
        return (upper - lower).clamp(min=0)

    def _normal(self) -> Normal:
        if not isinstance(self.base_dist, Normal):
            raise NotImplementedError(
                "FoldedDistribution: mean and variance are in closed form for a Normal base "
                f"only, got {type(self.base_dist).__name__}"
            )
        return self.base_dist

    @property
    def mean(self) -> Tensor:
        # σ √(2/π) e^{−μ²/2σ²} + μ (1 − 2Φ(−μ/σ)) = σ √(2/π) e^{−μ²/2σ²} + μ erf(μ/σ√2)
        base = self._normal()
        r = base.loc / base.scale
        return base.scale * (
            _SQRT_2_OVER_PI * torch.exp(-0.5 * r * r) + r * torch.erf(r / math.sqrt(2))
        )

    @property
    def variance(self) -> Tensor:
        base = self._normal()
        return base.loc.pow(2) + base.scale.pow(2) - self.mean.pow(2)

    # ------------------------------------------------------------------ shapes
    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> FoldedDistribution:
        new = self._get_checked_instance(FoldedDistribution, _instance)
        new.base_dist = self.base_dist.expand(batch_shape)
        ReparamDistribution.__init__(new, new.base_dist.batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self) -> str:
        return f"FoldedDistribution({self.base_dist!r})"
