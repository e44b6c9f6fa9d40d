"""The per-epoch curves of a run (its ``metrics.jsonl``): training and validation, one panel
per logged metric. Returns a :class:`matplotlib.figure.Figure` on an Agg canvas."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from ._figure import figure

__all__ = ["BOUND_PANELS", "LOSS_PANEL", "history_curves"]

#: the default panel: the training loss (and ``valid_loss``).
LOSS_PANEL = (("loss", "loss (nats)"),)
#: the panels of a model trained on a bound (VAE, BNN): the loss and the KL term.
BOUND_PANELS = (("loss", "loss (−bound, nats)"), ("kl", "KL(q‖p) (nats)"))


def history_curves(
    history: Sequence[Mapping[str, Any]],
    panels: Sequence[tuple[str, str]] = LOSS_PANEL,
    *,
    title: str | None = None,
) -> Figure:
    """Per-epoch training and validation curves, one panel per metric.

    Args:
        history: per-epoch metric dicts (``metrics.jsonl`` lines) with ``epoch`` and the
            panels' keys (``key`` for training, ``valid_key`` for validation).
        panels: (key, y-axis label) pairs; a panel whose key no epoch logged is left out
            (the first stays when none is logged).
        title: the figure title.
    """
    shown = [(k, label) for k, label in panels if any(k in h for h in history)] or [panels[0]]
    fig = figure(4.2 * len(shown), 3.4)
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, (key, ylabel) in zip(axes, shown, strict=True):
        for prefix, label in (("", "train"), ("valid_", "validation")):
            pts = [
                (h.get("epoch", i + 1), float(h[prefix + key]))
                for i, h in enumerate(history)
                if h.get(prefix + key) is not None and math.isfinite(float(h[prefix + key]))
            ]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="o" if len(pts) < 30 else None, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if ax.lines:  # nothing logged yet: no (empty) legend
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
