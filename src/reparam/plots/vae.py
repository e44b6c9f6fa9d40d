"""Plots of a trained VAE: reconstructions, samples, the 2-D latent space.

Each function returns a :class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot
state); write it with :func:`reparam.plots.save_figure` (PNG, atomic).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._figure import figure
from .history import BOUND_PANELS, history_curves

__all__ = ["image_grid", "latent_scatter", "loss_curves", "reconstructions"]


def _tile(images: Any, ncol: int) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → one (rows·H, ncol·W[, 3]) array with 1-pixel gaps.

    One channel is drawn with the reversed grey map (0 white, 1 black: ink is dark).
    """
    x = np.asarray(images, dtype=np.float32).clip(0.0, 1.0)
    n, c, h, w = x.shape
    nrow = max(math.ceil(n / ncol), 1)
    # gaps: white, i.e. 0 in the reversed grey map of one channel, 1 in RGB.
    gap = 0.0 if c == 1 else 1.0
    grid = np.full((c, nrow * (h + 1) - 1, ncol * (w + 1) - 1), gap, dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, ncol)
        grid[:, r * (h + 1) : r * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = x[i]
    return grid[0] if c == 1 else grid[:3].transpose(1, 2, 0)


def image_grid(images: Any, *, ncol: int | None = None, title: str | None = None) -> Figure:
    """A grid of images.

    Args:
        images: array or tensor with shape (N, C, H, W) and values in [0, 1].
        ncol: images per row (default: ⌈√N⌉).
        title: the figure title.
    """
    x = np.asarray(images)
    ncol = ncol or max(math.ceil(math.sqrt(len(x))), 1)
    grid = _tile(x, ncol)
    fig = figure(6, 6 * grid.shape[0] / grid.shape[1] + (0.4 if title else 0))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray_r" if grid.ndim == 2 else None, vmin=0, vmax=1)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig


def reconstructions(original: Any, reconstructed: Any, *, title: str | None = None) -> Figure:
    """Originals (top row of each pair) above their reconstructions.

    Args:
        original: shape (N, C, H, W), values in [0, 1].
        reconstructed: the same shape.
        title: the figure title.
    """
    a, b = np.asarray(original), np.asarray(reconstructed)
    ncol = min(len(a), 8)
    rows = []
    for start in range(0, len(a), ncol):
        rows += [a[start : start + ncol], b[start : start + ncol]]
    pad = [np.concatenate([r, np.zeros((ncol - len(r), *r.shape[1:]))]) for r in rows]
    return image_grid(
        np.concatenate(pad), ncol=ncol, title=title or "data (odd rows) / reconstruction (even)"
    )


def loss_curves(history: Sequence[Mapping[str, Any]], *, title: str | None = None) -> Figure:
    """Deprecated: :func:`reparam.plots.history.history_curves` with :data:`BOUND_PANELS`."""
    warnings.warn(
        "reparam.plots.vae.loss_curves is deprecated; use reparam.plots.history.history_curves",
        DeprecationWarning,
        stacklevel=2,
    )
    return history_curves(history, BOUND_PANELS, title=title)


def latent_scatter(z: Any, labels: Any = None, *, title: str | None = None) -> Figure:
    """The posterior means E_q[z|x] of a 2-D latent, coloured by label.

    Args:
        z: shape (N, 2).
        labels: integer labels (N,); negative values (unlabelled) are drawn in grey.
        title: the figure title.

    Raises:
        ValueError: z is not (N, 2).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"latent_scatter: z must have shape (N, 2); got {z.shape}")
    fig = figure(5, 4.4)
    ax = fig.add_subplot()
    lab = None if labels is None else np.asarray(labels)
    if lab is None or (lab < 0).all():
        ax.scatter(z[:, 0], z[:, 1], s=6, color="grey", alpha=0.6)
    else:
        for value in np.unique(lab):
            sel = lab == value
            ax.scatter(
                z[sel, 0],
                z[sel, 1],
                s=6,
                alpha=0.7,
                color="grey" if value < 0 else None,
                label="unlabelled" if value < 0 else str(value),
            )
        ax.legend(fontsize="small", markerscale=2, loc="best", title="label")
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.set_title(title or "latent space (posterior means)")
    return fig
