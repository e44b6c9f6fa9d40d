"""The continuous uniform distribution, z = low + (high − low) u."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params, check_params
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["Uniform"]


class Uniform(ReparamDistribution):
    r"""Uniform distribution on the interval [low, high).

    .. math::
        u \sim \mathcal U(0, 1), \quad z = a + (b - a)\,u, \quad
        \log q(z) = -\log(b - a)

    with a = ``low`` and b = ``high``.

    Args:
        low: lower end a, with shape (*).
        high: upper end b > a, broadcastable with ``low``.
        validate_args: check that a and b are finite and a < b.

    Raises:
        ValueError: a parameter is NaN/inf, low ≥ high somewhere, or the shapes do not
            broadcast.

    References:
        Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions", vol. 2,
        2nd ed., 1995, ch. 26.

    Example:
        >>> q = Uniform(torch.zeros(3), torch.tensor([1.0, 2.0, 3.0]))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool(torch.allclose(log_q, -q.entropy()))
        (torch.Size([5, 3]), True)
    """

    noise = StandardUniform()
    _finite = {"low": constraints.real, "high": constraints.real}

    def __init__(
        self, low: Tensor | float, high: Tensor | float, *, validate_args: bool | None = None
    ) -> None:
        self.low, self.high = as_params("Uniform", low=low, high=high)
        super().__init__(self.low.shape, validate_args=validate_args)

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        """low < high and high > low, depending on the other parameter (as torch)."""
        return {
            "low": constraints.less_than(self.high),
            "high": constraints.greater_than(self.low),
        }

    def _param_items(self) -> dict[str, Tensor]:
        return {"low": self.low, "high": self.high}

    def _check_params(self) -> None:
        check_params("Uniform", self._param_items(), self._finite)
        ok = self.low < self.high
        if not bool(ok.all()):
            bad = ~ok
            raise ValueError(
                f"Uniform: parameters 'low' and 'high' (tensors of shape "
                f"{tuple(self.low.shape)}) must satisfy low < high, but found "
                f"low={self.low.detach()[bad]}, high={self.high.detach()[bad]}"
            )

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.interval(self.low, self.high)

    def from_noise(self, eps: Tensor) -> Tensor:
        return torch.addcmul(self.low, self.high - self.low, eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        return (self.high - self.low).log().expand(z.shape)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside = (value >= self.low) & (value < self.high)
        return torch.where(inside, -(self.high - self.low).log(), -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value: Tensor) -> Tensor:
        return self.low + value * (self.high - self.low)

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()

    @property
    def mean(self) -> Tensor:
        return 0.5 * (self.low + self.high)

    @property
    def mode(self) -> Tensor:
        """NaN: every point of [low, high) is a mode (as torch)."""
        return torch.full_like(self.high, math.nan)

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low).pow(2) / 12
