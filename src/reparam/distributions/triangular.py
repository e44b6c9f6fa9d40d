"""The triangular distribution on [low, high] with mode ``peak``, by its inverse CDF."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params, check_params, param_error
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["Triangular"]

_LOG_2 = math.log(2.0)


class Triangular(ReparamDistribution):
    r"""Triangular distribution on [a, b] with mode c (``low``, ``high``, ``peak``).

    With L = b − a and p = (c − a)/L, the CDF at the peak:

    .. math::
        u \sim \mathcal U(0, 1), \quad
        z = \begin{cases} a + \sqrt{u L (c - a)} & u < p \\
                          b - \sqrt{(1 - u) L (b - c)} & u \ge p \end{cases}, \quad
        \log q(z) = \log 2 + \tfrac12\log\frac{u}{L(c - a)} \ \text{or}\
                    \log 2 + \tfrac12\log\frac{1 - u}{L(b - c)}

    c = a and c = b (right and left triangles) are allowed: the empty piece is never
    taken, and every branch is evaluated at safe arguments so that no gradient is NaN.
    Mean (a + b + c)/3, variance (L² + (c − a)² + (b − c)²)/36 — TFP's form —, entropy
    ½ + log(L/2).

    Args:
        low: a, with shape (*).
        high: b > a, broadcastable with ``low``.
        peak: the mode c ∈ [a, b], broadcastable with ``low``.
        validate_args: check that a, b, c are finite, a < b and a ≤ c ≤ b.

    Raises:
        ValueError: a parameter is NaN/inf, a ≥ b, c ∉ [a, b], or the shapes do not
            broadcast.

    References:
        Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions", vol. 2,
        2nd ed., 1995, ch. 26 §9; Kotz & van Dorp, "Beyond Beta", World Scientific, 2004.

    Example:
        >>> q = Triangular(torch.zeros(3), torch.ones(3), torch.tensor([0.0, 0.3, 1.0]))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool(((z >= 0) & (z <= 1)).all())
        (torch.Size([5, 3]), True)
    """

    noise = StandardUniform()
    _finite = {"low": constraints.real, "high": constraints.real, "peak": constraints.real}

    def __init__(
        self,
        low: Tensor | float = 0.0,
        high: Tensor | float = 1.0,
        peak: Tensor | float = 0.5,
        validate_args: bool | None = None,
    ) -> None:
        self.low, self.high, self.peak = as_params("Triangular", low=low, high=high, peak=peak)
        super().__init__(self.low.shape, validate_args=validate_args)

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        """low < high, peak ∈ [low, high], each depending on the others."""
        return {
            "low": constraints.less_than(self.high),
            "high": constraints.greater_than(self.low),
            "peak": constraints.interval(self.low, self.high),
        }

    def _param_items(self) -> dict[str, Tensor]:
        return {"low": self.low, "high": self.high, "peak": self.peak}

    def _check_params(self) -> None:
        check_params("Triangular", self._param_items(), self._finite)
        if not bool((self.low < self.high).all()):
            raise param_error("Triangular", "high", self.high, "be > low")
        if not bool(((self.low <= self.peak) & (self.peak <= self.high)).all()):
            raise param_error("Triangular", "peak", self.peak, "lie in [low, high]")

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.interval(self.low, self.high)

    def _pieces(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(left, v, side): u < p; u or 1 − u; the side's width c − a or b − c, made 1
        where the side is not taken (so no logarithm or square root sees 0)."""
        width = self.high - self.low
        left = u * width < self.peak - self.low
        v = torch.where(left, u, 1 - u)
        side = torch.where(left, self.peak - self.low, self.high - self.peak)
        return left, v, torch.where(side > 0, side, torch.ones_like(side))

    def _quantile(self, u: Tensor) -> Tensor:
        left, v, side = self._pieces(u)
        # √v · √(L · side): the product v L side underflows float32 at u ≈ 1e-38
        root = v.sqrt() * torch.sqrt((self.high - self.low) * side)
        return torch.where(left, self.low + root, self.high - root)

    def from_noise(self, eps: Tensor) -> Tensor:
        return self._quantile(eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        _, v, side = self._pieces(eps)
        return 0.5 * ((self.high - self.low).log() + side.log() - v.log()) - _LOG_2

    def _side(self, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(inside, distance, side): value in [a, b]; its distance from the end of its
        side (x − a or b − x, 1 outside); that side's width (1 where empty)."""
        low, high, peak = self.low, self.high, self.peak
        inside = (value >= low) & (value <= high)
        left = (value < peak) | (peak >= high)
        distance = torch.where(left, value - low, high - value)
        distance = torch.where(inside, distance, torch.ones_like(distance))
        side = torch.where(left, peak - low, high - peak)
        return inside, distance, torch.where(side > 0, side, torch.ones_like(side))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside, distance, side = self._side(value)
        lp = _LOG_2 + distance.log() - (self.high - self.low).log() - side.log()
        return torch.where(inside, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value = torch.maximum(torch.minimum(value, self.high), self.low)
        _, distance, side = self._side(value)
        area = distance.pow(2) / ((self.high - self.low) * side)
        left = (value < self.peak) | (self.peak >= self.high)
        return torch.where(left, area, 1 - area)

    def icdf(self, value: Tensor) -> Tensor:
        return self._quantile(value)

    def entropy(self) -> Tensor:
        return 0.5 - _LOG_2 + (self.high - self.low).log()

    @property
    def mean(self) -> Tensor:
        return (self.low + self.high + self.peak) / 3

    @property
    def mode(self) -> Tensor:
        return self.peak

    @property
    def variance(self) -> Tensor:
        low, high, peak = self.low, self.high, self.peak
        return ((high - low).pow(2) + (high - peak).pow(2) + (peak - low).pow(2)) / 36
