"""What the ``volume`` step writes (``NXswaxs_histograms``; layout in docs/steps/volume.md), its figure and
its run-summary lines.

- ``masks/<sample>/<mask>``: NXdata, signal ``mask`` [z, y, x] uint8 (1 = inside), axes z, y, x, @rule;
- ``histograms/<region>``: NXdata, one signal per sample named and labelled by it (voxels per bin; the
  first is the signal, the others its @auxiliary_signals, so that silx overlays them), axis ``intensity``
  (bin centres),
  ``bin_edges``; the first region's linked as ``histogram``, the entry's default plot;
- ``statistics/<region>``: ``voxels``, ``mean``, ``width`` (standard deviation), ``relative_width``,
  ``quantiles`` [sample, level] and ``quantile_levels``, per sample in the order of ``sample_names``;
- ``mean_filter``, ``histogram_mask``, ``sample_names``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from swaxs_plugins.data.volumes import voxel_axes
from swaxs_plugins.io.figures import new_figure, save_figure
from swaxs_plugins.io.nexus import Axis, set_nx_class, write_nxdata

if TYPE_CHECKING:
    from swaxs_plugins.steps.volume.step import VolumeHistograms


def write_entry(entry: h5py.Group, step: VolumeHistograms) -> None:
    """Everything in the module docstring."""
    _masks(entry, step)
    histograms = set_nx_class(entry.create_group("histograms"), "NXcollection")
    statistics = set_nx_class(entry.create_group("statistics"), "NXcollection")
    for region in step.regions:
        _histogram(histograms, step, region)
        _statistics(statistics, step, region)
    first = next(iter(step.regions))
    entry["histogram"] = histograms[first]  # a hard link: the entry's default plot
    entry.attrs["default"] = "histogram"
    histograms.attrs["default"] = first
    entry["mean_filter"] = bool(step.params.mean_filter)
    entry["histogram_mask"] = step.params.histogram_mask
    entry["sample_names"] = np.array([v.name for v in step.volumes], dtype=h5py.string_dtype())


def _masks(entry: h5py.Group, step: VolumeHistograms) -> None:
    collection = set_nx_class(entry.create_group("masks"), "NXcollection")
    for volume, masks in zip(step.volumes, step.masks):
        group = set_nx_class(collection.create_group(volume.name), "NXcollection")
        for name, mask in masks.items():
            data = write_nxdata(group, name, mask.astype(np.uint8), voxel_axes(volume), signal_name="mask",
                                long_name=name, units="", interpretation="image")
            data.attrs["rule"] = step.params.masks[name]
        group.attrs["default"] = step.params.histogram_mask


def _histogram(parent: h5py.Group, step: VolumeHistograms, region: str) -> None:
    edges = step.edges[region]
    names = [v.name for v in step.volumes]
    counts = step.counts[region]
    low, high = step.regions[region]
    axis = Axis("intensity", (edges[:-1] + edges[1:]) / 2, step.units,
                f"mean intensity {low:g}-{high:g} 1/Å ({step.units})")
    data = write_nxdata(parent, region, counts[0], [axis], signal_name=names[0],
                        long_name=names[0], units="", interpretation="spectrum",
                        auxiliary={n: c for n, c in zip(names[1:], counts[1:])} or None)
    data.create_dataset("bin_edges", data=edges).attrs.update({"units": step.units, "long_name": "bin edges"})
    data.attrs["q_range"] = [low, high]


def _statistics(parent: h5py.Group, step: VolumeHistograms, region: str) -> None:
    group = set_nx_class(parent.create_group(region), "NXcollection")
    stats = step.statistics[region]
    fields = {"voxels": ([s.voxels for s in stats], ""), "mean": ([s.mean for s in stats], step.units),
              "width": ([s.width for s in stats], step.units),
              "relative_width": ([s.relative_width for s in stats], ""),
              "quantiles": (np.stack([s.quantiles for s in stats]), step.units),
              "quantile_levels": (step.params.quantiles, "")}
    for name, (values, units) in fields.items():
        group.create_dataset(name, data=np.asarray(values)).attrs["units"] = units
    group.attrs["q_range"] = list(step.regions[region])


def plot_histograms(path: Path, step: VolumeHistograms) -> None:
    """One panel per q-region: every sample's histogram (share of its voxels per bin) overlaid."""
    regions = list(step.regions)
    figure = new_figure(figsize=(4.6 * len(regions), 3.6))
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.88, wspace=0.25)
    for panel, region in enumerate(regions, start=1):
        ax = figure.add_subplot(1, len(regions), panel)
        edges = step.edges[region]
        for volume, counts, stats in zip(step.volumes, step.counts[region], step.statistics[region]):
            ax.stairs(counts / max(counts.sum(), 1), edges,
                      label=f"{volume.name}: mean {stats.mean:.4g}, width {stats.width:.3g}")
        low, high = step.regions[region]
        ax.set_title(f"{region} {low:g}-{high:g} 1/Å", fontsize=9)
        ax.set_xlabel(f"mean intensity ({step.units})", fontsize=8)
        ax.set_ylabel("share of voxels", fontsize=8)
        ax.legend(fontsize=7)
    filtered = "2x2x2 mean-filtered, " if step.params.mean_filter else ""
    figure.suptitle(f"voxel intensity in mask '{step.params.histogram_mask}' ({filtered}{step.params.bins} bins)",
                    fontsize=10)
    save_figure(figure, path)


def summary_lines(step: VolumeHistograms) -> dict[str, str]:
    """Per region: every sample's voxels, mean and width."""
    lines = {}
    for region, stats in step.statistics.items():
        lines[f"{region} histogram (voxels, mean, width = std)"] = "; ".join(
            f"{v.name}: {s.voxels}, {s.mean:.4g}, {s.width:.3g} ({s.relative_width:.3f} of the mean)"
            for v, s in zip(step.volumes, stats))
    return lines
