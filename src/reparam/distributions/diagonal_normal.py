"""The diagonal-covariance Gaussian over vectors, z = μ + σ ⊙ ε (a VAE encoder's q(z|x))."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints

from ._gaussian import HALF_LOG_2PI
from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardNormal

__all__ = ["DiagonalNormal"]


class DiagonalNormal(ReparamDistribution):
    r"""Gaussian N(μ, diag σ²) over vectors of size d: event shape (d,).

    .. math::
        \varepsilon \sim \mathcal N(0, I_d), \quad z = \mu + \sigma \odot \varepsilon, \quad
        \log q(z) = \sum_{i=1}^d \left(-\tfrac12\varepsilon_i^2 - \log\sigma_i
        - \tfrac12\log 2\pi\right)

    The same law as ``Independent(Normal(loc, scale), 1)`` in one class, with the
    log-density summed over the last dimension.

    Args:
        loc: mean μ, with shape (*, d).
        scale: standard deviations σ > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and σ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or σ ≤ 0, the parameters are scalars, or the
            shapes do not broadcast.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.

    Example:
        >>> q = DiagonalNormal(torch.zeros(4, 3), torch.ones(4, 3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 4, 3]), torch.Size([5, 4]))
    """

    arg_constraints = {
        "loc": constraints.independent(constraints.real, 1),
        "scale": constraints.independent(constraints.positive, 1),
    }
    support = constraints.real_vector
    noise = StandardNormal()

    def __init__(
        self, loc: Tensor | float, scale: Tensor | float, *, validate_args: bool | None = None
    ) -> None:
        self.loc, self.scale = as_params("DiagonalNormal", loc=loc, scale=scale)
        if self.loc.dim() < 1:
            raise ValueError(
                "DiagonalNormal: loc and scale must have shape (*, d) with an event "
                "dimension; got scalars"
            )
        super().__init__(self.loc.shape[:-1], self.loc.shape[-1:], validate_args=validate_args)

    def from_noise(self, eps: Tensor) -> Tensor:
        return torch.addcmul(self.loc, self.scale, eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.scale.log().sum(-1).expand(z.shape[:-1])

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        d = self.event_shape[0]
        return -0.5 * eps.pow(2).sum(-1) - self.scale.log().sum(-1) - d * HALF_LOG_2PI

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        d = self.event_shape[0]
        m = ((value - self.loc) / self.scale).pow(2).sum(-1)
        return -0.5 * m - self.scale.log().sum(-1) - d * HALF_LOG_2PI

    def entropy(self) -> Tensor:
        d = self.event_shape[0]
        return d * (0.5 + HALF_LOG_2PI) + self.scale.log().sum(-1)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2)

    @property
    def covariance_matrix(self) -> Tensor:
        return torch.diag_embed(self.variance)

    @property
    def precision_matrix(self) -> Tensor:
        return torch.diag_embed(self.scale.pow(-2))

    @property
    def scale_tril(self) -> Tensor:
        return torch.diag_embed(self.scale)
