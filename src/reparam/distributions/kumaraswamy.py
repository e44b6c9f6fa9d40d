"""The Kumaraswamy distribution on (0, 1), z = (1 − (1 − u)^{1/b})^{1/a} by the inverse CDF."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["Kumaraswamy"]

_EULER_GAMMA = 0.57721566490153286061
_LOG_HALF = math.log(0.5)


def _log1m(u: Tensor) -> Tensor:
    """log(1 − u) for u ∈ [0, 1]; −u below the dtype's eps, where it is exact to rounding
    and where log1p may flush the tiny clamped u to 0 (``torch.set_flush_denormal``)."""
    return torch.where(u < torch.finfo(u.dtype).eps, -u, torch.log1p(-u))


def _log1mexp(x: Tensor) -> Tensor:
    """log(1 − eˣ) for x ≤ 0, accurate for x near 0 and for x → −∞ (Mächler 2012)."""
    near_zero = x > _LOG_HALF
    x_near = torch.where(near_zero, x, torch.full_like(x, _LOG_HALF))
    x_far = torch.where(near_zero, torch.full_like(x, _LOG_HALF), x)
    return torch.where(near_zero, torch.log(-torch.expm1(x_near)), torch.log1p(-torch.exp(x_far)))


def _log1mexp_div(c: Tensor, b: Tensor) -> Tensor:
    """log(1 − exp(c / b)) for c ≤ 0 and b > 0, never relying on a tiny c / b by itself.

    Near 0, with y = c / b, 1 − eʸ = (−c / b) · expm1(y) / y, so the log is
    log(−c) − log b + log(expm1(y) / y), and log(expm1(y) / y) = y/2 + y²/24 + O(y⁴) for
    |y| < 1e-5. For u at the float32 clamp (c = log1p(−u) ≈ −1.2e-38) y is subnormal, and
    compiled kernels may flush it to zero: this form keeps log w finite and exact there.
    """
    y = c / b
    near = y > _LOG_HALF
    small = y > -1e-5
    y_mid = torch.where(near & ~small, y, torch.full_like(y, -1.0))
    log_ratio = torch.where(small, y / 2 + y * y / 24, torch.log(torch.expm1(y_mid) / y_mid))
    c_near = torch.where(near, c, torch.full_like(c, -1.0))
    near_value = torch.log(-c_near) - b.log() + log_ratio
    far_value = torch.log1p(-torch.exp(torch.where(near, torch.full_like(y, _LOG_HALF), y)))
    return torch.where(near, near_value, far_value)


class Kumaraswamy(ReparamDistribution):
    r"""Kumaraswamy distribution on (0, 1) with shapes a = ``concentration1`` and
    b = ``concentration0``: a Beta look-alike whose CDF inverts in closed form.

    With w = 1 − (1 − u)^{1/b} = −expm1(log1p(−u)/b), so that z = w^{1/a}:

    .. math::
        u \sim \mathcal U(0, 1), \quad z = \bigl(1 - (1 - u)^{1/b}\bigr)^{1/a}, \quad
        \log q(z) = \log ab + \frac{a - 1}{a}\log w + \frac{b - 1}{b}\log(1 - u)

    and, in z, log q(z) = log ab + (a − 1) log z + (b − 1) log(1 − zᵃ). Everything is
    written with ``log1p``/``expm1`` so that u or z near 0 or 1 keeps its digits.

    Args:
        concentration1: a > 0 (the Beta's α-like shape), with shape (*).
        concentration0: b > 0 (the Beta's β-like shape), broadcastable with
            ``concentration1``.
        validate_args: check that a and b are positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or ≤ 0, or the shapes do not broadcast.

    References:
        Kumaraswamy, "A generalized probability density function for double-bounded
        random processes", J. Hydrology 46, 1980; Nalisnick & Smyth, "Stick-Breaking
        Variational Autoencoders", 2017, arXiv:1605.06197.

    Example:
        >>> q = Kumaraswamy(torch.full((3,), 2.0), torch.full((3,), 3.0))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool(((z > 0) & (z < 1)).all())
        (torch.Size([5, 3]), True)
    """

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    noise = StandardUniform()

    def __init__(
        self,
        concentration1: Tensor | float,
        concentration0: Tensor | float,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.concentration1, self.concentration0 = as_params(
            "Kumaraswamy", concentration1=concentration1, concentration0=concentration0
        )
        super().__init__(self.concentration1.shape, validate_args=validate_args)

    def _log_w(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """(log w, log(1 − w)) for w = 1 − (1 − u)^{1/b}."""
        log_1mu = _log1m(u)
        return _log1mexp_div(log_1mu, self.concentration0), log_1mu / self.concentration0

    def from_noise(self, eps: Tensor) -> Tensor:
        log_w, _ = self._log_w(eps)
        return torch.exp(log_w / self.concentration1)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        a, b = self.concentration1, self.concentration0
        log_w, log_1mw = self._log_w(eps)
        return -(a.log() + b.log() + (1 - a.reciprocal()) * log_w + (b - 1) * log_1mw)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration1, self.concentration0
        inside = (value >= 0) & (value <= 1)
        z = torch.where(inside, value, torch.full_like(value, 0.5))
        # xlogy and the mask give the limits at z = 0 and z = 1 when a = 1 or b = 1.
        log_1mza = _log1mexp(a * z.log())
        tail = torch.where((z == 1) & (b == 1), 0.0, (b - 1) * log_1mza)
        lp = a.log() + b.log() + torch.xlogy(a - 1, z) + tail
        return torch.where(inside, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        z = value.clamp(0, 1)
        # 1 − (1 − zᵃ)ᵇ = −expm1(b log(1 − zᵃ)), with log(1 − zᵃ) = log1mexp(a log z).
        log_za = self.concentration1 * z.log()
        return -torch.expm1(self.concentration0 * _log1mexp(log_za.clamp(max=0)))

    def icdf(self, value: Tensor) -> Tensor:
        log_w, _ = self._log_w(value)
        return torch.exp(log_w / self.concentration1)

    def _moment(self, n: float) -> Tensor:
        """E[zⁿ] = b B(1 + n/a, b)."""
        a, b = self.concentration1, self.concentration0
        t = 1 + n / a
        return torch.exp(b.log() + torch.lgamma(t) + torch.lgamma(b) - torch.lgamma(t + b))

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        harmonic_b = torch.digamma(b + 1) + _EULER_GAMMA
        return (1 - b.reciprocal()) + (1 - a.reciprocal()) * harmonic_b - (a * b).log()

    @property
    def mean(self) -> Tensor:
        return self._moment(1.0)

    @property
    def mode(self) -> Tensor:
        """((a − 1)/(ab − 1))^{1/a} for a ≥ 1, b ≥ 1, (a, b) ≠ (1, 1); NaN otherwise."""
        a, b = self.concentration1, self.concentration0
        ok = (a >= 1) & (b >= 1) & ((a > 1) | (b > 1))
        ratio = torch.where(ok, (a - 1) / (a * b - 1), torch.full_like(a, math.nan))
        return ratio.pow(a.reciprocal())

    @property
    def variance(self) -> Tensor:
        m1 = self._moment(1.0)
        return self._moment(2.0) - m1 * m1
