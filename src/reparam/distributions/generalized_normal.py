r"""The generalized normal distribution, z = loc ± scale·G^{1/p} with implicit Gamma noise.

With u = (u₁, u₂) ~ U(0, 1)², G = P⁻¹(1/p, u₁) ~ Gamma(1/p, 1) and the fair sign
s = sign(u₂ − ½) (free of θ),

.. math:: z = \text{loc} + s\cdot\text{scale}\cdot G^{1/p},

the sampler of Nardon & Pianca (2009) written as a reparameterization: loc and scale
enter explicitly, the power p both explicitly (the exponent 1/p) and through the Gamma
quantile's implicit derivative at shape 1/p (Figurnov, Mohamed & Mnih 2018,
arXiv:1805.08498). |z − loc|/scale is carried as a float64 logarithm, so the density from
the noise, −G − log 2 − log scale − log Γ(1 + 1/p), is exact for any p. Plain Monte Carlo
draws G with torch's exact Gamma sampler and skips the inversion (see
:class:`~reparam.distributions._gamma_noise.NativeGammaNoise`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.distributions import constraints

from ._gamma_noise import (
    LogSpaceNoiseCache,
    NativeGammaNoise,
    draw_standard_gamma_noise,
    exp_clamped,
    log_standard_gamma,
)
from ._params import _is_compiling, as_params
from .base import ReparamDistribution
from .gamma import regularized_gamma_p
from .standard import StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["GeneralizedNormal"]

_F64 = torch.float64
_LOG_2 = math.log(2.0)
_EMPTY = torch.Size()


class GeneralizedNormal(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""Generalized normal (exponential power) distribution, as TFP's ``GeneralizedNormal``.

    .. math::
        u \sim \mathcal U(0,1)^2, \quad
        z = \text{loc} + \operatorname{sign}(u_2 - \tfrac12)\,\text{scale}\,
        P^{-1}(1/p, u_1)^{1/p}, \quad
        \log q(z) = -\Bigl|\frac{z - \text{loc}}{\text{scale}}\Bigr|^p - \log 2
        - \log\text{scale} - \log\Gamma(1 + 1/p)

    p = 2 is Normal(loc, scale/√2), p = 1 Laplace(loc, scale), p → ∞ Uniform(loc ± scale).
    Mean and mode loc, variance scale² Γ(3/p)/Γ(1/p), entropy 1/p + log(2 scale Γ(1 + 1/p)),
    cdf and icdf (with pathwise gradients, implicit in p).

    Args:
        loc: location, with shape (*).
        scale: scale > 0, broadcastable with ``loc``.
        power: shape p > 0, broadcastable with ``loc``.
        validate_args: check that loc is finite and scale, power positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf, scale or power ≤ 0, or the shapes do not
            broadcast.

    References:
        Nardon & Pianca, "Simulation techniques for generalized Gaussian densities",
        J. Statistical Computation and Simulation 79(11), 2009; Figurnov, Mohamed & Mnih,
        "Implicit Reparameterization Gradients", NeurIPS 2018, arXiv:1805.08498.

    Example:
        >>> power = torch.tensor([0.5, 2.0, 8.0], requires_grad=True)
        >>> q = GeneralizedNormal(0.0, 1.0, power)
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, q.noise_event_shape
        (torch.Size([4, 3]), torch.Size([2]))
        >>> z.pow(2).sum().backward()
        >>> bool(torch.isfinite(power.grad).all())
        True
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "power": constraints.positive,
    }
    support = constraints.real
    noise = StandardUniform()

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        power: Tensor | float,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.scale, self.power = as_params(
            "GeneralizedNormal", loc=loc, scale=scale, power=power
        )
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((2,))

    def _native_concentration(self) -> Tensor:
        return self.power.reciprocal()

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        """(u₁, u₂): u₁ = P(1/p, G) of a native Gamma draw G for plain Monte Carlo (any
        strategy's uniforms otherwise), u₂ ~ U(0, 1) for the sign."""
        shape = self._use_native(torch.Size(sample_shape), noise)
        if shape is None or _is_compiling():
            return ReparamDistribution.sample_noise(self, sample_shape, noise=noise)
        a = self._native_concentration()
        u1, *drawn = draw_standard_gamma_noise(a, shape[:-1], a.dtype)
        u2 = self.noise.sample(shape[:-1], dtype=u1.dtype, device=u1.device)
        eps = torch.stack((u1, u2), -1)
        self._remember_draw(eps, *drawn)
        return eps

    def _log_g(self, eps: Tensor) -> Tensor:
        """log G in float64, G = P⁻¹(1/p, u₁), with the implicit gradient in p attached."""
        return log_standard_gamma(eps[..., 0], self.power.reciprocal(), self._recall_draw(eps))

    def _signed(self, log_abs: Tensor, negative: Tensor) -> Tensor:
        """loc ± exp(log_abs) in the parameters' dtype (|z − loc| clamped at its max)."""
        dtype = self.loc.dtype
        w = exp_clamped(log_abs, dtype, torch.finfo(dtype).max)
        return self.loc + torch.where(negative, -w, w)

    def from_noise(self, eps: Tensor) -> Tensor:
        log_g = self._log_g(eps)
        log_abs = log_g / self.power.to(_F64) + torch.log(self.scale).to(_F64)
        z = self._signed(log_abs, eps[..., 1] < 0.5)
        self._remember(eps, z, log_g)
        return z

    def _log_normalizer(self) -> Tensor:
        return _LOG_2 + torch.log(self.scale) + torch.lgamma(1 + self.power.reciprocal())

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_g = self._recall(eps, z, self._log_g)
        lp = -torch.exp(log_g) - self._log_normalizer().to(_F64)
        return lp.to(self.loc.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc).abs() / self.scale
        return -x.pow(self.power) - self._log_normalizer()

    def cdf(self, value: Tensor) -> Tensor:
        """½ ± ½ P(1/p, |x|^p), x = (z − loc)/scale, differentiable in every parameter."""
        if self._validate_args:
            self._validate_sample(value)
        x = (value - self.loc) / self.scale
        inv = self.power.reciprocal()
        y = x.abs().pow(self.power)
        # where |x|^p underflows, P(1/p, y) = y^{1/p}/Γ(1 + 1/p) = |x|/Γ(1 + 1/p) to first order
        small = y < torch.finfo(y.dtype).tiny * 2**40
        p = regularized_gamma_p(inv, torch.where(small, 1.0, y))
        p = torch.where(small, x.abs() * torch.exp(-torch.lgamma(1 + inv)), p)
        return torch.where(x < 0, 0.5 - 0.5 * p, 0.5 + 0.5 * p)

    def icdf(self, value: Tensor) -> Tensor:
        """loc ± scale·P⁻¹(1/p, |2u − 1|)^{1/p} with pathwise gradients."""
        level = (2 * value - 1).abs()
        log_g = log_standard_gamma(level, self.power.reciprocal())
        log_abs = log_g / self.power.to(_F64) + torch.log(self.scale).to(_F64)
        return self._signed(log_abs, value < 0.5)

    def entropy(self) -> Tensor:
        return self.power.reciprocal() + self._log_normalizer()

    @property
    def mean(self) -> Tensor:
        return self.loc.expand(self.batch_shape)

    @property
    def mode(self) -> Tensor:
        return self.loc.expand(self.batch_shape)

    @property
    def variance(self) -> Tensor:
        inv = self.power.reciprocal()
        log_var = 2 * torch.log(self.scale) + torch.lgamma(3 * inv) - torch.lgamma(inv)
        return torch.exp(log_var).expand(self.batch_shape)
