r"""The (modified) PERT distribution: a Beta on [low, high] through the implicit Beta noise.

With u = (u₁, u₂) ~ U(0, 1)² and the Beta(α, β) sample x = X/(X + Y) of
:class:`~reparam.distributions.beta.Beta` (X, Y Gamma quantiles of u₁, u₂),

.. math::
    \alpha = 1 + t\,\frac{\text{peak} - \text{low}}{\text{high} - \text{low}}, \quad
    \beta = 1 + t\,\frac{\text{high} - \text{peak}}{\text{high} - \text{low}}, \quad
    z = \text{low} + (\text{high} - \text{low})\,x .

Every parameter reaches z explicitly (the affine map) and through α, β, whose Gamma
quantiles carry the implicit derivative of Figurnov, Mohamed & Mnih (2018,
arXiv:1805.08498). log x and log(1 − x) are formed in float64 (so the density from the
noise is exact near either end), and z is taken from the nearer end (high − w(1 − x) for
x > ½), so it keeps its digits there. Plain Monte Carlo draws X and Y with torch's exact
Gamma sampler (see :class:`~reparam.distributions._gamma_noise.NativeGammaNoise`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints

from ._gamma_noise import LogSpaceNoiseCache, NativeGammaNoise
from ._params import as_params, param_error
from .base import ReparamDistribution
from .beta import beta_entropy, beta_log_parts, log_beta_fn
from .standard import StandardUniform

__all__ = ["PERT"]

_F64 = torch.float64


class PERT(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""PERT distribution on [low, high] with mode ``peak`` and sharpness ``temperature``.

    .. math::
        z = \text{low} + (\text{high} - \text{low})\,x, \quad x \sim \text{Beta}(\alpha, \beta),
        \quad \log q(z) = (\alpha - 1)\log x + (\beta - 1)\log(1 - x) - \log B(\alpha, \beta)
        - \log(\text{high} - \text{low})

    with α, β as in the module docstring (t = ``temperature``; t = 4 is the classical
    PERT). As TFP's ``PERT``: mean (low + t·peak + high)/(t + 2), variance
    (mean − low)(high − mean)/(t + 3), mode ``peak``, entropy that of the Beta plus
    log(high − low). No cdf (torch has no incomplete Beta function).

    Args:
        low: lower end, with shape (*).
        peak: the mode, low < peak < high, broadcastable with ``low``.
        high: upper end, broadcastable with ``low``.
        temperature: t > 0, broadcastable with ``low``.
        validate_args: check that low < peak < high, all finite, and t positive.

    Raises:
        ValueError: a parameter is NaN/inf, peak ∉ (low, high), t ≤ 0, or the shapes do
            not broadcast.

    References:
        Vose, "Risk Analysis: A Quantitative Guide", Wiley 2008 (the modified PERT);
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498.

    Example:
        >>> peak = torch.tensor([2.0, 7.0], requires_grad=True)
        >>> q = PERT(1.0, peak, 11.0)
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, bool(((z >= 1) & (z <= 11)).all())
        (torch.Size([4, 2]), True)
        >>> z.sum().backward()
        >>> bool(torch.isfinite(peak.grad).all())
        True
    """

    arg_constraints = {
        "low": constraints.real,
        "peak": constraints.real,
        "high": constraints.real,
        "temperature": constraints.positive,
    }
    noise = StandardUniform()

    def __init__(
        self,
        low: Tensor | float,
        peak: Tensor | float,
        high: Tensor | float,
        temperature: Tensor | float = 4.0,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.low, self.peak, self.high, self.temperature = as_params(
            "PERT", low=low, peak=peak, high=high, temperature=temperature
        )
        super().__init__(self.low.shape, validate_args=validate_args)

    def _check_params(self) -> None:
        super()._check_params()
        if not bool((self.peak > self.low).all()):
            raise param_error("PERT", "peak", self.peak, "be > low")
        if not bool((self.high > self.peak).all()):
            raise param_error("PERT", "high", self.high, "be > peak")

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.interval(self.low, self.high)

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((2,))

    def _concentrations(self) -> tuple[Tensor, Tensor]:
        """(α, β) = 1 + t (peak − low)/w, 1 + t (high − peak)/w with w = high − low."""
        width = self.high - self.low
        t = self.temperature
        return 1 + t * (self.peak - self.low) / width, 1 + t * (self.high - self.peak) / width

    def _native_concentration(self) -> Tensor:
        return torch.stack(self._concentrations(), -1)

    def _log_parts(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        return beta_log_parts(eps, self._native_concentration(), self._recall_draw(eps))

    def from_noise(self, eps: Tensor) -> Tensor:
        parts = self._log_parts(eps)
        dtype = self.low.dtype
        x, one_minus = torch.exp(parts[0]).to(dtype), torch.exp(parts[1]).to(dtype)
        width = self.high - self.low
        z = torch.where(x <= 0.5, self.low + width * x, self.high - width * one_minus)
        z = torch.minimum(torch.maximum(z, self.low), self.high)
        self._remember(eps, z, parts)
        return z

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_x, log_1mx = self._recall(eps, z, self._log_parts)
        a, b = (c.to(_F64) for c in self._concentrations())
        width = (self.high - self.low).to(_F64)
        lp = (a - 1) * log_x + (b - 1) * log_1mx - log_beta_fn(a, b) - torch.log(width)
        return lp.to(self.low.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, b = self._concentrations()
        width = self.high - self.low
        return (
            torch.xlogy(a - 1, (value - self.low) / width)
            + torch.xlogy(b - 1, (self.high - value) / width)
            - log_beta_fn(a, b)
            - torch.log(width)
        )

    def entropy(self) -> Tensor:
        return beta_entropy(*self._concentrations()) + torch.log(self.high - self.low)

    @property
    def mean(self) -> Tensor:
        t = self.temperature
        return (self.low + t * self.peak + self.high) / (t + 2)

    @property
    def mode(self) -> Tensor:
        return self.peak.expand(self.batch_shape)

    @property
    def variance(self) -> Tensor:
        mean = self.mean
        return (mean - self.low) * ((self.high - mean) / (self.temperature + 3))
