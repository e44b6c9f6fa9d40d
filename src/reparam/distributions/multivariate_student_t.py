r"""The multivariate Student t, z = μ + L n / √(G/ν), with an implicitly reparameterized χ².

With u ∈ (0, 1)^{d+1} uniform, n = Φ⁻¹(u_{1..d}) ~ N(0, I_d) and G = 2 P⁻¹(ν/2, u_{d+1})
~ χ²_ν (the noise of :class:`~reparam.distributions.StudentT`, one χ² shared by the d
coordinates), z = μ + L n/√(G/ν) ~ t_ν(μ, L Lᵀ). μ and L enter explicitly; ν through
log √(G/ν) and the Gamma quantile's implicit derivative (Figurnov, Mohamed & Mnih 2018,
arXiv:1805.08498). The Mahalanobis form is m = ν‖n‖²/G, so log q is evaluated from the
noise as log(1 + m/ν) = logaddexp(log G, log‖n‖²) − log G, in float64 (finite where z
over- or underflows). Plain Monte Carlo draws G with torch's exact Gamma sampler and
skips the inversion (see :class:`~reparam.distributions._gamma_noise.NativeGammaNoise`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.distributions.utils import lazy_property

from ._gamma_noise import (
    LogSpaceNoiseCache,
    NativeGammaNoise,
    draw_standard_gamma_noise,
    log_standard_gamma,
)
from ._gaussian import batch_mahalanobis, batch_shape_of, precision_from_scale_tril
from ._params import as_tensors
from .base import ReparamDistribution
from .standard import StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["MultivariateStudentT"]

_F64 = torch.float64
_EMPTY = torch.Size()
_LOG2 = math.log(2.0)
_LOG_PI = math.log(math.pi)


class MultivariateStudentT(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""Multivariate Student t with ν = ``df``, location μ and scale factor L (Pyro's).

    .. math::
        u \sim \mathcal U(0,1)^{d+1}, \quad n = \Phi^{-1}(u_{1..d}), \quad
        G = 2P^{-1}(\nu/2, u_{d+1}), \quad z = \mu + L\,n\,\sqrt{\nu/G},

    .. math::
        \log q(z) = \log\Gamma\bigl(\tfrac{\nu+d}{2}\bigr) - \log\Gamma\bigl(\tfrac\nu2\bigr)
        - \tfrac d2\log(\nu\pi) - \log|L| - \tfrac{\nu+d}{2}\log\Bigl(1 + \frac{m}{\nu}\Bigr),
        \quad m = \|L^{-1}(z - \mu)\|^2

    The standardized sample is clamped to ±√(max of the dtype) elementwise (as in
    :class:`~reparam.distributions.StudentT`). As Pyro's: ``mean`` is μ for ν > 1 (NaN
    otherwise); ``variance`` is diag(L Lᵀ) ν/(ν − 2) for ν > 2, inf for 1 < ν ≤ 2, NaN
    for ν ≤ 1; ``covariance_matrix`` is Pyro's, the scale matrix L Lᵀ (the covariance is
    ν/(ν − 2) times it), ``precision_matrix`` its inverse. ``entropy`` is the closed form
    −log C + ((ν+d)/2)(ψ((ν+d)/2) − ψ(ν/2)), C the normalizer of log q above (E[log(1 +
    m/ν)] = −E[log B], B ~ Beta(ν/2, d/2)).

    Args:
        df: ν > 0, with shape broadcastable with the batch shape.
        loc: μ with shape (*, d).
        scale_tril: L, lower-triangular with positive diagonal, shape (*, d, d).
        validate_args: check the parameters.

    Raises:
        ValueError: ν ≤ 0 or not finite; μ not finite; L not lower-triangular with a
            positive finite diagonal; shapes that do not match or broadcast.

    References:
        Kotz & Nadarajah, "Multivariate t Distributions and Their Applications", CUP 2004;
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498.

    Example:
        >>> df = torch.tensor(4.0, requires_grad=True)
        >>> q = MultivariateStudentT(df, torch.zeros(3), torch.eye(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape, q.noise_event_shape
        (torch.Size([5, 3]), torch.Size([5]), torch.Size([4]))
        >>> z.pow(2).sum().backward()
        >>> bool(torch.isfinite(df.grad))
        True
    """

    arg_constraints = {
        "df": constraints.positive,
        "loc": constraints.real_vector,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    noise = StandardUniform()

    def __init__(
        self,
        df: Tensor | float,
        loc: Tensor,
        scale_tril: Tensor,
        *,
        validate_args: bool | None = None,
    ) -> None:
        owner = "MultivariateStudentT"
        df, loc, scale_tril = as_tensors(owner, {"df": df, "loc": loc, "scale_tril": scale_tril})
        if loc.dim() < 1:
            raise ValueError(f"{owner}: loc must have shape (*, d); got a scalar")
        d = loc.shape[-1]
        if scale_tril.dim() < 2 or scale_tril.shape[-2:] != (d, d):
            raise ValueError(
                f"{owner}: scale_tril must have shape (*, {d}, {d}) to match loc of shape "
                f"{tuple(loc.shape)}; got shape {tuple(scale_tril.shape)}"
            )
        batch = batch_shape_of(
            owner, df=df.shape, loc=loc.shape[:-1], scale_tril=scale_tril.shape[:-2]
        )
        self.df = df.expand(batch)
        self.loc = loc.expand(batch + (d,))
        self.scale_tril = scale_tril.expand(batch + (d, d))
        super().__init__(batch, torch.Size((d,)), validate_args=validate_args)

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((self.event_shape[0] + 1,))

    def _native_concentration(self) -> Tensor:
        return 0.5 * self.df

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        shape = self._use_native(torch.Size(sample_shape), noise)
        if shape is None:
            return ReparamDistribution.sample_noise(self, sample_shape, noise=noise)
        dtype = self.df.dtype
        u_normal = self.noise.sample(
            shape[:-1] + (shape[-1] - 1,), dtype=dtype, device=self.df.device
        )
        u_gamma, *drawn = draw_standard_gamma_noise(0.5 * self.df, shape[:-1], dtype)
        eps = torch.cat((u_normal, u_gamma.unsqueeze(-1)), -1)
        self._remember_draw(eps, *drawn)
        return eps

    def _parts(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        """(n, log G) in float64, log G with the implicit gradient in ν attached."""
        drawn = self._recall_draw(eps)
        normal = torch.special.ndtri(eps[..., :-1].to(_F64))
        log_x = log_standard_gamma(eps[..., -1], 0.5 * self.df, drawn)
        return normal, _LOG2 + log_x

    def from_noise(self, eps: Tensor) -> Tensor:
        normal, log_g = self._parts(eps)
        dtype = self.df.dtype
        log_r = 0.5 * math.log(torch.finfo(dtype).max)
        # 1/√(G/ν) = exp(½(log ν − log G)), capped so that z and ∂z/∂ν stay finite.
        log_inv_root = 0.5 * (torch.log(self.df).to(_F64) - log_g)
        y = normal * torch.exp(log_inv_root.clamp(max=log_r)).unsqueeze(-1)
        y = y.clamp(-math.exp(log_r), math.exp(log_r)).to(dtype)
        z = self.loc + torch.matmul(self.scale_tril, y.unsqueeze(-1)).squeeze(-1)
        big = torch.finfo(dtype).max
        z = z.clamp(-big, big)
        self._remember(eps, z, (normal, log_g))
        return z

    def _normalizer(self) -> Tensor:
        df, d = self.df, self.event_shape[0]
        half_log_det = self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return (
            torch.lgamma(0.5 * (df + d))
            - torch.lgamma(0.5 * df)
            - 0.5 * d * (torch.log(df) + _LOG_PI)
            - half_log_det
        )

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        normal, log_g = self._recall(eps, z, self._parts)
        log_n2 = torch.log(normal.pow(2).sum(-1))
        log1p_m = torch.logaddexp(log_g, log_n2) - log_g  # log(1 + m/ν), m/ν = ‖n‖²/G
        d = self.event_shape[0]
        return self._normalizer() - 0.5 * (self.df + d) * log1p_m.to(self.df.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        d = self.event_shape[0]
        m = batch_mahalanobis(self.scale_tril, value - self.loc)
        return self._normalizer() - 0.5 * (self.df + d) * torch.log1p(m / self.df)

    def entropy(self) -> Tensor:
        df, d = self.df, self.event_shape[0]
        half = 0.5 * (df + d)
        return -self._normalizer() + half * (torch.digamma(half) - torch.digamma(0.5 * df))

    @property
    def mean(self) -> Tensor:
        m = self.loc.clone()
        return torch.where((self.df > 1).unsqueeze(-1), m, torch.full_like(m, math.nan))

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        df = self.df.unsqueeze(-1)
        v = self.scale_tril.pow(2).sum(-1) * df / (df - 2)
        v = torch.where(df > 2, v, torch.full_like(v, math.inf))
        return torch.where(df > 1, v, torch.full_like(v, math.nan))

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        """The scale matrix L Lᵀ (Pyro's name; the covariance is ν/(ν − 2) L Lᵀ)."""
        return torch.matmul(self.scale_tril, self.scale_tril.mT)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        """(L Lᵀ)⁻¹."""
        return precision_from_scale_tril(self.scale_tril)
