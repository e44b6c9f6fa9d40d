"""The exponential distribution, z = −log(1 − u) / λ by the inverse CDF."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["Exponential"]


class Exponential(ReparamDistribution):
    r"""Exponential distribution with rate λ.

    .. math::
        u \sim \mathcal U(0, 1), \quad z = -\log(1 - u) / \lambda, \quad
        \log q(z) = \log\lambda + \log(1 - u)

    Args:
        rate: rate λ > 0 (the inverse mean), with shape (*).
        validate_args: check that λ is positive and finite.

    Raises:
        ValueError: λ is NaN/inf or λ ≤ 0.

    References:
        Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions", vol. 1,
        2nd ed., 1994, ch. 19.

    Example:
        >>> q = Exponential(torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool((z >= 0).all())
        (torch.Size([5, 3]), True)
    """

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    noise = StandardUniform()

    def __init__(self, rate: Tensor | float, *, validate_args: bool | None = None) -> None:
        (self.rate,) = as_params("Exponential", rate=rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    def from_noise(self, eps: Tensor) -> Tensor:
        return -torch.log1p(-eps) / self.rate

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        return -self.rate.log() - torch.log1p(-eps)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        lp = self.rate.log() - self.rate * value
        return torch.where(value >= 0, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return -torch.expm1(-self.rate * value.clamp(min=0))

    def icdf(self, value: Tensor) -> Tensor:
        return -torch.log1p(-value) / self.rate

    def entropy(self) -> Tensor:
        return 1 - self.rate.log()

    @property
    def mean(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def mode(self) -> Tensor:
        return torch.zeros_like(self.rate)

    @property
    def variance(self) -> Tensor:
        return self.rate.pow(-2)
