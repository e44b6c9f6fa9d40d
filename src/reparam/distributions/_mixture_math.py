"""The numerics behind :class:`~reparam.distributions.mixture.MixtureSameFamily`'s g.

The mixture's ε is one uniform per coordinate; z_d = F_d⁻¹(u_d | z_<d) inverts the
conditional mixture CDF of coordinate d (weights updated by the earlier coordinates) by a
bracketed root search. Here: the starting brackets from the component supports and
quantiles, the inversion, and the per-coordinate marginals and slices of the components.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.distributions import Independent as TorchIndependent

from .diagonal_normal import DiagonalNormal
from .implicit import (
    ImplicitReparamDistribution,
    expand_bracket,
    invert_cdf,
)
from .independent import Independent
from .normal import Normal

if TYPE_CHECKING:
    pass

_EMPTY = torch.Size()


def _has(dist: object, method: str) -> bool:
    """Does ``dist`` override ``Distribution.<method>``?"""
    return getattr(type(dist), method, None) is not getattr(Distribution, method)


def _start_bracket(support: object, like: Tensor) -> tuple[Tensor, Tensor]:
    """A finite starting bracket strictly inside the support (widened later)."""
    low = getattr(support, "lower_bound", -math.inf)
    high = getattr(support, "upper_bound", math.inf)
    low = float(low) if isinstance(low, (int, float)) else -math.inf
    high = float(high) if isinstance(high, (int, float)) else math.inf
    if math.isfinite(low) and math.isfinite(high):
        a, b = low + 0.25 * (high - low), high - 0.25 * (high - low)
    elif math.isfinite(low):
        a, b = low + 0.5, low + 1.5
    elif math.isfinite(high):
        a, b = high - 1.5, high - 0.5
    else:
        a, b = -1.0, 1.0
    return torch.full_like(like, a), torch.full_like(like, b)


def _quantile_bounds(comp: Distribution, log_w: Tensor, u: Tensor) -> tuple[Tensor, Tensor] | None:
    r"""Bounds on z* = F⁻¹(u) from the components' quantiles (±inf where there are none).

    F lies between the extreme component CDFs, so min_k F_k⁻¹(u) ≤ z* ≤ max_k F_k⁻¹(u);
    and w_k F_k ≤ F ≤ w_k F_k + 1 − w_k for every k, so
    F_k⁻¹((u − 1 + w_k)/w_k) ≤ z* ≤ F_k⁻¹(u/w_k) where the arguments lie in (0, 1):
    tight when one component dominates (as the conditionals of a diagonal mixture
    usually do after a few coordinates). ``None`` if the components have no ``icdf``.
    Components whose own ``icdf`` is a numerical inverse (implicit families) get only
    the first pair, one inverse each.
    """
    w = log_w.exp()
    uk = u.unsqueeze(-1).expand(*u.shape, w.shape[-1])
    try:
        q = comp.icdf(uk)
    except NotImplementedError:
        return None
    inf = math.inf
    finite = torch.isfinite(q)
    any_finite = finite.any(-1)
    lo = torch.where(any_finite, torch.where(finite, q, inf).amin(-1), -inf)
    hi = torch.where(any_finite, torch.where(finite, q, -inf).amax(-1), inf)
    if isinstance(comp, ImplicitReparamDistribution):
        return lo, hi
    one = torch.ones((), dtype=u.dtype, device=u.device)
    a = (uk + torch.expm1(log_w)) / w  # (u − (1 − w_k))/w_k
    b = uk / w
    has_a, has_b = a > 0, b < 1
    q_a = comp.icdf(torch.where(has_a, a, 0.5 * one))
    q_b = comp.icdf(torch.where(has_b, b, 0.5 * one))
    lo = torch.maximum(lo, torch.where(has_a & torch.isfinite(q_a), q_a, -inf).amax(-1))
    hi = torch.minimum(hi, torch.where(has_b & torch.isfinite(q_b), q_b, inf).amin(-1))
    # The bounds are attained when the other components' CDFs are saturated (0 or 1);
    # widen them a little so that the root lies strictly inside for the Newton steps.
    pad = 1e-3 * (hi - lo).abs() + 16 * torch.finfo(u.dtype).eps * (1 + lo.abs() + hi.abs())
    pad = torch.where(torch.isfinite(pad), pad, 0.0)
    support = cast(constraints.Constraint, comp.support)  # torch types it as Optional
    lo = torch.where(support.check(lo - pad), lo - pad, lo)
    hi = torch.where(support.check(hi + pad), hi + pad, hi)
    return lo, hi


def _mixture_quantile(comp: Distribution, log_w: Tensor, u: Tensor) -> Tensor:
    """Solve Σ_k w_k F_k(z) = u (no gradient), on the bracket of ``_quantile_bounds``.

    Args:
        comp: univariate components, batch ``(*B, K)``.
        log_w: normalized log-weights broadcastable to ``(*S, *B, K)``.
        u: targets, shape ``(*S, *B)``.
    """
    w = log_w.exp()

    def cdf(z: Tensor) -> Tensor:
        return (w * comp.cdf(z.unsqueeze(-1))).sum(-1)

    def log_density(z: Tensor) -> Tensor:
        return torch.logsumexp(log_w + comp.log_prob(z.unsqueeze(-1)), -1)

    shape = torch.broadcast_shapes(u.shape, w.shape[:-1])
    u = u.expand(shape)
    lo, hi = _start_bracket(comp.support, u)
    bounds = _quantile_bounds(comp, log_w, u)
    if bounds is not None:
        lo = torch.where(torch.isfinite(bounds[0]), bounds[0], lo)
        hi = torch.where(torch.isfinite(bounds[1]), bounds[1], hi)
        lo, hi = torch.minimum(lo, hi), torch.maximum(lo, hi)
    lo, hi = expand_bracket(cdf, u, lo, hi, comp.support)
    return invert_cdf(cdf, u, lo, hi, log_density=log_density)


# --------------------------------------------------------------------------- coordinates
def _coordinate_marginals(component: Distribution) -> Distribution:
    """A univariate distribution with batch ``(*B, K, D)``: coordinate d of component k.

    Raises:
        ValueError: the component's coordinates are not independent (no diagonal
            structure is known), or the marginals have no ``cdf``.
    """
    if isinstance(component, DiagonalNormal):
        base: Distribution = Normal(component.loc, component.scale, validate_args=False)
    elif isinstance(component, (Independent, TorchIndependent)):
        n = component.reinterpreted_batch_ndims
        inner = component.base_dist
        if n == 0:
            return _coordinate_marginals(inner)
        if n != 1 or inner.event_shape != _EMPTY:
            raise ValueError(
                "MixtureSameFamily: component_distribution Independent(..., "
                f"{n}) over a base with event_shape {tuple(inner.event_shape)} is not a "
                "vector of independent univariate coordinates"
            )
        base = inner
    else:
        raise ValueError(
            "MixtureSameFamily: component_distribution "
            f"{type(component).__name__} with event_shape {tuple(component.event_shape)} "
            "has no diagonal structure (independent coordinates); multivariate components "
            "must be Independent(univariate, 1) or DiagonalNormal (a full covariance, e.g. "
            "MultivariateNormal, is not supported)"
        )
    if not _has(base, "cdf"):
        raise ValueError(
            f"MixtureSameFamily: the coordinates of component_distribution "
            f"({type(base).__name__}) have no cdf, which the implicit gradients need"
        )
    return base


def _slice(base: Distribution, d: int) -> Distribution:
    """Coordinate ``d`` of ``base`` (batch ``(*B, K, D)``) rebuilt from its parameters."""
    batch = base.batch_shape
    kwargs = {}
    for name in base.arg_constraints:
        value = base.__dict__.get(name)
        if isinstance(value, Tensor):
            kwargs[name] = value.expand(batch)[..., d]
    if not kwargs:
        raise ValueError("no parameter tensors")
    # the constructor of base's own class, which takes its parameters by name
    make = cast(Callable[..., Distribution], type(base))
    return make(**kwargs, validate_args=False)


def _sliceable(base: Distribution) -> bool:
    """Can each coordinate be rebuilt from sliced parameters, with the same cdf/log_prob?

    Checked once on a draw from ``base``; a family whose constructor does not take its
    ``arg_constraints`` parameters (or holds other state) fails the check, and its
    coordinates are then evaluated on the full batch and selected (slower, same values).
    """
    try:
        with torch.no_grad():
            x = base.sample()
            lp, cdf = base.log_prob(x), base.cdf(x)
            for d in range(base.batch_shape[-1]):
                part = _slice(base, d)
                if part.batch_shape != base.batch_shape[:-1] or part.event_shape != _EMPTY:
                    return False
                xd = x[..., d]
                same = torch.allclose(part.log_prob(xd), lp[..., d], equal_nan=True)
                if not (same and torch.allclose(part.cdf(xd), cdf[..., d], equal_nan=True)):
                    return False
    except Exception:  # a probe: any failure means "do not slice"
        return False
    return True


class _Selected:
    """Coordinate ``d`` of ``base`` by evaluating every coordinate and selecting d."""

    def __init__(self, base: Distribution, d: int) -> None:
        self.base, self.d, self.support = base, d, base.support

    def _apply(self, method: str, x: Tensor) -> Tensor:
        n = self.base.batch_shape[-1]
        return getattr(self.base, method)(x.unsqueeze(-1).expand(*x.shape, n))[..., self.d]

    def cdf(self, x: Tensor) -> Tensor:
        return self._apply("cdf", x)

    def log_prob(self, x: Tensor) -> Tensor:
        return self._apply("log_prob", x)

    def icdf(self, u: Tensor) -> Tensor:
        return self._apply("icdf", u)


# --------------------------------------------------------------------------- the family
