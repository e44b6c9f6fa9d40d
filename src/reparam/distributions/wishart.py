r"""The Wishart distribution by the Bartlett decomposition, with implicit χ² noise.

With L the Cholesky factor of the scale Σ and A lower-triangular, A_ii = √c_i,
c_i ~ χ²_{ν−i} (i = 0, …, d − 1) and A_ij ~ N(0, 1) below the diagonal, z = L A Aᵀ Lᵀ ~
W_d(ν, Σ) (Bartlett 1933). The noise is d(d + 1)/2 uniforms: the first d give c_i =
2 P⁻¹((ν − i)/2, u_i) (the noise of :class:`~reparam.distributions.Chi2`, so ν gets the
implicit gradient of Figurnov, Mohamed & Mnih 2018), the others A_ij = Φ⁻¹(u). The map
from (c, A_{i>j}) to the d(d + 1)/2 free entries of z is a bijection, and log q is
evaluated from the noise, with log|z| = 2 Σ log L_ii + Σ log c_i and tr(Σ⁻¹z) =
Σ c_i + Σ A_ij², in float64: finite where z is numerically singular (ν near d − 1).
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
    log_standard_gamma,
)
from ._gaussian import (
    batch_shape_of,
    check_matrix_param,
    precision_from_scale_tril,
    precision_to_scale_tril,
)
from ._params import as_tensors, check_params
from .base import ReparamDistribution
from .standard import StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["Wishart", "mvdigamma"]

_F64 = torch.float64
_EMPTY = torch.Size()
_LOG2 = math.log(2.0)
_MATRICES = ("covariance_matrix", "precision_matrix", "scale_tril")


def mvdigamma(a: Tensor, d: int) -> Tensor:
    """The multivariate digamma ψ_d(a) = Σ_{i<d} ψ(a − i/2) = ∂ log Γ_d(a)/∂a."""
    offsets = torch.arange(d, dtype=a.dtype, device=a.device) / 2
    return torch.digamma(a.unsqueeze(-1) - offsets).sum(-1)


class Wishart(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""Wishart distribution W_d(ν, Σ) on symmetric positive definite matrices (torch's).

    .. math::
        u \sim \mathcal U(0,1)^{d(d+1)/2}, \quad A_{ii} = \sqrt{2P^{-1}(\tfrac{\nu-i}{2},
        u_i)}, \quad A_{i>j} = \Phi^{-1}(u_{ij}), \quad z = L A A^\top L^\top,

    .. math::
        \log q(z) = \tfrac{\nu-d-1}{2}\log|z| - \tfrac12\operatorname{tr}(\Sigma^{-1}z)
        - \tfrac{\nu d}{2}\log 2 - \tfrac\nu2\log|\Sigma| - \log\Gamma_d(\tfrac\nu2)

    Exactly one of ``covariance_matrix`` (Σ), ``precision_matrix`` (Σ⁻¹) and
    ``scale_tril`` (L) is given. ``mean`` νΣ, ``mode`` (ν − d − 1)Σ (NaN for ν ≤ d + 1),
    ``variance`` ν(Σ_ij² + Σ_ii Σ_jj) and ``entropy`` are torch's. The diagonal of A is
    clamped at the smallest normal number of the dtype (ν near d − 1 makes c_{d−1} tiny).

    Args:
        df: ν > d − 1, with shape broadcastable with the matrix's batch shape.
        covariance_matrix: Σ, symmetric positive definite, shape (*, d, d).
        precision_matrix: Σ⁻¹, symmetric positive definite, shape (*, d, d).
        scale_tril: L, lower-triangular with positive diagonal, shape (*, d, d).
        validate_args: check the parameters.

    Raises:
        ValueError: not exactly one matrix; ν ≤ d − 1 or not finite; a matrix that is not
            finite, symmetric positive definite or a Cholesky factor; bad shapes.

    References:
        Bartlett, "On the theory of statistical regression", Proc. R. Soc. Edinburgh 53,
        1933; Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS
        2018, arXiv:1805.08498.

    Example:
        >>> df = torch.tensor(4.0, requires_grad=True)
        >>> q = Wishart(df, covariance_matrix=torch.eye(2))
        >>> z, log_q = q.rsample_and_log_prob((3,))
        >>> z.shape, log_q.shape, q.noise_event_shape
        (torch.Size([3, 2, 2]), torch.Size([3]), torch.Size([3]))
        >>> z.diagonal(dim1=-2, dim2=-1).sum().backward()
        >>> bool(torch.isfinite(df.grad))
        True
    """

    arg_constraints = {
        "df": constraints.positive,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.positive_definite
    noise = StandardUniform()

    def __init__(
        self,
        df: Tensor | float,
        covariance_matrix: Tensor | None = None,
        precision_matrix: Tensor | None = None,
        scale_tril: Tensor | None = None,
        *,
        validate_args: bool | None = None,
    ) -> None:
        owner = "Wishart"
        given = {
            n: v
            for n, v in zip(
                _MATRICES, (covariance_matrix, precision_matrix, scale_tril), strict=True
            )
            if v is not None
        }
        if len(given) != 1:
            raise ValueError(
                f"{owner}: give exactly one of covariance_matrix, precision_matrix or "
                f"scale_tril; got {', '.join(given) if given else 'none'}"
            )
        ((name, matrix),) = given.items()
        df, matrix = as_tensors(owner, {"df": df, name: matrix})
        if matrix.dim() < 2 or matrix.shape[-1] != matrix.shape[-2] or matrix.shape[-1] < 1:
            raise ValueError(
                f"{owner}: {name} must have shape (*, d, d); got shape {tuple(matrix.shape)}"
            )
        d = matrix.shape[-1]
        batch = batch_shape_of(owner, df=df.shape, **{name: matrix.shape[:-2]})
        self.df = df.expand(batch)
        self._given, self._cholesky_info = name, None
        if name == "scale_tril":
            tril = matrix
        elif name == "covariance_matrix":
            tril, self._cholesky_info = torch.linalg.cholesky_ex(matrix)
        else:
            tril, self._cholesky_info = precision_to_scale_tril(matrix)
        setattr(self, name, matrix.expand(batch + (d, d)))
        self.scale_tril = tril.expand(batch + (d, d))
        super().__init__(batch, torch.Size((d, d)), validate_args=validate_args)

    def _check_params(self) -> None:
        owner, d = "Wishart", self.event_shape[-1]
        check_params(owner, {"df": self.df}, {"df": constraints.greater_than(d - 1)})
        name = self._given
        check_matrix_param(owner, name, self.__dict__[name], self._cholesky_info)

    # ------------------------------------------------------------------ the map g
    @property
    def noise_event_shape(self) -> torch.Size:
        d = self.event_shape[-1]
        return torch.Size((d * (d + 1) // 2,))

    def _native_concentration(self) -> Tensor:
        d = self.event_shape[-1]
        offsets = torch.arange(d, dtype=self.df.dtype, device=self.df.device)
        return 0.5 * (self.df.unsqueeze(-1) - offsets)

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        shape = self._use_native(torch.Size(sample_shape), noise)
        if shape is None:
            return ReparamDistribution.sample_noise(self, sample_shape, noise=noise)
        return self._draw_gammas_then_uniforms(shape, self.event_shape[-1])

    def _parts(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        """(log c, A's strictly lower entries) in float64, log c carrying ν's gradient."""
        d = self.event_shape[-1]
        drawn = self._recall_draw(eps)  # made for the d gamma uniforms, eps[..., :d]
        log_x = log_standard_gamma(eps[..., :d], self._native_concentration(), drawn)
        normal = torch.special.ndtri(eps[..., d:].to(_F64))
        return _LOG2 + log_x, normal

    def _bartlett(self, log_c: Tensor, normal: Tensor) -> Tensor:
        d, dtype = self.event_shape[-1], self.df.dtype
        tiny = torch.finfo(dtype).tiny
        diag = torch.exp(0.5 * log_c).to(dtype)
        diag = diag + (diag.detach().clamp(min=tiny) - diag.detach())
        a = torch.diag_embed(diag)
        rows, cols = torch.tril_indices(d, d, -1, device=a.device)
        lower = torch.zeros_like(a)
        lower[..., rows, cols] = normal.to(dtype)
        return a + lower

    def from_noise(self, eps: Tensor) -> Tensor:
        log_c, normal = self._parts(eps)
        b = torch.matmul(self.scale_tril, self._bartlett(log_c, normal))
        z = torch.matmul(b, b.mT)
        self._remember(eps, z, (log_c, normal))
        return z

    def _half_log_det(self) -> Tensor:
        return self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_c, normal = self._recall(eps, z, self._parts)
        d, nu = self.event_shape[-1], self.df.to(_F64)
        half_log_det = self._half_log_det().to(_F64)
        log_det_z = 2 * half_log_det + log_c.sum(-1)
        trace = torch.exp(log_c).sum(-1) + normal.pow(2).sum(-1)
        lp = (
            0.5 * (nu - d - 1) * log_det_z
            - 0.5 * trace
            - nu * (0.5 * d * _LOG2 + half_log_det)
            - torch.mvlgamma(0.5 * nu, d)
        )
        return lp.to(self.df.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        d, nu = self.event_shape[-1], self.df
        trace = torch.cholesky_solve(value, self.scale_tril).diagonal(dim1=-2, dim2=-1).sum(-1)
        return (
            0.5 * (nu - d - 1) * torch.linalg.slogdet(value).logabsdet
            - 0.5 * trace
            - nu * (0.5 * d * _LOG2 + self._half_log_det())
            - torch.mvlgamma(0.5 * nu, d)
        )

    def entropy(self) -> Tensor:
        d, nu = self.event_shape[-1], self.df
        return (
            (d + 1) * (0.5 * d * _LOG2 + self._half_log_det())
            + torch.mvlgamma(0.5 * nu, d)
            - 0.5 * (nu - d - 1) * mvdigamma(0.5 * nu, d)
            + 0.5 * nu * d
        )

    # ------------------------------------------------------------------ moments
    @lazy_property
    def covariance_matrix(self) -> Tensor:
        return torch.matmul(self.scale_tril, self.scale_tril.mT)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        return precision_from_scale_tril(self.scale_tril)

    @property
    def mean(self) -> Tensor:
        return self.df[..., None, None] * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        factor = self.df - self.event_shape[-1] - 1
        factor = torch.where(factor > 0, factor, torch.full_like(factor, math.nan))
        return factor[..., None, None] * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        cov = self.covariance_matrix
        diag = cov.diagonal(dim1=-2, dim2=-1)
        return self.df[..., None, None] * (cov.pow(2) + diag.unsqueeze(-1) * diag.unsqueeze(-2))
