r"""The Fisher–Snedecor F distribution, z = (G₁/ν₁)/(G₂/ν₂) with implicit χ² noise.

With u = (u₁, u₂) ~ U(0, 1)² and X_i = P⁻¹(ν_i/2, u_i) ~ Gamma(ν_i/2, 1) (so G_i = 2X_i ~
χ²_{ν_i}, the noise of :class:`~reparam.distributions.gamma.Chi2`),

.. math:: \log z = \log X_1 - \log X_2 + \log \nu_2 - \log \nu_1,

formed in float64. ν₁ and ν₂ enter through the Gamma quantiles' implicit derivatives
(Figurnov, Mohamed & Mnih 2018, arXiv:1805.08498) and explicitly through log ν₂ − log ν₁.
Two uniforms give one z, so log q is the density at z, evaluated from the float64 log z
(exact where z over- or underflows; z itself is clamped to [tiny, max] of the dtype).
Plain Monte Carlo draws X with torch's exact Gamma sampler and skips the inversion (see
:class:`~reparam.distributions._gamma_noise.NativeGammaNoise`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.nn.functional import softplus

from ._gamma_noise import LogSpaceNoiseCache, NativeGammaNoise, exp_clamped, log_standard_gamma
from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["FisherSnedecor"]

_F64 = torch.float64


def _log_prob_from_log(df1: Tensor, df2: Tensor, log_z: Tensor) -> Tensor:
    """log density at z = exp(log z), with log(1 + (ν₁/ν₂) z) as a softplus."""
    a, b = 0.5 * df1, 0.5 * df2
    log_ratio = torch.log(df1) - torch.log(df2)
    norm = torch.lgamma(a + b) - torch.lgamma(a) - torch.lgamma(b)
    return norm + a * log_ratio + (a - 1) * log_z - (a + b) * softplus(log_ratio + log_z)


class FisherSnedecor(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""Fisher–Snedecor (F) distribution with ``df1`` = ν₁ and ``df2`` = ν₂ degrees of freedom.

    .. math::
        u \sim \mathcal U(0,1)^2, \quad
        z = \frac{P^{-1}(\nu_1/2,\,u_1)/\nu_1}{P^{-1}(\nu_2/2,\,u_2)/\nu_2}, \quad
        \log q(z) = \log\frac{\Gamma(\frac{\nu_1+\nu_2}{2})}{\Gamma(\frac{\nu_1}{2})
        \Gamma(\frac{\nu_2}{2})} + \frac{\nu_1}{2}\log\frac{\nu_1}{\nu_2}
        + \Bigl(\frac{\nu_1}{2} - 1\Bigr)\log z
        - \frac{\nu_1+\nu_2}{2}\log\Bigl(1 + \frac{\nu_1}{\nu_2}z\Bigr)

    Moments as torch's: mean ν₂/(ν₂ − 2) for ν₂ > 2, variance
    2ν₂²(ν₁ + ν₂ − 2)/(ν₁(ν₂ − 2)²(ν₂ − 4)) for ν₂ > 4, mode (ν₁ − 2)ν₂/(ν₁(ν₂ + 2)) for
    ν₁ > 2, NaN elsewhere.

    Args:
        df1: ν₁ > 0, with shape (*).
        df2: ν₂ > 0, broadcastable with ``df1``.
        validate_args: check that both are positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or ≤ 0, or the shapes do not broadcast.

    References:
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498.

    Example:
        >>> df1 = torch.tensor([3.0, 10.0], requires_grad=True)
        >>> q = FisherSnedecor(df1, torch.tensor([5.0, 2.0]))
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, q.noise_event_shape
        (torch.Size([4, 2]), torch.Size([2]))
        >>> z.log().sum().backward()
        >>> bool(torch.isfinite(df1.grad).all())
        True
    """

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    noise = StandardUniform()

    def __init__(
        self,
        df1: Tensor | float,
        df2: Tensor | float,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.df1, self.df2 = as_params("FisherSnedecor", df1=df1, df2=df2)
        super().__init__(self.df1.shape, validate_args=validate_args)

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((2,))

    def _native_concentration(self) -> Tensor:
        return 0.5 * torch.stack((self.df1, self.df2), -1)

    def _log_z(self, u: Tensor) -> Tensor:
        """log z in float64 with every gradient attached."""
        log_x = log_standard_gamma(u, self._native_concentration(), self._recall_draw(u))
        log_x1, log_x2 = log_x.unbind(-1)
        log_df1, log_df2 = torch.log(self.df1).to(_F64), torch.log(self.df2).to(_F64)
        return log_x1 - log_x2 + log_df2 - log_df1

    def from_noise(self, eps: Tensor) -> Tensor:
        log_z = self._log_z(eps)
        z = exp_clamped(log_z, self.df1.dtype, torch.finfo(self.df1.dtype).max)
        self._remember(eps, z, log_z)
        return z

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_z = self._recall(eps, z, self._log_z)
        lp = _log_prob_from_log(self.df1.to(_F64), self.df2.to(_F64), log_z)
        return lp.to(self.df1.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return _log_prob_from_log(self.df1, self.df2, torch.log(value))

    @property
    def mean(self) -> Tensor:
        df2 = self.df2
        m = df2 / (df2 - 2)
        return torch.where(df2 > 2, m, torch.full_like(m, math.nan))

    @property
    def mode(self) -> Tensor:
        df1, df2 = self.df1, self.df2
        m = (df1 - 2) / df1 * df2 / (df2 + 2)
        return torch.where(df1 > 2, m, torch.full_like(m, math.nan))

    @property
    def variance(self) -> Tensor:
        df1, df2 = self.df1, self.df2
        v = 2 * df2.pow(2) * (df1 + df2 - 2) / (df1 * (df2 - 2).pow(2) * (df2 - 4))
        return torch.where(df2 > 4, v, torch.full_like(v, math.nan))
