r"""The projected normal on the unit sphere, z = x/‖x‖ with x ~ N(μ, I): explicit g.

ε ~ N(0, I_d), z = (μ + ε)/‖μ + ε‖. Integrating the normal density along the ray
{r z : r > 0} gives the density on the sphere S^{d−1} (w.r.t. its surface measure), a
function of t = μ·z only (Hernandez-Stumpfegger, Hiltunen & Hunter 2017):

.. math::
    \log q(z) = -\tfrac d2 \log 2\pi - \tfrac12\|\mu\|^2 + \log M_{d-1}(t), \qquad
    M_k(t) = \int_0^\infty r^k e^{-r^2/2 + r t}\, dr.

For d = 2 and 3 (k = 1, 2) M_k has the closed forms M₁ = 1 + t M₀ and M₂ = t + (1 + t²)M₀,
M₀(t) = √(π/2) erfcx(−t/√2), used where t ≥ −3 (below, 1 + t M₀ cancels). Every other
case, and any d, takes the trapezoidal rule in v = log r around the mode of the
log-concave integrand (360 nodes spaced a quarter of its width; for an integrand
analytic in a strip the error is far below float64 rounding), in float64 and in log space,
so it is finite for any t.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_tensors
from .base import ReparamDistribution
from .standard import HALF_LOG_2PI, StandardNormal

__all__ = ["ProjectedNormal"]

_F64 = torch.float64
_NODES = torch.arange(-320, 40, dtype=_F64) * 0.25  # s ∈ [−80, 10): the scaled grid
_LOG_SQRT_HALF_PI = 0.5 * math.log(math.pi / 2)
_CLOSED_FROM = -3.0  # closed forms for k = 1, 2 where t ≥ this


class _Sphere(constraints.Constraint):
    """Unit vectors in the last dimension (to a tolerance of 10 · d · eps of the dtype)."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        tol = 10 * value.shape[-1] * torch.finfo(value.dtype).eps
        return (torch.linalg.vector_norm(value, dim=-1) - 1).abs() <= max(tol, 1e-6)

    def __repr__(self) -> str:
        return "Sphere()"


sphere = _Sphere()


def log_ray_integral(k: int, t: Tensor) -> Tensor:
    r"""log M_k(t) = log ∫₀^∞ r^k e^{−r²/2 + rt} dr in float64, differentiable in t.

    The trapezoidal rule in v = log r on a grid centred at the mode r* of the integrand
    (e^{v*} = r*, the positive root of r² − t r − (k + 1) = 0) and scaled by its width
    1/√(r* √(t² + 4(k+1))); the grid is placed without gradient, the integrand carries it.
    """
    t = t.to(_F64)
    c = float(k + 1)
    with torch.no_grad():
        root = torch.sqrt(t * t + 4 * c)
        r_star = torch.where(t >= 0, 0.5 * (t + root), 2 * c / (root - t))
        width = torch.rsqrt(r_star * root)
        v = torch.log(r_star).unsqueeze(-1) + width.unsqueeze(-1) * _NODES.to(t.device)
    r = torch.exp(v)
    log_f = c * v - 0.5 * r * r + t.unsqueeze(-1) * r
    return torch.logsumexp(log_f, -1) + torch.log(0.25 * width)


def _log_m0(t: Tensor) -> Tensor:
    """log M₀(t) = log(√(π/2) erfcx(−t/√2)), with erfc for t > 0 (erfcx overflows)."""
    pos = t > 0
    t_neg, t_pos = torch.where(pos, 0.0, t), torch.where(pos, t, 0.0)
    small = torch.log(torch.special.erfcx(-t_neg / math.sqrt(2)))
    large = 0.5 * t_pos * t_pos + torch.log(torch.erfc(-t_pos / math.sqrt(2)))
    return _LOG_SQRT_HALF_PI + torch.where(pos, large, small)


def _log_m_closed(k: int, t: Tensor) -> Tensor:
    """log M_k(t) for k = 1, 2 by the closed forms (for t ≥ −3, no cancellation)."""
    log_m0 = _log_m0(t)
    inv_m0 = torch.exp(-log_m0)
    if k == 1:  # M₁ = M₀ (t + 1/M₀)
        return log_m0 + torch.log(t + inv_m0)
    return log_m0 + torch.log(t * inv_m0 + 1 + t * t)  # M₂ = M₀ (t/M₀ + 1 + t²)


def log_m(k: int, t: Tensor) -> Tensor:
    """log M_k(t) in float64: closed forms for k = 1, 2 where t ≥ −3, else the quadrature."""
    t = t.to(_F64)
    if k not in (1, 2):
        return log_ray_integral(k, t)
    closed = t >= _CLOSED_FROM
    out = _log_m_closed(k, torch.where(closed, t, 0.0))
    if bool(closed.all()):
        return out
    return torch.where(closed, out, log_ray_integral(k, torch.where(closed, -10.0, t)))


def _normalize(x: Tensor) -> Tensor:
    """x/‖x‖ in the last dimension; the zero vector goes to the first unit vector."""
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    unit = x / norm.clamp(min=torch.finfo(x.dtype).tiny)
    e0 = torch.zeros_like(x)
    e0[..., 0] = 1.0
    return torch.where(norm > 0, unit, e0)


class ProjectedNormal(ReparamDistribution):
    r"""Projected normal distribution on the unit sphere S^{d−1} (Pyro's signature).

    .. math::
        \varepsilon \sim \mathcal N(0, I_d), \quad z = \frac{\mu + \varepsilon}
        {\|\mu + \varepsilon\|}, \quad
        \log q(z) = -\tfrac d2\log 2\pi - \tfrac12\|\mu\|^2
        + \log\int_0^\infty r^{d-1} e^{-r^2/2 + r\,\mu\cdot z}\,dr

    ``log_prob`` works for every d ≥ 1 (closed forms for d = 2, 3, the quadrature of
    :func:`log_ray_integral` otherwise; see the module docstring), w.r.t. the surface
    measure of the sphere, as Pyro's for d = 2, 3, 4. ``mean`` and ``mode`` are Pyro's:
    μ/‖μ‖ (the centroid, not E[z]). g is not a bijection of ε (d noises onto a (d − 1)-
    manifold), so ``log_prob_from_noise`` is ``log_prob`` of the sample.

    Args:
        concentration: μ with shape (*, d), d ≥ 1, finite.
        validate_args: check μ (and the values given to ``log_prob``).

    Raises:
        ValueError: μ is a scalar or not finite.

    References:
        Hernandez-Stumpfegger, Hiltunen & Hunter, "The General Projected Normal
        Distribution of Arbitrary Dimension: Modeling and Bayesian Inference", Bayesian
        Analysis 12(1), 2017.

    Example:
        >>> mu = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
        >>> z, log_q = ProjectedNormal(mu).rsample_and_log_prob((4,))
        >>> z.shape, bool(torch.allclose(z.norm(dim=-1), torch.ones(4)))
        (torch.Size([4, 3]), True)
        >>> log_q.sum().backward()
        >>> mu.grad.shape
        torch.Size([3])
    """

    arg_constraints = {"concentration": constraints.real_vector}
    support = sphere
    noise = StandardNormal()

    def __init__(self, concentration: Tensor, *, validate_args: bool | None = None) -> None:
        (concentration,) = as_tensors("ProjectedNormal", {"concentration": concentration})
        if concentration.dim() < 1 or concentration.shape[-1] < 1:
            raise ValueError(
                "ProjectedNormal: parameter 'concentration' must have shape (*, d) with d >= 1; "
                f"got shape {tuple(concentration.shape)}"
            )
        self.concentration = concentration
        super().__init__(
            concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args
        )

    def from_noise(self, eps: Tensor) -> Tensor:
        return _normalize(self.concentration + eps)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.log_prob(z)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        mu = self.concentration
        d = mu.shape[-1]
        t = (mu * value).sum(-1)
        return -d * HALF_LOG_2PI - 0.5 * mu.pow(2).sum(-1) + log_m(d - 1, t).to(t.dtype)

    @property
    def mean(self) -> Tensor:
        """Pyro's: μ/‖μ‖, the centroid (minimizing expected squared geodesic distance)."""
        return _normalize(self.concentration)

    @property
    def mode(self) -> Tensor:
        return _normalize(self.concentration)
