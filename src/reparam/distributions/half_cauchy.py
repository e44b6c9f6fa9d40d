"""The half-Cauchy distribution, z = γ tan(πu/2) by the inverse CDF."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .cauchy import _log1p_square
from .standard import StandardUniform

__all__ = ["HalfCauchy"]

_LOG_HALF_PI = math.log(math.pi / 2)


def _standard_icdf(u: Tensor) -> Tensor:
    """tan(πu/2), written as cot(π(1 − u)/2) for u ≥ ½ so that u near 1 keeps its digits."""
    low = u < 0.5
    return torch.where(
        low, torch.tan(0.5 * math.pi * u), torch.tan(0.5 * math.pi * (1 - u)).reciprocal()
    )


class HalfCauchy(ReparamDistribution):
    r"""Half-Cauchy distribution: the law of |X| for X ~ Cauchy(0, γ).

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \gamma\tan(\pi u / 2), \quad
        \log q(z) = \log\frac{2}{\pi\gamma} - \log\bigl(1 + (z/\gamma)^2\bigr)

    The mean is +inf and the variance +inf, as in torch.

    Args:
        scale: γ > 0, the scale of the Cauchy being folded, with shape (*).
        validate_args: check that γ is positive and finite.

    Raises:
        ValueError: γ is NaN/inf or γ ≤ 0.

    References:
        Gelman, "Prior distributions for variance parameters in hierarchical models",
        Bayesian Analysis 1(3), 2006.

    Example:
        >>> q = HalfCauchy(torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool((z >= 0).all())
        (torch.Size([5, 3]), True)
    """

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    noise = StandardUniform()

    def __init__(self, scale: Tensor | float, validate_args: bool | None = None) -> None:
        (self.scale,) = as_params("HalfCauchy", scale=scale)
        super().__init__(self.scale.shape, validate_args=validate_args)

    def from_noise(self, eps: Tensor) -> Tensor:
        return self.scale * _standard_icdf(eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # dz/du = (π/2) γ (1 + x²) with x = tan(πu/2).
        return self.scale.log() + _LOG_HALF_PI + _log1p_square(_standard_icdf(eps))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        lp = -_log1p_square(value / self.scale) - (self.scale.log() + _LOG_HALF_PI)
        return torch.where(value >= 0, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return torch.atan(value.clamp(min=0) / self.scale) * (2 / math.pi)

    def icdf(self, value: Tensor) -> Tensor:
        return self.scale * _standard_icdf(value)

    def entropy(self) -> Tensor:
        return math.log(2 * math.pi) + self.scale.log()

    @property
    def mean(self) -> Tensor:
        return torch.full_like(self.scale, math.inf)

    @property
    def mode(self) -> Tensor:
        return torch.zeros_like(self.scale)

    @property
    def variance(self) -> Tensor:
        return torch.full_like(self.scale, math.inf)
