r"""The standard Gamma(a, 1) quantile and its implicit derivative ∂x/∂a, float64 inside.

With P(a, x) = γ(a, x)/Γ(a) and Q = 1 − P the regularized incomplete gamma functions and
p(x; a) = x^{a−1}e^{−x}/Γ(a) the density, the quantile x(u; a) solves P(a, x) = u and, by
the implicit function theorem (Figurnov, Mohamed & Mnih 2018, arXiv:1805.08498),

.. math:: \frac{\partial x}{\partial a} = -\frac{\partial P(a, x)/\partial a}{p(x; a)}.

Everything is computed in t = log x, so nothing underflows when x does (a = 1e-3 puts
the median at 2^{−1000}): the Beta, Dirichlet and Student t samplers combine log x.

**Series** (x ≤ a + 1). P = x^a e^{−x} M / Γ(a + 1) with M = Σ_n m_n, m_0 = 1,
m_n = m_{n−1}·x/(a + n) (DLMF 8.7.1). Differentiating termwise, ∂m_n/∂a = −m_n h_n with
h_n = Σ_{j=1}^{n} 1/(a + j), so M′ = −Σ m_n h_n and, since P/p = xM/a,

.. math:: \frac{\partial \log x}{\partial a} = -\frac{M(\log x - \psi(a+1)) + M'}{a}.

**Continued fraction** (x > a + 1). Q = x^a e^{−x} C / Γ(a) with C = 1/f,
f = b_0 + a_1/(b_1 + a_2/(b_2 + …)), b_n = x + 2n + 1 − a, a_n = n(a − n) (Legendre;
DLMF 8.9.2). f and f′ = ∂f/∂a are carried together through the modified Lentz
iteration (forward-mode), and, since ∂x/∂a = ∂Q/∂a / p and Q/p = xC,

.. math:: \frac{\partial \log x}{\partial a} = \frac{\log x - \psi(a) - f'/f}{f},

which keeps the upper tail's relative precision (no 1 − P).

**Small a, upper side** (a < 1, x ≤ a + 1, where Q may be ~1e-4 and 1 − P would lose
digits): Q = −expm1(y) − e^y Σ_{n≥1} (−x)^n a / (n!(a + n)), y = a log x − log Γ(a + 1)
(from γ(a, x) = Σ (−1)^n x^{a+n}/(n!(a + n))).

**Quantile.** A first guess — for small x, t = t₀ + x/(a + 1) − x²/(2(a + 1)²(a + 2))
with t₀ = (log u + log Γ(a + 1))/a (from the series' first terms; t₀ alone is a rigorous
lower bound); Wilson–Hilferty for a ≥ 1; x ≈ −log(qΓ(a)) + (a − 1) log x for the upper
tail of small a — is refined by Halley steps in t on log P (u ≤ ½) or log Q (u > ½),
safeguarded by a bracket [t₀, log of the Chernoff bound a + 2L + √(2aL) + 1 with
L = −log(1 − u)] and bisection. The first steps use torch's ``gammainc``/``gammaincc``
(fast; ~1e-10 near x ≈ a for large a); the last one uses the series / continued fraction
above, so the result is as accurate as the float64 evaluation of P or Q allows.

**Measured accuracy** (float64; reference: mpmath at 50 digits, on a ∈ {1e-3, 1e-2, 0.1,
0.5, 1, 2, 10, 100, 1000} × u ∈ {1e-300, 1e-6, 1e-3, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999,
1 − 1e-6, 1 − 2⁻⁵³}):

- log x within 6e-14·max(1, |log x|); x itself within 2.3e-14 relative wherever it is a
  normal float64 (where it underflows, log x is exact to its last bits);
- ∂ log x/∂a within 6.7e-15 relative (:func:`standard_gamma_dlogx_da`) and 4.3e-14
  (:func:`standard_gamma_log_quantile_and_grad`, whose derivative is moved from the last
  iterate by a Taylor step);
- against Richardson central differences of ``scipy.special.gammaincinv`` on the grid
  a × u ∈ {1e-6, 1e-3, 0.1, 0.5, 0.9, 0.999, 1 − 1e-6} where x ≥ 1e-300: max 7.3e-12,
  median 3.6e-13 (the accuracy of that reference: ~2e-11 against mpmath);
- torch's ``_standard_gamma_grad`` (what ``torch.distributions.Gamma.rsample``
  back-propagates) at the same points: max 1.9e-2 (upper tail of a = 1e-3; 9.5e-2 at
  u = 1 − 2⁻⁵³), median 2e-6.

**Cost.** One or two Halley steps with torch's ``gammainc`` plus one pass of the series /
continued fraction (O(√a) terms near x ≈ a; ~30 for a ~ 1), in place where possible
(on CPU a fresh large tensor costs as much as a few ops). At 1e5 samples and 2 CPU
threads, rsample + backward by the inverse is ~1.4 M samples/s for a ∈ [0.5, 5], ~1 M/s
for a ∈ [50, 500]; with plain Monte Carlo's native draws (gamma.py), which need only the
derivative pass, ~2.4 M/s and ~1.3 M/s (torch's rejection sampler with its approximate
gradient: ~12 M/s and ~17 M/s). These are the float64 paths; float32 parameters and noise
take the float32 pass and inverse of :mod:`._gamma_fast` (nested series / fraction at
each element's own depth, Temme's expansion from a = 20 in :mod:`._gamma_temme`), which
is 2–4× faster and keeps ∂ log x/∂a within 1e-6 (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ._tracing import untraceable

__all__ = [
    "standard_gamma_cdf",
    "standard_gamma_cdf_and_dlogx_da",
    "standard_gamma_dlogx_da",
    "standard_gamma_dx_da",
    "standard_gamma_log_quantile",
    "standard_gamma_log_quantile_and_grad",
    "standard_gamma_quantile",
]

_F64 = torch.float64
_EPS = 2.0**-53  # unit roundoff of float64
_TINY = torch.finfo(_F64).tiny
_SERIES_CAP = 20000  # terms; a = 1e3 needs ~280 at x = a + 1, the cap covers a ≈ 1e5
# (tolerance on |Halley step|, iteration cap): after a fast step ≤ 1e-3 the error is
# ~1e-9 (cubic convergence), and one accurate step finishes.
_FAST = (1e-3, 12)
_ACCURATE = (1e-9, 8)
_POLISH_TOL = 1e-7  # a polishing step larger than this gets full accurate iterations
_LOG_HALF = math.log(0.5)

# Every public function here branches on tensor values (series or continued fraction,
# Newton iterations until converged): torch.jit.trace would record one input's choices.
_untraceable = untraceable(
    "the Gamma-function numerics (sampling Gamma, Chi2, Beta, Dirichlet and StudentT; "
    "the gradient of Gamma/Chi2 cdf in the concentration)"
)

Step = Callable[[int, list[Tensor], bool], tuple[list[Tensor], Tensor | None]]


# --------------------------------------------------------------------------- helpers
def _log1mexp(x: Tensor) -> Tensor:
    """log(1 − eˣ) for x ≤ 0 (Mächler 2012)."""
    near = x > _LOG_HALF
    return torch.where(
        near,
        torch.log(-torch.expm1(torch.where(near, x, torch.full_like(x, _LOG_HALF)))),
        torch.log1p(-torch.exp(torch.where(near, torch.full_like(x, _LOG_HALF), x))),
    )


def _iterate(
    step: Step, state: list[Tensor], n_out: int, max_iter: int, check_every: int = 1
) -> list[Tensor]:
    """Run ``step(k, state, check) → (state, done)`` for k = 1, 2, … until all are done.

    The state is a list of 1-D tensors of equal length; the first ``n_out`` are the
    results. ``done`` is only asked for (``check``) every ``check_every`` iterations, and
    finished elements are dropped from the working set (in batches), so a long tail of
    slow elements costs only their own work; elements that are done but not yet dropped
    keep iterating, which only refines them. ``step`` may update the state in place.
    """
    out = [s.clone() for s in state[:n_out]]
    if state[0].numel() == 0:
        return out
    idx = torch.arange(state[0].numel(), device=state[0].device)
    for k in range(1, max_iter + 1):
        check = k % check_every == 0 or k == max_iter
        state, done = step(k, state, check)
        if done is None:
            continue
        n_done = int(done.sum())
        if n_done == 0:
            continue
        if n_done == idx.numel():
            break
        if 2 * n_done < idx.numel() and k % 32 != 0:
            continue  # compacting costs an index op per state tensor: batch them
        # Write back every current result (the unfinished are overwritten later), keep
        # the unfinished: integer indices (boolean masks cost a nonzero() each).
        for o, s in zip(out, state[:n_out], strict=True):
            o.index_copy_(0, idx, s)
        keep = (~done).nonzero().squeeze(1)
        idx = idx.index_select(0, keep)
        state = [s.index_select(0, keep) for s in state]
    for o, s in zip(out, state[:n_out], strict=True):
        o.index_copy_(0, idx, s)
    return out


# --------------------------------------------------------------------------- series
def _series(x: Tensor, a: Tensor, deriv: bool, tol: float = _EPS) -> tuple[Tensor, Tensor]:
    """(M, M′) of the lower series (M′ is zeros unless ``deriv``), truncated at ``tol``
    relative; converges for all x, fast for x ≤ a + 1."""

    def step(k: int, s: list[Tensor], check: bool) -> tuple[list[Tensor], Tensor | None]:
        # In place, with one scratch tensor: a fresh large tensor costs as much as 3 ops.
        big_m, big_mp, m, h, xs, as_, r = s
        torch.add(as_, k, out=r).reciprocal_()
        m.mul_(xs).mul_(r)
        big_m.add_(m)
        if deriv:
            h.add_(r)
            big_mp.addcmul_(m, h, value=-1.0)
        if not check:
            return s, None
        done = m <= torch.mul(big_m, tol, out=r)
        if deriv:  # M′ < 0: |M′| = −M′
            done &= torch.mul(m, h, out=r) <= -tol * big_mp
        return s, done

    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    state = [ones, zeros, ones.clone(), zeros.clone(), x, a, torch.empty_like(x)]
    big_m, big_mp = _iterate(step, state, 2, _SERIES_CAP, check_every=2)
    return big_m, big_mp


def _small_a_upper(x: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
    """(S, ∂S/∂a) for S = Σ_{n≥1} (−x)^n a/(n!(a + n)) (alternating; x ≤ 2 here)."""

    def step(k: int, s: list[Tensor], check: bool) -> tuple[list[Tensor], Tensor | None]:
        total, dtotal, term, xs, as_ = s
        term.mul_(xs).mul_(-1.0 / k)
        r = (as_ + k).reciprocal_()
        add = term * as_ * r
        total.add_(add)
        dtotal.add_(term * (k * r * r))
        return s, (add.abs() <= _EPS * total.abs()) if check else None

    zeros = torch.zeros_like(x)
    state = [zeros, zeros.clone(), torch.ones_like(x), x, a]
    total, dtotal = _iterate(step, state, 2, 400, check_every=2)
    return total, dtotal


def _continued_fraction(
    x: Tensor, a: Tensor, deriv: bool, tol: float = _EPS
) -> tuple[Tensor, Tensor]:
    """(log f, f′/f) of Legendre's continued fraction for Q at x > a + 1 (modified Lentz,
    f′ = ∂f/∂a carried along in forward mode; zeros unless ``deriv``), to ``tol``."""
    small = 1e-300  # the denominators stay ≥ 2 for x > a + 1; the floor is only a safeguard
    b0 = x + 1.0 - a

    def step(k: int, s: list[Tensor], check: bool) -> tuple[list[Tensor], Tensor | None]:
        # Mostly in place (a fresh large tensor costs as much as 3 ops); b = b₀ + 2k,
        # aₖ = k(a − k), ∂b/∂a = −1, ∂aₖ/∂a = k.
        f, dlog_f, c, dc, d, dd, b0s, as_ = s
        b = torch.add(b0s, 2 * k)
        an = torch.mul(as_, k).sub_(k * k)
        inv_c = c.reciprocal_()
        e = an * inv_c
        c_new = torch.add(b, e).clamp_(min=small)
        dd_new = None
        if deriv:  # ∂d_new = (1 − k d − aₖ ∂d) d_new², with d, ∂d the previous ones
            dd_new = torch.mul(d, -k).add_(1.0).addcmul_(an, dd, value=-1.0)
        d_new = b.addcmul_(an, d).clamp_(min=small).reciprocal_()
        delta = c_new * d_new
        f.mul_(delta)  # f = b₀ Π Δ_j stays of the size of x: no overflow, one log at the end
        rel = None
        if dd_new is not None:
            dd_new.mul_(d_new).mul_(d_new)
            dc_new = dc.mul_(e).neg_().add_(k).mul_(inv_c).sub_(1.0)  # (k − aₖ∂c/c)/c − 1
            rel = torch.mul(dc_new, d_new).addcmul_(c_new, dd_new).div_(delta)
            dlog_f.add_(rel)
            dd, dc = dd_new, dc_new
        state = [f, dlog_f, c_new, dc, d_new, dd, b0s, as_]
        if not check:
            return state, None
        done = delta.sub_(1.0).abs_() <= tol
        if rel is not None:
            done &= rel.abs_() <= dlog_f.abs().mul_(tol)
        return state, done

    zeros = torch.zeros_like(x)
    state = [b0.clone(), -1.0 / b0, b0.clone(), -torch.ones_like(x), zeros, zeros.clone(), b0, a]
    f, dlog_f = _iterate(step, state, 2, _SERIES_CAP, check_every=2)
    return torch.log(f), dlog_f


# --------------------------------------------------------------------------- log P, log Q
def _indices(mask: Tensor) -> Tensor | None:
    """Integer indices of ``mask``, or None where it holds everywhere."""
    return None if bool(mask.all()) else mask.nonzero().squeeze(1)


def _take(i: Tensor | None, *tensors: Tensor) -> list[Tensor]:
    return [t if i is None else t.index_select(0, i) for t in tensors]


def _put(out: Tensor, i: Tensor | None, value: Tensor) -> None:
    if i is None:
        out.copy_(value)
    else:
        out.index_copy_(0, i, value)


def _accurate(
    t: Tensor, a: Tensor, upper: Tensor, deriv: bool, tol: float = _EPS
) -> tuple[Tensor, Tensor | None]:
    """(log F, ∂ log x/∂a) at x = eᵗ with F = Q where ``upper``, else P (1-D inputs), the
    series and fraction truncated at ``tol`` relative.

    The second is None unless ``deriv``.
    """
    x = torch.exp(t)
    log_f = torch.empty_like(t)
    dlogx = torch.empty_like(t) if deriv else None
    in_series = x <= a + 1.0
    small_upper = in_series & upper & (a < 1.0)
    lower_series = in_series & ~small_upper
    cf = ~in_series
    if bool(lower_series.any()):
        i = _indices(lower_series)
        ts, xs, as_, up = _take(i, t, x, a, upper)
        big_m, big_mp = _series(xs, as_, deriv, tol)
        log_p = as_ * ts - xs - torch.lgamma(as_ + 1.0) + torch.log(big_m)
        _put(log_f, i, torch.where(up, _log1mexp(log_p.clamp(max=0.0)), log_p))
        if dlogx is not None:
            psi = torch.digamma(as_ + 1.0)
            _put(dlogx, i, -(big_m * (ts - psi) + big_mp) / as_)
    if bool(small_upper.any()):
        # Q = −expm1(y) − e^y S, y = a t − log Γ(a + 1); P = e^y (1 + S) and
        # ∂ log x/∂a = −(∂P/∂a)/(x p) = −(eˣ/a)((t − ψ(a + 1))(1 + S) + ∂S/∂a).
        i = _indices(small_upper)
        ts, xs, as_ = _take(i, t, x, a)
        total, dtotal = _small_a_upper(xs, as_)
        y = as_ * ts - torch.lgamma(as_ + 1.0)
        _put(log_f, i, torch.log(-torch.expm1(y) - torch.exp(y) * total))
        if dlogx is not None:
            psi = torch.digamma(as_ + 1.0)
            _put(dlogx, i, -torch.exp(xs) / as_ * ((ts - psi) * (1.0 + total) + dtotal))
    if bool(cf.any()):
        i = _indices(cf)
        ts, xs, as_, up = _take(i, t, x, a, upper)
        log_cf, dlog_cf = _continued_fraction(xs, as_, deriv, tol)
        log_q = as_ * ts - xs - torch.lgamma(as_) - log_cf
        _put(log_f, i, torch.where(up, log_q, _log1mexp(log_q.clamp(max=0.0))))
        if dlogx is not None:
            _put(dlogx, i, (ts - torch.digamma(as_) - dlog_cf) * torch.exp(-log_cf))
    return log_f, dlogx


def _log_cdf_accurate(t: Tensor, x: Tensor, a: Tensor, lg_a1: Tensor, upper: Tensor) -> Tensor:
    return _accurate(t, a, upper, deriv=False)[0]


def _log_cdf_fast(t: Tensor, x: Tensor, a: Tensor, lg_a1: Tensor, upper: Tensor) -> Tensor:
    """log P or log Q at x = eᵗ by torch's ``gammainc``/``gammaincc`` (~1e-10 near x ≈ a ≫ 1).

    For x < 1e-10, log P = a t − log Γ(a + 1) − x a/(a + 1) + O(x²) instead (torch returns
    0 there for some a, e.g. P(1, 1e-300)).
    """
    out = torch.empty_like(t)
    tiny_x = x < 1e-10
    any_tiny = bool(tiny_x.any())
    if any_tiny:
        log_p = a * t - lg_a1 - x * a / (a + 1.0)
        out = torch.where(upper, _log1mexp(log_p.clamp(max=0.0)), log_p)
    for side, fn in ((upper, torch.special.gammaincc), (~upper, torch.special.gammainc)):
        mask = side & ~tiny_x if any_tiny else side
        if bool(mask.all()):
            return fn(a, x).log_()
        if bool(mask.any()):
            out[mask] = fn(a[mask], x[mask]).log_()
    return out


# --------------------------------------------------------------------------- quantile
def _initial_guess(
    log_u: Tensor, log_q: Tensor, a: Tensor, lg_a: Tensor, lg_a1: Tensor
) -> tuple[Tensor, Tensor]:
    """(first guess of t = log x, rigorous lower bound of t)."""
    a1 = a + 1.0
    t_low = (log_u + lg_a1) / a  # P ≤ x^a/Γ(a + 1)
    # log(e^{−x} M) = −x a/(a+1) + x² a/(2(a+1)²(a+2)) + O(x³): two fixed-point passes.
    c2 = 1.0 / (2.0 * a1 * a1 * (a + 2.0))
    x_low = torch.exp(t_low.clamp(max=30.0))
    t_series = t_low
    for _ in range(2):
        x_s = torch.exp(t_series.clamp(max=30.0))
        t_series = t_low + x_s / a1 - x_s * x_s * c2
    # Wilson–Hilferty: x ≈ a (1 − 1/(9a) + z/(3√a))³.
    z = torch.special.ndtri(torch.exp(log_u))
    s = 1.0 / (9.0 * a)
    v = 1.0 - s + z * torch.sqrt(s)
    t_wh = torch.log(a) + 3.0 * torch.log(v.clamp(min=1e-300))
    # Upper tail of small a: Q ≈ x^{a−1} e^{−x}/Γ(a) ⇒ x = −log q − log Γ(a) + (a − 1) log x.
    base = -log_q - lg_a
    x_up = base.clamp(min=1.0)
    for _ in range(3):
        x_up = (base + (a - 1.0) * torch.log(x_up)).clamp(min=1.0)
    t_up = torch.log(x_up)
    use_series = (x_low < 0.2 * a1) | (v <= 0.05) | ((a < 1.0) & (x_low < 0.6))
    use_upper = ~use_series & (a < 1.0)
    guess = torch.where(use_series, t_series, torch.where(use_upper, t_up, t_wh))
    guess = torch.where(torch.isfinite(guess), guess, t_low)
    return torch.maximum(guess, t_low), t_low


def _halley(
    t: Tensor,
    x: Tensor,
    a: Tensor,
    lg_a: Tensor,
    upper: Tensor,
    log_target: Tensor,
    log_f: Tensor,
) -> tuple[Tensor, Tensor]:
    """(Halley step δ in t on h = σ(log F − log target), h); h increases with t, x = eᵗ."""
    sigma = torch.where(upper, -1.0, 1.0).to(t.dtype)
    h = sigma * (log_f - log_target)
    w = torch.exp(a * t - x - lg_a - log_f)  # x p(x)/F = |d log F/dt|
    newton = -h / w
    den = 1.0 + 0.5 * newton * (a - x - sigma * w)
    step = torch.where((den > 0.5) & (den < 2.0), newton / den, newton)
    return step, h


def _solve(
    t: Tensor,
    lo: Tensor,
    hi: Tensor,
    a: Tensor,
    lg_a: Tensor,
    lg_a1: Tensor,
    upper: Tensor,
    log_target: Tensor,
    evaluate: Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor],
    tol: float,
    max_iter: int,
) -> Tensor:
    """Safeguarded Halley iterations in t until |δ| ≤ tol·max(1, |t|) or the cap."""

    def step(k: int, s: list[Tensor], check: bool) -> tuple[list[Tensor], Tensor]:
        ts, los, his, as_, lgs, lg1s, ups, lts = s
        xs = torch.exp(ts)
        log_f = evaluate(ts, xs, as_, lg1s, ups)
        delta, h = _halley(ts, xs, as_, lgs, ups, lts, log_f)
        below = h < 0
        los = torch.where(below, torch.maximum(los, ts), los)
        his = torch.where(below, his, torch.minimum(his, ts))
        new = ts + delta
        ok = torch.isfinite(new) & (new >= los) & (new <= his)
        new = torch.where(ok, new, 0.5 * (los + his))
        scale = ts.abs().clamp(min=1.0)
        done = (ok & (delta.abs() <= tol * scale)) | (h == 0) | (his - los <= 4 * _EPS * scale)
        return [new, los, his, as_, lgs, lg1s, ups, lts], done

    (t,) = _iterate(step, [t, lo, hi, a, lg_a, lg_a1, upper, log_target], 1, max_iter)
    return t


def _taylor_dlogx(d: Tensor, t: Tensor, x: Tensor, a: Tensor, delta: Tensor) -> Tensor:
    """d(t + δ) from d(t) = ∂ log x/∂a at t, to second order in δ.

    With N = ∂P/∂a, D = x p (so d = −N/D, ∂N/∂t = D (t − ψ(a)), ∂D/∂t = D (a − x)):
    ∂d/∂t = −(t − ψ(a)) − d (a − x) and ∂²d/∂t² = −1 − (∂d/∂t)(a − x) + d x.
    """
    d1 = torch.digamma(a) - t - d * (a - x)
    d2 = -1.0 - d1 * (a - x) + d * x
    return d + delta * (d1 + 0.5 * delta * d2)


def _quantile64(u: Tensor, a: Tensor, deriv: bool) -> tuple[Tensor, Tensor | None]:
    """(t = log x with P(a, x) = u, ∂t/∂a or None); float64, flat 1-D inputs."""
    u = u.clamp(min=_TINY, max=1.0 - _EPS)
    upper = u > 0.5
    log_u = torch.log(u)
    log_q = torch.log1p(-u)
    log_target = torch.where(upper, log_q, log_u)
    lg_a = torch.lgamma(a)
    lg_a1 = torch.lgamma(a + 1.0)
    guess, lo = _initial_guess(log_u, log_q, a, lg_a, lg_a1)
    big_l = -log_q  # Chernoff: Q(a, x) ≤ e^{−L} beyond x = a + 2L + √(2aL) + 1
    hi = torch.log(a + 2.0 * big_l + torch.sqrt(2.0 * a * big_l) + 1.0)
    lo = torch.minimum(lo, hi)
    t = torch.minimum(torch.maximum(guess, lo), hi)
    # Where x < e^{−700} the series' first term is exact to rounding: t = lower bound.
    work = lo >= -700.0
    t = torch.where(work, t, lo)
    if bool(work.all()):
        t = _solve(t, lo, hi, a, lg_a, lg_a1, upper, log_target, _log_cdf_fast, *_FAST)
    elif bool(work.any()):
        args = (a[work], lg_a[work], lg_a1[work], upper[work], log_target[work])
        t[work] = _solve(t[work], lo[work], hi[work], *args, _log_cdf_fast, *_FAST)
    # One accurate Halley step (after the fast ones, the error is ~1e-9 or less).
    log_f, dlogx = _accurate(t, a, upper, deriv)
    x = torch.exp(t)
    delta, _ = _halley(t, x, a, lg_a, upper, log_target, log_f)
    delta = torch.where(work & torch.isfinite(delta), delta, 0.0)
    if dlogx is not None:
        dlogx = _taylor_dlogx(dlogx, t, x, a, delta)
    t = t + delta
    redo = delta.abs() > _POLISH_TOL * t.abs().clamp(min=1.0)
    if bool(redo.any()):
        args = (a[redo], lg_a[redo], lg_a1[redo], upper[redo], log_target[redo])
        t_r = _solve(t[redo], lo[redo], hi[redo], *args, _log_cdf_accurate, *_ACCURATE)
        t[redo] = t_r
        if dlogx is not None:
            dlogx[redo] = _dlogx_da64(t_r, a[redo])
    return t, dlogx


def _prepare(u: Tensor, a: Tensor) -> tuple[torch.Size, Tensor, Tensor]:
    u, a = torch.broadcast_tensors(u.detach(), a.detach())
    return u.shape, u.to(_F64).reshape(-1), a.to(_F64).reshape(-1)


@_untraceable
def standard_gamma_log_quantile(u: Tensor, a: Tensor) -> Tensor:
    """log x with P(a, x) = u, the log-quantile of Gamma(a, 1); float64, no gradient.

    Args:
        u: probabilities in (0, 1) (clamped to [tiny, 1 − 2⁻⁵³]).
        a: concentrations > 0, broadcastable with ``u``.

    Returns:
        log x (float64, broadcast shape); finite even where x underflows.
    """
    with torch.no_grad():
        shape, u64, a64 = _prepare(u, a)
        return _quantile64(u64, a64, deriv=False)[0].reshape(shape)


@_untraceable
def standard_gamma_log_quantile_and_grad(u: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
    """(log x, ∂ log x/∂a) for x = F⁻¹(u; a) of Gamma(a, 1), both float64, no graph.

    Faster than the two separate calls: the series (or continued fraction) of the last
    Newton–Halley step also gives the derivative, moved to the final point by a
    second-order Taylor step in log x.
    """
    with torch.no_grad():
        shape, u64, a64 = _prepare(u, a)
        t, dlogx = _quantile64(u64, a64, deriv=True)
        assert dlogx is not None
        return t.reshape(shape), dlogx.reshape(shape)


@_untraceable
def standard_gamma_quantile(u: Tensor, a: Tensor) -> Tensor:
    """x with P(a, x) = u, in the floating dtype of ``u``/``a`` (computed in float64).

    x is clamped below at the dtype's smallest normal number (as torch's own sampler
    does), so it is never 0 even where the exact quantile underflows (tiny a).

    Args:
        u: probabilities in (0, 1).
        a: concentrations > 0, broadcastable with ``u``.

    Returns:
        x with the broadcast shape, no gradient.
    """
    dtype = torch.promote_types(u.dtype, a.dtype)
    t = standard_gamma_log_quantile(u, a)
    return torch.exp(t).to(dtype).clamp(min=torch.finfo(dtype).tiny)


@_untraceable
def standard_gamma_cdf(log_x: Tensor, a: Tensor) -> Tensor:
    """P(a, x) at x = exp(log x), float64, no gradient (torch's ``gammainc``; the series'
    leading terms where x < 1e-10, so that it stays exact for x far below the float range).

    Args:
        log_x: log of the points (may be far below log of the smallest float).
        a: concentrations > 0, broadcastable with ``log_x``.

    Returns:
        P(a, x) (float64, broadcast shape).
    """
    with torch.no_grad():
        shape, t64, a64 = _prepare(log_x, a)
        lower = torch.zeros_like(t64, dtype=torch.bool)
        log_p = _log_cdf_fast(t64, torch.exp(t64), a64, torch.lgamma(a64 + 1.0), lower)
        return torch.exp(log_p).reshape(shape)


@_untraceable
def standard_gamma_cdf_and_dlogx_da(
    log_x: Tensor, a: Tensor, tol: float = _EPS
) -> tuple[Tensor, Tensor]:
    """(P(a, x), ∂ log x/∂a) at x = exp(log x) from one pass of the series / continued
    fraction (both as accurate as float64 allows, or truncated at ``tol`` relative where
    a float32 result needs less; P as 1 − Q above the median's neighbourhood x > a);
    float64, no gradient.
    """
    with torch.no_grad():
        shape, t64, a64 = _prepare(log_x, a)
        upper = torch.exp(t64) > a64
        log_f, dlogx = _accurate(t64, a64, upper, True, tol)
        assert dlogx is not None
        p = torch.where(upper, -torch.expm1(log_f), torch.exp(log_f))
        return p.reshape(shape), dlogx.reshape(shape)


# --------------------------------------------------------------------------- ∂x/∂a
def _dlogx_da64(t: Tensor, a: Tensor) -> Tensor:
    """∂ log x/∂a at x = eᵗ along P(a, x) = const; float64, flat 1-D inputs."""
    # The side (P or Q) only matters for the value of log F, not for the derivative,
    # except that a < 1 with x ≤ a + 1 may use the small-a form: take the series.
    upper = torch.zeros_like(t, dtype=torch.bool)
    dlogx = _accurate(t, a, upper, deriv=True)[1]
    assert dlogx is not None
    return dlogx


@_untraceable
def standard_gamma_dlogx_da(log_x: Tensor, a: Tensor) -> Tensor:
    """∂ log x/∂a for x = F⁻¹(u; a) of Gamma(a, 1) with u held fixed; float64.

    Args:
        log_x: log of the quantile (may be far below log of the smallest float).
        a: concentrations > 0, broadcastable with ``log_x``.

    Returns:
        ∂ log x/∂a (float64, broadcast shape).
    """
    with torch.no_grad():
        shape, t64, a64 = _prepare(log_x, a)
        return _dlogx_da64(t64, a64).reshape(shape)


@_untraceable
def standard_gamma_dx_da(x: Tensor, a: Tensor) -> Tensor:
    r"""∂x/∂a = −(∂P(a, x)/∂a)/p(x; a) for the standard Gamma, in the dtype of the inputs.

    Args:
        x: points > 0 (quantiles of Gamma(a, 1)).
        a: concentrations > 0, broadcastable with ``x``.

    Returns:
        ∂x/∂a with the broadcast shape, computed in float64 (0 at x = 0).
    """
    dtype = torch.promote_types(x.dtype, a.dtype)
    with torch.no_grad():
        shape, x64, a64 = _prepare(x, a)
        dx = x64 * _dlogx_da64(torch.log(x64), a64)
        return torch.where(x64 > 0, dx, 0.0).reshape(shape).to(dtype)  # x log x → 0
