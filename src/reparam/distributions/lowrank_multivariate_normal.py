"""The low-rank-plus-diagonal Gaussian, Σ = W Wᵀ + D, sampled from rank + d noises."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.distributions.utils import lazy_property
from torch.types import _size

from ._gaussian import (
    HALF_LOG_2PI,
    batch_mahalanobis,
    batch_shape_of,
    capacitance_tril,
    tril_solve,
)
from ._params import as_tensors
from .base import ReparamDistribution
from .standard import StandardNormal

__all__ = ["LowRankMultivariateNormal"]


class LowRankMultivariateNormal(ReparamDistribution):
    r"""Multivariate normal with covariance Σ = W Wᵀ + diag(D), W of shape (d, r).

    .. math::
        \varepsilon = (\varepsilon_1, \varepsilon_2) \sim \mathcal N(0, I_{r+d}), \quad
        z = \mu + W\varepsilon_1 + \sqrt{D} \odot \varepsilon_2

    The map from ε (event shape (r + d,)) to z is not a bijection, so log q(z) is the
    Gaussian density at z, computed in O(d r²) with the capacitance matrix
    C = I + Wᵀ D⁻¹ W: the matrix determinant lemma gives
    log det Σ = log det C + Σ log D, and the Woodbury identity gives
    Σ⁻¹ = D⁻¹ − D⁻¹ W C⁻¹ Wᵀ D⁻¹.

    Args:
        loc: mean μ, with shape (*, d).
        cov_factor: W, with shape (*, d, r).
        cov_diag: D > 0, with shape (*, d).
        validate_args: check that μ and W are finite and D positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf, D ≤ 0, or the shapes do not match.

    Example:
        >>> q = LowRankMultivariateNormal(torch.zeros(3), torch.ones(3, 1), torch.ones(3))
        >>> q.noise_event_shape
        torch.Size([4])
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5]))
    """

    arg_constraints = {
        "loc": constraints.real_vector,
        "cov_factor": constraints.independent(constraints.real, 2),
        "cov_diag": constraints.independent(constraints.positive, 1),
    }
    support = constraints.real_vector
    noise = StandardNormal()

    def __init__(
        self,
        loc: Tensor,
        cov_factor: Tensor,
        cov_diag: Tensor,
        *,
        validate_args: bool | None = None,
    ) -> None:
        owner = "LowRankMultivariateNormal"
        loc, cov_factor, cov_diag = as_tensors(
            owner, {"loc": loc, "cov_factor": cov_factor, "cov_diag": cov_diag}
        )
        if loc.dim() < 1:
            raise ValueError(f"{owner}: loc must have shape (*, d); got a scalar")
        d = loc.shape[-1]
        if cov_factor.dim() < 2 or cov_factor.shape[-2] != d:
            raise ValueError(
                f"{owner}: cov_factor must have shape (*, {d}, rank) to match loc of shape "
                f"{tuple(loc.shape)}; got shape {tuple(cov_factor.shape)}"
            )
        if cov_diag.dim() < 1 or cov_diag.shape[-1] != d:
            raise ValueError(
                f"{owner}: cov_diag must have shape (*, {d}) to match loc of shape "
                f"{tuple(loc.shape)}; got shape {tuple(cov_diag.shape)}"
            )
        batch_shape = batch_shape_of(
            owner,
            loc=loc.shape[:-1],
            cov_factor=cov_factor.shape[:-2],
            cov_diag=cov_diag.shape[:-1],
        )
        event_shape = loc.shape[-1:]
        self.loc = loc.expand(batch_shape + event_shape)
        self.cov_factor = cov_factor.expand(batch_shape + cov_factor.shape[-2:])
        self.cov_diag = cov_diag.expand(batch_shape + event_shape)
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        # cholesky_ex never raises: with validation off, invalid D gives NaN, not an error.
        self._capacitance_tril = capacitance_tril(cov_factor, cov_diag)[0]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @property
    def rank(self) -> int:
        """r, the number of columns of W."""
        return self.cov_factor.shape[-1]

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((self.rank + self.event_shape[0],))

    # ----------------------------------------------------------------- the map g
    def from_noise(self, eps: Tensor) -> Tensor:
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        r = self.rank
        low_rank = torch.matmul(W, eps[..., :r].unsqueeze(-1)).squeeze(-1)
        return self.loc + low_rank + D.sqrt() * eps[..., r:]

    def _half_log_det(self) -> Tensor:
        """½ log det Σ by the matrix determinant lemma (unbroadcast batch shape)."""
        C = self._capacitance_tril
        return C.diagonal(dim1=-2, dim2=-1).log().sum(-1) + 0.5 * (
            self._unbroadcasted_cov_diag.log().sum(-1)
        )

    def _log_prob(self, value: Tensor) -> Tensor:
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        x = value - self.loc
        Wt_Dinv_x = torch.matmul((W / D.unsqueeze(-1)).mT, x.unsqueeze(-1)).squeeze(-1)
        m = (x.pow(2) / D).sum(-1) - batch_mahalanobis(self._capacitance_tril, Wt_Dinv_x)
        return -0.5 * m - self._half_log_det() - self.event_shape[0] * HALF_LOG_2PI

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self._log_prob(z)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._log_prob(value)

    def entropy(self) -> Tensor:
        d = self.event_shape[0]
        h = d * (0.5 + HALF_LOG_2PI) + self._half_log_det()
        return h.expand(self.batch_shape)

    # ----------------------------------------------------------------- moments
    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return (W.pow(2).sum(-1) + D).expand(self.batch_shape + self.event_shape)

    @property
    def _matrix_shape(self) -> torch.Size:
        return self.batch_shape + self.event_shape + self.event_shape

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return (torch.matmul(W, W.mT) + torch.diag_embed(D)).expand(self._matrix_shape)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        A = tril_solve(self._capacitance_tril, (W / D.unsqueeze(-1)).mT)  # C^{-1/2} Wᵀ D⁻¹
        P = torch.diag_embed(D.reciprocal()) - torch.matmul(A.mT, A)
        return P.expand(self._matrix_shape)

    @lazy_property
    def scale_tril(self) -> Tensor:
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        n = W.shape[-2]
        # Σ = S K Sᵀ with S = diag(√D) and K = I + (W/√D)(W/√D)ᵀ, so L = S chol(K).
        s = D.sqrt().unsqueeze(-1)
        Wn = W / s
        K = torch.matmul(Wn, Wn.mT) + torch.eye(n, dtype=W.dtype, device=W.device)
        return (s * torch.linalg.cholesky(K)).expand(self._matrix_shape)

    # ----------------------------------------------------------------- shapes
    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> LowRankMultivariateNormal:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(LowRankMultivariateNormal, _instance)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new.cov_factor = self.cov_factor.expand(batch_shape + self.cov_factor.shape[-2:])
        new.cov_diag = self.cov_diag.expand(batch_shape + self.event_shape)
        new._unbroadcasted_cov_factor = self._unbroadcasted_cov_factor
        new._unbroadcasted_cov_diag = self._unbroadcasted_cov_diag
        new._capacitance_tril = self._capacitance_tril
        ReparamDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
