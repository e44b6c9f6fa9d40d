r"""Control variates for the pathwise estimator (Miller et al. 2017).

A control variate c with E_q[c] known in closed form and differentiable in θ replaces
f(z_i) by f(z_i) − c(z_i) + E_q[c]: same expectation, less variance when c tracks f.
:class:`TaylorControlVariate` expands f around z̄ = sg(E_q[z]),

.. math:: c(z) = g^\top (z - \bar z) + \tfrac12 (z - \bar z)^\top H (z - \bar z),
          \qquad g = \nabla f(\bar z),\ H = \nabla^2 f(\bar z),

with E_q[c] = gᵀ(m(θ) − z̄) + ½ tr(H Σ(θ)) + ½ (m − z̄)ᵀH(m − z̄), m = E_q[z],
Σ = Cov_q[z].

References:
    Miller, Foti, D'Amour & Adams, "Reducing Reparameterization Gradient Variance",
    NeurIPS 2017, arXiv:1705.07880.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, cast

import torch
from torch import Tensor
from torch.distributions import Distribution

from .base import Function, _evaluate, _option

__all__ = [
    "QUADRATIC_MAX_DIM",
    "ControlVariate",
    "TaylorControlVariate",
    "control_variate_names",
]


#: the largest number of Hessian-vector products (size of H) the quadratic control
#: variate computes per estimate; H has d² entries and costs d backward passes.
QUADRATIC_MAX_DIM = 1024


def _moment(q: Distribution, name: str, who: str) -> Tensor:
    """q.mean or q.variance, checked to exist and be finite (shape batch + event)."""
    try:
        value = getattr(q, name)
    except NotImplementedError:
        value = None
    if not isinstance(value, Tensor):
        raise ValueError(
            f"control_variate={who!r} needs q's {name} in closed form; {type(q).__name__} has none"
        )
    if not bool(torch.isfinite(value).all()):
        raise ValueError(
            f"control_variate={who!r} needs a finite {name} of q; {type(q).__name__}'s "
            f"{name} is {value.detach().flatten()[:4].tolist()} (use control_variate=None)"
        )
    return value.expand(q.batch_shape + q.event_shape)


def _is_factorized(q: Distribution) -> bool:
    """The event's coordinates are independent (so the covariance is diag(variance))."""
    if len(q.event_shape) == 0:
        return True
    base = getattr(q, "base_dist", None)
    return (
        hasattr(q, "reinterpreted_batch_ndims")
        and isinstance(base, Distribution)
        and _is_factorized(base)
    )


def _covariance_blocks(q: Distribution, who: str) -> tuple[Tensor, bool]:
    """(Σ per batch element, is_diagonal): shape (b, k, k), or the variances (b, k)."""
    b, k = math.prod(q.batch_shape), math.prod(q.event_shape)
    if _is_factorized(q):
        return _moment(q, "variance", who).reshape(b, k), True
    if len(q.event_shape) == 1:
        try:
            cov = cast(Any, q).covariance_matrix  # not every Distribution has one
        except (AttributeError, NotImplementedError):
            cov = None
        if isinstance(cov, Tensor):
            if not bool(torch.isfinite(cov).all()):
                raise ValueError(
                    f"control_variate={who!r} needs a finite covariance of q; "
                    f"{type(q).__name__}'s covariance_matrix is not finite"
                )
            return cov.expand(q.batch_shape + (k, k)).reshape(b, k, k), False
    raise ValueError(
        f"control_variate={who!r} needs q's covariance: {type(q).__name__} has event shape "
        f"{tuple(q.event_shape)} with no covariance_matrix and its coordinates are not "
        "known to be independent (use control_variate='linear')"
    )


#: up to this many Hessian-vector products are run one by one; more are batched (vmap),
#: whose fixed set-up cost only pays off for larger d.
_HVP_LOOP_MAX = 8


def _hessian(grad: Tensor, x: Tensor, groups: int, dim: int) -> Tensor:
    """H[g, i, j] = ∂ grad[g, i] / ∂ x[g', j] summed over g' (``dim`` HVPs)."""
    eye = torch.eye(dim, dtype=x.dtype, device=x.device)
    probes = eye[:, None, :].expand(dim, groups, dim).reshape((dim, *x.shape))
    cols = None
    if dim > _HVP_LOOP_MAX:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*performance drop.*")
                (cols,) = torch.autograd.grad(
                    grad, x, probes, retain_graph=True, is_grads_batched=True, allow_unused=True
                )
        except RuntimeError:  # an op without a vmap rule: fall back to the loop
            cols = None
    if cols is None:
        parts = [
            torch.autograd.grad(grad, x, p, retain_graph=True, allow_unused=True)[0]
            for p in probes
        ]
        cols = None if parts[0] is None else torch.stack(parts)
    if cols is None:
        return torch.zeros(groups, dim, dim, dtype=x.dtype, device=x.device)
    hess = cols.reshape(dim, groups, dim).permute(1, 2, 0)
    return 0.5 * (hess + hess.mT)


class ControlVariate(ABC):
    """A control variate for the pathwise estimator: ``cv(f, q, z, fz)`` → adjusted values.

    The adjusted values f(z_i) − c(z_i) + E_q[c] have the same expectation as f(z_i),
    as a function of θ, so both the value and the pathwise gradient stay unbiased for
    any c whose expectation is computed exactly and differentiably in θ.
    """

    name: ClassVar[str] = "cv"

    @abstractmethod
    def __call__(self, f: Function, q: Distribution, z: Tensor, fz: Tensor) -> Tensor:
        """The adjusted values, shape of ``fz``, for samples z = g(ε, θ) and fz = f(z)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class TaylorControlVariate(ControlVariate):
    r"""First- or second-order Taylor expansion of f around z̄ = sg(E_q[z]).

    .. math::
        c(z) = g^\top(z - \bar z) + \tfrac12 (z - \bar z)^\top H (z - \bar z), \qquad
        \mathbb E_q[c] = g^\top(m(\theta) - \bar z) + \tfrac12\operatorname{tr}(H\Sigma(\theta))
        + \tfrac12 (m - \bar z)^\top H (m - \bar z)

    with g = ∇f(z̄) and H = ∇²f(z̄) computed at every estimate and held constant,
    m(θ) = ``q.mean`` and Σ(θ) its covariance, both differentiable. Because z̄ = m in
    value, the last term and its gradient are zero (it is left out). The linear part of
    f then contributes no noise (order 1), and for order 2 the quadratic part neither:
    for a quadratic f the gradient has zero variance.

    Shapes: samples z have shape (N, *batch, *event). If f returns shape (N,) it is
    expanded in all of z at once, flattened to d = prod(batch + event) coordinates. If
    it returns (N, *batch) (batch non-empty), value b is expanded in z's batch element
    b only (d = prod(event)), which is right when f's value b depends only on z[:, b]
    (otherwise the estimator stays unbiased but reduces variance less). f must also
    accept a batch of one sample (it is evaluated at z̄). Σ is ``q.variance`` when the
    event's coordinates are independent (scalar events, ``Independent`` of scalar
    families) and ``q.covariance_matrix`` for a vector event (multivariate normals).

    Args:
        order: 1 (``"linear"``) or 2 (``"quadratic"``: H from d Hessian-vector
            products, batched; d ≤ :data:`QUADRATIC_MAX_DIM`).

    Raises:
        ValueError: a bad order; at use: q without a finite mean (e.g. Cauchy) or,
            for order 2, without a finite covariance; d > QUADRATIC_MAX_DIM; f's values
            not of shape (N,) or (N, *batch).

    References:
        Miller, Foti, D'Amour & Adams, "Reducing Reparameterization Gradient
        Variance", NeurIPS 2017, arXiv:1705.07880.

    Example:
        >>> from reparam import Normal
        >>> from reparam.estimators import Pathwise, expectation
        >>> loc = torch.tensor(1.0, requires_grad=True)
        >>> est = Pathwise(control_variate="quadratic")
        >>> expectation(lambda z: z**2, Normal(loc, 2.0), 4, est).backward()
        >>> loc.grad  # ∂/∂μ E[z²] = 2μ, exactly, whatever the samples
        tensor(2.)
    """

    def __init__(self, order: int) -> None:
        if order not in (1, 2):
            raise ValueError(f"TaylorControlVariate: order must be 1 or 2, got {order!r}")
        self.order = order

    # an instance property over the ClassVar ControlVariate.name (nothing assigns name on an
    # instance, which is what mypy guards against)
    @property
    def name(self) -> str:  # type: ignore[override]
        return "linear" if self.order == 1 else "quadratic"

    def __call__(self, f: Function, q: Distribution, z: Tensor, fz: Tensor) -> Tensor:
        n, batch, event = z.shape[0], q.batch_shape, q.event_shape
        b, k = math.prod(batch), math.prod(event)
        if fz.shape == (n,):
            groups, dim = 1, b * k
        elif len(batch) and fz.shape == (n, *batch):
            groups, dim = b, k
        else:
            raise ValueError(
                f"control_variate={self.name!r} needs f to return shape (num_samples,) = "
                f"{(n,)} or (num_samples, *batch_shape) = {(n, *batch)}; got "
                f"{tuple(fz.shape)}"
            )
        if self.order == 2 and dim > QUADRATIC_MAX_DIM:
            raise ValueError(
                f"control_variate='quadratic' computes a {dim}×{dim} Hessian; d = {dim} "
                f"exceeds QUADRATIC_MAX_DIM = {QUADRATIC_MAX_DIM} (use 'linear')"
            )
        mean = _moment(q, "mean", self.name)
        if self.order == 2:
            cov, diagonal = _covariance_blocks(q, self.name)
        z_bar = mean.detach()
        grad, hess = self._derivatives(f, z_bar, groups, dim)
        delta = (z - z_bar).reshape(n, groups, dim)
        cv = (delta * grad).sum(-1)
        expected = (grad * (mean - z_bar).reshape(groups, dim)).sum(-1)
        if hess is not None:
            cv = cv + 0.5 * torch.einsum("ngi,gij,ngj->ng", delta, hess, delta)
            expected = expected + 0.5 * self._trace(hess, cov, diagonal, groups, b, k)
        return (fz.reshape(n, groups) - cv + expected).reshape(fz.shape)

    def _derivatives(
        self, f: Function, z_bar: Tensor, groups: int, dim: int
    ) -> tuple[Tensor, Tensor | None]:
        """(g, H) of the summed values at z̄, as constants: shapes (G, d), (G, d, d)."""
        with torch.enable_grad():
            x = z_bar.unsqueeze(0).clone().requires_grad_(True)
            total = _evaluate(f, x, 1).sum()
            if not total.requires_grad:  # f does not depend on z
                zeros = torch.zeros(groups, dim, dtype=x.dtype, device=x.device)
                return zeros, None if self.order == 1 else zeros.new_zeros(groups, dim, dim)
            (grad,) = torch.autograd.grad(
                total, x, create_graph=self.order == 2, allow_unused=True
            )
            if grad is None:
                grad = torch.zeros_like(x)
            hess = None
            if self.order == 2:
                if grad.requires_grad:
                    hess = _hessian(grad, x, groups, dim).detach()
                else:  # f is linear in z
                    hess = x.new_zeros(groups, dim, dim)
        return grad.detach().reshape(groups, dim), hess

    @staticmethod
    def _trace(hess: Tensor, cov: Tensor, diagonal: bool, groups: int, b: int, k: int) -> Tensor:
        """tr(H Σ) per group; Σ is block diagonal over the b batch elements."""
        if groups == 1:  # one expansion over all b·k coordinates: H's diagonal blocks
            blocks = hess[0].reshape(b, k, b, k).diagonal(dim1=0, dim2=2).permute(2, 0, 1)
        else:
            blocks = hess
        if diagonal:
            per_element = (blocks.diagonal(dim1=-2, dim2=-1) * cov).sum(-1)
        else:
            per_element = (blocks * cov).sum((-2, -1))  # Σ symmetric: tr(HΣ) = Σ H ⊙ Σ
        return per_element.sum().reshape(1) if groups == 1 else per_element

    def __repr__(self) -> str:
        return f"TaylorControlVariate(order={self.order})"


_CONTROL_VARIATES: dict[str, Callable[[], ControlVariate]] = {
    "linear": lambda: TaylorControlVariate(1),
    "quadratic": lambda: TaylorControlVariate(2),
}


def control_variate_names() -> list[str]:
    """The names accepted by ``control_variate=``."""
    return sorted(_CONTROL_VARIATES)


def _as_control_variate(cv: str | ControlVariate | None) -> ControlVariate | None:
    return _option(
        cv,
        ControlVariate,
        _CONTROL_VARIATES,
        f"unknown control_variate {cv!r}; use None, one of "
        f"{', '.join(control_variate_names())}, or a ControlVariate instance",
    )
