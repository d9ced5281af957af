"""What ``reconstruct/tensor`` writes (``NXswaxs_tensor_volumes``; docs/steps/reconstruct_tensor.md).

- ``tensor/<sample>/<band>/``: ``coefficients`` [z, y, x, coefficient] (intensity per mm, our basis:
  real, even, orthonormal, ``sh_degree``, ``sh_order``), NXdata ``mean_intensity`` I[z, y, x] with the
  auxiliary signals ``degree_of_anisotropy`` and ``fit_quality`` (χ²ᵣ per voxel), ``orientation``
  [z, y, x, 3] (unit vectors x, y, z), ``q_range``, the solver's ``iterations``, ``evaluations``,
  ``loss`` history, ``message`` and ``reduced_chi2``;
- ``volumes/<sample>/``: the band means in the volumes layout of :mod:`swaxs_plugins.data.volumes`
  (one "q" per band at its centre, the bands as regions), for the ``volume`` step;
- ``mean_intensity``: the first sample's first band (a link); ``central_slice``: its middle z slice with
  the degree of anisotropy, the entry's default plot;
- ``ell_max``, ``regularisation``, ``solver`` (the implementation and its settings), ``sample_names``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from swaxs_plugins.data.volumes import Volume, voxel_axes, write_volumes
from swaxs_plugins.io.figures import new_figure, save_figure
from swaxs_plugins.io.nexus import ordered_collection, set_nx_class, write_nxdata
from swaxs_plugins.steps.reconstruct.tensor_parameters import HarmonicBandParameters
from swaxs_plugins.tomo import harmonics
from swaxs_plugins.tomo.tensor_derived import degree_of_anisotropy, main_orientation, mean_intensity
from swaxs_plugins.tomo.tensor_solver import SolverReport

if TYPE_CHECKING:
    from swaxs_plugins.steps.reconstruct.tensor import TensorReconstruction


@dataclass(frozen=True)
class TensorResult:
    """One band of one sample: coefficients [z, y, x, C] per mm, fit quality [z, y, x], the solver's report."""

    sample: str
    band: str
    q_range: tuple[float, float]
    coefficients: np.ndarray
    fit_quality: np.ndarray
    reduced_chi2: float
    report: SolverReport

    @property
    def mean(self) -> np.ndarray:
        return mean_intensity(self.coefficients)

    @property
    def anisotropy(self) -> np.ndarray:
        return degree_of_anisotropy(self.coefficients)

    @property
    def orientation(self) -> np.ndarray:
        return main_orientation(self.coefficients)


def write_tensor_entry(entry: h5py.Group, step: TensorReconstruction, results: Sequence[TensorResult]) -> None:
    """Everything in the module docstring."""
    tensor = ordered_collection(entry, "tensor")
    for sample in step.samples:
        group = set_nx_class(tensor.create_group(sample.name, track_order=True), "NXcollection")
        mine = [r for r in results if r.sample == sample.name]
        for result in mine:
            _write_band(group, result, sample.pixel_um, step.units(sample), step.params.ell_max)
        centres = np.array([np.mean(r.q_range) for r in mine])
        volume = Volume(sample.name, np.stack([r.mean for r in mine], axis=-1), centres, sample.pixel_um,
                        sample.source, regions={r.band: r.q_range for r in mine})
        write_volumes(entry, [volume], step.units(sample))
    first = results[0]
    entry["mean_intensity"] = entry[f"tensor/{first.sample}/{first.band}/mean_intensity"]
    _write_central_slice(entry, first, step.samples[0].pixel_um, step.units(step.samples[0]))
    entry["ell_max"] = np.int64(step.params.ell_max)
    entry["regularisation"] = step.regularisation()
    entry["solver"] = step.solver()
    entry["sample_names"] = np.array([s.name for s in step.samples], dtype=h5py.string_dtype())


def _write_central_slice(entry: h5py.Group, result: TensorResult, pixel_um: float | None, units: str) -> None:
    """``central_slice``: the middle z slice of the first band's mean intensity, degree of anisotropy as an
    auxiliary image; the entry's default plot (a viewer opens a volume on slice 0, outside the sample)."""
    middle = result.mean.shape[0] // 2
    axes = voxel_axes(Volume(result.sample, result.mean[..., None], np.zeros(1), pixel_um, ""))[1:]
    group = write_nxdata(entry, "central_slice", result.mean[middle].astype(np.float32), axes,
                         long_name=f"mean intensity, {result.band}, slice z = {middle}", units=units,
                         interpretation="image",
                         auxiliary={"degree_of_anisotropy": result.anisotropy[middle].astype(np.float32)})
    group["degree_of_anisotropy"].attrs.update(long_name="degree of anisotropy (std/mean)", units="")
    entry.attrs["default"] = "central_slice"


def _write_band(parent: h5py.Group, result: TensorResult, pixel_um: float | None, units: str, ell_max: int) -> None:
    group = set_nx_class(parent.create_group(result.band), "NXcollection")
    coefficients = group.create_dataset("coefficients", data=result.coefficients.astype(np.float32),
                                        chunks=(1, *result.coefficients.shape[1:]), compression="gzip")
    coefficients.attrs.update(units=units, long_name="spherical-harmonic coefficients [z, y, x, coefficient]",
                              basis="real, even l, orthonormal on the unit sphere, no Condon-Shortley phase; "
                                    "coefficient 0 = sqrt(4 pi) x spherical mean")
    degrees, orders = harmonics.degrees_and_orders(ell_max)
    group["sh_degree"], group["sh_order"] = degrees, orders
    volume = Volume(result.sample, result.mean[..., None], np.array([np.mean(result.q_range)]), pixel_um, "")
    axes = voxel_axes(volume)
    data = write_nxdata(group, "mean_intensity", result.mean.astype(np.float32), axes,
                        long_name=f"mean intensity, {result.band}", units=units, interpretation="image")
    for name, values, long_name in (("degree_of_anisotropy", result.anisotropy, "degree of anisotropy (std/mean)"),
                                    ("fit_quality", result.fit_quality, "reduced chi-square of the rays")):
        data.create_dataset(name, data=values.astype(np.float32)).attrs.update(long_name=long_name, units="")
    data.attrs["auxiliary_signals"] = ["degree_of_anisotropy", "fit_quality"]
    group.create_dataset("orientation", data=result.orientation.astype(np.float32)).attrs.update(
        long_name="main orientation (x, y, z), eigenvector of the rank-2 tensor", units="")
    group["q_range"] = np.array(result.q_range)
    group["q_range"].attrs["units"] = "1/angstrom"
    report = result.report
    group["iterations"], group["evaluations"] = np.int64(report.iterations), np.int64(report.evaluations)
    group["loss"] = np.array(report.loss, dtype=np.float64)
    group["message"] = report.message
    group["reduced_chi2"] = result.reduced_chi2


def orientation_rgb(result: TensorResult) -> np.ndarray:
    """[z, y, x, 3]: |orientation| (x red, y green, z blue), brightness the mean × anisotropy (normalised)."""
    strength = np.nan_to_num(result.mean * result.anisotropy)
    top = float(np.percentile(strength, 99.5)) or 1.0
    return np.abs(np.nan_to_num(result.orientation)) * np.clip(strength / top, 0, 1)[..., None]


def plot_orientation(path: Path, result: TensorResult, pixel_um: float | None) -> None:
    """Central slices (z, y and x through the centre) of the mean intensity and of the orientation colours."""
    rgb, mean = orientation_rgb(result), result.mean
    centre = [n // 2 for n in mean.shape]
    step, unit = (pixel_um, "µm") if pixel_um else (1.0, "voxel")
    extent = {axis: ((-(n - 1) / 2 - 0.5) * step, ((n - 1) / 2 + 0.5) * step) for axis, n in zip("zyx", mean.shape)}
    cuts = [("z", np.s_[centre[0]], "x", "y"), ("y", np.s_[:, centre[1]], "x", "z"),
            ("x", np.s_[:, :, centre[2]], "y", "z")]
    figure = new_figure(figsize=(11, 7.2))
    axes = figure.subplots(2, 3)
    for column, (name, cut, horizontal, vertical) in enumerate(cuts):
        box = (*extent[horizontal], *extent[vertical])
        image = axes[0, column].imshow(mean[cut], origin="lower", cmap="viridis", extent=box)
        figure.colorbar(image, ax=axes[0, column], shrink=0.8, label="mean intensity")
        axes[1, column].imshow(rgb[cut], origin="lower", extent=box)
        for row in range(2):
            axes[row, column].set_xlabel(f"{horizontal} ({unit})")
            axes[row, column].set_ylabel(f"{vertical} ({unit})")
        axes[0, column].set_title(f"mean intensity, central {name} slice")
        axes[1, column].set_title(f"orientation |x| R |y| G |z| B, central {name} slice", fontsize=9)
    figure.suptitle(f"{result.sample}: tensor tomography, {result.band} {result.q_range[0]:g}-{result.q_range[1]:g} "
                    f"1/Å (reduced χ² {result.reduced_chi2:.3g}, {result.report.iterations} iterations)")
    figure.tight_layout()
    save_figure(figure, path)


def summary_lines(results: Sequence[TensorResult], params: HarmonicBandParameters, solver: str
                  ) -> tuple[dict[str, str], list[str]]:
    """The run summary's lines and the warnings: a fit with a large χ²ᵣ or a solver that stopped abnormally."""
    fits = "; ".join(f"{r.sample} {r.band}: reduced chi2 {r.reduced_chi2:.3g}, {r.report.iterations} iterations "
                     f"({r.report.evaluations} evaluations, {r.report.seconds:.1f} s)" for r in results)
    warnings = []
    for r in results:
        if r.reduced_chi2 > params.max_reduced_chi2:
            warnings.append(f"{r.sample} {r.band}: reduced chi-square {r.reduced_chi2:.3g} above max_reduced_chi2 "
                            f"{params.max_reduced_chi2:g}: the harmonics do not describe the segments (try a larger "
                            "ell_max, more iterations, check the alignment, or a weaker regularisation)")
        if "ABNORMAL" in r.report.message.upper():
            warnings.append(f"{r.sample} {r.band}: L-BFGS stopped abnormally ({r.report.message}); the coefficients "
                            "may not be converged")
    return {"fits": fits, "harmonics": f"ell_max {params.ell_max}", "solver": solver}, warnings
