r"""The von Mises–Fisher angle Θ, fast: one windowed quadrature per sample, and closed
forms at d = 3.

With φ(t) = κ(cos t − 1) + (d − 2) log sin t and Z = ∫₀^π e^φ (known from log C_d, see
:func:`._sphere_math.vmf_stats`), everything about a θ comes from the integral over the
side of θ away from the mean (where cos t − A_d keeps one sign): [0, θ] when
cos θ ≥ A_d, else [θ, π]. With T = ∫_side e^{φ(t)−φ(θ)} dt and log p(θ) = φ(θ) − log Z,
that tail is log T + log p(θ), the other one log(1 − e^{tail}), and

.. math::
    \frac{\partial\theta}{\partial\kappa}\Big|_F = \mp\int_{\text{side}}
    (\cos t - A_d)\,e^{\varphi(t)-\varphi(\theta)}\,dt

(− on the lower side), from the same nodes. The tail below one half keeps full relative
precision. The rule is :data:`._sphere_math.FAST` (two 9-point window scans, 40
Gauss–Legendre nodes), checked against the reference rule in the tests.

At d = 3, with x = 1 − cos θ, y = 1 + cos θ: F(θ) = expm1(−κx)/expm1(−2κ) and
1 − F = expm1(κy)/expm1(2κ), inverted in closed form from the smaller tail, and
∂θ/∂κ at fixed F is explicit (a power series for κ ≤ 1, where the closed form cancels).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._sphere_math import FAST, phi, quad_nodes

__all__ = ["AngleGradient", "angle_dkappa", "angle_noise", "angle_quantile", "d3_angle"]

_F64 = torch.float64
_LOG_HALF = math.log(0.5)
_SERIES = 30

Stats = tuple[Tensor, Tensor, Tensor, Tensor]


def _log_z(log_c_plus_k: Tensor, d: int) -> Tensor:
    """log ∫₀^π e^{φ(t)} dt from log C_d + κ."""
    nu = 0.5 * d - 1
    const = nu * math.log(2.0) - 0.5 * d * math.log(2 * math.pi)
    return const + 0.5 * math.log(math.pi) + math.lgamma(0.5 * (d - 1)) - log_c_plus_k


def _side(
    theta: Tensor, kappa: Tensor, d: int, stats: Stats
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(log F(θ), log(1 − F(θ)), log p(θ), ∂θ/∂κ) in float64, all broadcast."""
    log_ck, a, one_minus_a, _ = stats
    theta, kappa, log_ck, a, one_minus_a = torch.broadcast_tensors(
        theta.to(_F64), kappa.to(_F64), log_ck, a, one_minus_a
    )
    ref = phi(theta, kappa, d - 2)
    lower = torch.cos(theta) >= a
    start = torch.where(lower, torch.zeros_like(theta), theta)
    end = torch.where(lower, theta, torch.full_like(theta, math.pi))
    t, w, _ = quad_nodes(start, end, kappa, d - 2, ref, FAST)
    half = torch.sin(0.5 * t)
    g = ((one_minus_a[..., None] - 2 * half * half) * w).sum(-1)
    log_p = ref - _log_z(log_ck, d)
    tail = (torch.log(w.sum(-1)) + log_p).clamp(max=0.0)
    other = torch.log(-torch.expm1(tail))
    return (
        torch.where(lower, tail, other),
        torch.where(lower, other, tail),
        log_p,
        torch.where(lower, -g, g),
    )


def angle_dkappa(theta: Tensor, kappa: Tensor, d: int, stats: Stats) -> Tensor:
    """∂θ/∂κ at fixed F(θ), float64."""
    return _side(theta, kappa, d, stats)[3]


def angle_noise(theta: Tensor, kappa: Tensor, d: int, stats: Stats) -> tuple[Tensor, Tensor]:
    """(ε₀ with Φ(ε₀) = F(θ), ∂θ/∂κ), float64; ε₀ from the smaller tail."""
    log_f, log_s, _, g = _side(theta, kappa, d, stats)
    tiny = torch.finfo(_F64).tiny
    low = torch.special.ndtri(torch.exp(log_f).clamp(min=tiny))
    high = -torch.special.ndtri(torch.exp(log_s).clamp(min=tiny))
    return torch.where(log_f <= _LOG_HALF, low, high), g


def angle_quantile(
    eps0: Tensor, kappa: Tensor, d: int, stats: Stats, max_iter: int = 60
) -> Tensor:
    """θ with F(θ) = Φ(ε₀) (float64, no gradient): Newton in log F (ε₀ ≤ 0) or in
    log(1 − F) (ε₀ > 0), safeguarded by bisection on [0, π]."""
    with torch.no_grad():
        e, kappa = torch.broadcast_tensors(eps0.to(_F64), kappa.to(_F64))
        stats = tuple(s.expand_as(e) for s in stats)  # type: ignore[assignment]
        upper = e > 0
        target = torch.special.log_ndtr(-e.abs())
        lo, hi = torch.zeros_like(e), torch.full_like(e, math.pi)
        theta = torch.full_like(e, 0.5 * math.pi)
        for _ in range(max_iter):
            log_f, log_s, log_p, _ = _side(theta, kappa, d, stats)
            # r increasing in θ, r' > 0
            r = torch.where(upper, target - log_s, log_f - target)
            slope = torch.exp(log_p - torch.where(upper, log_s, log_f))
            lo = torch.where(r < 0, theta, lo)
            hi = torch.where(r < 0, hi, theta)
            step = theta - r / slope
            bad = ~torch.isfinite(step) | (step <= lo) | (step >= hi)
            new = torch.where(bad, 0.5 * (lo + hi), step)
            done = ((new - theta).abs() <= 4e-16 * theta.clamp(min=1e-300)) | (r == 0)
            theta = new
            if bool(done.all()):
                break
        return theta


# --------------------------------------------------------------------- d = 3
def _k(t: Tensor) -> Tensor:
    """(1 − e^{−t})/t, 1 at t = 0."""
    return torch.where(t > 0, -torch.expm1(-t) / t.clamp(min=1e-300), 1.0)


def _d3_dkappa(x: Tensor, y: Tensor, kappa: Tensor) -> Tensor:
    """∂θ/∂κ at fixed F for d = 3 (x = 1 − cos θ, y = 1 + cos θ, sin θ = √(xy))."""
    big = kappa > 1
    # κ > 1: ∂x/∂κ = (x/κ)(e^{−κy} k(κx)/k(2κ) − 1) for x ≤ 1; = −(y/κ)(k(κy)/k(2κ) − 1)
    kb = torch.where(big, kappa, 2.0)
    k2 = _k(2 * kb)
    near = x <= 1
    sx, sy = torch.sqrt(x), torch.sqrt(y)
    lower = (sx / sy.clamp(min=1e-300)) * (torch.exp(-kb * y) * _k(kb * x) / k2 - 1) / kb
    upper = -(sy / sx.clamp(min=1e-300)) * (_k(kb * y) / k2 - 1) / kb
    closed = torch.where(near, lower, upper)
    # κ ≤ 1: ∂θ/∂κ = −√(xy) Q(κx, 2κ)/h(2κ), Q = Σ_{n≥1} h_{n−1}(a, b)/(n+1)!,
    # h_j the complete homogeneous polynomial of degree j, h(b) = expm1(b)/b
    ks = torch.where(big, 0.0, kappa)
    a, b = ks * x, 2 * ks
    h, power, q = torch.ones_like(a), torch.ones_like(a), 0.5 * torch.ones_like(a)
    fact = 2.0
    for n in range(2, _SERIES + 1):
        power = power * a
        h = b * h + power
        fact *= n + 1
        q = q + h / fact
    hb = torch.where(b > 0, torch.expm1(b) / b.clamp(min=1e-300), 1.0)
    series = -sx * sy * q / hb
    return torch.where(big, closed, series)


def d3_angle(eps0: Tensor, kappa: Tensor) -> tuple[Tensor, Tensor]:
    """(θ, ∂θ/∂κ) with F(θ) = Φ(ε₀) at d = 3, in closed form (float64)."""
    e, k = torch.broadcast_tensors(eps0.to(_F64), kappa.to(_F64))
    pos = k > 0
    ks = torch.where(pos, k, 1.0)
    m = torch.expm1(-2 * ks)
    # ε₀ ≤ 0: F = Φ(ε₀) ≤ ½, x = −log1p(F m)/κ ≤ 1, y = 2 − x
    log_s = torch.special.log_ndtr(-e.abs())  # log F (ε₀ ≤ 0) or log(1 − F) (ε₀ > 0)
    f = torch.exp(log_s)
    x_low = torch.where(pos, -torch.log1p(f * m) / ks, 2 * f)
    # ε₀ > 0: S = 1 − F = Φ(−ε₀), y = log1p(S expm1(2κ))/κ (in logs, no overflow)
    log_m = torch.log(-m)
    y_up = torch.where(
        pos, torch.logaddexp(torch.zeros_like(k), log_s + 2 * ks + log_m) / ks, 2 * f
    )
    x_far = torch.where(pos, -torch.logaddexp(-2 * ks, log_s + log_m) / ks, 2 - y_up)
    x_up = torch.where(y_up <= 1.5, 2 - y_up, x_far)
    upper = e > 0
    x = torch.where(upper, x_up, x_low).clamp(0.0, 2.0)
    y = torch.where(upper, y_up, 2 - x_low).clamp(0.0, 2.0)
    theta = 2 * torch.atan2(torch.sqrt(x), torch.sqrt(y))
    return theta, _d3_dkappa(x, y, k)


# --------------------------------------------------------------------- autograd
class AngleGradient(torch.autograd.Function):
    """θ (value unchanged) with ∂θ/∂κ computed in backward, only when it is needed, from
    (log C_d + κ, A_d, 1 − A_d) of :func:`._sphere_math.vmf_stats`."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        kappa: Tensor,
        theta: Tensor,
        log_ck: Tensor,
        a: Tensor,
        one_minus_a: Tensor,
        d: int,
    ) -> Tensor:
        ctx.d = d  # type: ignore[attr-defined]
        ctx.save_for_backward(kappa.detach(), theta, log_ck, a, one_minus_a)
        return theta.clone()

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, None, None, None, None, None]:
        kappa, theta, log_ck, a, one_minus_a = ctx.saved_tensors  # type: ignore[attr-defined]
        d: int = ctx.d  # type: ignore[attr-defined]
        g = angle_dkappa(theta, kappa, d, (log_ck, a, one_minus_a, a))
        out = (grad.to(_F64) * g).sum_to_size(kappa.shape).to(kappa.dtype)
        return out, None, None, None, None, None
