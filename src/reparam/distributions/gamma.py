r"""The Gamma and χ² distributions, sampled by the inverse CDF with implicit gradients.

With u ~ U(0, 1) and X = P⁻¹(a, u) the standard Gamma(a, 1) quantile (P the regularized
lower incomplete gamma function), z = X / rate. The rate's gradient is explicit,
∂z/∂rate = −z/rate; the concentration's is implicit (Figurnov, Mohamed & Mnih 2018,
arXiv:1805.08498):

.. math::
    \frac{\partial z}{\partial a} = \frac{1}{\text{rate}}\frac{\partial X}{\partial a}
    = -\frac{1}{\text{rate}} \frac{\partial P(a, X)/\partial a}{p(X; a)},

computed by :mod:`reparam.distributions._gamma_math` in float64 (series / continued
fraction differentiated in a; ~1e-14 relative). Everything is carried as log z, so the
density from the noise stays exact where z underflows (a ≲ 1e-2: the median of
Gamma(1e-3, 1) is 2^{−1000}); the returned z is clamped at the dtype's smallest normal
number, as torch's sampler does.

**Plain Monte Carlo fast path.** ``sample_noise(noise="mc")`` draws X with torch's exact
sampler (Marsaglia & Tsang 2000, in float64) and returns its noise u = P(a, X),
remembering (u, log X); ``from_noise`` given that very tensor (unmodified) uses X instead
of inverting P and attaches the same implicit gradient, evaluated at X. So ``rsample`` is
still ``from_noise(sample_noise())`` while noise from anywhere else (antithetic, qmc, a
user's u, or a modified copy) is inverted. Where torch's sampler cannot give log X to
full precision — a < 0.05, where X often underflows, or a draw below 1e-290 — the element
gets u ~ U(0, 1) (below 1e-290: u ~ U(0, P(a, 1e-290)), X conditioned on that event) and
the numerical inverse; every element's u stays exactly uniform.

**float32.** With float32 parameters (and noise) the draw is torch's float32 sampler and
u, ∂ log X/∂a come from the float32 pass of :mod:`._gamma_fast` (the inverse likewise:
Halley steps on that pass), within 1e-6 relative instead of ~1e-14, at 2–4× the speed;
log X stays the exact float64 log of the float32 draw.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints

from ._gamma_math import standard_gamma_dlogx_da
from ._gamma_noise import LogSpaceNoiseCache, NativeGammaNoise, exp_clamped, log_standard_gamma
from ._params import as_params
from .base import ReparamDistribution
from .implicit import ImplicitReparamDistribution

__all__ = ["Chi2", "Gamma"]

_F64 = torch.float64
_EMPTY = torch.Size()


def _log_prob_from_log(a: Tensor, rate: Tensor, log_z: Tensor) -> Tensor:
    """Gamma log density at z = exp(log z): a log rate + (a − 1) log z − rate z − log Γ(a)."""
    return torch.xlogy(a, rate) + (a - 1) * log_z - rate * torch.exp(log_z) - torch.lgamma(a)


class Gamma(NativeGammaNoise, LogSpaceNoiseCache, ImplicitReparamDistribution):
    r"""Gamma distribution with shape a = ``concentration`` and inverse scale ``rate``.

    .. math::
        u \sim \mathcal U(0, 1), \quad z = P^{-1}(a, u)/\text{rate}, \quad
        \log q(z) = a \log \text{rate} + (a - 1)\log z - \text{rate}\, z - \log\Gamma(a)

    Pathwise gradients: explicit in the rate (∂z/∂rate = −z/rate), implicit in a
    (∂z/∂a = −(∂P/∂a)/(rate · p), accurate to ~1e-14 relative). The noise is uniform,
    so antithetic and quasi-Monte Carlo noise apply as for any inverse-CDF family.

    Args:
        concentration: shape a > 0, with shape (*).
        rate: rate > 0, broadcastable with ``concentration``.
        validate_args: check that both are positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or ≤ 0, or the shapes do not broadcast.

    References:
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498; DiDonato & Morris, ACM TOMS 12(4), 1986 (incomplete gamma
        ratios and their inverse).

    Example:
        >>> a = torch.tensor([0.5, 2.0], requires_grad=True)
        >>> q = Gamma(a, torch.tensor([1.0, 3.0]))
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, bool((z > 0).all())
        (torch.Size([4, 2]), True)
        >>> z.sum().backward()
        >>> bool(torch.isfinite(a.grad).all())
        True
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    _validated_numbers = ("log_prob",)  # a number is accepted also with validation (as torch)

    def __init__(
        self,
        concentration: Tensor | float,
        rate: Tensor | float,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.concentration, self.rate = as_params("Gamma", concentration=concentration, rate=rate)
        super().__init__(self.concentration.shape, validate_args=validate_args)

    def _native_concentration(self) -> Tensor:
        return self.concentration

    def _log_z(self, u: Tensor) -> Tensor:
        """log z in float64 with both gradients attached."""
        log_x = log_standard_gamma(u, self.concentration, self._recall_draw(u))
        return log_x - torch.log(self.rate).to(log_x.dtype)

    def from_noise(self, eps: Tensor) -> Tensor:
        log_z = self._log_z(eps)
        z = exp_clamped(log_z, self.rate.dtype)
        self._remember(eps, z, log_z)
        return z

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_z = self._recall(eps, z, self._log_z)
        a, rate = self.concentration.to(_F64), self.rate.to(_F64)
        return _log_prob_from_log(a, rate, log_z).to(self.rate.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, rate = self.concentration, self.rate
        return torch.xlogy(a, rate) + torch.xlogy(a - 1, value) - rate * value - torch.lgamma(a)

    def cdf(self, value: Tensor) -> Tensor:
        """P(a, rate·z), differentiable in z, rate and (implicitly) in a."""
        if self._validate_args:
            self._validate_sample(value)
        return regularized_gamma_p(self.concentration, self.rate * value.clamp(min=0))

    def icdf(self, value: Tensor) -> Tensor:
        """P⁻¹(a, u)/rate with pathwise gradients in a and rate."""
        return exp_clamped(self._log_z(value), self.rate.dtype)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a - torch.log(self.rate) + torch.lgamma(a) + (1.0 - a) * torch.digamma(a)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate.pow(2)


def regularized_gamma_p(a: Tensor, x: Tensor) -> Tensor:
    r"""P(a, x) with gradients in x (torch) and in a: ∂P/∂a = −x p(x; a) ∂ log X/∂a.

    torch's ``gammainc`` has no derivative in its first argument; here it is the implicit
    one, evaluated by :func:`~reparam.distributions._gamma_math.standard_gamma_dlogx_da`.
    """
    a, x = torch.broadcast_tensors(a, x)
    p = torch.special.gammainc(a.detach(), x)
    if not (torch.is_grad_enabled() and a.requires_grad):
        return p
    with torch.no_grad():
        positive = x > 0
        x64 = torch.where(positive, x, 1.0).to(_F64)
        a64 = a.detach().to(_F64)
        log_x = torch.log(x64)
        log_xp = a64 * log_x - x64 - torch.lgamma(a64)
        dp_da = -torch.exp(log_xp) * standard_gamma_dlogx_da(log_x, a64)
        dp_da = torch.where(positive, dp_da, 0.0).to(p.dtype)
    return _attach_keep(p, [(a, dp_da)])


def _attach_keep(value: Tensor, pairs: list[tuple[Tensor, Tensor]]) -> Tensor:
    """``value`` (keeping its own graph) plus (θ − sg θ)·sg(g) for each pair."""
    out = value
    for theta, g in pairs:
        if theta.requires_grad:
            out = out + (theta - theta.detach()) * g.detach()
    return out


class Chi2(Gamma):
    r"""Chi-squared distribution with ``df`` degrees of freedom: Gamma(df/2, rate 1/2).

    .. math::
        u \sim \mathcal U(0, 1), \quad z = 2 P^{-1}(\nu/2, u), \quad
        \log q(z) = (\nu/2 - 1)\log z - z/2 - (\nu/2)\log 2 - \log\Gamma(\nu/2)

    Args:
        df: degrees of freedom ν > 0, with shape (*).
        validate_args: check that ν is positive and finite.

    Raises:
        ValueError: ν is NaN/inf or ≤ 0.

    Example:
        >>> df = torch.tensor([1.0, 4.0], requires_grad=True)
        >>> z = Chi2(df).rsample((3,))
        >>> z.sum().backward()
        >>> z.shape, df.grad.shape
        (torch.Size([3, 2]), torch.Size([2]))
    """

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df: Tensor | float, *, validate_args: bool | None = None) -> None:
        (self.df,) = as_params("Chi2", df=df)
        ReparamDistribution.__init__(self, self.df.shape, validate_args=validate_args)

    @property
    def concentration(self) -> Tensor:  # type: ignore[override]
        return 0.5 * self.df

    @property
    def rate(self) -> Tensor:  # type: ignore[override]
        return torch.full_like(self.df, 0.5)
