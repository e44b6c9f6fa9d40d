"""Plots for every command, one module per application, all drawn on :func:`figure`.

Each plotting function returns a matplotlib ``Figure`` on an Agg canvas (no pyplot state);
:func:`save_figure` writes it as PNG, atomically. matplotlib is imported only when a plot
module is.
"""

from ._figure import figure, render_png, save_figure

__all__ = ["figure", "render_png", "save_figure"]


def __getattr__(name: str) -> object:
    # reparam.plots was the compare plot's module: its plot stays reachable here for a release
    if name == "variance_vs_samples":
        import warnings

        from .compare import variance_vs_samples

        warnings.warn(
            "reparam.plots.variance_vs_samples is deprecated; import it from "
            "reparam.plots.compare",
            DeprecationWarning,
            stacklevel=2,
        )
        return variance_vs_samples
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
