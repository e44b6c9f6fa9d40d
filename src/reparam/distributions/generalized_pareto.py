"""The generalized Pareto distribution, z = μ + σ (e^{ξe} − 1)/ξ with e = −log(1 − u)."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["GeneralizedPareto"]

# Below this |t| the Taylor series are used: their truncation error (t³/24, t³/4) is
# under 1e-12 relative, and they have the right derivatives at t = 0.
_SERIES = 1e-4


def _product(xi: Tensor, x: Tensor) -> Tensor:
    """ξx with 0 · inf taken as 0 (the ξ = 0 limit at u = 1 or z = inf)."""
    t = xi * x
    return torch.where(t.isnan(), 0.0, t)  # a cheaper backward than nan_to_num's


def _expm1_over(xi: Tensor, e: Tensor) -> Tensor:
    """(e^{ξe} − 1)/ξ for e ∈ [0, inf]: e at ξ = 0, smooth (and differentiable) through 0."""
    t = _product(xi, e)
    small = t.abs() < _SERIES
    safe = torch.where(small, 1.0, xi)
    return torch.where(small, e * (1 + t * (0.5 + t / 6)), torch.expm1(t) / safe)


def _log1p_over(xi: Tensor, y: Tensor) -> Tensor:
    """log(1 + ξy)/ξ for y ∈ [0, inf] (1 + ξy clamped at 0): y at ξ = 0, smooth through 0."""
    t = _product(xi, y).clamp(min=-1)
    small = t.abs() < _SERIES
    safe = torch.where(small, 1.0, xi)
    return torch.where(small, y * (1 - t * (0.5 - t / 3)), torch.log1p(t) / safe)


class GeneralizedPareto(ReparamDistribution):
    r"""Generalized Pareto distribution with location μ, scale σ and concentration ξ.

    With e = −log(1 − u), a standard exponential draw:

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \mu + \sigma\,\frac{e^{\xi e} - 1}{\xi}, \quad
        \log q(z) = -\log\sigma - (1 + \xi)\,e

    ξ = 0 is the exponential limit z = μ + σe, reached smoothly: (e^{ξe} − 1)/ξ and
    log(1 + ξy)/ξ go through series near ξ = 0, so values and gradients in ξ are
    continuous there. The support is [μ, ∞) for ξ ≥ 0 and [μ, μ − σ/ξ] for ξ < 0. The
    mean is NaN for ξ ≥ 1 and the variance NaN for ξ ≥ ½, as in torch.

    Args:
        loc: location μ, with shape (*).
        scale: scale σ > 0, broadcastable with ``loc``.
        concentration: shape ξ (any real), broadcastable with ``loc``.
        validate_args: check that μ and ξ are finite and σ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or σ ≤ 0, or the shapes do not broadcast.

    References:
        Pickands, "Statistical inference using extreme order statistics", Ann. Statist.
        3(1), 1975; Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions",
        vol. 1, 2nd ed., 1994, ch. 20.

    Example:
        >>> q = GeneralizedPareto(torch.zeros(3), torch.ones(3), torch.tensor([-0.5, 0.0, 0.5]))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool((z >= 0).all())
        (torch.Size([5, 3]), True)
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
            "GeneralizedPareto", loc=loc, scale=scale, concentration=concentration
        )
        super().__init__(self.loc.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        xi = self.concentration
        upper = torch.where(xi < 0, self.loc - self.scale / xi, math.inf)
        return constraints.interval(self.loc, upper)

    def _quantile(self, e: Tensor) -> Tensor:
        return self.loc + self.scale * _expm1_over(self.concentration, e)

    def from_noise(self, eps: Tensor) -> Tensor:
        return self._quantile(torch.log1p(-eps).neg_())

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # dz/du = σ e^{ξe} · e^{e}.
        e = torch.log1p(-eps).neg_()
        return self.scale.log() + (1 + self.concentration) * e

    def _log_survival(self, y: Tensor) -> Tensor:
        """−log(1 + ξy)/ξ for y ≥ 0 inside the support (−inf at ξ < 0's upper end)."""
        return -_log1p_over(self.concentration, y)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        xi = self.concentration
        y = (value - self.loc) / self.scale
        inside = (y >= 0) & (1 + xi * y >= 0)
        y = torch.where(inside, y, torch.zeros_like(y))
        # (1/ξ + 1) log(1 + ξy), written as (1 + ξ) y log(1 + ξy)/(ξy); 0 where ξ = −1.
        tail = torch.where(xi == -1, torch.zeros_like(y), (1 + xi) * -self._log_survival(y))
        return torch.where(inside, -self.scale.log() - tail, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        y = ((value - self.loc) / self.scale).clamp(min=0)
        return -torch.expm1(self._log_survival(y))

    def icdf(self, value: Tensor) -> Tensor:
        return self._quantile(-torch.log1p(-value))

    def entropy(self) -> Tensor:
        return self.scale.log() + self.concentration + 1

    @property
    def mean(self) -> Tensor:
        xi = self.concentration
        valid = xi < 1
        safe = torch.where(valid, xi, torch.full_like(xi, 0.5))
        return torch.where(valid, self.loc + self.scale / (1 - safe), math.nan)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        xi = self.concentration
        valid = xi < 0.5
        safe = torch.where(valid, xi, torch.full_like(xi, 0.25))
        var = self.scale.pow(2) / ((1 - safe).pow(2) * (1 - 2 * safe))
        return torch.where(valid, var, math.nan)
