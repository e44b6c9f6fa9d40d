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

import torch
from torch import Tensor

__all__ = ["FAST_RANGE", "fast_domain", "gamma_cdf_and_dlogx32", "in_fast_domain"]

#: Concentrations the float32 pass serves; elsewhere the float64 pass is used.
FAST_RANGE = (0.05, 20.0)
_MIN_LOG_X = math.log(1e-30)  # below, x is near float32's subnormals: float64 pass


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


def _nested_series(x: Tensor, a: Tensor, starts: list[int]) -> tuple[Tensor, Tensor]:
    """(M, ∂M/∂a) of M = Σ_{n ≤ N_i} x^n/(a+1)_n, nested from each element's own depth.

    The elements are sorted by depth; at level n only those with N_i ≥ n (a suffix) are
    updated, so each gets exactly its N_i steps and the others keep T = 1, D = 0."""
    big_m = torch.ones_like(x)
    dm = torch.zeros_like(x)
    c = _constants(x)
    buffers = (torch.empty_like(x), torch.empty_like(x), x, a, big_m, dm)
    for n, (inv, q, xs, as_, t, d) in _suffixes(starts, range(len(starts) - 2, 0, -1), buffers):
        torch.add(as_, c[n], out=inv).reciprocal_()  # 1/(a + n)
        torch.mul(t, inv, out=q)  # T/(a + n)
        d.sub_(q).mul_(inv).mul_(xs)  # x (D − T/(a + n))/(a + n)
        torch.addcmul(c[1], q, xs, out=t)  # 1 + x T/(a + n)
    return big_m, dm


def _nested_fraction(
    x: Tensor, a: Tensor, starts: list[int], depth: Tensor
) -> tuple[Tensor, Tensor]:
    """(f, ∂f/∂a) of Legendre's fraction for Q, each from its own depth N_i upwards.

    Sorted by depth as in :func:`_nested_series`; an element starts (T = b_{N_i},
    ∂T/∂a = −1) at level N_i; level n takes the step k = n − 1."""
    c = _constants(x)
    base = x + 1.0 - a  # b_k = base + 2k
    f = torch.addcmul(base, depth, c[2])
    df = torch.full_like(x, -1.0)
    buffers = (torch.empty_like(x), torch.empty_like(x), torch.empty_like(x), a, base, f, df)
    levels = range(len(starts) - 2, 0, -1)
    for n, (inv, r, q, as_, bs, t, d) in _suffixes(starts, levels, buffers):
        k = n - 1
        torch.reciprocal(t, out=inv)
        torch.sub(as_, c[n], out=r).mul_(c[n]).mul_(inv)  # a_{k+1}/T_{k+1}
        torch.mul(r, d, out=q).mul_(inv)
        torch.mul(inv, c[n], out=d).sub_(c[1]).sub_(q)  # ∂T_k/∂a
        torch.add(bs, r, out=t).add_(c[2 * k])  # T_k = b_k + a_{k+1}/T_{k+1}
    return f, df


def gamma_cdf_and_dlogx32(log_x: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
    """(P(a, x), ∂ log x/∂a) at x = exp(log x) for float32 1-D inputs in :func:`fast_domain`.

    Args:
        log_x: log of the points, float32, shape (n,).
        a: concentrations, float32, shape (n,).

    Returns:
        (u, dlogx), float32, shape (n,): u = P(a, x) (as 1 − Q above x = a + 1) and the
        implicit derivative of log x in a along P(a, x) = u (relative error ≤ 1e-6).
    """
    if log_x.numel() == 0:
        return torch.empty_like(log_x), torch.empty_like(log_x)
    x = torch.exp(log_x)
    upper = torch.sub(x, a).sub_(1.0).sign_().clamp_(min=0.0)  # 1.0 where x > a + 1, else 0.0
    depth = _depths(x, a, upper)
    # Sort by (method, depth): the series' elements first, each part by increasing depth.
    key = torch.addcmul(depth, upper, _constants(x)[128]).to(torch.uint8)
    order = torch.sort(key, stable=True).indices
    counts = torch.bincount(key, minlength=256).tolist()
    n_series = sum(counts[:128])
    xs, as_, ts, ds = (v.index_select(0, order) for v in (x, a, log_x, depth))
    parts = []
    if n_series:
        sl = slice(0, n_series)
        big_m, dm = _nested_series(xs[sl], as_[sl], _starts(counts[:128], 0, 127))
        parts.append(_finish_series(ts[sl], xs[sl], as_[sl], big_m, dm))
    if n_series < x.numel():
        sl = slice(n_series, None)
        starts = _starts(counts[128:], n_series, 127)
        f, df = _nested_fraction(xs[sl], as_[sl], starts, ds[sl])
        parts.append(_finish_fraction(ts[sl], xs[sl], as_[sl], f, df))
    u_sorted = torch.cat([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    d_sorted = torch.cat([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    u = torch.empty_like(x).scatter_(0, order, u_sorted)
    dlogx = torch.empty_like(x).scatter_(0, order, d_sorted)
    return u, dlogx


def _finish_series(
    t: Tensor, x: Tensor, a: Tensor, big_m: Tensor, dm: Tensor
) -> tuple[Tensor, Tensor]:
    """(P, ∂ log x/∂a) from the series. In float64: log x − ψ(a + 1), which cancels to a
    few digits near x ≈ a, and a log x − x − log Γ(a + 1), whose terms grow with a."""
    a64, t64 = a.double(), t.double()
    log_p = torch.lgamma(a64 + 1.0).neg_().addcmul_(a64, t64).sub_(x.double())
    log_p.add_(torch.log(big_m).double())
    centred = t64.sub_(torch.digamma(a64 + 1.0))
    dlogx = centred.mul_(big_m.double()).add_(dm.double()).div_(a64).neg_()
    return torch.exp(log_p).float(), dlogx.float()


def _finish_fraction(
    t: Tensor, x: Tensor, a: Tensor, f: Tensor, df: Tensor
) -> tuple[Tensor, Tensor]:
    """(P = 1 − Q, ∂ log x/∂a) from the continued fraction (float64 as in the series)."""
    a64, t64 = a.double(), t.double()
    log_q = torch.lgamma(a64).neg_().addcmul_(a64, t64).sub_(x.double())
    log_q.sub_(torch.log(f).double())
    centred = t64.sub_(torch.digamma(a64))
    dlogx = centred.sub_((df / f).double()).div_(f.double())
    return torch.expm1(log_q).neg_().float(), dlogx.float()
