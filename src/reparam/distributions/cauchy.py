"""The Cauchy distribution, z = μ + γ tan(π(u − ½)) by the inverse CDF."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .location_scale import LocationScale
from .standard import StandardUniform

__all__ = ["Cauchy"]

_LOG_PI = math.log(math.pi)


def _standard_icdf(u: Tensor) -> tuple[Tensor, Tensor]:
    """(x, v) with x = tan(π(u − ½)) and v = min(u, 1 − u), exact in both tails.

    tan(π(u − ½)) = sgn(u − ½) cot(π v); writing it through v keeps the digits of u
    near 0 that u − ½ would round away.
    """
    v = torch.minimum(u, 1 - u)
    return torch.sign(u - 0.5) / torch.tan(math.pi * v), v


def _log1p_square(x: Tensor) -> Tensor:
    """log(1 + x²) without overflow of x² for large |x| (and no NaN in either branch)."""
    ax = x.abs()
    big = ax > 1
    ax_big = torch.where(big, ax, torch.ones_like(ax))
    ax_small = torch.where(big, torch.zeros_like(ax), ax)
    return torch.where(
        big,
        2 * ax_big.log() + torch.log1p(ax_big.reciprocal().pow(2)),
        torch.log1p(ax_small.pow(2)),
    )


class Cauchy(LocationScale):
    r"""Cauchy distribution with location μ (the median) and scale γ (half the IQR).

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \mu + \gamma\tan\bigl(\pi(u - \tfrac12)\bigr), \quad
        \log q(z) = 2\log\sin(\pi\min(u, 1 - u)) - \log\pi\gamma

    Mean and variance do not exist: ``mean`` is NaN and ``variance`` (so ``stddev``)
    +inf, as in torch.

    Args:
        loc: location μ, with shape (*).
        scale: scale γ > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and γ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or γ ≤ 0, or the shapes do not broadcast.

    References:
        Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions", vol. 1,
        2nd ed., 1994, ch. 16.

    Example:
        >>> q = Cauchy(torch.zeros(3), torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    noise = StandardUniform()

    def from_noise(self, eps: Tensor) -> Tensor:
        x, _ = _standard_icdf(eps)
        return torch.addcmul(self.loc, self.scale, x)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # dz/du = πγ (1 + x²) = πγ / sin²(π v).
        _, v = _standard_icdf(eps)
        return (self.scale.log() + _LOG_PI) - 2 * torch.sin(math.pi * v).log()

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        return -_log1p_square(x) - (self.scale.log() + _LOG_PI)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # ½ + atan(x)/π = atan2(1, −x)/π, without cancellation in the left tail.
        x = (value - self.loc) / self.scale
        return torch.atan2(torch.ones_like(x), -x) / math.pi

    def icdf(self, value: Tensor) -> Tensor:
        x, _ = _standard_icdf(value)
        return self.loc + self.scale * x

    def entropy(self) -> Tensor:
        return math.log(4 * math.pi) + self.scale.log()

    @property
    def mean(self) -> Tensor:
        return torch.full_like(self.loc, math.nan)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return torch.full_like(self.loc, math.inf)
