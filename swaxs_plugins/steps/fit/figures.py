"""Figures of the ``fit`` step: the averaged fits with their components, and the d002 (or α) series."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from swaxs_plugins.steps.fit.models import PowerLawModel
from swaxs_plugins.steps.fit.outputs import series_values

if TYPE_CHECKING:
    from swaxs_plugins.steps.fit.step import LmfitFit


def plot_averaged_fits(path: Path, step: LmfitFit) -> None:
    """One panel per scan: averaged data with errors, best fit and every component."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = step.averaged_values.shape[0]
    cols = min(n, 3)
    rows = -(-n // cols)
    figure = Figure(figsize=(4.5 * cols, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    params = step.averaged.params
    parts = step.model.components(params)
    for s in range(n):
        ax = figure.add_subplot(rows, cols, s + 1)
        ax.errorbar(step.q, step.averaged_values[s], step.averaged_errors[s], fmt=".", ms=2, color="k", label="data")
        ax.plot(step.q, step.model(np.nan_to_num(params[s:s + 1]))[0][0], color="C3", label="fit")
        for k, (name, curve) in enumerate(parts.items()):
            ax.plot(step.q, curve[s], lw=0.8, color=f"C{k % 10}" if k != 3 else "C9", label=name)
        if isinstance(step.model, PowerLawModel):
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(f"scan {s}: reduced chi2 {step.averaged.redchi[s]:.2f}", fontsize=9)
        ax.set_xlabel("q (1/Å)")
        ax.set_ylabel(f"I ({step.units})")
    figure.axes[0].legend(fontsize=7)
    figure.savefig(path, dpi=100)


def plot_series(path: Path, step: LmfitFit, maps: Mapping[str, np.ndarray]) -> None:
    """d002 (or α) per scan: averaged fit with errors and the region mean of the per-pixel map."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = series_values(step, maps)
    name, units, _ = series["name"]
    figure = Figure(figsize=(5, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    scans = np.arange(len(series["primary"]))
    ax.errorbar(scans, series["primary"], series["primary_errors"], fmt="o-", label="region-averaged curve")
    ax.plot(scans, series[f"{name}_region_mean"], "s--", label="region mean of pixel fits")
    ax.set_xlabel("scan")
    ax.set_ylabel(f"{name} ({units})" if units else name)
    ax.legend(fontsize=8)
    figure.savefig(path, dpi=100)


