"""The scalar ``reconstruct`` step's picture of one sample: central slices in three directions per q-region,
and the central row's sinogram, its re-projection residual and the residual per q bin."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from swaxs_plugins.data.volumes import Volume, voxel_axes
from swaxs_plugins.io.figures import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from swaxs_plugins.steps.reconstruct.outputs import Quality


def _images(volume: Volume) -> list[tuple[str, np.ndarray]]:
    """(label, [z, y, x]) per named region, or the middle q bin without regions."""
    if volume.regions:
        return [(f"{name} {low:g}-{high:g} 1/Å", volume.region_mean((low, high), f"region '{name}'"))
                for name, (low, high) in volume.regions.items()]
    middle = volume.q.size // 2
    return [(f"q = {volume.q[middle]:.4g} 1/Å", volume.intensity[..., middle])]


def _extent(axis: np.ndarray) -> tuple[float, float]:
    step = axis[1] - axis[0] if axis.size > 1 else 1.0
    return float(axis[0] - step / 2), float(axis[-1] + step / 2)


def _slices(axes: list[Axes], image: np.ndarray, volume: Volume, label: str) -> None:
    """z = K//2 (y–x), y = J//2 (z–x), x = J//2 (z–y), one colour scale."""
    z_axis, y_axis, x_axis = (a.values for a in voxel_axes(volume))
    unit = "µm" if volume.voxel_um else "voxel"
    k, j = image.shape[0] // 2, image.shape[1] // 2
    views = [(image[k], x_axis, y_axis, f"z = {z_axis[k]:.0f}", "x", "y"),
             (image[:, j, :], x_axis, z_axis, f"y = {y_axis[j]:.0f}", "x", "z"),
             (image[:, :, j], y_axis, z_axis, f"x = {x_axis[j]:.0f}", "y", "z")]
    top = float(np.nanpercentile(image, 99.9)) or 1.0
    for ax, (values, horizontal, vertical, where, h_name, v_name) in zip(axes, views):
        shown = ax.imshow(values, origin="lower", extent=(*_extent(horizontal), *_extent(vertical)), vmin=0, vmax=top,
                          cmap="viridis", interpolation="nearest")
        ax.set_title(f"{label}, {where} {unit}", fontsize=8)
        ax.set_xlabel(f"{h_name} ({unit})", fontsize=8)
        ax.set_ylabel(f"{v_name} ({unit})", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].figure.colorbar(shown, ax=axes[-1], shrink=0.8)


def _sinograms(axes: list[Axes], quality: Quality) -> None:
    data, residual = quality.sinograms
    limit = float(np.abs(residual).max()) or 1.0
    for ax, values, title, options in ((axes[0], data, "data", {"cmap": "viridis"}),
                                       (axes[1], residual, "re-projection − data",
                                        {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit})):
        shown = ax.imshow(values, aspect="auto", origin="lower", interpolation="nearest", **options)
        ax.set_title(f"central row, {quality.sinogram_label}: {title}", fontsize=8)
        ax.set_xlabel("j (raster point)", fontsize=8)
        ax.set_ylabel("untilted projection", fontsize=8)
        ax.figure.colorbar(shown, ax=ax, shrink=0.8)
    axes[2].plot(quality.q, quality.residual, "o-", ms=3)
    axes[2].set_xlabel("q (1/Å)", fontsize=8)
    axes[2].set_ylabel("|Af − p| / |p|", fontsize=8)
    axes[2].set_title("re-projection residual per q bin", fontsize=8)


def plot_sample(path: Path, volume: Volume, quality: Quality, method: str) -> None:
    """Rows: central slices of each q-region, then the sinogram residual (module docstring)."""
    images = _images(volume)
    rows = len(images) + 1
    figure = new_figure(figsize=(12, 3.3 * rows))
    figure.subplots_adjust(left=0.06, right=0.97, bottom=0.06, top=0.93, wspace=0.35, hspace=0.4)
    grid = figure.subplots(rows, 3, squeeze=False)
    for row, (label, image) in zip(grid, images):
        _slices(list(row), image, volume, label)
    _sinograms(list(grid[-1]), quality)
    figure.suptitle(f"{volume.name}: scalar reconstruction ({method})", fontsize=10)
    save_figure(figure, path)
