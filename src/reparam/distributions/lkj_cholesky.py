r"""The LKJ distribution of Cholesky factors of correlation matrices, with ``rsample``.

The onion method (Lewandowski, Kurowicka & Joe 2009, §3.2) builds the factor L row by
row: row k (k = 1, …, d − 1) is (√y_k w_k, √(1 − y_k), 0, …) with w_k uniform on the unit
sphere of R^k and y_k ~ Beta(k/2, β_k), β_k = η + (d − 2)/2 − (k − 1)/2. Here y_k =
X/(X + Y) with X ~ Gamma(k/2), Y ~ Gamma(β_k) drawn by the implicit Gamma noise (as
:class:`~reparam.distributions.Beta`), so η gets implicit pathwise gradients (Figurnov,
Mohamed & Mnih 2018), and w_k = n/‖n‖ with n = Φ⁻¹(u) ~ N(0, I_k). log y_k and log(1 − y_k)
are formed in float64 from log X, log Y, so the diagonal √(1 − y_k) is exact where y_k
rounds to 1 (η → 0). (torch's ``LKJCholesky.sample`` draws y_k ~ Beta(k − 1/2, β_k): for
d ≥ 3 its rows k ≥ 2 do not have the LKJ law; its ``log_prob`` is right.)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.types import _size

from ._gamma_noise import (
    LogSpaceNoiseCache,
    NativeGammaNoise,
    log_standard_gamma,
)
from ._params import as_tensors
from .base import ReparamDistribution
from .standard import StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["LKJCholesky"]

_F64 = torch.float64
_EMPTY = torch.Size()


class LKJCholesky(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""LKJ distribution over lower Cholesky factors of d × d correlation matrices (torch's).

    .. math::
        y_k = \frac{X_k}{X_k + Y_k},\ X_k = P^{-1}(\tfrac k2, u_k),\
        Y_k = P^{-1}(\beta_k, u'_k), \quad L_{k,<k} = \sqrt{y_k}\,\frac{n_k}{\|n_k\|},
        \quad L_{kk} = \sqrt{1 - y_k},

    .. math::
        \log q(L) = \sum_{k=1}^{d-1} (d - k - 1 + 2\eta - 2)\log L_{kk} - \log C_d(\eta)

    (0-based rows; torch's density and normalizer, w.r.t. the strictly lower entries).
    The noise is 2(d − 1) + d(d − 1)/2 uniforms; g is not a bijection of it, so
    ``log_prob_from_noise`` is the density at the sample, from log(1 − y_k) in float64.

    Args:
        dim: d ≥ 2.
        concentration: η > 0, with any batch shape.
        validate_args: check η (and the values given to ``log_prob``).

    Raises:
        ValueError: d is not an integer ≥ 2; η is ≤ 0 or not finite.

    References:
        Lewandowski, Kurowicka & Joe, "Generating random correlation matrices based on
        vines and extended onion method", J. Multivariate Analysis 100, 2009; Figurnov,
        Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498.

    Example:
        >>> eta = torch.tensor(2.0, requires_grad=True)
        >>> q = LKJCholesky(3, eta)
        >>> L, log_q = q.rsample_and_log_prob((4,))
        >>> L.shape, bool(torch.allclose((L @ L.mT).diagonal(dim1=-2, dim2=-1), torch.ones(4, 3)))
        (torch.Size([4, 3, 3]), True)
        >>> (L @ L.mT)[..., 1, 0].pow(2).sum().backward()
        >>> bool(torch.isfinite(eta.grad))
        True
    """

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky
    noise = StandardUniform()

    def __init__(
        self,
        dim: int,
        concentration: Tensor | float = 1.0,
        *,
        validate_args: bool | None = None,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"LKJCholesky: 'dim' must be an integer >= 2, got {dim!r}")
        (self.concentration,) = as_tensors("LKJCholesky", {"concentration": concentration})
        self.dim = dim
        super().__init__(
            self.concentration.shape, torch.Size((dim, dim)), validate_args=validate_args
        )

    @property
    def noise_event_shape(self) -> torch.Size:
        d = self.dim
        return torch.Size((2 * (d - 1) + d * (d - 1) // 2,))

    def _native_concentration(self) -> Tensor:
        eta, d = self.concentration, self.dim
        k = torch.arange(1, d, dtype=eta.dtype, device=eta.device)
        beta = eta.unsqueeze(-1) + 0.5 * (d - 2) - 0.5 * (k - 1)
        return torch.cat((0.5 * k.expand_as(beta), beta), -1)

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        shape = self._use_native(torch.Size(sample_shape), noise)
        if shape is None:
            return ReparamDistribution.sample_noise(self, sample_shape, noise=noise)
        return self._draw_gammas_then_uniforms(shape, 2 * (self.dim - 1))

    def _parts(self, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(log y, log(1 − y), n) in float64, the logs carrying η's implicit gradient."""
        m = 2 * (self.dim - 1)
        drawn = self._recall_draw(eps)  # made for the gamma uniforms, eps[..., :m]
        log_xy = log_standard_gamma(eps[..., :m], self._native_concentration(), drawn)
        log_x, log_y = log_xy[..., : m // 2], log_xy[..., m // 2 :]
        log_sum = torch.logaddexp(log_x, log_y)
        normal = torch.special.ndtri(eps[..., m:].to(_F64))
        return log_x - log_sum, log_y - log_sum, normal

    def from_noise(self, eps: Tensor) -> Tensor:
        log_w2, log_diag2, normal = self._parts(eps)
        d, dtype = self.dim, self.concentration.dtype
        rows, cols = torch.tril_indices(d, d, -1, device=eps.device)
        n = torch.zeros(eps.shape[:-1] + (d, d), dtype=_F64, device=eps.device)
        n[..., rows, cols] = normal
        norm = torch.linalg.vector_norm(n, dim=-1, keepdim=True)
        direction = n / norm.clamp(min=torch.finfo(_F64).tiny)
        ones = torch.zeros_like(log_w2[..., :1])
        radius = torch.exp(0.5 * torch.cat((ones - math.inf, log_w2), -1))  # row 0: 0
        diag = torch.exp(0.5 * torch.cat((ones, log_diag2), -1))  # row 0: 1
        L = (radius.unsqueeze(-1) * direction + torch.diag_embed(diag)).to(dtype)
        self._remember(eps, L, log_diag2)
        return L

    def _log_normalizer(self) -> Tensor:
        eta, dm1 = self.concentration, self.dim - 1
        alpha = eta + 0.5 * dm1
        return (
            0.5 * dm1 * math.log(math.pi)
            + torch.mvlgamma(alpha - 0.5, dm1)
            - dm1 * torch.lgamma(alpha)
        )

    def _log_density(self, log_diag2: Tensor) -> Tensor:
        """log q from log L_kk² (k = 1, …, d − 1)."""
        d, eta = self.dim, self.concentration
        k = torch.arange(1, d, dtype=log_diag2.dtype, device=log_diag2.device)
        order = 2 * (eta.to(log_diag2.dtype).unsqueeze(-1) - 1) + d - (k + 1)
        return (0.5 * order * log_diag2).sum(-1) - self._log_normalizer().to(log_diag2.dtype)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_diag2 = self._recall(eps, z, lambda e: self._parts(e)[1])
        return self._log_density(log_diag2).to(self.concentration.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_diag2 = 2 * torch.log(value.diagonal(dim1=-2, dim2=-1)[..., 1:])
        return self._log_density(log_diag2)

    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> LKJCholesky:
        new = super().expand(batch_shape, _instance)
        new.dim = self.dim  # type: ignore[attr-defined]
        return new  # type: ignore[return-value]
