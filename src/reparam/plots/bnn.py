"""Plots of a trained BNN: reliability diagram and predictive entropy in vs. out of distribution.

Each function returns a :class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot state);
write it with :func:`reparam.plots.save_figure`. Loss curves:
:func:`reparam.plots.history.history_curves`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from matplotlib.figure import Figure

from ._figure import figure

__all__ = ["entropy_histogram", "reliability_plot"]


def reliability_plot(stats: Mapping[str, Sequence[float]], *, title: str | None = None) -> Figure:
    """Accuracy per confidence bin against the diagonal (Guo et al. 2017), with the bin counts.

    Args:
        stats: the dict of :func:`reparam.bnn.reliability_diagram` (``edges``, ``count``,
            ``confidence``, ``accuracy``).
        title: the figure title.
    """
    edges = np.asarray(stats["edges"], dtype=float)
    count = np.asarray(stats["count"], dtype=float)
    acc = np.nan_to_num(np.asarray(stats["accuracy"], dtype=float))
    conf = np.asarray(stats["confidence"], dtype=float)
    width = np.diff(edges)
    n = max(count.sum(), 1)
    ece = sum(c / n * abs(a - f) for c, a, f in zip(count, acc, conf, strict=True) if c > 0)
    fig = figure(4.4, 5.2)
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    top.bar(edges[:-1], acc, width=width, align="edge", edgecolor="k", alpha=0.7,
            label="accuracy")  # fmt: skip
    gap = np.where(count > 0, np.nan_to_num(conf) - acc, 0.0)
    top.bar(edges[:-1], gap, bottom=acc, width=width, align="edge", color="tab:red",
            alpha=0.3, label="gap to confidence")  # fmt: skip
    top.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    top.set_ylabel("accuracy")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.legend(fontsize="small", loc="upper left")
    top.set_title(f"{title + ': ' if title else ''}ECE {ece:.3f}")
    bottom.bar(edges[:-1], count, width=width, align="edge", edgecolor="k", color="grey")
    bottom.set_xlabel("confidence (max predictive probability)")
    bottom.set_ylabel("count")
    return fig


def entropy_histogram(
    entropy_in: Any,
    entropy_out: Any = None,
    *,
    in_label: str = "in distribution",
    out_label: str = "out of distribution",
    auroc: float | None = None,
    num_classes: int | None = None,
) -> Figure:
    """Histograms of the predictive entropy H[p(y|x)] in and (optionally) out of distribution.

    Args:
        entropy_in, entropy_out: 1-d arrays or tensors of entropies (nats).
        in_label, out_label: legend labels.
        auroc: the AUROC of the entropy as OOD score, shown in the title when given.
        num_classes: draws the maximum log C when given.
    """
    a = np.asarray(entropy_in, dtype=float).reshape(-1)
    b = None if entropy_out is None else np.asarray(entropy_out, dtype=float).reshape(-1)
    hi = max(a.max(initial=0.0), b.max(initial=0.0) if b is not None else 0.0, 1e-3)
    # an array, which hist takes; matplotlib's stubs list sequences only
    bins = cast("Sequence[float]", np.linspace(0.0, hi, 31))
    fig = figure(5.0, 3.4)
    ax = fig.add_subplot()
    ax.hist(a, bins=bins, alpha=0.6, density=True, label=in_label)
    if b is not None:
        ax.hist(b, bins=bins, alpha=0.6, density=True, label=out_label)
    if num_classes:
        ax.axvline(math.log(num_classes), color="k", ls="--", lw=1, label="log C")
    ax.set_xlabel("predictive entropy (nats)")
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    ax.set_title("predictive entropy" + (f" — OOD AUROC {auroc:.3f}" if auroc is not None else ""))
    return fig
