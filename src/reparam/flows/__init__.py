"""Normalizing flows: bijective transforms, flow distributions and flow builders.

Direction convention: a transform's ``forward`` is the sampling direction (noise →
sample); ``inverse`` is the density direction. See :mod:`reparam.flows.base`.
"""

from .autoregressive import MaskedAffineAutoregressive, SplineAutoregressive
from .base import MLP, Bijection
from .coupling import AffineCoupling, SplineCoupling
from .distribution import FlowDistribution
from .elementwise import ActNorm, ElementwiseAffine
from .flow import FLOWS, IAF, MAF, NSF, Flow, PlanarFlow, RadialFlow, RealNVP, build_flow
from .linear import LULinear
from .made import MADE, MaskedLinear
from .permutation import Permutation, ReversePermutation
from .planar import Planar, Radial
from .splines import rational_quadratic_spline

__all__ = [
    "FLOWS",
    "IAF",
    "MADE",
    "MAF",
    "MLP",
    "NSF",
    "ActNorm",
    "AffineCoupling",
    "ElementwiseAffine",
    "Flow",
    "FlowDistribution",
    "LULinear",
    "MaskedAffineAutoregressive",
    "MaskedLinear",
    "Permutation",
    "Planar",
    "PlanarFlow",
    "Radial",
    "RadialFlow",
    "RealNVP",
    "ReversePermutation",
    "SplineAutoregressive",
    "SplineCoupling",
    "Bijection",
    "build_flow",
    "rational_quadratic_spline",
]


def __getattr__(name: str) -> object:
    if name == "Transform":  # the old name of Bijection, deprecated
        from . import base

        return base.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
