r"""Unnormalized 2-D target densities for variational inference, with their log Z.

:func:`target_log_prob` returns an *unnormalized* log density log p̃(z) for one of
:data:`TARGETS`, (…, 2) → (…); :func:`target_bounds` gives a box that holds all but a
negligible part of its mass (for plots and grid quadrature), :func:`target_log_normalizer`
the exact log Z = log ∫ p̃ where it is known in closed form, :func:`log_normalizer_2d` log Z
by quadrature on a grid and :func:`moments_2d` the mean and covariance the same way.
:func:`reparam.vi.get_model` builds each as a :class:`~reparam.vi.Model` (``exact`` holds
log Z and the moments).

- ``banana``: a twisted Gaussian, z₁ ~ N(0, 2²), z₂ | z₁ ~ N(b(z₁² − 4), 1) with b = 1/4;
  p̃ drops the normalizing constants, so log Z = log(2π · 2 · 1).
- ``funnel``: Neal's funnel (Neal 2003), z₁ ~ N(0, 3²), z₂ | z₁ ~ N(0, exp(z₁/2)²);
  normalized, log Z = 0 (:func:`funnel_log_prob`, the density of
  :func:`reparam.vi.funnel` in any dimension).
- ``rings``: an equal mixture of four rings of radii 1, 2, 3, 4 and width 0.15,
  log p̃ = logsumexp_k −(‖z‖ − r_k)² / (2 · 0.15²).
- ``u1`` … ``u4``: the energies U of Rezende & Mohamed (2015), Table 1, p̃ = exp(−U).
  U1 decays in every direction; U2–U4 do not decay in z₁, so each gets a soft wall
  ½((|z₁| − 4)₊ / 0.2)² added to U (zero inside the paper's [−4, 4] box) to be
  normalizable on R².

References:
    Rezende & Mohamed, "Variational Inference with Normalizing Flows", ICML 2015.
    Neal, "Slice sampling", Annals of Statistics 31(3), 2003.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

__all__ = [
    "TARGETS",
    "funnel_log_prob",
    "log_normalizer_2d",
    "moments_2d",
    "target_bounds",
    "target_log_normalizer",
    "target_log_prob",
]

TARGETS = ("banana", "funnel", "rings", "u1", "u2", "u3", "u4")

Box = tuple[float, float, float, float]


def _check_name(name: str) -> None:
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")


_BANANA_B = 0.25
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _banana(z: Tensor) -> Tensor:
    z1, z2 = z[..., 0], z[..., 1]
    return -(z1**2) / 8 - (z2 - _BANANA_B * (z1**2 - 4)) ** 2 / 2


def funnel_log_prob(v: Tensor, x: Tensor) -> Tensor:
    """Neal's funnel: log N(v; 0, 3²) + Σ_i log N(x_i; 0, e^v), v (…), x (…, d − 1) → (…)."""
    lp_v = -(v**2) / 18 - math.log(3.0) - _HALF_LOG_2PI
    lp_x = (-0.5 * x**2 * torch.exp(-v).unsqueeze(-1) - 0.5 * v.unsqueeze(-1)).sum(-1)
    return lp_v + lp_x - x.shape[-1] * _HALF_LOG_2PI


def _funnel(z: Tensor) -> Tensor:
    return funnel_log_prob(z[..., 0], z[..., 1:])


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
    _check_name(name)
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
    _check_name(name)
    return _BOUNDS[name]


def target_log_normalizer(name: str) -> float | None:
    """log Z = log ∫ p̃(z) dz in closed form (banana, funnel), or None where not known."""
    _check_name(name)
    if name == "banana":
        return math.log(2 * math.pi * 2.0 * 1.0)
    if name == "funnel":
        return 0.0
    return None


def _grid_rows(bounds: Box, n: int, rows: int = 256) -> Iterator[tuple[Tensor, float]]:
    """Midpoint grid of the box in blocks of ``rows`` x-rows: (block (r, n, 2), cell area)."""
    xmin, xmax, ymin, ymax = bounds
    if not (xmax > xmin and ymax > ymin) or n < 2:
        raise ValueError(f"log_normalizer_2d: need xmin < xmax, ymin < ymax, n >= 2; got "
                         f"bounds={bounds}, n={n}")  # fmt: skip
    hx, hy = (xmax - xmin) / n, (ymax - ymin) / n
    xs = xmin + hx * (torch.arange(n, dtype=torch.float64) + 0.5)
    ys = ymin + hy * (torch.arange(n, dtype=torch.float64) + 0.5)
    for i in range(0, n, rows):  # a few rows at a time bound the memory
        yield torch.stack(torch.meshgrid(xs[i : i + rows], ys, indexing="ij"), -1), hx * hy


@torch.no_grad()
def log_normalizer_2d(log_p: Callable[[Tensor], Tensor], bounds: Box, n: int = 1000) -> float:
    """log ∫_box exp(log_p(z)) dz by the midpoint rule on an n × n grid (float64).

    The midpoint rule is spectrally accurate for smooth integrands that vanish at the box's
    edges, so the error is dominated by the mass outside the box.

    Args:
        log_p: (…, 2) → (…) log density (unnormalized).
        bounds: (xmin, xmax, ymin, ymax).
        n: grid points per axis.
    """
    parts = [(torch.logsumexp(log_p(g).reshape(-1), 0), area) for g, area in _grid_rows(bounds, n)]
    return (torch.logsumexp(torch.stack([p for p, _ in parts]), 0) + math.log(parts[0][1])).item()


@torch.no_grad()
def moments_2d(
    log_p: Callable[[Tensor], Tensor], bounds: Box, n: int = 1000
) -> tuple[float, Tensor, Tensor]:
    """log Z, mean (2,) and covariance (2, 2) of p ∝ exp(log_p) restricted to the box, by
    the midpoint rule on an n × n grid (float64), in one pass: with w_j ∝ exp(log_p(z_j)),
    E[z] = Σ w z and Cov = Σ w (z − E z)(z − E z)ᵀ; log Z as :func:`log_normalizer_2d`."""
    points, logs = [], []
    cells = list(_grid_rows(bounds, n))
    area = cells[0][1]
    for g, _ in cells:
        points.append(g.reshape(-1, 2))
        logs.append(log_p(g).reshape(-1).double())
    z, lp = torch.cat(points), torch.cat(logs)
    w = torch.softmax(lp, 0)
    mean = w @ z
    centred = z - mean
    log_z = (torch.logsumexp(lp, 0) + math.log(area)).item()
    return log_z, mean, (centred * w[:, None]).T @ centred
