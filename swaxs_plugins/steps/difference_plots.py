"""Figures of the difference step: difference maps with the mask, the time series of every q-region
with error bars under the cycler voltage on a shared time axis, a per-pixel scatter. Each is drawn
on its own Agg figure and written atomically (:mod:`swaxs_plugins.io.figures`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from swaxs_plugins.io.figures import integer_ticks, new_figure, save_figure
from swaxs_plugins.io.nexus import Axis

if TYPE_CHECKING:
    from swaxs_plugins.steps.difference import RegionDifference


def write_figures(step: RegionDifference, workdir: Path, step_id: str) -> list[Path]:
    """All figures of a difference step, named ``<step_id>_<what>.png`` in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = [maps_figure(step, workdir / f"{step_id}_maps.png"), series_figure(step, workdir / f"{step_id}_series.png")]
    if step.params.scatter:
        paths.append(scatter_figure(step, workdir / f"{step_id}_scatter.png"))
    return paths


def maps_figure(step: RegionDifference, path: Path) -> Path:
    """D per region (rows) and scan (columns) on the map's axes (the motors' positions where the curves carry
    them), the mask outline drawn on each; a series (one line of points) as D against the point, the mask's
    points marked."""
    regions = list(step.regions.values())
    n_scans = regions[0].change.shape[0]
    _, y, x = step.map_axes()
    series = regions[0].change.shape[1] == 1
    fig = new_figure(figsize=(2.2 * n_scans, 1.8 * len(regions)), layout="constrained")
    axes = fig.subplots(len(regions), n_scans, squeeze=False, sharex=True, sharey="row")
    for row, region in zip(axes, regions):
        change = 100 * region.change  # D in percent, as in the file and the series
        limit = np.nanmax(np.abs(change)) or 1.0
        for k, ax in enumerate(row):
            ax.set_title(f"{region.name}, scan {k}", fontsize=7)
            ax.tick_params(labelsize=6)
            if series:
                ax.plot(x.values, change[k, 0], ".", ms=3)
                ax.axhline(0, color="grey", lw=0.5)
                continue
            extent = [*_edges(x.values), *_edges(y.values)]
            image = ax.imshow(change[k], cmap="RdBu_r", vmin=-limit, vmax=limit, origin="lower",
                              extent=extent, aspect="auto")
            ax.contour(x.values, y.values, step.mask.astype(float), levels=[0.5], colors="k", linewidths=0.8)
        if not series:
            fig.colorbar(image, ax=row.tolist(), fraction=0.02, label="D (%)")
    for ax in axes[-1]:
        ax.set_xlabel(_label(x), fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("D (%)" if series else _label(y), fontsize=7)
    return save_figure(fig, path, dpi=90)


def _edges(values: np.ndarray) -> tuple[float, float]:
    """The outer pixel edges of evenly spaced centres (half a step beyond each end)."""
    values = np.asarray(values, np.float64)
    half = 0.5 * (values[-1] - values[0]) / (len(values) - 1) if len(values) > 1 else 0.5
    return float(values[0] - half), float(values[-1] + half)


def _label(axis: Axis) -> str:
    return f"{axis.name} ({axis.units})" if axis.units else axis.long_name


def series_figure(step: RegionDifference, path: Path) -> Path:
    """Voltage (with the scan times) above the mean D of every region, one shared time axis."""
    hours = step.scan_hours()
    time = hours if hours is not None else np.arange(len(next(iter(step.regions.values())).mean_change))
    fig = new_figure(figsize=(7, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2))
    if step.log is not None:
        top.plot(step.log.time_s / 3600, step.log.voltage, "k-", lw=1)
    for t in time:
        top.axvline(t, color="tab:red", lw=0.8, alpha=0.6)
    top.set_ylabel("voltage (V)")
    for region in step.regions.values():
        bottom.errorbar(time, 100 * region.mean_change, yerr=100 * region.error_bar, marker="o", capsize=3,
                        label=region.name)
    bottom.axhline(0, color="grey", lw=0.5)
    bottom.set_xlabel("time since the first scan (h)" if hours is not None else "scan")
    if hours is None:
        integer_ticks(bottom)
    bottom.set_ylabel(f"mean D over '{step.params.mask}' (%)")
    bottom.legend(fontsize=7)
    return save_figure(fig, path, dpi=90)


def scatter_figure(step: RegionDifference, path: Path) -> Path:
    """D of one region against another's, per masked pixel, coloured by scan."""
    first, second = (step.regions[n] for n in step.params.scatter)  # type: ignore[union-attr]
    fig = new_figure(figsize=(5, 4))
    ax = fig.subplots()
    for k in range(first.change.shape[0]):
        ax.scatter(100 * first.change[k][step.mask], 100 * second.change[k][step.mask], s=12, label=f"scan {k}")
    ax.set_xlabel(f"D {first.name} (%)")
    ax.set_ylabel(f"D {second.name} (%)")
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=90)
