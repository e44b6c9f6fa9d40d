"""The multivariate normal distribution, z = μ + L ε with L the Cholesky factor of Σ."""

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
    check_matrix_param,
    precision_from_scale_tril,
    precision_to_scale_tril,
)
from ._params import as_tensors, check_params
from .base import ReparamDistribution
from .standard import StandardNormal

__all__ = ["MultivariateNormal"]

_MATRICES = ("covariance_matrix", "precision_matrix", "scale_tril")
_LOC_CONSTRAINT = {"loc": constraints.real_vector}


class MultivariateNormal(ReparamDistribution):
    r"""Multivariate normal N(μ, Σ), reparameterized through the Cholesky factor Σ = L Lᵀ.

    .. math::
        \varepsilon \sim \mathcal N(0, I_d), \quad z = \mu + L\varepsilon, \quad
        \log q(z) = -\tfrac12\|\varepsilon\|^2 - \textstyle\sum_i \log L_{ii}
        - \tfrac d2 \log 2\pi

    Exactly one of ``covariance_matrix``, ``precision_matrix`` and ``scale_tril`` is
    given; the other two are computed lazily from L. A precision matrix is factored
    without inverting it (Cholesky of the flipped matrix, as torch.distributions does).

    Args:
        loc: mean μ, with shape (*, d).
        covariance_matrix: Σ, symmetric positive definite, with shape (*, d, d).
        precision_matrix: Σ⁻¹, symmetric positive definite, with shape (*, d, d).
        scale_tril: L, lower-triangular with positive diagonal, with shape (*, d, d).
        validate_args: check that μ is finite and the matrix is valid.

    Raises:
        ValueError: not exactly one matrix is given, the shapes do not match, μ is not
            finite, or the matrix is not positive definite / not a Cholesky factor.

    Example:
        >>> q = MultivariateNormal(torch.zeros(3), scale_tril=torch.eye(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5]))
    """

    arg_constraints = {
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    noise = StandardNormal()

    def __init__(
        self,
        loc: Tensor,
        covariance_matrix: Tensor | None = None,
        precision_matrix: Tensor | None = None,
        scale_tril: Tensor | None = None,
        *,
        validate_args: bool | None = None,
    ) -> None:
        given = {
            name: value
            for name, value in zip(
                _MATRICES, (covariance_matrix, precision_matrix, scale_tril), strict=True
            )
            if value is not None
        }
        if len(given) != 1:
            raise ValueError(
                "MultivariateNormal: give exactly one of covariance_matrix, precision_matrix "
                f"or scale_tril; got {', '.join(given) if given else 'none'}"
            )
        ((name, matrix),) = given.items()
        loc, matrix = as_tensors("MultivariateNormal", {"loc": loc, name: matrix})
        if loc.dim() < 1:
            raise ValueError("MultivariateNormal: loc must have shape (*, d); got a scalar")
        d = loc.shape[-1]
        if matrix.dim() < 2 or matrix.shape[-2:] != (d, d):
            raise ValueError(
                f"MultivariateNormal: {name} must have shape (*, {d}, {d}) to match loc of "
                f"shape {tuple(loc.shape)}; got shape {tuple(matrix.shape)}"
            )
        batch_shape = batch_shape_of(
            "MultivariateNormal", loc=loc.shape[:-1], **{name: matrix.shape[:-2]}
        )
        event_shape = loc.shape[-1:]
        self.loc = loc.expand(batch_shape + event_shape)
        setattr(self, name, matrix.expand(batch_shape + (d, d)))
        self._given = name
        self._cholesky_info: Tensor | None = None
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril, self._cholesky_info = torch.linalg.cholesky_ex(matrix)
        else:
            self._unbroadcasted_scale_tril, self._cholesky_info = precision_to_scale_tril(matrix)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    # ----------------------------------------------------------------- validation
    def _check_params(self) -> None:
        owner = type(self).__name__
        check_params(owner, {"loc": self.loc}, _LOC_CONSTRAINT)
        # _cholesky_info is set (not None) for covariance / precision matrices
        check_matrix_param(owner, self._given, self.__dict__[self._given], self._cholesky_info)

    # ----------------------------------------------------------------- the map g
    def _half_log_det(self) -> Tensor:
        """½ log det Σ = Σ log L_ii, with L's (unbroadcast) batch shape."""
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def from_noise(self, eps: Tensor) -> Tensor:
        L = self._unbroadcasted_scale_tril
        return self.loc + torch.matmul(L, eps.unsqueeze(-1)).squeeze(-1)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        return self._half_log_det().expand(z.shape[:-1])

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        d = self.event_shape[0]
        return -0.5 * eps.pow(2).sum(-1) - self._half_log_det() - d * HALF_LOG_2PI

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        d = self.event_shape[0]
        m = batch_mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * m - self._half_log_det() - d * HALF_LOG_2PI

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
        L = self._unbroadcasted_scale_tril
        return L.pow(2).sum(-1).expand(self.batch_shape + self.event_shape)

    @lazy_property
    def scale_tril(self) -> Tensor:
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape)

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril
        return torch.matmul(L, L.mT).expand(self._matrix_shape)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        return precision_from_scale_tril(self._unbroadcasted_scale_tril).expand(self._matrix_shape)

    @property
    def _matrix_shape(self) -> torch.Size:
        return self.batch_shape + self.event_shape + self.event_shape

    # ----------------------------------------------------------------- shapes
    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> MultivariateNormal:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(MultivariateNormal, _instance)
        matrix_shape = batch_shape + self.event_shape + self.event_shape
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        new._given = self._given
        new._cholesky_info = self._cholesky_info
        for name in _MATRICES:
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(matrix_shape))
        ReparamDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
