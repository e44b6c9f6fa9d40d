r"""The α-stable distribution in Nolan's S⁰ parameterization, by Chambers–Mallows–Stuck.

With ε = (u₁, u₂) ~ U(0, 1)², V = π(u₁ − ½) ~ U(−π/2, π/2) and W = −log u₂ ~ Exp(1), the
Chambers–Mallows–Stuck (1976) map in Weron's (1996) form gives the S¹ variable

.. math::
    X_1 = \frac{\sin\alpha V + \zeta\cos\alpha V}{\cos V}\, Q^{(1-\alpha)/\alpha},
    \quad Q = \frac{\cos((1-\alpha)V) + \zeta\sin((1-\alpha)V)}{W\cos V},
    \quad \zeta = \beta\tan\frac{\pi\alpha}{2}

(after cancelling the factors (1 + ζ²)^{1/2α} of Weron's form), and the S⁰ variable is
X₀ = X₁ − ζ. ζ diverges as α → 1 and X₁ − ζ cancels there, so X₀ is evaluated as

.. math::
    X_0 = \frac{\sin\alpha V}{\cos V}\, Q^{E}
    + \zeta\delta\,\Bigl[\frac{\cos\alpha V}{\cos V}\,\frac{Q^{E} - 1}{\delta}
    + \frac{\sin(\frac{1+\alpha}{2}V)\,V\,\mathrm{sinc}(\delta V/2)}{\cos V}\Bigr],
    \quad \delta = 1 - \alpha,\ E = \delta/\alpha,

with ζδ = (2β/π)·k(δ), k(δ) = (πδ/2)/tan(πδ/2), ζ sin(δV) = ζδ·V·sinc(δV) and
(Q^E − 1)/δ = (log Q/α)·(e^y − 1)/y at y = E log Q: every factor is finite and smooth
through α = 1, where X₀ becomes the α = 1 formula tan V + (2β/π)(V tan V + log Q)
exactly (no interpolation, unlike Pyro's sampler near α = 1). z = loc + scale·X₀, so z
is differentiable in all four parameters; everything is evaluated in float64.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_params, param_error
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["Stable"]

_F64 = torch.float64
_SMALL = 1e-5  # below: the Taylor forms of x/tan x and (eʸ − 1)/y (errors < 1e-16)


def _x_over_tan(x: Tensor) -> Tensor:
    """x / tan x, 1 at x = 0 (|x| ≤ π/2), with a finite gradient everywhere."""
    small = x.abs() < _SMALL
    safe = torch.where(small, 1.0, x)
    return torch.where(small, 1 - x * x / 3, safe * torch.cos(safe) / torch.sin(safe))


def _expm1_over(y: Tensor) -> Tensor:
    """(eʸ − 1)/y, 1 at y = 0, with a finite gradient everywhere."""
    small = y.abs() < _SMALL
    safe = torch.where(small, 1.0, y)
    return torch.where(small, 1 + y / 2 + y * y / 6, torch.expm1(safe) / safe)


def _sinc(x: Tensor) -> Tensor:
    """sin x / x (torch's sinc is sin(πx)/(πx))."""
    return torch.sinc(x / math.pi)


def standard_stable_s0(alpha: Tensor, beta: Tensor, u: Tensor, w_uniform: Tensor) -> Tensor:
    """X₀ ~ S⁰(α, β, 1, 0) from u, w_uniform ∈ (0, 1) (float64; see the module docstring)."""
    v = math.pi * (u - 0.5)
    cos_v = torch.sin(math.pi * torch.minimum(u, 1 - u))  # cos V, with its digits near ±π/2
    w = -torch.log(w_uniform)
    delta = 1 - alpha
    zeta_delta = (2 / math.pi) * beta * _x_over_tan(0.5 * math.pi * delta)
    q = (torch.cos(delta * v) + zeta_delta * v * _sinc(delta * v)) / (w * cos_v)
    log_q = torch.log(q.clamp(min=torch.finfo(_F64).tiny))
    y = delta / alpha * log_q
    term1 = torch.sin(alpha * v) / cos_v * torch.exp(y)
    power_minus_one = log_q / alpha * _expm1_over(y)  # (Q^E − 1)/δ
    bracket = (
        torch.cos(alpha * v) * power_minus_one
        + torch.sin(0.5 * (1 + alpha) * v) * v * _sinc(0.5 * delta * v)
    ) / cos_v
    return term1 + zeta_delta * bracket


class Stable(ReparamDistribution):
    r"""Lévy α-stable distribution S⁰(α, β, σ, μ₀), Nolan's continuous parameterization
    (Pyro's ``Stable`` with its default ``coords="S0"``).

    .. math::
        \mathbb E\, e^{itz} = \exp\Bigl(-|\sigma t|^\alpha\bigl[1 + i\beta\,
        \mathrm{sign}(t)\tan\tfrac{\pi\alpha}{2}\,(|\sigma t|^{1-\alpha} - 1)\bigr]
        + i\mu_0 t\Bigr)

    (the limit (2/π) log|σt| replaces tan(πα/2)(|σt|^{1−α} − 1) at α = 1). α = 2 is
    Normal(μ₀, √2 σ) for any β, (α, β) = (1, 0) is Cauchy(μ₀, σ), (½, 1) a Lévy
    distribution shifted by −σ. As Pyro: mean μ₀ − βσ tan(πα/2) for α > 1 (NaN for
    α ≤ 1), variance 2σ² at α = 2 (inf below).

    Sampling is explicit (module docstring), differentiable in all four parameters and
    stable through α = 1. The pathwise gradients are unbiased inside the parameter space
    (tested for 0.5 ≤ α ≤ 1.99, |β| ≤ 0.95); at its ends they are not, for the parameter
    at its end: at |β| = 1 in β and at α = 2 in α (as |β| → 1 or α → 2 the derivative of
    the map concentrates near V = ±π/2, a part the derivative at the end itself misses);
    the other parameters' gradients stay unbiased there.

    There is no closed-form density: ``log_prob`` (and with it ``rsample_and_log_prob``)
    raises NotImplementedError; use the samples (e.g. energy distance, or the
    characteristic function) instead.

    Args:
        stability: α ∈ (0, 2], with shape (*).
        skew: β ∈ [−1, 1], broadcastable with ``stability``.
        scale: σ > 0, broadcastable with ``stability``.
        loc: μ₀ (the S⁰ location), broadcastable with ``stability``.
        coords: ``"S0"`` only (Pyro's default; its discontinuous ``"S"`` is not offered).
        validate_args: check the parameters' ranges and finiteness.

    Raises:
        ValueError: α ∉ (0, 2], β ∉ [−1, 1], σ ≤ 0, a parameter NaN/inf, the shapes do not
            broadcast, or ``coords`` is not ``"S0"``.

    References:
        Chambers, Mallows & Stuck, "A method for simulating stable random variables",
        JASA 71(354), 1976; Weron, "On the Chambers–Mallows–Stuck method for simulating
        skewed stable random variables", Statist. Probab. Lett. 28(2), 1996; Nolan,
        "Numerical calculation of stable densities and distribution functions", Comm.
        Statist. Stochastic Models 13(4), 1997.

    Example:
        >>> alpha = torch.tensor([0.5, 1.0, 1.5], requires_grad=True)
        >>> q = Stable(alpha, torch.tensor([1.0, 0.5, -0.3]))
        >>> z = q.rsample((4,))
        >>> z.shape, q.noise_event_shape
        (torch.Size([4, 3]), torch.Size([2]))
        >>> torch.atan(z).sum().backward()
        >>> bool(torch.isfinite(alpha.grad).all())
        True
    """

    arg_constraints = {
        "stability": constraints.interval(0, 2),  # (0, 2]: 0 is excluded by _check_params
        "skew": constraints.interval(-1, 1),
        "scale": constraints.positive,
        "loc": constraints.real,
    }
    support = constraints.real
    noise = StandardUniform()
    coords = "S0"

    def __init__(
        self,
        stability: Tensor | float,
        skew: Tensor | float,
        scale: Tensor | float = 1.0,
        loc: Tensor | float = 0.0,
        coords: str = "S0",
        *,
        validate_args: bool | None = None,
    ) -> None:
        if coords != "S0":
            raise ValueError(
                f"Stable: coords must be 'S0' (Nolan's continuous parameterization), got "
                f"{coords!r}"
            )
        self.stability, self.skew, self.scale, self.loc = as_params(
            "Stable", stability=stability, skew=skew, scale=scale, loc=loc
        )
        super().__init__(self.stability.shape, validate_args=validate_args)

    def _check_params(self) -> None:
        super()._check_params()
        if not bool((self.stability > 0).all()):
            raise param_error("Stable", "stability", self.stability, "be > 0 and <= 2")

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((2,))

    def from_noise(self, eps: Tensor) -> Tensor:
        e = eps.to(_F64)
        x = standard_stable_s0(self.stability.to(_F64), self.skew.to(_F64), e[..., 0], e[..., 1])
        dtype = self.loc.dtype
        if dtype != _F64:  # beyond the dtype's range: saturate (zero gradient there)
            big = torch.finfo(dtype).max
            x = x.clamp(min=-big, max=big).to(dtype)
        z = self.loc + self.scale * x
        if dtype != _F64:
            big = torch.finfo(dtype).max
            z = z.clamp(min=-big, max=big)
        return z

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError(
            "Stable has no closed-form density (and reparam offers no numerical one): "
            "use samples (rsample) or the characteristic function instead"
        )

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.log_prob(z)

    @property
    def mean(self) -> Tensor:
        alpha = self.stability
        m = self.loc - self.scale * self.skew * torch.tan(0.5 * math.pi * alpha)
        return torch.where(alpha > 1, m, torch.full_like(m, math.nan))

    @property
    def variance(self) -> Tensor:
        v = 2 * self.scale * self.scale
        return torch.where(self.stability == 2, v, torch.full_like(v, math.inf)).expand(
            self.batch_shape
        )
