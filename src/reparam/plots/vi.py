"""Plots of a VI fit: the ELBO trace and the marginals of the fitted posterior.

Each function returns a :class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot
state); write it with :func:`reparam.plots.save_figure` (PNG, atomic).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._figure import figure

__all__ = ["MAX_MARGINALS", "elbo_trace", "marginal_histograms"]

#: at most this many marginals are drawn (the first parameters in flat order).
MAX_MARGINALS = 12


def _running_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each step (fewer at the start), shape of x."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def elbo_trace(elbo: Sequence[float], *, window: int = 100, title: str | None = None) -> Figure:
    """The per-step ELBO estimate and its running mean over ``window`` steps.

    The y-axis spans the trace after its first 10 % of steps (the early ELBO of a guide
    started far from the posterior can be thousands of nats lower and would flatten the
    rest); non-finite values are skipped.

    Args:
        elbo: the ELBO estimate of each step (``VIResult.elbo``).
        window: the running mean's window (>= 1).
        title: the figure title.
    """
    y = np.asarray(elbo, dtype=np.float64)
    steps = np.arange(1, len(y) + 1)
    ok = np.isfinite(y)
    fig = figure(6, 3.6)
    ax = fig.add_subplot()
    if ok.any():
        ys, xs = y[ok], steps[ok]
        ax.plot(xs, ys, lw=0.6, alpha=0.35, label="ELBO estimate")
        smooth = _running_mean(ys, max(1, min(window, len(ys))))
        ax.plot(xs, smooth, lw=1.6, label=f"running mean ({min(window, len(ys))} steps)")
        tail = smooth[len(smooth) // 10 :]
        raw_tail = ys[len(ys) // 10 :]
        lo = min(np.quantile(raw_tail, 0.02), tail.min())
        hi = max(raw_tail.max(), tail.max())
        pad = 0.05 * (hi - lo) + 1e-9
        ax.set_ylim(lo - pad, hi + pad)
        ax.legend(fontsize="small", loc="lower right")
    ax.set_xlabel("step")
    ax.set_ylabel("ELBO (nats)")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def marginal_histograms(
    samples: Any,
    names: Sequence[str],
    *,
    exact_mean: Any = None,
    exact_sd: Any = None,
    exact_gaussian: bool = False,
    title: str | None = None,
) -> Figure:
    """Histograms of q's marginals for the first :data:`MAX_MARGINALS` parameters.

    Where the exact posterior is known: its N(mean, sd²) density when it is Gaussian
    (``exact_gaussian``), otherwise a vertical line at its mean.

    Args:
        samples: (N, n) draws of the flat constrained parameters.
        names: the n parameter names.
        exact_mean: (n,) exact posterior means, or None.
        exact_sd: (n,) exact posterior standard deviations, or None.
        exact_gaussian: the exact posterior is N(exact_mean, diag exact_sd²) marginally.
        title: the figure title.
    """
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(names):
        raise ValueError(
            f"samples must have shape (N, {len(names)}) for {len(names)} names, got {s.shape}"
        )
    k = min(len(names), MAX_MARGINALS)
    cols = min(k, 4)
    rows = math.ceil(k / cols)
    fig = figure(3.0 * cols, 2.4 * rows + (0.4 if title else 0))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    mean = None if exact_mean is None else np.asarray(exact_mean, dtype=np.float64)
    sd = None if exact_sd is None else np.asarray(exact_sd, dtype=np.float64)
    for i, ax in enumerate(axes):
        if i >= k:
            ax.axis("off")
            continue
        col = s[:, i][np.isfinite(s[:, i])]
        lo, hi = np.quantile(col, [0.002, 0.998]) if len(col) else (0.0, 1.0)
        ax.hist(col, bins=50, range=(lo, hi), density=True, alpha=0.6, label="q")
        if mean is not None:
            if exact_gaussian and sd is not None:
                m, v = mean[i], sd[i]
                grid = np.linspace(min(lo, m - 4 * v), max(hi, m + 4 * v), 200)
                pdf = np.exp(-0.5 * ((grid - m) / v) ** 2) / (v * math.sqrt(2 * math.pi))
                ax.plot(grid, pdf, color="k", lw=1.2, label="exact")
            else:
                ax.axvline(mean[i], color="k", lw=1.2, label="exact mean")
        ax.set_title(names[i], fontsize="small")
        ax.set_yticks([])
        if i == 0 and mean is not None:
            ax.legend(fontsize="x-small")
    if title:
        note = f" (first {k} of {len(names)})" if k < len(names) else ""
        fig.suptitle(title + note)
    return fig
