r"""The logistic-normal distribution on the simplex: a Normal through torch's stick-breaking.

With ε ~ N(0, I_K), x = μ + σ ⊙ ε and z = SB(x) ∈ Δ^K (K + 1 components), where SB is
torch's :class:`~torch.distributions.transforms.StickBreakingTransform` (x_k is offset by
log(K − k) so that x = 0 maps to the centre of the simplex):

.. math::
    z_k = \sigma(x_k - \log(K - k)) \prod_{j<k}\bigl(1 - \sigma(x_j - \log(K - j))\bigr),
    \qquad z_{K+1} = 1 - \sum_{k \le K} z_k.

All gradients are explicit.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.distributions.transforms import StickBreakingTransform

from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardNormal

__all__ = ["LogisticNormal"]

_HALF_LOG_2PI = 0.9189385332046727

_STICK = StickBreakingTransform()


class LogisticNormal(ReparamDistribution):
    r"""Logistic-normal distribution: z = stick_breaking(loc + scale · ε), ε ~ N(0, I_K).

    .. math::
        \log q(z) = \sum_{k=1}^{K} \log \mathcal N(x_k; \mu_k, \sigma_k)
        - \log\left|\det \frac{\partial\, \mathrm{SB}}{\partial x}\right|, \qquad
        x = \mathrm{SB}^{-1}(z)

    the density of torch's ``LogisticNormal`` (a ``TransformedDistribution`` of an
    ``Independent`` Normal); as there, the mean and variance have no closed form.

    Args:
        loc: μ with shape (*batch, K), K ≥ 1.
        scale: σ > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and σ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or σ ≤ 0, ``loc`` has no dimension, or the
            shapes do not broadcast.

    Example:
        >>> loc = torch.zeros(2, 3, requires_grad=True)
        >>> q = LogisticNormal(loc, torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, q.noise_event_shape, log_q.shape
        (torch.Size([5, 2, 4]), torch.Size([3]), torch.Size([5, 2]))
        >>> bool(torch.allclose(z.sum(-1), torch.ones(5, 2)))
        True
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.simplex
    noise = StandardNormal()

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.scale = as_params("LogisticNormal", loc=loc, scale=scale)
        if self.loc.dim() < 1:
            raise ValueError(
                "LogisticNormal: parameters 'loc' and 'scale' must have at least one "
                f"dimension (the K of the stick), got shape {tuple(self.loc.shape)}"
            )
        shape = self.loc.shape
        event = torch.Size((shape[-1] + 1,))
        super().__init__(shape[:-1], event, validate_args=validate_args)

    @property
    def noise_event_shape(self) -> torch.Size:
        return self.loc.shape[-1:]

    def from_noise(self, eps: Tensor) -> Tensor:
        return _STICK(self.loc + self.scale * eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        x = self.loc + self.scale * eps
        return torch.log(self.scale).sum(-1) + _STICK.log_abs_det_jacobian(x, z)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = _STICK.inv(value)
        y = (x - self.loc) / self.scale
        normal = (-0.5 * y * y - torch.log(self.scale) - _HALF_LOG_2PI).sum(-1)
        return normal - _STICK.log_abs_det_jacobian(x, value)
