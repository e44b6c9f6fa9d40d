"""The asymmetric Laplace distribution, z = μ + inverse CDF of one uniform."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["AsymmetricLaplace"]


class AsymmetricLaplace(ReparamDistribution):
    r"""Asymmetric Laplace distribution with location μ, scale σ and asymmetry κ.

    The left scale is l = σκ and the right scale r = σ/κ (σ is their geometric mean and
    κ² their ratio); the mass left of μ is p = l/(l + r) = κ²/(1 + κ²):

    .. math::
        u \sim \mathcal U(0, 1), \quad
        z = \begin{cases} \mu + l\log(u/p) & u < p \\
                          \mu - r\log\bigl((1 - u)/(1 - p)\bigr) & u \ge p \end{cases},
        \quad
        \log q(z) = -\frac{|z - \mu|}{z < \mu\ ?\ l : r} - \log(l + r)

    log p = −softplus(−2 log κ) and log(1 − p) = −softplus(2 log κ), so extreme κ keeps
    both pieces finite. Mean μ + r − l, variance l² + r².

    Args:
        loc: location μ (the mode), with shape (*).
        scale: σ > 0, broadcastable with ``loc``.
        asymmetry: κ > 0 (κ = 1 is the Laplace distribution), broadcastable with ``loc``.
        validate_args: check that μ is finite and σ, κ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf, σ ≤ 0 or κ ≤ 0, or the shapes do not broadcast.

    References:
        Kotz, Kozubowski & Podgórski, "The Laplace Distribution and Generalizations",
        Birkhäuser, 2001, ch. 3; Yu & Zhang, "A three-parameter asymmetric Laplace
        distribution and its extension", Comm. Statist. Theory Methods 34(9), 2005.

    Example:
        >>> q = AsymmetricLaplace(torch.zeros(3), torch.ones(3), torch.tensor([0.5, 1.0, 2.0]))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "asymmetry": constraints.positive,
    }
    support = constraints.real
    noise = StandardUniform()

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        asymmetry: Tensor | float,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.scale, self.asymmetry = as_params(
            "AsymmetricLaplace", loc=loc, scale=scale, asymmetry=asymmetry
        )
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def left_scale(self) -> Tensor:
        """l = σκ, the scale of the exponential tail left of μ."""
        return self.scale * self.asymmetry

    @property
    def right_scale(self) -> Tensor:
        """r = σ/κ, the scale of the exponential tail right of μ."""
        return self.scale / self.asymmetry

    def _log_masses(self) -> tuple[Tensor, Tensor]:
        """(log p, log(1 − p)) with p = κ²/(1 + κ²), the mass left of μ."""
        two_log_k = 2 * self.asymmetry.log()
        return -F.softplus(-two_log_k), -F.softplus(two_log_k)

    def _pieces(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(left, e, log scale): u < p, the exponential distance e ≥ 0 from μ, log l or log r."""
        log_p, log_q = self._log_masses()
        left = u.log() < log_p
        # e = log(p/u) on the left, log((1 − p)/(1 − u)) on the right; each ≥ 0 on its side
        e = torch.where(left, log_p - u.log(), log_q - torch.log1p(-u)).clamp(min=0)
        log_scale = torch.where(left, self.left_scale.log(), self.right_scale.log())
        return left, e, log_scale

    def _quantile(self, u: Tensor) -> Tensor:
        left, e, log_scale = self._pieces(u)
        return self.loc + torch.where(left, -e, e) * log_scale.exp()

    def from_noise(self, eps: Tensor) -> Tensor:
        return self._quantile(eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # dz/du = l/u on the left, r/(1 − u) on the right.
        left, _, log_scale = self._pieces(eps)
        return log_scale - torch.where(left, eps.log(), torch.log1p(-eps))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        x = value - self.loc
        scale = torch.where(x < 0, self.left_scale, self.right_scale)
        return -x.abs() / scale - (self.left_scale + self.right_scale).log()

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_p, log_q = self._log_masses()
        x = value - self.loc
        left = x < 0
        scale = torch.where(left, self.left_scale, self.right_scale)
        tail = torch.exp(torch.where(left, log_p, log_q) - x.abs() / scale)
        return torch.where(left, tail, 1 - tail)

    def icdf(self, value: Tensor) -> Tensor:
        return self._quantile(value)

    def entropy(self) -> Tensor:
        return 1 + (self.left_scale + self.right_scale).log()

    @property
    def mean(self) -> Tensor:
        return self.loc + self.right_scale - self.left_scale

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self.left_scale.pow(2) + self.right_scale.pow(2)
