"""Cases for the generic transform tests: the network-conditioned transforms.

Coupling (affine and spline) and autoregressive (affine and spline, both ``fast``
directions), each unconditional and conditional (C = 3), on D = 4 plus the small edge
sizes D = 2 (coupling) and D = 1 (autoregressive). Small hidden layers keep the
Jacobian and gradcheck tests fast; a spline bound of 2 puts some inputs in the tails.
"""

from __future__ import annotations

from collections.abc import Callable

from reparam.flows.autoregressive import MaskedAffineAutoregressive, SplineAutoregressive
from reparam.flows.base import Bijection
from reparam.flows.coupling import AffineCoupling, SplineCoupling

try:
    from .cases_glue import TransformCase
except ImportError:  # pragma: no cover - only before the glue cases exist
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class TransformCase:  # type: ignore[no-redef]
        name: str
        make: Callable[[], Bijection]
        context_features: int = 0
        randomize: bool = True
        autoregressive: bool = False


HIDDEN = (16, 16)


def _cases() -> list[TransformCase]:
    cases: list[TransformCase] = []
    for c in (0, 3):
        tag = f"c{c}"
        cases += [
            TransformCase(
                f"affine_coupling_d4_{tag}", lambda c=c: AffineCoupling(4, c, HIDDEN), c
            ),
            TransformCase(
                f"affine_coupling_d2_{tag}", lambda c=c: AffineCoupling(2, c, HIDDEN), c
            ),
            TransformCase(
                f"spline_coupling_d4_{tag}",
                lambda c=c: SplineCoupling(4, c, HIDDEN, bins=5, bound=2.0),
                c,
            ),
            TransformCase(
                f"spline_coupling_d2_{tag}", lambda c=c: SplineCoupling(2, c, HIDDEN, bins=3), c
            ),
        ]
        for fast in ("inverse", "forward"):
            for d in (4, 1):
                cases += [
                    TransformCase(
                        f"maa_{fast}_d{d}_{tag}",
                        lambda c=c, d=d, fast=fast: MaskedAffineAutoregressive(
                            d, c, HIDDEN, fast=fast
                        ),
                        c,
                        autoregressive=True,
                    ),
                    TransformCase(
                        f"spline_ar_{fast}_d{d}_{tag}",
                        lambda c=c, d=d, fast=fast: SplineAutoregressive(
                            d, c, HIDDEN, bins=5, bound=2.0, fast=fast
                        ),
                        c,
                        autoregressive=True,
                    ),
                ]
        # reversed order / halves (what the builders alternate); the Jacobian is upper
        # triangular, so no lower-triangular check (test_made checks the reversed masks).
        cases += [
            TransformCase(
                f"maa_reverse_d4_{tag}",
                lambda c=c: MaskedAffineAutoregressive(4, c, HIDDEN, reverse=True),
                c,
            ),
            TransformCase(
                f"spline_ar_reverse_forward_d3_{tag}",
                lambda c=c: SplineAutoregressive(
                    3, c, HIDDEN, bins=5, bound=2.0, fast="forward", reverse=True
                ),
                c,
            ),
            TransformCase(
                f"affine_coupling_reverse_d5_{tag}",
                lambda c=c: AffineCoupling(5, c, HIDDEN, reverse=True),
                c,
            ),
            TransformCase(
                f"spline_coupling_reverse_d3_{tag}",
                lambda c=c: SplineCoupling(3, c, HIDDEN, bins=3, reverse=True),
                c,
            ),
        ]
    return cases


CASES: list[TransformCase] = _cases()
