"""The sinh-arcsinh transformation of a normal, z = μ + σ c sinh((arsinh n + s) τ)."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from ._sinh_math import log_cosh, log_sinh, sinh_ratio
from .base import ReparamDistribution
from .cauchy import _log1p_square
from .standard import HALF_LOG_2PI, StandardNormal

__all__ = ["SinhArcsinh"]

_ASINH_2 = math.asinh(2.0)
_LOG_2 = math.log(2.0)


class SinhArcsinh(ReparamDistribution):
    r"""Sinh-arcsinh transformed normal with location μ, scale σ, skewness s, tailweight τ.

    .. math::
        n \sim \mathcal N(0, 1), \quad
        z = \mu + \sigma\,\frac{2\sinh\bigl((\mathrm{arsinh}\,n + s)\,\tau\bigr)}
                               {\sinh(\mathrm{arsinh}(2)\,\tau)}

    The factor c = 2/sinh(arsinh(2) τ) makes P[z − μ ≤ 2σ] = P[n ≤ 2] at s = 0, and
    s = 0, τ = 1 is the normal N(μ, σ²). With x = (z − μ)/(σc) and
    w = arsinh(x)/τ − s, n = sinh w and

    .. math::
        \log q(z) = \log\varphi(\sinh w) + \log\cosh w - \tfrac12\log(1 + x^2)
                    - \log\tau - \log(\sigma c)

    The ratio of the two sinh is evaluated without overflow where each alone would
    overflow (large τ). The moments have no elementary closed form (they involve Bessel
    functions of fractional order): ``mean``, ``variance`` and ``entropy`` raise
    ``NotImplementedError``, as in TFP.

    Args:
        loc: location μ, with shape (*).
        scale: σ > 0, broadcastable with ``loc``.
        skewness: s (any real; s > 0 skews right), broadcastable with ``loc``.
        tailweight: τ > 0 (τ > 1 heavier tails, τ < 1 lighter), broadcastable with ``loc``.
        validate_args: check that μ, s are finite and σ, τ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf, σ ≤ 0 or τ ≤ 0, or the shapes do not broadcast.

    References:
        Jones & Pewsey, "Sinh-arcsinh distributions", Biometrika 96(4), 2009.

    Example:
        >>> q = SinhArcsinh(torch.zeros(3), torch.ones(3), torch.tensor([-1.0, 0.0, 1.0]), 1.5)
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "skewness": constraints.real,
        "tailweight": constraints.positive,
    }
    support = constraints.real
    noise = StandardNormal()

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        skewness: Tensor | float = 0.0,
        tailweight: Tensor | float = 1.0,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.scale, self.skewness, self.tailweight = as_params(
            "SinhArcsinh", loc=loc, scale=scale, skewness=skewness, tailweight=tailweight
        )
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _log_scale(self) -> Tensor:
        """log(σc) = log σ + log 2 − log sinh(arsinh(2) τ)."""
        return self.scale.log() + _LOG_2 - log_sinh(_ASINH_2 * self.tailweight)

    def from_noise(self, eps: Tensor) -> Tensor:
        tau = self.tailweight
        a = (torch.asinh(eps) + self.skewness) * tau
        return self.loc + 2 * self.scale * sinh_ratio(a, _ASINH_2 * tau)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        tau = self.tailweight
        a = (torch.asinh(eps) + self.skewness) * tau
        return self._log_scale() + tau.log() + log_cosh(a) - 0.5 * _log1p_square(eps)

    def _normal_score(self, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(n, w, x) for x = (value − μ)/(σc), w = arsinh(x)/τ − s, n = sinh w."""
        x = (value - self.loc) * torch.exp(-self._log_scale())
        w = torch.asinh(x) / self.tailweight - self.skewness
        return torch.sinh(w), w, x

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        n, w, x = self._normal_score(value)
        log_jac = log_cosh(w) - 0.5 * _log1p_square(x) - self.tailweight.log() - self._log_scale()
        return -0.5 * n * n - HALF_LOG_2PI + log_jac

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return torch.special.ndtr(self._normal_score(value)[0])

    def icdf(self, value: Tensor) -> Tensor:
        return self.from_noise(torch.special.ndtri(value))
