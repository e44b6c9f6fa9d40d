"""The half-normal distribution, z = σ |ε| (a fold of the normal)."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .standard import HALF_LOG_2PI, StandardNormal

__all__ = ["HalfNormal"]

_LOG_2 = math.log(2.0)


class HalfNormal(ReparamDistribution):
    r"""Half-normal distribution: the law of σ|ε| for ε ~ N(0, 1).

    g folds ε and −ε onto the same z, so it is not a bijection; the density is
    twice the normal one on z ≥ 0, and ``log_prob_from_noise`` says so directly:

    .. math::
        \varepsilon \sim \mathcal N(0, 1), \quad z = \sigma|\varepsilon|, \quad
        \log q(z) = \log 2 - \tfrac12\varepsilon^2 - \tfrac12\log 2\pi - \log\sigma

    Args:
        scale: σ > 0, the scale of the normal being folded, with shape (*).
        validate_args: check that σ is positive and finite.

    Raises:
        ValueError: σ is NaN/inf or σ ≤ 0.

    References:
        Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions", vol. 1,
        2nd ed., 1994, ch. 13.

    Example:
        >>> q = HalfNormal(torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool((z >= 0).all())
        (torch.Size([5, 3]), True)
    """

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    noise = StandardNormal()

    def __init__(self, scale: Tensor | float, *, validate_args: bool | None = None) -> None:
        (self.scale,) = as_params("HalfNormal", scale=scale)
        super().__init__(self.scale.shape, validate_args=validate_args)

    def from_noise(self, eps: Tensor) -> Tensor:
        return self.scale * eps.abs()

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # The local Jacobian of each branch; the fold's log 2 is in log_prob_from_noise.
        return self.scale.log().expand(z.shape)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return -0.5 * eps * eps + (_LOG_2 - HALF_LOG_2PI) - self.scale.log()

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = value / self.scale
        lp = -0.5 * x * x + (_LOG_2 - HALF_LOG_2PI) - self.scale.log()
        return torch.where(value >= 0, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return torch.erf(value.clamp(min=0) / (self.scale * math.sqrt(2)))

    def icdf(self, value: Tensor) -> Tensor:
        return self.scale * math.sqrt(2) * torch.erfinv(value)

    def entropy(self) -> Tensor:
        return 0.5 * math.log(math.pi / 2) + 0.5 + self.scale.log()

    @property
    def mean(self) -> Tensor:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def mode(self) -> Tensor:
        return torch.zeros_like(self.scale)

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2) * (1 - 2 / math.pi)
