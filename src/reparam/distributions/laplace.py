"""The Laplace distribution, z = μ + b F⁻¹(u) by the inverse CDF."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .location_scale import LocationScale
from .standard import StandardUniform

__all__ = ["Laplace"]

_LOG_2 = math.log(2.0)


def _standard_icdf(u: Tensor) -> tuple[Tensor, Tensor]:
    """(x, |x|) for the standard Laplace quantile x = F⁻¹(u), exact in both tails.

    |x| = −log(2 min(u, 1 − u)); 1 − u is exact for u ≥ ½, and u itself keeps all its
    digits near 0, so neither tail loses precision.
    """
    abs_x = -torch.log(2 * torch.minimum(u, 1 - u))
    return torch.sign(u - 0.5) * abs_x, abs_x


class Laplace(LocationScale):
    r"""Laplace (double exponential) distribution with location μ and scale b.

    .. math::
        u \sim \mathcal U(0, 1), \quad
        z = \mu - b\,\operatorname{sgn}(u - \tfrac12)\log\bigl(2\min(u, 1 - u)\bigr), \quad
        \log q(z) = -\log 2b - |z - \mu| / b

    Args:
        loc: location μ, with shape (*).
        scale: scale b > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and b positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or b ≤ 0, or the shapes do not broadcast.

    References:
        Kotz, Kozubowski & Podgórski, "The Laplace Distribution and Generalizations",
        Birkhäuser, 2001, ch. 2.

    Example:
        >>> q = Laplace(torch.zeros(3), torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    noise = StandardUniform()

    def from_noise(self, eps: Tensor) -> Tensor:
        x, _ = _standard_icdf(eps)
        return torch.addcmul(self.loc, self.scale, x)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        _, abs_x = _standard_icdf(eps)
        return abs_x + (self.scale.log() + _LOG_2)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return -(value - self.loc).abs() / self.scale - (self.scale.log() + _LOG_2)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        half_tail = 0.5 * torch.exp(-x.abs())  # the smaller of F and 1 − F, to full precision
        return torch.where(x < 0, half_tail, 1 - half_tail)

    def icdf(self, value: Tensor) -> Tensor:
        x, _ = _standard_icdf(value)
        return self.loc + self.scale * x

    def entropy(self) -> Tensor:
        return 1 + _LOG_2 + self.scale.log()

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return 2 * self.scale.pow(2)
