"""The soft Laplace (hyperbolic secant) distribution, z = μ + σ log tan(πu/2)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._sinh_math import log_two_cosh
from .half_cauchy import _standard_icdf as _tan_half_pi
from .location_scale import LocationScale
from .standard import StandardUniform

__all__ = ["SoftLaplace"]

_LOG_HALF_PI = math.log(math.pi / 2)


class SoftLaplace(LocationScale):
    r"""Soft Laplace distribution: a smooth, log-concave density with Laplace-like tails.

    With x = (z − μ)/σ the density is 2/(πσ) · 1/(eˣ + e⁻ˣ), the hyperbolic secant
    distribution of scale σ:

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \mu + \sigma\log\tan(\pi u / 2), \quad
        \log q(z) = \log\frac{2}{\pi} - \log\sigma - \operatorname{logaddexp}(x, -x)

    tan(πu/2) is computed as cot(π(1 − u)/2) for u ≥ ½, so both tails keep their
    digits. The CDF is (2/π) arctan(eˣ); mean μ, variance (πσ/2)², entropy log 2πσ.

    Args:
        loc: location μ, with shape (*).
        scale: σ > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and σ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or σ ≤ 0, or the shapes do not broadcast.

    References:
        Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions", vol. 2,
        2nd ed., 1995, ch. 23 (the hyperbolic secant distribution); Talacko, "Perks'
        distributions and their role in the theory of Wiener's stochastic variables",
        Trabajos de Estadística 7, 1956.

    Example:
        >>> q = SoftLaplace(torch.zeros(3), torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    noise = StandardUniform()

    def from_noise(self, eps: Tensor) -> Tensor:
        return self.loc + self.scale * _tan_half_pi(eps).log()

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # With s = log tan(πu/2): dz/du = σ (π/2)(t + 1/t) = σ (π/2) 2 cosh s.
        s = _tan_half_pi(eps).log()
        return self.scale.log() + _LOG_HALF_PI + log_two_cosh(s)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        return -log_two_cosh(x) - (self.scale.log() + _LOG_HALF_PI)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        return torch.atan(x.exp()) * (2 / math.pi)

    def icdf(self, value: Tensor) -> Tensor:
        return self.loc + self.scale * _tan_half_pi(value).log()

    def entropy(self) -> Tensor:
        return math.log(2 * math.pi) + self.scale.log()

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return (0.5 * math.pi * self.scale).pow(2)
