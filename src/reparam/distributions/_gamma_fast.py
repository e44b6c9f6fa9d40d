r"""The Gamma noise u = P(a, x) and ∂ log x/∂a at float32 precision, for a drawn x.

The float64 pass of :mod:`._gamma_math` iterates its series / continued fraction to
2⁻⁵³ with per-element convergence checks and compaction; a float32 result needs neither.
Here both are evaluated *nested* (backward, Horner-like), in float32, to a depth chosen
once per call from the batch's extremes, with no masks, index operations or branches per
element, and only the final cancellation-prone combination in float64:

**Series** (x ≤ a + 1). M = 1F1(1; a + 1; x) = Σ_n x^n/(a+1)_n by T_N = 1,
T_{n−1} = 1 + x T_n/(a + n), M = T_0, and D = ∂M/∂a along
D_{n−1} = x (D_n − T_n/(a + n))/(a + n); then (DLMF 8.7.1, as in :mod:`._gamma_math`)

.. math::
    \log P = a\log x - x - \log\Gamma(a+1) + \log M, \qquad
    \frac{\partial\log x}{\partial a} = -\frac{M(\log x - \psi(a+1)) + D}{a}.

**Continued fraction** (x > a + 1). f = b_0 + a_1/(b_1 + a_2/(b_2 + …)),
b_k = x + 2k + 1 − a, a_k = k(a − k) (DLMF 8.9.2), from depth N upwards with
f′ = ∂f/∂a carried along; then

.. math::
    \log Q = a\log x - x - \log\Gamma(a) - \log f, \qquad
    \frac{\partial\log x}{\partial a} = \frac{\log x - \psi(a) - f'/f}{f}.

Both are computed for every element (the series at min(x, a + 1), the fraction at
max(x, a + 1)) and the valid one is kept by a 0/1 weight: cheaper on a CPU than
splitting the batch (an index operation costs as much as ten arithmetic ones).

**Depths.** With truncation at 2⁻³⁰ relative (measured on the grids below): the series
at x ≤ a + 1 needs at most ⌈7 + 7√x⌉ terms (x = 6: 24); the fraction at x ≥ a + 1 needs
the most at x = a + 1, tabulated in ``_CF_DEPTH`` (a = 0.05: 36; a = 5: 9; a = 50: 22).

**Accuracy** (float32 inputs; reference: the float64 pass, ~1e-14): ∂ log x/∂a within
6.2e-7 relative on 2·10⁵ draws for each of a ~ U(0.05, 0.5), U(0.5, 5), U(5, 20) (median
3e-8); nested evaluation keeps the float32 rounding from growing with the depth, unlike
forward summation (1.6e-6) or Lentz's algorithm (2.1e-6) in float32. Outside
:data:`FAST_RANGE` (tiny a, where x leaves the float32 range, and huge a) the caller
uses the float64 pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor

from ._gamma_math import _initial_guess, standard_gamma_log_quantile_and_grad
from ._gamma_temme import TEMME_MIN_A, temme_log_cdf_and_dlogx

__all__ = [
    "FAST_RANGE",
    "fast_domain",
    "gamma_cdf_and_dlogx32",
    "gamma_log_quantile32",
    "in_fast_domain",
    "log_cdf_and_dlogx",
    "standard_gamma_log_quantile32",
]

#: Concentrations the float32 pass serves; elsewhere the float64 pass is used.
FAST_RANGE = (0.05, math.inf)  # from a = 20: Temme (see _gamma_temme)
_MIN_LOG_X = math.log(1e-30)  # below, x is near float32's subnormals: float64 pass
_EXTRA_STEPS = 3  # Halley steps after the first two, for the elements not yet converged


def fast_domain(log_x: Tensor, a: Tensor) -> Tensor:
    """Where :func:`gamma_cdf_and_dlogx32` applies (bool, broadcast shape)."""
    lo, hi = FAST_RANGE
    return (a >= lo) & (a <= hi) & (log_x >= _MIN_LOG_X)


def in_fast_domain(log_x: Tensor, a: Tensor) -> bool:
    """Whether every element is in :func:`fast_domain` (three reductions, no mask)."""
    if log_x.numel() == 0:
        return True
    a_min, a_max = torch.aminmax(a)
    lo, hi = FAST_RANGE
    return bool((a_min >= lo) & (a_max <= hi) & (log_x.min() >= _MIN_LOG_X))


def _depths(x: Tensor, a: Tensor, upper: Tensor) -> Tensor:
    """Nested depth per element (integer-valued; ``upper`` is 1.0 in the fraction's
    region): ⌈7 + 7√x⌉ for the series (x ≤ a + 1), ⌈max(37/√x, 3.4√a + 1)⌉ + 2 for the
    fraction; both at truncation 2⁻³⁰, checked on a
    grid of a ∈ [0.05, 20] × x (series: x/(a + 1) from 1e-4 to 1; fraction: x − a − 1
    from 0 to 64) against the depth at which the value settles."""
    series = torch.sqrt(x).mul_(7.0).add_(7.0)
    fraction = torch.maximum(torch.rsqrt(x).mul_(37.0), torch.sqrt(a).mul_(3.4).add_(1.0))
    depth = torch.lerp(series, fraction.add_(2.0), upper)
    return depth.ceil_().clamp_(max=127.0)


def _starts(counts: list[int], offset: int, top: int) -> list[int]:
    """starts[n] = first sorted position (from ``offset``) whose depth is ≥ n."""
    starts = [offset] * (top + 2)
    position = offset
    for n in range(1, top + 2):
        position += counts[n - 1]
        starts[n] = position
    return starts


_CONSTANTS: dict[tuple[torch.dtype, torch.device], list[Tensor]] = {}


def _constants(like: Tensor) -> list[Tensor]:
    """0-dim tensors 0, 1, …, 300 of ``like``'s dtype and device: an operation with a
    Python number converts it to a tensor first (a copy each time), these are reused."""
    key = (like.dtype, like.device)
    if key not in _CONSTANTS:
        values = torch.arange(301, dtype=like.dtype, device=like.device)
        _CONSTANTS[key] = list(values.unbind())
    return _CONSTANTS[key]


def _suffixes(
    starts: list[int], levels: range, tensors: tuple[Tensor, ...]
) -> Iterator[tuple[int, tuple[Tensor, ...]]]:
    """(level, views of ``tensors`` from the level's start) for the levels with elements;
    the views are re-made only where the start moves."""
    end = tensors[0].numel()
    last, views = -1, tensors
    for n in levels:
        s = starts[n] - starts[0]
        if s >= end:
            continue
        if s != last:
            last, views = s, tuple(t[s:] for t in tensors)
        yield n, views


def _levels(starts: list[int]) -> range:
    """The levels top, …, 1 from the deepest one with elements (``starts`` as from
    :func:`_starts`: level n has elements where starts[n] < starts[-1], the end)."""
    top = len(starts) - 2
    while top > 0 and starts[top] >= starts[-1]:
        top -= 1
    return range(top, 0, -1)


def _nested_series(
    x: Tensor, a: Tensor, starts: list[int], big_m: Tensor, dm: Tensor | None
) -> None:
    """M = Σ_{n ≤ N_i} x^n/(a+1)_n and D = ∂M/∂a (unless ``dm`` is None) into ``big_m``
    (ones on entry) and ``dm`` (zeros), nested from each element's own depth.

    The elements are sorted by depth; at level n only those with N_i ≥ n (a suffix) are
    updated, so each gets exactly its N_i steps and the others keep T = 1, D = 0."""
    c = _constants(x)
    buffers = (torch.empty_like(x), torch.empty_like(x), x, a, big_m, big_m if dm is None else dm)
    for n, (inv, q, xs, as_, t, d) in _suffixes(starts, _levels(starts), buffers):
        torch.add(as_, c[n], out=inv).reciprocal_()  # 1/(a + n)
        torch.mul(t, inv, out=q)  # T/(a + n)
        if dm is not None:
            d.sub_(q).mul_(inv).mul_(xs)  # x (D − T/(a + n))/(a + n)
        torch.addcmul(c[1], q, xs, out=t)  # 1 + x T/(a + n)


def _nested_fraction(
    x: Tensor, a: Tensor, starts: list[int], depth: Tensor, f: Tensor, df: Tensor | None
) -> None:
    """Legendre's fraction f for Q and f′ = ∂f/∂a (unless ``df`` is None) into ``f`` and
    ``df``, each element from its own depth N_i upwards.

    Sorted by depth as in :func:`_nested_series`; an element starts (T = b_{N_i},
    ∂T/∂a = −1) at level N_i; level n takes the step k = n − 1."""
    c = _constants(x)
    base = x + 1.0 - a  # b_k = base + 2k
    torch.addcmul(base, depth, c[2], out=f)
    if df is not None:
        df.fill_(-1.0)
    scratch = (torch.empty_like(x), torch.empty_like(x), torch.empty_like(x))
    buffers = (*scratch, a, base, f, f if df is None else df)
    for n, (inv, r, q, as_, bs, t, d) in _suffixes(starts, _levels(starts), buffers):
        k = n - 1
        torch.reciprocal(t, out=inv)
        torch.sub(as_, c[n], out=r).mul_(c[n]).mul_(inv)  # a_{k+1}/T_{k+1}
        if df is not None:
            torch.mul(r, d, out=q).mul_(inv)
            torch.mul(inv, c[n], out=d).sub_(c[1]).sub_(q)  # ∂T_k/∂a
        torch.add(bs, r, out=t).add_(c[2 * k])  # T_k = b_k + a_{k+1}/T_{k+1}


def gamma_cdf_and_dlogx32(
    log_x: Tensor, a: Tensor, deriv: bool = True
) -> tuple[Tensor, Tensor | None]:
    """(P(a, x), ∂ log x/∂a) at x = exp(log x) for float32 1-D inputs in :func:`fast_domain`.

    Args:
        log_x: log of the points, shape (n,): float32, or the exact float64 logs of
            float32 points (as in :func:`log_cdf_and_dlogx`).
        a: concentrations, float32, shape (n,).
        deriv: compute the derivative (else None: sampling without a gradient skips its
            recurrences, ψ(a) and the finish).

    Returns:
        (u, dlogx), float32, shape (n,): u = P(a, x) (as 1 − Q above x = a + 1) and the
        implicit derivative of log x in a along P(a, x) = u (relative error ≤ 1e-6).
    """
    log_f, upper, dlogx = log_cdf_and_dlogx(log_x, a, deriv)
    p = torch.lerp(torch.exp(log_f), torch.expm1(log_f).neg_(), upper.double())
    return p.float(), None if dlogx is None else dlogx.float()


class Special(NamedTuple):
    """float64 a, log Γ(a) and ψ(a) (None unless a derivative is wanted), shape (n,)."""

    a: Tensor
    lgamma: Tensor
    digamma: Tensor | None


def special_values(a: Tensor, deriv: bool = True) -> Special:
    """:class:`Special` of ``a`` (float32 or float64, shape (n,))."""
    a64 = a.double()
    return Special(a64, torch.lgamma(a64), torch.digamma(a64) if deriv else None)


def log_cdf_and_dlogx(
    log_x: Tensor, a: Tensor, deriv: bool = True, special: Special | None = None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """(log F, upper, ∂ log x/∂a or None): F = Q where ``upper`` is 1.0, else F = P;
    log F and the derivative in float64 (the derivative is skipped unless ``deriv``).
    Below a = 20 (:data:`TEMME_MIN_A`) the float32 series / continued fraction (``upper``
    where x > a + 1), from there Temme's expansion (``upper`` where x > a).

    Args:
        log_x: log of the points, shape (n,), in :func:`fast_domain`: float32, or float64
            holding the exact logs of float32 points (then used as they are).
        a: concentrations, float32, shape (n,).
        deriv: compute ∂ log x/∂a.
        special: :func:`special_values` of ``a`` if already at hand (the inverse reuses
            them for every step).
    """
    if log_x.numel() == 0:
        empty = torch.empty_like(log_x, dtype=torch.float64)
        return empty, torch.empty_like(a), empty.clone()
    a_min, a_max = (float(v) for v in torch.aminmax(a))
    if a_max < TEMME_MIN_A:
        return _series_fraction(log_x, a, deriv, special)
    if a_min >= TEMME_MIN_A:
        log_f, upper, dlogx = temme_log_cdf_and_dlogx(log_x.double(), a.double(), deriv)
        return log_f, upper.to(a.dtype), dlogx
    big = a >= TEMME_MIN_A
    i, j = (~big).nonzero().squeeze(1), big.nonzero().squeeze(1)
    sp_i = None
    if special is not None:
        dg = None if special.digamma is None else special.digamma[i]
        sp_i = Special(special.a[i], special.lgamma[i], dg)
    small_part = _series_fraction(log_x[i], a[i], deriv, sp_i)
    large_part = temme_log_cdf_and_dlogx(log_x[j].double(), a[j].double(), deriv)
    log_f = torch.empty_like(log_x, dtype=torch.float64)
    upper = torch.empty_like(a)
    dlogx = torch.empty_like(log_f) if deriv else None
    for idx, part in ((i, small_part), (j, large_part)):
        log_f.index_copy_(0, idx, part[0])
        upper.index_copy_(0, idx, part[1].to(a.dtype))
        if dlogx is not None and part[2] is not None:
            dlogx.index_copy_(0, idx, part[2])
    return log_f, upper, dlogx


def _series_fraction(
    log_x: Tensor, a: Tensor, deriv: bool, special: Special | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """:func:`log_cdf_and_dlogx` by the float32 series / continued fraction (a < 20)."""
    if special is None:
        special = special_values(a, deriv)
    x = torch.exp(log_x).to(a.dtype)  # the float32 points (log_x may be their exact log)
    upper = torch.sub(x, a).sub_(1.0).sign_().clamp_(min=0.0)  # 1.0 where x > a + 1, else 0.0
    depth = _depths(x, a, upper)
    # Sort by (method, depth): the series' elements first, each part by increasing depth;
    # the recurrences run on the sorted copies, their results go back in one scatter.
    key = torch.addcmul(depth, upper, _constants(x)[128]).to(torch.uint8)
    order = torch.sort(key).indices  # any order within a level: the steps are elementwise
    counts = torch.bincount(key, minlength=256).tolist()
    n_series = sum(counts[:128])
    xs, as_, ds = (v.index_select(0, order) for v in (x, a, depth))
    value = torch.ones_like(x)  # M (series) or f (fraction), sorted
    slope = torch.zeros_like(x) if deriv else None  # ∂M/∂a or ∂f/∂a
    sl, sr = slice(0, n_series), slice(n_series, None)
    if n_series:
        dm = None if slope is None else slope[sl]
        _nested_series(xs[sl], as_[sl], _starts(counts[:128], 0, 127), value[sl], dm)
    if n_series < x.numel():
        starts = _starts(counts[128:], n_series, 127)
        df = None if slope is None else slope[sr]
        _nested_fraction(xs[sr], as_[sr], starts, ds[sr], value[sr], df)
    value = torch.empty_like(value).scatter_(0, order, value)
    if slope is not None:
        slope = torch.empty_like(slope).scatter_(0, order, slope)
    return _finish(log_x, x, upper, special, value, slope)


def _finish(
    log_x: Tensor, x: Tensor, upper: Tensor, sp: Special, value: Tensor, slope: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """(log F, upper, ∂ log x/∂a) in float64 from M, ∂M/∂a (series) or f, ∂f/∂a
    (fraction): log x − ψ(a + 1) cancels to a few digits near x ≈ a, and the terms of
    a log x − x − log Γ(a) grow with a. With c = a log x − x − log Γ(a):

    series: log P = c − log a + log M, ∂ log x/∂a = −((log x − ψ(a) − 1/a) M + ∂M/∂a)/a;
    fraction: log Q = c − log f, ∂ log x/∂a = (log x − ψ(a) − f′/f)/f.
    Both are formed for every element and the valid one kept (``upper`` as weight)."""
    a64, t64, w = sp.a, log_x.double(), upper.double()
    v64 = value.double()
    log_v = torch.log(v64)
    common = torch.addcmul(sp.lgamma.neg(), a64, t64).sub_(x.double())
    # (1 − w)(log M − log a) + w (−log f) = log v − (1 − w) log a − 2 w log v
    log_a = torch.log(a64)
    log_f = common.add_(log_v).sub_(log_a.mul_(1.0 - w)).sub_(log_v.mul_(2.0 * w))
    if slope is None or sp.digamma is None:
        return log_f, upper, None
    s64 = slope.double()
    centred = t64 - sp.digamma  # not in place: t64 may be the caller's log_x
    inv_a = a64.reciprocal()
    series = (centred - inv_a).mul_(v64).add_(s64).mul_(inv_a).neg_()
    fraction = centred.sub_(s64.div_(v64)).div_(v64)
    return log_f, upper, torch.lerp(series, fraction, w)


def _halley_step(
    t64: Tensor, a: Tensor, targets: tuple[Tensor, Tensor], special: Special, deriv: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """One Halley step from t (float64) on float32's grid of x: (t_at, t_new, step, the
    derivative at t_at moved to t_new by a second-order Taylor step, or None).

    On h = σ(log F − log target) with F = P, target u (σ = 1) where the pass uses the
    series, F = Q, target 1 − u (σ = −1) where it uses the fraction; x p(x)/F = |h′|."""
    log_u, log_q = targets
    a64, lg_a64 = special.a, special.lgamma
    t_at = torch.log(torch.exp(t64).float().double())
    log_f, upper, dlogx = log_cdf_and_dlogx(t_at, a, deriv, special)
    x64 = torch.exp(t_at)
    up64 = upper.double()
    sigma = 1.0 - 2.0 * up64
    h = sigma * (log_f - torch.lerp(log_u, log_q, up64))
    w = torch.exp(a64 * t_at - x64 - lg_a64 - log_f)  # x p(x)/F = |d log F/dt|
    newton = -h / w
    den = (newton * (a64 - x64 - sigma * w)).mul_(0.5).add_(1.0).clamp_(0.5, 2.0)
    step = (newton / den).clamp_(-2.0, 2.0)
    t_new = (t_at + step).clamp_(min=_MIN_LOG_X)
    if dlogx is not None and special.digamma is not None:
        # d(t + δ) to second order (as _gamma_math._taylor_dlogx, with ψ(a) at hand)
        delta = t_new - t_at
        d1 = special.digamma - t_at - dlogx * (a64 - x64)
        d2 = -1.0 - d1 * (a64 - x64) + dlogx * x64
        dlogx = dlogx + delta * (d1 + 0.5 * delta * d2)
    return t_at, t_new, step, dlogx


def _converged(t_at: Tensor, step: Tensor, t_new: Tensor, a: Tensor) -> Tensor:
    return (step.abs() <= 1e-6 * t_at.abs().clamp(min=1.0)) & fast_domain(t_new, a)


def gamma_log_quantile32(u: Tensor, a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(log x, ∂ log x/∂a, converged) with P(a, x) = u, for float32 1-D u and a; log x in
    float64 (its float32 rounding would cost z ~|log x|·6e-8 of relative precision).

    The first guess of :mod:`._gamma_math` (series start, Wilson–Hilferty, upper tail of
    small a), one Halley step on the value-only pass, one with the derivative (Halley's
    cubic convergence: ~1e-2 → 1e-6 → 1e-18 in t), then up to :data:`_EXTRA_STEPS` more
    for the elements whose last step exceeded 1e-6·max(1, |t|), on those alone.
    ``converged`` is False where that still holds or t left :func:`fast_domain` (the
    caller inverts those in float64).
    """
    if u.numel() == 0:
        t = torch.empty_like(u, dtype=torch.float64)
        return t, torch.empty_like(u), torch.ones_like(u, dtype=torch.bool)
    targets = (torch.log(u.double()), torch.log1p(-u.double()))
    special = special_values(a)  # log Γ(a) once: for the guess and every step
    lg_a = special.lgamma.float()
    guess, _ = _initial_guess(targets[0].float(), targets[1].float(), a, lg_a, lg_a + a.log())
    t64 = guess.double().clamp_(min=_MIN_LOG_X)
    t64 = _halley_step(t64, a, targets, special, False)[1]
    t_at, t64, step, dlogx = _halley_step(t64, a, targets, special, True)
    assert dlogx is not None
    converged = _converged(t_at, step, t64, a)
    for _ in range(_EXTRA_STEPS):
        if bool(converged.all()):
            break
        i = (~converged).nonzero().squeeze(1)
        sp = special
        sub = Special(sp.a[i], sp.lgamma[i], None if sp.digamma is None else sp.digamma[i])
        t_at, t_i, step, d_i = _halley_step(
            t64[i], a[i], (targets[0][i], targets[1][i]), sub, True
        )
        assert d_i is not None
        t64[i], dlogx[i] = t_i, d_i
        converged[i] = _converged(t_at, step, t_i, a[i])
    return t64, dlogx.float(), converged


def standard_gamma_log_quantile32(
    u: Tensor, a: Tensor, deriv: bool
) -> tuple[Tensor, Tensor | None]:
    """(log x, ∂ log x/∂a or None) with P(a, x) = u for float32 ``u`` and ``a`` (any
    broadcastable shapes); log x in float64, the derivative in float32. By
    :func:`gamma_log_quantile32` where it applies and converges, by the float64 inverse
    of :mod:`._gamma_math` elsewhere. No graph."""
    with torch.no_grad():
        u, a = torch.broadcast_tensors(u.detach(), a.detach())
        shape = u.shape
        u, a = u.reshape(-1), a.reshape(-1)
        lo, hi = FAST_RANGE
        use = (a >= lo) & (a <= hi)
        t = torch.empty_like(u, dtype=torch.float64)
        d = torch.empty_like(u)
        i = None if bool(use.all()) else use.nonzero().squeeze(1)
        u_i, a_i = (u, a) if i is None else (u.index_select(0, i), a.index_select(0, i))
        t_i, d_i, ok = gamma_log_quantile32(u_i, a_i)
        if i is None:
            t, d = t_i, d_i
        else:
            t.index_copy_(0, i, t_i)
            d.index_copy_(0, i, d_i)
        redo = ~use
        if i is None:
            redo = ~ok
        else:
            redo.index_fill_(0, i.masked_select(~ok), True)
        if bool(redo.any()):
            j = redo.nonzero().squeeze(1)
            t_j, d_j = standard_gamma_log_quantile_and_grad(
                u.index_select(0, j), a.index_select(0, j)
            )
            t.index_copy_(0, j, t_j)
            d.index_copy_(0, j, d_j.float())
        return t.reshape(shape), d.reshape(shape) if deriv else None
