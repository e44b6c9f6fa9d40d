"""The univariate normal distribution, z = μ + σ ε."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .location_scale import LocationScale
from .standard import HALF_LOG_2PI, StandardNormal

__all__ = ["Normal"]


class Normal(LocationScale):
    r"""Normal distribution N(μ, σ²) reparameterized by location and scale.

    .. math::
        \varepsilon \sim \mathcal N(0, 1), \quad z = \mu + \sigma\varepsilon, \quad
        \log q(z) = -\tfrac12\varepsilon^2 - \log\sigma - \tfrac12\log 2\pi

    Args:
        loc: mean μ, with shape (*).
        scale: standard deviation σ > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and σ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or σ ≤ 0, or the shapes do not broadcast.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.

    Example:
        >>> q = Normal(torch.zeros(3), torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    noise = StandardNormal()

    def from_noise(self, eps: Tensor) -> Tensor:
        return torch.addcmul(self.loc, self.scale, eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.scale.log().expand(z.shape)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        # One fused kernel for the ε term: addcmul(−log σ − ½log 2π, ε, ε, −½).
        return torch.addcmul(-HALF_LOG_2PI - self.scale.log(), eps, eps, value=-0.5)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale * self.scale
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - HALF_LOG_2PI

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + torch.erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def icdf(self, value: Tensor) -> Tensor:
        return self.loc + self.scale * math.sqrt(2) * torch.erfinv(2 * value - 1)

    def entropy(self) -> Tensor:
        return 0.5 + HALF_LOG_2PI + self.scale.log()

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2)
