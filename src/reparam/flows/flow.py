"""Flow modules: a stack of transforms on a standard normal base, and the usual builders.

``Flow(transforms, features, context_features)`` is an ``nn.Module`` whose call
``flow(context)`` returns a :class:`~reparam.flows.distribution.FlowDistribution`
(batch shape = the context's leading dims, or () when unconditional). The builders
follow zuko's signatures:

- :class:`MAF` — masked autoregressive flow (Papamakarios et al. 2017, arXiv:1705.07057);
- :class:`IAF` — inverse autoregressive flow (Kingma et al. 2016, arXiv:1606.04934);
- :class:`NSF` — neural spline flow (Durkan et al. 2019, arXiv:1906.04032);
- :class:`RealNVP` — affine coupling (Dinh et al. 2017, arXiv:1605.08803);
- :class:`PlanarFlow`, :class:`RadialFlow` — Rezende & Mohamed 2015, arXiv:1505.05770.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from .._checks import check_int
from ..distributions.diagonal_normal import DiagonalNormal
from .autoregressive import MaskedAffineAutoregressive, SplineAutoregressive
from .base import Bijection
from .coupling import AffineCoupling, SplineCoupling
from .distribution import FlowDistribution
from .planar import Planar, Radial

__all__ = [
    "FLOWS",
    "IAF",
    "MAF",
    "NSF",
    "Flow",
    "PlanarFlow",
    "RadialFlow",
    "RealNVP",
    "build_flow",
]


class Flow(nn.Module):
    """A normalizing flow: standard normal base N(0, I_D) and transforms T_1, …, T_K.

    Args:
        transforms: the transforms in sampling order (noise → sample), each with
            ``features`` features and either no context or ``context_features``.
        features: D.
        context_features: C (0: unconditional).

    Call ``flow(context)`` (context shape (*, C), or None when C = 0) to get the
    distribution q(z | context) with batch shape ``context.shape[:-1]``.

    Raises:
        ValueError: a transform is not a Bijection, has the wrong features or
            context_features.
    """

    base_loc: Tensor  # buffers
    base_scale: Tensor

    def __init__(
        self, transforms: Sequence[Bijection], features: int, context_features: int = 0
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_int("features", features, 1, owner=name)
        check_int("context_features", context_features, 0, owner=name)
        transforms = list(transforms)
        for i, t in enumerate(transforms):
            if not isinstance(t, Bijection):
                raise ValueError(
                    f"{name}: transforms[{i}] must be a Bijection, got {type(t).__name__}"
                )
            if t.features != features:
                raise ValueError(
                    f"{name}: transforms[{i}] ({type(t).__name__}) has {t.features} "
                    f"features, expected {features}"
                )
            if t.context_features not in (0, context_features):
                raise ValueError(
                    f"{name}: transforms[{i}] ({type(t).__name__}) has context_features="
                    f"{t.context_features}, expected 0 or {context_features}"
                )
        self.features = features
        self.context_features = context_features
        self.transforms = nn.ModuleList(transforms)
        self.register_buffer("base_loc", torch.zeros(features))
        self.register_buffer("base_scale", torch.ones(features))

    def forward(self, context: Tensor | None = None) -> FlowDistribution:
        """q(z | context): a FlowDistribution with batch shape ``context.shape[:-1]``."""
        name = type(self).__name__
        if self.context_features:
            if context is None:
                raise ValueError(
                    f"{name}: context missing: the flow is conditional "
                    f"(context_features={self.context_features})"
                )
            if context.dim() < 1 or context.shape[-1] != self.context_features:
                raise ValueError(
                    f"{name}: context must have shape (*, {self.context_features}), got "
                    f"{tuple(context.shape)}"
                )
            shape = context.shape[:-1] + self.base_loc.shape
            loc, scale = self.base_loc.expand(shape), self.base_scale.expand(shape)
        elif context is not None:
            raise ValueError(f"{name}: got a context but the flow is unconditional")
        else:
            loc, scale = self.base_loc, self.base_scale
        base = DiagonalNormal(loc, scale, validate_args=False)
        # a ModuleList is a sequence of its Transforms at run time
        return FlowDistribution(base, cast(Sequence[Bijection], self.transforms), context)

    def extra_repr(self) -> str:
        ctx = f", context_features={self.context_features}" if self.context_features else ""
        return f"features={self.features}{ctx}"


def _alternating(make: Callable[[bool], Bijection], transforms: int) -> list[Bijection]:
    """Layers ``make(reverse)`` with reverse = False, True, False, …: each layer's order is
    the previous one reversed, as a ReversePermutation between them would make it, without
    the copy (the masks or the split absorb the reversal, as in zuko)."""
    return [make(i % 2 == 1) for i in range(transforms)]


class MAF(Flow):
    """Masked autoregressive flow: MADE affine layers, density in one pass per layer.

    Args:
        features: D.
        context_features: C.
        transforms: number of autoregressive layers (alternating orders).
        hidden_features: MADE hidden widths.
    """

    fast = "inverse"

    def __init__(
        self,
        features: int,
        context_features: int = 0,
        transforms: int = 5,
        hidden_features: Sequence[int] = (64, 64),
    ) -> None:
        check_int("transforms", transforms, 1, owner=type(self).__name__)
        layers = _alternating(
            lambda r: MaskedAffineAutoregressive(
                features,
                context_features=context_features,
                hidden_features=hidden_features,
                fast=self.fast,
                reverse=r,
            ),
            transforms,
        )
        super().__init__(layers, features, context_features)


class IAF(MAF):
    """Inverse autoregressive flow: as :class:`MAF` with one pass per layer to sample."""

    fast = "forward"


class NSF(Flow):
    """Neural spline flow: rational-quadratic spline layers (autoregressive or coupling).

    Args:
        features: D.
        context_features: C.
        transforms: number of spline layers (alternating orders).
        hidden_features: conditioner hidden widths.
        bins: K spline bins.
        bound: B, the spline acts on [−B, B] (identity outside).
        fast: ``"inverse"`` (density in one pass) or ``"forward"`` (sampling in one pass)
            for the autoregressive form; ignored with ``coupling=True`` (both fast).
        coupling: use :class:`SplineCoupling` layers (needs features >= 2).
    """

    def __init__(
        self,
        features: int,
        context_features: int = 0,
        transforms: int = 5,
        hidden_features: Sequence[int] = (64, 64),
        bins: int = 8,
        bound: float = 5.0,
        fast: str = "inverse",
        coupling: bool = False,
    ) -> None:
        name = type(self).__name__
        check_int("transforms", transforms, 1, owner=name)
        if coupling:
            if features < 2:
                raise ValueError(
                    f"{name}: coupling needs at least 2 features, got features={features}"
                )
            layers: list[Bijection] = _alternating(
                lambda r: SplineCoupling(
                    features,
                    context_features=context_features,
                    hidden_features=hidden_features,
                    bins=bins,
                    bound=bound,
                    reverse=r,
                ),
                transforms,
            )
        else:
            layers = _alternating(
                lambda r: SplineAutoregressive(
                    features,
                    context_features=context_features,
                    hidden_features=hidden_features,
                    bins=bins,
                    bound=bound,
                    fast=fast,
                    reverse=r,
                ),
                transforms,
            )
        super().__init__(layers, features, context_features)


class RealNVP(Flow):
    """RealNVP: affine coupling layers with alternating halves (features >= 2).

    Args:
        features: D >= 2.
        context_features: C.
        transforms: number of coupling layers.
        hidden_features: conditioner hidden widths.
    """

    def __init__(
        self,
        features: int,
        context_features: int = 0,
        transforms: int = 5,
        hidden_features: Sequence[int] = (64, 64),
    ) -> None:
        name = type(self).__name__
        check_int("transforms", transforms, 1, owner=name)
        if isinstance(features, int) and features < 2:
            raise ValueError(
                f"{name}: coupling needs at least 2 features, got features={features}"
            )
        layers = _alternating(
            lambda r: AffineCoupling(
                features,
                context_features=context_features,
                hidden_features=hidden_features,
                reverse=r,
            ),
            transforms,
        )
        super().__init__(layers, features, context_features)


class PlanarFlow(Flow):
    """A stack of :class:`~reparam.flows.planar.Planar` layers (sampling in one pass each).

    Args:
        features: D.
        context_features: C (> 0: amortized parameters from the context).
        transforms: number of layers.
    """

    layer: type[Bijection] = Planar

    def __init__(self, features: int, context_features: int = 0, transforms: int = 10) -> None:
        check_int("transforms", transforms, 1, owner=type(self).__name__)
        layers = [
            self.layer(features, context_features=context_features) for _ in range(transforms)
        ]
        super().__init__(layers, features, context_features)


class RadialFlow(PlanarFlow):
    """A stack of :class:`~reparam.flows.planar.Radial` layers."""

    layer = Radial


# Callable, not type[Flow]: the builders' constructors differ from Flow's own.
FLOWS: dict[str, Callable[..., Flow]] = {
    "maf": MAF,
    "iaf": IAF,
    "nsf": NSF,
    "realnvp": RealNVP,
    "planar": PlanarFlow,
    "radial": RadialFlow,
}


def build_flow(
    name: str,
    features: int,
    context_features: int = 0,
    transforms: int = 5,
    hidden_features: Sequence[int] = (64, 64),
    **kwargs: object,
) -> Flow:
    """Build a flow by name (one of ``FLOWS``).

    ``hidden_features`` is ignored by the planar and radial flows (no network). Extra
    keywords go to the builder (e.g. ``bins``, ``bound``, ``fast``, ``coupling`` for NSF).

    Raises:
        ValueError: unknown name (the message lists the choices).
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in FLOWS:
        raise ValueError(f"unknown flow {name!r}; choose one of {', '.join(sorted(FLOWS))}")
    cls = FLOWS[key]
    if cls in (PlanarFlow, RadialFlow):
        return cls(features, context_features=context_features, transforms=transforms, **kwargs)
    return cls(
        features,
        context_features=context_features,
        transforms=transforms,
        hidden_features=hidden_features,
        **kwargs,
    )
