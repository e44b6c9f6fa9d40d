r"""The horseshoe distribution, z = scale·λ·n with λ ~ HalfCauchy(0, 1), n ~ N(0, 1).

Fully explicit: ε = (u₁, u₂) ~ U(0, 1)², λ = tan(πu₁/2) (the inverse CDF of
:class:`~reparam.distributions.half_cauchy.HalfCauchy`), n = Φ⁻¹(u₂), z = scale·λ·n, so
∂z/∂scale = z/scale and every noise strategy applies (antithetic u ↦ 1 − u gives −z).
Two uniforms make one z, so log q is the density at z, which is in closed form through
the exponential integral (Carvalho, Polson & Scott 2010):

.. math::
    q(z) = \frac{1}{\sqrt{2\pi^3}\,\text{scale}}\; e^{x} E_1(x), \qquad
    x = \frac{z^2}{2\,\text{scale}^2},

evaluated exactly by :func:`~reparam.distributions._exp_integral.log_scaled_exp1` (TFP's
``Horseshoe`` uses an elementary approximation of eˣE₁(x) instead).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._exp_integral import log_scaled_exp1
from ._params import as_params
from .base import ReparamDistribution
from .half_cauchy import _standard_icdf
from .standard import StandardUniform

__all__ = ["Horseshoe"]

_F64 = torch.float64
_LOG_NORM = 0.5 * math.log(2 * math.pi**3)


class Horseshoe(ReparamDistribution):
    r"""Horseshoe distribution with global ``scale``: a Normal whose standard deviation is
    scale·λ, λ ~ HalfCauchy(0, 1).

    .. math::
        u \sim \mathcal U(0,1)^2, \quad z = \text{scale}\,\tan(\pi u_1/2)\,\Phi^{-1}(u_2),
        \quad \log q(z) = \log\bigl(e^{x} E_1(x)\bigr) - \tfrac12\log(2\pi^3)
        - \log\text{scale}, \quad x = \frac{z^2}{2\,\text{scale}^2}

    The density is infinite at 0 (log q(0) = +inf) and has Cauchy-like tails. As TFP's
    ``Horseshoe``: mean and mode 0, variance NaN (E[z²] = ∞ and E[z] does not exist).
    No closed-form cdf or entropy.

    Args:
        scale: scale > 0, with shape (*).
        validate_args: check that scale is positive and finite.

    Raises:
        ValueError: scale is NaN/inf or ≤ 0.

    References:
        Carvalho, Polson & Scott, "The horseshoe estimator for sparse signals",
        Biometrika 97(2), 2010.

    Example:
        >>> scale = torch.tensor([0.5, 2.0], requires_grad=True)
        >>> q = Horseshoe(scale)
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, q.noise_event_shape
        (torch.Size([4, 2]), torch.Size([2]))
        >>> torch.exp(-z * z).sum().backward()
        >>> bool(torch.isfinite(scale.grad).all())
        True
    """

    arg_constraints = {"scale": constraints.positive}
    support = constraints.real
    noise = StandardUniform()

    def __init__(self, scale: Tensor | float, *, validate_args: bool | None = None) -> None:
        (self.scale,) = as_params("Horseshoe", scale=scale)
        super().__init__(self.scale.shape, validate_args=validate_args)

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((2,))

    def from_noise(self, eps: Tensor) -> Tensor:
        shrinkage = _standard_icdf(eps[..., 0])
        return self.scale * shrinkage * torch.special.ndtri(eps[..., 1])

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.log_prob(z)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        ratio = value.to(_F64) / self.scale.to(_F64)
        lp = log_scaled_exp1(0.5 * ratio * ratio) - _LOG_NORM - torch.log(self.scale.to(_F64))
        return lp.to(torch.promote_types(value.dtype, self.scale.dtype))

    @property
    def mean(self) -> Tensor:
        return torch.zeros_like(self.scale)

    @property
    def mode(self) -> Tensor:
        return torch.zeros_like(self.scale)

    @property
    def variance(self) -> Tensor:
        return torch.full_like(self.scale, math.nan)
