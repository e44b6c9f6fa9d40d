"""The two-piece (Fernández–Steel) normal distribution, by its inverse CDF from one uniform."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .cauchy import _log1p_square
from .standard import HALF_LOG_2PI, StandardUniform

__all__ = ["TwoPieceNormal"]

_LOG_2 = math.log(2.0)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class TwoPieceNormal(ReparamDistribution):
    r"""Two-piece normal with location μ, scale σ and skewness γ (Fernández–Steel form).

    With y = (z − μ)/σ the density is k φ(yγ) below μ and k φ(y/γ) above, where
    k = 2γ/((1 + γ²)σ); γ = 1 is N(μ, σ²), γ > 1 skews right. The mass below μ is
    p = 1/(1 + γ²), and the inverse CDF is piecewise:

    .. math::
        u \sim \mathcal U(0, 1), \quad
        z = \begin{cases} \mu + (\sigma/\gamma)\,\Phi^{-1}\bigl(u/2p\bigr) & u < p \\
                          \mu - \sigma\gamma\,\Phi^{-1}\bigl((1 - u)/2(1 - p)\bigr)
                          & u \ge p \end{cases}

    Both pieces take Φ⁻¹ of an argument in (0, ½], so neither tail loses digits;
    log p = −softplus(2 log γ) and log(1 − p) = −softplus(−2 log γ) keep extreme γ
    finite. Mean μ + σ√(2/π)(γ − 1/γ), variance σ²(γ² + γ⁻² − 1 − m²) with m the
    standardized mean shift (TFP's formulas), entropy log(σ(1 + γ²)/2γ) + ½ log 2πe.

    Args:
        loc: location μ (the mode), with shape (*).
        scale: σ > 0, broadcastable with ``loc``.
        skewness: γ > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and σ, γ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf, σ ≤ 0 or γ ≤ 0, or the shapes do not broadcast.

    References:
        Fernández & Steel, "On Bayesian modeling of fat tails and skewness", JASA
        93(441), 1998; Wallis, "The two-piece normal, binormal, or double Gaussian
        distribution: its origin and rediscoveries", Statist. Sci. 29(1), 2014.

    Example:
        >>> q = TwoPieceNormal(torch.zeros(3), torch.ones(3), torch.tensor([0.5, 1.0, 2.0]))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "skewness": constraints.positive,
    }
    support = constraints.real
    noise = StandardUniform()

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        skewness: Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.scale, self.skewness = as_params(
            "TwoPieceNormal", loc=loc, scale=scale, skewness=skewness
        )
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _log_masses(self) -> tuple[Tensor, Tensor]:
        """(log p, log(1 − p)) with p = 1/(1 + γ²), the mass below μ."""
        two_log_g = 2 * self.skewness.log()
        return -F.softplus(two_log_g), -F.softplus(-two_log_g)

    def _pieces(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(left, n, log scale, log mass): n = Φ⁻¹ of the piece's argument (≤ 0), the
        piece's scale σ/γ or σγ and its mass p or 1 − p."""
        log_p, log_q = self._log_masses()
        left = u.log() < log_p
        log_mass = torch.where(left, log_p, log_q)
        log_tail = torch.where(left, u.log(), torch.log1p(-u))
        n = torch.special.ndtri(torch.exp(log_tail - _LOG_2 - log_mass).clamp(max=0.5))
        log_g = self.skewness.log()
        log_scale = self.scale.log() + torch.where(left, -log_g, log_g)
        return left, n, log_scale, log_mass

    def _quantile(self, u: Tensor) -> Tensor:
        left, n, log_scale, _ = self._pieces(u)
        return self.loc + torch.where(left, n, -n) * log_scale.exp()

    def from_noise(self, eps: Tensor) -> Tensor:
        return self._quantile(eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # dz/du = (piece scale) / (2 · piece mass · φ(n))
        _, n, log_scale, log_mass = self._pieces(eps)
        return log_scale - _LOG_2 - log_mass + 0.5 * n * n + HALF_LOG_2PI

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        g = self.skewness
        y = (value - self.loc) / self.scale
        w = torch.where(y < 0, y * g, y / g)
        log_k = _LOG_2 + g.log() - _log1p_square(g) - self.scale.log()
        return -0.5 * w * w - HALF_LOG_2PI + log_k

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_p, log_q = self._log_masses()
        g = self.skewness
        y = (value - self.loc) / self.scale
        left = y < 0
        w = torch.where(left, y * g, -y / g)  # ≤ 0 on both sides
        tail = torch.exp(_LOG_2 + torch.where(left, log_p, log_q) + torch.special.log_ndtr(w))
        return torch.where(left, tail, 1 - tail)

    def icdf(self, value: Tensor) -> Tensor:
        return self._quantile(value)

    def _shift(self) -> Tensor:
        """m = √(2/π)(γ − 1/γ): the mean of (z − μ)/σ."""
        return _SQRT_2_OVER_PI * (self.skewness - self.skewness.reciprocal())

    def entropy(self) -> Tensor:
        g = self.skewness
        return self.scale.log() + _log1p_square(g) - _LOG_2 - g.log() + HALF_LOG_2PI + 0.5

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * self._shift()

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        g2 = self.skewness.pow(2)
        return self.scale.pow(2) * (g2 + g2.reciprocal() - 1 - self._shift().pow(2))
