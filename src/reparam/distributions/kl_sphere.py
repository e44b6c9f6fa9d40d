r"""KL divergences between the distributions on the sphere and the uniform one.

Importing this module (``import reparam`` does) registers, with
:func:`torch.distributions.kl.register_kl`:

- **VonMisesFisher – SphericalUniform**: with log C_d(κ) the vMF normalizer and
  A_d(κ) = I_{d/2}(κ)/I_{d/2−1}(κ),

  .. math::
      \mathrm{KL} = \kappa A_d(\kappa) + \log C_d(\kappa) + \log|S^{d-1}|,

  evaluated as (log C_d + κ) − κ(1 − A_d) + log |S^{d−1}| (no cancellation at large κ);
- **PowerSpherical – SphericalUniform**: KL = −H[q] + log |S^{d−1}|.

Both are differentiable in the parameters of the first argument.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions.kl import register_kl

from ._sphere_math import log_sphere_area
from .power_spherical import PowerSpherical
from .spherical_uniform import SphericalUniform
from .von_mises_fisher import VonMisesFisher

__all__: list[str] = []


def _check_dims(p: VonMisesFisher | PowerSpherical, q: SphericalUniform) -> int:
    d = p.event_shape[0]
    if q.dimension != d:
        raise ValueError(
            f"KL({type(p).__name__} || SphericalUniform): the dimensions differ "
            f"({d} and {q.dimension})"
        )
    return d


def _expand(kl: Tensor, q: SphericalUniform) -> Tensor:
    return kl.expand(torch.broadcast_shapes(kl.shape, q.batch_shape))


@register_kl(VonMisesFisher, SphericalUniform)
def _kl_vmf_uniform(p: VonMisesFisher, q: SphericalUniform) -> Tensor:
    _check_dims(p, q)
    return _expand(p.kl_to_uniform(), q)


@register_kl(PowerSpherical, SphericalUniform)
def _kl_power_spherical_uniform(p: PowerSpherical, q: SphericalUniform) -> Tensor:
    d = _check_dims(p, q)
    return _expand(log_sphere_area(d) - p.entropy(), q)
