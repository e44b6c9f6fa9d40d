r"""q(z|x) and p(z) of :class:`~reparam.vae.VAE`, one place per posterior family.

The encoder's head gives :func:`head_size` numbers per image; :func:`posterior` turns
them into q(z|x) and :func:`prior` gives the matching p(z):

- ``"normal"``, ``"lowrank"``, ``"fullrank"``, and the flows ``"planar"``, ``"iaf"`` on a
  diagonal base: Gaussian posteriors, prior N(0, I).
- ``"vmf"`` (von Mises–Fisher; Davidson, Falorsi, De Cao, Kipf & Tomczak, "Hyperspherical
  Variational Auto-Encoders", UAI 2018, arXiv:1804.00891) and ``"power-spherical"`` (De
  Cao & Aziz, "The Power Spherical distribution", 2020, arXiv:2006.04437): z on the unit
  sphere S^{d−1} ⊂ R^d (d = ``latent_dim``, the ambient dimension, as in the S-VAE code),
  direction μ(x) = v/|v| and concentration κ(x) = softplus(·) + 1 (the + 1 of Davidson
  et al.'s code keeps q away from the uniform it would otherwise collapse to), prior
  uniform on the sphere, and the analytic KL

  .. math:: \mathrm{KL}(q \,\|\, \mathcal U(S^{d-1})) = -H[q] + \log |S^{d-1}|,
      \qquad |S^{d-1}| = 2\pi^{d/2} / \Gamma(d/2).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Distribution

from ._vae_options import FLOW_POSTERIORS
from .distributions import (
    DiagonalNormal,
    LowRankMultivariateNormal,
    MultivariateNormal,
    PowerSpherical,
    SphericalUniform,
    VonMisesFisher,
)
from .flows.distribution import FlowDistribution

__all__ = [
    "FLOW_POSTERIORS",
    "LOWRANK_RANK",
    "MIN_SCALE",
    "POSTERIORS",
    "SPHERE_POSTERIORS",
    "head_size",
    "posterior",
    "prior",
]

SPHERE_POSTERIORS = ("vmf", "power-spherical")
POSTERIORS = ("normal", "lowrank", "fullrank", *FLOW_POSTERIORS, *SPHERE_POSTERIORS)

#: rank of the low-rank posterior's covariance factor.
LOWRANK_RANK = 2
#: floor added to every standard deviation, so q never collapses to a point.
MIN_SCALE = 1e-4
#: added to the sphere posteriors' softplus concentration (Davidson et al.'s code).
MIN_CONCENTRATION = 1.0

_SPHERE_FAMILIES = {"vmf": VonMisesFisher, "power-spherical": PowerSpherical}


def head_size(name: str, d: int) -> int:
    """The encoder head's outputs per image for posterior ``name`` in dimension ``d``."""
    if name == "normal" or name in FLOW_POSTERIORS:
        return 2 * d
    if name == "lowrank":
        return 2 * d + d * LOWRANK_RANK
    if name in SPHERE_POSTERIORS:
        return d + 1
    return d + d * (d + 1) // 2  # fullrank: the mean and the Cholesky factor's entries


def posterior(vae: Any, h: Tensor, out: Tensor) -> Distribution:
    """q(z|x) from the head's output ``out`` (shape (B, head_size)) and the encoder's last
    hidden activation ``h`` (a flow's context): batch shape (B,), event shape (d,).

    ``validate_args=False`` throughout: a NaN must reach the loss (the training loop stops
    on it) instead of failing inside a distribution's constructor.
    """
    d = vae.latent_dim
    mu, rest = out[..., :d], out[..., d:]
    if vae.posterior in SPHERE_POSTERIORS:
        direction = mu / mu.norm(dim=-1, keepdim=True).clamp(min=torch.finfo(mu.dtype).tiny)
        kappa = F.softplus(rest[..., 0]) + MIN_CONCENTRATION
        return _SPHERE_FAMILIES[vae.posterior](direction, kappa, validate_args=False)
    if vae.posterior == "normal" or vae.is_flow:
        scale = F.softplus(rest.contiguous()) + MIN_SCALE  # contiguous: 5x faster
        q0 = DiagonalNormal(mu, scale, validate_args=False)
        if not vae.is_flow:
            return q0
        # DReG / STL stop θ through detach_params(q), which FlowDistribution supports.
        steps = list(vae.flow)  # the ModuleList of flow steps built by flow_steps
        return FlowDistribution(q0, steps, context=h, validate_args=False)
    if vae.posterior == "lowrank":
        factor = rest[..., : d * LOWRANK_RANK].reshape(*rest.shape[:-1], d, LOWRANK_RANK)
        diag = F.softplus(rest[..., d * LOWRANK_RANK :].contiguous()) + MIN_SCALE
        return LowRankMultivariateNormal(mu, factor, diag, validate_args=False)
    entries = rest.clone()
    entries[..., vae._diag] = F.softplus(rest[..., vae._diag]) + MIN_SCALE
    tril = rest.new_zeros(*rest.shape[:-1], d, d)
    tril[..., vae._tril[0], vae._tril[1]] = entries
    return MultivariateNormal(mu, scale_tril=tril, validate_args=False)


def prior(vae: Any) -> DiagonalNormal | SphericalUniform:
    """p(z): N(0, I), or the uniform distribution on S^{d−1} for a sphere posterior
    (event shape (d,), on the device and in the dtype of the model's buffers)."""
    zero = vae._zero
    if vae.posterior in SPHERE_POSTERIORS:
        return SphericalUniform(
            vae.latent_dim, dtype=zero.dtype, device=zero.device, validate_args=False
        )
    zeros = zero.expand(vae.latent_dim)
    return DiagonalNormal(zeros, zeros + 1.0, validate_args=False)
