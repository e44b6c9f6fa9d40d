r"""``noise(strategy)``: draw every reparam site's ε with antithetic or quasi-Monte Carlo noise.

Pyro's ``Trace_ELBO(num_particles=N, vectorize_particles=True)`` runs the guide once
inside a plate ``"num_particles_vectorized"`` of size N: each site's distribution is
expanded to a batch dimension of size N (the particles) and sampled once. Inside
``with noise("antithetic"):`` a site whose distribution is a reparam distribution
(possibly under ``to_event`` or ``mask``) is sampled by this handler instead:

    ε = strategy(q, sample_shape=(N,)) drawn along the particle dimension,
    z = q.from_noise(ε)

so particle i and particle i + N/2 carry reflected noise (ε and −ε for a normal base,
u and 1 − u for a uniform one) under ``"antithetic"``, and the N particles form one
scrambled Sobol' point set under ``"qmc"``. Every other dimension (other plates, event
dimensions) stays independent, every ε_i keeps its law p(ε), and so the ELBO estimate
and its gradient stay unbiased (see :mod:`reparam.noise`). Pyro's own distributions
and observed sites are left to Pyro.

Placement: enter the handler *outside* the ELBO (around ``svi.step`` or
``elbo.loss``), where it sees each site after the particle plate has expanded it. A
site that is not inside the particle plate (one particle, ``vectorize_particles=False``,
or the handler entered inside the ELBO, e.g. around the guide) raises ``ValueError``
under ``"antithetic"`` and ``"qmc"``: one particle has nothing to pair with. ``"mc"``
leaves every site to Pyro.
"""

from __future__ import annotations

from typing import Any

import torch
from pyro.distributions.torch_distribution import ExpandedDistribution, MaskedDistribution
from pyro.poutine.messenger import Messenger
from torch import Tensor
from torch.distributions import Independent

from ..distributions import ReparamDistribution
from ..noise import MonteCarlo, NoiseStrategy, get_noise

__all__ = ["PARTICLE_PLATE", "noise"]

#: the name of the plate Pyro's ELBOs put around the model and guide for
#: ``vectorize_particles=True``.
PARTICLE_PLATE = "num_particles_vectorized"
_EMPTY = torch.Size()


class _ParticleView:
    """q's noise seen with one batch axis moved to the front as the sample dimension.

    A :class:`~reparam.noise.HasNoise` for the strategies, which pair (antithetic) or
    spread (qmc) draws along the first sample dimension.
    """

    def __init__(self, q: ReparamDistribution, axis: int) -> None:
        shape = q.noise_shape()
        self.q, self.noise, self.axis = q, q.noise, axis
        self.size = shape[axis]
        self.rest = shape[:axis] + shape[axis + 1 :]

    def noise_shape(self, sample_shape: torch.Size = _EMPTY) -> torch.Size:
        return torch.Size(sample_shape) + self.rest

    def sample_noise(self, sample_shape: torch.Size = _EMPTY, *, noise: Any = "mc") -> Tensor:
        ref = self.q.sample_noise(torch.Size((0,)))
        shape = self.noise_shape(sample_shape)
        return self.noise.sample(shape, dtype=ref.dtype, device=ref.device)


def _reparam_base(fn: Any) -> tuple[ReparamDistribution | None, bool]:
    """The reparam distribution a site samples from, under ``to_event`` and ``mask``, and
    whether Pyro's ``ExpandedDistribution`` sits on the way (a family with no ``expand``)."""
    expanded = False
    while True:
        if isinstance(fn, ReparamDistribution):
            return fn, expanded
        if isinstance(fn, (Independent, MaskedDistribution, ExpandedDistribution)):
            expanded = expanded or isinstance(fn, ExpandedDistribution)
            fn = fn.base_dist
        else:
            return None, expanded


class noise(Messenger):  # noqa: N801  (a handler, named like Pyro's poutine handlers)
    """A Pyro handler: reparam sites draw ε with ``strategy`` across the particles.

    Args:
        strategy: ``"antithetic"``, ``"qmc"``, ``"mc"`` or a
            :class:`~reparam.noise.NoiseStrategy` instance.
        plate: the name of the plate whose dimension is the sample dimension
            (default Pyro's vectorized-particle plate); name your own plate to pair
            draws across it outside an ELBO.

    Use it as a context manager (``with noise("antithetic"): svi.step(data)``) or as a
    decorator on a function that calls the ELBO.

    Raises:
        ValueError: an unknown strategy name (at construction); at a site: the site is
            not inside ``plate``, or the strategy does not apply to it (an odd number of
            particles for ``"antithetic"``, more than 21201 noise elements per particle
            for ``"qmc"``, a family whose noise strategies cannot reach, e.g. an
            ``ExpandedDistribution``).

    Example:
        >>> import pyro, torch, reparam.pyro as rp
        >>> def guide():
        ...     pyro.sample("z", rp.Normal(torch.tensor(1.0), 2.0))
        >>> with rp.noise("antithetic"), pyro.plate("num_particles_vectorized", 4, dim=-1):
        ...     z = pyro.poutine.trace(guide).get_trace().nodes["z"]["value"]
        >>> torch.allclose(z[:2] - 1.0, -(z[2:] - 1.0))
        True
    """

    def __init__(
        self, strategy: str | NoiseStrategy = "antithetic", *, plate: str = PARTICLE_PLATE
    ) -> None:
        if not isinstance(plate, str):
            raise TypeError(f"noise: plate must be a plate name (str), got {type(plate).__name__}")
        super().__init__()
        self.strategy = get_noise(strategy)
        self.plate = plate

    def _pyro_sample(self, msg: Any) -> None:
        if msg["done"] or msg["is_observed"] or msg["value"] is not None:
            return
        if isinstance(self.strategy, MonteCarlo):
            return
        fn = msg["fn"]
        base, expanded = _reparam_base(fn)
        if base is None:
            return
        name = f"reparam.pyro.noise({self.strategy.name!r})"
        if expanded:
            raise ValueError(
                f"{name}: site {msg['name']!r} is a {type(base).__name__} under Pyro's "
                "ExpandedDistribution (its family has no expand), out of reach of noise "
                "strategies; use noise='mc'"
            )
        frame = next((f for f in msg["cond_indep_stack"] if f.name == self.plate), None)
        axis = -1 if frame is None else len(fn.batch_shape) + frame.dim
        if frame is None or axis < 0 or fn.batch_shape[axis] != frame.size:
            raise ValueError(
                f"{name}: site {msg['name']!r} has no particle dimension (plate "
                f"{self.plate!r}): {self.strategy.name} pairs or spreads ε across particles, "
                "so use an ELBO with num_particles > 1 and vectorize_particles=True and enter "
                "the handler outside it (around svi.step), not around the guide"
            )
        view = _ParticleView(base, axis)
        eps = self.strategy(view, (view.size,)).movedim(0, axis)
        keep = getattr(base, "from_noise_keeping_log_prob", None)
        msg["value"] = keep(eps) if keep is not None else base.from_noise(eps)
