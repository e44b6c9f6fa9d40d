"""The shared part of the real-valued location–scale families: z = μ + s·x(ε)."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution

__all__ = ["LocationScale"]


class LocationScale(ReparamDistribution):
    """Parameters ``loc`` (finite) and ``scale`` (> 0, finite), broadcast; support ℝ.

    A family subclasses it and sets ``noise`` and writes ``from_noise`` and the
    density as usual (see :class:`ReparamDistribution`); this class only owns the
    constructor, the constraints and the support that Normal, Laplace, Logistic,
    Cauchy and Gumbel share.

    Args:
        loc: location μ, with shape (*).
        scale: scale s > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and s positive and finite.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    def __init__(
        self, loc: Tensor | float, scale: Tensor | float, *, validate_args: bool | None = None
    ) -> None:
        self.loc, self.scale = as_params(type(self).__name__, loc=loc, scale=scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _reference(self) -> Tensor:
        return self.loc
