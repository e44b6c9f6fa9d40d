"""The one registry of distribution examples that every generic test is parametrized over.

Adding a family = one ``Example`` in one of the ``examples_*`` modules. ``test_has_examples``
fails when an exported ``ReparamDistribution`` subclass has none.

Fields:
    name: the test id.
    make: builds the distribution from ``params`` (float64 tensors) and keyword ``validate_args``.
    params: name → nested list of float64 values; all parameters are differentiable leaves.
    scipy: ``scipy(**numpy_params)`` → a frozen scipy.stats distribution with the same batch
        of parameters (univariate families only), used for KS tests and quadrature.
    moments: mean and variance exist (``E[z]`` and ``E[z²]`` gradient tests).
    bad: (parameter overrides, regex the ValueError message must match).
    grad_params: names of the parameters that get pathwise gradients (defaults to all).
    reference: ``reference(**params)`` → the torch.distributions twin (e.g.
        ``lambda loc, scale: torch.distributions.Normal(loc, scale)``) built from the same
        float64 parameter tensors, or None when torch has none; the generic reference
        test compares every method both have. When None, the twin is the one
        :func:`reparam.distributions.kl.to_torch` rebuilds from the same tensors (the
        table of same-named families), if any.
    param_sets: more parameter sets, ``(id, params)`` pairs, for the tests that compare
        with the reference and the parameter forms: the edge values of a family (a mode
        on the boundary, an infinite variance, an undefined mean).
    extra: free-form options read by individual tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from .examples_circular_truncated import EXAMPLES as CIRCULAR_TRUNCATED
from .examples_extras_explicit import EXAMPLES as EXTRAS_EXPLICIT
from .examples_extras_implicit import EXAMPLES as EXTRAS_IMPLICIT
from .examples_implicit import EXAMPLES as IMPLICIT
from .examples_matrix import EXAMPLES as MATRIX
from .examples_mixture import EXAMPLES as MIXTURE
from .examples_multivariate import EXAMPLES as MULTIVARIATE
from .examples_relaxed import EXAMPLES as RELAXED
from .examples_sphere import EXAMPLES as SPHERE
from .examples_twins_explicit import EXAMPLES as TWINS_EXPLICIT
from .examples_twins_implicit import EXAMPLES as TWINS_IMPLICIT
from .examples_univariate import EXAMPLES as UNIVARIATE
from .examples_wrappers import EXAMPLES as WRAPPERS


@dataclass(frozen=True)
class Example:
    name: str
    make: Callable[..., Any]
    params: dict[str, Any]
    scipy: Callable[..., Any] | None = None
    moments: bool = True
    bad: tuple[tuple[dict[str, Any], str], ...] = ()
    grad_params: tuple[str, ...] | None = None
    reference: Callable[..., Any] | None = None
    param_sets: tuple[tuple[str, dict[str, Any]], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _collect() -> list[Example]:
    out = []
    for spec in (
        *UNIVARIATE,
        *MULTIVARIATE,
        *WRAPPERS,
        *IMPLICIT,
        *CIRCULAR_TRUNCATED,
        *MIXTURE,
        *RELAXED,
        *TWINS_EXPLICIT,
        *TWINS_IMPLICIT,
        *MATRIX,
        *EXTRAS_EXPLICIT,
        *SPHERE,
        *EXTRAS_IMPLICIT,
    ):
        out.append(spec if isinstance(spec, Example) else Example(**spec))
    return out


EXAMPLES: list[Example] = _collect()


def parameter_sets(ex: Example) -> list[tuple[str, dict[str, Any]]]:
    """``("default", ex.params)`` and the entry's further ``param_sets``."""
    return [("default", ex.params), *ex.param_sets]


def params(examples: list[Example] | None = None) -> list:
    """pytest parameters with readable ids."""
    return [pytest.param(e, id=e.name) for e in (EXAMPLES if examples is None else examples)]
