r"""The inverse Gamma distribution, z = rate / X with X ~ Gamma(a, 1) implicitly reparameterized.

With u ~ U(0, 1) and X = P⁻¹(a, u) (the noise of :class:`~reparam.distributions.gamma.Gamma`,
so every noise strategy applies), z = rate / X ~ InverseGamma(a, rate). The rate enters
explicitly (∂z/∂rate = z/rate), a through the implicit derivative of the Gamma quantile
(Figurnov, Mohamed & Mnih 2018, arXiv:1805.08498): ∂ log z/∂a = −∂ log X/∂a. log z is
carried in float64, so the density from the noise is exact where z overflows; z itself is
clamped to [tiny, max] of the dtype (the gradient is that of the unclamped value).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._gamma_noise import LogSpaceNoiseCache, NativeGammaNoise, exp_clamped, log_standard_gamma
from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["InverseGamma"]

_F64 = torch.float64


class InverseGamma(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""Inverse Gamma distribution with shape a = ``concentration`` and scale ``rate``.

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \frac{\text{rate}}{P^{-1}(a, u)}, \quad
        \log q(z) = a \log \text{rate} - (a + 1)\log z - \text{rate}/z - \log\Gamma(a)

    Moments as torch's ``InverseGamma``: mean rate/(a − 1) for a > 1 (inf otherwise),
    variance rate²/((a − 1)²(a − 2)) for a > 2 (inf otherwise), mode rate/(a + 1).

    Args:
        concentration: shape a > 0, with shape (*).
        rate: rate > 0 (the scale of z), broadcastable with ``concentration``.
        validate_args: check that both are positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or ≤ 0, or the shapes do not broadcast.

    References:
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498.

    Example:
        >>> a = torch.tensor([0.5, 3.0], requires_grad=True)
        >>> q = InverseGamma(a, torch.tensor([1.0, 2.0]))
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, bool((z > 0).all())
        (torch.Size([4, 2]), True)
        >>> z.log().sum().backward()
        >>> bool(torch.isfinite(a.grad).all())
        True
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    noise = StandardUniform()

    def __init__(
        self,
        concentration: Tensor | float,
        rate: Tensor | float,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.concentration, self.rate = as_params(
            "InverseGamma", concentration=concentration, rate=rate
        )
        super().__init__(self.concentration.shape, validate_args=validate_args)

    def _native_concentration(self) -> Tensor:
        return self.concentration

    def _log_z(self, u: Tensor) -> Tensor:
        """log z = log rate − log X in float64 with both gradients attached."""
        log_x = log_standard_gamma(u, self.concentration, self._recall_draw(u))
        return torch.log(self.rate).to(log_x.dtype) - log_x

    def from_noise(self, eps: Tensor) -> Tensor:
        log_z = self._log_z(eps)
        z = exp_clamped(log_z, self.rate.dtype, torch.finfo(self.rate.dtype).max)
        self._remember(eps, z, log_z)
        return z

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_z = self._recall(eps, z, self._log_z)
        a, rate = self.concentration.to(_F64), self.rate.to(_F64)
        lp = a * torch.log(rate) - (a + 1) * log_z - rate * torch.exp(-log_z) - torch.lgamma(a)
        return lp.to(self.rate.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, rate = self.concentration, self.rate
        return a * torch.log(rate) - (a + 1) * torch.log(value) - rate / value - torch.lgamma(a)

    def cdf(self, value: Tensor) -> Tensor:
        """Q(a, rate/z) = 1 − P(a, rate/z) (no gradient in a)."""
        if self._validate_args:
            self._validate_sample(value)
        return torch.special.gammaincc(self.concentration, self.rate / value)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a + torch.log(self.rate) + torch.lgamma(a) - (1 + a) * torch.digamma(a)

    @property
    def mean(self) -> Tensor:
        a = self.concentration
        m = self.rate / (a - 1)
        return torch.where(a > 1, m, torch.full_like(m, math.inf))

    @property
    def mode(self) -> Tensor:
        return self.rate / (self.concentration + 1)

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        v = self.rate.pow(2) / ((a - 1).pow(2) * (a - 2))
        return torch.where(a > 2, v, torch.full_like(v, math.inf))
