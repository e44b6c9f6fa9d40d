"""The θ-free noise bases p(ε) that every reparameterized distribution draws from.

A base knows how to draw ε, its log-density, the inverse CDF that maps a uniform
point onto it (so quasi-Monte Carlo points can be pushed through it) and its
antithetic reflection (ε ↦ −ε for a symmetric base, u ↦ 1 − u for the uniform).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

__all__ = ["HALF_LOG_2PI", "NoiseBase", "StandardNormal", "StandardUniform"]

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class NoiseBase:
    """A parameter-free distribution p(ε), elementwise and independent.

    Subclasses implement :meth:`sample`, :meth:`log_prob`, :meth:`icdf` and
    :meth:`reflect`; all act elementwise, so a noise tensor of any shape is a
    collection of independent draws.
    """

    name: str = "noise"
    support: constraints.Constraint = constraints.real

    def sample(
        self, shape: torch.Size, *, dtype: torch.dtype, device: torch.device | str
    ) -> Tensor:
        """Draw independent ε with the given shape, dtype and device."""
        raise NotImplementedError

    def log_prob(self, eps: Tensor) -> Tensor:
        """Elementwise log p(ε) (same shape as ``eps``)."""
        raise NotImplementedError

    def icdf(self, u: Tensor) -> Tensor:
        """Map u ∈ (0, 1) to ε = F⁻¹(u) (elementwise)."""
        raise NotImplementedError

    def reflect(self, eps: Tensor) -> Tensor:
        """The antithetic partner of ε, with the same distribution (elementwise)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class StandardNormal(NoiseBase):
    """ε ~ N(0, 1): log p(ε) = −ε²/2 − ½ log 2π, F⁻¹(u) = Φ⁻¹(u) (``ndtri``, accurate in
    both tails, unlike √2 erfinv(2u − 1), which rounds 2u − 1 to −1 below u ≈ 1e-17)."""

    name = "normal"
    support = constraints.real

    def sample(
        self, shape: torch.Size, *, dtype: torch.dtype, device: torch.device | str
    ) -> Tensor:
        return torch.randn(shape, dtype=dtype, device=device)

    def log_prob(self, eps: Tensor) -> Tensor:
        return -0.5 * eps * eps - HALF_LOG_2PI

    def icdf(self, u: Tensor) -> Tensor:
        return torch.special.ndtri(u)

    def reflect(self, eps: Tensor) -> Tensor:
        return -eps


class StandardUniform(NoiseBase):
    """u ~ Uniform(0, 1) on the open interval: log p(u) = 0, F⁻¹(u) = u.

    Draws are clamped to [tiny, 1 − eps/2] of the dtype so that inverse-CDF maps such
    as −log u or log(1 − u) stay finite.
    """

    name = "uniform"
    support = constraints.unit_interval

    def sample(
        self, shape: torch.Size, *, dtype: torch.dtype, device: torch.device | str
    ) -> Tensor:
        u = torch.rand(shape, dtype=dtype, device=device)
        finfo = torch.finfo(dtype)
        return u.clamp_(min=finfo.tiny, max=1.0 - finfo.eps / 2)  # in place: u is ours

    @staticmethod
    def clamp(u: Tensor) -> Tensor:
        """Clamp u into the open interval (0, 1) representable in its dtype."""
        finfo = torch.finfo(u.dtype)
        return u.clamp(min=finfo.tiny, max=1.0 - finfo.eps / 2)

    def log_prob(self, eps: Tensor) -> Tensor:
        return torch.zeros_like(eps)

    def icdf(self, u: Tensor) -> Tensor:
        return self.clamp(u)

    def reflect(self, eps: Tensor) -> Tensor:
        return self.clamp(1.0 - eps)
