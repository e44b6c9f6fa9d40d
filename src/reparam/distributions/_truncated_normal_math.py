r"""Numerics of the standard normal truncated to [α, β], stable far in either tail.

Everything is written on the side of the tail: for an interval in the lower half
(β ≤ 0) with log Φ (``torch.special.log_ndtr``, accurate for any x ≤ 0), for one in
the upper half (α ≥ 0) by the mirror image x ↦ −x (so with log Q, Q(x) = Φ(−x)), and
for one that straddles 0 with Φ(α) ≤ ½ and Q(β) ≤ ½ directly. Then

.. math::
    \log Z = \log(\Phi(\beta) - \Phi(\alpha))
      = \log\Phi(\beta) + \log\bigl(1 - e^{\log\Phi(\alpha) - \log\Phi(\beta)}\bigr),
    \qquad
    \log\Phi(\zeta) = \operatorname{logaddexp}\bigl(\log(1-u) + \log\Phi(\alpha),\;
      \log u + \log\Phi(\beta)\bigr)

for the quantile Φ(ζ) = Φ(α) + u (Φ(β) − Φ(α)), inverted by ``ndtri_exp`` (the inverse
of log Φ: ``ndtri`` of exp(y) where that does not underflow, an asymptotic start
otherwise, then Newton's method on log Φ). Nothing overflows or underflows for
|α|, |β| up to ~10¹⁵⁰.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "HALF_LOG_2PI",
    "cdf",
    "derivatives",
    "interval_variance",
    "log1mexp",
    "log_phi",
    "mass_and_ratios",
    "ndtri_exp",
    "quantile",
    "tail_variance",
]

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_LOG_HALF = math.log(0.5)
_SQRT_HALF = math.sqrt(0.5)
_HALF_LOG_HALF_PI = 0.5 * math.log(0.5 * math.pi)
_CUT = 40.0  # the quadratures stop where the density is e^{−40} of its maximum
_NODES = 64


@lru_cache(maxsize=4)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _centred_variance(points: Tensor, log_weights: Tensor) -> Tensor:
    """Variance of the discrete measure Σ eˡʷ δ(points) (last dim), two-pass."""
    weights = torch.exp(log_weights - log_weights.amax(-1, keepdim=True).detach())
    total = weights.sum(-1, keepdim=True)
    mean = (weights * points).sum(-1, keepdim=True) / total
    return ((weights * (points - mean) ** 2).sum(-1, keepdim=True) / total).squeeze(-1)


def _gauss_legendre(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """Nodes on [lo, hi] (new last dim) and log-weights up to a common constant."""
    x_np, w_np = _legendre(_NODES)
    x = torch.as_tensor(x_np, dtype=lo.dtype, device=lo.device)
    w = torch.as_tensor(w_np, dtype=lo.dtype, device=lo.device)
    points = lo[..., None] + 0.5 * (hi - lo)[..., None] * (1 + x)
    return points, torch.log(w)


def tail_variance(a: Tensor, width: Tensor) -> Tensor:
    r"""Var t for the density ∝ e^{−a t − t²/2} on [0, width], a ≥ 0 (width may be inf).

    This is the standard normal truncated to [a, a + width] shifted by a (so, mirrored,
    also the lower tail). The closed form 1 + αφ(α)/Z − … cancels down from O(α²) to
    O(1/α²) terms far in the tail (to ~1e-7 relatively at α = 50), so it is integrated
    here instead: Gauss–Legendre with 64 nodes on [0, min(width, t₄₀)], where
    a t₄₀ + t₄₀²/2 = 40 (beyond, the density is below e^{−40} of its value at 0), and a
    two-pass variance. Differentiable in a and width.
    """
    t_cut = 2 * _CUT / (torch.sqrt(a * a + 2 * _CUT) + a)
    end = torch.minimum(width, t_cut)
    t, log_w = _gauss_legendre(torch.zeros_like(end), end)
    return _centred_variance(t, log_w - a[..., None] * t - 0.5 * t * t)


def interval_variance(alpha: Tensor, beta: Tensor) -> Tensor:
    """Var ζ for the standard normal truncated to a short finite [α, β] (Gauss–Legendre)."""
    zeta, log_w = _gauss_legendre(alpha, beta)
    return _centred_variance(zeta, log_w + log_phi(zeta))


def log_phi(x: Tensor) -> Tensor:
    """log φ(x) = −x²/2 − ½ log 2π (−inf at ±inf)."""
    return -0.5 * x * x - HALF_LOG_2PI


def log1mexp(x: Tensor) -> Tensor:
    """log(1 − eˣ) for x ≤ 0, accurate near 0 and for x → −∞ (Mächler 2012)."""
    near = x > _LOG_HALF
    x_near = torch.where(near, x, torch.full_like(x, _LOG_HALF))
    x_far = torch.where(near, torch.full_like(x, _LOG_HALF), x)
    return torch.where(near, torch.log(-torch.expm1(x_near)), torch.log1p(-torch.exp(x_far)))


def _log_erfcx(x: Tensor) -> Tensor:
    """log erfcx(x/√2) = log R(x) − ½ log(π/2), for x ≥ 0."""
    return torch.log(torch.special.erfcx(x * _SQRT_HALF))


def _log_mills(x: Tensor) -> Tensor:
    """log R(x) = log(Q(x)/φ(x)) = log(√(π/2) erfcx(x/√2)) for x ≥ 0, never underflowing."""
    return _HALF_LOG_HALF_PI + _log_erfcx(x)


def ndtri_exp(y: Tensor, *, max_iter: int = 30) -> Tensor:
    r"""x ≤ 0 with log Φ(x) = y, for y ≤ log ½ (no gradient).

    Start from ``ndtri(exp(y))`` where exp(y) is a normal number, from the asymptotic
    x ≈ −√(t − log t), t = −2y − log 2π, below; then Newton steps
    x ← x − (log Φ(x) − y) Φ(x)/φ(x) to convergence, with Φ(x)/φ(x) = R(−x) the Mills
    ratio (``erfcx``: no difference of two huge logarithms).
    """
    with torch.no_grad():
        t = (-2 * y - 2 * HALF_LOG_2PI).clamp(min=1.0)
        asymptotic = -torch.sqrt((t - torch.log(t)).clamp(min=0.0))
        representable = y > -700.0
        x = torch.where(representable, torch.special.ndtri(torch.exp(y)), asymptotic)
        x = torch.where(y == -math.inf, y, x)
        finite = torch.isfinite(x)
        eps = torch.finfo(y.dtype).eps
        for _ in range(max_iter):
            log_cdf = torch.special.log_ndtr(x)
            step = (log_cdf - y) * torch.exp(_log_mills(-x))
            step = torch.where(finite, step, torch.zeros_like(step))
            x = x - step
            if bool((step.abs() <= 4 * eps * (x.abs() + 1e-300) + 1e-300).all()):
                break
        return x


def _tail_gap(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """((b − a)(b + a)/2, Δ = log Q(b) − log Q(a)) for 0 ≤ a < b ≤ ∞ (−∞ for b = ∞)."""
    finite = torch.isfinite(b)
    b_fin = torch.where(finite, b, a + 1)
    half_gap = 0.5 * (b_fin - a) * (b_fin + a)
    delta = torch.where(finite, -half_gap + _log_mills(b_fin) - _log_mills(a), -b)
    return half_gap, delta


def _upper_tail(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(log Z, φ(a)/Z, φ(b)/Z) for 0 ≤ a < b ≤ ∞, Z = Q(a) − Q(b) = Q(a)(1 − e^Δ).

    With Q = φR: Δ = log Q(b) − log Q(a) = −(b − a)(b + a)/2 + log R(b) − log R(a) and
    φ(a)/Z = 1/(R(a)(1 − e^Δ)): no term of size a² is ever formed, so the ratios keep
    full relative accuracy however far out a is.
    """
    half_gap, delta = _tail_gap(a, b)
    log_ratio_a = -_log_mills(a) - log1mexp(delta)  # log φ(a)/Z
    log_z = log_phi(a) - log_ratio_a
    ratio_b = torch.where(torch.isfinite(b), torch.exp(log_ratio_a - half_gap), 0 * a)
    return log_z, torch.exp(log_ratio_a), ratio_b


def mass_and_ratios(alpha: Tensor, beta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r"""(log Z, φ(α)/Z, φ(β)/Z) for α < β (±inf allowed), Z = Φ(β) − Φ(α) (no gradient).

    A tail interval (α ≥ 0, or β ≤ 0 by the mirror image) through Mills ratios
    (``erfcx``), one around 0 through erf(β/√2) − erf(α/√2) (opposite signs: no
    cancellation). The ratios are 0 at an infinite bound.
    """
    with torch.no_grad():
        upper = alpha >= 0
        lower = beta <= 0
        a = torch.where(upper, alpha, torch.where(lower, -beta, torch.zeros_like(alpha)))
        b = torch.where(upper, beta, torch.where(lower, -alpha, torch.ones_like(beta)))
        log_z_tail, ratio_a, ratio_b = _upper_tail(a, b)
        ratio_lo = torch.where(lower, ratio_b, ratio_a)  # φ(α)/Z
        ratio_hi = torch.where(lower, ratio_a, ratio_b)  # φ(β)/Z
        log_z_mid = torch.log(0.5 * (torch.erf(beta * _SQRT_HALF) - torch.erf(alpha * _SQRT_HALF)))
        mid_lo = torch.exp(log_phi(alpha) - log_z_mid)
        mid_hi = torch.exp(log_phi(beta) - log_z_mid)
        tail = upper | lower
        return (
            torch.where(tail, log_z_tail, log_z_mid),
            torch.where(tail, ratio_lo, mid_lo),
            torch.where(tail, ratio_hi, mid_hi),
        )


def quantile(u: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    r"""ζ ∈ [α, β] with Φ(ζ) = Φ(α) + u (Φ(β) − Φ(α)), for u ∈ (0, 1) (no gradient)."""
    with torch.no_grad():
        u, alpha, beta = torch.broadcast_tensors(u, alpha, beta)
        upper = alpha >= 0
        lower = beta <= 0
        log_u = torch.log(u)
        log_1mu = torch.log1p(-u)
        # Tails, written for the lower one; the upper one is its mirror image
        # (α, β, u) ↦ (−β, −α, 1 − u), ζ ↦ −ζ.
        lo = torch.where(upper, -beta, alpha)
        hi = torch.where(upper, -alpha, beta)
        w_lo = torch.where(upper, log_u, log_1mu)  # log of the weight of Φ(lo)
        w_hi = torch.where(upper, log_1mu, log_u)
        log_target = torch.logaddexp(
            w_lo + torch.special.log_ndtr(lo), w_hi + torch.special.log_ndtr(hi)
        )
        log_target = torch.minimum(log_target, torch.full_like(log_target, _LOG_HALF))
        tail = ndtri_exp(log_target)
        tail = torch.where(upper, -tail, tail)
        # Straddling 0: 2Φ(ζ) − 1 = erf(ζ/√2) = (1 − u) erf(α/√2) + u erf(β/√2), inverted
        # by erfinv near ζ = 0 (where this keeps ζ's relative accuracy, e.g. for a narrow
        # interval around 0); further out, p = Φ(α) + u Z ≤ ½ by ndtri(p), otherwise by
        # −ndtri(1 − p) with 1 − p = Q(β) + (1 − u) Z: sums of non-negative terms.
        erf_a, erf_b = torch.erf(alpha * _SQRT_HALF), torch.erf(beta * _SQRT_HALF)
        centre = (1 - u) * erf_a + u * erf_b
        near_zero = centre.abs() <= 0.5
        mass = 0.5 * (erf_b - erf_a)
        p = torch.special.ndtr(alpha) + u * mass
        q = torch.special.ndtr(-beta) + (1 - u) * mass
        middle = torch.where(
            p <= 0.5, torch.special.ndtri(p.clamp(max=0.5)), -torch.special.ndtri(q.clamp(max=0.5))
        )
        inner = math.sqrt(2.0) * torch.erfinv(torch.where(near_zero, centre, torch.zeros_like(u)))
        middle = torch.where(near_zero, inner, middle)
        zeta = torch.where(upper | lower, tail, middle)
        return torch.minimum(torch.maximum(zeta, alpha), beta)


def cdf(zeta: Tensor, alpha: Tensor, beta: Tensor, log_z: Tensor) -> Tensor:
    r"""(Φ(ζ) − Φ(α))/Z for ζ ∈ [α, β], log Z = ``log_mass(α, β)`` (no gradient).

    Written as (Q(α) − Q(ζ))/Z when α ≥ 0, as (Φ(ζ) − Φ(α))/Z when ζ ≤ 0 and as
    1 − (Q(ζ) − Q(β))/Z otherwise, each difference as log Φ(x) + log(1 − e^{log Φ(y) −
    log Φ(x)}) with Q(x) = Φ(−x): no cancellation and no underflow.
    """
    with torch.no_grad():
        log_ndtr = torch.special.log_ndtr

        def diff(x: Tensor, y: Tensor) -> Tensor:  # (Φ(x) − Φ(y))/Z for y ≤ x
            log_x = log_ndtr(x)
            return torch.exp(log_x + log1mexp(torch.clamp(log_ndtr(y) - log_x, max=0.0)) - log_z)

        upper = diff(-alpha, -zeta)
        left = diff(zeta, alpha)
        right = 1 - diff(-zeta, -beta)
        return torch.where(alpha >= 0, upper, torch.where(zeta <= 0, left, right))


def derivatives(
    u: Tensor, zeta: Tensor, alpha: Tensor, beta: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""(∂ζ/∂α, ∂ζ/∂β, ∂z/∂μ, ∂z/∂σ) at fixed u, for ζ = ``quantile(u, α, β)`` (no grad).

    Around 0 (α < 0 < β) the plain forms gₐ = (1 − u) e^{(ζ − α)(ζ + α)/2},
    g_b = u e^{(ζ − β)(ζ + β)/2}, ∂z/∂μ = 1 − gₐ − g_b, ∂z/∂σ = ζ − αgₐ − βg_b. Far in a
    tail these would carry the rounding of ζ magnified by α (in the exponent) and by α²
    (in 1 − gₐ − g_b: 1e-6 relatively at α = 50, overflow at α = 1e100). There, written
    for the upper tail (the lower one is its mirror image ζ ↦ −ζ, (α, β) ↦ (−β, −α),
    u ↦ 1 − u), Q(ζ) = (1 − u)Q(α) + uQ(β) and Q = φR (R the Mills ratio) give

    .. math::
        g_a = \frac{1 - u}{1 - u + u e^{\Delta}}\,e^{-I_a}, \quad
        g_b = \frac{u e^{\Delta}}{1 - u + u e^{\Delta}}\,e^{I_b}, \quad
        1 - g_a - g_b = g_a\,\mathrm{expm1}(I_a) + g_b\,\mathrm{expm1}(-I_b),

    with Δ = log Q(β) − log Q(α), I_a = log R(α)/R(ζ) ≥ 0, I_b = log R(ζ)/R(β) ≥ 0 (from
    ``erfcx``: ζ's rounding enters only through R'/R ≈ 1/ζ), and ∂z/∂σ = ζ(1 − gₐ − g_b)
    + (ζ − α)gₐ − (β − ζ)g_b. Every term keeps its relative accuracy (≤ 4e-10 against
    mpmath up to α = 50, and finite for any α). Terms of an infinite bound are 0.
    """
    with torch.no_grad():
        zero = torch.zeros_like(zeta)
        alpha_fin, beta_fin = torch.isfinite(alpha), torch.isfinite(beta)
        # Around 0 (finite stand-ins for infinite bounds, whose g is 0).
        a0 = torch.where(alpha_fin, alpha, zero)
        b0 = torch.where(beta_fin, beta, zero)
        g_a0 = torch.exp(torch.log1p(-u) + 0.5 * (zeta - a0) * (zeta + a0))
        g_b0 = torch.exp(torch.log(u) + 0.5 * (zeta - b0) * (zeta + b0))
        g_a0 = torch.where(alpha_fin, g_a0, zero)
        g_b0 = torch.where(beta_fin, g_b0, zero)
        d_loc0 = 1 - g_a0 - g_b0
        d_scale0 = zeta - a0 * g_a0 - b0 * g_b0
        # A tail, mirrored onto the upper one.
        upper = alpha >= 0
        lower = beta <= 0
        tail = upper | lower
        z_m = torch.where(upper, zeta, -zeta)
        a_m = torch.where(upper, alpha, -beta)
        b_m = torch.where(upper, beta, -alpha)
        z_t = torch.where(tail, z_m, zero).clamp(min=0)
        a_t = torch.where(tail, a_m, zero).clamp(min=0)
        b_fin = torch.isfinite(b_m) & tail
        b_t = torch.where(b_fin, b_m, z_t + 1)
        log_w_a = torch.where(upper, torch.log1p(-u), torch.log(u))  # log(1 − u) upstairs
        log_w_b = torch.where(upper, torch.log(u), torch.log1p(-u))
        _, delta = _tail_gap(a_t, torch.where(b_fin, b_t, torch.full_like(b_t, math.inf)))
        log_w_b = log_w_b + delta
        log_mix = torch.logaddexp(log_w_a, log_w_b)  # log Q(ζ)/Q(α)
        log_r_zeta = _log_erfcx(z_t)
        i_a = _log_erfcx(a_t) - log_r_zeta
        i_b = log_r_zeta - _log_erfcx(b_t)
        g_a = torch.exp(log_w_a - log_mix - i_a)
        g_b = torch.where(b_fin, torch.exp(log_w_b - log_mix + i_b), zero)
        d_loc = g_a * torch.expm1(i_a) + torch.where(b_fin, g_b * torch.expm1(-i_b), zero)
        gap_b = torch.where(b_fin, b_t - z_t, zero)
        d_scale = z_t * d_loc + (z_t - a_t) * g_a - gap_b * g_b
        return (
            torch.where(tail, torch.where(upper, g_a, g_b), g_a0),
            torch.where(tail, torch.where(upper, g_b, g_a), g_b0),
            torch.where(tail, d_loc, d_loc0),
            torch.where(tail, torch.where(upper, d_scale, -d_scale), d_scale0),
        )
