"""Demo rows of the tensor tomography of the anisotropic electrode: its alignment residual, and the
coefficient, mean-intensity and orientation errors of ``reconstruct/tensor`` against the truth.

Keyed on the step ids of ``pipelines/tomography.yaml``: ``aligned_electrode`` (align, segments kept) and
``tensor`` (reconstruct/tensor); the truth is ``truth/tomography_truth_electrode.h5``. As for the scalar
rows (:mod:`.checks_tomography`), the true volumes are displaced by the rigid translation the true
misalignments leave, which no alignment sees, before they are compared inside the true electrode.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage

from swaxs_plugins.demo.checks import Comparison
from swaxs_plugins.demo.checks_tomography import ALIGNMENT_TOLERANCE_PX, aligned_samples, true_misalignment
from swaxs_plugins.simulate.tomography_truth import reconstruction_grid
from swaxs_plugins.steps.align.registration import remove_rigid_translation, translation_basis
from swaxs_plugins.tomo.tensor_derived import main_orientation

SAMPLE = "electrode"
COEFFICIENT_TOLERANCE = 0.12   # the bounds after 20 iterations
MEAN_TOLERANCE = 0.08          # the bounds
ORIENTATION_MEDIAN_DEG = 2.5   # the bounds
ORIENTATION_P90_DEG = 7.0


def comparisons(steps: Mapping[str, Path], truth_dir: Path) -> list[Comparison]:
    """The tensor rows, where the steps ran and the truth exists."""
    truth = truth_dir / f"tomography_truth_{SAMPLE}.h5"
    if "tensor" not in steps or "aligned_electrode" not in steps or not truth.exists():
        return []
    with h5py.File(steps["tensor"], "r") as handle:
        band = handle[f"tensor/tensor/{SAMPLE}"]
        name = next(iter(band))
        found, q_range = band[name]["coefficients"][()], band[name]["q_range"][()]
    _, shifts, rotation, tilt = next(s for s in aligned_samples(steps["aligned_electrode"], "aligned_electrode")
                                     if s[0] == SAMPLE)
    true_shifts, offset = true_misalignment(truth, rotation, tilt)
    residual = remove_rigid_translation(shifts + true_shifts, translation_basis(rotation, tilt))
    coefficients, axes, electrode = true_tensor(truth, q_range, (found.shape[1], found.shape[0]), offset)
    error = np.linalg.norm(found[electrode] - coefficients[electrode]) / np.linalg.norm(coefficients[electrode])
    mean_error = (np.linalg.norm(found[electrode][:, 0] - coefficients[electrode][:, 0])
                  / np.linalg.norm(coefficients[electrode][:, 0]))
    cosines = np.abs(np.sum(main_orientation(found[electrode]) * axes[electrode], axis=-1))
    angles = np.degrees(np.arccos(np.clip(cosines, 0, 1)))
    label = f"{SAMPLE} tensor ({name})"
    return [Comparison(f"{SAMPLE} alignment residual (rms, rigid translation removed)",
                       float(np.sqrt(np.mean(residual**2))), 0.0, ALIGNMENT_TOLERANCE_PX, "px"),
            Comparison(f"{label} coefficients rel. rms error", float(error), 0.0, COEFFICIENT_TOLERANCE, "relative"),
            Comparison(f"{label} mean intensity rel. rms error", float(mean_error), 0.0, MEAN_TOLERANCE, "relative"),
            Comparison(f"{label} orientation error, median", float(np.median(angles)), 0.0, ORIENTATION_MEDIAN_DEG,
                       "deg"),
            Comparison(f"{label} orientation error, 90th percentile", float(np.percentile(angles, 90)), 0.0,
                       ORIENTATION_P90_DEG, "deg")]


def true_tensor(truth: Path, q_range: np.ndarray, raster: tuple[int, int], offset: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band's true coefficients [z, y, x, C] (per mm), fibre axes and electrode on the reconstruction
    grid, displaced by ``offset`` [z, y, x] voxels (linear interpolation; the axes by the nearest voxel)."""
    with h5py.File(truth, "r") as handle:
        q = handle["q"][()]
        inside = (q >= q_range[0]) & (q <= q_range[1])
        mean = handle["mean_intensity"][()][..., inside].mean(axis=-1)
        coefficients = reconstruction_grid(mean[..., None] * handle["orientation_coefficients"][()], raster)
        axes = reconstruction_grid(handle["orientation"][()], raster)
        fraction = handle["reconstruction_grid/hard_carbon_fraction"][()].astype(np.float64)
    shift = [*offset, 0.0]
    return (ndimage.shift(coefficients, shift, order=1), ndimage.shift(axes, shift, order=0),
            ndimage.shift(fraction, offset, order=1) >= 0.5)
