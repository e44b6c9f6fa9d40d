"""The Moyal distribution, z = μ − 2σ log|n| written as an inverse CDF of one uniform."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .location_scale import LocationScale
from .standard import HALF_LOG_2PI, StandardUniform

__all__ = ["Moyal"]

_EULER_GAMMA = 0.57721566490153286061
_LOG_2 = math.log(2.0)


def _abs_normal(u: Tensor) -> Tensor:
    """w = −Φ⁻¹(u/2) > 0: the |n| with P[|N| > w] = u, accurate for u near 0 and 1."""
    return -torch.special.ndtri(0.5 * u)


class Moyal(LocationScale):
    r"""Moyal distribution with location μ and scale σ: the law of μ − σ log n², n ~ N(0, 1).

    With w = −Φ⁻¹(u/2), so that P[|n| > w] = u:

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \mu - 2\sigma\log w, \quad
        \log q(z) = -\tfrac12\bigl(x + e^{-x}\bigr) - \tfrac12\log 2\pi - \log\sigma

    with x = (z − μ)/σ. The CDF is erfc(e^{−x/2}/√2) = 2Φ(−e^{−x/2}) (through log Φ, so
    the left tail does not underflow early); z is increasing in u. Mean
    μ + σ(γ + log 2), variance π²σ²/2, entropy ½(1 + γ + log 4π) + log σ (γ: Euler's
    constant).

    Args:
        loc: location μ (the mode), with shape (*).
        scale: σ > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and σ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or σ ≤ 0, or the shapes do not broadcast.

    References:
        Moyal, "Theory of ionization fluctuations", Phil. Mag. 46(374), 1955; Walck,
        "Hand-book on statistical distributions for experimentalists", Univ. of
        Stockholm, 2007, ch. 26.

    Example:
        >>> q = Moyal(torch.zeros(3), torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    noise = StandardUniform()

    def from_noise(self, eps: Tensor) -> Tensor:
        return self.loc - 2 * self.scale * _abs_normal(eps).log()

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # dz/du = σ / (w φ(w))
        w = _abs_normal(eps)
        return self.scale.log() - w.log() + 0.5 * w * w + HALF_LOG_2PI

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        return -0.5 * (x + torch.exp(-x)) - HALF_LOG_2PI - self.scale.log()

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        return torch.exp(_LOG_2 + torch.special.log_ndtr(-torch.exp(-0.5 * x)))

    def icdf(self, value: Tensor) -> Tensor:
        return self.loc - 2 * self.scale * _abs_normal(value).log()

    def entropy(self) -> Tensor:
        return 0.5 * (1 + _EULER_GAMMA + math.log(4 * math.pi)) + self.scale.log()

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * (_EULER_GAMMA + _LOG_2)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2) * (math.pi**2 / 2)
