"""The generalized extreme value distribution, z = μ + σ (t^{−ξ} − 1)/ξ with t = −log u."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .generalized_pareto import _expm1_over, _log1p_over
from .standard import StandardUniform

__all__ = ["GeneralizedExtremeValue"]

_EULER_GAMMA = 0.57721566490153286061
# ζ(2), ζ(3), ζ(4), ζ(5), ζ(6): log Γ(1 − ξ) = γξ + Σ_{k≥2} ζ(k) ξᵏ/k.
_ZETA = (math.pi**2 / 6, 1.2020569031595943, math.pi**4 / 90, 1.0369277551433699, math.pi**6 / 945)
# Below this |ξ| the moments go through the series (truncation error < 1e-13 relative).
_SERIES = 1e-3


def _lgamma_1m_over(xi: Tensor) -> Tensor:
    """log Γ(1 − ξ)/ξ for ξ < 1: γ at ξ = 0, smooth through 0."""
    z2, z3, z4, z5, _ = _ZETA
    small = xi.abs() < _SERIES
    safe = torch.where(small, torch.full_like(xi, 0.5), xi)
    series = _EULER_GAMMA + xi * (z2 / 2 + xi * (z3 / 3 + xi * (z4 / 4 + xi * z5 / 5)))
    return torch.where(small, series, torch.lgamma(1 - safe) / safe)


def _lgamma_spread_over(xi: Tensor) -> Tensor:
    """(log Γ(1 − 2ξ) − 2 log Γ(1 − ξ))/ξ² for ξ < ½: ζ(2) at ξ = 0, smooth through 0."""
    z2, z3, z4, z5, z6 = _ZETA
    small = xi.abs() < _SERIES
    safe = torch.where(small, torch.full_like(xi, 0.25), xi)
    # Σ_k ζ(k)(2ᵏ − 2)/k ξᵏ⁻²
    series = z2 + xi * (2 * z3 + xi * (3.5 * z4 + xi * (6 * z5 + xi * (31 / 3) * z6)))
    direct = (torch.lgamma(1 - 2 * safe) - 2 * torch.lgamma(1 - safe)) / (safe * safe)
    return torch.where(small, series, direct)


class GeneralizedExtremeValue(ReparamDistribution):
    r"""Generalized extreme value distribution with location μ, scale σ, concentration ξ.

    With t = −log u, a standard exponential draw (the CDF is exp(−t(z))):

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \mu + \sigma\,\frac{t^{-\xi} - 1}{\xi}, \quad
        \log q(z) = (1 + \xi)\log t - t - \log\sigma

    and from z, log t = −log(1 + ξy)/ξ with y = (z − μ)/σ. ξ = 0 is the Gumbel limit
    z = μ − σ log t, reached smoothly: (e^{−ξs} − 1)/ξ (s = log t) and log(1 + ξy)/ξ go
    through the series of :class:`~reparam.distributions.GeneralizedPareto`, so values
    and gradients in ξ are continuous there. TFP's sign convention: the support is
    [μ − σ/ξ, ∞) for ξ > 0 and (−∞, μ − σ/ξ] for ξ < 0 (scipy's ``genextreme`` has
    c = −ξ). Mean μ + σ(Γ(1 − ξ) − 1)/ξ, +inf for ξ ≥ 1; variance
    σ²(Γ(1 − 2ξ) − Γ(1 − ξ)²)/ξ², +inf for ξ ≥ ½ (as TFP); both by series near ξ = 0.

    Args:
        loc: location μ, with shape (*).
        scale: σ > 0, broadcastable with ``loc``.
        concentration: ξ (any real), broadcastable with ``loc``.
        validate_args: check that μ, ξ are finite and σ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or σ ≤ 0, or the shapes do not broadcast.

    References:
        Jenkinson, "The frequency distribution of the annual maximum (or minimum) values
        of meteorological elements", Q. J. R. Meteorol. Soc. 81(348), 1955; Coles, "An
        Introduction to Statistical Modeling of Extreme Values", Springer, 2001, ch. 3.

    Example:
        >>> xi = torch.tensor([-0.5, 0.0, 0.5])
        >>> q = GeneralizedExtremeValue(torch.zeros(3), torch.ones(3), xi)
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "concentration": constraints.real,
    }
    noise = StandardUniform()

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        concentration: Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.scale, self.concentration = as_params(
            "GeneralizedExtremeValue", loc=loc, scale=scale, concentration=concentration
        )
        super().__init__(self.loc.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        xi = self.concentration
        end = self.loc - self.scale / torch.where(xi == 0, torch.ones_like(xi), xi)
        lower = torch.where(xi > 0, end, -math.inf)
        upper = torch.where(xi < 0, end, math.inf)
        return constraints.interval(lower, upper)

    def _quantile(self, s: Tensor) -> Tensor:
        """z at log t = s: μ − σ (e^{−ξs} − 1)/(−ξ), kept inside the support (rounding
        could step past its finite end)."""
        z = self.loc - self.scale * _expm1_over(-self.concentration, s)
        support = self.support
        return torch.maximum(torch.minimum(z, support.upper_bound), support.lower_bound)

    def from_noise(self, eps: Tensor) -> Tensor:
        return self._quantile((-eps.log()).log())

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        t = -eps.log()
        return self.scale.log() + t - (1 + self.concentration) * t.log()

    def _log_t(self, value: Tensor) -> tuple[Tensor, Tensor]:
        """(inside, log t): 1 + ξy > 0, and −log(1 + ξy)/ξ there (0 outside)."""
        xi = self.concentration
        y = (value - self.loc) / self.scale
        inside = 1 + xi * y > 0
        y = torch.where(inside, y, torch.zeros_like(y))
        return inside, -_log1p_over(xi, y)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside, log_t = self._log_t(value)
        lp = (1 + self.concentration) * log_t - log_t.exp() - self.scale.log()
        return torch.where(inside, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside, log_t = self._log_t(value)
        above = value > self.loc
        return torch.where(inside, torch.exp(-log_t.exp()), above.to(value.dtype))

    def icdf(self, value: Tensor) -> Tensor:
        return self._quantile((-value.log()).log())

    def entropy(self) -> Tensor:
        return 1 + self.scale.log() + _EULER_GAMMA * (1 + self.concentration)

    @property
    def mean(self) -> Tensor:
        xi = self.concentration
        finite = xi < 1
        safe = torch.where(finite, xi, torch.zeros_like(xi))
        shift = _expm1_over(safe, _lgamma_1m_over(safe))  # (Γ(1 − ξ) − 1)/ξ
        return torch.where(finite, self.loc + self.scale * shift, math.inf)

    @property
    def mode(self) -> Tensor:
        # μ + σ((1 + ξ)^{−ξ} − 1)/ξ; NaN for ξ < −1, as TFP
        xi = self.concentration
        return self.loc + self.scale * _expm1_over(xi, -torch.log1p(xi))

    @property
    def variance(self) -> Tensor:
        xi = self.concentration
        finite = xi < 0.5
        safe = torch.where(finite, xi, torch.zeros_like(xi))
        g1_squared = torch.exp(2 * safe * _lgamma_1m_over(safe))
        var = g1_squared * _expm1_over(safe * safe, _lgamma_spread_over(safe))
        return torch.where(finite, self.scale.pow(2) * var, math.inf)
