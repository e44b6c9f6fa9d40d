"""Two-dimensional toy problems for normalizing flows: data sets to fit and target densities.

Data (density estimation): :func:`sample_toy` draws n points of one of :data:`TOY_DATA`,
generated on the fly with torch (no files), scaled to roughly [−4, 4]². The shapes are the
usual flow benchmarks (Grathwohl et al. 2019, FFJORD; Papamakarios et al. 2017): two moons,
two concentric circles, a checkerboard, a five-armed pinwheel, eight Gaussians on a circle
and two interleaved spirals.

Targets (variational inference): :func:`target_log_prob` returns an *unnormalized* log
density log p̃(z) for one of :data:`TARGETS`, (…, 2) → (…); :func:`target_bounds` gives a
box that holds all but a negligible part of its mass (for plots and grid quadrature),
:func:`target_log_normalizer` the exact log Z = log ∫ p̃ where it is known in closed form,
and :func:`log_normalizer_2d` log Z by quadrature on a grid.

- ``banana``: a twisted Gaussian, z₁ ~ N(0, 2²), z₂ | z₁ ~ N(b(z₁² − 4), 1) with b = 1/4;
  p̃ drops the normalizing constants, so log Z = log(2π · 2 · 1).
- ``funnel``: Neal's funnel (Neal 2003), z₁ ~ N(0, 3²), z₂ | z₁ ~ N(0, exp(z₁/2)²);
  normalized, log Z = 0.
- ``rings``: an equal mixture of four rings of radii 1, 2, 3, 4 and width 0.15,
  log p̃ = logsumexp_k −(‖z‖ − r_k)² / (2 · 0.15²).
- ``u1`` … ``u4``: the energies U of Rezende & Mohamed (2015), Table 1, p̃ = exp(−U).
  U1 decays in every direction; U2–U4 do not decay in z₁, so each gets a soft wall
  ½((|z₁| − 4)₊ / 0.2)² added to U (zero inside the paper's [−4, 4] box) to be
  normalizable on R².
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "TARGETS",
    "TOY_DATA",
    "log_normalizer_2d",
    "sample_toy",
    "target_bounds",
    "target_log_normalizer",
    "target_log_prob",
]

TOY_DATA = ("moons", "circles", "checkerboard", "pinwheel", "8gaussians", "spirals")
TARGETS = ("banana", "funnel", "rings", "u1", "u2", "u3", "u4")


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


def _check_name(name: str, choices: tuple[str, ...], what: str) -> None:
    if name not in choices:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(choices)}")


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
    _check_name(name, TOY_DATA, "toy data set")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"sample_toy: n must be an integer >= 1, got {n!r}")
    return _SAMPLERS[name](n, generator).float()


# --------------------------------------------------------------------------- targets
_BANANA_B = 0.25


def _banana(z: Tensor) -> Tensor:
    z1, z2 = z[..., 0], z[..., 1]
    return -(z1**2) / 8 - (z2 - _BANANA_B * (z1**2 - 4)) ** 2 / 2


def _funnel(z: Tensor) -> Tensor:
    z1, z2 = z[..., 0], z[..., 1]
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    lp1 = -(z1**2) / 18 - math.log(3.0) - half_log_2pi
    lp2 = -0.5 * z2**2 * torch.exp(-z1) - z1 / 2 - half_log_2pi
    return lp1 + lp2


def _rings(z: Tensor) -> Tensor:
    r = z.norm(dim=-1, keepdim=True)
    radii = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=z.dtype, device=z.device)
    return torch.logsumexp(-((r - radii) ** 2) / (2 * 0.15**2), -1)


def _wall(z1: Tensor) -> Tensor:
    return 0.5 * (torch.clamp(z1.abs() - 4, min=0) / 0.2) ** 2


def _w1(z1: Tensor) -> Tensor:
    return torch.sin(2 * math.pi * z1 / 4)


def _u1(z: Tensor) -> Tensor:
    z1 = z[..., 0]
    ring = 0.5 * ((z.norm(dim=-1) - 2) / 0.4) ** 2
    modes = torch.logaddexp(-0.5 * ((z1 - 2) / 0.6) ** 2, -0.5 * ((z1 + 2) / 0.6) ** 2)
    return -ring + modes


def _u2(z: Tensor) -> Tensor:
    z1, z2 = z[..., 0], z[..., 1]
    return -0.5 * ((z2 - _w1(z1)) / 0.4) ** 2 - _wall(z1)


def _u3(z: Tensor) -> Tensor:
    z1, z2 = z[..., 0], z[..., 1]
    w2 = 3 * torch.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
    a = -0.5 * ((z2 - _w1(z1)) / 0.35) ** 2
    b = -0.5 * ((z2 - _w1(z1) + w2) / 0.35) ** 2
    return torch.logaddexp(a, b) - _wall(z1)


def _u4(z: Tensor) -> Tensor:
    z1, z2 = z[..., 0], z[..., 1]
    w3 = 3 * torch.sigmoid((z1 - 1) / 0.3)
    a = -0.5 * ((z2 - _w1(z1)) / 0.4) ** 2
    b = -0.5 * ((z2 - _w1(z1) + w3) / 0.35) ** 2
    return torch.logaddexp(a, b) - _wall(z1)


_TARGETS: dict[str, Callable[[Tensor], Tensor]] = {
    "banana": _banana,
    "funnel": _funnel,
    "rings": _rings,
    "u1": _u1,
    "u2": _u2,
    "u3": _u3,
    "u4": _u4,
}

# Boxes holding all but a negligible part of the mass (checked by quadrature in the tests);
# the funnel's neck and mouth cannot fit a box, so its box is for plots only.
_BOUNDS: dict[str, tuple[float, float, float, float]] = {
    "banana": (-9.0, 9.0, -7.0, 22.0),
    "funnel": (-9.0, 9.0, -12.0, 12.0),
    "rings": (-5.0, 5.0, -5.0, 5.0),
    "u1": (-5.0, 5.0, -5.0, 5.0),
    "u2": (-5.5, 5.5, -4.0, 4.0),
    "u3": (-5.5, 5.5, -6.0, 4.0),
    "u4": (-5.5, 5.5, -6.5, 4.0),
}


def target_log_prob(name: str) -> Callable[[Tensor], Tensor]:
    """The unnormalized log density log p̃(z) of the target ``name``.

    Args:
        name: one of :data:`TARGETS` (see the module docstring for the formulas).

    Returns:
        A function mapping z of shape (…, 2) to log p̃(z) of shape (…), differentiable in z,
        in z's dtype and device.

    Raises:
        ValueError: an unknown name.
    """
    _check_name(name, TARGETS, "target")
    fn = _TARGETS[name]

    def log_prob(z: Tensor) -> Tensor:
        if z.shape[-1:] != (2,):
            raise ValueError(f"target {name!r}: z must have shape (..., 2), got {tuple(z.shape)}")
        return fn(z)

    log_prob.__name__ = f"log_p_{name}"
    return log_prob


def target_bounds(name: str) -> tuple[float, float, float, float]:
    """A box (xmin, xmax, ymin, ymax) for plotting and grid quadrature of target ``name``.

    For every target but the funnel the box holds all of the mass but < 1e-5.
    """
    _check_name(name, TARGETS, "target")
    return _BOUNDS[name]


def target_log_normalizer(name: str) -> float | None:
    """log Z = log ∫ p̃(z) dz in closed form (banana, funnel), or None where not known."""
    _check_name(name, TARGETS, "target")
    if name == "banana":
        return math.log(2 * math.pi * 2.0 * 1.0)
    if name == "funnel":
        return 0.0
    return None


def log_normalizer_2d(
    log_p: Callable[[Tensor], Tensor],
    bounds: tuple[float, float, float, float],
    n: int = 1000,
) -> float:
    """log ∫_box exp(log_p(z)) dz by the midpoint rule on an n × n grid (float64).

    The midpoint rule is spectrally accurate for smooth integrands that vanish at the box's
    edges, so the error is dominated by the mass outside the box.

    Args:
        log_p: (…, 2) → (…) log density (unnormalized).
        bounds: (xmin, xmax, ymin, ymax).
        n: grid points per axis.
    """
    xmin, xmax, ymin, ymax = bounds
    if not (xmax > xmin and ymax > ymin) or n < 2:
        raise ValueError(f"log_normalizer_2d: need xmin < xmax, ymin < ymax, n >= 2; got "
                         f"bounds={bounds}, n={n}")  # fmt: skip
    hx, hy = (xmax - xmin) / n, (ymax - ymin) / n
    xs = xmin + hx * (torch.arange(n, dtype=torch.float64) + 0.5)
    ys = ymin + hy * (torch.arange(n, dtype=torch.float64) + 0.5)
    rows = []
    with torch.no_grad():
        for i in range(0, n, 256):  # a few rows at a time bound the memory
            grid = torch.stack(torch.meshgrid(xs[i : i + 256], ys, indexing="ij"), -1)
            rows.append(torch.logsumexp(log_p(grid).reshape(-1), 0))
    return (torch.logsumexp(torch.stack(rows), 0) + math.log(hx * hy)).item()
