"""The Gumbel (type I extreme value) distribution, z = μ − β log(−log u)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .location_scale import LocationScale
from .standard import StandardUniform

__all__ = ["Gumbel"]

_EULER_GAMMA = 0.57721566490153286061


class Gumbel(LocationScale):
    r"""Gumbel distribution (of maxima) with location μ and scale β.

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \mu - \beta\log(-\log u), \quad
        \log q(z) = \log(-\log u) + \log u - \log\beta

    Args:
        loc: location μ (the mode), with shape (*).
        scale: scale β > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and β positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or β ≤ 0, or the shapes do not broadcast.

    References:
        Gumbel, "Statistics of Extremes", Columbia University Press, 1958;
        Jang, Gu & Poole, "Categorical Reparameterization with Gumbel-Softmax", 2017,
        arXiv:1611.01144.

    Example:
        >>> q = Gumbel(torch.zeros(3), torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    noise = StandardUniform()

    def from_noise(self, eps: Tensor) -> Tensor:
        return self.loc - self.scale * (-eps.log()).log()

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # With e = −log u: q(z) = e·u / β, so log|dz/du| = log β − log e − log u.
        e = -eps.log()
        return self.scale.log() - e.log() + e

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        return -(x + torch.exp(-x)) - self.scale.log()

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return torch.exp(-torch.exp(-(value - self.loc) / self.scale))

    def icdf(self, value: Tensor) -> Tensor:
        return self.loc - self.scale * (-value.log()).log()

    def entropy(self) -> Tensor:
        return self.scale.log() + (1 + _EULER_GAMMA)

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * _EULER_GAMMA

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2) * (math.pi**2 / 6)
