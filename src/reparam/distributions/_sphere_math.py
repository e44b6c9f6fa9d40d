r"""Numerics shared by the distributions on the unit sphere S^{d−1} ⊂ R^d.

- :func:`log_sphere_area`, :func:`unit_direction`, :func:`householder` (the reflection
  that carries e₁ to μ, built from whichever of e₁ ∓ μ is long, so never 0/0);
- the von Mises–Fisher angle Θ = arccos(μᵀz), whose density on [0, π] is

.. math::
    p(\theta) = \frac{e^{\kappa\cos\theta}\sin^{d-2}\theta}{Z_d(\kappa)}, \qquad
    Z_d(\kappa) = \int_0^\pi e^{\kappa\cos t}\sin^{d-2}t\,dt
    = \sqrt\pi\,\Gamma\!\bigl(\tfrac{d-1}2\bigr)\bigl(\tfrac2\kappa\bigr)^{d/2-1}
      I_{d/2-1}(\kappa)

(DLMF 10.32.2). In θ the integrand is smooth on the closed interval for every d ≥ 2 (in
w = cos θ it has the end-point factor (1 − w²)^{(d−3)/2}) and unimodal (its mode solves
κ sin²θ = (d − 2) cos θ), so every integral here is one *windowed* Gauss–Legendre rule:
two passes of a 33-point grid shrink [a, b] to where the log-integrand is within 46 of
its maximum (the rest is below e^{−46} of the peak), then 8 panels of 16 nodes (the
reference rule; :data:`FAST` scans less). Over all of [0, π] (:func:`vmf_stats`) the
window comes from the known mode instead (:func:`mode_window`, :data:`MODE`). With
φ(t) = −2κ sin²(t/2) + (d − 2) log sin t = κ(cos t − 1) + (d−2) log sin t the
integrands never overflow.

From it: log C_d(κ) (the vMF normalizer), A_d(κ) = I_{d/2}/I_{d/2−1} = E[cos Θ] and
1 − A_d, the CDF F(θ) = ∫₀^θ p and the implicit derivative at fixed F,

.. math::
    \frac{\partial\theta}{\partial\kappa}\Big|_F = -\frac{\partial F/\partial\kappa}{p(\theta)}
    = -\int_0^\theta (\cos t - A_d)\,e^{\varphi(t)-\varphi(\theta)}\,dt
    = \int_\theta^\pi (\cos t - A_d)\,e^{\varphi(t)-\varphi(\theta)}\,dt,

taken on the side where cos t − A_d keeps one sign (no cancellation). For κ² ≤ d/2 the
normalizer and A_d come from the power series of I_ν instead (A_d is small there and the
quadrature of E[cos Θ] would cancel). Wood's (1994) rejection sampler draws Θ exactly.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.distributions import constraints

from ._params import as_tensors, param_error

__all__ = [
    "FAST",
    "MODE",
    "REFERENCE",
    "Rule",
    "phi",
    "quad_nodes",
    "SphereFamily",
    "check_unit_loc",
    "sphere_params",
    "unit_sphere",
    "unit_tolerance",
    "householder",
    "log_sphere_area",
    "mode_nodes",
    "mode_window",
    "theta_cdf",
    "theta_dkappa",
    "unit_direction",
    "vmf_stats",
    "wood_theta",
]

_F64 = torch.float64
_GRID = 33
_DROP = 46.0
_PANELS = 8
_NODES = 16
# the series is used for κ² ≤ ν + 1, where its k-th term is ≤ 1/(4^k k!) (< 1e-19 at 14)
_SERIES_TERMS = 14
_NEWTON = 3


def log_sphere_area(d: int) -> float:
    """log of the surface area of S^{d−1}: log 2 + (d/2) log π − lgamma(d/2)."""
    return math.log(2.0) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)


def unit_direction(n: Tensor) -> Tensor:
    """n/|n| over the last dimension (uniform on the sphere for Gaussian n; for one
    dimension the sign)."""
    norm = torch.linalg.vector_norm(n, dim=-1, keepdim=True)
    return n / norm.clamp(min=torch.finfo(n.dtype).tiny)


def householder(loc: Tensor, y: Tensor) -> Tensor:
    r"""An orthogonal map carrying e₁ to ``loc`` applied to ``y`` (last dimension).

    With s = sign(μ₁) (+ for μ₁ ≥ 0) and u = e₁ + sμ (so |u|² = 2(1 + |μ₁|) ≥ 2 for a
    unit μ), z = −s (y − 2u uᵀy/|u|²): for μ₁ < 0 the reflection in u⊥ (it maps e₁ to
    μ), for μ₁ ≥ 0 minus the reflection that maps e₁ to −μ. Smooth in μ away from
    μ₁ = 0, never dividing by a small number.
    """
    sign = torch.where(loc[..., :1] >= 0, 1.0, -1.0).to(loc.dtype)
    u = sign * loc
    u = torch.cat([u[..., :1] + 1, u[..., 1:]], -1)
    coef = 2 * (u * y).sum(-1, keepdim=True) / (u * u).sum(-1, keepdim=True)
    return -sign * (y - coef * u)


# --------------------------------------------------------------------- quadrature
class Rule(NamedTuple):
    """A windowed Gauss–Legendre rule: ``passes`` passes of a ``grid``-point scan shrink
    [a, b] to where φ is within 46 of its maximum, then ``panels`` panels of ``nodes``."""

    grid: int
    passes: int
    panels: int
    nodes: int


#: the reference rule (two 33-point passes, 8 panels of 16 nodes)
REFERENCE = Rule(_GRID, 2, _PANELS, _NODES)
#: the fast rule of the angle's per-sample integrals (two 9-point passes, 40 nodes);
#: agrees with REFERENCE to ~1e-11 relatively (tests/distributions/test_sphere.py)
FAST = Rule(9, 2, 1, 40)
#: the rule of :func:`vmf_stats` over [0, π]: no scan (``grid`` 0), the window is found
#: from the mode (:func:`mode_window`), 32 nodes on each side of the mode; agrees with
#: REFERENCE to ~5e-14 relatively, log C_d + κ to ~2e-15 absolutely (test_sphere_fast.py)
MODE = Rule(0, 0, 2, 32)


@lru_cache(maxsize=16)
def _legendre(device: str, panels: int, nodes: int) -> tuple[Tensor, Tensor]:
    x, w = np.polynomial.legendre.leggauss(nodes)
    k = np.arange(panels)[:, None]
    where = ((k + (x[None] + 1) / 2) / panels).reshape(-1)  # in [0, 1]
    weights = np.broadcast_to(w / (2 * panels), (panels, nodes)).reshape(-1)
    return (
        torch.tensor(where, dtype=_F64, device=device),
        torch.tensor(weights.copy(), dtype=_F64, device=device),
    )


def phi(t: Tensor, kappa: Tensor, m: int) -> Tensor:
    """κ(cos t − 1) + m log sin t, written without cancellation."""
    s = torch.sin(0.5 * t)
    out = -2 * kappa * s * s
    # m log sin t, −inf at sin t = 0 for m > 0 (t ∈ [0, π], so sin t ≥ 0)
    return out + m * torch.log(torch.sin(t)) if m else out


def _window(
    a: Tensor, b: Tensor, kappa: Tensor, m: int, rule: Rule
) -> tuple[Tensor, Tensor, Tensor]:
    """[a', b'] ⊂ [a, b] outside which φ < max φ − 46 (φ unimodal), and the grid max."""
    grid = rule.grid
    j = torch.linspace(0.0, 1.0, grid, dtype=_F64, device=a.device)
    idx = torch.arange(grid, device=a.device)
    top = torch.full_like(a, -math.inf)
    for _ in range(rule.passes):
        t = a[..., None] + (b - a)[..., None] * j
        values = phi(t, kappa[..., None], m)
        top = values.max(-1).values
        keep = values >= (top - _DROP)[..., None]
        first = torch.where(keep, idx, grid).min(-1).values
        last = torch.where(keep, idx, -1).max(-1).values
        lo = ((first - 1).clamp(min=0, max=grid - 1)).to(_F64) / (grid - 1)
        hi = ((last + 1).clamp(min=0, max=grid - 1)).to(_F64) / (grid - 1)
        a, b = a + (b - a) * lo, a + (b - a) * hi
    return a, b, top


def quad_nodes(
    a: Tensor,
    b: Tensor,
    kappa: Tensor,
    m: int,
    ref: Tensor | None = None,
    rule: Rule = REFERENCE,
) -> tuple[Tensor, Tensor, Tensor]:
    """(t, w·e^{φ(t) − ref}, ref): nodes and weights of ∫_a^b e^{φ − ref} g for any g."""
    a, b, top = _window(a, b, kappa, m, rule)
    ref = top if ref is None else ref
    x, w = _legendre(str(a.device), rule.panels, rule.nodes)
    t = a[..., None] + (b - a)[..., None] * x
    weight = (b - a)[..., None] * w * torch.exp(phi(t, kappa[..., None], m) - ref[..., None])
    return t, weight, ref


def mode_window(kappa: Tensor, m: int) -> tuple[Tensor, Tensor, Tensor]:
    r"""(t₋, t*, t₊): the mode t* of φ(t) = κ(cos t − 1) + m log sin t on [0, π] and a
    window [t₋, t₊] ∋ t* outside which φ < φ(t*) − 46 (κ > 0).

    In u = sin²(t/2), φ = −2κu + (m/2) log(4u(1 − u)) is concave, with its maximum at
    u* = (1 − cos t*)/2, cos t* = 2κ/(m + √(m² + 4κ²)). The ends solve
    φ(u) = φ(u*) − 48 by Newton steps from u* ± √96 σ (σ the Laplace scale
    1/√(−φ''(u*))), monotone on the far side of the root (concavity); an end where φ is
    not yet 46 below its maximum, or whose start lies outside [0, 1], falls back to 0
    or π (always valid, only wider).
    """
    mf, half = float(m), 0.5 * m
    top = 1 - 2**-53
    if m == 0:  # φ = −2κu: the mode is t = 0 and the end solves 2κu = 48
        u_hi = (0.5 * (_DROP + 2) / kappa).clamp(max=1.0)
        zero = torch.zeros_like(kappa)
        return zero, zero, 2 * torch.asin(torch.sqrt(u_hi))
    r = torch.sqrt(mf * mf + 4 * kappa * kappa)
    u_star = 0.5 * (mf + mf * mf / (r + 2 * kappa)) / (mf + r)
    sigma = torch.rsqrt(half * (1 / (u_star * u_star) + 1 / ((1 - u_star) * (1 - u_star))))
    reach = math.sqrt(2 * (_DROP + 2)) * sigma
    # both ends at once: row 0 the upper end in [u*, 1), row 1 the lower in (0, u*]
    k, us = kappa.expand(2, *kappa.shape), u_star.expand(2, *kappa.shape)
    start = torch.stack((u_star + reach, u_star - reach))
    lo = torch.stack((u_star, torch.full_like(u_star, 1e-300)))
    hi = torch.stack((torch.full_like(u_star, top), u_star))
    shift = half * (torch.log(u_star) + torch.log1p(-u_star)) - (_DROP + 2) - 2 * k * us

    def gap(u: Tensor) -> Tensor:  # φ(u) − φ(u*) + 48
        return half * (torch.log(u) + torch.log1p(-u)) - 2 * k * u - shift

    u = torch.minimum(torch.maximum(start, lo), hi)
    for _ in range(_NEWTON):
        slope = half * (1 / u - 1 / (1 - u)) - 2 * k
        u = torch.minimum(torch.maximum(u - gap(u) / slope, lo), hi)
    # an end not yet 46 below the maximum, or started outside (0, 1): 0 or π instead
    bad = (gap(u) > 2) | (start >= top) | (start <= 0)
    ends = torch.tensor([1.0, 0.0], dtype=u.dtype, device=u.device)
    u = torch.where(bad, ends.reshape(2, *[1] * kappa.dim()), u)
    return (
        2 * torch.asin(torch.sqrt(u[1])),
        2 * torch.asin(torch.sqrt(u_star)),
        2 * torch.asin(torch.sqrt(u[0])),
    )


def mode_nodes(
    kappa: Tensor, m: int, nodes: int = MODE.nodes
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(sin²(t/2), cos t, w·e^{φ(t) − φ(t*)}, φ(t*)) of ∫₀^π e^{φ − φ(t*)} g: ``nodes``
    Gauss–Legendre nodes on each side of the mode t*, in the window of
    :func:`mode_window` (κ > 0). From s = sin(t/2) and c = cos(t/2) only:
    sin t = 2sc, cos t = (c − s)(c + s)."""
    lo, mid, hi = mode_window(kappa, m)
    x, w = _legendre(str(kappa.device), 1, nodes)
    start = torch.stack((lo, mid), -1)[..., None]  # (*, 2, 1): the two sides of t*
    span = torch.stack((mid - lo, hi - mid), -1)[..., None]
    half_t = torch.addcmul(0.5 * start, 0.5 * span, x).flatten(-2)
    weight = (span * w).flatten(-2)
    ref = phi(mid, kappa, m)
    s, c = torch.sin(half_t), torch.cos(half_t)
    q = s * s
    log_f = torch.addcmul((m * math.log(2.0) - ref)[..., None], q, -2 * kappa[..., None])
    if m:  # the nodes are inside (0, π): sin t > 0
        log_f = log_f.add_(torch.log(s * c), alpha=m)
    return q, (c - s) * (c + s), weight.mul_(log_f.exp_()), ref


# --------------------------------------------------------------------- normalizer
def _series(kappa: Tensor, nu: float) -> tuple[Tensor, Tensor]:
    """(log S_ν, log S_{ν+1}), S_ν = Σ_k (κ²/4)^k Γ(ν+1)/(k! Γ(ν+k+1)), so that
    I_ν(κ) = (κ/2)^ν S_ν / Γ(ν + 1)."""
    q = 0.25 * kappa * kappa
    out = []
    for n in (nu, nu + 1):
        term, total = torch.ones_like(kappa), torch.ones_like(kappa)
        for k in range(1, _SERIES_TERMS + 1):
            term = term * q / (k * (n + k))
            total = total + term
        out.append(torch.log(total))
    return out[0], out[1]


def vmf_stats(kappa: Tensor, d: int, rule: Rule = MODE) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(log C_d(κ) + κ, A_d(κ), 1 − A_d(κ), A_d(κ)/κ) in float64, no gradient.

    log C_d(κ) = (d/2 − 1) log κ − (d/2) log 2π − log I_{d/2−1}(κ); A_d/κ is 1/d at κ = 0.
    """
    with torch.no_grad():
        k = kappa.detach().to(_F64)
        nu = 0.5 * d - 1
        const = nu * math.log(2.0) - 0.5 * d * math.log(2 * math.pi)
        # series (small κ): log C = const + lgamma(ν+1) − log S_ν
        log_s0, log_s1 = _series(k, nu)
        a_over_k_series = torch.exp(log_s1 - log_s0) / (2 * (nu + 1))
        log_c_series = const + math.lgamma(nu + 1) - log_s0 + k
        # quadrature: log C + κ = const + ½ log π + lgamma((d−1)/2) − log ∫ e^φ
        kq = k.clamp(min=1e-300)
        if rule.grid == 0:
            sq_half, cos_t, w, ref = mode_nodes(kq, d - 2, rule.nodes)
        else:
            t, w, ref = quad_nodes(
                torch.zeros_like(k), torch.full_like(k, math.pi), kq, d - 2, None, rule
            )
            sq_half, cos_t = torch.sin(0.5 * t) ** 2, torch.cos(t)
        z = w.sum(-1)
        one_minus_q = 2 * (sq_half * w).sum(-1) / z
        a_q = (cos_t * w).sum(-1) / z
        near_one = a_q > 0.5
        a_q, one_minus_q = (
            torch.where(near_one, 1 - one_minus_q, a_q),
            torch.where(near_one, one_minus_q, 1 - a_q),
        )
        log_c_quad = const + 0.5 * math.log(math.pi) + math.lgamma(0.5 * (d - 1)) - torch.log(z)
        log_c_quad = log_c_quad - ref
        small = k * k <= nu + 1
        a = torch.where(small, a_over_k_series * k, a_q)
        one_minus = torch.where(small, 1 - a_over_k_series * k, one_minus_q)
        a_over_k = torch.where(small, a_over_k_series, a_q / kq)
        return torch.where(small, log_c_series, log_c_quad), a, one_minus, a_over_k


# --------------------------------------------------------------------- the angle
def _sides(theta: Tensor, kappa: Tensor, d: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Nodes/weights of ∫₀^θ and ∫_θ^π of e^{φ(t) − φ(θ)}."""
    ref = phi(theta, kappa, d - 2)
    t_lo, w_lo, _ = quad_nodes(torch.zeros_like(theta), theta, kappa, d - 2, ref)
    t_hi, w_hi, _ = quad_nodes(theta, torch.full_like(theta, math.pi), kappa, d - 2, ref)
    return t_lo, w_lo, t_hi, w_hi


def theta_cdf(theta: Tensor, kappa: Tensor, d: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(log F(θ), log(1 − F(θ)), L, U) with L = ∫₀^θ e^{φ−φ(θ)}, U = ∫_θ^π (float64).

    d log F/dθ = 1/L and d log(1 − F)/dθ = −1/U.
    """
    theta, kappa = torch.broadcast_tensors(theta.to(_F64), kappa.to(_F64))
    _, w_lo, _, w_hi = _sides(theta, kappa, d)
    low, up = w_lo.sum(-1), w_hi.sum(-1)
    log_total = torch.log(low + up)
    return torch.log(low) - log_total, torch.log(up) - log_total, low, up


def theta_dkappa(
    theta: Tensor, kappa: Tensor, d: int, a: Tensor, one_minus_a: Tensor, rule: Rule = REFERENCE
) -> Tensor:
    """∂θ/∂κ at fixed F(θ) (float64), by the one-signed side of the integral."""
    theta, kappa, a, one_minus_a = torch.broadcast_tensors(
        theta.to(_F64), kappa.to(_F64), a.to(_F64), one_minus_a.to(_F64)
    )
    ref = phi(theta, kappa, d - 2)
    lower = torch.cos(theta) >= a
    a_side = torch.where(lower, torch.zeros_like(theta), theta)
    b_side = torch.where(lower, theta, torch.full_like(theta, math.pi))
    t, w, _ = quad_nodes(a_side, b_side, kappa, d - 2, ref, rule)
    half = torch.sin(0.5 * t)
    g = ((one_minus_a[..., None] - 2 * half * half) * w).sum(-1)
    return torch.where(lower, -g, g)


def wood_theta(kappa: Tensor, d: int, shape: torch.Size) -> Tensor:
    """Θ for the vMF(κ) on S^{d−1} by Wood's (1994) rejection sampler (float64).

    b = (d − 1)/(2κ + √(4κ² + (d−1)²)), x₀ = (1 − b)/(1 + b), proposal
    w = (1 − (1+b)ε)/(1 − (1−b)ε), ε ~ Beta((d−1)/2, (d−1)/2), accepted when
    κ(w − x₀) + (d−1) log((1 − x₀w)/(1 − x₀²)) ≥ log u. 1 ∓ w are formed directly
    (1 − w = 2bε/(1 − (1−b)ε), 1 + w = 2(1−ε)/(1 − (1−b)ε)), so θ = 2 atan2(√(1−w),
    √(1+w)) keeps full relative precision at both poles.
    """
    with torch.no_grad():
        k = kappa.detach().to(_F64).expand(shape).reshape(-1)
        m = float(d - 1)
        b = m / (2 * k + torch.sqrt(4 * k * k + m * m))
        one_minus_x0 = 2 * b / (1 + b)
        x0 = 1 - one_minus_x0
        log_1mx0sq = torch.log(one_minus_x0 * (1 + x0))
        theta = torch.empty_like(k)
        pending = torch.arange(k.numel(), device=k.device)
        half = torch.full((1,), 0.5 * m, dtype=_F64, device=k.device)
        while pending.numel():
            n = pending.numel()
            bp, kp, x0p = b[pending], k[pending], x0[pending]
            gx = torch._standard_gamma(half.expand(n).contiguous())
            gy = torch._standard_gamma(half.expand(n).contiguous())
            total = gx + gy
            e, one_minus_e = gx / total, gy / total
            denom = 1 - (1 - bp) * e
            omw = 2 * bp * e / denom
            opw = 2 * one_minus_e / denom
            one_minus_x0w = one_minus_x0[pending] + x0p * omw
            log_accept = kp * (one_minus_x0[pending] - omw) + m * (
                torch.log(one_minus_x0w) - log_1mx0sq[pending]
            )
            u = torch.rand(n, dtype=_F64, device=k.device)
            ok = log_accept >= torch.log(u)
            theta[pending[ok]] = 2 * torch.atan2(torch.sqrt(omw[ok]), torch.sqrt(opw[ok]))
            pending = pending[~ok]
        return theta.reshape(shape)


# --------------------------------------------------------------------- parameters
class _UnitSphere(constraints.Constraint):
    """Vectors of unit Euclidean norm (last dimension), to a tolerance of the dtype."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        return (torch.linalg.vector_norm(value, dim=-1) - 1).abs() <= unit_tolerance(value.dtype)

    def __repr__(self) -> str:
        return "UnitSphere()"


unit_sphere = _UnitSphere()


def unit_tolerance(dtype: torch.dtype) -> float:
    """How far from 1 a unit vector's norm may be: 1e-4 in float32, 1e-8 in float64."""
    return 1e-4 if torch.finfo(dtype).bits <= 32 else 1e-8


def sphere_params(owner: str, loc: object, concentration: object) -> tuple[Tensor, Tensor, int]:
    """(loc, concentration, d): one floating dtype, batch shapes broadcast, d ≥ 2.

    Raises:
        ValueError: loc has no last dimension or d < 2, or the batch shapes of ``loc``
            (all but its last dimension) and ``concentration`` do not broadcast.
    """
    loc_t, conc = as_tensors(owner, {"loc": loc, "concentration": concentration})
    if loc_t.dim() < 1:
        raise ValueError(f"{owner}: loc must have shape (*, d), got a scalar")
    d = loc_t.shape[-1]
    if d < 2:
        raise ValueError(f"{owner}: loc must have a last dimension d >= 2, got d = {d}")
    try:
        batch = torch.broadcast_shapes(loc_t.shape[:-1], conc.shape)
    except RuntimeError:
        raise ValueError(
            f"{owner}: the batch shapes of loc {tuple(loc_t.shape[:-1])} (all but its last "
            f"dimension) and concentration {tuple(conc.shape)} cannot be broadcast together"
        ) from None
    return loc_t.expand(batch + (d,)), conc.expand(batch), d


def check_unit_loc(owner: str, loc: Tensor) -> None:
    """ValueError naming ``loc`` unless every loc vector has unit norm."""
    if not bool(unit_sphere.check(loc.detach()).all()):
        norms = torch.linalg.vector_norm(loc.detach(), dim=-1)
        raise param_error(owner, "loc", loc, f"be a unit vector (norms found: {norms})")


class SphereFamily:
    """What the (loc, concentration) families on the sphere share: parameters, their
    checks, ``_dim`` and ``mode`` (mixed in before ReparamDistribution)."""

    arg_constraints = {"loc": constraints.real_vector, "concentration": constraints.nonnegative}
    support = unit_sphere
    loc: Tensor
    concentration: Tensor
    event_shape: torch.Size

    def __init__(
        self, loc: Tensor, concentration: Tensor | float, *, validate_args: bool | None = None
    ) -> None:
        self.loc, self.concentration, d = sphere_params(type(self).__name__, loc, concentration)
        super().__init__(  # type: ignore[call-arg]
            self.concentration.shape, torch.Size((d,)), validate_args=validate_args
        )

    def _check_params(self) -> None:
        super()._check_params()  # type: ignore[misc]
        check_unit_loc(type(self).__name__, self.loc)

    @property
    def _dim(self) -> int:
        return self.event_shape[0]

    @property
    def mode(self) -> Tensor:
        return self.loc
