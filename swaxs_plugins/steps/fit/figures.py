"""Figures of the ``fit`` step: the averaged fits with their components, and the d002 (or α) series."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from swaxs_plugins.io.figures import integer_ticks, new_figure, save_figure
from swaxs_plugins.io.nexus import unit_symbol
from swaxs_plugins.steps.fit.models import PowerLawModel
from swaxs_plugins.steps.fit.outputs import series_values

if TYPE_CHECKING:
    from swaxs_plugins.steps.fit.step import LmfitFit


#: Panels of the averaged-fits figure: a quick look (every scan's fit is in the file); more panels cost
#: seconds each to lay out.
MAX_PANELS = 9


def plot_averaged_fits(path: Path, step: LmfitFit) -> None:
    """One panel per scan (at most MAX_PANELS: the poor fits first): data with errors, best fit, components."""
    shown = shown_scans([bool(problem) for problem in step.averaged_problems], MAX_PANELS)
    cols = min(len(shown), 3)
    rows = -(-len(shown) // cols)
    figure = new_figure(figsize=(4.5 * cols, 3.2 * rows), layout="constrained")
    params = step.averaged.params
    parts = step.model.components(params)
    for panel, s in enumerate(shown, start=1):
        ax = figure.add_subplot(rows, cols, panel)
        ax.errorbar(step.q, step.averaged_values[s], step.averaged_errors[s], fmt=".", ms=2, color="k", label="data")
        ax.plot(step.q, step.model(np.nan_to_num(params[s:s + 1]))[0][0], color="C3", label="fit")
        for k, (name, curve) in enumerate(parts.items()):
            ax.plot(step.q, curve[s], lw=0.8, color=f"C{k % 10}" if k != 3 else "C9", label=name)
        if isinstance(step.model, PowerLawModel):
            ax.set_xscale("log")
            ax.set_yscale("log")
        poor = " - POOR, see quality/averaged_problems" if step.averaged_problems[s] else ""
        ax.set_title(f"{step.scan_labels[s]}: reduced chi2 {step.averaged.redchi[s]:.2f}{poor}", fontsize=9,
                     color="C3" if poor else "k")
        ax.set_xlabel("q (1/Å)")
        ax.set_ylabel(f"I ({unit_symbol(step.units)})")
    figure.axes[0].legend(fontsize=7)
    if len(shown) < len(step.averaged_problems):
        figure.suptitle(f"{len(shown)} of {len(step.averaged_problems)} scans", fontsize=9)
    save_figure(figure, path)


def shown_scans(poor: list[bool], limit: int) -> list[int]:
    """Up to ``limit`` scans in order: every poor one that fits, the rest spread evenly over the others."""
    flagged = [k for k, bad in enumerate(poor) if bad][:limit]
    others = [k for k, bad in enumerate(poor) if not bad]
    room = min(limit - len(flagged), len(others))
    spread = [others[i] for i in np.linspace(0, len(others) - 1, room).round().astype(int)] if room > 0 else []
    return sorted(set(flagged) | set(spread))


def plot_series(path: Path, step: LmfitFit, maps: Mapping[str, np.ndarray]) -> None:
    """d002 (or α) per scan: averaged fit with errors and the region mean of the per-pixel map."""
    series = series_values(step, maps)
    name, units, _ = series["name"]
    figure = new_figure(figsize=(5, 3.5), layout="constrained")
    ax = figure.add_subplot()
    scans = np.arange(len(series["primary"]))
    ax.errorbar(scans, series["primary"], series["primary_errors"], fmt="o-", label="region-averaged curve")
    ax.plot(scans, series[f"{name}_region_mean"], "s--", label="region mean of pixel fits")
    ax.set_xlabel("scan")
    integer_ticks(ax)
    ax.set_ylabel(f"{name} ({unit_symbol(units)})" if units else name)
    poor = np.flatnonzero([bool(problem) for problem in step.averaged_problems])
    if poor.size:
        ax.plot(scans[poor], series["primary"][poor], "x", color="C3", ms=10, label="poor averaged fit")
    ax.legend(fontsize=8)
    save_figure(figure, path)


