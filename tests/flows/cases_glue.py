"""Cases for the generic transform tests: the glue transforms (no conditioner network).

``TransformCase`` is the shared case record; ``tests/flows/cases_conditioned.py`` imports
it and lists the network-conditioned transforms the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reparam.flows.base import Bijection


@dataclass(frozen=True)
class TransformCase:
    name: str
    make: Callable[[], Bijection]  # float64-ready; called under torch.manual_seed(0)
    context_features: int = 0
    randomize: bool = (
        True  # perturb all parameters with N(0, 0.3²) so the test is off the identity
    )
    autoregressive: bool = False  # Jacobian must be triangular (lower) in the natural order


def _elementwise_affine(d: int) -> Callable[[], Bijection]:
    def make() -> Bijection:
        from reparam.flows.elementwise import ElementwiseAffine

        return ElementwiseAffine(d)

    return make


def _actnorm(d: int) -> Callable[[], Bijection]:
    def make() -> Bijection:
        import torch

        from reparam.flows.elementwise import ActNorm

        t = ActNorm(d)
        with torch.no_grad():
            t.inverse(torch.randn(64, d) * 2.0 + 1.0)  # data-dependent init, then frozen
        return t

    return make


def _permutation(d: int) -> Callable[[], Bijection]:
    def make() -> Bijection:
        from reparam.flows.permutation import Permutation

        return Permutation(d, seed=1)

    return make


def _reverse(d: int) -> Callable[[], Bijection]:
    def make() -> Bijection:
        from reparam.flows.permutation import ReversePermutation

        return ReversePermutation(d)

    return make


def _lu_linear(d: int) -> Callable[[], Bijection]:
    def make() -> Bijection:
        from reparam.flows.linear import LULinear

        return LULinear(d)

    return make


def _planar(d: int, c: int = 0) -> Callable[[], Bijection]:
    def make() -> Bijection:
        from reparam.flows.planar import Planar

        return Planar(d, context_features=c)

    return make


def _radial(d: int, c: int = 0) -> Callable[[], Bijection]:
    def make() -> Bijection:
        from reparam.flows.planar import Radial

        return Radial(d, context_features=c)

    return make


CASES: list[TransformCase] = []
for _d in (4, 1):
    CASES += [
        TransformCase(f"ElementwiseAffine-{_d}", _elementwise_affine(_d), autoregressive=True),
        TransformCase(f"ActNorm-{_d}", _actnorm(_d), autoregressive=True),
        TransformCase(f"Permutation-{_d}", _permutation(_d)),
        TransformCase(f"ReversePermutation-{_d}", _reverse(_d)),
        TransformCase(f"LULinear-{_d}", _lu_linear(_d)),
        TransformCase(f"Planar-{_d}", _planar(_d)),
        TransformCase(f"Radial-{_d}", _radial(_d)),
        TransformCase(f"Planar-{_d}-ctx3", _planar(_d, 3), context_features=3),
        TransformCase(f"Radial-{_d}-ctx3", _radial(_d, 3), context_features=3),
    ]
