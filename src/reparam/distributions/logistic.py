"""The logistic distribution, z = μ + s logit(u) by the inverse CDF."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn.functional import softplus

from .location_scale import LocationScale
from .standard import StandardUniform

__all__ = ["Logistic"]


class Logistic(LocationScale):
    r"""Logistic distribution with location μ and scale s.

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \mu + s\,(\log u - \log(1 - u)), \quad
        \log q(z) = \log u + \log(1 - u) - \log s

    Args:
        loc: location μ, with shape (*).
        scale: scale s > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and s positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or s ≤ 0, or the shapes do not broadcast.

    References:
        Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions", vol. 2,
        2nd ed., 1995, ch. 23.

    Example:
        >>> q = Logistic(torch.zeros(3), torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    noise = StandardUniform()

    def from_noise(self, eps: Tensor) -> Tensor:
        return torch.addcmul(self.loc, self.scale, eps.log() - torch.log1p(-eps))

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # q(z) = F(z)(1 − F(z)) / s with F(z) = u.
        return self.scale.log() - eps.log() - torch.log1p(-eps)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        # −x − 2 softplus(−x), written through |x| so it is symmetric and never overflows.
        return -x.abs() - 2 * softplus(-x.abs()) - self.scale.log()

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return torch.sigmoid((value - self.loc) / self.scale)

    def icdf(self, value: Tensor) -> Tensor:
        return self.loc + self.scale * torch.logit(value)

    def entropy(self) -> Tensor:
        return self.scale.log() + 2

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2) * (math.pi**2 / 3)
