"""Plots of gradient diagnostics (Agg canvas, no pyplot state, files written atomically)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from matplotlib.figure import Figure

from ._figure import figure

__all__ = ["variance_vs_samples"]

#: variances below this fraction of a panel's largest are drawn as 0 (rounding noise).
_ROUNDING_FLOOR = 1e-12


def variance_vs_samples(rows: Iterable[Mapping[str, Any]], *, title: str | None = None) -> Figure:
    """Gradient variance against the number of samples, log-log.

    One panel per parameter and, in each, one line per estimator. Points with a zero
    (or non-finite) variance cannot be drawn on a log axis and are left out; so are
    variances below 1e-12 × the panel's largest, the rounding noise of an exactly zero
    variance (e.g. antithetic pairs on a linear part, ~1e-32 relative in float64),
    which would otherwise stretch the axis over 30 decades. An estimator whose variance
    is 0 everywhere is marked "(variance 0)" in the legend ("(variance not finite)" when
    it is infinite or NaN); a panel with nothing to draw says so.
    A dotted 1/N line through the first estimator's first point shows the Monte Carlo
    rate.

    Args:
        rows: mappings with keys ``estimator``, ``parameter``, ``num_samples`` and
            ``variance`` (e.g. the rows of ``reparam compare``).
        title: the figure title.

    Returns:
        a :class:`matplotlib.figure.Figure` with an Agg canvas attached.
    """
    series: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for row in rows:
        per_param = series.setdefault(str(row["parameter"]), {})
        per_param.setdefault(str(row["estimator"]), []).append(
            (int(row["num_samples"]), float(row["variance"]))
        )
    n_panels = max(len(series), 1)
    fig = figure(4.2 * n_panels, 3.6)
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    for ax, (param, per_est) in zip(axes, series.items(), strict=False):
        reference = None
        finite = [v for pts in per_est.values() for _, v in pts if math.isfinite(v)]
        floor = _ROUNDING_FLOOR * max(finite, default=0.0)
        for estimator, points in per_est.items():
            points.sort()
            good = [(n, v) for n, v in points if math.isfinite(v) and v > floor]
            if not good:
                what = "0" if all(math.isfinite(v) for _, v in points) else "not finite"
                ax.plot([], [], marker="o", label=f"{estimator} (variance {what})")
                continue
            ns, vs = zip(*good, strict=True)
            ax.plot(ns, vs, marker="o", label=estimator)
            if reference is None:
                reference = good[0]
        all_n = sorted({n for pts in per_est.values() for n, _ in pts})
        if reference is not None and len(all_n) > 1:
            n0, v0 = reference
            ax.plot(all_n, [v0 * n0 / n for n in all_n], ":", color="grey", label="∝ 1/N")
        ax.set_xscale("log")
        if reference is not None:
            ax.set_yscale("log")
        else:  # nothing a log axis can show (every variance 0 or not finite)
            ax.text(0.5, 0.5, "no finite, non-zero variance", ha="center", va="center",
                    transform=ax.transAxes)  # fmt: skip
        ax.set_xlabel("number of samples N")
        ax.set_ylabel(f"Var[gradient wrt {param}]")
        ax.set_title(param)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
