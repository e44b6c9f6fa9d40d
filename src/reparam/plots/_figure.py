"""One figure helper for every plot: an Agg canvas (no pyplot state), PNG bytes, atomic files."""

from __future__ import annotations

import io
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._atomic import atomic_write_bytes

__all__ = ["figure", "render_png", "save_figure"]


def figure(width: float, height: float) -> Figure:
    """A constrained-layout figure of ``width`` × ``height`` inches on its own Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def render_png(fig: Figure, *, dpi: int = 120) -> bytes:
    """``fig`` rendered as PNG bytes (drawing errors surface here, before any write)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 120) -> None:
    """Render ``fig`` as PNG and write it to ``path`` atomically."""
    atomic_write_bytes(path, render_png(fig, dpi=dpi))
