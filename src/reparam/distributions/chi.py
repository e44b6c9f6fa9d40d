r"""The χ distribution, z = √X with X ~ χ²_ν drawn through the implicit Gamma noise.

With u ~ U(0, 1) and Y = P⁻¹(ν/2, u) ~ Gamma(ν/2, 1) (the noise of
:class:`~reparam.distributions.gamma.Chi2`, so X = 2Y ~ χ²_ν and every noise strategy
applies),

.. math:: \log z = \tfrac12(\log 2 + \log Y),

formed in float64. ν enters through the Gamma quantile's implicit derivative (Figurnov,
Mohamed & Mnih 2018, arXiv:1805.08498): ∂ log z/∂ν = ¼ ∂ log Y/∂a at a = ν/2. The
density from the noise is evaluated at the float64 log z (exact where z underflows, for
ν ≪ 1); z itself is clamped at the dtype's smallest normal number. Plain Monte Carlo draws
Y with torch's exact Gamma sampler and skips the inversion (see
:class:`~reparam.distributions._gamma_noise.NativeGammaNoise`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._gamma_noise import LogSpaceNoiseCache, NativeGammaNoise, exp_clamped, log_standard_gamma
from ._params import as_params
from .base import ReparamDistribution
from .gamma import regularized_gamma_p
from .standard import StandardUniform

__all__ = ["Chi"]

_F64 = torch.float64
_HALF_LOG_2 = 0.5 * math.log(2.0)


def _log_prob_from_log(df: Tensor, log_z: Tensor) -> Tensor:
    """(ν − 1) log z − z²/2 − (ν/2 − 1) log 2 − log Γ(ν/2) at z = exp(log z)."""
    half = 0.5 * df
    return (
        (df - 1) * log_z
        - 0.5 * torch.exp(2 * log_z)
        - (half - 1) * (2 * _HALF_LOG_2)
        - torch.lgamma(half)
    )


class Chi(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""Chi distribution with ``df`` = ν degrees of freedom: the law of √X, X ~ χ²_ν.

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \sqrt{2 P^{-1}(\nu/2, u)}, \quad
        \log q(z) = (\nu - 1)\log z - \frac{z^2}{2} - \Bigl(\frac{\nu}{2} - 1\Bigr)\log 2
        - \log\Gamma\Bigl(\frac{\nu}{2}\Bigr)

    Mean √2 Γ((ν+1)/2)/Γ(ν/2), variance ν − mean² (by the asymptotic series of
    log Γ(x + ½) − log Γ(x) for ν ≥ 60, where the difference cancels), entropy; mode
    √(ν − 1) for ν ≥ 1 (0 below); cdf P(ν/2, z²/2) and icdf with pathwise gradients.

    Args:
        df: degrees of freedom ν > 0, with shape (*).
        validate_args: check that ν is positive and finite.

    Raises:
        ValueError: ν is NaN/inf or ≤ 0.

    References:
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498.

    Example:
        >>> df = torch.tensor([0.5, 3.0], requires_grad=True)
        >>> q = Chi(df)
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, bool((z > 0).all())
        (torch.Size([4, 2]), True)
        >>> z.sum().backward()
        >>> bool(torch.isfinite(df.grad).all())
        True
    """

    arg_constraints = {"df": constraints.positive}
    support = constraints.nonnegative
    noise = StandardUniform()

    def __init__(self, df: Tensor | float, *, validate_args: bool | None = None) -> None:
        (self.df,) = as_params("Chi", df=df)
        super().__init__(self.df.shape, validate_args=validate_args)

    def _native_concentration(self) -> Tensor:
        return 0.5 * self.df

    def _log_z(self, u: Tensor) -> Tensor:
        """log z = ½(log 2 + log Y) in float64 with the implicit gradient attached."""
        return 0.5 * log_standard_gamma(u, 0.5 * self.df, self._recall_draw(u)) + _HALF_LOG_2

    def from_noise(self, eps: Tensor) -> Tensor:
        log_z = self._log_z(eps)
        z = exp_clamped(log_z, self.df.dtype)
        self._remember(eps, z, log_z)
        return z

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_z = self._recall(eps, z, self._log_z)
        return _log_prob_from_log(self.df.to(_F64), log_z).to(self.df.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        df = self.df
        return (
            torch.xlogy(df - 1, value)
            - 0.5 * value * value
            - (0.5 * df - 1) * (2 * _HALF_LOG_2)
            - torch.lgamma(0.5 * df)
        )

    def cdf(self, value: Tensor) -> Tensor:
        """P(ν/2, z²/2), differentiable in z and (implicitly) in ν."""
        if self._validate_args:
            self._validate_sample(value)
        x = value.clamp(min=0)
        return regularized_gamma_p(0.5 * self.df, 0.5 * x * x)

    def icdf(self, value: Tensor) -> Tensor:
        """√(2 P⁻¹(ν/2, u)) with the pathwise gradient in ν."""
        return exp_clamped(self._log_z(value), self.df.dtype)

    def entropy(self) -> Tensor:
        df = self.df
        half = 0.5 * df
        return torch.lgamma(half) + 0.5 * (df - math.log(2.0) - (df - 1) * torch.digamma(half))

    @property
    def mean(self) -> Tensor:
        df = self.df
        return math.sqrt(2.0) * torch.exp(torch.lgamma(0.5 * (df + 1)) - torch.lgamma(0.5 * df))

    @property
    def mode(self) -> Tensor:
        return torch.sqrt((self.df - 1).clamp(min=0))

    @property
    def variance(self) -> Tensor:
        """ν − mean², with mean² = ν exp(s(ν/2)) and s by its asymptotic series for
        ν ≥ 60 (ν − mean² → ½ cancels there)."""
        df = self.df
        direct = df - self.mean.pow(2)
        x = (0.5 * df).clamp(min=30.0)
        inv = x.reciprocal()
        inv2 = inv * inv
        tail = inv2 * (-1 / 320 + inv2 * (17 / 7168 - inv2 * 31 / 9216))
        s = inv * (-1 / 4 + inv2 * (1 / 96 + tail))
        return torch.where(df >= 60, -df * torch.expm1(s), direct)
