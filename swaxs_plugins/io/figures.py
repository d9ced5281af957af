"""Figures (PNG) written atomically: a crash or Ctrl-C never leaves a truncated image under its final name.

Every step draws on a matplotlib :class:`~matplotlib.figure.Figure` with the Agg canvas (no global
pyplot state, no display needed) and saves it through :func:`save_figure`, which writes a temporary
file beside the target and renames it into place only when the image is complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(**kwargs: Any) -> Figure:
    """A matplotlib figure on the Agg canvas (``kwargs`` as for :class:`Figure`). matplotlib is
    imported here, not with the module, so that commands which draw nothing do not pay for it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: Path, *, dpi: int = 100) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        figure.savefig(partial, dpi=dpi, format="png")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def integer_ticks(axes: Any) -> None:
    """Ticks only at whole numbers on the x axis (scan numbers, indices): no 'scan 2.5'."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
