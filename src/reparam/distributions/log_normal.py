"""The log-normal distribution, z = exp(μ + σ ε)."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .standard import HALF_LOG_2PI, StandardNormal

__all__ = ["LogNormal"]


class LogNormal(ReparamDistribution):
    r"""Log-normal distribution: log z ~ N(μ, σ²).

    .. math::
        \varepsilon \sim \mathcal N(0, 1), \quad z = \exp(\mu + \sigma\varepsilon), \quad
        \log q(z) = -\tfrac12\varepsilon^2 - \log\sigma - \tfrac12\log 2\pi - \log z

    Args:
        loc: mean μ of log z, with shape (*).
        scale: standard deviation σ > 0 of log z, broadcastable with ``loc``.
        validate_args: check that μ is finite and σ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or σ ≤ 0, or the shapes do not broadcast.

    References:
        Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions", vol. 1,
        2nd ed., 1994, ch. 14.

    Example:
        >>> q = LogNormal(torch.zeros(3), 0.5 * torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool((z > 0).all())
        (torch.Size([5, 3]), True)
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    noise = StandardNormal()

    def __init__(
        self, loc: Tensor | float, scale: Tensor | float, *, validate_args: bool | None = None
    ) -> None:
        self.loc, self.scale = as_params("LogNormal", loc=loc, scale=scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def from_noise(self, eps: Tensor) -> Tensor:
        return torch.addcmul(self.loc, self.scale, eps).exp()

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # dz/dε = σ z and log z = μ + σ ε exactly (no round trip through exp/log).
        return self.scale.log() + torch.addcmul(self.loc, self.scale, eps)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_z = torch.addcmul(self.loc, self.scale, eps)
        return -0.5 * eps * eps - log_z - (self.scale.log() + HALF_LOG_2PI)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside = value > 0
        log_z = torch.where(inside, value, torch.ones_like(value)).log()
        x = (log_z - self.loc) / self.scale
        lp = -0.5 * x * x - log_z - self.scale.log() - HALF_LOG_2PI
        return torch.where(inside, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_z = value.clamp(min=0).log()
        return 0.5 * torch.erfc(-(log_z - self.loc) / (self.scale * math.sqrt(2)))

    def icdf(self, value: Tensor) -> Tensor:
        return (self.loc + self.scale * torch.special.ndtri(value)).exp()

    def entropy(self) -> Tensor:
        return self.loc + 0.5 + HALF_LOG_2PI + self.scale.log()

    @property
    def mean(self) -> Tensor:
        return (self.loc + 0.5 * self.scale.pow(2)).exp()

    @property
    def mode(self) -> Tensor:
        return (self.loc - self.scale.pow(2)).exp()

    @property
    def variance(self) -> Tensor:
        s2 = self.scale.pow(2)
        return torch.expm1(s2) * (2 * self.loc + s2).exp()
