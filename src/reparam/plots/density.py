"""Plots of a fitted flow: samples beside the data, the learned 2-D density.

Each function returns a :class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot
state); write it with :func:`reparam.plots.save_figure` (PNG, atomic).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._figure import figure
from .history import history_curves

__all__ = ["density_panels", "flow_loss_curves", "sample_panels"]


def flow_loss_curves(
    history: Sequence[Mapping[str, Any]], *, ylabel: str = "loss (nats)", title: str | None = None
) -> Figure:
    """Deprecated: :func:`reparam.plots.history.history_curves` with one ``loss`` panel."""
    warnings.warn(
        "reparam.plots.density.flow_loss_curves is deprecated; use "
        "reparam.plots.history.history_curves",
        DeprecationWarning,
        stacklevel=2,
    )
    return history_curves(history, (("loss", ylabel),), title=title)


def _limits(*arrays: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    pts = np.concatenate([a[:, :2] for a in arrays if len(a)])
    lo, hi = np.quantile(pts, 0.005, axis=0), np.quantile(pts, 0.995, axis=0)
    pad = 0.1 * (hi - lo) + 1e-6
    return (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])


def sample_panels(
    samples: Any,
    reference: Any = None,
    *,
    reference_title: str = "data",
    title: str | None = None,
) -> Figure:
    """Flow samples beside reference points (data, or nothing), first two coordinates.

    One-dimensional data is shown as overlaid histograms instead.

    Args:
        samples: (N, D) samples of the flow.
        reference: (M, D) reference points (e.g. test data), or None.
        reference_title: the reference panel's title.
        title: the figure title.
    """
    s = np.asarray(samples, dtype=np.float64)
    r = None if reference is None else np.asarray(reference, dtype=np.float64)
    if s.shape[1] == 1:
        fig = figure(5, 3.6)
        ax = fig.add_subplot()
        bins = 60
        if r is not None:
            ax.hist(r[:, 0], bins=bins, density=True, alpha=0.5, label=reference_title)
        ax.hist(s[:, 0], bins=bins, density=True, alpha=0.5, label="flow samples")
        ax.legend(fontsize="small")
        if title:
            ax.set_title(title)
        return fig
    panels = [(s, "flow samples")] if r is None else [(r, reference_title), (s, "flow samples")]
    xlim, ylim = _limits(*(p for p, _ in panels))
    fig = figure(4.2 * len(panels), 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (pts, name) in zip(axes, panels, strict=True):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, linewidths=0)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_title(name)
        if pts.shape[1] > 2:
            ax.set_xlabel("feature 1")
            ax.set_ylabel("feature 2")
    if title:
        fig.suptitle(title)
    return fig


def density_panels(
    log_q: Any,
    bounds: tuple[float, float, float, float],
    *,
    reference_log_p: Any = None,
    reference_points: Any = None,
    reference_title: str = "target",
    title: str | None = None,
) -> Figure:
    """The learned density exp(log q) on a grid beside the target density or a data histogram.

    Args:
        log_q: (n, n) array of log q on the grid (rows: y, columns: x) spanning ``bounds``.
        bounds: (xmin, xmax, ymin, ymax).
        reference_log_p: (n, n) array of the (unnormalized) target log density, or None.
        reference_points: (M, 2) data for a 2-D histogram (when no reference_log_p), or None.
        reference_title: the reference panel's title.
        title: the figure title.
    """
    xmin, xmax, ymin, ymax = bounds
    extent = (xmin, xmax, ymin, ymax)
    aspect = (ymax - ymin) / (xmax - xmin)
    panels: list[tuple[np.ndarray, str]] = []
    if reference_log_p is not None:
        lp = np.asarray(reference_log_p, dtype=np.float64)
        panels.append((np.exp(lp - lp.max()), reference_title))
    elif reference_points is not None:
        pts = np.asarray(reference_points, dtype=np.float64)
        n = np.asarray(log_q).shape[0]
        hist, _, _ = np.histogram2d(
            pts[:, 1], pts[:, 0], bins=n // 2, range=[[ymin, ymax], [xmin, xmax]]
        )
        panels.append((hist, reference_title))
    lq = np.asarray(log_q, dtype=np.float64)
    panels.append((np.exp(lq - lq.max()), "flow density q"))
    width = 4.0 * len(panels)
    fig = figure(width, min(max(4.0 * aspect, 2.5), 8.0) + 0.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (img, name) in zip(axes, panels, strict=True):
        ax.imshow(img, origin="lower", extent=extent, aspect="auto", cmap="viridis")
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig
