"""reparam in Pyro: every reparam distribution as a Pyro distribution, noise, flow guides.

Needs Pyro (``pip install 'reparam[pyro]'``); ``import reparam`` never imports it.

- ``reparam.pyro.Gamma``, ``reparam.pyro.TruncatedNormal``, … : every distribution class
  of :mod:`reparam.distributions` under its own name, usable in ``pyro.sample`` (with
  ``expand``, ``mask``, ``to_event``, plates; pathwise gradients where ``has_rsample``;
  reparam's KL divergences for ``TraceMeanField_ELBO``); :func:`to_pyro` converts an
  existing reparam distribution (e.g. a flow's), :func:`pyro_class` any class;
- :class:`noise`: a handler that makes every reparam site draw ε antithetically or by
  randomized QMC across the vectorized particles of an ELBO;
- :class:`AutoReparamFlow`: an autoguide whose posterior is a reparam normalizing flow.

Example:
    >>> import pyro, torch, reparam.pyro as rp
    >>> def guide():
    ...     return pyro.sample("rate", rp.Gamma(torch.tensor(2.0), torch.tensor(1.0)))
    >>> float(guide()) > 0
    True
"""

from __future__ import annotations

try:
    import pyro as _pyro  # noqa: F401
except ImportError:  # pragma: no cover - exercised with pyro absent
    raise ImportError(
        "reparam.pyro needs Pyro, which is not installed: pip install 'reparam[pyro]'"
    ) from None

from ._distributions import PYRO_DISTRIBUTIONS, PyroAdapted, pyro_class, to_pyro
from ._noise import PARTICLE_PLATE, noise
from .autoguide import AutoReparamFlow

globals().update(PYRO_DISTRIBUTIONS)

__all__ = [
    "PARTICLE_PLATE",
    "PYRO_DISTRIBUTIONS",
    "AutoReparamFlow",
    "PyroAdapted",
    "noise",
    "pyro_class",
    "to_pyro",
    *sorted(PYRO_DISTRIBUTIONS),
]
