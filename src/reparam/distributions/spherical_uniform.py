r"""The uniform distribution on the unit sphere S^{d−1} ⊂ R^d: z = ε/|ε|, ε ~ N(0, I_d)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.types import _size

from ._sphere_math import log_sphere_area, unit_direction, unit_sphere
from .base import ReparamDistribution
from .standard import StandardNormal

__all__ = ["SphericalUniform"]


class SphericalUniform(ReparamDistribution):
    r"""Uniform distribution on the unit sphere S^{d−1} ⊂ R^d (d = ``dimension``).

    .. math::
        \varepsilon \sim \mathcal N(0, I_d), \quad z = \frac{\varepsilon}{|\varepsilon|},
        \quad \log q(z) = -\log|S^{d-1}| = \operatorname{lgamma}(d/2) - \log 2
        - \tfrac d2 \log\pi

    The density is with respect to the surface measure (for d = 1, S⁰ = {−1, 1} and the
    counting measure: log q = −log 2). The family has no parameters, so z carries no
    gradient; ``entropy`` is log |S^{d−1}|, ``mean`` 0 and ``variance`` 1/d per
    coordinate.

    Args:
        dimension: d ≥ 1, the dimension of the ambient space.
        batch_shape: the batch shape.
        dtype: the dtype of the samples (default: torch's default dtype).
        device: their device.
        validate_args: check samples passed to ``log_prob``.

    Raises:
        ValueError: ``dimension`` is not an int ≥ 1.

    References:
        Muller, "A note on a method for generating points uniformly on n-dimensional
        spheres", Communications of the ACM 2, 1959.

    Example:
        >>> q = SphericalUniform(3, batch_shape=(2,))
        >>> z = q.sample((4,))
        >>> z.shape, bool(torch.allclose(z.norm(dim=-1), torch.ones(4, 2)))
        (torch.Size([4, 2, 3]), True)
    """

    arg_constraints: dict[str, constraints.Constraint] = {}
    support = unit_sphere
    noise = StandardNormal()

    def __init__(
        self,
        dimension: int,
        batch_shape: _size = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise ValueError(f"SphericalUniform: dimension must be an int >= 1, got {dimension!r}")
        self.dimension = dimension
        self._ref = torch.empty(0, dtype=dtype or torch.get_default_dtype(), device=device)
        super().__init__(torch.Size(batch_shape), torch.Size((dimension,)), validate_args)

    def _reference(self) -> Tensor:
        return self._ref

    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> SphericalUniform:
        new = self._get_checked_instance(SphericalUniform, _instance)
        new.dimension, new._ref = self.dimension, self._ref
        ReparamDistribution.__init__(new, torch.Size(batch_shape), self.event_shape, False)
        new._validate_args = self._validate_args
        return new

    def from_noise(self, eps: Tensor) -> Tensor:
        return unit_direction(eps)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.log_prob(z)

    def _constant(self, value: float, shape: torch.Size) -> Tensor:
        return torch.full(shape, value, dtype=self._ref.dtype, device=self._ref.device)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        shape = torch.broadcast_shapes(value.shape[:-1], self.batch_shape)
        return self._constant(-log_sphere_area(self.dimension), shape)

    def entropy(self) -> Tensor:
        return self._constant(log_sphere_area(self.dimension), self.batch_shape)

    @property
    def mean(self) -> Tensor:
        return self._constant(0.0, self.batch_shape + self.event_shape)

    @property
    def variance(self) -> Tensor:
        return self._constant(1.0 / self.dimension, self.batch_shape + self.event_shape)

    def __repr__(self) -> str:
        return (
            f"SphericalUniform(dimension={self.dimension}, batch_shape={tuple(self.batch_shape)})"
        )
