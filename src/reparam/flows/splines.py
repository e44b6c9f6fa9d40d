r"""Monotone rational-quadratic splines, the elementwise map of neural spline flows.

On [−B, B] the map is a piecewise rational-quadratic function through K + 1 knots
(x_k, y_k) with positive derivatives d_k at the knots (Gregory & Delbourgo 1982); outside
it is the identity (linear tails of slope 1, matching the boundary derivatives d_0 = d_K
= 1, so the map is C¹ everywhere). In bin k, with ξ = (x − x_k)/w_k ∈ [0, 1], bin width
w_k, height h_k and slope s_k = h_k / w_k:

.. math::
    y = y_k + \frac{h_k\,[s_k \xi^2 + d_k \xi(1-\xi)]}
                  {s_k + (d_{k+1} + d_k - 2 s_k)\,\xi(1-\xi)}, \qquad
    \frac{dy}{dx} = \frac{s_k^2\,[d_{k+1}\xi^2 + 2 s_k \xi(1-\xi) + d_k (1-\xi)^2]}
                         {[s_k + (d_{k+1} + d_k - 2 s_k)\,\xi(1-\xi)]^2}

and the inverse is the root in [0, 1] of a quadratic in ξ, taken in the cancellation-free
form (2c / (−b − √Δ) for b ≥ 0, (−b + √Δ) / 2a otherwise, Δ = b² − 4ac).

Reference: Durkan, Bekasov, Murray & Papamakarios, "Neural Spline Flows", NeurIPS 2019,
arXiv:1906.04032.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_int

__all__ = [
    "check_spline_config",
    "packed_spline",
    "rational_quadratic_spline",
    "spline_params_per_feature",
]

MIN_BIN_SIZE = 1e-3
MIN_DERIVATIVE = 1e-3


def spline_params_per_feature(bins: int) -> int:
    """Number of unnormalized parameters per feature for a K-bin spline: 3K − 1."""
    return 3 * bins - 1


def check_spline_config(name: str, bins: int, bound: float) -> None:
    """Raise a ValueError naming ``name`` unless K ≥ 1 is an integer and B > 0."""
    check_int("bins", bins, owner=name)
    if not bins * MIN_BIN_SIZE < 1:
        raise ValueError(f"{name}: bins={bins} is too many for the minimum bin size")
    if not bound > 0:
        raise ValueError(f"{name}: bound must be > 0, got {bound!r}")


def packed_spline(
    x: Tensor, params: Tensor, bins: int, bound: float, inverse: bool = False
) -> tuple[Tensor, Tensor]:
    """:func:`rational_quadratic_spline` with its 3K − 1 raw parameters packed in one tensor.

    Args:
        x: shape (*).
        params: shape (*, 3K − 1): K widths, K heights, K − 1 interior derivatives.
        bins: K.
        bound: B.
        inverse: apply the inverse map.

    Returns:
        The mapped points and the elementwise log-derivative, both shape (*).
    """
    # split, not three slices: the backward of each slice fills a full-size zero tensor.
    widths, heights, derivatives = params.split((bins, bins, bins - 1), dim=-1)
    return rational_quadratic_spline(x, widths, heights, derivatives, bound=bound, inverse=inverse)


def _knots(raw: Tensor, bound: float, min_size: float) -> Tensor:
    """K unnormalized bin sizes (…, K) → K + 1 knot positions (…, K + 1) from −B to B."""
    bins = raw.shape[-1]
    # A written-out softmax: torch.softmax over a short last dim (K = 8) is about twice as
    # slow on CPU as these elementwise ops (forward + backward at (512, 16, 8), one
    # thread: 1.8 vs 0.7–0.9 ms).
    e = torch.exp(raw - raw.detach().amax(dim=-1, keepdim=True))
    sizes = e / e.sum(dim=-1, keepdim=True) * (1.0 - min_size * bins) + min_size
    knots = F.pad(torch.cumsum(sizes, dim=-1), (1, 0)) * (2.0 * bound) - bound
    # Pin the ends exactly, so rounding in the cumulative sum never leaves a gap at ±B.
    knots[..., 0] = -bound
    knots[..., -1] = bound
    return knots


def rational_quadratic_spline(
    x: Tensor,
    widths: Tensor,
    heights: Tensor,
    derivatives: Tensor,
    *,
    bound: float = 5.0,
    inverse: bool = False,
    min_bin_size: float = MIN_BIN_SIZE,
    min_derivative: float = MIN_DERIVATIVE,
) -> tuple[Tensor, Tensor]:
    r"""Apply a monotone rational-quadratic spline elementwise (or its inverse).

    The parameters are unnormalized: bin widths and heights go through a softmax (each
    bin at least ``min_bin_size`` of the 2B range), interior derivatives through
    d = m + softplus(raw + log(e^{1−m} − 1)) so that raw = 0 gives slope exactly 1; the
    boundary derivatives are 1. With all raw parameters zero the spline is the identity.

    Args:
        x: the points, shape (*) (y when ``inverse=True``).
        widths: unnormalized bin widths, shape (*, K).
        heights: unnormalized bin heights, shape (*, K).
        derivatives: unnormalized derivatives at the K − 1 interior knots, shape (*, K − 1).
        bound: B > 0; the spline acts on [−B, B], the identity outside.
        inverse: apply the inverse map instead.
        min_bin_size: smallest bin width/height as a fraction of 2B (K · it must be < 1).
        min_derivative: smallest interior derivative.

    Returns:
        The mapped points, shape (*), and the elementwise log|dy/dx| (``inverse=False``)
        or log|dx/dy| (``inverse=True``), shape (*); the caller sums over features.

    Raises:
        ValueError: the parameter shapes do not match x, K < 1, bound ≤ 0, or the
            minimum bin size leaves no room for K bins.
    """
    bins = widths.shape[-1] if widths.dim() > 0 else 0
    if (
        bins < 1
        or widths.shape != x.shape + (bins,)
        or heights.shape != widths.shape
        or derivatives.shape != x.shape + (bins - 1,)
    ):
        raise ValueError(
            "rational_quadratic_spline: expected widths and heights of shape x.shape + (K,) "
            f"and derivatives of shape x.shape + (K - 1,) with K >= 1; got x {tuple(x.shape)}, "
            f"widths {tuple(widths.shape)}, heights {tuple(heights.shape)}, "
            f"derivatives {tuple(derivatives.shape)}"
        )
    if not bound > 0:
        raise ValueError(f"rational_quadratic_spline: bound must be > 0, got {bound!r}")
    if not 0 <= min_bin_size * bins < 1:
        raise ValueError(
            f"rational_quadratic_spline: min_bin_size={min_bin_size} leaves no room for "
            f"{bins} bins (need 0 <= min_bin_size * bins < 1)"
        )

    knots_x = _knots(widths, bound, min_bin_size)
    knots_y = _knots(heights, bound, min_bin_size)
    shift = math.log(math.expm1(1.0 - min_derivative))
    derivs = F.pad(F.softplus(derivatives + shift) + min_derivative, (1, 1), value=1.0)

    inside = (x >= -bound) & (x <= bound)
    xc = x.clamp(-bound, bound)
    # Bin index = number of interior knots at or below the point (K − 1 comparisons).
    search = knots_y if inverse else knots_x
    idx = (xc.unsqueeze(-1) >= search[..., 1:-1]).sum(dim=-1, keepdim=True)
    idx = torch.cat((idx, idx + 1), dim=-1)
    x0, x1 = knots_x.gather(-1, idx).unbind(-1)
    y0, y1 = knots_y.gather(-1, idx).unbind(-1)
    d0, d1 = derivs.gather(-1, idx).unbind(-1)
    w = x1 - x0
    h = y1 - y0
    s = h / w
    t = d0 + d1 - 2.0 * s

    if inverse:
        dy = xc - y0
        a = h * (s - d0) + dy * t
        b = h * d0 - dy * t
        c = -s * dy
        # The root in [0, 1] without cancellation: 2c / (−b − √Δ) when b ≥ 0, else
        # (−b + √Δ) / 2a; both selected numerators/denominators are finite and nonzero.
        sq = torch.sqrt((b * b - 4.0 * a * c).clamp_min(0.0))
        pos = b >= 0
        q = torch.where(pos, -b - sq, sq - b)
        xi = (torch.where(pos, 2.0 * c, q) / torch.where(pos, q, 2.0 * a)).clamp(0.0, 1.0)
        out = x0 + xi * w
    else:
        xi = ((xc - x0) / w).clamp(0.0, 1.0)
    xi1m = xi * (1.0 - xi)
    denom = s + t * xi1m
    if not inverse:
        out = y0 + h * (s * xi * xi + d0 * xi1m) / denom
    one_m = 1.0 - xi
    num = s * s * (d1 * xi * xi + 2.0 * s * xi1m + d0 * one_m * one_m)
    ladj = torch.log(num) - 2.0 * torch.log(denom)
    if inverse:
        ladj = -ladj
    return torch.where(inside, out, x), ladj.masked_fill(~inside, 0.0)
