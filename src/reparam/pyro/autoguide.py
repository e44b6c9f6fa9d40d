r"""A Pyro autoguide whose posterior is a reparam normalizing flow.

:class:`AutoReparamFlow` is an ``AutoContinuous`` guide (as Pyro's
``AutoNormalizingFlow`` and ``AutoIAFNormal``): the model's latent sites are mapped to
one unconstrained vector u ∈ R^D (``biject_to(site.support).inv``, concatenated), and
the guide is

.. math::
    \varepsilon \sim \mathcal N(0, I_D), \qquad u = T_K \circ \dots \circ T_1(\varepsilon),
    \qquad z_{\text{site}} = \text{biject\_to}(\text{support})(u_{\text{site}})

with T a flow of :func:`reparam.flows.build_flow` (``"maf"``, ``"iaf"``, ``"nsf"``,
``"realnvp"``, ``"planar"``, ``"radial"``). The latent u is sampled as a
:class:`~reparam.flows.FlowDistribution` made Pyro-ready (:func:`reparam.pyro.to_pyro`),
so ``reparam.pyro.noise`` reaches its ε as for any other reparam site.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pyro.infer.autoguide import AutoContinuous
from pyro.infer.autoguide.initialization import init_to_feasible

from ..flows import FLOWS, Flow, build_flow
from ._distributions import to_pyro

__all__ = ["AutoReparamFlow"]


class AutoReparamFlow(AutoContinuous):
    """A normalizing-flow autoguide over the model's unconstrained latent space.

    Args:
        model: a Pyro model.
        flow: the flow's name (one of :data:`reparam.flows.FLOWS`).
        transforms: K, the number of flow layers.
        hidden_features: the widths of each layer's network (ignored by planar/radial).
        init_loc_fn: Pyro's per-site initialization, used only to trace the model's
            structure (the flow starts at its own initialization, about N(0, I), as
            Pyro's ``AutoNormalizingFlow`` does).
        **flow_kwargs: passed to :func:`~reparam.flows.build_flow` (``bins``, ``bound``, …).

    Usage::

        guide = AutoReparamFlow(model, flow="maf", transforms=3)
        svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())

    The flow (an ``nn.Module``, attribute ``flow``) is built on the first call, when the
    latent dimension D is known; its parameters reach Pyro's param store through
    ``pyro.module`` as for any module of a ``PyroModule``.

    Raises:
        ValueError: an unknown flow name (at construction, naming the choices).
    """

    def __init__(
        self,
        model: Callable[..., Any],
        flow: str = "maf",
        *,
        transforms: int = 3,
        hidden_features: Sequence[int] = (32, 32),
        init_loc_fn: Callable[..., Any] = init_to_feasible,
        **flow_kwargs: Any,
    ) -> None:
        key = flow.lower() if isinstance(flow, str) else flow
        if key not in FLOWS:
            raise ValueError(
                f"AutoReparamFlow: unknown flow {flow!r}; choose one of {', '.join(sorted(FLOWS))}"
            )
        super().__init__(model, init_loc_fn=init_loc_fn)
        self._flow_args: dict[str, Any] = {
            "name": key,
            "transforms": transforms,
            "hidden_features": tuple(hidden_features),
            **flow_kwargs,
        }
        self.flow: Flow | None = None

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        ref = self._init_loc()
        flow = build_flow(features=self.latent_dim, **self._flow_args)
        self.flow = flow.to(dtype=ref.dtype, device=ref.device)

    def get_posterior(self, *args: Any, **kwargs: Any) -> Any:
        """q(u): the flow's distribution over the unconstrained latent vector, shape (D,)."""
        flow = self.flow
        if flow is None:
            raise RuntimeError("AutoReparamFlow: call the guide once before get_posterior")
        return to_pyro(flow())
