"""The Pareto distribution, z = s (1 − u)^{−1/α} by the inverse CDF."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["Pareto"]


class Pareto(ReparamDistribution):
    r"""Pareto (type I) distribution with scale s (the minimum) and tail index α.

    With e = −log(1 − u), a standard exponential draw:

    .. math::
        u \sim \mathcal U(0, 1), \quad z = s\,e^{e/\alpha}, \quad
        \log q(z) = \log\alpha + \alpha\log s - (\alpha + 1)\log z

    The mean is +inf for α ≤ 1 and the variance +inf for α ≤ 2, as in torch.

    Args:
        scale: s > 0, the lower end of the support, with shape (*).
        alpha: α > 0, broadcastable with ``scale``.
        validate_args: check that s and α are positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or ≤ 0, or the shapes do not broadcast.

    References:
        Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions", vol. 1,
        2nd ed., 1994, ch. 20.

    Example:
        >>> q = Pareto(torch.ones(3), torch.tensor([1.0, 2.0, 3.0]))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool((z >= 1).all())
        (torch.Size([5, 3]), True)
    """

    arg_constraints = {"scale": constraints.positive, "alpha": constraints.positive}
    noise = StandardUniform()

    def __init__(
        self,
        scale: Tensor | float,
        alpha: Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self.scale, self.alpha = as_params("Pareto", scale=scale, alpha=alpha)
        super().__init__(self.scale.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.greater_than_eq(self.scale)

    def from_noise(self, eps: Tensor) -> Tensor:
        return self.scale * torch.exp(-torch.log1p(-eps) / self.alpha)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # log dz/du = log z − log α + e, with e = −log(1 − u).
        e = -torch.log1p(-eps)
        return self.scale.log() + e / self.alpha - self.alpha.log() + e

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside = value >= self.scale
        safe = torch.where(inside, value, self.scale)
        a = self.alpha
        lp = a.log() + a * self.scale.log() - (a + 1) * safe.log()
        return torch.where(inside, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        ratio = self.scale / torch.maximum(value, self.scale)
        return -torch.expm1(self.alpha * ratio.log())

    def icdf(self, value: Tensor) -> Tensor:
        return self.scale * torch.exp(-torch.log1p(-value) / self.alpha)

    def entropy(self) -> Tensor:
        return (self.scale / self.alpha).log() + (1 + self.alpha.reciprocal())

    @property
    def mean(self) -> Tensor:
        a = self.alpha.clamp(min=1)
        return a * self.scale / (a - 1)

    @property
    def mode(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        a = self.alpha.clamp(min=2)
        return self.scale.pow(2) * a / ((a - 1).pow(2) * (a - 2))
