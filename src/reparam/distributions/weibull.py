"""The Weibull distribution, z = λ (−log(1 − u))^{1/k} by the inverse CDF."""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["Weibull"]

_EULER_GAMMA = 0.57721566490153286061


def _log1m(u: Tensor) -> Tensor:
    """log(1 − u) for u ∈ [0, 1]; −u below the dtype's eps, where it is exact to rounding
    and where log1p may flush the tiny clamped u to 0 (``torch.set_flush_denormal``)."""
    return torch.where(u < torch.finfo(u.dtype).eps, -u, torch.log1p(-u))


@lru_cache(maxsize=8)
def _log_max(dtype: torch.dtype) -> float:
    """The largest t of ``dtype`` with exp(t) finite in ``dtype``."""
    t = torch.tensor(math.log(torch.finfo(dtype).max), dtype=dtype)
    while torch.isinf(torch.exp(t)):
        t = torch.nextafter(t, torch.zeros_like(t))
    return float(t)


class Weibull(ReparamDistribution):
    r"""Weibull distribution with scale λ and shape (concentration) k.

    With e = −log(1 − u), a standard exponential draw:

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \lambda e^{1/k}, \quad
        \log q(z) = \log\frac{k}{\lambda} + \frac{k - 1}{k}\log e - e

    Samples are clamped to [tiny, max] of the dtype (log z clamped before the
    exponential), as Gamma's are at tiny: a clamped sample has zero gradient, so samples
    and gradients stay finite. Only small shapes k reach the upper clamp: P(z > max) =
    exp(−(max/λ)^k), e.g. 37 % for λ = 1, k = 1e-6 in float64 (the law is not
    representable there); ``log_prob_from_noise`` is the density of the unclamped sample.

    Args:
        scale: scale λ > 0, with shape (*).
        concentration: shape k > 0, broadcastable with ``scale``.
        validate_args: check that λ and k are positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or ≤ 0, or the shapes do not broadcast.

    References:
        Weibull, "A statistical distribution function of wide applicability",
        J. Appl. Mech. 18, 1951; Zhang et al., "WHAI: Weibull Hybrid Autoencoding
        Inference for Deep Topic Modeling", 2018, arXiv:1803.01328.

    Example:
        >>> q = Weibull(torch.ones(3), torch.tensor([0.5, 1.0, 2.0]))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool((z >= 0).all())
        (torch.Size([5, 3]), True)
    """

    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    support = constraints.nonnegative
    noise = StandardUniform()

    def __init__(
        self,
        scale: Tensor | float,
        concentration: Tensor | float,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.scale, self.concentration = as_params(
            "Weibull", scale=scale, concentration=concentration
        )
        super().__init__(self.scale.shape, validate_args=validate_args)

    def from_noise(self, eps: Tensor) -> Tensor:
        log_e = torch.log(-_log1m(eps))
        log_z = torch.log(self.scale) + log_e / self.concentration
        z = torch.exp(log_z.clamp(max=_log_max(log_z.dtype)))
        return z.clamp(min=torch.finfo(z.dtype).tiny)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        e = -_log1m(eps)
        k = self.concentration
        return -(k.log() - self.scale.log() + (1 - k.reciprocal()) * e.log() - e)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        k = self.concentration
        inside = value >= 0
        x = torch.where(inside, value, torch.zeros_like(value)) / self.scale
        # xlogy gives the limit at z = 0: +inf for k < 1, log(1/λ) for k = 1, −inf for k > 1.
        lp = k.log() - self.scale.log() + torch.xlogy(k - 1, x) - x.pow(k)
        return torch.where(inside, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = value.clamp(min=0) / self.scale
        return -torch.expm1(-x.pow(self.concentration))

    def icdf(self, value: Tensor) -> Tensor:
        """λ (−log(1 − u))^{1/k}, unclamped (0 at u = 0, inf at u = 1, as torch)."""
        return self.scale * (-_log1m(value)).pow(self.concentration.reciprocal())

    def entropy(self) -> Tensor:
        k = self.concentration
        return _EULER_GAMMA * (1 - k.reciprocal()) + (self.scale / k).log() + 1

    @property
    def mean(self) -> Tensor:
        return self.scale * torch.exp(torch.lgamma(1 + self.concentration.reciprocal()))

    @property
    def mode(self) -> Tensor:
        k = self.concentration
        ratio = ((k - 1) / k).clamp(min=0)
        return self.scale * ratio.pow(k.reciprocal())

    @property
    def variance(self) -> Tensor:
        inv_k = self.concentration.reciprocal()
        m1 = torch.exp(torch.lgamma(1 + inv_k))
        m2 = torch.exp(torch.lgamma(1 + 2 * inv_k))
        return self.scale.pow(2) * (m2 - m1 * m1)
