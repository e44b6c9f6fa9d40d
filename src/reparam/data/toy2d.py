"""Two-dimensional toy data sets for normalizing flows (density estimation).

:func:`sample_toy` draws n points of one of :data:`TOY_DATA`, generated on the fly with torch
(no files), scaled to roughly [−4, 4]². The shapes are the usual flow benchmarks (Grathwohl
et al. 2019, FFJORD; Papamakarios et al. 2017): two moons, two concentric circles, a
checkerboard, a five-armed pinwheel, eight Gaussians on a circle and two interleaved spirals.

The unnormalized target densities for variational inference (banana, funnel, rings,
u1–u4) live in :mod:`reparam.vi.targets`; their old names here (``TARGETS``,
``target_log_prob``, ``target_bounds``, ``target_log_normalizer``, ``log_normalizer_2d``)
still work for one release, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["TOY_DATA", "sample_toy"]

#: names moved to reparam.vi.targets (deprecated here).
_MOVED = ("TARGETS", "log_normalizer_2d", "target_bounds", "target_log_normalizer",
          "target_log_prob")  # fmt: skip

TOY_DATA = ("moons", "circles", "checkerboard", "pinwheel", "8gaussians", "spirals")


# --------------------------------------------------------------------------- data sets
def _u(n: int, g: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64)


def _n(*shape: int, g: torch.Generator | None) -> Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _moons(n: int, g: torch.Generator | None) -> Tensor:
    t = math.pi * _u(n, g)
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    pts = torch.stack([x - 0.5, y - 0.25], -1) + 0.1 * _n(n, 2, g=g)
    return 2.0 * pts


def _circles(n: int, g: torch.Generator | None) -> Tensor:
    t = 2 * math.pi * _u(n, g)
    r = torch.where(torch.rand(n, generator=g) < 0.5, 3.0, 1.5)
    return r[:, None] * torch.stack([torch.cos(t), torch.sin(t)], -1) + 0.08 * _n(n, 2, g=g)


def _checkerboard(n: int, g: torch.Generator | None) -> Tensor:
    # x ∈ [−4, 4) in four columns of width 2; y lands in the two (of four) squares of its
    # column whose colour matches: squares where ⌊x/2⌋ + ⌊y/2⌋ is even.
    x = 8 * _u(n, g) - 4
    row = torch.randint(0, 2, (n,), generator=g).double() * 2  # 0 or 2: two rows apart
    y0 = 2 * _u(n, g) + 2 * row - 4  # uniform in row 0 or row 2 of [−4, 4)
    shift = torch.remainder(torch.floor(x / 2), 2) * 2  # odd columns: one row up
    y = torch.remainder(y0 + shift + 4, 8) - 4
    return torch.stack([x, y], -1)


def _pinwheel(n: int, g: torch.Generator | None) -> Tensor:
    arms, rate = 5, 0.25
    arm = torch.randint(0, arms, (n,), generator=g)
    radial = 1 + 0.3 * _n(n, g=g)
    tangential = 0.1 * _n(n, g=g)
    angle = 2 * math.pi * arm.double() / arms + rate * torch.exp(radial)
    c, s = torch.cos(angle), torch.sin(angle)
    x = c * radial - s * tangential
    y = s * radial + c * tangential
    return 2.0 * torch.stack([x, y], -1)


def _eight_gaussians(n: int, g: torch.Generator | None) -> Tensor:
    k = torch.randint(0, 8, (n,), generator=g).double()
    centers = 2.8 * torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], -1)
    return centers + 0.35 * _n(n, 2, g=g)


def _spirals(n: int, g: torch.Generator | None) -> Tensor:
    t = torch.sqrt(_u(n, g)) * 3 * math.pi  # angle; √u spreads points evenly along the arm
    arm = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)
    x = arm * -t * torch.cos(t)
    y = arm * t * torch.sin(t)
    return torch.stack([x, y], -1) / 2.5 + 0.1 * _n(n, 2, g=g)


_SAMPLERS: dict[str, Callable[[int, torch.Generator | None], Tensor]] = {
    "moons": _moons,
    "circles": _circles,
    "checkerboard": _checkerboard,
    "pinwheel": _pinwheel,
    "8gaussians": _eight_gaussians,
    "spirals": _spirals,
}


def sample_toy(name: str, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``n`` points of the 2-D toy data set ``name``.

    Args:
        name: one of :data:`TOY_DATA`.
        n: the number of points (≥ 1).
        generator: the torch generator to draw from (default: the global one); the same
            seed gives the same points.

    Returns:
        A float32 tensor of shape (n, 2), roughly inside [−4, 4]².

    Raises:
        ValueError: an unknown name or n < 1.
    """
    if name not in TOY_DATA:
        raise ValueError(f"unknown toy data set {name!r}; choose one of {', '.join(TOY_DATA)}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"sample_toy: n must be an integer >= 1, got {n!r}")
    return _SAMPLERS[name](n, generator).float()


def __getattr__(name: str) -> object:
    if name in _MOVED:  # a deliberate, lazy upward import: the deprecated old names
        import warnings

        from ..vi import targets

        warnings.warn(
            f"reparam.data.toy2d.{name} is deprecated; use reparam.vi.targets.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(targets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
