r"""Numerics of the centred von Mises distribution on [−π, π): CDF, ∂x/∂κ, quantile.

With q₀(x) = e^{κ(cos x − 1)} / (2π I₀ₑ(κ)) (I₀ₑ = e^{−κ} I₀, ``torch.special.i0e``) and
ρₙ = Iₙ(κ)/I₀(κ), the CDF on [−π, π) is the Fourier series

.. math::
    F(x) = \frac{x + \pi}{2\pi} + \frac1\pi \sum_{n\ge1} \rho_n \frac{\sin nx}{n}, \qquad
    \frac{\partial F}{\partial\kappa} = \frac1\pi\sum_{n\ge1}\rho_n'\frac{\sin nx}{n}, \quad
    \rho_n' = \frac{\rho_{n-1} + \rho_{n+1}}2 - \rho_n\rho_1

(I'ₙ = (Iₙ₋₁ + Iₙ₊₁)/2, I'₀ = I₁), summed by Clenshaw's recurrence. The ratios and
their derivatives come from stable backward recurrences (see :func:`bessel_ratios`);
with ρₙ ≈ e^{−n²/2κ} for large κ the series is cut after the last n with ρₙ/n > 1e-18,
about 8.5√κ terms (6 at κ = 0.01, 15 at κ = 1, 88 at κ = 100, 268 at κ = 10³).

The series is exact to ~1e-16 *absolutely*, not enough where F or q₀ is tiny. For
x ≤ 0 let a = 2κ cos²(x/2) and b = 2κ sin²(x/2) = κ(1 − cos x); the substitution
v = κ(cos x − cos t) in F(x) = ∫_{−π}^{x} q₀ and in ∂F/∂κ = ∫_{−π}^{x} (cos t − ρ₁) q₀ dt
gives, exactly and with *relative* accuracy (the tail representation),

.. math::
    F(x) = q_0(x)\,M_0, \qquad
    \frac{\partial x}{\partial\kappa}\Big|_{F} = -\frac{\partial F/\partial\kappa}{q_0(x)}
    = \Bigl(\frac b\kappa - (1 - \rho_1)\Bigr) M_0 + \frac{M_1}{\kappa}, \qquad
    M_j = \int_0^a \frac{v^j e^{-v}\,dv}{\sqrt{(a - v)(b + v)}},

computed by Gauss–Legendre quadrature: in s with v = a(1 − s²) when a ≤ 70 (which
removes the end-point singularity), on v ∈ [0, 45] otherwise (the rest is below e^{−45}
relatively). It is used where b ≥ 6 or b ≥ 4a (the tails and the neighbourhood of −π),
the series elsewhere (the bulk, where q₀ ≥ e^{−6} q₀(0)). x > 0 follows from
F(−x) = 1 − F(x).

For κ > 10³ (series longer than ~270 terms) the bulk uses instead the same substitution
from the other side, v = κ(1 − cos t) on [x, 0]:

.. math::
    F(x) = \tfrac12 - \frac{G_0}{2\pi I_{0e}(\kappa)}, \quad
    \frac{\partial x}{\partial\kappa}\Big|_F = e^{b}\Bigl((1 - \rho_1)G_0 - \frac{G_1}\kappa\Bigr),
    \quad G_j = 2\int_0^{\sqrt b} \frac{s^{2j} e^{-s^2}\,ds}{\sqrt{2\kappa - s^2}},

also exact (Gauss–Legendre in s), with 1 − ρ₁ from its asymptotic series in 1/κ
(Abramowitz & Stegun 9.7.1; nine terms, exact to rounding for κ ≥ 150, where it is used
everywhere). The cost is then independent of κ.

The quantile solves log F(x) = log u by Newton's method in log space, safeguarded by
bisection on [−π, 0], from Hill's normal approximation F ≈ Φ(β sin(x/2)),
β = √(2/π)/I₀ₑ(κ) (Hill, "Algorithm 518: Incomplete Bessel function I₀. The von Mises
distribution", ACM TOMS 3, 1977).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import Literal, overload

import numpy as np
import torch
from torch import Tensor

from ._tracing import refuse_tracing

__all__ = ["CentredVonMises", "bessel_ratios", "mean_resultant"]

_TAIL_B = 6.0  # b = κ(1 − cos x) from which the tail representation is used
_CASE_A_MAX = 70.0  # a up to which M_j is integrated in s (v = a(1 − s²))
_CASE_B_END = 45.0  # otherwise v ∈ [0, 45]; e^{−45}·45 ≈ 1e-18 is left out
_SERIES_MAX_KAPPA = 1e3  # above: the bulk by quadrature instead of the Fourier series
_ASYMPTOTIC_KAPPA = 150.0  # from here 1 − ρ₁ by its asymptotic series (exact to rounding)
_RHO_CUTOFF = 1e-18
_MAX_NEWTON = 60
_NEWTON_TOL = 1e-11


@lru_cache(maxsize=8)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _nodes(n: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Gauss–Legendre nodes and weights on [−1, 1] with the dtype/device of ``like``."""
    s, w = _legendre(n)
    return (
        torch.as_tensor(s, dtype=like.dtype, device=like.device),
        torch.as_tensor(w, dtype=like.dtype, device=like.device),
    )


def _asymptotic_coefficients(terms: int = 10) -> tuple[list[float], list[float]]:
    """Coefficients of I₀ and of I₀ − I₁ in powers of 1/(κ) (times e^κ/√(2πκ))."""

    def a(k: int, nu: int) -> Fraction:
        mu = 4 * nu * nu
        prod = Fraction(1)
        for j in range(1, k + 1):
            prod *= mu - (2 * j - 1) ** 2
        return Fraction((-1) ** k) * prod / (math.factorial(k) * 8**k)

    i0 = [float(a(k, 0)) for k in range(terms)]
    diff = [float(a(k, 0) - a(k, 1)) for k in range(terms)]
    return i0, diff


_I0_ASYMPTOTIC, _I0_MINUS_I1_ASYMPTOTIC = _asymptotic_coefficients()


def _one_minus_rho1_asymptotic(kappa: Tensor) -> tuple[Tensor, Tensor]:
    """(1 − ρ₁, ∂ρ₁/∂κ) from the large-κ series, exact to rounding (≤ 6e-16) for κ ≥ 150."""
    t = kappa.reciprocal()
    num, den = torch.zeros_like(kappa), torch.zeros_like(kappa)
    d_num, d_den = torch.zeros_like(kappa), torch.zeros_like(kappa)
    for c0, c in zip(reversed(_I0_ASYMPTOTIC), reversed(_I0_MINUS_I1_ASYMPTOTIC), strict=True):
        d_num = d_num * t + num  # Horner for the derivative in t
        d_den = d_den * t + den
        num = num * t + c
        den = den * t + c0
    # 1 − ρ₁ = num/den in t = 1/κ; ∂ρ₁/∂κ = −∂(num/den)/∂t · ∂t/∂κ = t² (num' den − num den')/den²
    return num / den, t * t * (d_num * den - num * d_den) / (den * den)


def mean_resultant(kappa: Tensor) -> tuple[Tensor, Tensor]:
    """(1 − ρ₁, ∂ρ₁/∂κ) for ρ₁ = I₁(κ)/I₀(κ), both to full relative accuracy.

    The backward recurrences of :func:`bessel_ratios` (only n = 1 is kept) for
    κ < 150, the asymptotic series above beyond (the recurrence's rounding grows like
    κ·ε, to 4e-14 at κ = 10³). ∂ρ₁/∂κ = 1 − ρ₁/κ − ρ₁² is O(1/κ²) for large κ and would
    lose a factor κ² to cancellation if computed so. Under ``torch.jit.trace`` it is
    branch-free (the longest recurrence and both forms, selected elementwise), so a trace
    holds for every κ.
    """
    small = kappa.clamp(max=_ASYMPTOTIC_KAPPA)
    tracing = torch.jit.is_tracing()  # then branch-free: the longest recurrence, both forms
    top = _ASYMPTOTIC_KAPPA if tracing else float(small.max()) if small.numel() else 1.0
    start = int(math.ceil(10.0 * math.sqrt(top))) + 40
    r, s, p = torch.zeros_like(small), torch.ones_like(small), torch.zeros_like(small)
    for n in range(start, 0, -1):
        denom = 2 * n + small * r
        s = (2 * n - small * s) / denom
        p = (2 * n - small * small * p) / (denom * denom)
        r = small / denom
    large = kappa >= _ASYMPTOTIC_KAPPA
    if tracing or bool(large.any()):
        s_large, p_large = _one_minus_rho1_asymptotic(kappa.clamp(min=_ASYMPTOTIC_KAPPA))
        s = torch.where(large, s_large, s)
        p = torch.where(large, p_large, p)
    return s, p


def bessel_ratios(kappa: Tensor) -> tuple[Tensor, Tensor]:
    r"""ρₙ = Iₙ(κ)/I₀(κ) and ρₙ' = ∂ρₙ/∂κ for n = 1 … N, N the series length.

    Backward recurrences from r_{M+1} = 0 (M ≈ 10√κ + 40) for rₙ = Iₙ/Iₙ₋₁ = κ/Dₙ,
    Dₙ = 2n + κ rₙ₊₁, and for pₙ = ∂rₙ/∂κ = (2n − κ² pₙ₊₁)/Dₙ²: both are stable backwards
    (errors shrink by rₙ < 1 per step) and free of cancellation, so that ρₙ = Π_{k≤n} r_k
    and ρₙ' = ρₙ Σ_{k≤n} p_k/r_k keep full relative accuracy (3e-14 at κ = 10³). The
    textbook form ρₙ' = (ρₙ₋₁ + ρₙ₊₁)/2 − ρₙρ₁ (the same quantity, since
    I'ₙ = (Iₙ₋₁ + Iₙ₊₁)/2 and I'₀ = I₁) is O(n²/κ²) computed from O(1) terms and loses a
    factor κ² to cancellation (5e-10 at κ = 10³). N is the last n with ρₙ/n > 1e-18
    anywhere in the batch.

    Args:
        kappa: κ > 0 (float64), any shape.

    Returns:
        (ρ, ρ') with shape ``(N, *kappa.shape)`` for n = 1 … N.
    """
    kmax = float(kappa.max()) if kappa.numel() else 1.0
    start = int(math.ceil(10.0 * math.sqrt(kmax))) + 40
    r = torch.zeros_like(kappa)
    p = torch.zeros_like(kappa)
    ratios, log_derivs = [], []
    for n in range(start, 0, -1):
        denom = 2 * n + kappa * r
        p = (2 * n - kappa * kappa * p) / (denom * denom)
        r = kappa / denom
        ratios.append(r)
        log_derivs.append(p / r)
    ratios.reverse()
    log_derivs.reverse()
    rho = torch.cumprod(torch.stack(ratios), 0)
    d_rho = rho * torch.cumsum(torch.stack(log_derivs), 0)
    orders = torch.arange(1, start + 1, dtype=rho.dtype, device=rho.device)
    big = (rho.reshape(start, -1) / orders[:, None]).amax(1) > _RHO_CUTOFF
    last = int(big.nonzero().max()) + 1 if bool(big.any()) else 1
    return rho[:last], d_rho[:last]


def _tail_integrals(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """(M₀, M₁) for 1-D a ≥ 0, b > 0 (see the module docstring)."""
    m0 = torch.empty_like(a)
    m1 = torch.empty_like(a)
    near = a <= _CASE_A_MAX
    # v = a(1 − s²): M_j = 2√a ∫₀¹ vʲ e^{−v} (b + v)^{−1/2} ds, even in s: the positive
    # half of a Gauss–Legendre rule on [−1, 1]; 32 points suffice for a ≤ 2 (where
    # e^{−v} is nearly flat and, with b ≥ 4a or b ≥ 6, (b + v)^{−1/2} is far from
    # singular), 96 up to a = 70.
    small = a <= 2.0
    for group, points in ((near & small, 32), (near & ~small, 96)):
        if not bool(group.any()):
            continue
        s, w = _nodes(points, a)
        keep = s > 0
        s, w = s[keep], w[keep]
        an, bn = a[group, None], b[group, None]
        v = an * ((1 - s) * (1 + s))
        f = w * torch.exp(-v) / torch.sqrt(bn + v)
        scale = 2 * torch.sqrt(an[:, 0])
        m0[group] = scale * f.sum(-1)
        m1[group] = scale * (f * v).sum(-1)
    far = ~near
    if bool(far.any()):
        t, w = _nodes(64, a)
        v = 0.5 * _CASE_B_END * (1 + t)
        w = 0.5 * _CASE_B_END * w
        af, bf = a[far, None], b[far, None]
        f = w * torch.exp(-v) / torch.sqrt((af - v) * (bf + v))
        m0[far] = f.sum(-1)
        m1[far] = (f * v).sum(-1)
    return m0, m1


def _bulk_integrals(b: Tensor, kappa: Tensor) -> tuple[Tensor, Tensor]:
    """(G₀, G₁) for 1-D 0 ≤ b < 6 and κ > 10³ (see the module docstring)."""
    t, w = _nodes(32, b)
    half = 0.5 * torch.sqrt(b)[:, None]
    s2 = (half * (1 + t)) ** 2
    f = (2 * half * w) * torch.exp(-s2) / torch.sqrt(2 * kappa[:, None] - s2)
    return f.sum(-1), (f * s2).sum(-1)


class CentredVonMises:
    r"""The von Mises distribution with mean 0 and concentration κ on [−π, π), in float64.

    Holds the κ-dependent quantities (Bessel ratios, normalizer) of a batch of κ and
    evaluates F(x), ∂x/∂κ at fixed F, and F⁻¹ (see the module docstring). Inputs
    broadcast against ``kappa``; nothing here carries gradients.
    """

    def __init__(self, kappa: Tensor) -> None:
        refuse_tracing("the von Mises CDF numerics (VonMises cdf, icdf, rsample)")
        self.kappa = kappa
        self.large = kappa > _SERIES_MAX_KAPPA
        self.any_large = bool(self.large.any())
        self.all_large = bool(self.large.all())
        self.one_minus_rho1, _ = mean_resultant(kappa)
        if self.all_large:  # the series is not used: no coefficients
            rho = d_rho = torch.zeros((0, *kappa.shape), dtype=kappa.dtype, device=kappa.device)
        else:
            rho, d_rho = bessel_ratios(kappa.clamp(max=_SERIES_MAX_KAPPA))
        self.n_terms = rho.shape[0]
        n = torch.arange(1, self.n_terms + 1, dtype=kappa.dtype, device=kappa.device)
        n = n.reshape(-1, *([1] * kappa.dim()))
        self.sin_coeffs = rho / n  # F: Σ ρₙ sin(nx)/n
        self.dsin_coeffs = d_rho / n  # ∂F/∂κ: Σ ρₙ' sin(nx)/n
        self.log_norm = torch.log(2 * math.pi * torch.special.i0e(kappa))  # log 2π I₀ₑ(κ)

    @staticmethod
    def _series(x: Tensor, coeffs: Tensor) -> Tensor:
        """Σₙ cₙ sin(nx) by Clenshaw's recurrence (cₙ broadcast against x)."""
        two_cos = 2 * torch.cos(x)
        b1 = torch.zeros_like(x)
        b2 = torch.zeros_like(x)
        for c in coeffs.flip(0):
            b1, b2 = c + two_cos * b1 - b2, b1
        return b1 * torch.sin(x)

    @overload
    def _lower(self, y: Tensor, *, with_grad: Literal[True]) -> tuple[Tensor, Tensor, Tensor]: ...
    @overload
    def _lower(self, y: Tensor, *, with_grad: Literal[False]) -> tuple[Tensor, Tensor, None]: ...
    def _lower(self, y: Tensor, *, with_grad: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        """For y ≤ 0: (log F(y), log q₀(y), ∂y/∂κ at fixed F or None)."""
        kappa = self.kappa.expand(y.shape)
        half = 0.5 * y
        a = 2 * kappa * torch.cos(half) ** 2
        b = 2 * kappa * torch.sin(half) ** 2
        log_norm = self.log_norm.expand(y.shape)
        log_q = -b - log_norm
        tail = (b >= _TAIL_B) | (b >= 4 * a)
        if self.all_large:
            log_cdf = torch.zeros_like(y)
            grad = torch.zeros_like(y) if with_grad else None
        else:
            cdf = (y + math.pi) / (2 * math.pi) + self._series(y, self.sin_coeffs) / math.pi
            log_cdf = torch.log(cdf.clamp(min=torch.finfo(y.dtype).tiny))
            grad = None
            if with_grad:
                dcdf = self._series(y, self.dsin_coeffs) / math.pi
                grad = -dcdf * torch.exp(b.clamp(max=_TAIL_B) + log_norm)
        if self.any_large:
            bulk = self.large.expand(y.shape) & ~tail
            if bool(bulk.any()):
                bb, kb = b[bulk], kappa[bulk]
                g0, g1 = _bulk_integrals(bb, kb)
                cdf_bulk = 0.5 - g0 * torch.exp(-log_norm[bulk])
                log_cdf = log_cdf.masked_scatter(bulk, torch.log(cdf_bulk))
                if grad is not None:
                    s1 = self.one_minus_rho1.expand(y.shape)[bulk]
                    grad = grad.masked_scatter(bulk, torch.exp(bb) * (s1 * g0 - g1 / kb))
        if bool(tail.any()):
            at, bt, kt = a[tail], b[tail], kappa[tail]
            m0, m1 = _tail_integrals(at, bt)
            log_cdf = log_cdf.masked_scatter(tail, log_q[tail] + torch.log(m0))
            if grad is not None:
                s1 = self.one_minus_rho1.expand(y.shape)[tail]
                grad = grad.masked_scatter(tail, (bt / kt - s1) * m0 + m1 / kt)
        return log_cdf, log_q, grad

    def _initial_guess(self, v: Tensor, log_v: Tensor) -> Tensor:
        """A start for Newton: near −π from F ≈ C √a e^{a}, a = 2κ cos²(y/2) (the small-a
        limit of the tail representation, C = 2 e^{−2κ}/(√(2κ) 2π I₀ₑ(κ))); elsewhere
        Hill's F ≈ Φ(β sin(y/2)), or the uniform limit where that has no solution."""
        kappa = self.kappa.expand(v.shape)
        log_c = math.log(2.0) - 2 * kappa - 0.5 * torch.log(2 * kappa) - self.log_norm
        a0 = torch.exp(2 * (log_v - log_c)).clamp(max=1.0)
        near_pi = -2 * torch.acos(torch.sqrt((a0 / (2 * kappa)).clamp(max=1.0)))
        beta = math.sqrt(2 / math.pi) / torch.special.i0e(kappa)
        w = torch.special.ndtri(v) / beta
        hill = 2 * torch.asin(w.clamp(-1.0, 0.0))
        uniform = -math.pi + 2 * math.pi * v
        far = torch.where(w > -0.99, hill, torch.maximum(hill, uniform))
        return torch.where(a0 < 1.0, near_pi, far).clamp(-math.pi, 0.0)

    def _quantile_lower(self, v: Tensor) -> Tensor:
        """y ≤ 0 with F(y) = v for v ∈ (0, 1/2] (no gradient)."""
        log_v = torch.log(v)
        y = self._initial_guess(v, log_v)
        lo = torch.full_like(v, -math.pi)
        hi = torch.zeros_like(v)
        active = torch.ones_like(v, dtype=torch.bool)
        eps = torch.finfo(v.dtype).eps
        for _ in range(_MAX_NEWTON):
            log_cdf, log_q, _ = self._lower(y, with_grad=False)
            f = log_cdf - log_v
            below = f < 0
            lo = torch.where(below, y, lo)
            hi = torch.where(below, hi, y)
            step = f * torch.exp(log_cdf - log_q)  # (log F − log v) / (d log F / dy)
            new = y - step
            ok = torch.isfinite(new) & (new >= lo) & (new <= hi)
            # Converged: this Newton step is below 1e-11 of F/q₀, the scale on which F
            # changes (so, by quadratic convergence, the next error would be ~1e-22 of
            # it) or below the rounding of y, or the bracket is as narrow as the dtype
            # allows (y = −π for F below q₀(−π)·ulp). A converged element is frozen.
            resolution = _NEWTON_TOL * torch.exp(log_cdf - log_q) + 4 * eps * y.abs()
            small = step.abs() <= resolution  # (even outside the bracket: F's noise)
            narrow = hi - lo <= 8 * eps * math.pi
            new = torch.where(ok, new, torch.where(small, y, 0.5 * (lo + hi)))
            y = torch.where(active, new, y)
            active = active & ~(small | narrow | (f == 0))
            if not bool(active.any()):
                break
        return y

    # ------------------------------------------------------------------ public
    def quantile(self, u: Tensor) -> Tensor:
        """x ∈ [−π, π] with F(x) = u for u ∈ (0, 1) (no gradient)."""
        upper = u > 0.5
        y = self._quantile_lower(torch.where(upper, 1 - u, u))
        return torch.where(upper, -y, y)

    def cdf(self, x: Tensor) -> Tensor:
        """F(x) for x ∈ [−π, π]."""
        log_cdf, _, _ = self._lower(-x.abs(), with_grad=False)
        lower = torch.exp(log_cdf)
        return torch.where(x > 0, 1 - lower, lower)

    def dx_dkappa(self, x: Tensor) -> Tensor:
        """∂x/∂κ at fixed F(x), i.e. −(∂F/∂κ)/q₀(x), for x ∈ [−π, π]."""
        _, _, grad = self._lower(-x.abs(), with_grad=True)
        return torch.where(x > 0, -grad, grad)

    def cdf_dkappa(self, x: Tensor) -> Tensor:
        """∂F/∂κ at x ∈ [−π, π] (odd in x)."""
        _, log_q, grad = self._lower(-x.abs(), with_grad=True)
        lower = -grad * torch.exp(log_q)
        return torch.where(x > 0, -lower, lower)

    def log_density(self, x: Tensor) -> Tensor:
        """log q₀(x) = κ(cos x − 1) − log 2π I₀ₑ(κ) = −2κ sin²(x/2) − log 2π I₀ₑ(κ)."""
        return -2 * self.kappa * torch.sin(0.5 * x) ** 2 - self.log_norm
