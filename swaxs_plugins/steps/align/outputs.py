"""What the ``align`` step writes: the aligned projections, the shifts with their history and
quality per sample (layout in docs/steps/align.md, definition nexus/NXswaxs_alignment.nxdl.xml),
and a PNG of a sinogram before and after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from swaxs_plugins.data.projections import Projections, write_projections
from swaxs_plugins.io.figures import new_figure, save_figure
from swaxs_plugins.io.nexus import Axis, label, set_nx_class, write_nxdata

if TYPE_CHECKING:  # describing the step needs no registration library
    from swaxs_plugins.steps.align.consistency import Alignment

ALIGNMENT = "alignment"


@dataclass(frozen=True)
class AlignedSample:
    """One sample after alignment: its input, the alignment images before and after, the aligned projections."""

    source: Projections
    images: np.ndarray
    aligned_images: np.ndarray
    aligned: Projections
    alignment: Alignment
    outliers: np.ndarray


def write_alignment_entry(entry: h5py.Group, samples: Sequence[AlignedSample], image_label: str) -> None:
    """``projections/<sample>`` (the aligned layout) and ``alignment/<sample>``; the default plot, ``shifts``
    in the entry, is the first sample's ``alignment/<sample>/shifts`` (the same group, hard-linked)."""
    write_projections(entry, [s.aligned for s in samples])
    collection = set_nx_class(entry.create_group(ALIGNMENT), "NXcollection")
    for sample in samples:
        _write_sample(collection, sample, image_label)
    entry["shifts"] = collection[samples[0].aligned.name]["shifts"]
    entry.attrs["default"] = "shifts"


def _write_sample(collection: h5py.Group, sample: AlignedSample, image_label: str) -> None:
    group = set_nx_class(collection.create_group(sample.aligned.name), "NXcollection")
    result, n = sample.alignment, sample.aligned.n
    index = Axis("projection", np.arange(n, dtype=np.float64), "", "projection index")
    shifts = write_nxdata(group, "shifts", result.shifts[:, 0], [index], signal_name="dj",
                          long_name="dj: shift applied across the beam", units="pixel",
                          auxiliary={"dk": result.shifts[:, 1]})
    shifts["dk"].attrs.update(long_name=label("dk: shift applied up", "pixel"), units="pixel")
    fields = (
        ("history", result.history, "pixel", "shifts (dj, dk) after each iteration [iteration, projection, 2]"),
        ("history_binning", result.history_binning, "", "binning of each iteration"),
        ("rms_change", result.rms_change, "pixel", "rms change of the shifts in each iteration"),
        ("residual", result.residual, "", "rms(aligned image - re-projection) / rms(re-projection), final"),
        ("registration_error", result.registration_error, "",
         "translation-invariant normalised rms error of the final registration (scikit-image)"),
        ("remaining_step", result.remaining_step, "pixel", "shift change the final registration still asks for"),
        ("rotation_angle", sample.aligned.rotation, "deg", "rotation angle (deg)"),
        ("tilt_angle", sample.aligned.tilt, "deg", "tilt angle (deg)"),
    )
    for name, values, units, long_name in fields:
        shifts.create_dataset(name, data=values).attrs.update({"units": units, "long_name": long_name})
    group["converged"] = bool(result.converged)
    group["iterations"] = np.int64(result.iterations)
    group["outliers"] = sample.outliers.astype(np.int64)
    group["outliers"].attrs["long_name"] = "projections whose residual is an outlier (indices)"
    group["image"] = image_label
    group.attrs["default"] = "shifts"


def central_sinograms(sample: AlignedSample) -> tuple[np.ndarray, np.ndarray, int]:
    """The central k row of the untilted alignment images, before and after: [n_untilted, J] each, and k."""
    row = sample.images.shape[1] // 2
    untilted = sample.source.untilted
    return sample.images[untilted, row, :], sample.aligned_images[untilted, row, :], row


def plot_sinograms(path: Path, sample: AlignedSample, image_label: str) -> Path:
    """Sinogram (central k row, untilted projections) before and after alignment, and the shifts."""
    before, after, row = central_sinograms(sample)
    rotation = sample.source.rotation[sample.source.untilted]
    figure = new_figure(figsize=(11, 3.8), layout="constrained")
    extent = (-0.5, before.shape[1] - 0.5, rotation.max(), rotation.min())
    limits = {"vmin": min(before.min(), after.min()), "vmax": max(before.max(), after.max())}
    for panel, (values, title) in enumerate(((before, "before"), (after, "after alignment")), start=1):
        axes = figure.add_subplot(1, 3, panel)
        shown = axes.imshow(values, aspect="auto", extent=extent, cmap="viridis", interpolation="nearest", **limits)
        axes.set(title=f"{sample.aligned.name}: {title} (k = {row})", xlabel="j (raster point)",
                 ylabel="rotation (deg)")
    figure.colorbar(shown, ax=figure.axes, shrink=0.8, label=image_label)
    axes = figure.add_subplot(1, 3, 3)
    for column, shift in ((0, "dj"), (1, "dk")):
        axes.plot(sample.alignment.shifts[:, column], ".", ms=3, label=shift)
    result = sample.alignment
    state = "converged" if result.converged else "NOT converged"
    axes.set(title=f"shifts: {result.iterations} iterations, {state}", xlabel="projection", ylabel="shift (px)")
    axes.legend(fontsize=8)
    return save_figure(figure, path)
