r"""Student's t distribution, z = μ + σ N / √(G/ν) with an implicitly reparameterized χ².

With u = (u₁, u₂) ~ U(0, 1)², N = Φ⁻¹(u₁) ~ N(0, 1) and G = 2 P⁻¹(ν/2, u₂) ~ χ²_ν,
z = μ + σ N/√(G/ν) ~ t_ν(μ, σ). μ and σ enter explicitly; ν enters through G and the
Gamma quantile's implicit derivative (Figurnov, Mohamed & Mnih 2018, arXiv:1805.08498):

.. math::
    \frac{\partial z}{\partial \nu} = -\frac{z - \mu}{2}\left(
        \frac{1}{2}\frac{\partial \log X}{\partial a}\Big|_{a=\nu/2} - \frac{1}{\nu}\right),
    \qquad X = G/2.

log √(G/ν) is formed in float64 from log X (finite for any ν, where G itself may
underflow). Two uniforms give one z, so log q is ``log_prob(z)``. Plain Monte Carlo draws
X with torch's exact Gamma sampler and skips the inversion (see
:class:`~reparam.distributions.gamma.NativeGammaNoise`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.distributions import constraints

from ._gamma_noise import NativeGammaNoise, draw_standard_gamma_noise, log_standard_gamma
from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["StudentT"]

_F64 = torch.float64
_EMPTY = torch.Size()
_LOG2 = math.log(2.0)
_HALF_LOG_PI = 0.5 * math.log(math.pi)


def _log1p_square(r: Tensor) -> Tensor:
    """log(1 + r²) without overflow for large |r|."""
    r = r.abs()
    big = r > 1
    r_big = torch.where(big, r, 2.0)
    return torch.where(big, 2 * torch.log(r_big) + torch.log1p(r_big.pow(-2)), torch.log1p(r * r))


class StudentT(NativeGammaNoise, ReparamDistribution):
    r"""Student's t distribution with ν = ``df`` degrees of freedom, location and scale.

    .. math::
        u \sim \mathcal U(0,1)^2, \quad z = \mu + \sigma\,\frac{\Phi^{-1}(u_1)}
        {\sqrt{2P^{-1}(\nu/2,\,u_2)/\nu}}, \quad
        \log q(z) = \log\frac{\Gamma(\frac{\nu+1}{2})}{\Gamma(\frac{\nu}{2})\sqrt{\nu\pi}\,\sigma}
        - \frac{\nu+1}{2}\log\Bigl(1 + \frac{y^2}{\nu}\Bigr),\ y = \frac{z-\mu}{\sigma}

    The standardized sample (z − μ)/σ is clamped to ±√(max of the dtype), which keeps z
    and its gradients finite; with ν < 1 the tail reaches it with probability ~1e-10 in
    float32 (~1e-77 in float64). The mean is μ for ν > 1 (NaN otherwise), the variance
    σ²ν/(ν − 2) for ν > 2 (inf for 1 < ν ≤ 2, NaN for ν ≤ 1), as in torch. ``cdf`` and
    ``icdf`` (the regularized incomplete beta function) are not implemented.

    Args:
        df: degrees of freedom ν > 0, with shape (*).
        loc: location μ, broadcastable with ``df``.
        scale: scale σ > 0, broadcastable with ``df``.
        validate_args: check that ν and σ are positive and finite, μ finite.

    Raises:
        ValueError: a parameter is NaN/inf, ν ≤ 0 or σ ≤ 0, or the shapes do not broadcast.

    References:
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498.

    Example:
        >>> df = torch.tensor([3.0, 10.0], requires_grad=True)
        >>> q = StudentT(df, loc=0.0, scale=2.0)
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, q.noise_event_shape
        (torch.Size([4, 2]), torch.Size([2]))
        >>> z.sum().backward()
        >>> bool(torch.isfinite(df.grad).all())
        True
    """

    arg_constraints = {
        "df": constraints.positive,
        "loc": constraints.real,
        "scale": constraints.positive,
    }
    support = constraints.real
    noise = StandardUniform()

    def __init__(
        self,
        df: Tensor | float,
        loc: Tensor | float = 0.0,
        scale: Tensor | float = 1.0,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.df, self.loc, self.scale = as_params("StudentT", df=df, loc=loc, scale=scale)
        super().__init__(self.df.shape, validate_args=validate_args)

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((2,))

    def _native_concentration(self) -> Tensor:
        return 0.5 * self.df

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        shape = self._use_native(torch.Size(sample_shape), noise)
        if shape is None:
            return ReparamDistribution.sample_noise(self, sample_shape, noise=noise)
        dtype = self.df.dtype
        u_normal = self.noise.sample(shape[:-1], dtype=dtype, device=self.df.device)
        u_gamma, *drawn = draw_standard_gamma_noise(
            self._native_concentration(), shape[:-1], dtype
        )
        eps = torch.stack((u_normal, u_gamma), -1)
        self._remember_draw(eps, *drawn)
        return eps

    def from_noise(self, eps: Tensor) -> Tensor:
        drawn = self._recall_draw(eps)
        u_normal, u_gamma = eps.unbind(-1)
        normal = torch.special.ndtri(u_normal.to(_F64))
        # √(G/ν) = exp(½(log 2 + log X − log ν)), X ~ Gamma(ν/2, 1).
        log_x = log_standard_gamma(u_gamma, 0.5 * self.df, drawn)
        log_root = 0.5 * (_LOG2 + log_x - torch.log(self.df).to(_F64))
        # |y| ≤ r = √(max of the dtype): the heavy tail (ν < 1) reaches r with probability
        # ~1e-10 in float32; the clamp keeps z, 0·(1/√(G/ν)) and ∂z/∂ν finite.
        dtype = self.df.dtype
        log_r = 0.5 * math.log(torch.finfo(dtype).max)
        y = normal * torch.exp((-log_root).clamp(max=log_r))
        y = y.clamp(-math.exp(log_r), math.exp(log_r)).to(dtype)
        big = torch.finfo(dtype).max
        return (self.loc + self.scale * y).clamp(-big, big)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.log_prob(z)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        df = self.df
        y = (value - self.loc) / self.scale
        norm = (
            torch.lgamma(0.5 * (df + 1))
            - torch.lgamma(0.5 * df)
            - 0.5 * torch.log(df)
            - _HALF_LOG_PI
            - torch.log(self.scale)
        )
        return norm - 0.5 * (df + 1) * _log1p_square(y / torch.sqrt(df))

    def entropy(self) -> Tensor:
        df = self.df
        log_beta = torch.lgamma(0.5 * df) + 0.5 * math.log(math.pi) - torch.lgamma(0.5 * (df + 1))
        return (
            torch.log(self.scale)
            + 0.5 * (df + 1) * (torch.digamma(0.5 * (df + 1)) - torch.digamma(0.5 * df))
            + 0.5 * torch.log(df)
            + log_beta
        )

    @property
    def mean(self) -> Tensor:
        m = self.loc.clone()
        return torch.where(self.df > 1, m, torch.full_like(m, math.nan))

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        df = self.df
        v = self.scale.pow(2) * df / (df - 2)
        v = torch.where(df > 2, v, torch.full_like(v, math.inf))
        return torch.where(df > 1, v, torch.full_like(v, math.nan))
