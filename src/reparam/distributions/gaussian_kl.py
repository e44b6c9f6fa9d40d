r"""Closed-form KL divergences between the Gaussian families, registered with torch.

Importing this module (``import reparam`` does) registers, with
:func:`torch.distributions.kl.register_kl`, KL(p ‖ q) for

- ``Normal`` – ``Normal`` (ours and ``torch.distributions.Normal``, either side);
- every ordered pair of ``DiagonalNormal``, ``MultivariateNormal`` and
  ``LowRankMultivariateNormal``;
- ``Independent`` – ``Independent`` with the same reinterpreted dimensions (KL of the
  bases, summed), and ``Independent(Normal, 1)`` – ``DiagonalNormal`` either way.

For Gaussians with equal event shapes (d,),

.. math::
    \mathrm{KL}(p\,\|\,q) = \tfrac12\left[\operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
    + (\mu_q-\mu_p)^\top\Sigma_q^{-1}(\mu_q-\mu_p) - d\right]
    + \tfrac12\log\det\Sigma_q - \tfrac12\log\det\Sigma_p .

Σ_p enters only through a factor F with Σ_p = F Fᵀ, and Σ_q⁻¹ only through the
quadratic form tr(Xᵀ Σ_q⁻¹ X) (a triangular solve for the full-rank family, Woodbury
for the low-rank one), so each pair costs what its structure allows.
"""

from __future__ import annotations

import torch
import torch.distributions as td
from torch import Tensor
from torch.distributions.kl import kl_divergence, register_kl

from ._gaussian import tril_solve
from .diagonal_normal import DiagonalNormal
from .independent import Independent
from .lowrank_multivariate_normal import LowRankMultivariateNormal
from .multivariate_normal import MultivariateNormal
from .normal import Normal

__all__: list[str] = []

_Gaussian = DiagonalNormal | MultivariateNormal | LowRankMultivariateNormal
_GAUSSIANS = (DiagonalNormal, MultivariateNormal, LowRankMultivariateNormal)


def _kl_elementwise(p_loc: Tensor, p_scale: Tensor, q_loc: Tensor, q_scale: Tensor) -> Tensor:
    """KL(N(μp, σp²) ‖ N(μq, σq²)) elementwise."""
    var_ratio = (p_scale / q_scale).pow(2)
    t1 = ((p_loc - q_loc) / q_scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Normal, Normal)
@register_kl(Normal, td.Normal)
@register_kl(td.Normal, Normal)
def _kl_normal_normal(p: Normal | td.Normal, q: Normal | td.Normal) -> Tensor:
    return _kl_elementwise(p.loc, p.scale, q.loc, q.scale)


# ----------------------------------------------------------------------------- Gaussians
def _half_log_det(p: _Gaussian) -> Tensor:
    """½ log det Σ (unbroadcast batch shape)."""
    if isinstance(p, DiagonalNormal):
        return p.scale.log().sum(-1)
    return p._half_log_det()


def _factor(p: _Gaussian) -> Tensor:
    """A matrix F with shape (*, d, k) and Σ_p = F Fᵀ."""
    if isinstance(p, DiagonalNormal):
        return torch.diag_embed(p.scale)
    if isinstance(p, MultivariateNormal):
        return p._unbroadcasted_scale_tril
    W, D = p._unbroadcasted_cov_factor, p._unbroadcasted_cov_diag
    S = torch.diag_embed(D.sqrt())
    batch = torch.broadcast_shapes(W.shape[:-2], S.shape[:-2])
    return torch.cat([W.expand(batch + W.shape[-2:]), S.expand(batch + S.shape[-2:])], -1)


def _inv_quad(q: _Gaussian, X: Tensor) -> Tensor:
    """tr(Xᵀ Σ_q⁻¹ X) for X with shape (*, d, k)."""
    if isinstance(q, DiagonalNormal):
        return (X / q.scale.unsqueeze(-1)).pow(2).sum((-2, -1))
    if isinstance(q, MultivariateNormal):
        return tril_solve(q._unbroadcasted_scale_tril, X).pow(2).sum((-2, -1))
    W, D = q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag
    Dinv = D.reciprocal().unsqueeze(-1)
    A = tril_solve(q._capacitance_tril, torch.matmul((W * Dinv).mT, X))  # C^{-½}WᵀD⁻¹X
    return (X.pow(2) * Dinv).sum((-2, -1)) - A.pow(2).sum((-2, -1))


def _kl_gaussian(p: _Gaussian, q: _Gaussian) -> Tensor:
    if p.event_shape != q.event_shape:
        raise ValueError(
            f"KL between Gaussians of different event shapes: {tuple(p.event_shape)} and "
            f"{tuple(q.event_shape)}"
        )
    if isinstance(p, DiagonalNormal) and isinstance(q, DiagonalNormal):
        return _kl_elementwise(p.loc, p.scale, q.loc, q.scale).sum(-1)
    d = p.event_shape[0]
    if isinstance(q, DiagonalNormal):
        trace = (p.variance / q.scale.pow(2)).sum(-1)
    else:
        trace = _inv_quad(q, _factor(p))
    maha = _inv_quad(q, (q.loc - p.loc).unsqueeze(-1))
    kl = _half_log_det(q) - _half_log_det(p) + 0.5 * (trace + maha - d)
    return kl.expand(torch.broadcast_shapes(p.batch_shape, q.batch_shape))


for _p in _GAUSSIANS:
    for _q in _GAUSSIANS:
        register_kl(_p, _q)(_kl_gaussian)


# ----------------------------------------------------------------------------- Independent
@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError
    kl = kl_divergence(p.base_dist, q.base_dist)
    n = p.reinterpreted_batch_ndims
    return kl.sum(tuple(range(-n, 0))) if n else kl


def _diagonal_of(p: Independent) -> DiagonalNormal:
    """``Independent(Normal, 1)`` as the ``DiagonalNormal`` it equals."""
    if p.reinterpreted_batch_ndims != 1 or not isinstance(p.base_dist, Normal):
        raise NotImplementedError
    return DiagonalNormal(p.base_dist.loc, p.base_dist.scale, validate_args=False)


@register_kl(Independent, DiagonalNormal)
def _kl_independent_diagonal(p: Independent, q: DiagonalNormal) -> Tensor:
    return _kl_gaussian(_diagonal_of(p), q)


@register_kl(DiagonalNormal, Independent)
def _kl_diagonal_independent(p: DiagonalNormal, q: Independent) -> Tensor:
    return _kl_gaussian(p, _diagonal_of(q))
